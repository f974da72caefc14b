"""The Trainer: batch sources, truncated BPTT, logs, early stopping, non-finite handling, exact resume."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import rnnkit
from rnnkit.batches import ArrayBatches, StreamBatches
from rnnkit.checkpoint import load_checkpoint
from rnnkit.io import CheckpointError
from rnnkit.lm.rnnlm import RNNLM, RNNLMConfig
from rnnkit.trainer import StepResult, Trainer, TrainerConfig, TrainingError

from helpers import REPO_ROOT

ROOT = REPO_ROOT


def corpus(n=2000, V=11, seed=0):
    """A learnable stream: mostly t -> t + 1 (mod V), with some noise."""
    rng = np.random.default_rng(seed)
    x = np.zeros(n, dtype=np.int64)
    for i in range(1, n):
        x[i] = (x[i - 1] + 1) % V if rng.random() < 0.9 else rng.integers(V)
    return x


def streams(ids, B):
    N = len(ids) // B
    return ids[: N * B].reshape(B, N).T.copy()  # (N, B): B contiguous pieces


def lm(**kw):
    cfg = dict(vocab_size=11, cell="lstm", embedding_size=8, hidden_size=8, num_layers=2, seed=0)
    cfg.update(kw)
    return RNNLM(RNNLMConfig(**cfg))


# -- batch sources -----------------------------------------------------------------------------------


@pytest.mark.parametrize("k1,k2", [(4, 4), (3, 5), (4, 8), (5, 5), (1, 3)])
def test_stream_windows_count_every_target_once_and_hand_over_the_state(k1, k2):
    data = np.arange(23 * 2).reshape(23, 2)
    src = StreamBatches(data, k1, k2)
    counted, start_of_next = [], 0
    for i in range(len(src)):
        w = src.batch(0, i)
        start = int(w.x[0, 0]) // 2
        assert start == start_of_next  # the carried state is at this window's start
        assert w.x.shape[0] <= k2 and np.array_equal(w.y, data[start + 1 : start + 1 + w.x.shape[0]])
        counted += list(range(start + w.loss_from, start + w.x.shape[0]))
        start_of_next = start + w.carry
    assert counted == list(range(22))  # each of the N - 1 targets exactly once


def test_stream_batches_reject_bad_arguments():
    with pytest.raises(ValueError, match="StreamBatches: k2 must be >= k1 = 5, got 3"):
        StreamBatches(np.zeros((10, 2), dtype=np.int64), 5, 3)
    with pytest.raises(ValueError, match="data must be an integer array of shape"):
        StreamBatches(np.zeros((10, 2)), 5)


def test_array_batches_shuffle_per_epoch_deterministically():
    src = ArrayBatches(np.arange(10), np.arange(10) * 2, batch_size=3, seed=4)
    assert len(src) == 4
    e0 = np.concatenate([src.batch(0, i)[0] for i in range(4)])
    e1 = np.concatenate([src.batch(1, i)[0] for i in range(4)])
    assert sorted(e0) == list(range(10)) and not np.array_equal(e0, e1)
    assert np.array_equal(
        e0, np.concatenate([ArrayBatches(np.arange(10), batch_size=3, seed=4).batch(0, i)[0] for i in range(4)])
    )
    x, y = src.batch(1, 2)
    assert np.array_equal(y, 2 * x)


# -- training ---------------------------------------------------------------------------------------


def test_a_small_lstm_lm_learns_the_stream(tmp_path):
    ids = corpus()
    model = lm()
    opt = rnnkit.Adam(model.params, model.grads, lr=0.02)
    train = StreamBatches(streams(ids[:1600], 8), 10)
    valid = StreamBatches(streams(ids[1600:], 4), 10)
    cfg = TrainerConfig(epochs=6, clip_norm=5.0, log_every=10, progress=False)
    before = Trainer(model, opt, cfg).evaluate(valid)["ppl"]
    result = Trainer(model, opt, cfg, out_dir=tmp_path).fit(train, valid)
    evals = [r for r in result.history if r["kind"] == "eval"]
    assert before > 9 and evals[-1]["ppl"] < 2.5  # close to the stream's entropy, far below V = 11
    assert result.epochs_completed == 6 and result.steps == 6 * len(train)
    lines = [json.loads(s) for s in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert {r["kind"] for r in lines} == {"train", "eval"}
    assert all(np.isfinite(r["grad_norm"]) for r in lines if r["kind"] == "train")


def test_tbptt_with_overlapping_windows_carries_the_exact_state():
    model = lm(dropout=0.0)
    src = StreamBatches(streams(corpus(), 4), 3, 7)
    w0 = src.batch(0, 1)
    assert w0.loss_from > 0 and w0.carry < w0.x.shape[0]
    res = model.train_step(w0, None)
    _, direct = model.forward(w0.x[: w0.carry])
    for a, b in zip(res.state, direct):
        np.testing.assert_array_equal(a, b)
    assert res.count == (w0.x.shape[0] - w0.loss_from) * 4


def test_tbptt_gradients_are_those_of_the_window_loss():
    """Finite differences of the masked window loss (float64) against train_step's gradients."""
    from rnnkit.gradcheck import assert_gradient_close, numerical_gradient

    model = lm(dtype="float64", num_layers=1, embedding_size=4, hidden_size=4, cell="gru", objective="sum")
    w = StreamBatches(streams(corpus(200), 3), 2, 5).batch(0, 3)
    h0 = np.random.default_rng(0).normal(size=(1, 3, 4))
    model.zero_grad()
    model.train_step(w, h0)

    def loss():
        with rnnkit.no_grad():
            return model.eval_step(w, h0).loss_sum

    for name in ("rnn.weight_hh_l0", "decoder.weight", "embedding.weight"):
        assert_gradient_close(name, model.grads[name], numerical_gradient(loss, model.params[name]))


