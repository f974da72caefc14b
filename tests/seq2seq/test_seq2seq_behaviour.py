"""What the seq2seq model must do: masking, coverage, decoding consistency, learning, errors naming the argument."""

from __future__ import annotations

import numpy as np
import pytest
from s2s_common import random_batch, randomize, tiny_config

from rnnkit import decoding
from rnnkit.optim import Adam
from rnnkit.seq2seq import Seq2Seq, Seq2SeqBatch, Seq2SeqConfig, Seq2SeqStepModel, force, translate


def _run(model, batch):
    model.zero_grad()
    out = model.forward(batch, decoder_masks=None)
    res = model.loss(out, batch)
    model.backward(res)
    return out, res, {k: v.copy() for k, v in model.grads.items()}


@pytest.mark.parametrize(
    "kw",
    [
        dict(cell="lstm", bidirectional=True, encoder_layers=2, input_feeding=True),
        dict(cell="gru", copy=True, coverage=True, coverage_loss_weight=0.5, attention="concat"),
        dict(cell="mgu", attention="general", bidirectional=True),
    ],
    ids=["bi-lstm-feed", "copy-coverage", "mgu-general"],
)
def test_padded_batch_equals_sentences_run_alone(kw):
    model = randomize(Seq2Seq(tiny_config(**kw)), scale=0.8)
    copy = kw.get("copy", False)
    batch = random_batch(seed=5, B=4, max_src=5, max_tgt=4, copy=copy)
    out, res, grads = _run(model, batch)
    total = {k: np.zeros_like(v) for k, v in grads.items()}
    loss = 0.0
    for b in range(4):
        n, m = int(batch.src_lengths[b]), int(batch.tgt_lengths[b])
        one = Seq2SeqBatch(
            src=batch.src[:n, b : b + 1],
            src_lengths=batch.src_lengths[b : b + 1],
            tgt_in=batch.tgt_in[:m, b : b + 1],
            tgt_out=batch.tgt_out[:m, b : b + 1],
            tgt_lengths=batch.tgt_lengths[b : b + 1],
            src_ext=None if batch.src_ext is None else batch.src_ext[:n, b : b + 1],
            n_oov=batch.n_oov,
        )
        o1, r1, g1 = _run(model, one)
        np.testing.assert_allclose(o1.logits[:, 0], out.logits[:m, b], rtol=0, atol=1e-12)
        np.testing.assert_allclose(o1.attention[:, 0], out.attention[:m, b, :n], rtol=0, atol=1e-12)
        assert (out.attention[:, b, n:] == 0.0).all()  # attention on padding is exactly zero
        loss += r1.loss
        for k in total:
            total[k] += g1[k]
    assert abs(loss - res.loss) < 1e-10
    for k, g in grads.items():
        assert np.max(np.abs(g - total[k])) < 1e-10, k


def test_padding_tokens_do_not_matter():
    model = randomize(Seq2Seq(tiny_config(bidirectional=True)), scale=0.8)
    batch = random_batch(seed=3, B=3, max_src=5)
    out, res, grads = _run(model, batch)
    pad = np.arange(batch.src.shape[0])[:, None] >= batch.src_lengths[None, :]
    batch.src = np.where(pad, 7, batch.src)  # different ids in the padding
    out2, res2, grads2 = _run(model, batch)
    assert res.loss == res2.loss
    assert all((grads[k] == grads2[k]).all() for k in grads)


def test_coverage_changes_the_attention():
    """Coverage must reach the scores (OpenNMT/OpenNMT-py#179 shipped a coverage that was ignored)."""
    model = randomize(Seq2Seq(tiny_config(coverage=True)), scale=0.8)
    batch = random_batch(seed=2, B=3, max_src=5, max_tgt=4)
    w = model.decoder.attention.params["weight_cov"]
    a1 = model.forward(batch).attention
    w[...] = 0.0
    a0 = model.forward(batch).attention
    assert np.array_equal(a1[0], a0[0])  # cov_0 = 0: the first step cannot differ
    assert np.max(np.abs(a1[1:] - a0[1:])) > 1e-3


