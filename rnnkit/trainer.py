"""The training loop every rnnkit model uses: steps, clipping, evaluation, logs, checkpoints, resume.

The Trainer knows nothing about what a model computes. A model takes part by
offering three methods (besides being a :class:`rnnkit.Module`), the
:class:`rnnkit.protocols.TrainableModel` protocol; models import
``StepResult`` from :mod:`rnnkit.protocols` (it is re-exported here), never
from this module:

    initial_state(batch) -> state or None     # None: the model's own zeros
    train_step(batch, state) -> StepResult     # forward AND backward; adds into model.grads
    eval_step(batch, state) -> StepResult      # forward only (the Trainer wraps it in no_grad)
    config() -> dict                           # JSON-serialisable, saved with every checkpoint

``StepResult(loss_sum, count, state)`` gives the *summed* loss over ``count``
predictions (tokens, sequences), so means and perplexities are exact over
batches of any size, and the state to carry into the next batch when the
batch source is stateful (truncated BPTT over a stream). A state is None,
an array, or a tuple/list of them, nested; its values are plain arrays (there
is no graph to detach in rnnkit).

Data comes from a *batch source* (:mod:`rnnkit.batches`): ``len(source)``
batches per epoch, ``source.batch(epoch, index)`` deterministic. The
position of a run is therefore (epoch, index), and a checkpoint holds
everything else that decides the future: weights, optimiser and schedule
state, every random generator of the model (dropout masks), the carried
recurrent state, early-stopping counters. ``fit(..., resume=True)``
continues a killed run from its last checkpoint, and with the same seed and
data the final weights are bit-identical to those of a run never interrupted.
Checkpoints are written every ``checkpoint_every`` updates and/or every
``checkpoint_minutes`` of wall-clock time (else at each epoch's end);
setting ``trainer.stop_requested`` (a signal handler does, in
:mod:`rnnkit.runs.control`) ends ``fit`` after the update in progress with a
checkpoint of that position and ``result.interrupted`` True.

One update is: ``zero_grad``, ``train_step``, a finiteness check of the loss
and of every gradient (the global gradient norm, which is finite exactly when
every gradient is), global-norm clipping (the norm *before* clipping is logged
as ``grad_norm``; the clipping factor is handed to ``optimizer.step(grad_scale=)``,
which folds it into the update) and/or clipping by value, ``optimizer.step()``,
and a check of every weight after it (finite, and its sum of squares finite in
its dtype, see ``_nonfinite_after_update``; SGD's compiled update computes those
sums on the way) and of the optimiser's buffers. A
failed check raises :class:`TrainingError`, one line naming the step and the
parameter (``on_nonfinite="raise"``, or its synonym ``"stop"``), unless
``on_nonfinite="skip"``, which drops that update and counts it: a bad loss or
gradient is never applied, and a bad update is undone (weights and optimiser
state restored to what they were before it).

A log whose last line was torn by a kill during an append (no newline, not
parsable) does not block ``resume``: that line is dropped with a warning.

Logs are one JSON object per line (``log.jsonl``) or CSV rows (``log.csv``)
in ``out_dir``: ``{"kind": "train"|"eval", "epoch", "step", "loss", "ppl",
"lr", "grad_norm", "tokens_per_s", "seconds"}``. A progress bar (tqdm, when
installed) shows loss, perplexity and tokens per second.

Hooks for data-parallel training (:mod:`rnnkit.distributed` overrides them;
on one process each does nothing): ``reduce_step`` averages the gradients and
sums the loss between ``train_step`` and the finiteness check, so every rank
sees the same numbers and makes the same skip decision; ``agree`` turns a
rank's decision (the time budget) into rank 0's; ``reduce_sums`` adds the
evaluation's loss sum and count over the ranks' shards; ``after_update``
runs after each update (weight checksums); ``checkpoint_extras`` and
``restore_extras`` put each rank's own state (random generators, carried
recurrent state) into the checkpoint that only rank 0 (``is_main``) writes.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit._validate import check_choice
from rnnkit.checkpoint import flatten_state, latest_checkpoint, load_checkpoint, save_checkpoint, unflatten_state
from rnnkit.clip import clip_coefficient, clip_grad_value, global_norm
from rnnkit.grad_mode import no_grad
from rnnkit.io import CheckpointError, atomic_write
from rnnkit.optim import Optimizer
from rnnkit.protocols import BatchSource, StepResult, TrainableModel

log = logging.getLogger(__name__)

# StepResult lives in rnnkit.protocols (models import it from there); re-exported here for old imports
__all__ = ["Trainer", "TrainerConfig", "TrainResult", "TrainingError", "StepResult"]


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss or gradient); the message names the step and the parameter."""


