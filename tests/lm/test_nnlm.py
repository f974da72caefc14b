"""The window-based neural LM (Bengio et al. 2003): finite differences, parity with the same model in
PyTorch, a tiny corpus learnt by heart, decoding, the config round trip, errors and the benchmark script."""

import dataclasses
import doctest
import importlib.util
import math
import re
import warnings

import numpy as np
import pytest
import torch

import rnnkit.lm.nnlm as nnlm_module
from rnnkit.activations import log_softmax
from rnnkit.batches import ArrayBatches
from rnnkit.checkpoint import load_checkpoint, save_checkpoint
from rnnkit.decoding import beam_search, greedy, sample
from rnnkit.grad_mode import no_grad
from rnnkit.gradcheck import assert_gradient_close, numerical_gradient
from rnnkit.lm.nnlm import NNLM, NNLMConfig, ngram_windows
from rnnkit.losses import cross_entropy
from rnnkit.optim import Adam
from rnnkit.trainer import Trainer, TrainerConfig

from helpers import REPO_ROOT, assert_close

ROOT = REPO_ROOT
V, N1, E, H = 11, 3, 4, 5


def small(**kw):
    cfg = dict(vocab_size=V, context=N1, embedding_size=E, hidden_size=H, seed=1, dtype="float64")
    cfg.update(kw)
    return NNLM(NNLMConfig(**cfg))


def batch(B=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, V, size=(B, N1)), rng.integers(0, V, size=B)


# -- finite differences ---------------------------------------------------------------------------------
@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("dropout", [0.0, 0.4])
def test_gradients_by_finite_differences_for_every_parameter(direct, dropout):
    lm = small(direct=direct, dropout=dropout)
    ctx, _ = batch()
    P = np.random.default_rng(7).normal(size=(ctx.shape[0], V))  # a random projection of the logits
    rng_state = lm.rng.bit_generator.state  # the same dropout masks every call

    def loss():
        lm.rng.bit_generator.state = rng_state
        with no_grad():
            return float(np.sum(P * lm.forward(ctx)))

    lm.rng.bit_generator.state = rng_state
    lm.forward(ctx)
    lm.zero_grad()
    lm.backward(P)
    expected = {"embedding.weight", "hidden.weight", "hidden.bias", "output.weight", "output.bias"}
    assert set(lm.params) == expected | ({"direct.weight"} if direct else set())
    for name, p in lm.params.items():
        assert_gradient_close(name, lm.grads[name], numerical_gradient(loss, p), tol=1e-7)


def test_train_step_gradient_is_that_of_the_mean_token_loss():
    lm = small()
    ctx, y = batch(B=9, seed=3)

    def loss():
        with no_grad():
            return cross_entropy(lm.forward(ctx), y, reduction="mean")[0]

    lm.zero_grad()
    res = lm.train_step((ctx, y), None)
    assert res.count == 9 and res.state is None and res.loss_sum == pytest.approx(9 * loss(), rel=1e-12)
    for name, p in lm.params.items():
        assert_gradient_close(name, lm.grads[name], numerical_gradient(loss, p), tol=1e-7)


def test_extreme_preactivations_stay_finite():
    lm = small()
    lm.params["embedding.weight"][...] = 500.0 * np.sign(np.random.default_rng(0).normal(size=(V, E)))
    lm.params["hidden.weight"][...] = 1.0
    ctx, y = batch()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lm.zero_grad()
        res = lm.train_step((ctx, y), None)
    assert math.isfinite(res.loss_sum) and all(np.isfinite(g).all() for g in lm.grads.values())
    assert np.all(lm.grads["hidden.bias"] == 0)  # tanh saturated: no gradient through it


# -- parity with PyTorch -------------------------------------------------------------------------------
class TorchNNLM(torch.nn.Module):
    """The same model written directly in torch: y = softmax(W2 tanh(W1 x + b1) + W3 x + b3)."""

    def __init__(self, direct):
        super().__init__()
        self.embedding = torch.nn.Embedding(V, E)
        self.hidden = torch.nn.Linear(N1 * E, H)
        self.output = torch.nn.Linear(H, V)
        self.direct = torch.nn.Linear(N1 * E, V, bias=False) if direct else None

    def forward(self, ctx):
        x = self.embedding(ctx).reshape(ctx.shape[0], -1)
        z = self.output(torch.tanh(self.hidden(x)))
        return z + self.direct(x) if self.direct is not None else z


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-5)])
def test_outputs_loss_and_gradients_match_torch(direct, dtype, tol):
    ours = small(direct=direct, dtype=dtype, vocab_size=V)
    theirs = TorchNNLM(direct).to(torch.float64 if dtype == "float64" else torch.float32)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})  # a plain dict copy
    ctx, y = batch(B=8, seed=5)
    ctx[0] = ctx[1]  # a repeated context: embedding rows used several times
    ours.zero_grad()
    res = ours.train_step((ctx, y), None)
    logits = ours.forward(ctx)
    tz = theirs(torch.from_numpy(ctx))
    tloss = torch.nn.functional.cross_entropy(tz, torch.from_numpy(y))  # mean over tokens
    tloss.backward()
    assert_close("logits", logits, tz.detach().numpy(), tol)
    assert res.loss_sum == pytest.approx(8 * tloss.item(), abs=8 * tol)
    assert logits.dtype == np.dtype(dtype) and all(g.dtype == np.dtype(dtype) for g in ours.grads.values())
    for name, p in theirs.named_parameters():
        assert_close(name, ours.grads[name], p.grad.numpy(), tol)