def test_coverage_loss_is_sum_of_min():
    model = randomize(Seq2Seq(tiny_config(coverage=True, coverage_loss_weight=2.0)), scale=0.8)
    batch = random_batch(seed=4)
    out = model.forward(batch)
    res = model.loss(out, batch)
    a = out.attention
    cov = np.concatenate([np.zeros_like(a[:1]), np.cumsum(a, axis=0)[:-1]])
    real = np.arange(a.shape[0])[:, None] < batch.tgt_lengths[None, :]
    expect = sum(
        np.minimum(a[t, b], cov[t, b]).sum() for t in range(a.shape[0]) for b in range(a.shape[1]) if real[t, b]
    )
    assert abs(res.coverage_loss - expect) < 1e-12
    assert abs(res.loss - (res.nll + 2.0 * expect)) < 1e-10


@pytest.mark.parametrize(
    "kw",
    [
        dict(attention="none", cell="lstm", zoneout=0.3),
        dict(input_feeding=True, decoder_layers=2),
        dict(copy=True, coverage=True, input_feeding=True),
        dict(attention="dot", bidirectional=True, bridge="concat", cell="lstm"),
    ],
    ids=["none-zoneout", "feed-2", "copy-coverage-feed", "dot-bi"],
)
def test_step_model_scores_match_teacher_forcing(kw):
    """The decoding protocol computes exactly the distribution the training forward computes."""
    model = randomize(Seq2Seq(tiny_config(**kw)), scale=0.8)
    batch = random_batch(seed=6, B=3, copy=kw.get("copy", False))
    model.eval()
    out = model.forward(batch)
    logp = model.log_probs(out, batch)
    sm = Seq2SeqStepModel(model, batch)
    for b in range(3):
        m = int(batch.tgt_lengths[b])
        toks = batch.tgt_out[:m, b]
        lp, att = force(sm.for_source(b), toks)
        assert abs(lp - logp[np.arange(m), b, toks].sum()) < 1e-10
        if att is not None:
            n = int(batch.src_lengths[b])
            np.testing.assert_allclose(att[:, :n], out.attention[:m, b, :n], atol=1e-12)


def _reverse_data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    src = [list(rng.integers(4, 12, size=rng.integers(3, 7))) for _ in range(n)]
    return src, [s[::-1] for s in src]


def _train(model, batch, steps, lr=0.02):
    opt = Adam(model.params, model.grads, lr=lr)
    model.train()
    for _ in range(steps):
        model.zero_grad()
        res = model.train_step(batch)
        opt.step()
    return res.loss_sum / res.count


@pytest.fixture(scope="module")
def reverser():
    src, tgt = _reverse_data()
    cfg = Seq2SeqConfig(
        src_vocab_size=12, tgt_vocab_size=12, cell="gru", embedding_size=16, hidden_size=24, bidirectional=True
    )
    model = Seq2Seq(cfg)
    loss = _train(model, Seq2SeqBatch.from_sequences(src, tgt, bos_id=1, eos_id=2), 150)
    return model, src, tgt, loss


def test_tiny_reverse_task_overfits(reverser):
    model, src, tgt, loss = reverser
    assert loss < 0.01
    out = translate(model, Seq2SeqBatch.from_sources(src), max_len=10)
    assert all(list(o.tokens) == t + [2] for o, t in zip(out, tgt))


def test_greedy_batched_equals_rnnkit_decoding_and_beam_is_never_worse(reverser):
    model, src, _, _ = reverser
    rng = np.random.default_rng(9)
    fresh = [list(rng.integers(4, 12, size=rng.integers(2, 9))) for _ in range(12)]  # unseen sources
    batch = Seq2SeqBatch.from_sources(fresh)
    greedy = translate(model, batch, max_len=12)
    beam = translate(model, batch, method="beam", beam_size=4, max_len=12)
    sm = Seq2SeqStepModel(model, batch)
    for b, (g, bm) in enumerate(zip(greedy, beam)):
        one = sm.for_source(b)
        assert list(decoding.greedy(one, [1], 12, stop_ids=[2])) == list(g.tokens)
        # float32 model: batched and single-row products round differently
        assert abs(force(one, g.tokens)[0] - g.logprob) < 1e-5
        assert bm.logprob >= g.logprob - 1e-5
    b1 = translate(model, batch, method="beam", beam_size=1, max_len=12)
    assert all(list(x.tokens) == list(g.tokens) for x, g in zip(b1, greedy))


