"""Input checks shared by the public boundary of every module.

Errors follow one form so that a user can act on them without reading code:
``"<Owner>.<method>: <arg> must <expectation>, got <what was received>"``.
Checks run once per public call, never inside the per-step loops.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


def fmt_shape(shape) -> str:
    """Render a shape as ``(5, 4, 7)`` (a 1-tuple as ``(3,)``), names allowed."""
    items = [str(s) for s in shape]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def resolve_dtype(where: str, dtype) -> np.dtype:
    """Accept float32/float64 in any spelling numpy understands; reject the rest (None too: numpy reads it as
    float64, which would silently override the float32 default)."""
    if dtype is None:
        raise TypeError(f"{where}: dtype must be float32 or float64, got None")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{where}: dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"{where}: dtype must be float32 or float64, got {dt}")
    return dt


def check_positive_int(where: str, name: str, value, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {value}")
    return int(value)


def check_real(
    where: str,
    name: str,
    value,
    *,
    low: float | None = None,
    low_open: bool = False,
    high: float | None = None,
    high_open: bool = False,
) -> float:
    """A finite real number in the given interval, as a Python float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{where}: {name} must be finite, got {value}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{where}: {name} must be {'>' if low_open else '>='} {low:g}, got {value}")
    if high is not None and (value >= high if high_open else value > high):
        raise ValueError(f"{where}: {name} must be {'<' if high_open else '<='} {high:g}, got {value}")
    return value


def make_rng(where: str, seed) -> np.random.Generator:
    """``np.random.default_rng(seed)`` with an error that names the caller."""
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError):
        raise TypeError(
            f"{where}: seed must be None, a non-negative int or a np.random.Generator, got {seed!r}"
        ) from None


def check_probability(where: str, name: str, value, *, allow_one: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a float in [0, 1), got {type(value).__name__} {value!r}")
    hi_ok = value <= 1 if allow_one else value < 1
    if not (0 <= value and hi_ok):
        bound = "[0, 1]" if allow_one else "[0, 1)"
        raise ValueError(f"{where}: {name} must be in {bound}, got {value}")
    return float(value)


def check_choice(where: str, name: str, value, choices) -> str:
    if value not in choices:
        opts = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{where}: {name} must be one of {opts}, got {value!r}")
    return value


def as_float_array(where: str, name: str, x, dtype: np.dtype, *, finite: bool = True) -> np.ndarray:
    """Convert ``x`` to a C-contiguous array of ``dtype``; reject non-numeric and non-finite input."""
    if isinstance(x, (list, tuple)):
        x = np.asarray(x)
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{where}: {name} must be a numpy array, got {type(x).__name__}")
    if x.dtype.kind not in "fiub":
        raise TypeError(f"{where}: {name} must hold real numbers, got dtype {x.dtype}")
    x = np.asarray(x, dtype=dtype, order="C")  # keeps 0-d arrays 0-d, unlike ascontiguousarray
    if finite and not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))[0]
        raise ValueError(f"{where}: {name} must be finite, got {x[tuple(bad)]} at index {tuple(int(i) for i in bad)}")
    return x


def check_shape(where: str, name: str, x: np.ndarray, expected) -> None:
    """``expected`` is a tuple of ints or letters; letters match any size."""
    ok = x.ndim == len(expected) and all(isinstance(e, str) or int(e) == s for e, s in zip(expected, x.shape))
    if not ok:
        raise ValueError(f"{where}: {name} must have shape {fmt_shape(expected)}, got {fmt_shape(x.shape)}")