@dataclass(frozen=True)
class TrainerConfig:
    """How to train. Every field is validated; ``None`` switches a feature off."""

    epochs: int = 1
    max_steps: int | None = None  # stop after this many updates in all
    max_minutes: float | None = None  # wall-clock budget, checked between updates
    clip_norm: float | None = None  # global-norm clipping (Pascanu et al. 2013)
    clip_value: float | None = None  # element-wise clipping, after the norm
    log_every: int = 100  # updates between train log records
    eval_every: int | None = None  # updates between evaluations; None: at each epoch's end
    checkpoint_every: int | None = None  # updates between checkpoints; None: at each epoch's end
    checkpoint_minutes: float | None = None  # also checkpoint when this much wall-clock time passed since the last
    patience: int | None = None  # early stopping: evaluations without improvement
    min_delta: float = 0.0  # improvement smaller than this does not count
    on_nonfinite: str = "raise"  # "raise" (or its synonym "stop": TrainingError) or "skip" the update
    log_format: str = "jsonl"  # "jsonl" or "csv"
    progress: bool = True  # progress bar on stderr
    keep_checkpoints: int = 2

    def __post_init__(self):
        where = "TrainerConfig"
        ints = {
            "epochs": 1,
            "max_steps": 1,
            "log_every": 1,
            "eval_every": 1,
            "checkpoint_every": 1,
            "patience": 1,
            "keep_checkpoints": 1,
        }
        for name, low in ints.items():
            v = getattr(self, name)
            if v is None and name not in ("epochs", "log_every", "keep_checkpoints"):
                continue
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"{where}: {name} must be an int >= {low}, got {v!r}")
        for name in ("max_minutes", "checkpoint_minutes", "clip_norm", "clip_value"):
            v = getattr(self, name)
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or not math.isfinite(v)
            ):
                raise ValueError(f"{where}: {name} must be a positive number or None, got {v!r}")
        if isinstance(self.min_delta, bool) or not isinstance(self.min_delta, (int, float)) or self.min_delta < 0:
            raise ValueError(f"{where}: min_delta must be >= 0, got {self.min_delta!r}")
        check_choice(where, "on_nonfinite", self.on_nonfinite, ("raise", "stop", "skip"))
        check_choice(where, "log_format", self.log_format, ("jsonl", "csv"))


@dataclass
class TrainResult:
    steps: int
    epochs_completed: int
    best_eval_loss: float | None
    stopped_early: bool
    skipped_steps: int
    history: list = field(default_factory=list)  # the log records of this call
    interrupted: bool = False  # fit() ended early because stop_requested was set


class _NoBar:
    def __init__(self, total: int | None, initial: int, desc: str) -> None:
        pass

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(enabled, total, initial, desc):
    if enabled:
        try:
            from tqdm.auto import tqdm

            return tqdm(total=total, initial=initial, desc=desc, leave=False, dynamic_ncols=True)
        except ImportError:  # tqdm is optional: without it, log lines only
            pass
    return _NoBar(total, initial, desc)


