"""A toy cell family for the registry tests and docs/adding-a-cell.md: the scaled tanh RNN.

    a_t = x_t @ W_ih.T + b_ih + hr @ W_hh.T + b_hh          (B, H)    hr: h_{t-1} as it enters W_hh
    h_t = tanh(scale * a_t)

Backward, for dh_t = dL/dh_t (from the output at t and from step t+1):

    da_t     = dh_t * scale * (1 - h_t**2)
    dh_{t-1} = da_t @ W_hh
    dW_ih = sum_t da_t.T @ x_t,   dW_hh = sum_t da_t.T @ hr_t,   db_ih = db_hh = sum_t,b da_t
    dx_t  = da_t @ W_ih

It is nothing but this maths file and the ``FAMILY`` entry at the end: registering it is all it
takes for ``recurrent_layer("toy_tanh", ...)``, ``step_cell("toy_tanh", ...)`` and the generic tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit.cells.common import (
    StepMasks,
    add_into,
    input_projection,
    masked_output,
    recurrent_input,
    recurrent_inputs,
    recurrent_mask_at,
    resolve_masks,
    split_update,
    take_update,
    weight_grads,
)
from rnnkit.cells.registry import CellFamily, Option


@dataclass
class ToyCache:
    x: np.ndarray  # (T, B, D) input
    h: np.ndarray  # (T+1, B, H) states, h[0] = h0
    f: np.ndarray  # (T, B, H) tanh(scale a_t), the new state before any update mask
    masks: StepMasks
    scale: float


def forward(params, x, h0, *, lengths=None, masks=None, need_cache=True, scale=0.5):
    """Run the scaled tanh RNN over x (T, B, D) from h0 (B, H). Returns (out (T, B, H), h_T, cache)."""
    T = x.shape[0]
    mk = resolve_masks(lengths, masks, T, x.dtype)
    xw = input_projection(params, x, fold_hidden_bias=slice(None))  # (T, B, H), both biases folded in
    h = np.empty((T + 1,) + h0.shape, dtype=x.dtype)
    h[0] = h0
    f = np.empty_like(xw)
    for t in range(T):
        a = xw[t] + recurrent_input(mk, t, h[t]) @ params["weight_hh"].T  # a_t
        f[t] = np.tanh(scale * a)  # h_t before the update mask
        h[t + 1] = f[t]
        take_update(mk.update, t, h)  # lengths / zoneout keep part of h_{t-1}
    cache = ToyCache(x, h, f, mk, scale) if need_cache else None
    return masked_output(mk, h), h[T].copy(), cache


def backward(params, cache: ToyCache, dout, dh_T):
    """Backpropagate through time. Returns (grads, dx (T, B, D), dh0 (B, H))."""
    x, f, mk = cache.x, cache.f, cache.masks
    T = x.shape[0]
    da = np.empty_like(f)  # (T, B, H)
    dh = np.zeros_like(cache.h[0]) if dh_T is None else dh_T.astype(x.dtype, copy=True)
    for t in reversed(range(T)):
        if dout is not None:
            dh += dout[t] if mk.out is None else dout[t] * mk.out[t]
        dh, skip = split_update(mk.update, t, dh)
        da[t] = dh * cache.scale * (1.0 - f[t] * f[t])  # backprop through tanh(scale a)
        dh = da[t] @ params["weight_hh"]  # dh_{t-1}, through the recurrent product
        r = recurrent_mask_at(mk, t)
        if r is not None:
            dh *= r
        if skip is not None:
            dh += skip
    grads, dx = weight_grads(params, x, da, recurrent_inputs(mk, cache.h), da)
    return add_into(None, grads), dx, dh


def _check_scale(where: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{where}: {name} must be a number > 0, got {value!r}")
    return float(value)


FAMILY = CellFamily(
    name="toy_tanh",
    forward=forward,
    backward=backward,
    gate_names=("h",),
    activations={"h": "tanh"},
    options=(Option("scale", 0.5, check=_check_scale),),
    summary="scaled tanh RNN, h' = tanh(scale * (x W_ih^T + b_ih + h W_hh^T + b_hh))",
)
