"""The model's batches of a run: token batches of :mod:`rnnkit.tasks.seq2seq_data` handed to the model's builders.

:class:`rnnkit.tasks.seq2seq_data.PairBatches` tokenises, encodes and pads
pairs and numbers each example's out-of-vocabulary source words
(``extend_ids``); the model's own builders
(:meth:`rnnkit.seq2seq.Seq2SeqBatch.from_sequences`, and
:meth:`~rnnkit.seq2seq.Seq2SeqBatch.from_documents` for a hierarchical
encoder) lay those ids out as the model reads them. There is one builder of
each: the run never pads a model batch by hand.
"""

from __future__ import annotations

import numpy as np

from rnnkit.runs.seq2seq.config import Seq2SeqRunConfig
from rnnkit.seq2seq import Seq2SeqBatch
from rnnkit.tasks import seq2seq_data
from rnnkit.tasks.seq2seq_data import PairBatches

__all__ = ["to_model_batch", "ModelBatches"]


def _columns(a: np.ndarray, lengths: np.ndarray) -> list[list[int]]:
    """The unpadded id lists of a padded (T, B) array."""
    return [a[: int(n), b].tolist() for b, n in enumerate(lengths)]


def to_model_batch(batch: seq2seq_data.PairBatch, cfg: Seq2SeqRunConfig) -> Seq2SeqBatch:
    """The model's batch (:class:`rnnkit.seq2seq.Seq2SeqBatch`) of a token batch, as ``cfg``'s model reads it.

    With copy, the targets are over the extended vocabulary (a copied word is its
    extended id; the decoder is fed ``<unk>`` for it) and ``src_ext`` holds the
    source over it; a hierarchical encoder gets the source as (N, W, B)
    sentences of words with ``word_lengths`` (N, B) and ``src_lengths`` counting
    sentences.
    """
    n_tgt = batch.tgt_lengths - 1  # without </s>: the builders add <s> and </s>
    tgt = [col[1:] for col in _columns(batch.tgt_in, batch.tgt_lengths)]  # <s> y_1 .. y_n -> y_1 .. y_n
    ids = {"bos_id": int(batch.tgt_in[0, 0]), "eos_id": _eos_id(batch), "pad_id": seq2seq_data.PAD_ID}
    src = _columns(batch.src, batch.src_lengths)
    if cfg.encoder == "hierarchical":
        docs = []
        for b, per in enumerate(batch.sentence_lengths):
            bounds = np.cumsum([0, *[int(k) for k in per if k > 0]])
            docs.append([src[b][lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])])
        return Seq2SeqBatch.from_documents(docs, tgt, **ids)
    if cfg.copy:
        tgt_ext = _columns(batch.tgt_out_ext, n_tgt)
        src_ext = _columns(batch.src_ext, batch.src_lengths)
        return Seq2SeqBatch.from_sequences(src, tgt, **ids, src_ext=src_ext, tgt_ext=tgt_ext, n_oov=batch.max_oov)
    return Seq2SeqBatch.from_sequences(src, tgt, **ids)


def _eos_id(batch: seq2seq_data.PairBatch) -> int:
    """The </s> id: the last real target of any example."""
    return int(batch.tgt_out[int(batch.tgt_lengths[0]) - 1, 0])


class ModelBatches:
    """A batch source of model batches: a :class:`PairBatches` seen through :func:`to_model_batch`."""

    stateful = False

    def __init__(self, pairs: PairBatches, cfg: Seq2SeqRunConfig) -> None:
        self.pairs, self.cfg = pairs, cfg

    def __len__(self) -> int:
        return len(self.pairs)

    def batch(self, epoch: int, index: int) -> Seq2SeqBatch:
        return to_model_batch(self.pairs.batch(epoch, index), self.cfg)
