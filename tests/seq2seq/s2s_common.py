"""Shared pieces of the seq2seq tests: tiny float64 models, random batches, whole-model finite differences."""

from __future__ import annotations

import numpy as np

from rnnkit.gradcheck import assert_gradient_close, numerical_gradient
from rnnkit.seq2seq import Seq2Seq, Seq2SeqBatch, Seq2SeqConfig

V_SRC, V_TGT = 9, 8


def tiny_config(**kw) -> Seq2SeqConfig:
    base = dict(
        src_vocab_size=V_SRC,
        tgt_vocab_size=V_TGT,
        cell="gru",
        embedding_size=3,
        hidden_size=3,
        attention="additive",
        attention_size=4,
        dtype="float64",
        seed=1,
    )
    base.update(kw)
    return Seq2SeqConfig(**base)


def random_batch(seed=0, B=3, max_src=4, max_tgt=3, copy=False, cfg=None):
    """Random sources and targets of different lengths (so there is padding on both sides)."""
    rng = np.random.default_rng(seed)
    src_lens = [max_src] + list(rng.integers(1, max_src + 1, size=B - 1))
    tgt_lens = [max_tgt] + list(rng.integers(1, max_tgt + 1, size=B - 1))
    src = [list(rng.integers(4, V_SRC, size=n)) for n in src_lens]
    tgt = [list(rng.integers(4, V_TGT, size=n)) for n in tgt_lens]
    if not copy:
        return Seq2SeqBatch.from_sequences(src, tgt, bos_id=1, eos_id=2)
    # extended ids: source ids >= V_TGT... map each source word to a target id, words >= 7 are "OOV"
    n_oov = 2
    src_ext = [[int(w) if w < 7 else V_TGT + int(w) - 7 for w in s] for s in src]
    # targets: some copied OOV words from their own source
    tgt_ext = []
    tgt_in = []
    for b, t in enumerate(tgt):
        te = list(t)
        oov = [w for w in src_ext[b] if w >= V_TGT]
        if oov:
            te[0] = oov[0]
        tgt_ext.append(te)
        tgt_in.append([w if w < V_TGT else 3 for w in te])
    return Seq2SeqBatch.from_sequences(src, tgt_in, bos_id=1, eos_id=2, src_ext=src_ext, tgt_ext=tgt_ext, n_oov=n_oov)


def hierarchical_batch(seed=0, B=2, N=3, W=3, max_tgt=3):
    rng = np.random.default_rng(seed)
    src = rng.integers(4, V_SRC, size=(N, W, B))
    lengths = np.array([N] + list(rng.integers(1, N + 1, size=B - 1)))
    wl = rng.integers(1, W + 1, size=(N, B))
    wl[0, 0] = W
    tgt = [list(rng.integers(4, V_TGT, size=n)) for n in [max_tgt] + list(rng.integers(1, max_tgt + 1, size=B - 1))]
    b = Seq2SeqBatch.from_sequences([[4]] * B, tgt, bos_id=1, eos_id=2)
    b.src, b.src_lengths, b.word_lengths = src, lengths, wl
    return b


def check_model_gradients(model: Seq2Seq, batch: Seq2SeqBatch, tol=1e-6, fixed_inputs=True):
    """Finite differences of the whole loss for every parameter; random masks and samples held fixed."""
    # the encoder's dropout masks come from its layers' generators: restart them before every forward
    gens = model.generators()
    saved = {k: g.bit_generator.state for k, g in gens.items()}

    def restart():
        for k, g in gens.items():
            g.bit_generator.state = saved[k]

    out = model.forward(batch)
    inputs, masks = out.decoder_inputs, out.decoder_masks

    def loss():
        restart()
        o = model.forward(batch, decoder_inputs=inputs if fixed_inputs else None, decoder_masks=masks)
        return model.loss(o, batch).loss

    model.zero_grad()
    restart()
    o = model.forward(batch, decoder_inputs=inputs if fixed_inputs else None, decoder_masks=masks)
    res = model.loss(o, batch)
    model.backward(res, 1.0)
    worst = 0.0
    grads = model.grads
    for name, p in model.params.items():
        worst = max(worst, assert_gradient_close(name, grads[name], numerical_gradient(loss, p, eps=1e-5), tol))
    return worst


def randomize(model: Seq2Seq, scale=1.0, seed=4) -> Seq2Seq:
    """Larger random weights than the default init, so every gradient stands well above rounding noise."""
    rng = np.random.default_rng(seed)
    for p in model.params.values():
        p[...] = rng.normal(scale=scale, size=p.shape)
    return model
