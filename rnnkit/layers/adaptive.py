"""Adaptive softmax (Grave et al. 2017): a head over the frequent words, tails of reduced size for the rest.

The vocabulary (sorted by frequency, most frequent first) is cut at c_0 < c_1 < ... < c_{C-1} < V:
a shortlist [0, c_0) and C clusters [c_{i-1}, c_i) (c_C = V). For a row x (E,):

    z_h   = W_h x + b_h                           (S + C,)   head: S = c_0 shortlist words, one entry per cluster
    p_i   = P_i x                                 (E_i,)     cluster i's projection, E_i = E // div_value^(i+1)
    z_i   = O_i p_i                               (V_i,)     cluster i's words, V_i = c_i - c_{i-1}
    log P(w) = log_softmax(z_h)[w]                               for w in the shortlist
    log P(w) = log_softmax(z_h)[S + i - 1] + log_softmax(z_i)[w - c_{i-1}]   for w in cluster i

A target in the shortlist costs only the head; one in cluster i the head and that cluster, whose
products are E_i wide instead of E. The loss is -sum log P(y) over the real rows. Backward, for a
row of gradient weight g (the objective's scale) and its head target y_h (y or S + i - 1):

    dz_h = g (softmax(z_h) - onehot(y_h))      dW_h = dz_h^T x,  db_h = sum dz_h,  dx = dz_h W_h
    dz_i = g (softmax(z_i) - onehot(y - c_{i-1}))   (rows of cluster i only)
    dO_i = dz_i^T p_i,  dp_i = dz_i O_i,  dP_i = dp_i^T x_i,  dx[rows of i] += dp_i P_i

Parameters carry the names of ``torch.nn.AdaptiveLogSoftmaxWithLoss``'s state_dict, so a state_dict
moves across as a plain dict copy: ``head.weight`` (S + C, E), ``head.bias`` (S + C,) with
``head_bias``, ``tail.{i}.0.weight`` (E_i, E) and ``tail.{i}.1.weight`` (V_i, E_i) for cluster i+1.

Reference: E. Grave, A. Joulin, M. Cisse, D. Grangier, H. Jegou, "Efficient softmax
approximation for GPUs", ICML 2017.

Example
-------
>>> import numpy as np
>>> asm = AdaptiveLogSoftmaxWithLoss(8, 20, cutoffs=(5, 12), div_value=2.0, seed=0)
>>> sorted(asm.params)
['head.weight', 'tail.0.0.weight', 'tail.0.1.weight', 'tail.1.0.weight', 'tail.1.1.weight']
>>> x = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)
>>> output, loss = asm.forward(x, np.array([0, 6, 13, 19]))
>>> output.shape, asm.log_prob(x).shape
((4,), (4, 20))
>>> bool(np.allclose(np.exp(asm.log_prob(x)).sum(axis=1), 1.0, atol=1e-5))
True
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from rnnkit._validate import as_float_array, check_positive_int, check_real, fmt_shape, make_rng, resolve_dtype
from rnnkit.activations import log_softmax
from rnnkit.grad_mode import is_grad_enabled
from rnnkit.layers.output import softmax_cross_entropy_rows_
from rnnkit.module import Module

__all__ = [
    "AdaptiveLogSoftmaxWithLoss",
    "adaptive_forward",
    "adaptive_backward",
    "adaptive_log_prob",
    "adaptive_predict",
    "check_cutoffs",
    "tail_sizes",
]


def check_cutoffs(where: str, cutoffs: Sequence[int], n_classes: int, name: str = "cutoffs") -> tuple[int, ...]:
    """The cutoffs as a tuple of ints, strictly increasing, in [1, n_classes - 1] (PyTorch's rule)."""
    if isinstance(cutoffs, (str, bytes)) or not isinstance(cutoffs, (list, tuple)):
        raise TypeError(f"{where}: {name} must be a list or tuple of ints, got {type(cutoffs).__name__} {cutoffs!r}")
    if not cutoffs or any(isinstance(c, bool) or not isinstance(c, numbers.Integral) for c in cutoffs):
        raise ValueError(f"{where}: {name} must be a non-empty sequence of ints, got {list(cutoffs)!r}")
    cut = tuple(int(c) for c in cutoffs)
    if any(b <= a for a, b in zip(cut, cut[1:])) or cut[0] < 1 or cut[-1] > n_classes - 1:
        raise ValueError(
            f"{where}: {name} must be strictly increasing ints in [1, {n_classes - 1}] (n_classes - 1), got {list(cut)}"
        )
    return cut


def tail_sizes(in_features: int, n_classes: int, cutoffs: Sequence[int], div_value: float) -> list[tuple[int, int]]:
    """(E_i, V_i) of each cluster: projection width in_features // div_value^(i+1), cluster size."""
    bounds = list(cutoffs) + [n_classes]
    return [(int(in_features // (div_value ** (i + 1))), bounds[i + 1] - bounds[i]) for i in range(len(cutoffs))]


def _head_targets(t: np.ndarray, bounds) -> np.ndarray:
    """The head's class of each target: itself in the shortlist, S + i - 1 in cluster i."""
    S = bounds[0]
    cluster = np.searchsorted(np.asarray(bounds), t, side="right")  # 0 in the shortlist, i in cluster i
    return np.where(t < S, t, S + cluster - 1)


# -- the maths: plain functions with explicit caches ------------------------------------------------
def adaptive_forward(
    params: dict,
    x: np.ndarray,
    targets: np.ndarray,
    cutoffs: Sequence[int],
    *,
    real: np.ndarray | None = None,
    grad_scale: float = 1.0,
) -> tuple[np.ndarray, tuple]:
    """Negative log-likelihood per row, nll (N,), of targets (N,) for rows x (N, E); returns ``(nll, cache)``.

    ``cutoffs`` as the layer's (without V; V is the size of the last tail + its cutoff). Rows where
    ``real`` (N,) bool is False get nll 0 and no gradient. ``grad_scale`` (a number or (N,) weights)
    is d objective / d nll of each row; the cache (None under ``rnnkit.no_grad()``) holds the scaled
    logit gradients for :func:`adaptive_backward`. No input checks.
    """
    Wh, bh = params["head.weight"], params.get("head.bias")
    V = cutoffs[-1] + params[f"tail.{len(cutoffs) - 1}.1.weight"].shape[0]
    bounds = list(cutoffs) + [V]
    N = x.shape[0]
    grad = is_grad_enabled()
    idx = np.arange(N) if real is None else np.flatnonzero(real)  # (M,) the rows that count
    xr = x if real is None else x[idx]  # (M, E)
    tr = targets[idx]
    scale = None
    if grad:
        scale = np.broadcast_to(np.asarray(grad_scale, dtype=x.dtype), (N,))[idx]  # (M,)
    nll = np.zeros(N, dtype=x.dtype)
    # head: log_softmax(z_h)[y_h], z_h overwritten by dz_h
    zh = xr @ Wh.T  # (M, S + C); the bias is added by the softmax rows, as linear_forward adds it
    nll_r = softmax_cross_entropy_rows_(zh, _head_targets(tr, bounds), bias=bh, grad_scale=scale)  # (M,)
    clusters = []
    for i in range(len(cutoffs)):
        lo, hi = bounds[i], bounds[i + 1]
        rows = np.flatnonzero((tr >= lo) & (tr < hi))  # rows of cluster i, among the M
        if rows.size == 0:
            continue
        P, O = params[f"tail.{i}.0.weight"], params[f"tail.{i}.1.weight"]
        xi = xr[rows]  # (M_i, E)
        p = xi @ P.T  # (M_i, E_i)   p_i = P_i x
        zi = p @ O.T  # (M_i, V_i)   z_i = O_i p_i
        nll_r[rows] += softmax_cross_entropy_rows_(zi, tr[rows] - lo, grad_scale=None if scale is None else scale[rows])
        clusters.append((i, rows, xi, p, zi))
    nll[idx] = nll_r
    cache = (N, idx, xr, zh, clusters, len(cutoffs)) if grad else None
    return nll, cache


def adaptive_backward(params: dict, cache: tuple) -> tuple[np.ndarray, dict]:
    """Gradients of :func:`adaptive_forward`: ``(dx (N, E), grads)``, grads a dict of parameter names."""
    N, idx, xr, dzh, clusters, n_clusters = cache
    Wh = params["head.weight"]
    grads = {}
    # z_h = W_h x + b_h
    dxr = dzh @ Wh  # (M, E)
    grads["head.weight"] = dzh.T @ xr  # (S + C, E)
    if "head.bias" in params:
        grads["head.bias"] = dzh.sum(axis=0)
    for i in range(n_clusters):  # a cluster no target fell in gets zero gradients
        grads[f"tail.{i}.0.weight"] = np.zeros_like(params[f"tail.{i}.0.weight"])
        grads[f"tail.{i}.1.weight"] = np.zeros_like(params[f"tail.{i}.1.weight"])
    for i, rows, xi, p, dzi in clusters:
        P, O = params[f"tail.{i}.0.weight"], params[f"tail.{i}.1.weight"]
        # z_i = O_i p_i
        grads[f"tail.{i}.1.weight"] = dzi.T @ p  # (V_i, E_i)
        dp = dzi @ O  # (M_i, E_i)
        # p_i = P_i x
        grads[f"tail.{i}.0.weight"] = dp.T @ xi  # (E_i, E)
        dxr[rows] += dp @ P
    if idx.size == N:
        return dxr, grads
    dx = np.zeros((N, xr.shape[1]), dtype=xr.dtype)
    dx[idx] = dxr
    return dx, grads


def adaptive_log_prob(
    params: dict, x: np.ndarray, cutoffs: Sequence[int], head_logits: np.ndarray | None = None
) -> np.ndarray:
    """log P(w | x) for every word: (N, V), rows summing to 1 in probability. No input checks."""
    zh = head_logits
    if zh is None:
        zh = x @ params["head.weight"].T
        if "head.bias" in params:
            zh += params["head.bias"]
    lh = log_softmax(zh)  # (N, S + C)
    S = cutoffs[0]
    sizes = [params[f"tail.{i}.1.weight"].shape[0] for i in range(len(cutoffs))]
    bounds = list(cutoffs) + [cutoffs[-1] + sizes[-1]]
    out = np.empty((x.shape[0], bounds[-1]), dtype=lh.dtype)
    out[:, :S] = lh[:, :S]
    for i in range(len(cutoffs)):
        zi = (x @ params[f"tail.{i}.0.weight"].T) @ params[f"tail.{i}.1.weight"].T  # (N, V_i)
        out[:, bounds[i] : bounds[i + 1]] = log_softmax(zi) + lh[:, S + i, None]
    return out


def adaptive_predict(params: dict, x: np.ndarray, cutoffs: Sequence[int]) -> np.ndarray:
    """The most probable word (N,): the head's argmax when it is a shortlist word, else the full argmax."""
    zh = x @ params["head.weight"].T
    if "head.bias" in params:
        zh += params["head.bias"]
    out = zh.argmax(axis=1)
    far = out >= cutoffs[0]  # a cluster won the head: that cluster's best word may still lose to another
    if far.any():
        out[far] = adaptive_log_prob(params, x[far], cutoffs, zh[far]).argmax(axis=1)
    return out


# -- the layer --------------------------------------------------------------------------------------
class AdaptiveLogSoftmaxWithLoss(Module):
    """Adaptive softmax over ``n_classes`` words; PyTorch's ``nn.AdaptiveLogSoftmaxWithLoss`` in NumPy.

    ``forward(x (N, E), targets (N,)) -> (output (N,), loss)``: output is log P(target), loss the
    mean of -output (as PyTorch); the layer keeps the cache, and ``backward()`` adds the gradients
    of that loss (or of ``sum_n weights[n] * -output[n]`` with ``backward(weights)``) into
    ``grads`` and returns dx (N, E). ``log_prob(x)`` gives (N, V), ``predict(x)`` (N,).
    Initialisation: every weight uniform in +/- 1/sqrt(fan_in), as ``torch.nn.Linear``.
    """

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        cutoffs: Sequence[int],
        div_value: float = 4.0,
        head_bias: bool = False,
        dtype: DTypeLike = np.float32,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        where = "AdaptiveLogSoftmaxWithLoss"
        self.in_features = check_positive_int(where, "in_features", in_features)
        self.n_classes = check_positive_int(where, "n_classes", n_classes, minimum=2)
        self.cutoffs = check_cutoffs(where, cutoffs, n_classes)
        self.div_value = check_real(where, "div_value", div_value, low=1.0)
        if not isinstance(head_bias, (bool, np.bool_)):
            raise TypeError(f"{where}: head_bias must be a bool, got {type(head_bias).__name__} {head_bias!r}")
        self.dtype = resolve_dtype(where, dtype)
        sizes = tail_sizes(self.in_features, self.n_classes, self.cutoffs, self.div_value)
        if sizes[-1][0] < 1:
            raise ValueError(
                f"{where}: div_value must leave every tail projection at least 1 wide "
                f"(in_features // div_value^{len(sizes)} >= 1), got div_value {self.div_value} "
                f"for in_features {self.in_features} and {len(sizes)} clusters"
            )
        rng = make_rng(where, seed)

        def uniform(shape):
            bound = 1.0 / math.sqrt(shape[-1] if len(shape) > 1 else self.in_features)
            return rng.uniform(-bound, bound, size=shape).astype(self.dtype)

        head = self.cutoffs[0] + len(self.cutoffs)
        self.register_parameter("head.weight", uniform((head, self.in_features)))
        if head_bias:
            self.register_parameter("head.bias", uniform((head,)))
        for i, (Ei, Vi) in enumerate(sizes):
            self.register_parameter(f"tail.{i}.0.weight", uniform((Ei, self.in_features)))
            self.register_parameter(f"tail.{i}.1.weight", uniform((Vi, Ei)))
        self._cache = None

    def _check_x(self, where: str, x) -> np.ndarray:
        shape = np.shape(x)
        x = as_float_array(where, "x", x, self.dtype)
        if x.ndim != 2 or shape[-1] != self.in_features:
            raise ValueError(f"{where}: x must have shape (N, {self.in_features}), got {fmt_shape(shape)}")
        return x

    def forward(self, x: ArrayLike, targets: ArrayLike) -> tuple[np.ndarray, float]:
        """(output (N,), loss): log P(targets) per row and their negated mean, as PyTorch's layer."""
        where = "AdaptiveLogSoftmaxWithLoss.forward"
        x = self._check_x(where, x)
        t = np.asarray(targets)
        if t.dtype.kind not in "iu" or t.shape != (x.shape[0],):
            raise ValueError(
                f"{where}: targets must be integer class indices of shape ({x.shape[0]},), "
                f"got dtype {t.dtype} shape {fmt_shape(t.shape)}"
            )
        if t.size and (t.min() < 0 or t.max() >= self.n_classes):
            bad = int(np.flatnonzero((t < 0) | (t >= self.n_classes))[0])
            raise ValueError(f"{where}: targets must be in [0, {self.n_classes}), got {t[bad]} at index {bad}")
        nll, cache = adaptive_forward(self.params, x, t.astype(np.int64), self.cutoffs, grad_scale=1.0)
        self._cache = cache
        loss = float(np.mean(nll.astype(np.float64))) if nll.size else math.nan
        return -nll, loss

    def backward(self, weights: np.ndarray | None = None) -> np.ndarray:
        """Add the gradients of the mean loss (or of sum_n weights[n] * nll[n]) into ``grads``; return dx."""
        where = "AdaptiveLogSoftmaxWithLoss.backward"
        if self._cache is None:
            raise RuntimeError(f"{where}: no cached forward pass (call forward with gradients enabled first)")
        N = self._cache[0]
        if weights is None:
            w = np.full(N, 1.0 / max(N, 1), dtype=self.dtype)
        else:
            w = as_float_array(where, "weights", weights, self.dtype)
            if w.shape != (N,):
                raise ValueError(f"{where}: weights must have shape ({N},), got {fmt_shape(w.shape)}")
        # the cache holds the gradients of sum_n nll[n] (grad_scale 1): weight them per row
        N, idx, xr, dzh, clusters, n_clusters = self._cache
        wr = w[idx]
        tails = [(i, r, xi, p, dzi * wr[r, None]) for i, r, xi, p, dzi in clusters]
        scaled = (N, idx, xr, dzh * wr[:, None], tails, n_clusters)
        dx, grads = adaptive_backward(self.params, scaled)
        own = self.grads
        for name, g in grads.items():
            own[name] += g
        return dx

    def log_prob(self, x: ArrayLike) -> np.ndarray:
        """log P(w | x) for every class: (N, n_classes)."""
        x = self._check_x("AdaptiveLogSoftmaxWithLoss.log_prob", x)
        return adaptive_log_prob(self.params, x, self.cutoffs)

    def predict(self, x: ArrayLike) -> np.ndarray:
        """The most probable class of each row: (N,) int64."""
        x = self._check_x("AdaptiveLogSoftmaxWithLoss.predict", x)
        return adaptive_predict(self.params, x, self.cutoffs)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, n_classes={self.n_classes}, cutoffs={list(self.cutoffs)}, "
            f"div_value={self.div_value}, head_bias={'head.bias' in self._own_params}, dtype={self.dtype}"
        )
