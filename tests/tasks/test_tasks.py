"""rnnkit.tasks: the generated long-range tasks and the task models (gradients, Trainer protocol, checkpoints)."""

import math

import numpy as np
import pytest

from rnnkit.checkpoint import load_checkpoint
from rnnkit.gradcheck import assert_gradient_close, numerical_gradient
from rnnkit.optim import Adam
from rnnkit.tasks import (
    BASELINE_MSE,
    SequenceClassifier,
    SequenceRegressor,
    TaskModelConfig,
    adding_problem,
    copy_memory,
    copy_memory_baseline,
    parity_task,
    task_model_from_config,
)
from rnnkit.trainer import Trainer, TrainerConfig

# -- copy memory --------------------------------------------------------------------------------------


def test_copy_memory_layout():
    T, K, S, n = 7, 4, 5, 6
    x, y = copy_memory(n, T, np.random.default_rng(0), message_length=K, symbols=S)
    assert x.shape == (T + 2 * K, n, S + 2) and x.dtype == np.float32 and y.dtype == np.int64
    ids = x.argmax(-1)
    np.testing.assert_array_equal(x.sum(-1), 1.0)  # one-hot
    assert np.all((ids[:K] >= 1) & (ids[:K] <= S))  # the message
    np.testing.assert_array_equal(ids[K : K + T - 1], 0)  # blanks
    np.testing.assert_array_equal(ids[K + T - 1], S + 1)  # the delimiter
    np.testing.assert_array_equal(ids[K + T :], 0)
    np.testing.assert_array_equal(y[: T + K], 0)
    np.testing.assert_array_equal(y[T + K :], ids[:K])  # recall the message in order
    x2, y2 = copy_memory(n, T, np.random.default_rng(0), message_length=K, symbols=S)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)


def test_copy_memory_baseline_is_the_memoryless_cross_entropy():
    T, K, S = 30, 10, 8
    # blanks for certain, then a uniform guess among S symbols: K log S over T + 2K steps
    assert copy_memory_baseline(T) == pytest.approx(K * math.log(S) / (T + 2 * K))
    _, y = copy_memory(500, T, np.random.default_rng(1))
    p = np.full((T + 2 * K, 500, S + 1), 1e-300)
    p[: T + K, :, 0] = 1.0
    p[T + K :, :, 1:] = 1.0 / S
    ce = -np.log(np.take_along_axis(p, y[..., None], -1)).mean()
    assert ce == pytest.approx(copy_memory_baseline(T))


def test_copy_memory_errors():
    with pytest.raises(ValueError, match="copy_memory: T must be >= 1, got 0"):
        copy_memory(2, 0, np.random.default_rng(0))
    with pytest.raises(TypeError, match="copy_memory: rng must be a numpy.random.Generator, got int"):
        copy_memory(2, 5, 0)


# -- parity -------------------------------------------------------------------------------------------


def test_parity_and_counting_targets():
    x, y = parity_task(50, 9, np.random.default_rng(2))
    assert x.shape == (9, 50, 1) and y.shape == (50,)
    np.testing.assert_array_equal(y, x[..., 0].sum(0) % 2)
    assert 10 < y.sum() < 40  # both classes occur
    x, y = parity_task(20, 9, np.random.default_rng(2), modulus=3, running=True)
    assert y.shape == (9, 20)
    np.testing.assert_array_equal(y, np.cumsum(x[..., 0], 0).astype(int) % 3)
    with pytest.raises(ValueError, match="parity_task: modulus must be >= 2, got 1"):
        parity_task(2, 3, np.random.default_rng(0), modulus=1)
    with pytest.raises(TypeError, match="running must be a bool"):
        parity_task(2, 3, np.random.default_rng(0), running=1)


# -- models: gradients by finite differences ------------------------------------------------------------


def _check_train_step(model, batch, count_expected):
    """train_step's gradients are those of (summed loss) / count, by finite differences in float64."""
    model.zero_grad()
    res = model.train_step(batch, None)
    assert res.count == count_expected
    mean_loss = res.loss_sum / res.count

    def loss():
        r = model.eval_step(batch, None)
        return r.loss_sum / r.count

    assert loss() == pytest.approx(mean_loss, rel=1e-12)
    for name, p in model.params.items():
        assert_gradient_close(name, model.grads[name], numerical_gradient(loss, p), 1e-6)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm", "mgu"])
def test_regressor_gradients(cell):
    cfg = TaskModelConfig(
        "sequence_regressor",
        input_size=2,
        output_size=1,
        cell=cell,
        hidden_size=3,
        num_layers=2,
        dtype="float64",
        seed=1,
    )
    x, y = adding_problem(4, 6, np.random.default_rng(3), dtype=np.float64)
    _check_train_step(SequenceRegressor(cfg), (x, y), 4)


def test_classifier_gradients_last_step_and_per_step():
    cfg = TaskModelConfig(
        "sequence_classifier", input_size=1, output_size=2, cell="gru", hidden_size=3, dtype="float64"
    )
    x, y = parity_task(5, 6, np.random.default_rng(4), dtype=np.float64)
    _check_train_step(SequenceClassifier(cfg), (x, y), 5)
    cfg = TaskModelConfig(
        "sequence_classifier", input_size=4, output_size=3, cell="lstm", hidden_size=3, per_step=True, dtype="float64"
    )
    x, y = copy_memory(3, 2, np.random.default_rng(5), message_length=2, symbols=2, dtype=np.float64)
    y[0, 1] = -100  # ignored positions do not count
    _check_train_step(SequenceClassifier(cfg), (x, y), y.size - 1)