class Trainer:
    """Train ``model`` with ``optimizer`` on a batch source; see the module docstring.

    ``schedule`` is an :mod:`rnnkit.schedules` object: ``ReduceLROnPlateau``
    steps on each evaluation's loss, the others once per epoch. ``out_dir``
    (optional) receives the log and the checkpoints (``out_dir/checkpoints``).

    Example
    -------
    >>> import numpy as np, rnnkit
    >>> from rnnkit.batches import ArrayBatches
    >>> class Mean(rnnkit.Module):                      # fits one number to data: loss = sum (w - y)^2
    ...     def __init__(self):
    ...         super().__init__(); self.register_parameter("w", np.zeros(1))
    ...     def initial_state(self, batch): return None
    ...     def train_step(self, batch, state):
    ...         (y,) = batch; r = self.params["w"] - y
    ...         self.grads["w"] += 2 * r.sum(keepdims=True); return StepResult(float((r ** 2).sum()), len(y))
    ...     def eval_step(self, batch, state):
    ...         (y,) = batch; return StepResult(float(((self.params["w"] - y) ** 2).sum()), len(y))
    ...     def config(self): return {"kind": "mean"}
    >>> model = Mean()
    >>> data = ArrayBatches(np.full(64, 3.0), batch_size=8)
    >>> result = Trainer(model, rnnkit.SGD(model.params, model.grads, lr=0.01),
    ...                  TrainerConfig(epochs=5, progress=False)).fit(data)
    >>> round(float(model.params["w"][0]), 2), result.steps
    (3.0, 40)
    """

    def __init__(
        self,
        model: TrainableModel,
        optimizer: Any,
        config: TrainerConfig | None = None,
        *,
        schedule: Any = None,
        out_dir: str | Path | None = None,
    ) -> None:
        self.model, self.optimizer = model, optimizer
        self.config = config or TrainerConfig()
        if not isinstance(self.config, TrainerConfig):
            raise TypeError(f"Trainer: config must be a TrainerConfig, got {type(self.config).__name__}")
        for name in ("initial_state", "train_step", "eval_step", "config"):
            if not callable(getattr(model, name, None)):
                raise TypeError(f"Trainer: model must have a method {name}(); {type(model).__name__} has none")
        self.schedule = schedule
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.is_main = True
        # Set (by a signal handler, say) to end fit() after the update in progress, with a checkpoint of that
        # position, exactly as a max_steps stop does; fit() then returns with result.interrupted True.
        self.stop_requested = False

    # -- hooks for data-parallel training -------------------------------------------------------------
    def reduce_gradients(self, grads: dict) -> None:
        """Average gradients across processes; on one process, nothing to do (the default ``reduce_step`` calls it)."""

    def reduce_step(self, res: StepResult, grads: dict) -> StepResult:
        """Average ``grads`` in place and return the step's result summed over processes."""
        self.reduce_gradients(grads)
        return res

    def agree(self, flag: bool) -> bool:
        """A decision every process takes together (rank 0's); on one process, ``flag``."""
        return flag

    def reduce_sums(self, total: float, count: int) -> tuple[float, int]:
        """An evaluation's loss sum and count, added over processes; on one process, unchanged."""
        return total, count

    def after_update(self, step: int) -> None:
        """Called after every update (data-parallel runs compare weight checksums here)."""

    def checkpoint_extras(self, carried: Any) -> tuple[dict, dict]:
        """(trainer_state entries, arrays) to save besides the main process's own; a collective call."""
        return {}, {}

    def restore_extras(self, state: dict, arrays: dict, carried: Any) -> Any:
        """Restore what ``checkpoint_extras`` saved; returns the carried state to continue with."""
        return carried

    # -- paths ----------------------------------------------------------------------------------------
    @property
    def checkpoint_dir(self) -> Path | None:
        return None if self.out_dir is None else self.out_dir / "checkpoints"

    @property
    def log_path(self) -> Path | None:
        return None if self.out_dir is None else self.out_dir / f"log.{self.config.log_format}"

    # -- evaluation -----------------------------------------------------------------------------------
    def evaluate(self, data: BatchSource) -> dict:
        """Mean loss (and its perplexity) of the model over every batch of ``data``, in eval mode."""
        was_training = self.model.training
        self.model.eval()
        total, count, state = 0.0, 0, None
        try:
            with no_grad():
                for index in range(len(data)):
                    batch = data.batch(0, index)
                    if index == 0 or not data.stateful:
                        state = self.model.initial_state(batch)
                    res = self.model.eval_step(batch, state)
                    total += float(res.loss_sum)
                    count += int(res.count)
                    state = res.state
        finally:
            self.model.train(was_training)
        total, count = self.reduce_sums(total, count)
        mean = total / max(count, 1)
        return {"loss": mean, "ppl": _ppl(mean), "count": count}

    # -- the loop -------------------------------------------------------------------------------------
    def fit(self, train: BatchSource, valid: BatchSource | None = None, *, resume: bool = False) -> TrainResult:
        """Train on ``train`` (a batch source), evaluating on ``valid``; ``resume`` continues from a checkpoint."""
        cfg = self.config
        if len(train) == 0:
            raise ValueError("Trainer.fit: train must have at least one batch, got 0")
        pos = {"epoch": 0, "index": 0, "step": 0, "best": None, "bad_evals": 0, "skipped": 0, "stopped_early": False}
        carried = None
        if resume:
            carried = self._restore(pos)
        self.model.train()
        history: list = []
        logger = _Log(
            self.log_path if self.is_main else None, cfg.log_format, keep_until_step=pos["step"] if resume else None
        )
        start_time = last_save = time.perf_counter()
        window = _Window()
        interrupted = self.agree(self.stop_requested)  # every process takes the stop decision together
        done = interrupted or pos["stopped_early"] or (cfg.max_steps is not None and pos["step"] >= cfg.max_steps)
        bar = _progress_bar(
            cfg.progress and self.is_main and not done,
            len(train) * cfg.epochs,
            pos["epoch"] * len(train) + pos["index"],
            "train",
        )
        try:
            while not done and pos["epoch"] < cfg.epochs:
                epoch = pos["epoch"]
                while pos["index"] < len(train):
                    index = pos["index"]
                    batch = train.batch(epoch, index)
                    if not train.stateful or index == 0 or carried is None:
                        carried = self.model.initial_state(batch)
                    self.model.zero_grad()
                    res = self.model.train_step(batch, carried)
                    grads = self.model.grads
                    res = self.reduce_step(res, grads)
                    ok, norm, scale = self._check_and_clip(res, grads, pos["step"] + 1)
                    pos["index"] = index + 1
                    if ok:
                        ok = self._update(pos["step"] + 1, scale)
                    if ok:
                        pos["step"] += 1
                        self.after_update(pos["step"])
                        window.add(res, norm)
                    else:
                        pos["skipped"] += 1
                    carried = res.state if train.stateful else None
                    bar.update(1)
                    step = pos["step"]
                    if ok and window.count:
                        bar.set_postfix_str(window.postfix())
                    if ok and step % cfg.log_every == 0:
                        history.append(logger.write(window.record(epoch, step, self.optimizer.lr)))
                        window = _Window()
                    if ok and valid is not None and cfg.eval_every and step % cfg.eval_every == 0:
                        self._evaluate_and_track(valid, pos, history, logger, epoch, per_epoch=False)
                    if ok and (
                        (cfg.checkpoint_every and step % cfg.checkpoint_every == 0)
                        or (cfg.checkpoint_minutes and time.perf_counter() - last_save > 60 * cfg.checkpoint_minutes)
                    ):
                        self._save(pos, carried if pos["index"] < len(train) else None)
                        last_save = time.perf_counter()
                    if (
                        pos["stopped_early"]
                        or (cfg.max_steps is not None and step >= cfg.max_steps)
                        or (
                            cfg.max_minutes is not None
                            and self.agree(time.perf_counter() - start_time > 60 * cfg.max_minutes)
                        )
                        or (interrupted := self.agree(self.stop_requested))  # last: every process gets here
                    ):
                        done = True
                        break
                if pos["index"] >= len(train):  # the epoch is complete
                    if window.count:
                        history.append(logger.write(window.record(epoch, pos["step"], self.optimizer.lr)))
                        window = _Window()
                    if valid is not None and not cfg.eval_every:
                        self._evaluate_and_track(valid, pos, history, logger, epoch, per_epoch=True)
                    if self.schedule is not None and not _is_plateau(self.schedule):
                        self.schedule.step()
                    pos["epoch"], pos["index"] = epoch + 1, 0
                    carried = None
                    if cfg.checkpoint_every is None:
                        self._save(pos, None)
                    done = done or pos["stopped_early"]
            self._save(pos, carried if 0 < pos["index"] < len(train) else None)  # the final position
        finally:
            bar.close()
            logger.close()
        return TrainResult(
            steps=pos["step"],
            epochs_completed=pos["epoch"],
            best_eval_loss=pos["best"],
            stopped_early=pos["stopped_early"],
            skipped_steps=pos["skipped"],
            history=history,
            interrupted=interrupted,
        )

    # -- pieces of the loop ---------------------------------------------------------------------------
    def _check_and_clip(self, res: StepResult, grads: dict, step: int) -> tuple[bool, float, float]:
        """(ok, the global gradient norm before clipping, the factor the optimiser step applies).

        The norm is one BLAS dot per gradient, and it is finite exactly when every gradient is (a
        float32 square that overflows is counted again in float64), so finite gradients cost no pass
        of their own; a non-finite norm is traced to the gradient it comes from. The clipping factor
        goes to ``rnnkit.optim.Optimizer.step(grad_scale=...)``, which folds it into the update
        (one pass fewer over the gradients, the same weights bit for bit); with ``clip_value`` as
        well, or an optimiser of another kind, the gradients are scaled in place first.
        """
        cfg = self.config
        problem = None
        norm = math.nan
        if not math.isfinite(float(res.loss_sum)):
            problem = f"step {step}: the loss is {float(res.loss_sum)}"
        else:
            norm = global_norm(grads)
            if not math.isfinite(norm):
                problem = _nonfinite_gradient(grads, step)  # None: finite float64 gradients beyond ~1e154
        if problem is not None:
            if cfg.on_nonfinite == "raise":
                raise TrainingError(problem + " (TrainerConfig(on_nonfinite='skip') drops such updates)")
            log.warning("%s; update skipped", problem)
            return False, float("nan"), 1.0
        scale = clip_coefficient(norm, cfg.clip_norm) if cfg.clip_norm else 1.0
        if scale < 1.0 and (cfg.clip_value or not isinstance(self.optimizer, Optimizer)):
            for g in grads.values():  # clipped in place, as clip_grad_norm does
                g *= scale
            scale = 1.0
        if cfg.clip_value:
            clip_grad_value(grads, cfg.clip_value)
        return True, norm, scale

    def _update(self, step: int, grad_scale: float = 1.0) -> bool:
        """``optimizer.step()``, then the weights checked; False if the update was undone (on_nonfinite="skip")."""
        skip = self.config.on_nonfinite == "skip"
        before = _snapshot(self.model, self.optimizer) if skip else None
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is found and named just below
            if grad_scale != 1.0:
                self.optimizer.step(grad_scale=grad_scale)
            else:
                self.optimizer.step()
        problem = _nonfinite_after_update(self.model.params, self.optimizer)
        if problem is None:
            return True
        problem = f"step {step}: {problem}"
        if not skip:
            raise TrainingError(problem + " (TrainerConfig(on_nonfinite='skip') drops such updates)")
        _restore_snapshot(self.model, self.optimizer, before)
        log.warning("%s; update undone and skipped", problem)
        return False

    def _evaluate_and_track(self, valid, pos, history, logger, epoch, per_epoch):
        cfg = self.config
        t0 = time.perf_counter()
        result = self.evaluate(valid)
        record = {
            "kind": "eval",
            "epoch": epoch,
            "step": pos["step"],
            "loss": result["loss"],
            "ppl": result["ppl"],
            "lr": self.optimizer.lr,
            "grad_norm": None,
            "tokens_per_s": None,
            "seconds": time.perf_counter() - t0,
        }
        history.append(logger.write(record))
        if self.schedule is not None and _is_plateau(self.schedule):
            self.schedule.step(result["loss"])
        if pos["best"] is None or result["loss"] < pos["best"] - cfg.min_delta:
            pos["best"], pos["bad_evals"] = result["loss"], 0
        else:
            pos["bad_evals"] += 1
            if cfg.patience is not None and pos["bad_evals"] >= cfg.patience:
                pos["stopped_early"] = True
                log.info("early stopping: no improvement in %d evaluations", pos["bad_evals"])

    def _save(self, pos, carried) -> None:
        if self.checkpoint_dir is None:
            return
        where = (pos["epoch"], pos["index"], pos["step"])
        if where == getattr(self, "_saved_at", None):
            return  # this position is saved already
        self._saved_at = where
        extra_state, extra_arrays = self.checkpoint_extras(carried)  # every process takes part
        if not self.is_main:
            return
        structure, arrays = flatten_state(carried)
        arrays.update(extra_arrays)
        trainer_state = dict(pos, carried_state=structure, trainer_config=asdict(self.config), **extra_state)
        if self.schedule is not None:
            trainer_state["schedule"] = self.schedule.state_dict()
        save_checkpoint(
            self.checkpoint_dir,
            model_state=self.model.state_dict(),
            config=self.model.config(),
            optimizer_state=self.optimizer.state_dict(),
            trainer_state=trainer_state,
            rng_states=self.model.generators(),
            arrays=arrays,
            keep=self.config.keep_checkpoints,
        )

    def _restore(self, pos) -> Any:
        if self.checkpoint_dir is None:
            raise ValueError("Trainer.fit: resume=True needs an out_dir holding checkpoints")
        if latest_checkpoint(self.checkpoint_dir) is None:
            log.info("no checkpoint in %s: starting from scratch", self.checkpoint_dir)
            return None
        ckpt = load_checkpoint(self.checkpoint_dir, expected_config=self.model.config())
        ckpt.load_into(self.model)
        ckpt.load_optimizer(self.optimizer)
        state = ckpt.trainer_state or {}
        missing = {"epoch", "index", "step"} - set(state)
        if missing:
            raise CheckpointError(f"{ckpt.path}: trainer_state lacks {sorted(missing)}; not saved by Trainer")
        if self.schedule is not None and "schedule" in state:
            self.schedule.load_state_dict(state["schedule"])
        for name, gen in self.model.generators().items():
            gen.bit_generator.state = ckpt.generator(name).bit_generator.state
        for k in pos:
            if k in state:
                pos[k] = state[k]
        log.info("resumed from %s at epoch %d, batch %d, step %d", ckpt.path, pos["epoch"], pos["index"], pos["step"])
        carried = unflatten_state(state.get("carried_state"), ckpt.arrays or {})
        return self.restore_extras(state, ckpt.arrays or {}, carried)


