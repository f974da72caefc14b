"""Encoders (flat and hierarchical) and the bridge to the decoder's initial state. Forward and backward.

Flat encoder: an embedding and a sequence layer of any registered cell family
(``rnnkit.layers.recurrent_layer``: RNN, GRU, LSTM, MGU, the layer-normalised
ones, or a family added to ``rnnkit.cells.registry``), stacked, optionally bidirectional, run with
``lengths`` so that a padded batch gives each sentence exactly what it gives
alone: outputs past a sentence's end are zero and its final state is the one
at its last token.

    x_i = E_src[src_i]                   (S, B, E)
    M, h_n = RNN(x, lengths)             M (S, B, Dm), Dm = H_e * directions

Hierarchical encoder (for multi-sentence sources, as the notes propose): a
word-level layer reads each sentence on its own (all N*B sentences of a batch
side by side, with their word lengths), its top final states (both directions
concatenated) are the sentence vectors, and a sentence-level layer runs over
them with the sentence counts as lengths:

    u_{n,b}   = final state of word-RNN(E_src[src[n, :, b]], word_lengths[n, b])     (N, B, Dw)
    M, h_n    = sentence-RNN(u, sentence_counts)                                     (N, B, Dm)

The decoder attends over the sentence states M: they are what the hierarchy is
for (each summarises a sentence in context), attention then costs N per step
instead of N * W, and copying (which needs word positions) is for the flat
encoder only.

The bridge (``bridge_forward``) gives each decoder layer its initial state
from the encoder's top-layer final state f = [h_fwd; h_bwd] (B, Dm) (a single
direction: f = h_fwd), for a family with a cell state (LSTM) from it likewise:

    "projection"  s^l_0 = tanh(W_b f + b_b)[l*H:(l+1)*H]    W_b (L*H, Dm)
    "concat"      s^l_0 = f  for every layer l                 needs H = Dm
    "zeros"       s^l_0 = 0

Bahdanau et al. 2015 project the backward state alone, s_0 = tanh(W_s h_1 backward);
"projection" lets both directions in. Luong et al. 2015 (unidirectional) hand
each encoder layer's last state to the same decoder layer; "concat" hands the
top layer's state, both directions concatenated, to every decoder layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from rnnkit.cells import registry
from rnnkit.layers import Embedding, RecurrentLayer, recurrent_layer
from rnnkit.module import Module

if TYPE_CHECKING:  # the config's module imports this one
    from rnnkit.seq2seq.model import Seq2SeqConfig

BRIDGES = ("projection", "concat", "zeros")


def encoder_layer(
    cell: str, input_size: int, hidden_size: int, cfg: Seq2SeqConfig, dtype: DTypeLike, seed: int
) -> RecurrentLayer:
    """The stacked (bi)directional sequence layer of the registered cell family ``cell``."""
    return recurrent_layer(
        cell,
        input_size,
        hidden_size,
        num_layers=cfg.encoder_layers,
        dropout=cfg.dropout,
        bidirectional=cfg.bidirectional,
        dtype=dtype,
        seed=seed,
    )


def has_cell_state(cell: str) -> bool:
    """Whether the family's state is a pair (h, c) (``CellFamily.state_arity`` 2), as an LSTM's."""
    return registry.get(cell).state_arity == 2


def _top_final(h_n: np.ndarray, directions: int) -> np.ndarray:
    """[h_fwd; h_bwd] of the top layer: (L*dirs, B, H) -> (B, dirs*H)."""
    return np.concatenate(list(h_n[-directions:]), axis=1)


def _top_final_backward(df: np.ndarray, shape, directions: int) -> np.ndarray:
    dh = np.zeros(shape, dtype=df.dtype)
    H = shape[-1]
    for d in range(directions):
        dh[shape[0] - directions + d] = df[:, d * H : (d + 1) * H]
    return dh


class Encoder(Module):
    """Embedding + stacked (bi)directional sequence layer. ``forward(src (S, B), lengths (B,))``.

    Returns (M (B, S, Dm), finals) where finals = (f_h (B, Dm), f_c (B, Dm) or None), the top layer's
    final states. Parameters: ``embedding.weight`` (V_src, E) and ``rnn.*`` with PyTorch's names."""

    def __init__(self, cfg: Seq2SeqConfig, dtype: DTypeLike, seed: int) -> None:
        super().__init__()
        s = [int(v) for v in np.random.SeedSequence(seed).generate_state(2)]
        self.has_cell_state = has_cell_state(cfg.cell)
        self.dirs = 2 if cfg.bidirectional else 1
        self.embedding = Embedding(cfg.src_vocab_size, cfg.embedding_size, dtype=dtype, seed=s[0])
        self.rnn = encoder_layer(cfg.cell, cfg.embedding_size, cfg.hidden_size, cfg, dtype, s[1])
        self.output_size = self.dirs * cfg.hidden_size

    def forward(self, src: np.ndarray, lengths: ArrayLike) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray | None]]:
        x = self.embedding.forward(src)  # (S, B, E)
        out, h_n = self.rnn.forward(x, None, lengths=lengths)  # (S, B, Dm)
        self._hn_shape = (h_n[0] if self.has_cell_state else h_n).shape
        if self.has_cell_state:
            finals = (_top_final(h_n[0], self.dirs), _top_final(h_n[1], self.dirs))
        else:
            finals = (_top_final(h_n, self.dirs), None)
        return np.ascontiguousarray(out.transpose(1, 0, 2)), finals

    def backward(self, dM: np.ndarray | None, dfinals: tuple[np.ndarray, np.ndarray | None]) -> None:
        """dM (B, S, Dm), dfinals = (df_h, df_c or None); adds into ``grads``."""
        dout = None if dM is None else np.ascontiguousarray(dM.transpose(1, 0, 2))
        dh = _top_final_backward(dfinals[0], self._hn_shape, self.dirs)
        if self.has_cell_state:
            dc = None if dfinals[1] is None else _top_final_backward(dfinals[1], self._hn_shape, self.dirs)
            dh = (dh, dc)
        dx, _ = self.rnn.backward(dout, dh)
        self.embedding.backward(dx)


