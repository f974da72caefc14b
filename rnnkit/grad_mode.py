"""Whether forward passes keep what backward needs.

Inference does not need the per-step caches, so ``with rnnkit.no_grad():``
(the PyTorch spelling) makes every layer's forward run without storing them:
faster and lighter. ``backward`` after such a forward raises an error that
says so. The flag is per thread.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "enabled", True)


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Context manager: forward passes inside it keep no cache for backward."""
    previous = is_grad_enabled()
    _state.enabled = False
    try:
        yield
    finally:
        _state.enabled = previous
