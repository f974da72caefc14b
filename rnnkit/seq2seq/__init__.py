"""Sequence to sequence: encoder-decoder models with attention, copy and coverage, every gradient hand-derived.

Shape legend (the package's): T target steps, B batch, S source positions
(sentences for the hierarchical encoder), E embedding, H decoder hidden size,
Dm encoder output width (hidden_size * directions), A attention size, V target
vocabulary, V + n_oov the extended vocabulary of a copying batch.

Modules: ``attention`` (scores, masked softmax, context, coverage loss),
``encoder`` (flat and hierarchical encoders, the bridge), ``decoder`` (stacked
single-step cells, regularisers, input feeding, copy switch), ``copy`` (the
pointer-generator mixture and its loss), ``model`` (config, batch, loss, the
Trainer's protocol), ``search`` (decoding through :mod:`rnnkit.decoding`).

Example
-------
>>> import numpy as np
>>> from rnnkit.seq2seq import Seq2Seq, Seq2SeqConfig, Seq2SeqBatch
>>> cfg = Seq2SeqConfig(src_vocab_size=10, tgt_vocab_size=10, cell="gru", embedding_size=8, hidden_size=8,
...                     bidirectional=True, attention="additive")
>>> model = Seq2Seq(cfg)
>>> batch = Seq2SeqBatch.from_sequences([[4, 5, 6], [7, 8]], [[6, 5, 4], [8, 7]], bos_id=1, eos_id=2)
>>> out = model.forward(batch)
>>> out.logits.shape, out.attention.shape        # (T, B, V), (T, B, S)
((4, 2, 10), (4, 2, 3))
>>> float(out.attention[:, 1, 2].max())          # attention on padding is exactly zero
0.0
>>> res = model.loss(out, batch)
>>> model.backward(res, 1.0 / res.count)         # adds into model.grads
"""

from rnnkit.seq2seq.model import Seq2Seq, Seq2SeqBatch, Seq2SeqConfig, Seq2SeqLoss, Seq2SeqOutput
from rnnkit.seq2seq.search import Seq2SeqStepModel, Translation, force, translate

__all__ = [
    "Seq2Seq",
    "Seq2SeqConfig",
    "Seq2SeqBatch",
    "Seq2SeqOutput",
    "Seq2SeqLoss",
    "Seq2SeqStepModel",
    "Translation",
    "translate",
    "force",
]
