"""Gated recurrent unit, in its three forms: forward and backward through time, side by side.

Gate rows are stacked r, z, n (PyTorch's order); ``a`` are pre-activations.

``reset_after=True`` (PyTorch's ``nn.GRU``, Keras' reset_after=True):

    r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)
    z = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)
    n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))
    h' = (1 - z) * n + z * h

``reset_after=False`` (Cho et al. 2014, "Learning phrase representations using
RNN encoder-decoder for statistical machine translation", and the CS224N
lecture notes): the reset gate acts on h *before* the recurrent product,

    n = tanh(x W_in^T + b_in + (r * h) W_hn^T + b_hn)

``reset_gate=False``: the simplified GRU of the Sequence Models course (Andrew Ng, deeplearning.ai),
update gate only; two gate blocks stacked z, n,

    z = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)
    n = tanh(x W_in^T + b_in + h W_hn^T + b_hn)
    h' = (1 - z) * n + z * h

(The course writes c = Gu * c~ + (1 - Gu) * c_prev: its Gu is our 1 - z.)

Keras's ``activation`` (the candidate's tanh) and ``recurrent_activation`` (the gates' sigmoid)
are options of ``forward`` in every form; backward then uses their derivatives at the outputs.

Backward, with dh the gradient arriving at h':

    dn = dh * (1 - z)      dz = dh * (h - n)      dh_prev = dh * z + ...
    da_n = dn * (1 - n**2)
    reset_after=True:   dr = da_n * (h W_hn^T + b_hn);  d(h W_hn^T + b_hn) = da_n * r
    reset_after=False:  d(r h) = da_n @ W_hn;  dr = d(r h) * h;  dh_prev += d(r h) * r
    da_r = dr * r (1 - r),   da_z = dz * z (1 - z)

Shapes: x (T, B, D), h (T, B, H), W_ih (G*H, D), W_hh (G*H, H), G = 3 (or 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from rnnkit.cells.common import (
    StepMasks,
    add_into,
    apply_clamp,
    input_projection,
    masked_output,
    recurrent_grad,
    recurrent_input,
    recurrent_inputs,
    recurrent_mask_at,
    recurrent_product,
    resolve_masks,
    split_update,
    take_update,
    weight_grads,
    zero_clamped,
)
from rnnkit.functional import activate, activation_grad


def gates(reset_gate: bool = True) -> int:
    """Number of stacked gate blocks G: 3 (r, z, n), or 2 (z, n) without the reset gate."""
    return 3 if reset_gate else 2


def gate_blocks(reset_gate: bool = True) -> dict:
    """Gates that clamp_gates may fix, and their row block."""
    return {"r": 0, "z": 1} if reset_gate else {"z": 0}


@dataclass
class GRUCache:
    x: np.ndarray  # (T, B, D) input
    h: np.ndarray  # (T+1, B, H) states, h[0] = h0
    act: np.ndarray  # (T, B, G*H) activated gates: r, z, n (or z, n)
    extra: np.ndarray | None  # reset_after: (T, B, H) hr W_hn^T + b_hn;  reset before: r * hr
    masks: StepMasks
    reset_after: bool
    reset_gate: bool
    clamp: dict
    activation: str = "tanh"  # of the candidate n (Keras's ``activation``)
    recurrent_activation: str = "sigmoid"  # of r and z (Keras's ``recurrent_activation``)


def forward(
    params: dict,
    x: np.ndarray,
    h0: np.ndarray,
    *,
    lengths: ArrayLike | None = None,
    masks: StepMasks | None = None,
    need_cache: bool = True,
    reset_after: bool = True,
    reset_gate: bool = True,
    clamp: dict | None = None,
    activation: str = "tanh",
    recurrent_activation: str = "sigmoid",
) -> tuple[np.ndarray, np.ndarray, GRUCache]:
    """Run the GRU over x (T, B, D) from h0 (B, H). Returns (out (T, B, H), h_T (B, H), cache).

    ``clamp={"r": v1, "z": v2}`` fixes gates to constants (gate clamping); hr below is
    h_{t-1} as it enters the recurrent products (recurrent dropout applied). ``activation``
    replaces the candidate's tanh and ``recurrent_activation`` the gates' sigmoid, as Keras's
    options of those names do (``rnnkit.functional.ACTIVATIONS``).
    """
    T, B, _ = x.shape
    H = h0.shape[-1]
    clamp = clamp or {}
    blocks = gate_blocks(reset_gate)
    w_hh = params["weight_hh"]
    b_hh = params.get("bias_hh")
    mk = resolve_masks(lengths, masks, T, x.dtype)
    if mk.per_gate and not (reset_gate and reset_after):
        raise ValueError("gru.forward: per-gate masks need reset_after=True and reset_gate=True, got other variants")
    h = np.empty((T + 1, B, H), dtype=x.dtype)
    h[0] = h0
    if not reset_gate:
        act = input_projection(params, x, fold_hidden_bias=slice(None))  # (T, B, 2H): z, n
        extra = None
        w_hh_t = w_hh.T
        for t in range(T):
            a = act[t]
            a += recurrent_input(mk, t, h[t]) @ w_hh_t
            activate(recurrent_activation, a[:, :H], out=a[:, :H])
            activate(activation, a[:, H:], out=a[:, H:])
            apply_clamp(a, clamp, blocks, H)
            _blend(a[:, :H], a[:, H:], h[t], h[t + 1])
            take_update(mk.update, t, h)
    elif reset_after:
        # b_hn stays inside r * (.)
        act = input_projection(params, x, fold_hidden_bias=slice(0, 2 * H), masks=mk)
        extra = np.empty((T, B, H), dtype=x.dtype)  # hr W_hn^T + b_hn
        for t in range(T):
            a = act[t]
            hw = recurrent_product(mk, t, h[t], w_hh)  # (B, 3H), recurrent dropout per gate or shared
            a[:, : 2 * H] += hw[:, : 2 * H]
            activate(recurrent_activation, a[:, : 2 * H], out=a[:, : 2 * H])  # r, z
            apply_clamp(a, clamp, blocks, H)
            hn = extra[t]
            hn[...] = hw[:, 2 * H :]
            if b_hh is not None:
                hn += b_hh[2 * H :]
            n = a[:, 2 * H :]
            n += a[:, :H] * hn  # + r * (hr W_hn^T + b_hn)
            activate(activation, n, out=n)
            _blend(a[:, H : 2 * H], n, h[t], h[t + 1])
            take_update(mk.update, t, h)
    else:
        act = input_projection(params, x, fold_hidden_bias=slice(None))
        extra = np.empty((T, B, H), dtype=x.dtype)  # r * hr
        w_rz_t, w_n_t = w_hh[: 2 * H].T, w_hh[2 * H :].T
        for t in range(T):
            a = act[t]
            hr = recurrent_input(mk, t, h[t])
            rz = a[:, : 2 * H]
            rz += hr @ w_rz_t
            activate(recurrent_activation, rz, out=rz)
            apply_clamp(a, clamp, blocks, H)
            rh = extra[t]
            np.multiply(a[:, :H], hr, out=rh)
            n = a[:, 2 * H :]
            n += rh @ w_n_t  # + (r * hr) W_hn^T
            activate(activation, n, out=n)
            _blend(a[:, H : 2 * H], n, h[t], h[t + 1])
            take_update(mk.update, t, h)
    cache = None
    if need_cache:
        cache = GRUCache(x, h, act, extra, mk, reset_after, reset_gate, clamp, activation, recurrent_activation)
    return masked_output(mk, h), h[T].copy(), cache


def _blend(z, n, h_prev, out):
    """out = (1 - z) * n + z * h_prev, written as n + z * (h_prev - n)."""
    np.subtract(h_prev, n, out=out)
    out *= z
    out += n


def backward(
    params: dict, cache: GRUCache, dout: np.ndarray | None, dh_T: np.ndarray | None, *, grads_out: dict | None = None
) -> tuple[dict, np.ndarray, np.ndarray]:
    """Backpropagate through time. Returns (grads, dx (T, B, D), dh0 (B, H)).

    With ``grads_out`` (arrays shaped like ``params``) the gradients are added into it and it is returned.
    """
    x, h, act, extra, mk = cache.x, cache.h, cache.act, cache.extra, cache.masks
    T = x.shape[0]
    H = h.shape[-1]
    blocks = gate_blocks(cache.reset_gate)
    w_hh = params["weight_hh"]
    dxw = np.empty_like(act)  # d(input pre-activations)  (T, B, G*H)
    # d(recurrent products): equal to dxw except where r multiplies (hr W_hn^T + b_hn)
    dhw = np.empty_like(act) if (cache.reset_gate and cache.reset_after) else dxw
    dh = np.zeros_like(h[0]) if dh_T is None else dh_T.astype(x.dtype, copy=True)
    rec, act_name = cache.recurrent_activation, cache.activation

    def dgate(y):  # derivative of the gates' activation at its output (sigmoid: y (1 - y))
        return y * (1.0 - y) if rec == "sigmoid" else activation_grad(rec, y)

    def dcand(y):  # derivative of the candidate's activation at its output (tanh: 1 - y^2)
        return 1.0 - y * y if act_name == "tanh" else activation_grad(act_name, y)

    for t in reversed(range(T)):
        if dout is not None:
            dh += dout[t] if mk.out is None else dout[t] * mk.out[t]
        dh, skip = split_update(mk.update, t, dh)
        a, d, h_prev = act[t], dxw[t], h[t]
        rmask = recurrent_mask_at(mk, t)
        if not cache.reset_gate:
            z, n = a[:, :H], a[:, H:]
            np.multiply(dh * (h_prev - n), dgate(z), out=d[:, :H])  # da_z
            np.multiply(dh * (1.0 - z), dcand(n), out=d[:, H:])  # da_n
            zero_clamped(d, cache.clamp, blocks, H)
            dhr = d @ w_hh
        else:
            r, z, n = a[:, :H], a[:, H : 2 * H], a[:, 2 * H :]
            np.multiply(dh * (h_prev - n), dgate(z), out=d[:, H : 2 * H])  # da_z
            dan = d[:, 2 * H :]
            np.multiply(dh * (1.0 - z), dcand(n), out=dan)  # da_n
            if cache.reset_after:
                np.multiply(dan * extra[t], dgate(r), out=d[:, :H])  # da_r
                zero_clamped(d, cache.clamp, blocks, H)
                e = dhw[t]
                e[:, : 2 * H] = d[:, : 2 * H]
                np.multiply(dan, r, out=e[:, 2 * H :])  # d(hr W_hn^T + b_hn)
                dhr = recurrent_grad(mk, t, e, w_hh)  # recurrent dropout (shared or per gate) included
                rmask = None
            else:
                drh = dan @ w_hh[2 * H :]  # d(r * hr)
                hr = h_prev if rmask is None else h_prev * rmask
                np.multiply(drh * hr, dgate(r), out=d[:, :H])  # da_r
                zero_clamped(d, cache.clamp, blocks, H)
                dhr = drh * r + d[:, : 2 * H] @ w_hh[: 2 * H]
        if rmask is not None:
            dhr *= rmask
        dh = dh * z + dhr  # + through h' = ... + z h
        if skip is not None:
            dh += skip
    h_in = recurrent_inputs(mk, h)
    if cache.reset_gate and not cache.reset_after:
        # W_hr, W_hz multiply hr; W_hn multiplies r * hr: one GEMM each block.
        grads, dx = weight_grads(params, x, dxw, h_in, dxw)
        TB = T * x.shape[1]
        grads["weight_hh"][2 * H :] = dxw[..., 2 * H :].reshape(TB, H).T @ extra.reshape(TB, H)
    else:
        grads, dx = weight_grads(params, x, dxw, h_in, dhw, input_mask=mk.input)
    return add_into(grads_out, grads), dx, dh