# -- weights after an update ------------------------------------------------------------------------------
def _nonfinite_after_update(params: dict, optimizer) -> str | None:
    """What is wrong with the weights (or the optimiser's buffers) after an update, or None if nothing is.

    A weight must be finite, and so must its sum of squares in its own dtype:
    weights whose squares overflow (|w| beyond about 1e19 in float32, where an
    Adam step of lr 1e20 lands) have diverged even while finite, and the next
    forward pass, norm or weight decay turns them into inf. One BLAS dot per
    parameter checks both at once.
    """
    sumsq = getattr(optimizer, "weight_sumsq", None)  # computed by the update itself (Optimizer.step)
    with np.errstate(over="ignore", invalid="ignore"):
        for name, p in params.items():
            if sumsq is not None and name in sumsq:
                if sumsq[name] <= np.finfo(p.dtype).max:  # False for inf and NaN too
                    continue
            else:
                flat = p.reshape(-1)
                if math.isfinite(float(np.vdot(flat, flat))):
                    continue
            if not np.isfinite(p).all():
                return f"after the update, {name} is not finite"
            big = float(np.max(np.abs(p)))
            return f"after the update, {name} has diverged (|w| up to {big:.3g}, whose square overflows {p.dtype})"
        state = getattr(optimizer, "state", None)
        if isinstance(state, dict):
            for name, buffers in state.items():
                for buf, a in buffers.items() if isinstance(buffers, dict) else ():
                    if isinstance(a, np.ndarray) and not np.isfinite(a).all():
                        return f"after the update, the optimizer's {buf} of {name} is not finite"
    return None


