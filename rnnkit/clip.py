"""Gradient clipping, in place, over a dict (or list) of gradient arrays.

Recurrent networks trained through time are prone to exploding gradients;
rescaling the whole gradient when its norm passes a threshold (Pascanu et al.
2013) keeps its direction and bounds the step. The functions here follow
``torch.nn.utils.clip_grad_norm_`` and ``clip_grad_value_``.

Example
-------
>>> import numpy as np
>>> grads = {"w": np.array([3.0, 4.0])}
>>> clip_grad_norm(grads, max_norm=1.0)
5.0
>>> grads["w"].round(6).tolist()
[0.6, 0.8]
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping

import numpy as np

__all__ = ["clip_coefficient", "clip_grad_norm", "clip_grad_value", "global_norm"]

Grads = Mapping[str, np.ndarray] | Iterable[np.ndarray]


def _arrays(where: str, grads: Grads, *, writeable: bool) -> list[tuple[str, np.ndarray]]:
    """(label, array) pairs from a mapping or an iterable of float arrays, checked."""
    if isinstance(grads, np.ndarray):
        raise TypeError(f"{where}: grads must be a mapping of name -> array or a list of arrays, got a single array")
    if isinstance(grads, Mapping):
        items = [(f"grads[{k!r}]", g) for k, g in grads.items()]
    else:
        try:
            items = [(f"grads[{i}]", g) for i, g in enumerate(grads)]
        except TypeError:
            raise TypeError(
                f"{where}: grads must be a mapping of name -> array or a list of arrays, got {type(grads).__name__}"
            ) from None
    for label, g in items:
        if not isinstance(g, np.ndarray):
            raise TypeError(f"{where}: {label} must be a numpy array, got {type(g).__name__}")
        if g.dtype.kind != "f":
            raise TypeError(f"{where}: {label} must be a float array, got dtype {g.dtype}")
        if writeable and not g.flags.writeable:
            raise ValueError(f"{where}: {label} must be writeable to be clipped in place, got a read-only array")
    return items


def _norm_type(where: str, norm_type) -> float:
    if isinstance(norm_type, str) and norm_type.lower() == "inf":
        return math.inf
    if isinstance(norm_type, bool) or not isinstance(norm_type, numbers.Real):
        raise TypeError(
            f"{where}: norm_type must be a positive number or inf, got {type(norm_type).__name__} {norm_type!r}"
        )
    p = float(norm_type)
    if not p > 0:  # also rejects NaN
        raise ValueError(f"{where}: norm_type must be > 0 or inf, got {norm_type}")
    return p


def _total_norm(items: list[tuple[str, np.ndarray]], p: float) -> float:
    """The p-norm of all entries of all arrays, as if concatenated into one vector."""
    with np.errstate(over="ignore", invalid="ignore"):
        if p == math.inf:
            peaks = [float(np.max(np.abs(g))) for _, g in items if g.size]
            if any(math.isnan(m) for m in peaks):  # Python's max() would skip a NaN depending on order
                return math.nan
            return max(peaks, default=0.0)
        if p == 2.0:
            # One BLAS dot per array (float32 sums in float32, ample for a clipping threshold); float32
            # squares that overflow are counted again in float64, so a huge gradient is clipped, not skipped.
            sq = 0.0
            for _, g in items:
                flat = g.ravel()
                s = float(np.dot(flat, flat))  # BLAS: one pass, threaded; float32 sums in float32
                if not math.isfinite(s) and flat.dtype != np.float64:
                    # a float32 square overflowed (|g| beyond about 1e19), or an entry is not finite:
                    # count again in float64, which holds the squares of every finite float32
                    s = float(np.einsum("i,i->", flat, flat, dtype=np.float64))
                sq += s
            return math.sqrt(sq)
        total = 0.0
        for _, g in items:
            if g.size:
                total += float(np.sum(np.abs(g, dtype=np.float64) ** p))
        return total ** (1.0 / p)


def global_norm(grads: Grads, norm_type: float = 2.0) -> float:
    """The norm of all gradients together, ``(sum_k sum_i |g_k[i]|**p) ** (1/p)``; max |g| for inf.

    Example
    -------
    >>> import numpy as np
    >>> global_norm({"a": np.array([3.0]), "b": np.array([4.0])})
    5.0
    """
    where = "global_norm"
    return _total_norm(_arrays(where, grads, writeable=False), _norm_type(where, norm_type))


def clip_grad_norm(grads: Grads, max_norm: float, norm_type: float = 2.0) -> float:
    """Scale every gradient in place so the global norm is at most ``max_norm``; return the norm before.

    Equations (``N`` the global ``norm_type``-norm of all gradients)::

        c = max_norm / (N + 1e-6)
        g = g * c      for every gradient, if c < 1

    The 1e-6 is PyTorch's, so the clipped norm lands just under ``max_norm``
    and the clipped gradients equal ``torch.nn.utils.clip_grad_norm_``'s.

    Non-finite norm: if any gradient holds inf or NaN, ``N`` is returned as it
    is (inf or nan) and the gradients are left untouched, so the caller can
    see the overflow and skip the step. (PyTorch would instead multiply them
    by 0 or NaN.)

    Example
    -------
    >>> import numpy as np
    >>> grads = {"a": np.array([30.0]), "b": np.array([40.0])}
    >>> clip_grad_norm(grads, 5.0)
    50.0
    >>> round(global_norm(grads), 5)
    5.0
    """
    where = "clip_grad_norm"
    _check_max_norm(where, max_norm)
    p = _norm_type(where, norm_type)
    items = _arrays(where, grads, writeable=True)
    total = _total_norm(items, p)
    coef = clip_coefficient(total, max_norm)
    if coef < 1.0:
        for _, g in items:
            g *= coef
    return total


def _check_max_norm(where: str, max_norm) -> None:
    if isinstance(max_norm, bool) or not isinstance(max_norm, numbers.Real):
        raise TypeError(f"{where}: max_norm must be a real number, got {type(max_norm).__name__} {max_norm!r}")
    if not max_norm >= 0:  # also rejects NaN
        raise ValueError(f"{where}: max_norm must be >= 0, got {max_norm}")


def clip_coefficient(total_norm: float, max_norm: float) -> float:
    """The factor :func:`clip_grad_norm` multiplies every gradient by, for a global norm ``total_norm``.

    ``max_norm / (total_norm + 1e-6)`` where that is below 1, else 1.0; also 1.0 when ``total_norm``
    is inf or NaN (the gradients are then left as they are). For a caller that computed the norm
    itself and applies the factor elsewhere (the Trainer folds it into ``Optimizer.step(grad_scale=)``).

    Example
    -------
    >>> clip_coefficient(50.0, 5.0) == 5.0 / (50.0 + 1e-6), clip_coefficient(3.0, 5.0)
    (True, 1.0)
    """
    where = "clip_coefficient"
    if isinstance(total_norm, bool) or not isinstance(total_norm, numbers.Real):
        raise TypeError(f"{where}: total_norm must be a real number, got {type(total_norm).__name__} {total_norm!r}")
    if total_norm < 0:  # NaN and inf pass: a norm that overflowed
        raise ValueError(f"{where}: total_norm must be >= 0 (or inf, or NaN), got {total_norm}")
    _check_max_norm(where, max_norm)
    if not math.isfinite(total_norm):
        return 1.0
    coef = float(max_norm) / (total_norm + 1e-6)
    return coef if coef < 1.0 else 1.0


def clip_grad_value(grads: Grads, clip_value: float) -> None:
    """Clamp every gradient entry into ``[-clip_value, clip_value]`` in place.

    Equation::

        g = min(max(g, -clip_value), clip_value)

    NaN entries stay NaN, as in PyTorch.

    Example
    -------
    >>> import numpy as np
    >>> grads = {"w": np.array([-5.0, 0.3, 2.0])}
    >>> clip_grad_value(grads, 1.0)
    >>> grads["w"].tolist()
    [-1.0, 0.3, 1.0]
    """
    where = "clip_grad_value"
    if isinstance(clip_value, bool) or not isinstance(clip_value, numbers.Real):
        raise TypeError(f"{where}: clip_value must be a real number, got {type(clip_value).__name__} {clip_value!r}")
    if not clip_value >= 0:
        raise ValueError(f"{where}: clip_value must be >= 0, got {clip_value}")
    for _, g in _arrays(where, grads, writeable=True):
        np.clip(g, -clip_value, clip_value, out=g)
