"""Minimal gated unit (Zhou et al. 2016): one forget gate. Forward and backward side by side.

Gate rows are stacked f, n; ``a`` are pre-activations.

    f  = sigmoid(x W_if^T + b_if + h W_hf^T + b_hf)
    n  = tanh(x W_in^T + b_in + (f * h) W_hn^T + b_hn)      the candidate h~
    h' = (1 - f) * h + f * n

It is a GRU whose reset and update gates are one gate (r = f, z = 1 - f):
the notes' "can we use fewer gates?" exercise (seeds/001).

Backward, with dh the gradient arriving at h':

    dn = dh * f        df = dh * (n - h)        dh_prev = dh * (1 - f) + ...
    da_n = dn * (1 - n**2)
    d(f h) = da_n @ W_hn;   df += d(f h) * h;   dh_prev += d(f h) * f
    da_f = df * f (1 - f);  dh_prev += da_f @ W_hf

Shapes: x (T, B, D), h (T, B, H), W_ih (2H, D), W_hh (2H, H); G = 2.

Example
-------
>>> import numpy as np
>>> from rnnkit.cells import mgu
>>> rng = np.random.default_rng(0)
>>> p = {"weight_ih": rng.normal(size=(6, 2)), "weight_hh": rng.normal(size=(6, 3))}
>>> out, hT, cache = mgu.forward(p, rng.normal(size=(5, 4, 2)), np.zeros((4, 3)))
>>> out.shape
(5, 4, 3)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit.activations import sigmoid
from rnnkit.cells._common import input_projection, step_mask, weight_grads

GATES = 2


@dataclass
class MGUCache:
    x: np.ndarray              # (T, B, D) input
    h: np.ndarray              # (T+1, B, H) states, h[0] = h0
    act: np.ndarray            # (T, B, 2H) activated f, n
    fh: np.ndarray             # (T, B, H) f * h_{t-1}
    mask: np.ndarray | None    # (T, B, 1) length mask or None


def forward(params: dict, x: np.ndarray, h0: np.ndarray, *, lengths=None, need_cache: bool = True):
    """Run the MGU over x (T, B, D) from h0 (B, H). Returns (out (T, B, H), h_T (B, H), cache)."""
    T, B, _ = x.shape
    H = h0.shape[-1]
    w_hh = params["weight_hh"]
    w_f_t, w_n_t = w_hh[:H].T, w_hh[H:].T
    act = input_projection(params, x, fold_hidden_bias=slice(None))   # (T, B, 2H)
    m = step_mask(lengths, T, x.dtype)
    h = np.empty((T + 1, B, H), dtype=x.dtype)
    fh = np.empty((T, B, H), dtype=x.dtype)
    h[0] = h0
    for t in range(T):
        a = act[t]
        f, n = a[:, :H], a[:, H:]
        f += h[t] @ w_f_t
        sigmoid(f, out=f)
        np.multiply(f, h[t], out=fh[t])
        n += fh[t] @ w_n_t                                            # + (f * h) W_hn^T
        np.tanh(n, out=n)
        np.subtract(n, h[t], out=h[t + 1])                            # h' = h + f (n - h)
        h[t + 1] *= f
        h[t + 1] += h[t]
        if m is not None:
            h[t + 1] = m[t] * h[t + 1] + (1 - m[t]) * h[t]
    out = h[1:] if m is None else h[1:] * m
    cache = MGUCache(x, h, act, fh, m) if need_cache else None
    return out, h[T].copy(), cache


def backward(params: dict, cache: MGUCache, dout: np.ndarray | None, dh_T: np.ndarray | None):
    """Backpropagate through time. Returns (grads, dx (T, B, D), dh0 (B, H))."""
    x, h, act, fh, m = cache.x, cache.h, cache.act, cache.fh, cache.mask
    T = x.shape[0]
    H = h.shape[-1]
    w_hh = params["weight_hh"]
    w_f, w_n = w_hh[:H], w_hh[H:]
    dxw = np.empty_like(act)
    dh = np.zeros_like(h[0]) if dh_T is None else dh_T.astype(x.dtype, copy=True)
    for t in reversed(range(T)):
        if dout is not None:
            dh += dout[t] if m is None else dout[t] * m[t]
        skip = None
        if m is not None:
            skip = dh * (1 - m[t])
            dh = dh * m[t]
        h_prev = h[t]
        f, n = act[t][:, :H], act[t][:, H:]
        d = dxw[t]
        dan = d[:, H:]
        np.multiply(dh * f, 1.0 - n * n, out=dan)           # through n = tanh(.)
        dfh = dan @ w_n                                     # d(f * h_{t-1})
        df = dh * (n - h_prev) + dfh * h_prev
        np.multiply(df, f * (1.0 - f), out=d[:, :H])        # through f = sigmoid(.)
        dh = dh * (1.0 - f) + dfh * f + d[:, :H] @ w_f
        if skip is not None:
            dh += skip
    grads, dx = weight_grads(params, x, dxw, h[:-1], dxw)
    TB = T * x.shape[1]
    grads["weight_hh"][H:] = dxw[..., H:].reshape(TB, H).T @ fh.reshape(TB, H)
    return grads, dx, dh
