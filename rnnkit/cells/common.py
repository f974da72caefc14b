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
  Per gate (T or 1, B, G, H): gate block k reads ``(h_{t-1} * r[..., k, :]) W_k^T``,
  a separate mask for each gate (Keras's recurrent dropout, ``h_tm1 * B_U[k]``).
- ``input`` (T or 1, B, G, D), per gate: gate block k reads ``(x_t * m[..., k, :]) W_ih,k^T``
  (Keras's input dropout with a mask per gate, ``x * B_W[k]``). A shared input
  mask needs no step mask: the layer multiplies x once.

Only the families whose registry entry has ``per_gate_masks`` take the per-gate forms
(their maths use ``input_projection(..., masks)``, ``recurrent_product``,
``recurrent_grad`` and ``weight_grads(..., input_mask=)``, which handle both forms).

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
from numpy.typing import ArrayLike, DTypeLike


@dataclass
class StepMasks:
    update: np.ndarray | None = None  # (T, B, 1|H) weight of the new hidden state
    update_c: np.ndarray | None = None  # (T, B, 1|H) weight of the new cell state (LSTM)
    out: np.ndarray | None = None  # (T, B, 1) output mask
    recurrent: np.ndarray | None = None  # (T|1, B, H) or per gate (T|1, B, G, H): multiplier of h_{t-1} in h W_hh^T
    input: np.ndarray | None = None  # per gate (T|1, B, G, D): multiplier of x_t in x W_ih^T

    @property
    def per_gate(self) -> bool:
        """Whether a mask differs between gate blocks (input, or a 4-d recurrent mask)."""
        return self.input is not None or (self.recurrent is not None and self.recurrent.ndim == 4)

    @staticmethod
    def from_lengths(lengths: ArrayLike, T: int, dtype: DTypeLike) -> StepMasks:
        m = (np.arange(T)[:, None] < np.asarray(lengths)[None, :]).astype(dtype)[:, :, None]
        return StepMasks(update=m, update_c=m, out=m)


def resolve_masks(lengths: ArrayLike, masks: StepMasks | None, T: int, dtype: DTypeLike) -> StepMasks:
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


def recurrent_mask_at(masks: StepMasks, t: int) -> np.ndarray | None:
    r = masks.recurrent
    return None if r is None else r[t if r.shape[0] > 1 else 0]


def take_update(u: np.ndarray | None, t: int, s: np.ndarray) -> None:
    """s[t+1] <- s[t] + u[t] * (s[t+1] - s[t]), in place; nothing when u is None."""
    if u is not None:
        s[t + 1] -= s[t]
        s[t + 1] *= u[t]
        s[t + 1] += s[t]


def split_update(u: np.ndarray | None, t: int, d: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Gradient of take_update: (part through the new state, part that skips to the old one)."""
    if u is None:
        return d, None
    through = d * u[t]
    return through, d - through


def recurrent_product(masks: StepMasks, t: int, h_prev: np.ndarray, w_hh: np.ndarray) -> np.ndarray:
    """h_{t-1} W_hh^T (B, G*H) as the gates read it: recurrent dropout applied, shared or per gate."""
    r = recurrent_mask_at(masks, t)
    if r is None or r.ndim == 2:
        return (h_prev if r is None else h_prev * r) @ w_hh.T
    B, G = r.shape[0], r.shape[1]
    w = w_hh.reshape(G, -1, w_hh.shape[-1])  # (G, H, H_in)
    return np.einsum("bgi,gji->bgj", h_prev[:, None, :] * r, w).reshape(B, -1)


def recurrent_grad(masks: StepMasks, t: int, d: np.ndarray, w_hh: np.ndarray) -> np.ndarray:
    """Gradient of ``recurrent_product`` for h_{t-1}: d (B, G*H) -> (B, H_in)."""
    r = recurrent_mask_at(masks, t)
    if r is None or r.ndim == 2:
        dh = d @ w_hh
        return dh if r is None else dh * r
    B, G = r.shape[0], r.shape[1]
    w = w_hh.reshape(G, -1, w_hh.shape[-1])
    return np.einsum("bgj,gji,bgi->bi", d.reshape(B, G, -1), w, r)


def masked_output(masks: StepMasks, h: np.ndarray) -> np.ndarray:
    """out (T, B, H) from the states h (T+1, B, H)."""
    return h[1:] if masks.out is None else h[1:] * masks.out


def recurrent_inputs(masks: StepMasks, h: np.ndarray) -> np.ndarray:
    """All h_{t-1} as they entered the recurrent products, (T, B, H) or per gate (T, B, G, H), for the
    weight gradients."""
    r = masks.recurrent
    if r is None:
        return h[:-1]
    return h[:-1] * r if r.ndim == 3 else h[:-1, :, None, :] * r


def input_projection(
    params: dict, x: np.ndarray, fold_hidden_bias: slice | None, masks: StepMasks | None = None
) -> np.ndarray:
    """All time steps' input pre-activations in one GEMM: (T, B, G*H) = x @ W_ih.T + b_ih [+ b_hh[fold]].

    ``fold_hidden_bias`` selects the rows of ``bias_hh`` that add to the
    pre-activation unconditionally (all of them, except a GRU's b_hn in
    PyTorch's convention, which sits inside r * (...)), so the per-step loop
    never adds them. ``masks.input`` (per gate): block k reads x * m[..., k, :].
    """
    T, B, D = x.shape
    w_ih = params["weight_ih"]
    m = None if masks is None else masks.input
    if m is None:
        xw = (x.reshape(T * B, D) @ w_ih.T).reshape(T, B, w_ih.shape[0])
    else:
        G = m.shape[2]
        xw = np.einsum("tbgd,gjd->tbgj", x[:, :, None, :] * m, w_ih.reshape(G, -1, D)).reshape(T, B, -1)
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


def weight_grads(
    params: dict,
    x: np.ndarray,
    dxw: np.ndarray,
    h_in: np.ndarray,
    dhw: np.ndarray,
    input_mask: np.ndarray | None = None,
) -> tuple[dict, np.ndarray]:
    """Gradients of the two projections, one GEMM per weight after the time loop.

    ``dxw`` (T, B, G*H): gradient of the input pre-activations; ``dhw`` (T, B,
    G*H): gradient of the recurrent products ``h_in[t] @ W_hh.T`` (plus b_hh);
    ``h_in`` (T, B, H) is what multiplied W_hh at each step, or per gate (T, B, G, H)
    (block k multiplied h_in[..., k, :]); ``input_mask`` (T|1, B, G, D): the per-gate
    input masks of ``input_projection``. Returns (grads, dx).
    """
    T, B, D = x.shape
    GH = dxw.shape[-1]
    dxw2 = dxw.reshape(T * B, GH)
    dhw2 = dhw.reshape(T * B, GH)
    if h_in.ndim == 4:  # dW_hh,k = sum dhw_k^T (h * r_k)
        G = h_in.shape[2]
        w_hh = np.einsum("tbgj,tbgi->gji", dhw.reshape(T, B, G, -1), h_in).reshape(GH, -1)
    else:
        w_hh = dhw2.T @ h_in.reshape(T * B, h_in.shape[-1])
    w_ih = params["weight_ih"]
    if input_mask is None:
        grads = {"weight_ih": dxw2.T @ x.reshape(T * B, D), "weight_hh": w_hh}
        dx = (dxw2 @ w_ih).reshape(T, B, D)
    else:  # dW_ih,k = sum dxw_k^T (x * m_k);  dx = sum_k (dxw_k W_ih,k) * m_k
        G = input_mask.shape[2]
        d4 = dxw.reshape(T, B, G, -1)
        grads = {
            "weight_ih": np.einsum("tbgj,tbgd->gjd", d4, x[:, :, None, :] * input_mask).reshape(GH, D),
            "weight_hh": w_hh,
        }
        dx = np.einsum("tbgj,gjd,tbgd->tbd", d4, w_ih.reshape(G, -1, D), np.broadcast_to(input_mask, (T, B, G, D)))
    if "bias_ih" in params:
        grads["bias_ih"] = dxw2.sum(axis=0)
        grads["bias_hh"] = grads["bias_ih"].copy() if dhw is dxw else dhw2.sum(axis=0)
    return grads, dx


def add_into(grads_out: dict | None, grads: dict) -> dict:
    """The ``grads_out`` contract of every backward: add ``grads`` into it (when given) and return it."""
    if grads_out is None:
        return grads
    for name, g in grads.items():
        grads_out[name] += g
    return grads_out