class HierarchicalEncoder(Module):
    """Word-level and sentence-level layers. ``forward(src (N, W, B), lengths (B,), word_lengths (N, B))``.

    ``lengths`` counts the sentences of each source (1..N); ``word_lengths`` the words of each sentence
    (>= 1 on real sentences; ignored past a source's last sentence). Returns (M (B, N, Dm), finals)."""

    def __init__(self, cfg: Seq2SeqConfig, dtype: DTypeLike, seed: int) -> None:
        super().__init__()
        s = [int(v) for v in np.random.SeedSequence(seed).generate_state(3)]
        self.has_cell_state = has_cell_state(cfg.cell)
        self.dirs = 2 if cfg.bidirectional else 1
        self.embedding = Embedding(cfg.src_vocab_size, cfg.embedding_size, dtype=dtype, seed=s[0])
        self.word_rnn = encoder_layer(cfg.cell, cfg.embedding_size, cfg.hidden_size, cfg, dtype, s[1])
        self.sentence_rnn = encoder_layer(cfg.cell, self.dirs * cfg.hidden_size, cfg.hidden_size, cfg, dtype, s[2])
        self.output_size = self.dirs * cfg.hidden_size

    def forward(
        self, src: np.ndarray, lengths: ArrayLike, word_lengths: np.ndarray
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray | None]]:
        N, W, B = src.shape
        real = np.arange(N)[:, None] < lengths[None, :]  # (N, B) real sentences
        wl = np.where(real, word_lengths, 1).reshape(N * B)  # a padding sentence reads one (ignored) token
        x = self.embedding.forward(src.transpose(1, 0, 2).reshape(W, N * B))  # (W, N*B, E)
        _, hw = self.word_rnn.forward(x, None, lengths=wl)
        hw_h = hw[0] if self.has_cell_state else hw
        self._hw_shape = hw_h.shape
        u = _top_final(hw_h, self.dirs).reshape(N, B, self.output_size)  # sentence vectors (N, B, Dw)
        out, h_n = self.sentence_rnn.forward(u, None, lengths=lengths)
        self._hn_shape = (h_n[0] if self.has_cell_state else h_n).shape
        if self.has_cell_state:
            finals = (_top_final(h_n[0], self.dirs), _top_final(h_n[1], self.dirs))
        else:
            finals = (_top_final(h_n, self.dirs), None)
        return np.ascontiguousarray(out.transpose(1, 0, 2)), finals

    def backward(self, dM: np.ndarray | None, dfinals: tuple[np.ndarray, np.ndarray | None]) -> None:
        dout = None if dM is None else np.ascontiguousarray(dM.transpose(1, 0, 2))
        dh = _top_final_backward(dfinals[0], self._hn_shape, self.dirs)
        if self.has_cell_state:
            dc = None if dfinals[1] is None else _top_final_backward(dfinals[1], self._hn_shape, self.dirs)
            dh = (dh, dc)
        du, _ = self.sentence_rnn.backward(dout, dh)  # (N, B, Dw)
        N, B, Dw = du.shape
        dhw = _top_final_backward(du.reshape(N * B, Dw), self._hw_shape, self.dirs)
        dx, _ = self.word_rnn.backward(None, (dhw, None) if self.has_cell_state else dhw)
        self.embedding.backward(dx)


