"""Pieces shared by the cell modules: parameter access, the length mask, bias folding.

Every cell module exposes two plain functions over whole sequences,

    forward(params, x, state, *, lengths=None, need_cache=True, **variant) -> (out, state_T, cache)
    backward(params, cache, dout, dstate_T) -> (grads, dx, dstate_0)

with ``params`` a dict holding ``weight_ih`` (G*H, D), ``weight_hh`` (G*H, H)
and, unless the layer has ``bias=False``, ``bias_ih`` and ``bias_hh`` (G*H,):
PyTorch's layout, rows stacked gate by gate. They assume valid input (the
layer classes validate at the public boundary) and never modify ``params``.

Lengths. With ``lengths`` (B,) every sequence b is run for its first
``lengths[b]`` steps only: past its end the state is carried unchanged and
the output is zero,

    h_t = m_t * cell(x_t, h_{t-1}) + (1 - m_t) * h_{t-1},   out_t = m_t * h_t,   m_t = [t < lengths[b]]

so the final state is the state at the sequence's last valid step, exactly
as if it had been run alone. Backward splits the incoming gradient the same
way: ``m_t * dh`` flows through the cell, ``(1 - m_t) * dh`` skips it.
"""
from __future__ import annotations

import numpy as np


def step_mask(lengths: np.ndarray | None, T: int, dtype) -> np.ndarray | None:
    """(T, B, 1) array of 1.0 where t < lengths[b], else 0.0; None when lengths is None."""
    if lengths is None:
        return None
    return (np.arange(T)[:, None] < np.asarray(lengths)[None, :]).astype(dtype)[:, :, None]


def input_projection(params: dict, x: np.ndarray, fold_hidden_bias: slice | None) -> np.ndarray:
    """All time steps' input pre-activations in one GEMM: (T, B, G*H) = x @ W_ih.T + b_ih [+ b_hh[fold]].

    ``fold_hidden_bias`` selects the rows of ``bias_hh`` that add to the
    pre-activation unconditionally (all of them, except a GRU's b_hn in
    PyTorch's convention, which sits inside r * (...)), so the per-step loop
    never adds them.
    """
    T, B, D = x.shape
    w_ih = params["weight_ih"]
    xw = (x.reshape(T * B, D) @ w_ih.T).reshape(T, B, w_ih.shape[0])
    if "bias_ih" in params:
        bias = params["bias_ih"].copy()
        if fold_hidden_bias is not None:
            bias[fold_hidden_bias] += params["bias_hh"][fold_hidden_bias]
        xw += bias
    return xw


def weight_grads(params: dict, x: np.ndarray, dxw: np.ndarray, h_in: np.ndarray, dhw: np.ndarray,
                 dx_needed: bool = True):
    """Gradients of the two projections, one GEMM per weight after the time loop.

    ``dxw`` (T, B, G*H): gradient of the input pre-activations; ``dhw`` (T, B,
    G*H): gradient of the recurrent products ``h_in[t] @ W_hh.T`` (plus b_hh);
    ``h_in`` (T, B, H) is what multiplied W_hh at each step.
    Returns (grads, dx).
    """
    T, B, D = x.shape
    GH = dxw.shape[-1]
    dxw2 = dxw.reshape(T * B, GH)
    dhw2 = dhw.reshape(T * B, GH)
    grads = {
        "weight_ih": dxw2.T @ x.reshape(T * B, D),
        "weight_hh": dhw2.T @ h_in.reshape(T * B, h_in.shape[-1]),
    }
    if "bias_ih" in params:
        grads["bias_ih"] = dxw2.sum(axis=0)
        grads["bias_hh"] = grads["bias_ih"].copy() if dhw is dxw else dhw2.sum(axis=0)
    dx = (dxw2 @ params["weight_ih"]).reshape(T, B, D) if dx_needed else None
    return grads, dx
