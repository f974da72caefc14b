"""Element-wise activations and their stable forms.

``sigmoid`` is computed as ``0.5 * (1 + tanh(x / 2))``: the same function,
with no ``exp`` that can overflow, so pre-activations of +/-500 (or +/-1e30)
give exact 0 or 1 and no RuntimeWarning, in float32 and float64 alike.
Derivatives are written in terms of the outputs, as backward passes use them:
``sigmoid'(a) = s * (1 - s)`` and ``tanh'(a) = 1 - t**2``.
"""

from __future__ import annotations

import numpy as np


def _floating(x) -> np.ndarray:
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Logistic function 1 / (1 + exp(-x)), overflow-free. ``out`` may alias ``x``.

    Any real input (scalars, integer arrays) is accepted; the result is float.
    """
    x = _floating(x)
    out = np.multiply(x, 0.5, out=np.empty_like(x) if out is None else out)
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the maximum so it never overflows."""
    x = _floating(x)
    z = x - x.max(axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """x - logsumexp(x) along ``axis``, stable for any finite input."""
    x = _floating(x)
    z = x - x.max(axis=axis, keepdims=True)
    z -= np.log(np.exp(z).sum(axis=axis, keepdims=True))
    return z
