"""The Trainer's stop request (what SIGINT/SIGTERM set), time-based checkpoints, and logs damaged by a kill."""

import json

import numpy as np
import pytest
from test_trainer import corpus, lm, streams

import rnnkit
from rnnkit.batches import StreamBatches
from rnnkit.checkpoint import load_checkpoint
from rnnkit.io import CheckpointError
from rnnkit.trainer import Trainer, TrainerConfig


def _fit(out, *, stop_after=None, resume=False, **cfg):
    model = lm(dropout=0.3)
    opt = rnnkit.Adam(model.params, model.grads, lr=0.01)
    src = StreamBatches(streams(corpus(500), 4), 7)
    trainer = Trainer(model, opt, TrainerConfig(epochs=2, log_every=2, progress=False, **cfg), out_dir=out)
    if stop_after is not None:  # ask to stop while update number stop_after is computed
        step = model.train_step
        calls = []

        def train_step(batch, state):
            calls.append(1)
            if len(calls) == stop_after:
                trainer.stop_requested = True
            return step(batch, state)

        model.train_step = train_step
    return model, trainer.fit(src, src, resume=resume)


def test_a_stop_request_ends_after_the_update_checkpointed_and_resumes_bit_identically(tmp_path):
    straight, _ = _fit(tmp_path / "a")
    _, result = _fit(tmp_path / "b", stop_after=9)
    assert result.interrupted and result.steps == 9
    assert load_checkpoint(tmp_path / "b" / "checkpoints").trainer_state["step"] == 9
    resumed, result = _fit(tmp_path / "b", resume=True)
    assert not result.interrupted
    for k, v in straight.params.items():
        assert np.array_equal(v, resumed.params[k]), k


def test_checkpoint_minutes_saves_during_the_epoch(tmp_path):
    _, result = _fit(tmp_path, checkpoint_minutes=1e-9, keep_checkpoints=100)  # every update is "late"
    kept = list((tmp_path / "checkpoints").glob("ckpt-*"))
    assert len(kept) >= result.steps  # one per update (and the epoch ends)


def test_a_torn_last_log_line_is_dropped_and_a_damaged_one_refused_on_resume(tmp_path):
    straight, _ = _fit(tmp_path / "a")
    _fit(tmp_path / "b", max_steps=10)
    log = tmp_path / "b" / "log.jsonl"
    good = log.read_bytes()
    log.write_bytes(good + b'{"kind": "train", "ep')  # an append cut short by a kill
    resumed, _ = _fit(tmp_path / "b", resume=True)
    records = [json.loads(s) for s in log.read_text().splitlines()]
    assert [r["step"] for r in records] == sorted(r["step"] for r in records)
    for k, v in straight.params.items():
        assert np.array_equal(v, resumed.params[k]), k
    _fit(tmp_path / "c", max_steps=10)
    log = tmp_path / "c" / "log.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text(lines[0].replace("{", "[", 1) + "".join(lines[1:]))  # damage inside the log
    with pytest.raises(CheckpointError, match="line 1 is not a log record"):
        _fit(tmp_path / "c", resume=True)
