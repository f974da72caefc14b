"""Dropout on sequences, standard or variational.

Inverted dropout: in training mode each value is zeroed with probability p
and the survivors are scaled by 1 / (1 - p), so evaluation uses the input
unchanged. ``variational=True`` draws one mask per sequence and reuses it
at every time step (Gal and Ghahramani 2016): for x (T, B, F) the mask is
(1, B, F) instead of (T, B, F). Masks come from the layer's own generator
(``seed``); backward multiplies by the same mask.

Example
-------
>>> import numpy as np
>>> drop = Dropout(0.5, variational=True, seed=0)
>>> y = drop.forward(np.ones((4, 2, 3), np.float32))
>>> bool(np.all(y == y[0]))                 # the same mask at every step
True
"""

from __future__ import annotations

import numpy as np

from rnnkit._validate import check_probability, fmt_shape
from rnnkit.grad_mode import is_grad_enabled
from rnnkit.module import Module


class Dropout(Module):
    """y = x * mask / (1 - p) in training; y = x in evaluation. x (T, B, F) or any shape if not variational."""

    def __init__(self, p: float = 0.5, variational: bool = False, *, seed=None):
        super().__init__()
        self.p = check_probability("Dropout", "p", p)
        if not isinstance(variational, (bool, np.bool_)):
            raise TypeError(f"Dropout: variational must be a bool, got {type(variational).__name__} {variational!r}")
        self.variational = bool(variational)
        self.rng = np.random.default_rng(seed)
        self._mask = None
        self._ran = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._ran = True
        if not self.training or self.p == 0.0:
            self._mask = 1.0
            return x
        if self.variational and x.ndim < 2:
            raise ValueError(
                f"Dropout.forward: x must have shape (T, B, ...) for variational dropout, got {fmt_shape(x.shape)}"
            )
        shape = (1,) + x.shape[1:] if self.variational else x.shape
        keep = 1.0 - self.p
        mask = (self.rng.random(shape) < keep).astype(x.dtype) / x.dtype.type(keep)
        self._mask = mask if is_grad_enabled() else None
        return x * mask

    def backward(self, dy: np.ndarray) -> np.ndarray:
        if not self._ran:
            raise RuntimeError("Dropout.backward: backward called before forward")
        if self._mask is None:
            raise RuntimeError("Dropout.backward: the last forward ran under no_grad(), so it kept no mask")
        return dy * self._mask

    def extra_repr(self) -> str:
        return f"p={self.p}" + (", variational=True" if self.variational else "")
