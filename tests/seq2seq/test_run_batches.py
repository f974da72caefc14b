"""Data batches reach the model as it expects: flat, copying (extended ids) and hierarchical (sentences of words)."""

import math

import numpy as np
import pytest

from rnnkit.runs.seq2seq import ModelBatches, Seq2SeqRunConfig, build_model, to_model_batch
from rnnkit.tasks.seq2seq_data import PairBatches, build_vocabularies, get_task, make_batch


def _setup(task, **kw):
    cfg = Seq2SeqRunConfig(task=task, embedding_size=4, hidden_size=5, attention_size=3, **kw)
    t = get_task(task)
    pairs = t.pairs(12, seed=0)
    sv, tv = build_vocabularies(pairs, t.level, target_tokens=t.target_tokens)
    ends = t.sentence_ends if cfg.encoder == "hierarchical" else None
    return cfg, pairs, sv, tv, ends


@pytest.mark.parametrize(
    "task, kw",
    [
        ("dates", {}),
        ("reverse", {"attention": "none"}),
        ("sort", {"bidirectional": True, "attention": "general"}),
        ("copy", {"copy": True, "coverage": True}),
        ("multi", {"encoder": "hierarchical"}),
    ],
)
def test_a_training_step_on_each_task(task, kw):
    cfg, pairs, sv, tv, ends = _setup(task, **kw)
    model = build_model(cfg, sv, tv)
    src = ModelBatches(PairBatches(pairs, sv, tv, cfg.token_level, batch_size=5, sentence_ends=ends), cfg)
    assert len(src) == 3
    batch = src.batch(0, 1)
    model.zero_grad()
    res = model.train_step(batch, None)
    assert math.isfinite(res.loss_sum) and res.loss_sum > 0
    assert res.count == int(batch.tgt_lengths.sum())
    assert any(np.abs(g).sum() > 0 for g in model.grads.values())


def test_copy_targets_are_extended_ids():
    cfg, pairs, sv, tv, _ = _setup("copy", copy=True)
    data = make_batch(pairs[:4], sv, tv, "word")
    mb = to_model_batch(data, cfg)
    V = len(tv)
    assert mb.n_oov == data.max_oov > 0
    assert (mb.tgt_out[0] >= V).all()  # every target starts with a copied last name
    assert (mb.tgt_in[1] == tv.unk_id).all()  # which the decoder is fed as <unk>
    np.testing.assert_array_equal(mb.src_ext, data.src_ext)
    plain = to_model_batch(data, Seq2SeqRunConfig(task="copy"))
    assert plain.n_oov == 0 and plain.src_ext is None and (plain.tgt_out < V).all()


def test_hierarchical_batches_hold_the_same_words_by_sentence():
    cfg, pairs, sv, tv, ends = _setup("multi", encoder="hierarchical")
    data = make_batch(pairs[:5], sv, tv, "word", sentence_ends=ends)
    mb = to_model_batch(data, cfg)
    N, W, B = mb.src.shape
    assert B == 5 and mb.word_lengths.shape == (N, B)
    for b in range(B):
        n = int(mb.src_lengths[b])
        words = np.concatenate([mb.src[i, : mb.word_lengths[i, b], b] for i in range(n)])
        np.testing.assert_array_equal(words, data.src[: data.src_lengths[b], b])
        assert n == int((data.sentence_lengths[b] > 0).sum())


def test_validation_scores_while_training_leave_the_model_training(tmp_path):
    from rnnkit.optim import Adam
    from rnnkit.runs import RunDir
    from rnnkit.runs.fit import fit_run
    from rnnkit.trainer import TrainerConfig

    cfg, pairs, sv, tv, _ = _setup("reverse", dropout=0.2)
    model = build_model(cfg, sv, tv).train()
    calls = []
    source = ModelBatches(PairBatches(pairs, sv, tv, "char", batch_size=6), cfg)
    tcfg = TrainerConfig(epochs=1, eval_every=2, progress=False)

    def score(result):
        calls.append((model.training, result["count"]))
        model.train()  # even a hook that leaves the mode changed cannot change training

    fit = fit_run(
        RunDir.create(tmp_path / "r"), model, Adam(model.params, model.grads), tcfg, source, source, on_evaluate=score
    )
    assert calls and all(not training and count > 0 for training, count in calls)  # decoded in evaluation mode
    assert len(calls) == sum(r["kind"] == "eval" for r in fit.history)  # every validation, and the final one
    assert model.training