def _nonfinite_gradient(grads: dict, step: int) -> str | None:
    """The first gradient that is not finite, named, or None (every gradient finite: a float64 sum of squares
    overflowed, which the optimiser step and the weight check after it deal with)."""
    for name, g in grads.items():
        if not np.isfinite(g).all():
            return f"step {step}: the gradient of {name} is not finite"
    return None


def _snapshot(model, optimizer) -> tuple[dict, dict]:
    """Copies of the weights and of the optimiser state, to undo an update."""
    return {k: p.copy() for k, p in model.params.items()}, optimizer.state_dict()


def _restore_snapshot(model, optimizer, snapshot) -> None:
    weights, opt_state = snapshot
    for k, p in model.params.items():
        np.copyto(p, weights[k])
    optimizer.load_state_dict(opt_state)


def _is_plateau(schedule) -> bool:
    return type(schedule).__name__ == "ReduceLROnPlateau"


def _ppl(mean_loss: float) -> float:
    return math.exp(mean_loss) if mean_loss < 700 else float("inf")


class _Window:
    """Running sums of the updates since the last train record."""

    def __init__(self) -> None:
        self.loss = 0.0
        self.count = 0
        self.norm_sum = 0.0
        self.updates = 0
        self.t0 = time.perf_counter()

    def add(self, res: StepResult, norm: float) -> None:
        self.loss += float(res.loss_sum)
        self.count += int(res.count)
        self.norm_sum += norm
        self.updates += 1

    def postfix(self) -> str:
        mean = self.loss / max(self.count, 1)
        rate = self.count / max(time.perf_counter() - self.t0, 1e-9)
        return f"loss {mean:.4f}  ppl {_ppl(mean):.2f}  {rate:,.0f} tok/s"

    def record(self, epoch: int, step: int, lr: float) -> dict:
        mean = self.loss / max(self.count, 1)
        seconds = time.perf_counter() - self.t0
        return {
            "kind": "train",
            "epoch": epoch,
            "step": step,
            "loss": mean,
            "ppl": _ppl(mean),
            "lr": lr,
            "grad_norm": self.norm_sum / max(self.updates, 1),
            "tokens_per_s": self.count / max(seconds, 1e-9),
            "seconds": seconds,
        }


