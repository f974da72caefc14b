"""The seq2seq model trains with rnnkit's Trainer (its protocol), checkpoints and decodes hierarchical sources."""

from __future__ import annotations

import numpy as np
from s2s_common import hierarchical_batch, tiny_config

from rnnkit.optim import Adam
from rnnkit.seq2seq import Seq2Seq, Seq2SeqBatch, translate
from rnnkit.trainer import Trainer, TrainerConfig


class ListSource:
    """The batch-source protocol over a fixed list of batches."""

    stateful = False

    def __init__(self, batches):
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def batch(self, epoch, index):
        return self.batches[index]


def test_trainer_fits_and_resumes(tmp_path):
    rng = np.random.default_rng(0)
    src = [list(rng.integers(4, 8, size=rng.integers(2, 5))) for _ in range(12)]
    batches = [
        Seq2SeqBatch.from_sequences(src[i : i + 4], [s[::-1] for s in src[i : i + 4]], bos_id=1, eos_id=2)
        for i in range(0, 12, 4)
    ]
    cfg = tiny_config(dtype="float32", embedding_size=8, hidden_size=8, dropout=0.1, zoneout=0.1, decoder_layers=2)

    def run(out_dir, max_steps=None, resume=False):
        model = Seq2Seq(cfg)
        tc = TrainerConfig(epochs=3, max_steps=max_steps, checkpoint_every=2, progress=False)
        trainer = Trainer(model, Adam(model.params, model.grads, lr=0.01), tc, out_dir=out_dir)
        trainer.fit(ListSource(batches), ListSource(batches[:1]), resume=resume)
        return model, trainer

    whole, trainer = run(tmp_path / "a")
    assert np.isfinite(trainer.evaluate(ListSource(batches))["loss"])
    run(tmp_path / "b", max_steps=4)  # killed after 4 updates
    resumed, _ = run(tmp_path / "b", resume=True)
    assert all(np.array_equal(a, b) for a, b in zip(whole.params.values(), resumed.params.values()))


def test_hierarchical_model_decodes():
    model = Seq2Seq(tiny_config(encoder="hierarchical", bidirectional=True, dtype="float32"))
    batch = hierarchical_batch(B=3)
    out = translate(model, batch, max_len=4)
    beam = translate(model, batch, method="beam", beam_size=2, max_len=4)
    for b, (g, bm) in enumerate(zip(out, beam)):
        assert g.attention.shape == (len(g.tokens), batch.src_lengths[b])  # over sentences
        assert np.allclose(g.attention.sum(axis=1), 1.0, atol=1e-6)
        assert bm.logprob >= g.logprob - 1e-5


def test_from_documents_pads_for_the_hierarchical_encoder():
    docs = [[[4, 5], [6, 7, 8]], [[5]]]
    batch = Seq2SeqBatch.from_documents(docs, [[4, 5], [6]], bos_id=1, eos_id=2)
    assert batch.src.shape == (2, 3, 2) and batch.src_lengths.tolist() == [2, 1]
    assert batch.word_lengths[:, 0].tolist() == [2, 3] and batch.word_lengths[0, 1] == 1
    assert batch.src[1, :, 0].tolist() == [6, 7, 8] and batch.tgt_out[:, 0].tolist() == [4, 5, 2]
    model = Seq2Seq(tiny_config(encoder="hierarchical"))
    out = model.forward(batch)
    assert (out.attention[:, 1, 1] == 0).all()  # the second source has one sentence
    assert len(translate(model, Seq2SeqBatch.from_documents(docs), max_len=3)) == 2