class Bridge(Module):
    """Decoder initial states from the encoder's final states; see the module docstring.

    Parameters ("projection" only): ``weight`` (L*H, Dm), ``bias`` (L*H,); LSTM also ``weight_c``, ``bias_c``."""

    def __init__(self, kind: str, Dm: int, H: int, L: int, has_cell_state: bool, dtype: DTypeLike, seed: int) -> None:
        super().__init__()
        self.kind, self.Dm, self.H, self.L, self.has_cell_state = kind, Dm, H, L, has_cell_state
        self.dtype = np.dtype(dtype)
        if kind == "projection":
            rng = np.random.default_rng(seed)
            k = 1.0 / np.sqrt(Dm)
            for suffix in ("", "_c") if has_cell_state else ("",):
                self.register_parameter("weight" + suffix, rng.uniform(-k, k, (L * H, Dm)).astype(dtype))
                self.register_parameter("bias" + suffix, rng.uniform(-k, k, (L * H,)).astype(dtype))

    def forward(self, finals: tuple[np.ndarray, np.ndarray | None]) -> list:
        """finals (f_h, f_c) -> list of L states (h, or (h, c) for LSTM), each (B, H)."""
        B = finals[0].shape[0]
        parts = []
        for i, f in enumerate(finals[:2] if self.has_cell_state else finals[:1]):
            suffix = "_c" if i else ""
            if self.kind == "projection":
                y = np.tanh(f @ self.params["weight" + suffix].T + self.params["bias" + suffix])  # (B, L*H)
                parts.append([y[:, k * self.H : (k + 1) * self.H] for k in range(self.L)])
            elif self.kind == "concat":
                parts.append([f.copy() for _ in range(self.L)])
            else:
                parts.append([np.zeros((B, self.H), dtype=self.dtype) for _ in range(self.L)])
        self._cache = (finals, parts)
        if self.has_cell_state:
            return [(parts[0][k], parts[1][k]) for k in range(self.L)]
        return parts[0]

    def backward(self, dstates: list) -> tuple:
        """Gradient of ``forward``: dstates[l] (dh or (dh, dc)) -> (df_h, df_c or None)."""
        finals, parts = self._cache
        out = []
        for i in range(2 if self.has_cell_state else 1):
            d = [(ds[i] if self.has_cell_state else ds) for ds in dstates]
            d = [np.zeros_like(parts[i][k]) if dd is None else dd for k, dd in enumerate(d)]
            f = finals[i]
            if self.kind == "projection":
                suffix = "_c" if i else ""
                y = np.concatenate(parts[i], axis=1)
                dy = np.concatenate(d, axis=1) * (1.0 - y * y)  # backprop through tanh
                self.grads["weight" + suffix] += dy.T @ f
                self.grads["bias" + suffix] += dy.sum(axis=0)
                out.append(dy @ self.params["weight" + suffix])
            elif self.kind == "concat":
                out.append(np.sum(d, axis=0))
            else:
                out.append(np.zeros_like(f))
        return out[0], (out[1] if self.has_cell_state else None)
