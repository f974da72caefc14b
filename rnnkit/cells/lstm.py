"""Long short-term memory: forward and backward through time, side by side.

Equations (PyTorch's ``nn.LSTM``, gate rows stacked i, f, g, o; ``hr`` is
h_{t-1} as it enters the recurrent product, i.e. with recurrent dropout):

    a_t = x_t @ W_ih.T + b_ih + hr @ W_hh.T + b_hh                 (B, 4H)
    i = sigmoid(a_i [+ w_ci * c_{t-1}])   f = sigmoid(a_f [+ w_cf * c_{t-1}])   g = tanh(a_g)
    c_t = f * c_{t-1} + i * g
    o = sigmoid(a_o [+ w_co * c_t])
    m_t = o * tanh(c_t)
    h_t = m_t  [or, with a projection (proj_size P), m_t @ W_hr.T]

Keras's ``activation`` (here tanh, of g and of c_t) and ``recurrent_activation`` (here sigmoid,
of i, f, o) are options of ``forward``; backward then uses their derivatives at the outputs.

The bracketed terms are optional: peephole connections (Gers and
Schmidhuber 2000; vectors w_ci, w_cf, w_co of size H, named ``weight_ci``,
``weight_cf``, ``weight_co``) and the projection of Sak et al. 2014 as
PyTorch's ``proj_size`` (``weight_hr`` (P, H); h and W_hh's columns are then P wide).

Backward, with dh_t and dc_t the gradients arriving at step t:

    dm   = dh_t  [@ W_hr]                    dW_hr += dh_t.T @ m_t
    do   = dm * tanh(c_t);  da_o = do * o (1 - o)
    dc_t = dc_t + dm * o * (1 - tanh(c_t)**2) [+ da_o * w_co]
    di   = dc_t * g,   df = dc_t * c_{t-1},   dg = dc_t * i
    da_i = di * i (1 - i),  da_f = df * f (1 - f),  da_g = dg * (1 - g**2)
    dc_{t-1} = dc_t * f [+ da_i * w_ci + da_f * w_cf]
    dh_{t-1} = da @ W_hh
    dW_ih = sum_t da.T @ x_t,   dW_hh = sum_t da.T @ hr_t,   db_ih = db_hh = sum da

Shapes: x (T, B, D), c (T, B, H), h (T, B, H or P), W_ih (4H, D), W_hh (4H, H or P); G = 4.
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
from numpy.typing import ArrayLike

from rnnkit.cells.common import (
    StepMasks,
    add_into,
    apply_clamp,
    input_projection,
    masked_output,
    recurrent_grad,
    recurrent_inputs,
    recurrent_product,
    resolve_masks,
    split_update,
    take_update,
    weight_grads,
    zero_clamped,
)
from rnnkit.functional import activate, activation_grad

GATES = 4
GATE_BLOCKS = {"i": 0, "f": 1, "o": 3}  # gates that clamp_gates may fix, and their row block
PEEPHOLES = ("weight_ci", "weight_cf", "weight_co")


@dataclass
class LSTMCache:
    x: np.ndarray  # (T, B, D) input
    h: np.ndarray  # (T+1, B, H|P) hidden states, h[0] = h0
    c: np.ndarray  # (T+1, B, H) cell states, c[0] = c0
    c_new: np.ndarray  # (T, B, H) f c_{t-1} + i g, before any update mask (a view of c[1:] if none)
    gates: np.ndarray  # (T, B, 4H) activated i, f, g, o
    tanh_c: np.ndarray  # (T, B, H) tanh(c_new)
    m: np.ndarray | None  # (T, B, H) o * tanh(c_new) when projected, else None (it is h)
    masks: StepMasks
    clamp: dict
    activation: str = "tanh"  # of g and of c_t (Keras's ``activation``)
    recurrent_activation: str = "sigmoid"  # of i, f, o (Keras's ``recurrent_activation``)


def forward(
    params: dict,
    x: np.ndarray,
    state: tuple[np.ndarray, np.ndarray],
    *,
    lengths: ArrayLike | None = None,
    masks: StepMasks | None = None,
    need_cache: bool = True,
    clamp: dict | None = None,
    activation: str = "tanh",
    recurrent_activation: str = "sigmoid",
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], LSTMCache]:
    """Run the LSTM over x (T, B, D) from state (h0, c0). Returns (out, (h_T, c_T), cache).

    Optional entries of ``params``: ``weight_ci``/``weight_cf``/``weight_co``
    (peepholes) and ``weight_hr`` (projection). ``clamp={"i": 1, "f": 0, "o": 1}``
    fixes gates to constants (gate clamping). ``activation`` replaces tanh (of g and of c_t) and
    ``recurrent_activation`` the sigmoid of i, f, o, as Keras's options of those names do
    (``rnnkit.functional.ACTIVATIONS``).
    """
    h0, c0 = state
    T, B, _ = x.shape
    H = c0.shape[-1]
    clamp = clamp or {}
    w_hh = params["weight_hh"]
    peep = "weight_ci" in params
    w_hr_t = params["weight_hr"].T if "weight_hr" in params else None
    mk = resolve_masks(lengths, masks, T, x.dtype)
    gates = input_projection(params, x, fold_hidden_bias=slice(None), masks=mk)  # (T, B, 4H), activated in place
    h = np.empty((T + 1,) + h0.shape, dtype=x.dtype)
    c = np.empty((T + 1, B, H), dtype=x.dtype)
    c_new = c[1:] if mk.update_c is None else np.empty((T, B, H), dtype=x.dtype)
    tanh_c = np.empty((T, B, H), dtype=x.dtype)
    m = None if w_hr_t is None else np.empty((T, B, H), dtype=x.dtype)
    h[0], c[0] = h0, c0
    for t in range(T):
        a = gates[t]
        a += recurrent_product(mk, t, h[t], w_hh)
        if peep:
            a[:, :H] += params["weight_ci"] * c[t]
            a[:, H : 2 * H] += params["weight_cf"] * c[t]
        activate(recurrent_activation, a[:, : 2 * H], out=a[:, : 2 * H])  # i, f
        activate(activation, a[:, 2 * H : 3 * H], out=a[:, 2 * H : 3 * H])  # g
        apply_clamp(a, clamp, GATE_BLOCKS, H)  # o is set again below
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        cn = c_new[t]
        np.multiply(f, c[t], out=cn)
        cn += i * g  # c_t = f c_{t-1} + i g
        if peep:
            o += params["weight_co"] * cn
        activate(recurrent_activation, o, out=o)
        if "o" in clamp:
            o[...] = clamp["o"]
        activate(activation, cn, out=tanh_c[t])
        if w_hr_t is None:
            np.multiply(o, tanh_c[t], out=h[t + 1])  # h_t = o tanh(c_t)
        else:
            np.multiply(o, tanh_c[t], out=m[t])
            np.matmul(m[t], w_hr_t, out=h[t + 1])  # h_t = (o tanh(c_t)) W_hr^T
        if mk.update_c is not None:
            c[t + 1] = cn
            take_update(mk.update_c, t, c)
        take_update(mk.update, t, h)
    cache = None
    if need_cache:
        cache = LSTMCache(x, h, c, c_new, gates, tanh_c, m, mk, clamp, activation, recurrent_activation)
    return masked_output(mk, h), (h[T].copy(), c[T].copy()), cache


def backward(
    params: dict,
    cache: LSTMCache,
    dout: np.ndarray | None,
    dstate_T: tuple[np.ndarray | None, np.ndarray | None] | None,
    *,
    grads_out: dict | None = None,
) -> tuple[dict, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Backpropagate through time. Returns (grads, dx (T, B, D), (dh0, dc0)).

    With ``grads_out`` (arrays shaped like ``params``) the gradients are added into it and it is returned.
    """
    x, h, c, gates, tanh_c, mk = cache.x, cache.h, cache.c, cache.gates, cache.tanh_c, cache.masks
    T = x.shape[0]
    H = c.shape[-1]
    w_hh = params["weight_hh"]
    peep = "weight_ci" in params
    w_hr = params.get("weight_hr")
    dh_T, dc_T = (None, None) if dstate_T is None else dstate_T
    dh = np.zeros_like(h[0]) if dh_T is None else dh_T.astype(x.dtype, copy=True)
    dc = np.zeros_like(c[0]) if dc_T is None else dc_T.astype(x.dtype, copy=True)
    da = np.empty_like(gates)  # (T, B, 4H)
    dh_new = None if w_hr is None else np.empty_like(h[1:])  # (T, B, P) for dW_hr
    act, rec = cache.activation, cache.recurrent_activation
    plain = act == "tanh" and rec == "sigmoid"
    for t in reversed(range(T)):
        if dout is not None:
            dh += dout[t] if mk.out is None else dout[t] * mk.out[t]
        dh, skip_h = split_update(mk.update, t, dh)
        dc, skip_c = split_update(mk.update_c, t, dc)
        if w_hr is None:
            dm = dh
        else:
            dh_new[t] = dh
            dm = dh @ w_hr  # through h_t = m_t W_hr^T
        a = gates[t]
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        tc = tanh_c[t]
        d = da[t]
        if plain:
            np.multiply(dm * tc, o * (1.0 - o), out=d[:, 3 * H :])  # da_o, through sigmoid
        else:
            np.multiply(dm * tc, activation_grad(rec, o), out=d[:, 3 * H :])
        zero_clamped(d, cache.clamp, GATE_BLOCKS, H)  # before da_o feeds the peephole
        dc = dc + dm * o * ((1.0 - tc * tc) if plain else activation_grad(act, tc))  # through m_t = o tanh(c_t)
        if peep:
            dc += d[:, 3 * H :] * params["weight_co"]  # through o's peephole on c_t
        if plain:
            np.multiply(dc * g, i * (1.0 - i), out=d[:, :H])  # da_i
            np.multiply(dc * c[t], f * (1.0 - f), out=d[:, H : 2 * H])  # da_f
            np.multiply(dc * i, 1.0 - g * g, out=d[:, 2 * H : 3 * H])  # da_g, through tanh
        else:
            np.multiply(dc * g, activation_grad(rec, i), out=d[:, :H])
            np.multiply(dc * c[t], activation_grad(rec, f), out=d[:, H : 2 * H])
            np.multiply(dc * i, activation_grad(act, g), out=d[:, 2 * H : 3 * H])
        zero_clamped(d, cache.clamp, GATE_BLOCKS, H)
        dc = dc * f  # dc_{t-1}
        if peep:
            dc += d[:, :H] * params["weight_ci"] + d[:, H : 2 * H] * params["weight_cf"]
        dh = recurrent_grad(mk, t, d, w_hh)  # dh_{t-1}, through the recurrent product
        if skip_h is not None:
            dh += skip_h
        if skip_c is not None:
            dc += skip_c
    grads, dx = weight_grads(params, x, da, recurrent_inputs(mk, h), da, input_mask=mk.input)
    if peep:
        grads["weight_ci"] = np.einsum("tbh,tbh->h", da[..., :H], c[:-1])
        grads["weight_cf"] = np.einsum("tbh,tbh->h", da[..., H : 2 * H], c[:-1])
        grads["weight_co"] = np.einsum("tbh,tbh->h", da[..., 3 * H :], cache.c_new)
    if w_hr is not None:
        P = w_hr.shape[0]
        grads["weight_hr"] = dh_new.reshape(-1, P).T @ cache.m.reshape(-1, H)
    return add_into(grads_out, grads), dx, (dh, dc)