def test_documented_parameter_shapes_are_the_real_ones():
    lm = NNLM(NNLMConfig(vocab_size=13, context=3, embedding_size=4, hidden_size=6))
    sizes = {"V": 13, "E": 4, "H": 6, "W": 12}
    doc = nnlm_module.__doc__.replace("(n-1)E", "W")
    table = re.findall(r"(\w+)\s+=\s+([\w.]+)\s+\(([\w, ]*)\)", doc)
    documented = {name: shape for _, name, shape in table if "." in name}
    assert set(documented) == set(lm.params)
    for name, shape in documented.items():
        dims = tuple(sizes[d.strip()] for d in shape.split(",") if d.strip())
        assert lm.params[name].shape == dims, name


# -- behaviour --------------------------------------------------------------------------------------------
def test_a_uniform_model_has_perplexity_equal_to_the_vocabulary():
    lm = small()
    for name in ("output.weight", "output.bias", "direct.weight"):
        lm.params[name][...] = 0
    ctx, y = batch(B=20)
    res = lm.eval_step((ctx, y), None)
    assert math.exp(res.loss_sum / res.count) == pytest.approx(V, rel=1e-12)


STORY = "the cat sat on the mat <eos> a dog ran to the log <eos> the bird ate <eos>".split()


def _story():
    words = sorted(set(STORY))
    ids = np.array([words.index(w) for w in STORY * 6])
    return words, ids


def test_a_tiny_corpus_is_learnt_by_heart_and_decoded_back():
    words, ids = _story()
    eos = words.index("<eos>")
    lm = NNLM(NNLMConfig(vocab_size=len(words), context=3, embedding_size=8, hidden_size=16, bos_id=eos, seed=0))
    contexts, targets = ngram_windows(ids, 4, eos)
    trainer = Trainer(lm, Adam(lm.params, lm.grads, lr=0.05), TrainerConfig(epochs=60, progress=False))
    src = ArrayBatches(contexts, targets, batch_size=16, seed=0)
    trainer.fit(src)
    assert trainer.evaluate(src)["ppl"] < 1.05  # three-word contexts decide every next word
    model = lm.as_step_model()
    decode = lambda out: [words[i] for i in out]  # noqa: E731
    prompt = [words.index(w) for w in ("the", "mat", "<eos>", "a")]
    assert decode(greedy(model, prompt, 10, stop_ids=[eos])) == "dog ran to the log <eos>".split()
    assert decode(beam_search(model, prompt, 10, beam_size=3, stop_ids=[eos])) == "dog ran to the log <eos>".split()
    s = sample(model, [eos], 30, seed=3)
    assert s.tolist() == sample(model, [eos], 30, seed=3).tolist()
    assert np.exp(lm.next_logprobs([eos, words.index("the"), words.index("cat")])).sum() == pytest.approx(1, abs=1e-6)


def test_decoding_state_and_next_logprobs():
    lm = small(bos_id=2)
    model = lm.as_step_model()
    assert model.initial_state([]).tolist() == [[2, 2, 2]]
    assert model.initial_state([5, 6, 7, 8]).tolist() == [[6, 7, 8]]
    logprobs, state = model.step(np.array([[2, 2, 5], [1, 3, 4]]), [9, 0])
    assert state.tolist() == [[2, 5, 9], [3, 4, 0]] and logprobs.shape == (2, V) and logprobs.dtype == np.float64
    np.testing.assert_allclose(logprobs, lm.logprobs(state), rtol=0, atol=0)
    np.testing.assert_allclose(lm.next_logprobs([5]), lm.logprobs([[2, 2, 5]])[0], rtol=0, atol=0)
    assert model.select(state, [1, 1]).tolist() == [[3, 4, 0], [3, 4, 0]]
    with pytest.raises(ValueError, match=r"state must have shape \(1, 3\), got \(2, 3\)"):
        model.step(state, [1])


