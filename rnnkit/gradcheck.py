"""Finite-difference gradient checks, for rnnkit's own tests and for users' derivations.

The check compares an analytic gradient with central differences

    dL/dp[i] ~ (L(p + eps e_i) - L(p - eps e_i)) / (2 eps)

in float64. The error reported is normwise relative,

    rel = max_i |a_i - n_i| / max(max_i |a_i|, max_i |n_i|),

which is scale-free and not fooled by entries that are merely tiny. The loss
used by the tests is a *random projection* of the outputs, ``sum(P * out)``,
not a plain sum, so errors that cancel under symmetric weights still show.

Example
-------
>>> import numpy as np
>>> from rnnkit.gradcheck import numerical_gradient, assert_gradient_close
>>> w = np.array([1.0, -2.0])
>>> f = lambda: float(np.sum(np.tanh(w) ** 2))
>>> err = assert_gradient_close("w", 2 * np.tanh(w) * (1 - np.tanh(w) ** 2), numerical_gradient(f, w))
>>> err < 1e-8
True
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(f: Callable[[], float], p: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of ``f()`` with respect to ``p``.

    ``p`` is perturbed in place, one entry at a time, and restored exactly;
    ``f`` must read ``p`` (not a copy) each time it is called.
    """
    if p.dtype != np.float64:
        raise TypeError(f"numerical_gradient: p must be float64, got {p.dtype}")
    g = np.zeros_like(p)
    flat, gflat = p.reshape(-1), g.reshape(-1)
    if not np.shares_memory(flat, p):
        raise ValueError("numerical_gradient: p must be contiguous so it can be perturbed in place")
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return g


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """Normwise relative error; 0.0 when both are exactly zero."""
    scale = max(float(np.max(np.abs(analytic), initial=0.0)), float(np.max(np.abs(numeric), initial=0.0)))
    if scale == 0.0:
        return 0.0
    return float(np.max(np.abs(analytic - numeric))) / scale


def assert_gradient_close(name: str, analytic: np.ndarray, numeric: np.ndarray, tol: float = 1e-6) -> float:
    """Raise AssertionError naming ``name``, the worst index and both values if rel error > tol."""
    analytic = np.asarray(analytic)
    numeric = np.asarray(numeric)
    if analytic.shape != numeric.shape:
        raise AssertionError(f"{name}: analytic gradient has shape {analytic.shape}, numeric {numeric.shape}")
    err = relative_error(analytic, numeric)
    if not err <= tol:  # also catches NaN
        idx = np.unravel_index(int(np.argmax(np.abs(analytic - numeric))), analytic.shape)
        idx = tuple(int(i) for i in idx)
        raise AssertionError(
            f"{name}: relative error {err:.3e} > {tol:.0e}; worst at index {idx}: "
            f"analytic {analytic[idx]!r}, numeric {numeric[idx]!r}"
        )
    return err
