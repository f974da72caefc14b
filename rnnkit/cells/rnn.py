"""Elman RNN (tanh or ReLU): forward and backward through time, side by side.

Equations (PyTorch's ``nn.RNN``; the course notes' a<t> = g(Waa a<t-1> + Wax x<t> + ba)):

    a_t = x_t @ W_ih.T + b_ih + h_{t-1} @ W_hh.T + b_hh        (B, H)
    h_t = f(a_t),   f = tanh or relu

Backward, for dh_t = dL/dh_t (from the output at t and from step t+1):

    da_t     = dh_t * f'(a_t)          tanh: 1 - h_t**2;  relu: [h_t > 0]
    dh_{t-1} = da_t @ W_hh             (the only sequential part)
    dW_ih    = sum_t da_t.T @ x_t,   dW_hh = sum_t da_t.T @ h_{t-1},   db_ih = db_hh = sum_t,b da_t
    dx_t     = da_t @ W_ih

Shapes: x (T, B, D), h (T, B, H), W_ih (H, D), W_hh (H, H); G = 1 gate block.
Reference: Elman 1990; notation of PyTorch and of the course notes (seeds/000).

Example
-------
>>> import numpy as np
>>> from rnnkit.cells import rnn
>>> rng = np.random.default_rng(0)
>>> p = {"weight_ih": rng.normal(size=(3, 2)), "weight_hh": rng.normal(size=(3, 3))}
>>> out, hT, cache = rnn.forward(p, rng.normal(size=(5, 4, 2)), np.zeros((4, 3)))
>>> grads, dx, dh0 = rnn.backward(p, cache, np.ones_like(out), None)
>>> out.shape, grads["weight_hh"].shape, dx.shape
((5, 4, 3), (3, 3), (5, 4, 2))
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit.cells._common import input_projection, step_mask, weight_grads

GATES = 1
NONLINEARITIES = ("tanh", "relu")


@dataclass
class RNNCache:
    x: np.ndarray              # (T, B, D) input
    h: np.ndarray              # (T+1, B, H) states, h[0] = h0
    mask: np.ndarray | None    # (T, B, 1) length mask or None
    nonlinearity: str


def forward(params: dict, x: np.ndarray, h0: np.ndarray, *, lengths=None, need_cache: bool = True,
            nonlinearity: str = "tanh"):
    """Run the RNN over x (T, B, D) from h0 (B, H). Returns (out (T, B, H), h_T (B, H), cache)."""
    T, B, _ = x.shape
    w_hh_t = params["weight_hh"].T
    xw = input_projection(params, x, fold_hidden_bias=slice(None))   # (T, B, H)
    m = step_mask(lengths, T, x.dtype)
    h = np.empty((T + 1,) + h0.shape, dtype=x.dtype)                 # (T+1, B, H)
    h[0] = h0
    for t in range(T):
        a = xw[t]
        a += h[t] @ w_hh_t                         # a_t = x_t W_ih^T + h_{t-1} W_hh^T + b
        if nonlinearity == "tanh":
            np.tanh(a, out=h[t + 1])
        else:
            np.maximum(a, 0.0, out=h[t + 1])
        if m is not None:                          # finished sequences keep their state
            h[t + 1] = m[t] * h[t + 1] + (1 - m[t]) * h[t]
    out = h[1:] if m is None else h[1:] * m
    cache = RNNCache(x, h, m, nonlinearity) if need_cache else None
    return out, h[T].copy(), cache


def backward(params: dict, cache: RNNCache, dout: np.ndarray | None, dh_T: np.ndarray | None):
    """Backpropagate through time. Returns (grads, dx (T, B, D), dh0 (B, H))."""
    x, h, m = cache.x, cache.h, cache.mask
    T = x.shape[0]
    w_hh = params["weight_hh"]
    da = np.empty_like(h[1:])                      # (T, B, H) gradient of the pre-activations
    dh = np.zeros_like(h[0]) if dh_T is None else dh_T.astype(x.dtype, copy=True)
    for t in reversed(range(T)):
        if dout is not None:
            dh += dout[t] if m is None else dout[t] * m[t]
        skip = None
        if m is not None:                          # h_t = m h_new + (1 - m) h_{t-1}
            skip = dh * (1 - m[t])
            dh = dh * m[t]
        if cache.nonlinearity == "tanh":           # backprop through tanh: 1 - h^2
            np.multiply(dh, 1.0 - h[t + 1] * h[t + 1], out=da[t])
        else:                                      # backprop through relu: [h > 0]
            np.multiply(dh, h[t + 1] > 0, out=da[t])
        dh = da[t] @ w_hh                          # dh_{t-1}
        if skip is not None:
            dh += skip
    grads, dx = weight_grads(params, x, da, h[:-1], da)
    return grads, dx, dh