def test_dropout_only_in_training_and_its_generator_is_checkpointed():
    lm = small(dropout=0.5)
    ctx, _ = batch()
    a, b = lm.forward(ctx), lm.forward(ctx)
    assert not np.allclose(a, b)
    lm.eval()
    np.testing.assert_array_equal(lm.forward(ctx), lm.forward(ctx))
    evaluated = log_softmax(lm.forward(ctx))
    lm.train()
    np.testing.assert_allclose(lm.logprobs(ctx), evaluated, rtol=0, atol=1e-12)  # never with dropout
    assert "" in lm.generators()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_shape_and_dtype_contracts(dtype):
    rng = np.random.default_rng(11)
    for _ in range(4):
        B, n1, e, h, v = (int(k) for k in rng.integers(1, 7, size=5))
        v += 1
        lm = NNLM(
            NNLMConfig(
                vocab_size=v, context=n1, embedding_size=e, hidden_size=h, dtype=dtype, direct=bool(rng.integers(2))
            )
        )
        ctx = rng.integers(0, v, size=(B, n1))
        z = lm.forward(ctx)
        assert z.shape == (B, v) and z.dtype == np.dtype(dtype)
        lm.zero_grad()
        res = lm.train_step((ctx[:1], ctx[:1, 0]), None)  # B = 1
        assert res.count == 1 and all(g.dtype == np.dtype(dtype) for g in lm.grads.values())
        assert lm.logprobs(ctx).dtype == np.float64 and lm.next_logprobs([]).shape == (v,)


def test_resume_from_a_checkpoint_is_exact(tmp_path):
    words, ids = _story()
    contexts, targets = ngram_windows(ids, 3, 0)
    src = ArrayBatches(contexts, targets, batch_size=8, seed=1)

    def run(epochs, out, resume=False):
        lm = NNLM(NNLMConfig(vocab_size=len(words), context=2, embedding_size=3, hidden_size=5, dropout=0.3, seed=4))
        Trainer(lm, Adam(lm.params, lm.grads, lr=0.01), TrainerConfig(epochs=epochs, progress=False), out_dir=out).fit(
            src, resume=resume
        )
        return lm

    straight = run(3, tmp_path / "a")
    run(1, tmp_path / "b")  # stopped after one epoch ...
    resumed = run(3, tmp_path / "b", resume=True)  # ... and continued, dropout masks too
    for k in straight.params:
        np.testing.assert_array_equal(straight.params[k], resumed.params[k], err_msg=k)


def test_ngram_windows():
    ids = np.array([4, 5, 6, 7])
    ctx, tgt = ngram_windows(ids, 3, 1)
    assert ctx.tolist() == [[1, 1], [1, 4], [4, 5], [5, 6]] and tgt.tolist() == [4, 5, 6, 7]
    assert ctx.dtype == tgt.dtype == np.int64 and ctx.flags.c_contiguous
    ctx, tgt = ngram_windows([3, 2], 1, 0)
    assert ctx.shape == (2, 0) and tgt.tolist() == [3, 2]
    rng = np.random.default_rng(0)
    stream = rng.integers(0, 50, size=200)
    ctx, tgt = ngram_windows(stream, 5, 0)
    padded = [0] * 4 + stream.tolist()
    assert ctx.tolist() == [padded[i : i + 4] for i in range(200)]
    for bad, err, match in [
        ((np.array([1.5]), 2, 0), TypeError, "integer|int token ids"),
        (([], 2, 0), ValueError, "at least one token"),
        (([1, -1], 2, 0), ValueError, ">= 0"),
        (([1], 0, 0), ValueError, "n must be >= 1"),
        (([1], 2, -1), ValueError, "bos_id must be >= 0"),
    ]:
        with pytest.raises(err, match=match):
            ngram_windows(*bad)


# -- config and checkpoints ------------------------------------------------------------------------------
def test_config_round_trip_through_a_checkpoint(tmp_path):
    lm = NNLM(
        NNLMConfig(
            vocab_size=V, context=2, embedding_size=3, hidden_size=4, direct=False, dropout=0.1, bos_id=1, seed=9
        )
    )
    cfg = lm.config()
    assert cfg == dataclasses.asdict(lm.cfg) and cfg["kind"] == "nnlm"
    assert abs(lm.params["embedding.weight"].std() - 0.1) < 0.05  # the documented initialisation
    same = NNLM.from_config(dict(cfg))
    for k in lm.params:
        np.testing.assert_array_equal(lm.params[k], same.params[k])  # the seed decides every weight
    save_checkpoint(tmp_path, model_state=lm.state_dict(), config=cfg)
    ckpt = load_checkpoint(tmp_path, expected_config=cfg)
    other = NNLM.from_config(ckpt.config)
    ckpt.load_into(other)
    ctx = np.array([[1, 2], [3, 4]])
    np.testing.assert_array_equal(lm.eval().forward(ctx), other.eval().forward(ctx))


