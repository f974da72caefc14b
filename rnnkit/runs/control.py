"""How a training run is started, continued, checkpointed and stopped: shared by every kind of run.

:class:`RunControl` holds what ``rnnkit <kind> train`` is told besides the
model's config (its fields are the flags ``--resume``, ``--overwrite``,
``--init-from``, ``--checkpoint-every``, ``--on-nonfinite``; the CLI builds
them with :func:`rnnkit.cli.common.add_run_flags`). A kind of run calls, in
order:

1. :func:`open_run` (``RunDir`` to write into: a new run, an old one replaced
   with ``overwrite``, or with ``resume`` the existing run after checking that
   its stored config equals the one asked for, naming the first flag that
   differs);
2. :meth:`RunControl.trainer_fields` for the Trainer's checkpoint and
   non-finite settings;
3. :func:`rnnkit.runs.fit.fit_run` with ``control=``: while it trains, SIGINT
   (Ctrl-C) and SIGTERM end training after the update in progress, the
   Trainer checkpoints that position, the learning curve is plotted, and
   :class:`RunInterrupted` is raised; the CLI prints how to resume and exits
   with status 130.

Resuming continues from the last checkpoint, and the final weights equal
those of a run never interrupted, bit for bit (:meth:`rnnkit.trainer.Trainer.fit`).

``--checkpoint-every`` reads ``500`` (every 500 updates) or ``10m`` (every 10
minutes of wall-clock time; ``0.5m`` is thirty seconds); checkpoints are
also written at the end of each epoch when it is given in minutes.

Example
-------
>>> parse_every("500"), parse_every("10m"), parse_every("1.5m")
((500, None), (None, 10.0), (None, 1.5))
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import re
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from rnnkit.checkpoint import latest_checkpoint
from rnnkit.io import CheckpointError
from rnnkit.runs.directory import CONFIG_FILE, RunDir
from rnnkit.trainer import TrainingError  # what a run raises when training cannot go on; the CLI catches it

__all__ = [
    "RunControl",
    "RunInterrupted",
    "parse_every",
    "open_run",
    "stop_on_signals",
    "check_memory",
    "available_memory",
    "sequence_memory",
    "NONFINITE",
    "TrainingError",
]

NONFINITE = ("stop", "skip")
_EVERY = re.compile(r"(?:(\d+)|(\d+(?:\.\d*)?|\.\d+)m)")


def parse_every(text: str) -> tuple[int | None, float | None]:
    """``"500"`` -> (500, None) updates; ``"10m"`` -> (None, 10.0) minutes. ValueError naming the flag otherwise."""
    m = _EVERY.fullmatch(str(text).strip())
    if m and m.group(1) is not None and int(m.group(1)) >= 1:
        return int(m.group(1)), None
    if m and m.group(2) is not None and 0 < float(m.group(2)) < math.inf:
        return None, float(m.group(2))
    raise ValueError(
        f"--checkpoint-every must be a number of updates >= 1 (500) or of minutes > 0 followed by m (10m), got {text!r}"
    )


@dataclass(frozen=True)
class RunControl:
    """What a training command is told besides the model's config; the fields are the flags."""

    resume: bool = field(
        default=False,
        metadata={"help": "Continue the run in --out from its last checkpoint (the same flags as before)."},
    )
    overwrite: bool = field(default=False, metadata={"help": "Replace the run already in --out, if any."})
    init_from: str | None = field(
        default=None,
        metadata={
            "help": "Start from the weights of this run (fine-tuning); its model must have the same shapes.",
            "metavar": "RUN",
            "default_text": "none, fresh weights",
        },
    )
    checkpoint_every: str = field(
        default="10m",
        metadata={
            "help": "Checkpoint every N updates (500) or every N minutes (10m), besides each epoch's end.",
            "metavar": "N|Nm",
        },
    )
    on_nonfinite: str = field(
        default="stop",
        metadata={
            "help": "A non-finite loss, gradient or weight stops training, or its update is skipped.",
            "choices": NONFINITE,
        },
    )

    def __post_init__(self):
        parse_every(self.checkpoint_every)
        if self.on_nonfinite not in NONFINITE:
            raise ValueError(f"--on-nonfinite must be one of {', '.join(NONFINITE)}, got {self.on_nonfinite!r}")
        if self.resume and self.overwrite:
            raise ValueError("--resume and --overwrite exclude each other: continue the run or replace it")
        if self.resume and self.init_from:
            raise ValueError("--resume and --init-from exclude each other: a resumed run has its own weights")

    def trainer_fields(self) -> dict:
        """TrainerConfig fields: checkpoint_every / checkpoint_minutes and on_nonfinite."""
        updates, minutes = parse_every(self.checkpoint_every)
        return {
            "checkpoint_every": updates,
            "checkpoint_minutes": minutes,
            "on_nonfinite": "raise" if self.on_nonfinite == "stop" else "skip",
        }