def test_beam_options_min_len_and_coverage_penalty(reverser):
    model, src, _, _ = reverser
    batch = Seq2SeqBatch.from_sources(src[:3])
    out = translate(model, batch, method="beam", beam_size=3, max_len=12, min_len=9)
    assert all(len(o.tokens) >= 10 or o.tokens[-1] != 2 for o in out)
    cp = translate(model, batch, method="beam", beam_size=3, max_len=12, coverage_penalty=0.5, length_penalty=0.6)
    assert all(len(o.tokens) > 0 for o in cp)
    blocked = translate(model, batch, method="beam", beam_size=3, max_len=12, no_repeat_ngram_size=1)
    assert all(len(set(o.tokens.tolist())) == len(o.tokens) for o in blocked)


def test_copy_produces_words_outside_the_vocabulary():
    """Targets made only of source words the target vocabulary lacks: only copying can get them right."""
    rng = np.random.default_rng(1)
    V = 5  # pad, bos, eos, unk, one ordinary word
    src, src_ext, tgt_in, tgt_ext, n_oov = [], [], [], [], 0
    for _ in range(16):
        words = list(rng.choice(np.arange(5, 25), size=rng.integers(2, 5), replace=False))
        src.append(words)
        src_ext.append([V + w - 5 for w in words])  # a batch-wide extended id per source word
        tgt_ext.append([V + w - 5 for w in words[::-1]])
        tgt_in.append([3] * len(words))
        n_oov = 20
    batch = Seq2SeqBatch.from_sequences(src, tgt_in, bos_id=1, eos_id=2, src_ext=src_ext, tgt_ext=tgt_ext, n_oov=n_oov)
    cfg = Seq2SeqConfig(
        src_vocab_size=25,
        tgt_vocab_size=V,
        cell="gru",
        embedding_size=16,
        hidden_size=24,
        bidirectional=True,
        copy=True,
    )
    model = Seq2Seq(cfg)
    _train(model, batch, 200)
    srcb = Seq2SeqBatch.from_sources(src, src_ext=src_ext, n_oov=n_oov)
    out = translate(model, srcb, max_len=8)
    acc = np.mean([list(o.tokens) == t + [2] for o, t in zip(out, tgt_ext)])
    assert acc >= 0.9


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(cell="lstmx"), "Seq2SeqConfig: cell must be"),
        (dict(attention="dot", decoder_hidden_size=5), "attention 'dot' needs decoder_hidden_size"),
        (dict(attention="dot", coverage=True), "coverage needs attention in"),
        (dict(coverage_loss_weight=1.0), "coverage_loss_weight must be 0 without coverage"),
        (dict(attention="none", copy=True), "copy needs an attention"),
        (dict(bridge="concat", decoder_hidden_size=5), "bridge 'concat' needs"),
        (dict(dropout=1.5), "dropout"),
        (dict(eos_id=99), "eos_id must be < tgt_vocab_size"),
        (dict(hidden_size=0), "hidden_size must be >= 1"),
    ],
)
def test_bad_config_names_the_field(kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        tiny_config(**kw)


def test_bad_batch_names_the_argument():
    model = Seq2Seq(tiny_config())
    batch = random_batch()
    bad = Seq2SeqBatch(batch.src + 100, batch.src_lengths, batch.tgt_in, batch.tgt_out, batch.tgt_lengths)
    with pytest.raises(ValueError, match=r"Seq2Seq.forward: batch.src must hold ids in \[0, 9\)"):
        model.forward(bad)
    bad = Seq2SeqBatch(batch.src, batch.src_lengths * 0, batch.tgt_in, batch.tgt_out, batch.tgt_lengths)
    with pytest.raises(ValueError, match="batch.src_lengths must be in"):
        model.forward(bad)
    bad = Seq2SeqBatch(batch.src, batch.src_lengths, batch.tgt_in[:-1], batch.tgt_out, batch.tgt_lengths)
    with pytest.raises(ValueError, match="batch.tgt_in and batch.tgt_out must both have shape"):
        model.forward(bad)
    with pytest.raises(TypeError, match="batch must be a Seq2SeqBatch"):
        model.forward({"src": batch.src})
    with pytest.raises(ValueError, match="batch.src_ext must be given"):
        Seq2Seq(tiny_config(copy=True)).forward(batch)
    with pytest.raises(ValueError, match="translate: method must be"):
        translate(model, batch, method="viterbi")


def test_state_dict_round_trip_and_dtype():
    m32 = Seq2Seq(tiny_config(dtype="float32", copy=True, coverage=True, bidirectional=True, cell="lstm"))
    assert all(p.dtype == np.float32 for p in m32.params.values())
    names = set(m32.state_dict())
    assert {"encoder.rnn.weight_ih_l0_reverse", "decoder.rnn.weight_hh_l0", "decoder.attention.v"} <= names
    m2 = Seq2Seq(tiny_config(dtype="float32", copy=True, coverage=True, bidirectional=True, cell="lstm", seed=5))
    m2.load_state_dict(m32.state_dict())
    assert all(np.array_equal(a, b) for a, b in zip(m2.params.values(), m32.params.values()))
    assert Seq2Seq.from_config(m32.config()).cfg == m32.cfg


def test_regularisers_act_in_training_only():
    model = Seq2Seq(tiny_config(decoder_layers=2, dropout=0.5, recurrent_dropout=0.5, zoneout=0.3))
    batch = random_batch(seed=8)
    a, b = model.forward(batch), model.forward(batch)
    assert not np.array_equal(a.logits, b.logits)  # fresh masks each forward
    assert a.decoder_masks.dropout[0].shape == (a.logits.shape[0], 3, model.cfg.decoder_hidden)
    model.eval()
    c, d = model.forward(batch), model.forward(batch)
    assert np.array_equal(c.logits, d.logits) and c.decoder_masks is None
    varia = Seq2Seq(tiny_config(decoder_layers=2, dropout=0.5, variational=True))
    assert varia.forward(batch).decoder_masks.dropout[0].shape[0] == 1  # one mask per sequence


def test_decoder_inputs_are_checked():
    model = Seq2Seq(tiny_config())
    batch = random_batch()
    with pytest.raises(ValueError, match="Seq2Seq.forward: decoder_inputs must have shape"):
        model.forward(batch, decoder_inputs=batch.tgt_in[:1])
    with pytest.raises(ValueError, match="Seq2Seq.forward: decoder_inputs must hold ids"):
        model.forward(batch, decoder_inputs=batch.tgt_in + 50)


def test_scheduled_sampling_schedules():
    from rnnkit.seq2seq import scheduled_sampling_probability as ssp

    assert ssp(0, 10.0) == pytest.approx(1 - 10 / 11)
    assert ssp(100, 10.0) == pytest.approx(1 - 10 / (10 + np.exp(10)))
    assert ssp(3, 0.5, "exponential") == pytest.approx(1 - 0.125)
    assert ssp(5, 10, "linear") == pytest.approx(0.5) and ssp(50, 10, "linear") == 1.0
    with pytest.raises(ValueError, match="scheduled_sampling_probability: schedule must be"):
        ssp(1, 2.0, "cosine")
    model = Seq2Seq(tiny_config())
    batch = random_batch(seed=1)
    assert (model.forward(batch).decoder_inputs == batch.tgt_in).all()  # off by default
    model.sampling_probability = 1.0
    assert (model.forward(batch).decoder_inputs[1:] != batch.tgt_in[1:]).any()
    with pytest.raises(ValueError, match="Seq2Seq.sampling_probability: p must be"):
        model.sampling_probability = 1.5


@pytest.mark.parametrize(
    "opts",
    [
        dict(),
        dict(length_penalty=0.8),
        dict(coverage_penalty=0.4, length_penalty=0.3),
        dict(no_repeat_ngram_size=2, min_len=3),
        dict(beam_size=1),
    ],
    ids=["plain", "length", "coverage", "ngram-minlen", "beam1"],
)
def test_batched_beam_search_equals_rnnkit_decoding_per_source(opts):
    from rnnkit.seq2seq import beam_search_batched, force_batched

    model = randomize(Seq2Seq(tiny_config(coverage=True, input_feeding=True, bidirectional=True)), scale=1.5)
    batch = random_batch(seed=11, B=5, max_src=6)
    sm = Seq2SeqStepModel(model, batch)
    kw = {"beam_size": 3, **opts}
    best = beam_search_batched(sm, 7, **kw)
    for b in range(5):
        ref = decoding.beam_search(sm.for_source(b), [1], 7, stop_ids=[2], return_all=True, **kw)[0]
        assert ref.tokens.tolist() == best[b].tokens.tolist()
        assert abs(ref.score - best[b].score) < 1e-10 and abs(ref.logprob - best[b].logprob) < 1e-10
    scored = force_batched(sm, [h.tokens for h in best])
    for b in range(5):
        lp, att = force(sm.for_source(b), best[b].tokens)
        assert abs(scored[b].logprob - lp) < 1e-10 and abs(lp - best[b].logprob) < 1e-10
        np.testing.assert_allclose(scored[b].attention, att[:, : batch.src_lengths[b]], atol=1e-12)
