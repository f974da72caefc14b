"""The pointer-generator's output distribution and its loss (See et al. 2017). Forward and backward.

Each batch has an extended vocabulary: the V target-vocabulary ids, then
temporary ids V .. V + n_oov - 1 for the source words outside it
(``src_ext`` (B, S) holds every source position's extended id). At one step

    P_vocab = softmax(z)                                   (B, V)
    P(w)    = p_gen P_vocab(w) + (1 - p_gen) sum_{i: src_ext_i = w} a_i         (B, V + n_oov)

with P_vocab(w) = 0 for w >= V, so a source word outside the vocabulary can
still be produced by copying it. The loss of target y is -log P(y). With
A_y = sum_{i: src_ext_i = y} a_i, P_y = P(y) and g = -1 / P_y:

    dp_gen = g (P_vocab(y) - A_y)
    dz     = g p_gen P_vocab(y) (onehot(y) - P_vocab)       (zero when y >= V)
    da_i   = g (1 - p_gen) [src_ext_i = y]

Shapes: z (T, B, V), p_gen (T, B), a (T, B, S), targets (T, B) in extended ids.
"""

from __future__ import annotations

import numpy as np


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def mixture(z: np.ndarray, p_gen: np.ndarray, a: np.ndarray, src_ext: np.ndarray, n_oov: int) -> np.ndarray:
    """P over the extended vocabulary (..., V + n_oov) for z (..., V), p_gen (...), a (..., S), src_ext (B, S)."""
    pv = _softmax(z)
    V = z.shape[-1]
    P = np.zeros(z.shape[:-1] + (V + n_oov,), dtype=z.dtype)
    P[..., :V] = p_gen[..., None] * pv
    copy = (1.0 - p_gen[..., None]) * a  # (..., S)
    ids = np.broadcast_to(src_ext, a.shape)
    lead = np.indices(a.shape[:-1])
    idx = tuple(np.broadcast_to(i[..., None], a.shape) for i in lead) + (ids,)
    np.add.at(P, idx, copy)  # repeated source words add up
    return P


def loss_and_grads(
    z: np.ndarray, p_gen: np.ndarray, a: np.ndarray, src_ext: np.ndarray, targets: np.ndarray, weights: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """sum_{t,b} weights_tb * -log P_tb(targets_tb) and its gradients (dz, dp_gen, da).

    ``weights`` (T, B) is 0 on padded target steps (their targets are not read)."""
    T, B, V = z.shape
    pv = _softmax(z)  # (T, B, V)
    real = weights != 0
    y = np.where(real, targets, 0)
    in_vocab = y < V
    pv_y = np.where(in_vocab, np.take_along_axis(pv, np.minimum(y, V - 1)[..., None], axis=-1)[..., 0], 0.0)
    hit = src_ext[None, :, :] == y[..., None]  # (T, B, S): source positions holding the target word
    A_y = np.sum(a * hit, axis=-1)  # (T, B)
    P_y = p_gen * pv_y + (1.0 - p_gen) * A_y
    P_safe = np.where(real, P_y, 1.0)
    loss = float(-np.sum(weights * np.log(P_safe)))
    g = -weights / P_safe  # dL/dP_y
    dpg = g * (pv_y - A_y)
    dz = -(g * p_gen * pv_y)[..., None] * pv  # d P_vocab(y) / dz = P_vocab(y) (onehot(y) - P_vocab)
    onehot_term = g * p_gen * pv_y * in_vocab
    np.put_along_axis(
        dz,
        np.minimum(y, V - 1)[..., None],
        np.take_along_axis(dz, np.minimum(y, V - 1)[..., None], axis=-1) + onehot_term[..., None],
        axis=-1,
    )
    da = (g * (1.0 - p_gen))[..., None] * hit
    return loss, dz.astype(z.dtype, copy=False), dpg.astype(z.dtype, copy=False), da.astype(z.dtype, copy=False)