def _parses_as_step(value) -> bool:
    try:
        int(value)
    except (TypeError, ValueError):
        return False
    return True


class _Log:
    """Append-only JSONL/CSV log; on resume, records past the checkpoint's step are dropped first."""

    FIELDS = ["kind", "epoch", "step", "loss", "ppl", "lr", "grad_norm", "tokens_per_s", "seconds"]

    def __init__(self, path: Path | None, fmt: str, keep_until_step: int | None) -> None:
        self.path, self.fmt, self.file = path, fmt, None
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if keep_until_step is not None and path.exists():
            kept = [r for r in self._read(path) if int(r["step"]) <= keep_until_step]
            atomic_write(path, [self._encode_all(kept).encode()])
        elif path.exists():
            path.unlink()
        new = not path.exists()
        self.file = open(path, "a", encoding="utf-8", newline="")
        if new and fmt == "csv":
            self.file.write(",".join(self.FIELDS) + "\n")

    def _read(self, path):
        """The records of the log; a last line torn by an interrupted append is dropped, other damage raised."""
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            lines = f.read().splitlines()
        first = 1 if self.fmt == "csv" else 0  # the CSV header
        numbered = [(n, line) for n, line in enumerate(lines[first:], start=first + 1) if line.strip()]
        records, bad = [], []
        for n, line in numbered:
            record = self._parse(line)
            if record is None:
                bad.append(n)
            else:
                records.append(record)
        if bad and bad != [numbered[-1][0]]:
            raise CheckpointError(f"{path}: line {bad[0]} is not a log record; the log is damaged")
        if bad:
            log.warning("%s: dropping line %d, torn by an interrupted write", path, bad[0])
        return records

    def _parse(self, line: str) -> dict | None:
        """One log line as a record, or None if it is not one (a torn line)."""
        if self.fmt == "jsonl":
            try:
                record = json.loads(line)
            except ValueError:
                return None
        else:
            fields = next(csv.reader([line]))
            record = dict(zip(self.FIELDS, fields)) if len(fields) == len(self.FIELDS) else None
        if not isinstance(record, dict) or not _parses_as_step(record.get("step")):
            return None
        return record

    def _encode_all(self, records) -> str:
        if self.fmt == "jsonl":
            return "".join(json.dumps(r) + "\n" for r in records)
        lines = [",".join(self.FIELDS)] + [",".join(str(r.get(k, "")) for k in self.FIELDS) for r in records]
        return "\n".join(lines) + "\n"

    def write(self, record: dict) -> dict:
        if self.file is not None:
            if self.fmt == "jsonl":
                self.file.write(json.dumps(record) + "\n")
            else:
                self.file.write(
                    ",".join("" if record.get(k) is None else str(record.get(k)) for k in self.FIELDS) + "\n"
                )
            self.file.flush()
        log.debug("%s", record)
        return record

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
