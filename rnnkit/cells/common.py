"""The cell contract and the pieces every cell module shares: step masks, input projection, weight gradients.

Every cell module exposes two plain functions over whole sequences,

    forward(params, x, state, *, lengths=None, masks=None, need_cache=True, **variant)
        -> (out, state_T, cache)
    backward(params, cache, dout, dstate_T, *, grads_out=None) -> (grads, dx, dstate_0)

``grads_out`` (optional) is a dict of arrays shaped like ``params``, such as a
layer's gradients: backward then adds the gradients into it (on the compiled
path with no temporary) and returns it as ``grads``.

with ``params`` a dict holding ``weight_ih`` (G*H, D), ``weight_hh`` (G*H, H)
and, unless the layer has ``bias=False``, ``bias_ih`` and ``bias_hh`` (G*H,):
PyTorch's layout, rows stacked gate by gate. They assume valid input (the
layer classes validate at the public boundary) and never modify ``params``.

Step masks (``StepMasks``) change how the state moves from step to step;
all are optional and any combination works:

- ``update`` (T, B, 1 or H): how much of the new state is taken,
  ``h_t = h_{t-1} + u_t * (cell(x_t, h_{t-1}) - h_{t-1})``. Variable lengths
  set u = [t < lengths[b]] (a finished sequence keeps its state, so the
  final state is the one at its last valid step, exactly as if run alone);
  zoneout (Krueger et al. 2016) sets u to a random 0/1 mask (training) or to
  1 - p (evaluation). ``update_c`` does the same for an LSTM's cell state.
- ``out`` (T, B, 1): the output is ``out_t = o_t * h_t``; lengths zero the
  outputs past each sequence's end.
- ``recurrent`` (T or 1, B, H): multiplies h_{t-1} where it enters the
  recurrent products (``h W_hh^T``), not where it is carried: recurrent
  dropout (one mask reused at every step is Gal and Ghahramani's variational
  form). The carried state and the gates' blends use the unmasked h_{t-1}.

Backward splits each incoming state gradient the same way: ``u * dh`` flows
through the cell, ``(1 - u) * dh`` skips it to h_{t-1}.

The NumPy code in each cell module is the definition. Faster loop backends
(``rnnkit._kernels``: the compiled C loops) compute the same caches and
gradients through adapters kept beside them; the cell modules never import
them, and ``rnnkit._kernels.forward`` / ``backward`` is where a call is
dispatched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class StepMasks:
    update: np.ndarray | None = None  # (T, B, 1|H) weight of the new hidden state
    update_c: np.ndarray | None = None  # (T, B, 1|H) weight of the new cell state (LSTM)
    out: np.ndarray | None = None  # (T, B, 1) output mask
    recurrent: np.ndarray | None = None  # (T|1, B, H) multiplier of h_{t-1} in the recurrent products

    @staticmethod
    def from_lengths(lengths, T: int, dtype) -> StepMasks:
        m = (np.arange(T)[:, None] < np.asarray(lengths)[None, :]).astype(dtype)[:, :, None]
        return StepMasks(update=m, update_c=m, out=m)


def resolve_masks(lengths, masks: StepMasks | None, T: int, dtype) -> StepMasks:
    """The masks a forward pass uses: ``masks`` if given, else those of ``lengths`` (or none)."""
    if masks is not None:
        return masks
    if lengths is not None:
        return StepMasks.from_lengths(lengths, T, dtype)
    return StepMasks()


def recurrent_input(masks: StepMasks, t: int, h_prev: np.ndarray) -> np.ndarray:
    """h_{t-1} as it enters the recurrent products (recurrent dropout applied)."""
    r = masks.recurrent
    return h_prev if r is None else h_prev * r[t if r.shape[0] > 1 else 0]


def recurrent_mask_at(masks: StepMasks, t: int):
    r = masks.recurrent
    return None if r is None else r[t if r.shape[0] > 1 else 0]


def take_update(u: np.ndarray | None, t: int, s: np.ndarray) -> None:
    """s[t+1] <- s[t] + u[t] * (s[t+1] - s[t]), in place; nothing when u is None."""
    if u is not None:
        s[t + 1] -= s[t]
        s[t + 1] *= u[t]
        s[t + 1] += s[t]


def split_update(u: np.ndarray | None, t: int, d: np.ndarray):
    """Gradient of take_update: (part through the new state, part that skips to the old one)."""
    if u is None:
        return d, None
    through = d * u[t]
    return through, d - through


def masked_output(masks: StepMasks, h: np.ndarray) -> np.ndarray:
    """out (T, B, H) from the states h (T+1, B, H)."""
    return h[1:] if masks.out is None else h[1:] * masks.out


def recurrent_inputs(masks: StepMasks, h: np.ndarray) -> np.ndarray:
    """All h_{t-1} as they entered the recurrent products, (T, B, H), for the weight gradients."""
    return h[:-1] if masks.recurrent is None else h[:-1] * masks.recurrent


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


def apply_clamp(a: np.ndarray, clamp: dict, blocks: dict, H: int) -> None:
    """Overwrite clamped gates (activated values) with their constants, in place."""
    for gate, value in clamp.items():
        k = blocks[gate]
        a[..., k * H : (k + 1) * H] = value


def zero_clamped(d: np.ndarray, clamp: dict, blocks: dict, H: int) -> None:
    """A clamped gate is a constant: no gradient flows through its pre-activation."""
    for gate in clamp:
        k = blocks[gate]
        d[..., k * H : (k + 1) * H] = 0.0


def weight_grads(params: dict, x: np.ndarray, dxw: np.ndarray, h_in: np.ndarray, dhw: np.ndarray):
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
    dx = (dxw2 @ params["weight_ih"]).reshape(T, B, D)
    return grads, dx


def add_into(grads_out: dict | None, grads: dict) -> dict:
    """The ``grads_out`` contract of every backward: add ``grads`` into it (when given) and return it."""
    if grads_out is None:
        return grads
    for name, g in grads.items():
        grads_out[name] += g
    return grads_out
