"""Attention over source positions: scores, masked softmax, context, coverage. Forward and backward side by side.

Shapes (legend of :mod:`rnnkit.seq2seq`): M (B, S, Dm) the encoder's outputs
(the memory, Dm = H * directions), s (B, H) the decoder's top state at step t,
mask (B, S) true on real source positions, cov (B, S) the coverage vector,
A the attention size.

Scores e (B, S) of each variant (``score_forward``), with the parameter names
under ``attention.`` in the model's state dict:

    dot       e_i = s . h_i                                   (Luong et al. 2015; needs H == Dm)
    general   e_i = s . (W h_i)          weight (H, Dm)       (Luong et al. 2015)
    concat    e_i = v . tanh(W [s; h_i] + w_cov cov_i)
                                         weight (A, H + Dm), v (A,)          (Luong et al. 2015)
    additive  e_i = v . tanh(W_h h_i + W_s s + b + w_cov cov_i)
                                         weight_h (A, Dm), weight_s (A, H), bias (A,), v (A,)
                                                                         (Bahdanau et al. 2015)

The coverage term w_cov cov_i (``weight_cov`` (A,), See et al. 2017) exists
for the two tanh variants only: dot and general have no hidden layer for it to
enter, and the model refuses coverage with them rather than ignore it. The
parts of a score that do not depend on s (W h_i, W_h h_i) are computed once per
source batch by ``keys_forward``.

Then (``masked_softmax``, ``context_forward``)

    a_i = exp(e_i) / sum_{j real} exp(e_j)   on real positions, exactly 0 on padding
    c   = sum_i a_i h_i                                           (B, Dm)

and See et al. 2017's coverage (``coverage_loss``): cov_t = sum_{t' < t} a_t',
covloss_t = sum_i min(a_t,i, cov_t,i).

Backward, for da (B, S) the gradient arriving at the weights:

    de_i   = a_i (da_i - sum_j a_j da_j)           (zero on padding, where a_i = 0)
    tanh variants, u = tanh(pre):  du = de_i v,  dpre = du (1 - u^2),
           dv = sum de_i u,  dkeys = dpre,  ds = (sum_i dpre_i) W_s,  dcov_i = dpre_i . w_cov

Example
-------
>>> import numpy as np
>>> from rnnkit.seq2seq import attention as att
>>> rng = np.random.default_rng(0)
>>> M, s = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 3))
>>> mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=bool)
>>> e, _ = att.score_forward("dot", {}, att.keys_forward("dot", {}, M)[0], s, None)
>>> a = att.masked_softmax(e, mask)
>>> a.sum(axis=1).round(12).tolist(), a[1, 2:].tolist()
([1.0, 1.0], [0.0, 0.0])
"""

from __future__ import annotations

import numpy as np

VARIANTS = ("none", "dot", "general", "concat", "additive")
COVERAGE_VARIANTS = ("concat", "additive")


def param_shapes(kind: str, Dm: int, H: int, A: int, coverage: bool) -> dict:
    """Parameter name -> shape of attention ``kind`` (names without the ``attention.`` prefix)."""
    if kind in ("none", "dot"):
        shapes = {}
    elif kind == "general":
        shapes = {"weight": (H, Dm)}
    elif kind == "concat":
        shapes = {"weight": (A, H + Dm), "v": (A,)}
    elif kind == "additive":
        shapes = {"weight_h": (A, Dm), "weight_s": (A, H), "bias": (A,), "v": (A,)}
    else:
        raise ValueError(f"attention.param_shapes: kind must be one of {VARIANTS}, got {kind!r}")
    if coverage:
        shapes["weight_cov"] = (A,)
    return shapes


# -- keys: the part of every score that depends on the memory only -------------------------------


