"""Shared pieces of the property-based tests: settings, argument strategies tagged valid or not, error checks.

Every property draws each argument either from a valid strategy or from an invalid one, and records which
arguments it made invalid. A call with no invalid argument must work and match a float64 reference; a call
with one or more must raise ValueError or TypeError whose message has the house form
"<Owner>.<method>: <arg> must ..." with <arg> one of those drawn invalid.
"""

from __future__ import annotations

import re

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Deterministic in CI (derandomize), no example database written into the tree, no timing flakiness.
PROPERTY = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Args:
    """Keyword arguments drawn one by one; which of them are drawn invalid (none, one or two) is drawn first.

    ``names`` lists the arguments that have an invalid strategy; ``draw`` takes the invalid one for those
    chosen, so Hypothesis explores each argument's faults on their own as well as in pairs.
    """

    def __init__(self, data, names):
        self.data, self.kwargs = data, {}
        n_bad = data.draw(st.sampled_from([0, 0, 1, 1, 2]), label="how many invalid")
        chosen = data.draw(st.lists(st.sampled_from(sorted(names)), min_size=n_bad, max_size=n_bad, unique=True))
        self.invalid = set(chosen)

    def draw(self, name, valid, invalid=None):
        bad = invalid is not None and name in self.invalid
        value = self.data.draw(invalid if bad else valid, label=name)
        self.kwargs[name] = value
        return value


def positive_int(lo=1, hi=4):
    return st.integers(lo, hi)


def bad_int(lo=1):
    return st.one_of(
        st.integers(lo - 3, lo - 1), st.booleans(), st.floats(allow_nan=True), st.text(max_size=2), st.none()
    )


def bad_bool():
    return st.one_of(st.integers(0, 1), st.none(), st.text(max_size=2), st.floats(0, 1))


def probability():
    return st.one_of(st.just(0.0), st.floats(0, 1, exclude_max=True))


def bad_probability():
    return st.one_of(
        st.floats(1, 10),
        st.floats(-10, -1e-9),
        st.just(float("nan")),
        st.just(float("inf")),
        st.text(max_size=2),
        st.none(),
        st.booleans(),
    )


FLOAT_DTYPES = st.sampled_from([np.float32, np.float64, "float32", "float64", np.dtype("f8")])
BAD_DTYPES = st.sampled_from([np.int64, np.float16, "float16", "int32", complex, np.bool_, "garbage", 3, None])


def seeds():
    return st.one_of(st.none(), st.integers(0, 2**32))


def bad_seeds():
    return st.one_of(st.integers(-(2**40), -1), st.floats(allow_nan=False), st.text(min_size=1, max_size=2))


def assert_names_an_invalid_argument(err: BaseException, owner: str, invalid: set, aliases: dict | None = None):
    """The error is ValueError/TypeError of the form '<owner>: <arg> must ...' with <arg> drawn invalid."""
    assert isinstance(err, (ValueError, TypeError)), f"{type(err).__name__}: {err}"
    msg = str(err)
    m = re.match(re.escape(owner) + r": ([\w\[\]\.]+) must ", msg)
    assert m, f"not of the form '{owner}: <arg> must ...': {msg!r}"
    named = m.group(1)
    named = (aliases or {}).get(named, named)
    assert named in invalid, f"the error names {named!r}, but the invalid arguments were {sorted(invalid)}: {msg!r}"
    assert "\n" not in msg


def finite_floats(lo=-3.0, hi=3.0):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, width=32)


def array(data, shape, dtype=np.float64, lo=-3.0, hi=3.0):
    """An array of the shape drawn from a seed (fast for any size), values uniform in [lo, hi]."""
    seed = data.draw(st.integers(0, 2**31 - 1), label="array seed")
    return np.random.default_rng(seed).uniform(lo, hi, size=shape).astype(dtype)


def poison(data, x):
    """x with one entry set to nan, inf or -inf (x must have at least one entry); returns (x, index)."""
    x = np.array(x, copy=True)
    flat = data.draw(st.integers(0, x.size - 1), label="poisoned index")
    x.reshape(-1)[flat] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]), label="poison")
    return x, np.unravel_index(flat, x.shape)


def close(name, ours, ref, dtype, tol64=1e-10, tol32=2e-4):
    """float64: max abs error below tol64; float32: below tol32 times max(1, max|ref|)."""
    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert ours.shape == ref.shape, f"{name}: shape {ours.shape} vs reference {ref.shape}"
    if not ours.size:
        return
    err = float(np.max(np.abs(ours - ref)))
    scale = 1.0 if dtype == np.float64 else max(1.0, float(np.max(np.abs(ref))))
    tol = tol64 if dtype == np.float64 else tol32
    assert err <= tol * scale, f"{name}: max abs error {err:.3e} > {tol:.0e} x {scale:.3g}"
