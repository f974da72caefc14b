"""The copy-memory task: reproduce a short message after a long stretch of blanks.

The long-delay form of Arjovsky, Shah and Bengio (2016), after Hochreiter and
Schmidhuber (1997). The alphabet has S + 2 symbols: 0 is the blank, 1..S
are data and S + 1 is the delimiter. A sequence has T + 2K steps:

    steps 0 .. K-1            the message: K symbols drawn uniformly from 1..S
    steps K .. K+T-2          blanks
    step  K+T-1               the delimiter ("now repeat")
    steps K+T .. T+2K-1       blanks, during which the message must be output

The target is the blank at every step except the last K, where it is the
message in order. So T steps separate the last message symbol from the
delimiter, and the first symbol must be remembered for T + K steps.

A model that has learnt only the format predicts blanks for the first T + K
steps and a uniform guess among the S data symbols for the last K: a mean
cross-entropy per step of K log(S) / (T + 2K) (``copy_memory_baseline``) and a
recall accuracy of 1 / S. Beating both means remembering.

Example
-------
>>> import numpy as np
>>> x, y = copy_memory(2, 5, np.random.default_rng(0), message_length=3, symbols=4)
>>> x.shape, y.shape                     # (T + 2K, n, S + 2), (T + 2K, n)
((11, 2, 6), (11, 2))
>>> bool((y[-3:] == x[:3].argmax(-1)).all()), int(x[7, 0].argmax())   # recall = message; delimiter at K+T-1
(True, 5)
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import DTypeLike

from rnnkit._validate import check_positive_int

SYMBOLS = 8  # data symbols, as Arjovsky et al.
MESSAGE_LENGTH = 10  # K


def copy_memory(
    n: int,
    T: int,
    rng: np.random.Generator,
    *,
    message_length: int = MESSAGE_LENGTH,
    symbols: int = SYMBOLS,
    dtype: DTypeLike = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` sequences with a delay of ``T`` steps.

    Returns x (T + 2K, n, S + 2), the one-hot symbols in ``dtype``, and
    y (T + 2K, n) int64 class targets (0 = blank, 1..S = data).
    """
    where = "copy_memory"
    n = check_positive_int(where, "n", n)
    T = check_positive_int(where, "T", T)
    K = check_positive_int(where, "message_length", message_length)
    S = check_positive_int(where, "symbols", symbols)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{where}: rng must be a numpy.random.Generator, got {type(rng).__name__}")
    steps = T + 2 * K
    message = rng.integers(1, S + 1, size=(K, n))  # (K, n)
    ids = np.zeros((steps, n), dtype=np.int64)
    ids[:K] = message
    ids[K + T - 1] = S + 1  # the delimiter
    y = np.zeros((steps, n), dtype=np.int64)
    y[T + K :] = message
    x = np.zeros((steps, n, S + 2), dtype=dtype)
    np.put_along_axis(x, ids[..., None], 1.0, axis=-1)
    return x, y


def copy_memory_baseline(T: int, *, message_length: int = MESSAGE_LENGTH, symbols: int = SYMBOLS) -> float:
    """Mean cross-entropy per step of the memoryless strategy: blanks, then a uniform guess for K steps."""
    K = check_positive_int("copy_memory_baseline", "message_length", message_length)
    T = check_positive_int("copy_memory_baseline", "T", T)
    S = check_positive_int("copy_memory_baseline", "symbols", symbols)
    return K * math.log(S) / (T + 2 * K)
