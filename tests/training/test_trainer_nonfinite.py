"""The Trainer checks the weights after every update (as well as the loss and gradients before it), and a
torn last log line does not block resume."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import rnnkit
from rnnkit.batches import ArrayBatches, StreamBatches
from rnnkit.io import CheckpointError
from rnnkit.lm.rnnlm import RNNLM, RNNLMConfig
from rnnkit.trainer import StepResult, Trainer, TrainerConfig, TrainingError


def _lm():
    return RNNLM(RNNLMConfig(vocab_size=11, cell="lstm", embedding_size=8, hidden_size=8, num_layers=1, seed=0))


def _stream():
    ids = np.random.default_rng(0).integers(0, 11, size=800)
    return StreamBatches(ids[:800].reshape(8, 100).T.copy(), 10)


@pytest.mark.parametrize(
    "make_opt", [lambda m: rnnkit.SGD(m.params, m.grads, lr=1e30), lambda m: rnnkit.Adam(m.params, m.grads, lr=1e20)]
)
@pytest.mark.parametrize("mode", ["raise", "stop"])
def test_a_diverging_update_is_reported_with_the_step_and_the_parameter(make_opt, mode):
    model = _lm()
    opt = make_opt(model)
    with pytest.raises(TrainingError) as err:
        Trainer(model, opt, TrainerConfig(progress=False, on_nonfinite=mode)).fit(_stream())
    msg = str(err.value)
    assert "\n" not in msg
    assert re.match(r"step 1: after the update, [\w.]+ (is not finite|has diverged)", msg), msg
    name = msg.split("after the update, ")[1].split(" ")[0]
    assert name in model.params


class Spiky(rnnkit.Module):
    """One weight; the gradient is 0.1 (+ a little per call) except at chosen calls, where it is `spike`."""

    def __init__(self, spikes: dict):
        super().__init__()
        self.register_parameter("w", np.ones(3))
        self.spikes, self.calls = spikes, 0

    def initial_state(self, batch):
        return None

    def train_step(self, batch, state):
        self.calls += 1
        self.grads["w"] += self.spikes.get(self.calls, 0.1 + 0.01 * self.calls)
        return StepResult(1.0, 1)

    def eval_step(self, batch, state):
        return StepResult(1.0, 1)

    def config(self):
        return {"kind": "spiky"}


@pytest.mark.parametrize(
    "opt_name,spike",
    [("SGD", 1e300), ("Adam", 1e300), ("RMSprop", 1e300)],  # SGD: w overflows; Adam/RMSprop: g^2 overflows their state
)
def test_skip_undoes_a_bad_update_exactly(opt_name, spike):
    """A bad update undone leaves the run where a run that never took that update is (nan gradient: never applied)."""
    src = ArrayBatches(np.zeros(10), batch_size=1, shuffle=False)
    cls = getattr(rnnkit, opt_name)
    lr = 10.0 if opt_name == "SGD" else 0.1
    runs = []
    for bad in (spike, np.nan):
        model = Spiky({4: bad})
        opt = cls(model.params, model.grads, lr=lr)
        result = Trainer(model, opt, TrainerConfig(on_nonfinite="skip", progress=False)).fit(src)
        assert result.skipped_steps == 1 and result.steps == 9
        runs.append((model.params["w"].copy(), opt.state_dict()))
    (w_a, st_a), (w_b, st_b) = runs
    np.testing.assert_array_equal(w_a, w_b)
    assert st_a["meta"] == st_b["meta"]
    for k in st_a["arrays"]:
        np.testing.assert_array_equal(st_a["arrays"][k], st_b["arrays"][k])
    assert np.isfinite(w_a).all()


def test_raise_names_the_step_of_the_bad_update():
    src = ArrayBatches(np.zeros(10), batch_size=1, shuffle=False)
    model = Spiky({4: 1e300})
    opt = rnnkit.SGD(model.params, model.grads, lr=1e10)  # w - 1e310: inf
    with pytest.raises(TrainingError, match=r"^step 4: after the update, w is not finite"):
        Trainer(model, opt, TrainerConfig(progress=False)).fit(src)
    model = Spiky({4: 1e300})
    opt = rnnkit.Adam(model.params, model.grads, lr=0.1)
    with pytest.raises(
        TrainingError, match=r"^step 4: after the update, the optimizer's exp_avg_sq of w is not finite"
    ):
        Trainer(model, opt, TrainerConfig(progress=False)).fit(src)


# -- a torn last line of the log ----------------------------------------------------------------------------


def _train(tmp_path, epochs, resume, fmt):
    model = _lm()
    opt = rnnkit.Adam(model.params, model.grads, lr=0.01)
    cfg = TrainerConfig(epochs=epochs, log_every=3, progress=False, log_format=fmt)
    Trainer(model, opt, cfg, out_dir=tmp_path).fit(_stream(), resume=resume)
    return model


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_torn_last_log_line_does_not_block_resume(tmp_path, fmt, caplog):
    whole = _train(tmp_path / "whole", 2, False, fmt)
    run = tmp_path / "run"
    _train(run, 1, False, fmt)
    log_path = run / f"log.{fmt}"
    text = log_path.read_text()
    last = text.splitlines()[-1]
    log_path.write_text(text + last[: len(last) // 2])  # an append killed half-way
    resumed = _train(run, 2, True, fmt)
    for k, v in whole.params.items():
        np.testing.assert_array_equal(resumed.params[k], v, err_msg=k)
    assert "torn by an interrupted write" in caplog.text
    lines = log_path.read_text().splitlines()
    if fmt == "jsonl":
        records = [json.loads(line) for line in lines]
    else:
        assert lines[0].startswith("kind,epoch,step")
        records = [dict(zip(lines[0].split(","), line.split(","))) for line in lines[1:]]
        assert all(len(line.split(",")) == len(lines[0].split(",")) for line in lines)
    steps = [int(r["step"]) for r in records if r["kind"] == "train"]
    assert steps == sorted(steps) and steps[-1] == 2 * len(_stream())


def test_a_damaged_line_inside_the_log_is_an_error_naming_the_file_and_line(tmp_path):
    run = tmp_path / "run"
    _train(run, 1, False, "jsonl")
    log_path = run / "log.jsonl"
    lines = log_path.read_text().splitlines()
    lines[1] = lines[1][:10]
    log_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CheckpointError, match=re.escape(f"{log_path}: line 2 is not a log record")):
        _train(run, 2, True, "jsonl")
