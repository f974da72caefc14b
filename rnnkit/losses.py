"""Softmax cross-entropy over per-step logits, its gradient, and the figures reported from it.

For one position with logits z (V,), target y and label smoothing eps
(PyTorch's definition: the target distribution is q = (1 - eps) * onehot(y)
+ eps / V), the loss and its gradient are (``rnnkit.functional.cross_entropy_forward``
and ``cross_entropy_backward``; this module adds the checks, masks and reductions)

    lse     = log(sum(exp(z)))               # computed as m + log(sum(exp(z - m))), m = max(z)
    loss    = lse - (1 - eps) * z[y] - eps * mean(z)     # = -sum(q * log_softmax(z))
    dz      = softmax(z) - q

so no log-probability array is formed and logits of +/-1e4 stay finite.
Positions excluded by ``mask`` or ``ignore_index`` contribute zero loss and
zero gradient. A reduction weights each position's loss by w and returns
sum(w * loss); the gradient is w * dz. The weights are:

    "none"   per-position losses, shape of the leading axes (zero where excluded);
             dlogits[i] = d loss[i] / d logits[i] (weight the rows yourself)
    "sum"    w = 1 on real (non-excluded) positions
    "mean"   w = 1 / n_real, as PyTorch (nan, with zero gradient, when n_real = 0)

and, for sequences (logits (T, B, V), or (B, T, V) with ``batch_first=True``):

    "sum_over_time_mean_over_batch"   w = 1 / B: the loss per sequence, summed over
                                      its real steps, averaged over the B sequences
                                      (the "loss per sentence" seq2seq reports)
    "mean_over_time_mean_over_batch"  w[t, b] = 1 / (n_b * B'): each sequence's mean
                                      loss over its n_b real steps, averaged over the
                                      B' sequences that have any real step

``perplexity`` and ``bits_per_char`` turn a mean negative log-likelihood (in
nats, the "mean" reduction without label smoothing) into the usual figures.

Example
-------
>>> import numpy as np
>>> from rnnkit.losses import cross_entropy, perplexity
>>> logits = np.zeros((3, 2, 5))                      # (T, B, V): uniform predictions
>>> targets = np.array([[1, 4], [0, 2], [3, -100]])   # (T, B); -100 is ignored
>>> loss, dlogits = cross_entropy(logits, targets)
>>> round(loss, 6) == round(float(np.log(5)), 6), dlogits.shape
(True, (3, 2, 5))
>>> round(perplexity(loss), 6)
5.0
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from numpy.typing import ArrayLike

from rnnkit._validate import as_float_array, check_choice, check_probability, fmt_shape
from rnnkit.functional import cross_entropy_backward, cross_entropy_forward
from rnnkit.grad_mode import is_grad_enabled

REDUCTIONS = ("mean", "sum", "none", "sum_over_time_mean_over_batch", "mean_over_time_mean_over_batch")
_SEQUENCE_REDUCTIONS = REDUCTIONS[3:]


def _first_index(bad: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(bad)[0])


def cross_entropy(
    logits: np.ndarray,
    targets: np.ndarray,
    *,
    ignore_index: int | None = -100,
    mask: np.ndarray | None = None,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    batch_first: bool = False,
) -> tuple[float | np.ndarray, np.ndarray | None]:
    """Softmax cross-entropy of ``logits`` against integer ``targets``; returns ``(loss, dlogits)``.

    logits (..., V) float32/float64, for instance (T, B, V) or (N, V);
    targets (...) integers in [0, V), the leading shape of logits. A position
    is excluded when its target equals ``ignore_index`` (None: never) or its
    ``mask`` entry (same leading shape, bool or 0/1) is 0; targets at excluded
    positions are not checked. ``label_smoothing`` in [0, 1] mixes the
    one-hot target with the uniform distribution as PyTorch does.
    ``reduction`` is one of ``REDUCTIONS`` (see the module docstring);
    the two sequence reductions need logits of shape (T, B, V), or (B, T, V)
    with ``batch_first=True``.

    Returns the loss (a Python float; for "none" an array of the leading
    shape, logits' dtype) and dlogits, the gradient of that loss with respect
    to logits (shape and dtype of logits; for "none" each position's own
    gradient). Under ``rnnkit.no_grad()`` the gradient is not computed and
    dlogits is None.

    >>> import numpy as np
    >>> loss, d = cross_entropy(np.array([[2.0, 0.0], [0.0, 0.0]]), np.array([0, 1]), reduction="none")
    >>> np.round(loss, 4).tolist(), np.round(d[0], 4).tolist()
    ([0.1269, 0.6931], [-0.1192, 0.1192])
    """
    where = "cross_entropy"
    check_choice(where, "reduction", reduction, REDUCTIONS)
    eps = check_probability(where, "label_smoothing", label_smoothing, allow_one=True)
    if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral)):
        raise TypeError(
            f"{where}: ignore_index must be an int or None, got {type(ignore_index).__name__} {ignore_index!r}"
        )
    if not isinstance(batch_first, (bool, np.bool_)):
        raise TypeError(f"{where}: batch_first must be a bool, got {type(batch_first).__name__} {batch_first!r}")

    # -- logits ------------------------------------------------------------------------------
    if isinstance(logits, (list, tuple)):
        logits = np.asarray(logits, dtype=np.float64)
    if not isinstance(logits, np.ndarray):
        raise TypeError(f"{where}: logits must be a numpy array, got {type(logits).__name__}")
    if logits.dtype not in (np.float32, np.float64):
        raise TypeError(f"{where}: logits must be float32 or float64, got dtype {logits.dtype}")
    logits = as_float_array(where, "logits", logits, logits.dtype)
    if logits.ndim == 0 or logits.shape[-1] == 0:
        raise ValueError(f"{where}: logits must have shape (..., V) with V >= 1, got {fmt_shape(logits.shape)}")
    lead, V = logits.shape[:-1], logits.shape[-1]
    if reduction in _SEQUENCE_REDUCTIONS and len(lead) != 2:
        layout = "(B, T, V)" if batch_first else "(T, B, V)"
        raise ValueError(
            f"{where}: logits must have shape {layout} for reduction={reduction!r}, got {fmt_shape(logits.shape)}"
        )

    # -- targets -----------------------------------------------------------------------------
    if not isinstance(targets, np.ndarray):
        if isinstance(targets, bool) or not isinstance(targets, (list, tuple, numbers.Integral)):
            raise TypeError(f"{where}: targets must be a numpy array of integers, got {type(targets).__name__}")
        targets = np.asarray(targets)
    if targets.dtype.kind not in "iu":
        raise TypeError(f"{where}: targets must hold integers (class indices), got dtype {targets.dtype}")
    if targets.shape != lead:
        raise ValueError(
            f"{where}: targets must have shape {fmt_shape(lead)} (logits.shape[:-1]), got {fmt_shape(targets.shape)}"
        )

    # -- which positions count -----------------------------------------------------------------
    real = np.ones(lead, dtype=bool) if ignore_index is None else targets != ignore_index
    if mask is not None:
        if not isinstance(mask, np.ndarray):
            if not isinstance(mask, (list, tuple)):
                raise TypeError(f"{where}: mask must be a numpy array of 0/1 or bool, got {type(mask).__name__}")
            mask = np.asarray(mask)
        if mask.dtype.kind not in "biuf":
            raise TypeError(f"{where}: mask must hold 0/1 or bool, got dtype {mask.dtype}")
        if mask.shape != lead:
            raise ValueError(
                f"{where}: mask must have shape {fmt_shape(lead)} (logits.shape[:-1]), got {fmt_shape(mask.shape)}"
            )
        if mask.dtype.kind != "b":
            bad = (mask != 0) & (mask != 1)
            if bad.any():
                idx = _first_index(bad)
                raise ValueError(f"{where}: mask must hold only 0 and 1, got {mask[idx]} at index {idx}")
        real &= mask.astype(bool)
    bad = real & ((targets < 0) | (targets >= V))
    if bad.any():
        idx = _first_index(bad)
        also = f" (or equal ignore_index={ignore_index})" if ignore_index is not None else ""
        raise ValueError(f"{where}: targets must be in [0, {V}){also}, got {targets[idx]} at index {idx}")

    # -- per-position loss ---------------------------------------------------------------------
    N = int(np.prod(lead, dtype=np.int64))
    t = np.where(real, targets, 0).reshape(N)  # excluded positions read class 0, then get weight 0
    r = real.reshape(N)
    per, ce_cache = cross_entropy_forward(logits.reshape(N, V), t, eps)  # (N,)
    per[~r] = 0.0

    # -- reduction weights -----------------------------------------------------------------------
    undefined = False
    if reduction in ("none", "sum"):
        w = r.astype(logits.dtype)
    elif reduction == "mean":
        n_real = int(r.sum())
        undefined = n_real == 0
        w = r / max(n_real, 1)
    else:
        time_axis = 1 if batch_first else 0
        B = lead[1 - time_axis]
        n_b = real.sum(axis=time_axis)  # (B,) real steps per sequence
        if reduction == "sum_over_time_mean_over_batch":
            undefined = B == 0
            w = r / max(B, 1)
        else:
            b_eff = int((n_b > 0).sum())
            undefined = b_eff == 0
            per_seq = np.expand_dims(n_b * max(b_eff, 1), time_axis)  # broadcast over time
            w = (real / np.maximum(per_seq, 1)).reshape(N)

    if reduction == "none":
        loss = per.reshape(lead)
    elif undefined:
        loss = math.nan
    else:
        loss = float(np.dot(w.astype(np.float64), per.astype(np.float64)))

    if not is_grad_enabled():
        return loss, None
    # dz = softmax(z) - q, scaled by each position's weight; nan loss and zero gradient when undefined (as PyTorch)
    w = np.zeros(N, dtype=logits.dtype) if undefined else w.astype(logits.dtype)
    return loss, cross_entropy_backward(w, ce_cache).reshape(logits.shape)


def perplexity(mean_nll: float | ArrayLike) -> float | np.ndarray:
    """exp(mean_nll): the perplexity for a mean negative log-likelihood in nats per token.

    Returns a float for a scalar (inf when it overflows), an array for an array.

    >>> round(perplexity(np.log(50.0)), 6)
    50.0
    """
    value = _nll_values("perplexity", mean_nll)
    with np.errstate(over="ignore"):
        out = np.exp(value)
    return float(out) if out.ndim == 0 else out


def bits_per_char(mean_nll: float | ArrayLike) -> float | np.ndarray:
    """mean_nll / ln(2): nats per character converted to bits per character.

    >>> round(bits_per_char(np.log(2.0)), 6)
    1.0
    """
    value = _nll_values("bits_per_char", mean_nll)
    out = value / math.log(2.0)
    return float(out) if out.ndim == 0 else out


def _nll_values(where: str, mean_nll) -> np.ndarray:
    if isinstance(mean_nll, bool) or not isinstance(mean_nll, (numbers.Real, np.ndarray, list, tuple)):
        raise TypeError(
            f"{where}: mean_nll must be a real number or an array of them, got {type(mean_nll).__name__} {mean_nll!r}"
        )
    value = np.asarray(mean_nll, dtype=np.float64) if not isinstance(mean_nll, np.ndarray) else mean_nll
    if value.dtype.kind not in "fiu":
        raise TypeError(f"{where}: mean_nll must hold real numbers, got dtype {value.dtype}")
    return value.astype(np.float64)
