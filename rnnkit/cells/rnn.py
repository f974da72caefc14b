"""Elman RNN (tanh or ReLU): forward and backward through time, side by side.

Equations (PyTorch's ``nn.RNN``; the course notes' a<t> = g(Waa a<t-1> + Wax x<t> + ba)):

    a_t = x_t @ W_ih.T + b_ih + h_{t-1} @ W_hh.T + b_hh        (B, H)
    h_t = f(a_t),   f = tanh or relu (PyTorch's), or sigmoid, hard_sigmoid, linear (Keras's SimpleRNN
                    activations; rnnkit.functional.ACTIVATIONS)

Backward, for dh_t = dL/dh_t (from the output at t and from step t+1):

    da_t     = dh_t * f'(a_t)          tanh: 1 - h_t**2;  relu: [h_t > 0]; each f' is a function of h_t
    dh_{t-1} = da_t @ W_hh             (the only sequential part)
    dW_ih    = sum_t da_t.T @ x_t,   dW_hh = sum_t da_t.T @ h_{t-1},   db_ih = db_hh = sum_t,b da_t
    dx_t     = da_t @ W_ih

Shapes: x (T, B, D), h (T, B, H), W_ih (H, D), W_hh (H, H); G = 1 gate block.
Reference: J. L. Elman, "Finding structure in time", 1990; notation of PyTorch and of the Sequence Models
course (Andrew Ng, deeplearning.ai).

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
from numpy.typing import ArrayLike

from rnnkit.cells.common import (
    StepMasks,
    add_into,
    input_projection,
    masked_output,
    recurrent_grad,
    recurrent_inputs,
    recurrent_product,
    resolve_masks,
    split_update,
    take_update,
    weight_grads,
)
from rnnkit.functional import activate, activation_grad

GATES = 1
NONLINEARITIES = ("tanh", "relu", "sigmoid", "hard_sigmoid", "linear")  # PyTorch's two, then Keras's others


@dataclass
class RNNCache:
    x: np.ndarray  # (T, B, D) input
    h: np.ndarray  # (T+1, B, H) states, h[0] = h0
    f: np.ndarray  # (T, B, H) f(a_t), the cell's new state before any update mask
    masks: StepMasks  # lengths, zoneout, recurrent dropout
    nonlinearity: str


def forward(
    params: dict,
    x: np.ndarray,
    h0: np.ndarray,
    *,
    lengths: ArrayLike | None = None,
    masks: StepMasks | None = None,
    need_cache: bool = True,
    nonlinearity: str = "tanh",
) -> tuple[np.ndarray, np.ndarray, RNNCache]:
    """Run the RNN over x (T, B, D) from h0 (B, H). Returns (out (T, B, H), h_T (B, H), cache)."""
    T, B, _ = x.shape
    w_hh = params["weight_hh"]
    mk = resolve_masks(lengths, masks, T, x.dtype)
    xw = input_projection(params, x, fold_hidden_bias=slice(None), masks=mk)  # (T, B, H)
    h = np.empty((T + 1,) + h0.shape, dtype=x.dtype)  # (T+1, B, H)
    h[0] = h0
    # f(a_t) is h_t itself unless an update mask blends it with h_{t-1}; then it is kept apart
    f = h[1:] if mk.update is None else np.empty_like(xw)
    for t in range(T):
        a = xw[t]
        a += recurrent_product(mk, t, h[t], w_hh)  # a_t = x_t W_ih^T + h_{t-1} W_hh^T + b
        activate(nonlinearity, a, out=f[t])
        if mk.update is not None:  # lengths / zoneout: keep part of h_{t-1}
            h[t + 1] = f[t]
            take_update(mk.update, t, h)
    cache = RNNCache(x, h, f, mk, nonlinearity) if need_cache else None
    return masked_output(mk, h), h[T].copy(), cache


def backward(
    params: dict, cache: RNNCache, dout: np.ndarray | None, dh_T: np.ndarray | None, *, grads_out: dict | None = None
) -> tuple[dict, np.ndarray, np.ndarray]:
    """Backpropagate through time. Returns (grads, dx (T, B, D), dh0 (B, H)).

    With ``grads_out`` (arrays shaped like ``params``) the gradients are added into it and it is returned.
    """
    x, h, f, mk = cache.x, cache.h, cache.f, cache.masks
    T = x.shape[0]
    w_hh = params["weight_hh"]
    da = np.empty_like(h[1:])  # (T, B, H) gradient of the pre-activations
    dh = np.zeros_like(h[0]) if dh_T is None else dh_T.astype(x.dtype, copy=True)
    for t in reversed(range(T)):
        if dout is not None:
            dh += dout[t] if mk.out is None else dout[t] * mk.out[t]
        dh, skip = split_update(mk.update, t, dh)
        if cache.nonlinearity == "tanh":  # backprop through tanh: 1 - f^2
            np.multiply(dh, 1.0 - f[t] * f[t], out=da[t])
        elif cache.nonlinearity == "relu":  # backprop through relu: [f > 0]
            np.multiply(dh, f[t] > 0, out=da[t])
        else:  # the derivative at the output (rnnkit.functional.ACTIVATIONS)
            np.multiply(dh, activation_grad(cache.nonlinearity, f[t]), out=da[t])
        dh = recurrent_grad(mk, t, da[t], w_hh)  # dh_{t-1}, through the recurrent product
        if skip is not None:
            dh += skip
    grads, dx = weight_grads(params, x, da, recurrent_inputs(mk, h), da, input_mask=mk.input)
    return add_into(grads_out, grads), dx, dh