@pytest.mark.parametrize("kind", ["sequence_regressor", "sequence_classifier"])
def test_last_step_loss_is_each_sequences_loss_and_its_gradient(kind):
    O = 1 if kind == "sequence_regressor" else 3
    model = task_model_from_config(
        {"kind": kind, "input_size": 2, "output_size": O, "hidden_size": 4, "dtype": "float64", "seed": 6}
    )
    rng = np.random.default_rng(7)
    h = rng.normal(size=(5, 4))
    y = rng.normal(size=5) if O == 1 else rng.integers(0, 3, size=5)
    losses, dh = model.last_step_loss(h, y)
    assert losses.shape == (5,)
    num = numerical_gradient(lambda: float(model.last_step_loss(h, y)[0].sum()), h)
    assert_gradient_close("h_T", dh, num, 1e-7)
    # and they agree with the loss the model trains on
    x = rng.normal(size=(3, 5, 2))
    out, _ = model.rnn.forward(x)
    res = model.eval_step((x, y), None)
    assert model.last_step_loss(out[-1], y)[0].sum() == pytest.approx(res.loss_sum, rel=1e-12)


def test_per_step_classifier_has_no_last_step_loss():
    model = SequenceClassifier(TaskModelConfig("sequence_classifier", 2, 3, per_step=True))
    with pytest.raises(ValueError, match="per_step model's loss is spread over every step"):
        model.last_step_loss(np.zeros((1, 32)), np.zeros(1, int))


def test_remember_bias_sets_the_gate_that_keeps_the_state():
    H = 4
    base = {"kind": "sequence_regressor", "input_size": 2, "output_size": 1, "hidden_size": H}
    for cell, block, sign in (("lstm", 1, 1), ("gru", 1, 1), ("mgu", 0, -1)):
        a = task_model_from_config({**base, "cell": cell})
        b = task_model_from_config({**base, "cell": cell, "remember_bias": 2.0})
        diff = b.rnn.params["bias_ih_l0"] - a.rnn.params["bias_ih_l0"]
        np.testing.assert_allclose(diff[block * H : (block + 1) * H], 2.0 * sign)
        assert np.count_nonzero(diff) == H


def test_config_validation():
    with pytest.raises(ValueError, match="TaskModelConfig: cell must be one of"):
        TaskModelConfig("sequence_regressor", 2, 1, cell="elman")
    with pytest.raises(ValueError, match="per_step needs kind='sequence_classifier'"):
        TaskModelConfig("sequence_regressor", 2, 1, per_step=True)
    with pytest.raises(ValueError, match="a classifier needs output_size"):
        TaskModelConfig("sequence_classifier", 2, 1)
    with pytest.raises(ValueError, match="config kind must be one of"):
        task_model_from_config({"kind": "rnnlm"})
    with pytest.raises(ValueError, match=r"unknown config keys \['colour'\]"):
        task_model_from_config({"kind": "sequence_regressor", "input_size": 2, "output_size": 1, "colour": 1})
    with pytest.raises(ValueError, match=r"y must have shape \(4, 1\) or \(4,\), got \(3,\)"):
        SequenceRegressor(TaskModelConfig("sequence_regressor", 2, 1)).train_step(
            (np.zeros((5, 4, 2)), np.zeros(3)), None
        )


# -- training with the Trainer ----------------------------------------------------------------------------


def test_trainer_learns_the_adding_problem_at_a_short_length_and_checkpoints_round_trip(tmp_path):
    from rnnkit.analysis.experiments import TaskBatches

    cfg = TaskModelConfig("sequence_regressor", 2, 1, cell="gru", hidden_size=16, task="adding", length=10)
    model = SequenceRegressor(cfg)
    trainer = Trainer(
        model,
        Adam(model.params, model.grads, lr=1e-2),
        TrainerConfig(epochs=1, max_steps=150, clip_norm=1.0, progress=False),
        out_dir=tmp_path,
    )
    trainer.fit(TaskBatches("adding", 10, 32, 150, seed=0))
    x, y = adding_problem(500, 10, np.random.default_rng(99))
    mse = float(np.mean((model.predict(x)[:, 0] - y) ** 2))
    assert mse < 0.2 * BASELINE_MSE
    ckpt = load_checkpoint(tmp_path / "checkpoints")
    again = task_model_from_config(ckpt.config)
    ckpt.load_into(again)
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    assert ckpt.config["task"] == "adding" and ckpt.config["length"] == 10


def test_task_batches_are_fresh_and_reproducible():
    from rnnkit.analysis.experiments import TaskBatches

    src = TaskBatches("copy", 5, 4, 3, seed=1)
    a, b = src.batch(0, 1), src.batch(0, 1)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(src.batch(0, 0)[1], a[1]) and len(src) == 3 and not src.stateful
    assert not np.array_equal(src.batch(1, 1)[1], a[1])
    with pytest.raises(IndexError, match=r"index must be in \[0, 3\), got 3"):
        src.batch(0, 3)


@pytest.mark.parametrize("modname", ["copy_memory", "parity", "models"])
def test_docstring_examples_run(modname):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"rnnkit.tasks.{modname}"))
    assert result.attempted > 0 and result.failed == 0
