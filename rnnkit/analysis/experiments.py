"""The classic long-range experiments: train each cell on a generated task at several lengths, and a clipping demo.

Each run trains a :mod:`rnnkit.tasks.models` model with
:class:`rnnkit.trainer.Trainer` (Adam, global-norm clipping) on fresh
batches of the task (:class:`TaskBatches`: every batch newly drawn, as in the
original papers, and reproducible from the seed), then scores a fixed test set
of ``test_size`` sequences against the task's memoryless baseline:

========  =================================  ======================  ==========================
task      model                              score                   baseline
========  =================================  ======================  ==========================
adding    SequenceRegressor (MSE)            test MSE                0.1667 (always predict 1)
copy      SequenceClassifier, per step       recall accuracy         1 / 8 (guess a symbol)
parity    SequenceClassifier, last step      accuracy                1 / 2
========  =================================  ======================  ==========================

Example
-------
>>> row = train_task(TaskRun(task="adding", cell="gru", length=10, steps=5, batch_size=8, test_size=16))[1]
>>> row["metric"], round(row["baseline"], 4), row["steps"]
('mse', 0.1667, 5)
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from rnnkit._validate import check_choice, check_positive_int
from rnnkit.cells import registry
from rnnkit.optim import SGD, Adam
from rnnkit.tasks.adding import BASELINE_MSE, adding_problem
from rnnkit.tasks.copy_memory import MESSAGE_LENGTH, SYMBOLS, copy_memory, copy_memory_baseline
from rnnkit.tasks.models import SequenceClassifier, SequenceRegressor, TaskModelConfig
from rnnkit.tasks.parity import parity_task
from rnnkit.trainer import Trainer, TrainerConfig

log = logging.getLogger(__name__)

TASKS = ("adding", "copy", "parity")


def task_data(task: str, n: int, T: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(x (steps, n, D), y) of a task: adding (y (n,)), copy (y (T+20, n)), parity (y (n,))."""
    check_choice("task_data", "task", task, TASKS)
    if task == "adding":
        return adding_problem(n, T, rng)
    if task == "copy":
        return copy_memory(n, T, rng)
    return parity_task(n, T, rng)


def task_model_config(
    task: str,
    cell: str,
    length: int,
    *,
    hidden_size: int = 32,
    num_layers: int = 1,
    remember_bias: float = 0.0,
    seed: int = 0,
) -> TaskModelConfig:
    """The model config of a task: its input size, output size and read-out."""
    check_choice("task_model_config", "task", task, TASKS)
    common = dict(
        cell=cell,
        hidden_size=hidden_size,
        num_layers=num_layers,
        remember_bias=remember_bias,
        seed=seed,
        task=task,
        length=length,
    )
    if task == "adding":
        return TaskModelConfig("sequence_regressor", input_size=2, output_size=1, **common)
    if task == "copy":
        return TaskModelConfig(
            "sequence_classifier", input_size=SYMBOLS + 2, output_size=SYMBOLS + 1, per_step=True, **common
        )
    return TaskModelConfig("sequence_classifier", input_size=1, output_size=2, **common)


def build_task_model(config: TaskModelConfig) -> SequenceRegressor | SequenceClassifier:
    return (SequenceRegressor if config.kind == "sequence_regressor" else SequenceClassifier)(config)