def test_early_stopping_and_plateau_schedule():
    model = lm()
    opt = rnnkit.SGD(model.params, model.grads, lr=0.0)  # never improves
    sched = rnnkit.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    src = StreamBatches(streams(corpus(400), 4), 10)
    result = Trainer(model, opt, TrainerConfig(epochs=20, patience=2, progress=False), schedule=sched).fit(src, src)
    assert result.stopped_early and result.epochs_completed == 3


class Exploding(rnnkit.Module):
    """Gradients become NaN at chosen steps."""

    def __init__(self, bad_steps):
        super().__init__()
        self.register_parameter("w", np.ones(3))
        self.bad, self.calls = set(bad_steps), 0

    def initial_state(self, batch):
        return None

    def train_step(self, batch, state):
        self.calls += 1
        self.grads["w"] += np.nan if self.calls in self.bad else 0.1
        return StepResult(1.0, 1)

    def eval_step(self, batch, state):
        return StepResult(1.0, 1)

    def config(self):
        return {"kind": "exploding"}


def test_non_finite_gradients_stop_training_with_the_step_and_parameter():
    model = Exploding({3})
    src = ArrayBatches(np.zeros(10), batch_size=1, shuffle=False)
    opt = rnnkit.SGD(model.params, model.grads, lr=0.1)
    with pytest.raises(TrainingError, match="step 3: the gradient of w is not finite"):
        Trainer(model, opt, TrainerConfig(progress=False)).fit(src)
    model = Exploding({3, 5})
    opt = rnnkit.SGD(model.params, model.grads, lr=0.1)
    result = Trainer(model, opt, TrainerConfig(on_nonfinite="skip", progress=False)).fit(src)
    assert result.skipped_steps == 2 and result.steps == 8
    np.testing.assert_allclose(model.params["w"], 1 - 8 * 0.01)


def test_trainer_config_is_validated():
    with pytest.raises(ValueError, match="TrainerConfig: clip_norm must be a positive number or None, got -1"):
        TrainerConfig(clip_norm=-1)
    with pytest.raises(
        ValueError, match="TrainerConfig: on_nonfinite must be one of 'raise', 'stop', 'skip', got 'ignore'"
    ):
        TrainerConfig(on_nonfinite="ignore")
    with pytest.raises(TypeError, match=r"Trainer: model must have a method initial_state\(\); LSTM has none"):
        Trainer(rnnkit.LSTM(2, 2), None)


# -- checkpoints and exact resume ---------------------------------------------------------------------


def _run(out, max_steps=None, resume=False, fmt="jsonl"):
    model = lm(dropout=0.3, recurrent_dropout=0.2)
    opt = rnnkit.Adam(model.params, model.grads, lr=0.01)
    sched = rnnkit.StepDecay(opt, step_size=1, gamma=0.5, decay_start=1)
    src = StreamBatches(streams(corpus(600), 4), 7)
    cfg = TrainerConfig(
        epochs=3, max_steps=max_steps, checkpoint_every=4, log_every=2, clip_norm=1.0, progress=False, log_format=fmt
    )
    Trainer(model, opt, cfg, schedule=sched, out_dir=out).fit(src, src, resume=resume)
    return model


