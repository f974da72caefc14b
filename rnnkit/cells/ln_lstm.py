"""Layer-normalised LSTM (Ba, Kiros and Hinton 2016): forward and backward through time, side by side.

Equations (gate rows stacked i, f, g, o as in ``rnnkit.cells.lstm``; ``hr``
is h_{t-1} as it enters the recurrent product, i.e. with recurrent dropout):

    ax_t = LN(x_t @ W_ih.T; ln_ih_weight, ln_ih_bias)        (B, 4H)   all t in one GEMM, one LN
    ah_t = LN(hr @ W_hh.T;  ln_hh_weight, ln_hh_bias)        (B, 4H)
    a_t  = ax_t + ah_t
    i = sigmoid(a_i)   f = sigmoid(a_f)   g = tanh(a_g)   o = sigmoid(a_o)
    c_t  = f * c_{t-1} + i * g
    cl_t = LN(c_t; ln_c_weight, ln_c_bias)                   (B, H)
    h_t  = o * tanh(cl_t)

with LN(v; w, b) = (v - mean(v)) / sqrt(var(v) + eps) * w + b, the mean and
the (biased) variance taken over the last axis, per sample and per step.

Placement, as in the paper's appendix: each product is normalised over its
whole 4H-vector of pre-activations, all four gates together, not gate by gate.
That is the paper's definition of a layer (every summed input to the layer's
units) and costs one reduction per product and step; because the statistics
run over all 4H entries, the stacking order of the gates does not matter (the
paper stacks f, i, o, g; rnnkit keeps PyTorch's i, f, g, o). The per-unit
gains and shifts still give every gate its own scale and offset.

Biases: there is no ``bias_ih`` / ``bias_hh``. The shifts ``ln_ih_bias`` and
``ln_hh_bias`` sit exactly where PyTorch's two biases sit (added to each
product's pre-activations), and the paper's extra b would only add a third
copy of the same vector; ``bias=False`` drops all three shifts (ln_c_bias
too), leaving the gains. Initialisation (by the layer): gains 1, shifts 0.

Backward, with dh_t and dc_t the gradients arriving at step t:

    da_o  = dh_t * tanh(cl_t) * o (1 - o)
    dcl   = dh_t * o * (1 - tanh(cl_t)**2)
    dc_t  = dc_t + LN_c backward(dcl)
    da_i = dc_t * g * i (1 - i),  da_f = dc_t * c_{t-1} * f (1 - f),  da_g = dc_t * i * (1 - g**2)
    dc_{t-1} = dc_t * f
    dhw_t = LN_hh backward(da_t);   dh_{t-1} = dhw_t @ W_hh
    after the loop:  dxw = LN_ih backward(da) over all t
    dW_ih = sum_t dxw_t.T @ x_t,   dW_hh = sum_t dhw_t.T @ hr_t,   dx = dxw @ W_ih

LN backward (``rnnkit.functional.layer_norm_backward``) also gives its
gain's and shift's gradients, summed over B and t.

Shapes: x (T, B, D), h and c (T, B, H), W_ih (4H, D), W_hh (4H, H),
ln_ih_* and ln_hh_* (4H,), ln_c_* (H,); G = 4.
Reference: J. L. Ba, J. R. Kiros, G. E. Hinton, "Layer Normalization", 2016, appendix.

Example
-------
>>> import numpy as np
>>> from rnnkit.cells import ln_lstm
>>> rng = np.random.default_rng(0)
>>> p = {"weight_ih": rng.normal(size=(12, 2)), "weight_hh": rng.normal(size=(12, 3)),
...      "ln_ih_weight": np.ones(12), "ln_hh_weight": np.ones(12), "ln_c_weight": np.ones(3)}
>>> x, s0 = rng.normal(size=(5, 4, 2)), (np.zeros((4, 3)), np.zeros((4, 3)))
>>> out, (hT, cT), cache = ln_lstm.forward(p, x, s0)
>>> grads, dx, (dh0, dc0) = ln_lstm.backward(p, cache, np.ones_like(out), None)
>>> out.shape, dx.shape, grads["ln_c_weight"].shape
((5, 4, 3), (5, 4, 2), (3,))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from rnnkit.cells.common import (
    StepMasks,
    apply_clamp,
    masked_output,
    recurrent_input,
    recurrent_inputs,
    recurrent_mask_at,
    resolve_masks,
    split_update,
    take_update,
    zero_clamped,
)
from rnnkit.functional import layer_norm_backward, layer_norm_forward, sigmoid

GATES = 4
GATE_BLOCKS = {"i": 0, "f": 1, "o": 3}  # gates that clamp_gates may fix, and their row block
LN_NAMES = ("ln_ih", "ln_hh", "ln_c")  # each has ``<name>_weight`` and, with bias, ``<name>_bias``


@dataclass
class LNLSTMCache:
    x: np.ndarray  # (T, B, D) input
    h: np.ndarray  # (T+1, B, H) hidden states, h[0] = h0
    c: np.ndarray  # (T+1, B, H) cell states, c[0] = c0
    gates: np.ndarray  # (T, B, 4H) activated i, f, g, o
    tanh_c: np.ndarray  # (T, B, H) tanh(LN(c_t))
    ln_x: tuple  # cache of the input LN over all steps
    ln_h: list  # [t] cache of the recurrent LN
    ln_c: list  # [t] cache of the cell-state LN
    masks: StepMasks
    clamp: dict


def forward(
    params: dict,
    x: np.ndarray,
    state: tuple[np.ndarray, np.ndarray],
    *,
    lengths: ArrayLike | None = None,
    masks: StepMasks | None = None,
    need_cache: bool = True,
    eps: float = 1e-5,
    clamp: dict | None = None,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], LNLSTMCache]:
    """Run the layer-normalised LSTM over x (T, B, D) from (h0, c0). Returns (out, (h_T, c_T), cache).

    ``params``: ``weight_ih``, ``weight_hh``, ``ln_ih_weight``, ``ln_hh_weight``,
    ``ln_c_weight`` and, optionally, the shifts ``ln_ih_bias``, ``ln_hh_bias``,
    ``ln_c_bias``. ``clamp={"i": 1, "f": 0, "o": 1}`` fixes gates to constants.
    """
    h0, c0 = state
    T, B, D = x.shape
    H = c0.shape[-1]
    clamp = clamp or {}
    w_hh_t = params["weight_hh"].T
    g_h, b_h = params["ln_hh_weight"], params.get("ln_hh_bias")
    g_c, b_c = params["ln_c_weight"], params.get("ln_c_bias")
    mk = resolve_masks(lengths, masks, T, x.dtype)
    xw = (x.reshape(T * B, D) @ params["weight_ih"].T).reshape(T, B, GATES * H)  # (T, B, 4H)
    gates, ln_x = layer_norm_forward(xw, params["ln_ih_weight"], params.get("ln_ih_bias"), eps)
    h = np.empty((T + 1, B, H), dtype=x.dtype)
    c = np.empty((T + 1, B, H), dtype=x.dtype)
    tanh_c = np.empty((T, B, H), dtype=x.dtype)
    ln_h, ln_c = [], []
    h[0], c[0] = h0, c0
    for t in range(T):
        ah, lh = layer_norm_forward(recurrent_input(mk, t, h[t]) @ w_hh_t, g_h, b_h, eps)
        a = gates[t]
        a += ah  # a_t = ax_t + ah_t
        sigmoid(a[:, : 2 * H], out=a[:, : 2 * H])  # i, f
        np.tanh(a[:, 2 * H : 3 * H], out=a[:, 2 * H : 3 * H])  # g
        sigmoid(a[:, 3 * H :], out=a[:, 3 * H :])  # o
        apply_clamp(a, clamp, GATE_BLOCKS, H)
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        cn = c[t + 1]
        np.multiply(f, c[t], out=cn)
        cn += i * g  # c_t = f c_{t-1} + i g
        cl, lc = layer_norm_forward(cn, g_c, b_c, eps)  # LN(c_t), before any update mask
        np.tanh(cl, out=tanh_c[t])
        np.multiply(o, tanh_c[t], out=h[t + 1])  # h_t = o tanh(LN(c_t))
        take_update(mk.update_c, t, c)
        take_update(mk.update, t, h)
        if need_cache:
            ln_h.append(lh)
            ln_c.append(lc)
    cache = LNLSTMCache(x, h, c, gates, tanh_c, ln_x, ln_h, ln_c, mk, clamp) if need_cache else None
    return masked_output(mk, h), (h[T].copy(), c[T].copy()), cache


def backward(
    params: dict,
    cache: LNLSTMCache,
    dout: np.ndarray | None,
    dstate_T: tuple[np.ndarray | None, np.ndarray | None] | None,
) -> tuple[dict, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Backpropagate through time. Returns (grads, dx (T, B, D), (dh0, dc0))."""
    x, h, c, gates, tanh_c, mk = cache.x, cache.h, cache.c, cache.gates, cache.tanh_c, cache.masks
    T, B, D = x.shape
    H = c.shape[-1]
    w_hh = params["weight_hh"]
    has_bias = "ln_ih_bias" in params
    dh_T, dc_T = (None, None) if dstate_T is None else dstate_T
    dh = np.zeros_like(h[0]) if dh_T is None else dh_T.astype(x.dtype, copy=True)
    dc = np.zeros_like(c[0]) if dc_T is None else dc_T.astype(x.dtype, copy=True)
    da = np.empty_like(gates)  # (T, B, 4H) d(gate pre-activations)
    dhw = np.empty_like(gates)  # (T, B, 4H) d(hr @ W_hh.T)
    dg_h, dg_c = np.zeros_like(params["ln_hh_weight"]), np.zeros_like(params["ln_c_weight"])
    db_h, db_c = (np.zeros_like(dg_h), np.zeros_like(dg_c)) if has_bias else (None, None)
    for t in reversed(range(T)):
        if dout is not None:
            dh += dout[t] if mk.out is None else dout[t] * mk.out[t]
        dh, skip_h = split_update(mk.update, t, dh)
        dc, skip_c = split_update(mk.update_c, t, dc)
        a = gates[t]
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        tc = tanh_c[t]
        d = da[t]
        np.multiply(dh * tc, o * (1.0 - o), out=d[:, 3 * H :])  # da_o, through sigmoid
        dcn, dgc, dbc = layer_norm_backward(dh * o * (1.0 - tc * tc), cache.ln_c[t])  # through tanh, LN_c
        dc = dc + dcn
        np.multiply(dc * g, i * (1.0 - i), out=d[:, :H])  # da_i
        np.multiply(dc * c[t], f * (1.0 - f), out=d[:, H : 2 * H])  # da_f
        np.multiply(dc * i, 1.0 - g * g, out=d[:, 2 * H : 3 * H])  # da_g, through tanh
        zero_clamped(d, cache.clamp, GATE_BLOCKS, H)
        dc = dc * f  # dc_{t-1}, through f c_{t-1}
        dhw[t], dgh, dbh = layer_norm_backward(d, cache.ln_h[t])  # through ah_t = LN(hr W_hh^T)
        dg_h += dgh
        dg_c += dgc
        if has_bias:
            db_h += dbh
            db_c += dbc
        dh = dhw[t] @ w_hh  # dh_{t-1}, through the recurrent product
        r = recurrent_mask_at(mk, t)
        if r is not None:
            dh *= r
        if skip_h is not None:
            dh += skip_h
        if skip_c is not None:
            dc += skip_c
    dxw, dg_x, db_x = layer_norm_backward(da, cache.ln_x)  # through ax = LN(x W_ih^T), all steps
    dxw2 = dxw.reshape(T * B, GATES * H)
    grads = {
        "weight_ih": dxw2.T @ x.reshape(T * B, D),
        "weight_hh": dhw.reshape(T * B, GATES * H).T @ recurrent_inputs(mk, h).reshape(T * B, H),
        "ln_ih_weight": dg_x,
        "ln_hh_weight": dg_h,
        "ln_c_weight": dg_c,
    }
    if has_bias:
        grads.update(ln_ih_bias=db_x, ln_hh_bias=db_h, ln_c_bias=db_c)
    dx = (dxw2 @ params["weight_ih"]).reshape(T, B, D)
    return grads, dx, (dh, dc)
