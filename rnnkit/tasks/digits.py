"""Reversal and sorting of digit strings of variable length, character level.

A source is L digits drawn uniformly from 0..9, with L uniform in
[min_length, max_length] (default 1..60); the target is the same digits
reversed, or sorted ascending. Reversal is the classic probe of an
encoder-decoder's fixed-size bottleneck (Sutskever et al. 2014, "Sequence to
Sequence Learning with Neural Networks"; Bahdanau et al. 2015): the first
output digit is the last input one, and every output needs one source
position, which attention can find and a single context vector must hold.

Example
-------
>>> reversal_pairs(2, seed=0, min_length=3, max_length=5) == reversal_pairs(2, seed=0, min_length=3, max_length=5)
True
>>> [(s[::-1] == t) for s, t in reversal_pairs(4, seed=1)]
[True, True, True, True]
>>> all(t == "".join(sorted(s)) for s, t in sorting_pairs(4, seed=1))
True
"""

from __future__ import annotations

from rnnkit._validate import check_positive_int, make_rng

MAX_LENGTH = 60


def _digit_strings(where: str, n: int, seed, min_length: int, max_length: int) -> list[str]:
    n = check_positive_int(where, "n", n)
    lo = check_positive_int(where, "min_length", min_length)
    hi = check_positive_int(where, "max_length", max_length)
    if hi < lo:
        raise ValueError(f"{where}: max_length must be >= min_length = {lo}, got {hi}")
    rng = make_rng(where, seed)
    lengths = rng.integers(lo, hi + 1, size=n)
    return ["".join(map(str, rng.integers(0, 10, size=int(L)))) for L in lengths]


def reversal_pairs(
    n: int, seed: int = 0, *, min_length: int = 1, max_length: int = MAX_LENGTH
) -> list[tuple[str, str]]:
    """``n`` pairs (digits, digits reversed)."""
    return [(s, s[::-1]) for s in _digit_strings("reversal_pairs", n, seed, min_length, max_length)]


def sorting_pairs(n: int, seed: int = 0, *, min_length: int = 1, max_length: int = MAX_LENGTH) -> list[tuple[str, str]]:
    """``n`` pairs (digits, digits sorted ascending)."""
    return [(s, "".join(sorted(s))) for s in _digit_strings("sorting_pairs", n, seed, min_length, max_length)]