@pytest.mark.parametrize("stop_at", [5, 21, 23])
def test_stopping_and_resuming_gives_bit_identical_weights(tmp_path, stop_at):
    straight = _run(tmp_path / "a")
    _run(tmp_path / "b", max_steps=stop_at)
    resumed = _run(tmp_path / "b", resume=True)
    for k, v in straight.params.items():
        assert np.array_equal(v, resumed.params[k]), k
    steps = [json.loads(s)["step"] for s in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert steps == sorted(steps)  # no record repeated by the resume


def test_resume_refuses_a_checkpoint_of_another_model(tmp_path):
    _run(tmp_path, max_steps=4)
    model = lm(hidden_size=6)
    opt = rnnkit.Adam(model.params, model.grads)
    with pytest.raises(CheckpointError, match="hidden_size"):
        Trainer(model, opt, TrainerConfig(progress=False), out_dir=tmp_path).fit(
            StreamBatches(streams(corpus(600), 4), 7), resume=True
        )


def test_csv_log(tmp_path):
    _run(tmp_path, max_steps=6, fmt="csv")
    lines = (tmp_path / "log.csv").read_text().splitlines()
    assert lines[0].startswith("kind,epoch,step,loss,ppl") and len(lines) >= 4


SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    sys.path[:0] = [{here!r}, {tests!r}]  # this test's folder, and tests/ for helpers
    import rnnkit
    from test_trainer import lm, corpus, streams
    from rnnkit.batches import StreamBatches
    from rnnkit.trainer import Trainer, TrainerConfig
    model = lm(dropout=0.3, recurrent_dropout=0.2, variational=True)
    slow = model.train_step
    def train_step(batch, state):
        time.sleep(float(sys.argv[2]))
        return slow(batch, state)
    model.train_step = train_step
    opt = rnnkit.Adam(model.params, model.grads, lr=0.01)
    cfg = TrainerConfig(epochs=2, checkpoint_every=3, clip_norm=1.0, progress=False)
    Trainer(model, opt, cfg, out_dir=sys.argv[1]).fit(StreamBatches(streams(corpus(900), 4), 9),
                                                      resume=sys.argv[3] == "resume")
    np.save(sys.argv[1] + "/final.npy", np.concatenate([v.ravel() for v in model.params.values()]))
""")


def test_a_killed_run_resumes_to_the_same_weights(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT.format(here=os.path.dirname(os.path.abspath(__file__)), tests=str(ROOT / "tests")))
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(rnnkit.__file__))))
    run = lambda out, pause, mode: subprocess.Popen([sys.executable, str(script), str(out), pause, mode], env=env)
    assert run(tmp_path / "straight", "0", "fresh").wait(timeout=120) == 0
    victim = run(tmp_path / "killed", "0.03", "fresh")
    deadline = time.time() + 60
    latest = tmp_path / "killed" / "checkpoints" / "latest"
    while time.time() < deadline and not latest.exists():
        time.sleep(0.01)
    time.sleep(0.2)  # a few more steps: die between checkpoints
    os.kill(victim.pid, signal.SIGKILL)
    assert victim.wait(timeout=30) == -signal.SIGKILL
    step = load_checkpoint(tmp_path / "killed" / "checkpoints").trainer_state["step"]
    assert 0 < step < 2 * 25  # killed mid-run
    assert run(tmp_path / "killed", "0", "resume").wait(timeout=120) == 0
    assert np.array_equal(np.load(tmp_path / "straight" / "final.npy"), np.load(tmp_path / "killed" / "final.npy"))


def test_only_the_main_process_writes_logs_and_checkpoints(tmp_path):
    model = lm()
    trainer = Trainer(
        model, rnnkit.SGD(model.params, model.grads, lr=0.1), TrainerConfig(epochs=1, progress=False), out_dir=tmp_path
    )
    trainer.is_main = False
    calls = []
    trainer.reduce_gradients = lambda grads: calls.append(sorted(grads))
    trainer.fit(StreamBatches(streams(corpus(300), 4), 10))
    assert not (tmp_path / "log.jsonl").exists() and not (tmp_path / "checkpoints").exists()
    assert len(calls) == len(StreamBatches(streams(corpus(300), 4), 10)) and calls[0] == sorted(model.params)
