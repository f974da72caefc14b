"""The adding problem (Hochreiter and Schmidhuber 1997), a classic test of long-range memory.

Each sequence has T steps of two features: a value drawn uniformly from
[0, 1) and a marker that is 1 at exactly two steps, one in the first half and
one in the second half, and 0 elsewhere. The target is the sum of the two
marked values. Always predicting the mean, 1.0, gives a mean squared error of
Var(u1 + u2) = 2/12 = 0.1667: the baseline a model must beat to show it
remembers across the sequence.

Example
-------
>>> import numpy as np
>>> x, y = adding_problem(4, 10, np.random.default_rng(0))
>>> x.shape, y.shape, float(x[:, 0, 1].sum())
((10, 4, 2), (4,), 2.0)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from rnnkit._validate import check_positive_int

BASELINE_MSE = 1.0 / 6.0


def adding_problem(
    n: int, T: int, rng: np.random.Generator, dtype: DTypeLike = np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` sequences of length ``T``. Returns x (T, n, 2) and y (n,)."""
    n = check_positive_int("adding_problem", "n", n)
    T = check_positive_int("adding_problem", "T", T, minimum=2)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"adding_problem: rng must be a numpy.random.Generator, got {type(rng).__name__}")
    values = rng.random((T, n))
    first = rng.integers(0, T // 2, size=n)
    second = rng.integers(T // 2, T, size=n)
    marks = np.zeros((T, n))
    cols = np.arange(n)
    marks[first, cols] = 1.0
    marks[second, cols] = 1.0
    x = np.stack([values, marks], axis=-1).astype(dtype)
    y = (values[first, cols] + values[second, cols]).astype(dtype)
    return x, y
