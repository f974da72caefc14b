"""Parity and counting: is the number of ones so far even? (or: how many, modulo m?)

Each sequence is T random bits, x_t in {0, 1}. The target is the count of ones
modulo ``modulus`` (2: parity). With ``running=False`` only the last step is
supervised, so the answer depends on every input at once and no prefix of
the sequence says anything about it: each bit flips the answer, the hardest
kind of long-range dependence (Hochreiter and Schmidhuber 1997 use it; a model
whose memory fades after k steps is at chance for T > k). With
``running=True`` every step has its running count as target, a much easier
task: the model only has to carry one counter from step to step.

Chance: accuracy 1 / modulus, cross-entropy log(modulus).

Example
-------
>>> import numpy as np
>>> x, y = parity_task(3, 6, np.random.default_rng(0))
>>> x.shape, y.shape, bool((y == x[..., 0].sum(0) % 2).all())
((6, 3, 1), (3,), True)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from rnnkit._validate import check_positive_int


def parity_task(
    n: int, T: int, rng: np.random.Generator, *, modulus: int = 2, running: bool = False, dtype: DTypeLike = np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` bit sequences of length ``T``.

    Returns x (T, n, 1) in {0, 1} (``dtype``) and y int64: (n,) the count of
    ones modulo ``modulus``, or (T, n) the running counts with ``running=True``.
    """
    where = "parity_task"
    n = check_positive_int(where, "n", n)
    T = check_positive_int(where, "T", T)
    modulus = check_positive_int(where, "modulus", modulus, minimum=2)
    if not isinstance(running, (bool, np.bool_)):
        raise TypeError(f"{where}: running must be a bool, got {type(running).__name__} {running!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{where}: rng must be a numpy.random.Generator, got {type(rng).__name__}")
    bits = rng.integers(0, 2, size=(T, n))
    counts = np.cumsum(bits, axis=0) % modulus  # (T, n)
    y = counts if running else counts[-1]
    return bits[..., None].astype(dtype), y.astype(np.int64)
