"""Long short-term memory: forward and backward through time, side by side.

Equations (PyTorch's ``nn.LSTM``, gate rows stacked i, f, g, o):

    a_t = x_t @ W_ih.T + b_ih + h_{t-1} @ W_hh.T + b_hh        (B, 4H)
    i = sigmoid(a_i)   f = sigmoid(a_f)   g = tanh(a_g)   o = sigmoid(a_o)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

Backward, with dh_t and dc_t the gradients arriving at step t:

    do   = dh_t * tanh(c_t)
    dc_t = dc_t + dh_t * o * (1 - tanh(c_t)**2)
    di   = dc_t * g,   df = dc_t * c_{t-1},   dg = dc_t * i
    dc_{t-1} = dc_t * f
    da   = [di * i(1-i), df * f(1-f), dg * (1-g**2), do * o(1-o)]     (B, 4H)
    dh_{t-1} = da @ W_hh
    dW_ih = sum_t da.T @ x_t,   dW_hh = sum_t da.T @ h_{t-1},   db_ih = db_hh = sum da

Shapes: x (T, B, D), h and c (T, B, H), W_ih (4H, D), W_hh (4H, H); G = 4.
Reference: Hochreiter and Schmidhuber 1997, with the forget gate of Gers et al. 2000.

Example
-------
>>> import numpy as np
>>> from rnnkit.cells import lstm
>>> rng = np.random.default_rng(0)
>>> p = {"weight_ih": rng.normal(size=(12, 2)), "weight_hh": rng.normal(size=(12, 3))}
>>> out, (hT, cT), cache = lstm.forward(p, rng.normal(size=(5, 4, 2)), (np.zeros((4, 3)), np.zeros((4, 3))))
>>> grads, dx, (dh0, dc0) = lstm.backward(p, cache, np.ones_like(out), None)
>>> out.shape, cT.shape, dx.shape
((5, 4, 3), (4, 3), (5, 4, 2))
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit.activations import sigmoid
from rnnkit.cells._common import input_projection, step_mask, weight_grads

GATES = 4


@dataclass
class LSTMCache:
    x: np.ndarray              # (T, B, D) input
    h: np.ndarray              # (T+1, B, H) hidden states, h[0] = h0
    c: np.ndarray              # (T+1, B, H) cell states, c[0] = c0
    gates: np.ndarray          # (T, B, 4H) activated i, f, g, o
    tanh_c: np.ndarray         # (T, B, H) tanh(c_t) of the new cell state
    mask: np.ndarray | None    # (T, B, 1) length mask or None


def forward(params: dict, x: np.ndarray, state, *, lengths=None, need_cache: bool = True):
    """Run the LSTM over x (T, B, D) from state (h0, c0). Returns (out, (h_T, c_T), cache)."""
    h0, c0 = state
    T, B, _ = x.shape
    H = h0.shape[-1]
    w_hh_t = params["weight_hh"].T
    gates = input_projection(params, x, fold_hidden_bias=slice(None))   # (T, B, 4H), activated in place
    m = step_mask(lengths, T, x.dtype)
    h = np.empty((T + 1, B, H), dtype=x.dtype)
    c = np.empty((T + 1, B, H), dtype=x.dtype)
    tanh_c = np.empty((T, B, H), dtype=x.dtype)
    h[0], c[0] = h0, c0
    for t in range(T):
        a = gates[t]
        a += h[t] @ w_hh_t
        sigmoid(a[:, : 2 * H], out=a[:, : 2 * H])             # i, f
        np.tanh(a[:, 2 * H: 3 * H], out=a[:, 2 * H: 3 * H])   # g
        sigmoid(a[:, 3 * H:], out=a[:, 3 * H:])               # o
        i, f, g, o = a[:, :H], a[:, H: 2 * H], a[:, 2 * H: 3 * H], a[:, 3 * H:]
        ct = c[t + 1]
        np.multiply(f, c[t], out=ct)
        ct += i * g                                           # c_t = f c_{t-1} + i g
        np.tanh(ct, out=tanh_c[t])
        np.multiply(o, tanh_c[t], out=h[t + 1])               # h_t = o tanh(c_t)
        if m is not None:                                     # finished sequences keep their state
            h[t + 1] = m[t] * h[t + 1] + (1 - m[t]) * h[t]
            c[t + 1] = m[t] * c[t + 1] + (1 - m[t]) * c[t]
    out = h[1:] if m is None else h[1:] * m
    cache = LSTMCache(x, h, c, gates, tanh_c, m) if need_cache else None
    return out, (h[T].copy(), c[T].copy()), cache


def backward(params: dict, cache: LSTMCache, dout: np.ndarray | None, dstate_T):
    """Backpropagate through time. Returns (grads, dx (T, B, D), (dh0, dc0))."""
    x, h, c, gates, tanh_c, m = cache.x, cache.h, cache.c, cache.gates, cache.tanh_c, cache.mask
    T = x.shape[0]
    H = h.shape[-1]
    w_hh = params["weight_hh"]
    dh_T, dc_T = (None, None) if dstate_T is None else dstate_T
    dh = np.zeros_like(h[0]) if dh_T is None else dh_T.astype(x.dtype, copy=True)
    dc = np.zeros_like(c[0]) if dc_T is None else dc_T.astype(x.dtype, copy=True)
    da = np.empty_like(gates)                                 # (T, B, 4H)
    for t in reversed(range(T)):
        if dout is not None:
            dh += dout[t] if m is None else dout[t] * m[t]
        skip_h = skip_c = None
        if m is not None:                                     # state carried past the end
            skip_h, skip_c = dh * (1 - m[t]), dc * (1 - m[t])
            dh, dc = dh * m[t], dc * m[t]
        a = gates[t]
        i, f, g, o = a[:, :H], a[:, H: 2 * H], a[:, 2 * H: 3 * H], a[:, 3 * H:]
        tc = tanh_c[t]
        dc += dh * o * (1.0 - tc * tc)                        # through h_t = o tanh(c_t)
        d = da[t]
        np.multiply(dc * g, i * (1.0 - i), out=d[:, :H])              # di, through sigmoid
        np.multiply(dc * c[t], f * (1.0 - f), out=d[:, H: 2 * H])     # df
        np.multiply(dc * i, 1.0 - g * g, out=d[:, 2 * H: 3 * H])      # dg, through tanh
        np.multiply(dh * tc, o * (1.0 - o), out=d[:, 3 * H:])         # do
        dc = dc * f                                           # dc_{t-1}
        dh = d @ w_hh                                         # dh_{t-1}
        if skip_h is not None:
            dh += skip_h
            dc += skip_c
    grads, dx = weight_grads(params, x, da, h[:-1], da)
    return grads, dx, (dh, dc)