class TaskBatches:
    """A batch source of freshly generated task batches: batch (epoch, index) is drawn from rng([seed, epoch, index]).

    Stateless and deterministic, so a run resumes exactly; ``len`` batches per
    epoch. Implements the batch-source protocol of :mod:`rnnkit.batches`.
    """

    stateful = False

    def __init__(self, task: str, length: int, batch_size: int, batches: int, seed: int = 0) -> None:
        self.task = check_choice("TaskBatches", "task", task, TASKS)
        self.length = check_positive_int("TaskBatches", "length", length)
        self.batch_size = check_positive_int("TaskBatches", "batch_size", batch_size)
        self.batches = check_positive_int("TaskBatches", "batches", batches)
        self.seed = check_positive_int("TaskBatches", "seed", seed, minimum=0)

    def __len__(self) -> int:
        return self.batches

    def batch(self, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < self.batches:
            raise IndexError(f"TaskBatches.batch: index must be in [0, {self.batches}), got {index}")
        rng = np.random.default_rng([self.seed, int(epoch), int(index)])
        return task_data(self.task, self.batch_size, self.length, rng)


def score(model: SequenceRegressor | SequenceClassifier, task: str, x: np.ndarray, y: np.ndarray) -> dict:
    """The task's score of ``model`` on (x, y): {"metric", "value", "baseline", "loss"}."""
    if task == "adding":
        mse = float(np.mean((model.predict(x)[:, 0] - y) ** 2))
        return {"metric": "mse", "value": mse, "baseline": BASELINE_MSE, "loss": mse, "loss_baseline": BASELINE_MSE}
    if task == "copy":
        pred = model.predict(x)  # (T+20, B)
        recall = float(np.mean(pred[-MESSAGE_LENGTH:] == y[-MESSAGE_LENGTH:]))
        res = model.eval_step((x, y), None)
        T = x.shape[0] - 2 * MESSAGE_LENGTH
        return {
            "metric": "recall accuracy",
            "value": recall,
            "baseline": 1.0 / SYMBOLS,
            "loss": res.loss_sum / res.count,
            "loss_baseline": copy_memory_baseline(T),
        }
    acc = float(np.mean(model.predict(x) == y))
    res = model.eval_step((x, y), None)
    return {
        "metric": "accuracy",
        "value": acc,
        "baseline": 0.5,
        "loss": res.loss_sum / res.count,
        "loss_baseline": math.log(2),
    }


@dataclass(frozen=True)
class TaskRun:
    """The settings of one training run."""

    task: str = "adding"
    cell: str = "lstm"
    length: int = 100
    hidden_size: int = 32
    steps: int = 500  # updates
    batch_size: int = 32
    lr: float = 1e-2  # Adam
    clip_norm: float | None = 1.0  # global-norm clipping
    remember_bias: float = 0.0  # see rnnkit.tasks.models
    test_size: int = 1000
    seed: int = 0

    def __post_init__(self):
        check_choice("TaskRun", "task", self.task, TASKS)
        check_choice("TaskRun", "cell", self.cell, registry.names(model_choice=True))
        for name in ("length", "hidden_size", "steps", "batch_size", "test_size"):
            check_positive_int("TaskRun", name, getattr(self, name))
        if self.task == "adding" and self.length < 2:
            raise ValueError(f"TaskRun: length must be >= 2 for the adding problem, got {self.length}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"TaskRun: lr must be a positive number, got {self.lr!r}")


def train_task(
    run: TaskRun, *, out_dir: str | os.PathLike | None = None, progress: bool = False
) -> tuple[SequenceRegressor | SequenceClassifier, dict]:
    """Train one model as ``run`` says; returns (model, row) with the test score and timings.

    ``out_dir``: the Trainer's log and final checkpoint go there (loadable by
    ``rnnkit analyze ... --checkpoint``).
    """
    config = task_model_config(
        run.task, run.cell, run.length, hidden_size=run.hidden_size, remember_bias=run.remember_bias, seed=run.seed
    )
    model = build_task_model(config)
    opt = Adam(model.params, model.grads, lr=run.lr)
    cfg = TrainerConfig(
        epochs=1, max_steps=run.steps, clip_norm=run.clip_norm, log_every=max(1, run.steps // 20), progress=progress
    )
    train = TaskBatches(run.task, run.length, run.batch_size, run.steps, seed=run.seed)
    t0 = time.perf_counter()
    result = Trainer(model, opt, cfg, out_dir=out_dir).fit(train)
    seconds = time.perf_counter() - t0
    x, y = task_data(run.task, run.test_size, run.length, np.random.default_rng([run.seed, 10**6]))
    row = {
        "task": run.task,
        "cell": run.cell,
        "length": run.length,
        **score(model, run.task, x, y),
        "steps": result.steps,
        "seconds": seconds,
    }
    train_log = [h for h in result.history if h["kind"] == "train"]
    row["first_loss"] = train_log[0]["loss"] if train_log else float("nan")
    row["final_loss"] = train_log[-1]["loss"] if train_log else float("nan")
    # the end of the plateau: the first logged update whose training loss is below 0.3 x the memoryless loss
    row["learned_at"] = next((h["step"] for h in train_log if h["loss"] < 0.3 * row["loss_baseline"]), None)
    log.info(
        "%s T=%d %s: %s %.4f (baseline %.4f), %.0f s",
        run.task,
        run.length,
        run.cell,
        row["metric"],
        row["value"],
        row["baseline"],
        seconds,
    )
    return model, row


def length_sweep(
    task: str,
    cells: Sequence[str],
    lengths: ArrayLike,
    *,
    out_dir: str | os.PathLike | None = None,
    progress: bool = False,
    **settings: Any,
) -> list:
    """Train every cell at every length (other ``TaskRun`` fields from ``settings``); returns the rows.

    With ``out_dir``, each run's log and checkpoint go to ``out_dir/{task}-{cell}-T{length}``.
    """
    rows = []
    for T in lengths:
        for cell in cells:
            run = TaskRun(task=task, cell=cell, length=T, **settings)
            sub = None if out_dir is None else f"{out_dir}/{task}-{cell}-T{T}"
            rows.append(train_task(run, out_dir=sub, progress=progress)[1])
    return rows


def format_table(rows: list) -> str:
    """A Markdown table of a sweep: one row per (length, cell).

    Train losses are means over the first and the last logging window (5% of
    the updates each); "train loss < 0.3 x memoryless at update" is the first
    logged update whose training loss fell below 0.3 times the loss of the
    memoryless strategy (the end of the plateau), or "never".
    """
    if not rows:
        return ""
    metric = rows[0]["metric"]
    head = (
        f"| T | cell | test {metric} | baseline | first train loss | final train loss | "
        "train loss < 0.3 x memoryless at update | updates | seconds |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        learned = "never" if r.get("learned_at") is None else str(r["learned_at"])
        lines.append(
            f"| {r['length']} | {r['cell']} | {r['value']:.4f} | {r['baseline']:.4f} | "
            f"{r['first_loss']:.4f} | {r['final_loss']:.4f} | {learned} | {r['steps']} | {r['seconds']:.0f} |"
        )
    return "\n".join(lines)


def clipping_demo(
    *,
    length: int = 50,
    hidden_size: int = 32,
    sigma: float = 2.0,
    steps: int = 300,
    lr: float = 0.1,
    batch_size: int = 32,
    clip_norm: float = 1.0,
    seed: int = 0,
) -> dict:
    """A tanh RNN whose W_hh has largest singular value ``sigma``, trained by plain SGD on the adding problem.

    The same start, data and learning rate, once without and once with
    global-norm clipping at ``clip_norm`` (Pascanu et al. 2013). Returns label ->
    {"step", "loss", "grad_norm" (before clipping), "skipped"}, one entry per
    update made. Once the loss or a gradient overflows, an update is skipped
    (and counted in "skipped") instead of stopping the run; overflow is the
    point of the demo, so it raises no warning.
    """
    runs = {}
    trainer_log = logging.getLogger("rnnkit.trainer")
    level = trainer_log.level
    for label, clip in (("no clipping", None), (f"clipped at {clip_norm:g}", clip_norm)):
        config = task_model_config("adding", "rnn", length, hidden_size=hidden_size, seed=seed)
        model = build_task_model(config)
        w = model.rnn.params["weight_hh_l0"]
        w *= sigma / np.linalg.svd(w.astype(np.float64), compute_uv=False)[0]
        opt = SGD(model.params, model.grads, lr=lr)
        cfg = TrainerConfig(epochs=1, max_steps=steps, clip_norm=clip, log_every=1, progress=False, on_nonfinite="skip")
        trainer_log.setLevel(logging.ERROR)  # one "update skipped" line per overflowing batch: too many
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                res = Trainer(model, opt, cfg).fit(TaskBatches("adding", length, batch_size, steps, seed=seed))
        finally:
            trainer_log.setLevel(level)
        hist = [h for h in res.history if h["kind"] == "train"]
        runs[label] = {
            "step": np.array([h["step"] for h in hist]),
            "loss": np.array([h["loss"] for h in hist]),
            "grad_norm": np.array([h["grad_norm"] for h in hist]),
            "skipped": res.skipped_steps,
        }
    return runs


__all__ = [
    "TASKS",
    "TaskRun",
    "TaskBatches",
    "task_data",
    "task_model_config",
    "build_task_model",
    "score",
    "train_task",
    "length_sweep",
    "format_table",
    "clipping_demo",
]
