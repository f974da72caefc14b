"""Layer-normalised GRU (after Ba, Kiros and Hinton 2016): forward and backward through time, side by side.

Equations (gate rows stacked r, z, n and PyTorch's reset-after convention,
as ``rnnkit.cells.gru``; ``hr`` is h_{t-1} as it enters the recurrent
product, i.e. with recurrent dropout):

    ax_t = LN(x_t @ W_ih.T; ln_ih_weight, ln_ih_bias)        (B, 3H)   all t in one GEMM, one LN
    ah_t = LN(hr @ W_hh.T;  ln_hh_weight, ln_hh_bias)        (B, 3H)
    r = sigmoid(ax_r + ah_r)
    z = sigmoid(ax_z + ah_z)
    n = tanh(ax_n + r * ah_n)
    h_t = (1 - z) * n + z * h_{t-1}

with LN(v; w, b) = (v - mean(v)) / sqrt(var(v) + eps) * w + b over the last
axis, per sample and per step. The paper gives the layer-normalised LSTM; this
is the same recipe applied to PyTorch's GRU: each of the two products is
normalised over its whole 3H-vector (all gates together, the paper's notion of
a layer), and LN's shifts take the place of ``bias_ih`` and ``bias_hh``, in
the same positions (the n-block of ``ln_hh_bias`` is b_hn, inside r * (.)).
So there is no separate bias; ``bias=False`` drops the shifts. A GRU has no
cell state, so there is no third LN. Initialisation (by the layer): gains 1, shifts 0.

Backward, with dh the gradient arriving at h_t:

    da_z = dh * (h_{t-1} - n) * z (1 - z)
    da_n = dh * (1 - z) * (1 - n**2)
    da_r = da_n * ah_n * r (1 - r)
    dax_t = (da_r, da_z, da_n)              dah_t = (da_r, da_z, da_n * r)
    dhw_t = LN_hh backward(dah_t);   dh_{t-1} = dh * z + dhw_t @ W_hh
    after the loop:  dxw = LN_ih backward(dax) over all t
    dW_ih = sum_t dxw_t.T @ x_t,   dW_hh = sum_t dhw_t.T @ hr_t,   dx = dxw @ W_ih

Shapes: x (T, B, D), h (T, B, H), W_ih (3H, D), W_hh (3H, H), ln_* (3H,); G = 3.

Example
-------
>>> import numpy as np
>>> from rnnkit.cells import ln_gru
>>> rng = np.random.default_rng(0)
>>> p = {"weight_ih": rng.normal(size=(9, 2)), "weight_hh": rng.normal(size=(9, 3)),
...      "ln_ih_weight": np.ones(9), "ln_hh_weight": np.ones(9)}
>>> out, hT, cache = ln_gru.forward(p, rng.normal(size=(5, 4, 2)), np.zeros((4, 3)))
>>> grads, dx, dh0 = ln_gru.backward(p, cache, np.ones_like(out), None)
>>> out.shape, dx.shape, grads["ln_hh_weight"].shape
((5, 4, 3), (5, 4, 2), (9,))
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

GATES = 3
GATE_BLOCKS = {"r": 0, "z": 1}  # gates that clamp_gates may fix, and their row block
LN_NAMES = ("ln_ih", "ln_hh")  # each has ``<name>_weight`` and, with bias, ``<name>_bias``


@dataclass
class LNGRUCache:
    x: np.ndarray  # (T, B, D) input
    h: np.ndarray  # (T+1, B, H) states, h[0] = h0
    act: np.ndarray  # (T, B, 3H) activated r, z, n
    ah_n: np.ndarray  # (T, B, H) n-block of LN(hr W_hh^T), what r multiplies
    ln_x: tuple  # cache of the input LN over all steps
    ln_h: list  # [t] cache of the recurrent LN
    masks: StepMasks
    clamp: dict


def forward(
    params: dict,
    x: np.ndarray,
    h0: np.ndarray,
    *,
    lengths: ArrayLike | None = None,
    masks: StepMasks | None = None,
    need_cache: bool = True,
    eps: float = 1e-5,
    clamp: dict | None = None,
) -> tuple[np.ndarray, np.ndarray, LNGRUCache]:
    """Run the layer-normalised GRU over x (T, B, D) from h0 (B, H). Returns (out, h_T, cache).

    ``params``: ``weight_ih``, ``weight_hh``, ``ln_ih_weight``, ``ln_hh_weight``
    and, optionally, the shifts ``ln_ih_bias``, ``ln_hh_bias``.
    ``clamp={"r": v1, "z": v2}`` fixes gates to constants.
    """
    T, B, D = x.shape
    H = h0.shape[-1]
    clamp = clamp or {}
    w_hh_t = params["weight_hh"].T
    g_h, b_h = params["ln_hh_weight"], params.get("ln_hh_bias")
    mk = resolve_masks(lengths, masks, T, x.dtype)
    xw = (x.reshape(T * B, D) @ params["weight_ih"].T).reshape(T, B, GATES * H)  # (T, B, 3H)
    act, ln_x = layer_norm_forward(xw, params["ln_ih_weight"], params.get("ln_ih_bias"), eps)
    ah_n = np.empty((T, B, H), dtype=x.dtype)
    h = np.empty((T + 1, B, H), dtype=x.dtype)
    h[0] = h0
    ln_h = []
    for t in range(T):
        ah, lh = layer_norm_forward(recurrent_input(mk, t, h[t]) @ w_hh_t, g_h, b_h, eps)  # (B, 3H)
        a = act[t]
        rz = a[:, : 2 * H]
        rz += ah[:, : 2 * H]
        sigmoid(rz, out=rz)  # r, z
        apply_clamp(a, clamp, GATE_BLOCKS, H)
        ah_n[t] = ah[:, 2 * H :]
        n = a[:, 2 * H :]
        n += a[:, :H] * ah_n[t]  # ax_n + r * ah_n
        np.tanh(n, out=n)
        z = a[:, H : 2 * H]
        np.subtract(h[t], n, out=h[t + 1])  # h_t = n + z (h_{t-1} - n)
        h[t + 1] *= z
        h[t + 1] += n
        take_update(mk.update, t, h)
        if need_cache:
            ln_h.append(lh)
    cache = LNGRUCache(x, h, act, ah_n, ln_x, ln_h, mk, clamp) if need_cache else None
    return masked_output(mk, h), h[T].copy(), cache


def backward(
    params: dict, cache: LNGRUCache, dout: np.ndarray | None, dh_T: np.ndarray | None
) -> tuple[dict, np.ndarray, np.ndarray]:
    """Backpropagate through time. Returns (grads, dx (T, B, D), dh0 (B, H))."""
    x, h, act, mk = cache.x, cache.h, cache.act, cache.masks
    T, B, D = x.shape
    H = h.shape[-1]
    w_hh = params["weight_hh"]
    has_bias = "ln_hh_bias" in params
    dax = np.empty_like(act)  # (T, B, 3H) d(ax)
    dhw = np.empty_like(act)  # (T, B, 3H) d(hr @ W_hh.T)
    dah = np.empty((B, GATES * H), dtype=x.dtype)  # d(ah_t), reused every step
    dg_h = np.zeros_like(params["ln_hh_weight"])
    db_h = np.zeros_like(dg_h) if has_bias else None
    dh = np.zeros_like(h[0]) if dh_T is None else dh_T.astype(x.dtype, copy=True)
    for t in reversed(range(T)):
        if dout is not None:
            dh += dout[t] if mk.out is None else dout[t] * mk.out[t]
        dh, skip = split_update(mk.update, t, dh)
        a, d = act[t], dax[t]
        r, z, n = a[:, :H], a[:, H : 2 * H], a[:, 2 * H :]
        np.multiply(dh * (h[t] - n), z * (1.0 - z), out=d[:, H : 2 * H])  # da_z
        dan = d[:, 2 * H :]
        np.multiply(dh * (1.0 - z), 1.0 - n * n, out=dan)  # da_n, through tanh
        np.multiply(dan * cache.ah_n[t], r * (1.0 - r), out=d[:, :H])  # da_r, through r * ah_n
        zero_clamped(d, cache.clamp, GATE_BLOCKS, H)
        dah[:, : 2 * H] = d[:, : 2 * H]
        np.multiply(dan, r, out=dah[:, 2 * H :])  # d(ah_n)
        dhw[t], dgh, dbh = layer_norm_backward(dah, cache.ln_h[t])  # through ah_t = LN(hr W_hh^T)
        dg_h += dgh
        if has_bias:
            db_h += dbh
        dhr = dhw[t] @ w_hh
        r_mask = recurrent_mask_at(mk, t)
        if r_mask is not None:
            dhr *= r_mask
        dh = dh * z + dhr  # + through h_t = ... + z h_{t-1}
        if skip is not None:
            dh += skip
    dxw, dg_x, db_x = layer_norm_backward(dax, cache.ln_x)  # through ax = LN(x W_ih^T), all steps
    dxw2 = dxw.reshape(T * B, GATES * H)
    grads = {
        "weight_ih": dxw2.T @ x.reshape(T * B, D),
        "weight_hh": dhw.reshape(T * B, GATES * H).T @ recurrent_inputs(mk, h).reshape(T * B, H),
        "ln_ih_weight": dg_x,
        "ln_hh_weight": dg_h,
    }
    if has_bias:
        grads.update(ln_ih_bias=db_x, ln_hh_bias=db_h)
    dx = (dxw2 @ params["weight_ih"]).reshape(T, B, D)
    return grads, dx, dh