def keys_forward(kind: str, params: dict, M: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Keys (B, S, K) from the memory M (B, S, Dm), once per source batch. Returns (keys, cache)."""
    B, S, Dm = M.shape
    if kind == "dot":
        return M, None
    if kind == "general":
        W = params["weight"]  # (H, Dm): e_i = s . (W h_i)
    elif kind == "concat":
        W = params["weight"][:, -Dm:]  # (A, Dm): the h_i block of W [s; h_i]
    elif kind == "additive":
        W = params["weight_h"]  # (A, Dm)
    else:
        return None, None
    return (M.reshape(B * S, Dm) @ W.T).reshape(B, S, W.shape[0]), M


def keys_backward(
    kind: str, params: dict, cache: np.ndarray | None, dkeys: np.ndarray, grads: dict
) -> np.ndarray | None:
    """Gradient of ``keys_forward``: adds the weight's gradient into ``grads``, returns dM (B, S, Dm)."""
    if kind == "dot":
        return dkeys
    if cache is None:
        return None
    M = cache
    B, S, Dm = M.shape
    dk = dkeys.reshape(B * S, -1)
    Mf = M.reshape(B * S, Dm)
    if kind == "general":
        W, gname, cols = params["weight"], "weight", slice(None)
    elif kind == "concat":
        W, gname, cols = params["weight"][:, -Dm:], "weight", slice(params["weight"].shape[1] - Dm, None)
    else:
        W, gname, cols = params["weight_h"], "weight_h", slice(None)
    grads[gname][:, cols] += dk.T @ Mf  # dW = dkeys^T h
    return (dk @ W).reshape(B, S, Dm)  # dh_i = dkeys_i W


# -- scores -------------------------------------------------------------------------------------


def score_forward(
    kind: str, params: dict, keys: np.ndarray, s: np.ndarray, cov: np.ndarray | None
) -> tuple[np.ndarray, tuple]:
    """Scores e (B, S) of the top decoder state s (B, H) against the keys. Returns (e, cache)."""
    if kind in ("dot", "general"):
        return np.matmul(keys, s[:, :, None])[:, :, 0], (s,)  # one batched GEMV: (B, S, K) x (B, K)
    if kind == "concat":
        H = s.shape[1]
        q = s @ params["weight"][:, :H].T  # (B, A): the s block of W [s; h_i]
    else:
        q = s @ params["weight_s"].T + params["bias"]  # (B, A)
    u = keys + q[:, None, :]  # (B, S, A) the pre-activation, then tanh of it in place
    if cov is not None:
        u += cov[:, :, None] * params["weight_cov"]
    np.tanh(u, out=u)
    return u @ params["v"], (s, u, cov)


def score_backward(
    kind: str, params: dict, keys: np.ndarray, cache: tuple, de: np.ndarray, grads: dict
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradient of ``score_forward``. Adds parameter gradients into ``grads``; returns (dkeys, ds, dcov)."""
    if kind in ("dot", "general"):
        (s,) = cache
        dkeys = de[:, :, None] * s[:, None, :]  # e_i = s . k_i
        return dkeys, np.matmul(de[:, None, :], keys)[:, 0], None
    s, u, cov = cache
    B, S, A = u.shape
    grads["v"] += de.reshape(B * S) @ u.reshape(B * S, A)  # dv = sum_i de_i u_i
    dpre = u * u  # backprop through tanh: dpre = de v (1 - u^2), built in place
    np.subtract(1.0, dpre, out=dpre)
    dpre *= params["v"]
    dpre *= de[:, :, None]
    dq = dpre.sum(axis=1)  # (B, A): q enters every position
    if kind == "concat":
        H = s.shape[1]
        grads["weight"][:, :H] += dq.T @ s
        ds = dq @ params["weight"][:, :H]
    else:
        grads["weight_s"] += dq.T @ s
        grads["bias"] += dq.sum(axis=0)
        ds = dq @ params["weight_s"]
    dcov = None
    if cov is not None:
        grads["weight_cov"] += cov.reshape(B * S) @ dpre.reshape(B * S, A)
        dcov = dpre @ params["weight_cov"]  # (B, S)
    return dpre, ds, dcov


# -- masked softmax and context -----------------------------------------------------------------


def masked_softmax(e: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Softmax over the real source positions of each row; exactly 0 on padding. e, mask (B, S)."""
    e = np.where(mask, e, -np.inf)
    e = e - e.max(axis=1, keepdims=True)  # every row has a real position
    w = np.exp(e)  # exp(-inf) = 0 on padding
    return w / w.sum(axis=1, keepdims=True)


def masked_softmax_backward(a: np.ndarray, da: np.ndarray) -> np.ndarray:
    """de_i = a_i (da_i - sum_j a_j da_j); zero where a_i = 0 (padding)."""
    return a * (da - np.sum(a * da, axis=1, keepdims=True))


def context_forward(a: np.ndarray, M: np.ndarray) -> np.ndarray:
    """c = sum_i a_i h_i: (B, S) x (B, S, Dm) -> (B, Dm)."""
    return np.matmul(a[:, None, :], M)[:, 0]  # one batched GEMV


def context_backward(a: np.ndarray, M: np.ndarray, dc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of ``context_forward``: returns (da (B, S), dM (B, S, Dm))."""
    return np.matmul(M, dc[:, :, None])[:, :, 0], a[:, :, None] * dc[:, None, :]


# -- coverage loss ------------------------------------------------------------------------------


def coverage_loss(a: np.ndarray, cov: np.ndarray, weights: np.ndarray | float) -> float:
    """sum weights * min(a, cov) (See et al. 2017); a, cov (..., S), weights broadcast to them (0 on padded
    target steps)."""
    return float(np.sum(weights * np.minimum(a, cov)))


def coverage_loss_backward(a: np.ndarray, cov: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of ``coverage_loss``: to a where a < cov, else to cov (ties go to cov). Returns (da, dcov)."""
    to_a = a < cov
    w = np.broadcast_to(weights, a.shape)
    return np.where(to_a, w, 0.0), np.where(to_a, 0.0, w)
