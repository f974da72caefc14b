"""Minimal gated unit (Zhou et al. 2016): one forget gate. Forward and backward side by side.

Gate rows are stacked f, n; ``a`` are pre-activations.

    f  = sigmoid(x W_if^T + b_if + h W_hf^T + b_hf)
    n  = tanh(x W_in^T + b_in + (f * h) W_hn^T + b_hn)      the candidate h~
    h' = (1 - f) * h + f * n

It is a GRU whose reset and update gates are one gate (r = f, z = 1 - f).
Reference: G.-B. Zhou, J. Wu, C.-L. Zhang, Z.-H. Zhou, "Minimal gated unit for recurrent neural networks", 2016.

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
from numpy.typing import ArrayLike

from rnnkit.cells.common import (
    StepMasks,
    add_into,
    apply_clamp,
    input_projection,
    masked_output,
    recurrent_input,
    recurrent_inputs,
    recurrent_mask_at,
    resolve_masks,
    split_update,
    take_update,
    weight_grads,
    zero_clamped,
)
from rnnkit.functional import sigmoid

GATES = 2
GATE_BLOCKS = {"f": 0}  # gates that clamp_gates may fix, and their row block


@dataclass
class MGUCache:
    x: np.ndarray  # (T, B, D) input
    h: np.ndarray  # (T+1, B, H) states, h[0] = h0
    act: np.ndarray  # (T, B, 2H) activated f, n
    fh: np.ndarray  # (T, B, H) f * h_{t-1} as it entered W_hn (recurrent mask applied)
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
    clamp: dict | None = None,
) -> tuple[np.ndarray, np.ndarray, MGUCache]:
    """Run the MGU over x (T, B, D) from h0 (B, H). Returns (out (T, B, H), h_T (B, H), cache).

    ``clamp={"f": v}`` fixes the forget gate to the constant v (gate clamping).
    """
    T, B, _ = x.shape
    H = h0.shape[-1]
    clamp = clamp or {}
    w_hh = params["weight_hh"]
    w_f_t, w_n_t = w_hh[:H].T, w_hh[H:].T
    act = input_projection(params, x, fold_hidden_bias=slice(None))  # (T, B, 2H)
    mk = resolve_masks(lengths, masks, T, x.dtype)
    h = np.empty((T + 1, B, H), dtype=x.dtype)
    fh = np.empty((T, B, H), dtype=x.dtype)
    h[0] = h0
    for t in range(T):
        a = act[t]
        f, n = a[:, :H], a[:, H:]
        hr = recurrent_input(mk, t, h[t])
        f += hr @ w_f_t
        sigmoid(f, out=f)
        apply_clamp(a, clamp, GATE_BLOCKS, H)
        np.multiply(f, hr, out=fh[t])
        n += fh[t] @ w_n_t  # + (f * h) W_hn^T
        np.tanh(n, out=n)
        np.subtract(n, h[t], out=h[t + 1])  # h' = h + f (n - h)
        h[t + 1] *= f
        h[t + 1] += h[t]
        take_update(mk.update, t, h)
    cache = MGUCache(x, h, act, fh, mk, clamp) if need_cache else None
    return masked_output(mk, h), h[T].copy(), cache


def backward(
    params: dict, cache: MGUCache, dout: np.ndarray | None, dh_T: np.ndarray | None, *, grads_out: dict | None = None
) -> tuple[dict, np.ndarray, np.ndarray]:
    """Backpropagate through time. Returns (grads, dx (T, B, D), dh0 (B, H)).

    With ``grads_out`` (arrays shaped like ``params``) the gradients are added into it and it is returned.
    """
    x, h, act, fh, mk = cache.x, cache.h, cache.act, cache.fh, cache.masks
    T = x.shape[0]
    H = h.shape[-1]
    w_hh = params["weight_hh"]
    w_f, w_n = w_hh[:H], w_hh[H:]
    dxw = np.empty_like(act)
    dh = np.zeros_like(h[0]) if dh_T is None else dh_T.astype(x.dtype, copy=True)
    for t in reversed(range(T)):
        if dout is not None:
            dh += dout[t] if mk.out is None else dout[t] * mk.out[t]
        dh, skip = split_update(mk.update, t, dh)
        h_prev = h[t]
        r = recurrent_mask_at(mk, t)
        hr = h_prev if r is None else h_prev * r
        f, n = act[t][:, :H], act[t][:, H:]
        d = dxw[t]
        dan = d[:, H:]
        np.multiply(dh * f, 1.0 - n * n, out=dan)  # through n = tanh(.)
        dfh = dan @ w_n  # d(f * hr)
        df = dh * (n - h_prev) + dfh * hr
        np.multiply(df, f * (1.0 - f), out=d[:, :H])  # through f = sigmoid(.)
        zero_clamped(d, cache.clamp, GATE_BLOCKS, H)
        dhr = dfh * f + d[:, :H] @ w_f  # d(hr): both recurrent products
        if r is not None:
            dhr *= r
        dh = dh * (1.0 - f) + dhr
        if skip is not None:
            dh += skip
    grads, dx = weight_grads(params, x, dxw, recurrent_inputs(mk, h), dxw)
    TB = T * x.shape[1]
    grads["weight_hh"][H:] = dxw[..., H:].reshape(TB, H).T @ fh.reshape(TB, H)
    return add_into(grads_out, grads), dx, dh
