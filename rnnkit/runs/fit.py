"""Training any Trainer-protocol model into a run directory: optimiser, Trainer, final evaluation, plot.

Every kind of run that trains a :class:`rnnkit.protocols.TrainableModel`
(recurrent language models today, encoder-decoder models next) calls
:func:`fit_run` with the model, its batch sources and the run directory; what
differs between kinds (data, model, metric) stays in the kind's own module.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnkit import distributed
from rnnkit.optim import SGD, Adam, Optimizer
from rnnkit.protocols import BatchSource, TrainableModel
from rnnkit.runs.control import RunInterrupted
from rnnkit.runs.control import stop_on_signals as signal_guard
from rnnkit.runs.directory import RunDir
from rnnkit.trainer import TrainerConfig, TrainResult

__all__ = ["OPTIMIZERS", "make_optimizer", "FitResult", "fit_run", "plot_learning_curve"]

log = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "sgd")


def make_optimizer(name: str, model: Any, lr: float) -> Optimizer:
    """The optimiser ``name`` ("adam" or "sgd") over ``model.params`` / ``model.grads``."""
    if name == "adam":
        return Adam(model.params, model.grads, lr=lr)
    if name == "sgd":
        return SGD(model.params, model.grads, lr=lr)
    raise ValueError(f"make_optimizer: name must be one of {OPTIMIZERS}, got {name!r}")


@dataclass
class FitResult:
    """What :func:`fit_run` returns: the Trainer's result, the final evaluation and the full history."""

    result: TrainResult
    final: dict  # Trainer.evaluate on the validation source: {"loss", "ppl", "count"}
    history: list  # the Trainer's records plus the final evaluation
    plot: Path | None  # the learning-curve PNG, None without matplotlib


def fit_run(
    run: RunDir,
    model: TrainableModel,
    optimizer: Optimizer,
    config: TrainerConfig,
    train: BatchSource,
    valid: BatchSource,
    *,
    schedule: Any = None,
    title: str = "",
    resume: bool = False,
    stop_on_signals: bool = True,
    comm: Any = None,
    average: bool = True,
    weight_by_count: bool = False,
    seed: int = 0,
    on_evaluate: Callable[[dict], Any] | None = None,
) -> FitResult:
    """Train ``model`` with the Trainer into ``run`` (log, checkpoints), evaluate on ``valid``, plot the curve.

    ``resume`` continues from the run's last checkpoint (:meth:`rnnkit.trainer.Trainer.fit`).
    ``comm`` (:func:`rnnkit.distributed.init`; None on one process) makes the
    run data-parallel: every rank calls this with the whole sources and trains
    on its shard of each batch; ``average`` (mean, not sum, of the ranks'
    gradients), ``weight_by_count`` (each rank's gradient weighted by its
    step's count, for a mean loss per target token) and ``seed`` (of per-rank
    dropout streams) go to the :class:`rnnkit.distributed.DistributedTrainer`. Only rank 0 writes into
    ``run``; the other ranks' results have ``plot`` None.

    ``on_evaluate(result)``, if given, runs after every evaluation on the
    validation source (those during training and the final one) with the model
    in evaluation mode, which is restored afterwards: a kind of run adds its
    own scores there (an encoder-decoder decodes the validation pairs). It must
    draw no random numbers, so that a resumed run stays bit-identical.

    With ``stop_on_signals``, SIGINT or SIGTERM ends training after the update in
    progress (on every rank together): that position is checkpointed, the curve
    so far plotted, and :class:`rnnkit.runs.control.RunInterrupted` raised (no
    final evaluation).
    """
    trainer = distributed.make_trainer(
        model,
        optimizer,
        config,
        comm=comm,
        schedule=schedule,
        out_dir=run.path,
        average=average,
        weight_by_count=weight_by_count,
        seed=seed,
    )
    if on_evaluate is not None:
        _report_evaluations(trainer, on_evaluate)
    train, valid = distributed.shard_source(trainer, train), distributed.shard_source(trainer, valid)
    guard = signal_guard(trainer) if stop_on_signals else contextlib.nullcontext()
    with guard:
        result = trainer.fit(train, valid if len(valid) else None, resume=resume)
    if result.interrupted:
        if trainer.is_main:
            plot_learning_curve(result.history, run, title, read_log=True)
        raise RunInterrupted(run, result.steps)
    final = trainer.evaluate(valid)  # the combined metric over every rank's shard
    history = result.history + [{"kind": "eval", "step": result.steps, "loss": final["loss"]}]
    plot = plot_learning_curve(history, run, title, read_log=resume) if trainer.is_main else None
    return FitResult(result, final, history, plot)


def _report_evaluations(trainer: Any, on_evaluate: Callable[[dict], Any]) -> None:
    """Make every ``trainer.evaluate`` call ``on_evaluate(result)`` afterwards, in evaluation mode."""
    evaluate = trainer.evaluate

    def evaluate_and_report(data: BatchSource) -> dict:
        result = evaluate(data)
        was_training = trainer.model.training
        trainer.model.eval()
        try:
            on_evaluate(result)
        finally:
            trainer.model.train(was_training)
        return result

    trainer.evaluate = evaluate_and_report


def _logged(run: RunDir) -> list:
    """The records of the run's log.jsonl that parse (a resumed run plots its whole history)."""
    records = []
    try:
        lines = (run.path / "log.jsonl").read_bytes().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return records
    for line in lines:
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(r, dict)
            and r.get("kind") in ("train", "eval")
            and all(isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool) for k in ("step", "loss"))
        ):
            records.append(r)
    return records


def plot_learning_curve(history: list, run: RunDir, title: str, *, read_log: bool = False) -> Path | None:
    """Write train/valid loss against updates as the run's PNG; None (and a log line) without matplotlib.

    With ``read_log`` the records already in the run's log.jsonl are plotted
    too (a resumed run's ``history`` holds only what this call trained).
    """
    if read_log:
        seen = {(r.get("kind"), r.get("step")) for r in history}
        history = [r for r in _logged(run) if (r["kind"], r["step"]) not in seen] + list(history)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed (pip install 'rnnkit[cli]'): no learning-curve plot")
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for kind, style in (("train", "-"), ("eval", "o-")):
        pts = sorted((r["step"], r["loss"]) for r in history if r["kind"] == kind)
        if pts:
            ax.plot(*zip(*pts), style, label="validation" if kind == "eval" else kind)
    ax.set_xlabel("updates")
    ax.set_ylabel("loss (nats per token)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    try:
        return run.write_figure(fig)
    finally:
        plt.close(fig)