class RunInterrupted(Exception):
    """Training stopped on SIGINT or SIGTERM after checkpointing; ``run`` is the run directory, ``step`` the update."""

    def __init__(self, run: RunDir, step: int) -> None:
        super().__init__(f"interrupted after update {step}; the checkpoint in {run.path} holds that position")
        self.run, self.step = run, step


# Flags whose value may change when a run is resumed: they do not change what the next update computes.
RESUMABLE_CHANGES = ("epochs", "max_minutes")


def open_run(
    out_dir: str | os.PathLike,
    control: RunControl,
    config: Any,
    *,
    may_change: tuple[str, ...] = RESUMABLE_CHANGES,
    flag_of: Any = None,
) -> tuple[RunDir, bool]:
    """(the run directory to train into, whether it resumes): see the module docstring.

    With ``control.resume`` the directory must hold a run whose run.json (checked
    against the run's manifest) equals ``config`` except for ``may_change``;
    CheckpointError names the first flag that differs (``flag_of(field)``
    spells it, ``--field-name`` by default). Otherwise :meth:`RunDir.create`
    refuses a run that is there, naming --resume and --overwrite, or replaces it
    with ``control.overwrite``.
    """
    flag_of = flag_of or (lambda name: "--" + name.replace("_", "-"))
    if not control.resume:
        try:
            return RunDir.create(out_dir, overwrite=control.overwrite), False
        except FileExistsError as e:
            raise FileExistsError(
                str(e).replace(
                    "pass --overwrite to replace it", "pass --resume to continue it or --overwrite to replace it"
                )
            ) from None
    run = RunDir(out_dir, flag="--out")
    if not (run.path / CONFIG_FILE).exists():
        raise FileNotFoundError(f"--resume: {run.path} holds no run to continue (no {CONFIG_FILE}); drop --resume")
    stored = run.read_raw_config()
    asked = dataclasses.asdict(config)
    for name, value in asked.items():
        if name in may_change:
            continue
        if name not in stored or stored[name] != value or type(stored[name]) is not type(value):
            if name in stored and _same_number(stored[name], value):
                continue
            have = stored.get(name, "nothing")
            raise CheckpointError(
                f"--resume: {flag_of(name)} is {_show(value)} but the run in {run.path} has {_show(have)}; "
                f"repeat the run's flags (see {run.config_path}) or pass --overwrite to start again"
            )
    if latest_checkpoint(run.checkpoint_dir) is None:
        # killed before its first checkpoint: nothing to continue, and a fresh start may not be what the run
        # began as (it may have started from another run's weights)
        raise CheckpointError(f"--resume: the run in {run.path} has no checkpoint yet; start it again with --overwrite")
    if not os.access(run.path, os.W_OK | os.X_OK):
        raise PermissionError(f"--out: {run.path} is not writable")
    return run, True


def _same_number(a: Any, b: Any) -> bool:
    numbers = (int, float)
    return (
        isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool)
    ) and a == b


def _show(value: Any) -> str:
    return (
        "none"
        if value is None
        else str(value).lower()
        if isinstance(value, bool)
        else repr(value)
        if isinstance(value, str)
        else str(value)
    )


@contextlib.contextmanager
def stop_on_signals(target: Any) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM set ``target.stop_requested``; a second signal interrupts at once.

    Outside the main thread (where Python cannot install handlers) nothing is installed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum, frame):
        if getattr(target, "stop_requested", False):
            raise KeyboardInterrupt  # asked twice: stop now, the last checkpoint stands
        target.stop_requested = True

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# -- memory bounds -------------------------------------------------------------------------------------------
def available_memory() -> int:
    """Bytes of memory this process can still expect to get (MemAvailable, else physical memory)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 1 << 40


def check_memory(nbytes: float, what: str, flags: str) -> None:
    """ValueError if ``nbytes`` (an estimate of what ``what`` needs) exceeds the memory available.

    ``flags`` names the flags that set the size (``--hidden-size, --num-layers``).
    """
    free = available_memory()
    if nbytes > free:
        raise ValueError(
            f"{flags}: {what} would need about {_gib(nbytes)} of memory, more than the {_gib(free)} available; "
            "choose smaller sizes"
        )


def sequence_memory(T: int, B: int, D: int, H: int, *, gates: int = 4, layers: int = 1, itemsize: int = 8) -> float:
    """Bytes a recurrent layer's forward and backward over inputs (T, B, D) keep, roughly: the inputs, the
    gate pre-activations and the states of every step, and their gradients, plus the weights (G*H, D + H)."""
    per_step = B * (D + layers * (gates + 3) * H)
    weights = layers * gates * H * (D + H + 2)
    return float(itemsize) * (3 * T * per_step + 4 * weights)


def _gib(n: float) -> str:
    return f"{n / 2**30:.3g} GiB" if n >= 2**30 else f"{n / 2**20:.3g} MiB"