# -- errors ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kw,err,match",
    [
        ({"vocab_size": 0}, ValueError, "vocab_size must be >= 1"),
        ({"context": 0}, ValueError, "context must be >= 1"),
        ({"hidden_size": 2.5}, TypeError, "hidden_size must be an int"),
        ({"direct": 1}, TypeError, "direct must be a bool"),
        ({"dropout": 1.0}, ValueError, r"dropout must be in \[0, 1\)"),
        ({"embedding_std": 0.0}, ValueError, "embedding_std must be a finite number > 0, got 0.0"),
        ({"bos_id": V}, ValueError, rf"bos_id must be in \[0, {V}\), got {V}"),
        ({"dtype": "int32"}, TypeError, "dtype must be float32 or float64"),
        ({"kind": "rnnlm"}, ValueError, "kind must be 'nnlm'"),
    ],
)
def test_config_errors(kw, err, match):
    with pytest.raises(err, match=match):
        small(**kw)


def test_call_errors():
    lm = small()
    with pytest.raises(ValueError, match=r"NNLM.forward: contexts must have shape \(B, 3\), got \(4, 2\)"):
        lm.forward(np.zeros((4, 2), dtype=np.int64))
    with pytest.raises(ValueError, match=r"contexts must be in \[0, 11\), got 11 at index \(1, 0\)"):
        lm.forward(np.array([[0, 0, 0], [11, 0, 0]]))
    with pytest.raises(TypeError, match="contexts must hold integer token ids, got dtype float64"):
        lm.forward(np.zeros((1, 3)))
    with pytest.raises(RuntimeError, match="no cached forward pass"):
        lm.backward(np.zeros((1, V)))
    lm.forward(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"dlogits must have shape \(2, 11\), got \(2, 10\)"):
        lm.backward(np.zeros((2, 10)))
    with no_grad():
        lm.forward(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(RuntimeError, match="no cached forward pass"):
        lm.backward(np.zeros((2, V)))
    with pytest.raises(ValueError, match="must be an nnlm config, got kind 'rnnlm'"):
        NNLM.from_config({"kind": "rnnlm", "vocab_size": 3})
    with pytest.raises(TypeError, match="config must be an NNLMConfig"):
        NNLM({"vocab_size": 3})
    with pytest.raises(TypeError, match="callable step"):
        sample(lm, [0], 3)  # the decoding protocol is lm.as_step_model()


def test_module_doctest():
    result = doctest.testmod(nnlm_module)
    assert result.attempted > 0 and result.failed == 0


# -- the benchmark script ----------------------------------------------------------------------------------
def test_benchmark_script_smoke(tmp_path, capsys):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]

    def text(n):
        return "\n".join(" ".join(rng.choice(words, size=rng.integers(3, 9))) for _ in range(n)) + "\n"

    (tmp_path / "train.txt").write_text(text(120))
    (tmp_path / "valid.txt").write_text(text(20))
    results = tmp_path / "RESULTS.md"
    spec = importlib.util.spec_from_file_location("bench_nnlm", ROOT / "benchmarks" / "bench_nnlm.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = [
        "--train",
        str(tmp_path / "train.txt"),
        "--valid",
        str(tmp_path / "valid.txt"),
        "--order",
        "3",
        "--embedding-size",
        "8",
        "--hidden-size",
        "8",
        "--batch-size",
        "64",
        "--epochs",
        "2",
        "--minutes",
        "1",
        "--results",
        str(results),
    ]
    figures = bench.main(args)
    assert 1 < figures["valid_ppl"] < 60 and figures["epochs"] == pytest.approx(2.0)
    half = round(6 / 13, 2)  # 13 batches of 64: a half is 6 of them
    assert [round(r[0], 2) for r in figures["rows"]] == [half, 1.0, 1 + half, 2.0]

    bench.main(args + ["--optimizer", "sgd", "--no-direct", "--epochs", "1", "--evals-per-epoch", "1"])
    log = results.read_text()
    assert log.startswith("# Benchmark results") and log.count("\n## ") == 2
    assert "bench_nnlm.py --train" in log and "machine:" in log and "training tokens/s" in log
    assert "| epoch | updates |" in log and "valid perplexity" in capsys.readouterr().out
