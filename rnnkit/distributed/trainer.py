"""The Trainer, data-parallel: the same loop on every rank, with the hooks that keep the ranks in step.

Every rank holds the whole model and trains on its shard of every batch
(:class:`rnnkit.distributed.shard.ShardedSource`). Per step::

    rank r:  g_r = grad of the mean loss of shard r          (train_step, local)
    all:     g   = (1/p) sum_r g_r                           (GradientBuckets: bucketed Iallreduce)
             L, n = sum_r L_r, sum_r n_r                      (the step's loss sum and count, float64)
             same finiteness check, clipping, optimiser step  (identical inputs -> identical weights)

With ``weight_by_count`` the ranks' gradients are weighted by their step's
count n_r (``StepResult.count``: target tokens, say) instead of equally::

    g = sum_r (n_r / n) g_r,   n = sum_r n_r                 (rank r sends n_r g_r; all divide the sum by n)

which is the gradient of the combined batch's mean loss per count whatever
the shards hold: pairs of different target lengths give shards of different
token counts, and the plain average (1/p) sum_r g_r would weigh a token of a
short shard more than one of a long shard. n travels with the loss sum in the
same reduction (no extra message), and the shards need not be equal
(:class:`~rnnkit.distributed.shard.ShardedSource` with ``even=False``: a
ragged last batch is split as evenly as it goes, a rank may get no rows).

What could make ranks disagree is decided together: the time budget is
rank 0's clock, broadcast each step (:meth:`agree`); the non-finite skip is
taken on the reduced loss and gradients, the same on every rank; evaluation
adds loss sums and counts over the ranks' shards of the validation data, so
early stopping and plateau schedules see the combined metric. Every
``check_every`` updates the ranks compare a checksum of their weights and all
raise :class:`DivergenceError` if any differs.

Checkpoints: rank 0 writes them (atomically, as the Trainer always does);
each rank's random generator states and carried recurrent state are
gathered into it (``trainer_state["ranks"][r]`` and arrays ``rank{r}.state...``),
and on resume every rank reads the same checkpoint and takes back its own.
A resume needs the same number of processes.

Every collective call runs inside :class:`rnnkit.distributed.comm.abort_on_error`,
so an exception on one rank ends the job instead of leaving the others waiting.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.checkpoint import flatten_state, latest_checkpoint, unflatten_state
from rnnkit.distributed.buckets import GradientBuckets, weights_checksum
from rnnkit.distributed.comm import Communicator, abort_on_error
from rnnkit.distributed.shard import ShardedGenerator, ShardedSource, ShardInfo
from rnnkit.optim import Optimizer
from rnnkit.protocols import BatchSource, StepResult, TrainableModel
from rnnkit.schedules import LRSchedule
from rnnkit.trainer import Trainer, TrainerConfig, TrainResult

log = logging.getLogger(__name__)

MASKS = ("global", "local")


class DivergenceError(RuntimeError):
    """The ranks' weights differ: the run can no longer be trusted. The message names the step and the ranks."""


class DistributedTrainer(Trainer):
    """:class:`rnnkit.trainer.Trainer` on every rank of ``comm``; see the module docstring.

    ``check_every``: updates between weight checksums (None: never).
    ``bucket_bytes``: the size of one allreduce bucket. ``overlap``: launch
    a bucket as soon as its layers' backward has returned (each top-level
    submodule's backward must run once per step; checked on the first step,
    which runs without overlap). ``masks``: "global" (each rank's dropout masks
    are its rows of the combined batch's masks: the run equals one process on
    the combined batch) or "local" (each rank draws its own masks from streams
    spawned from ``seed`` and its rank: fewer random numbers, no equivalence).
    ``average``: mean of the ranks' gradients (False: their sum, for summed objectives).
    ``weight_by_count``: weigh each rank's gradient by its step's count over the
    count summed over ranks (see the module docstring); for a model whose
    ``train_step`` takes the gradient of its mean loss per count (an
    encoder-decoder's per target token). Needs ``average`` and excludes
    ``overlap`` (a bucket cannot leave before the count is known); the shards
    of a batch may then differ in size.
    """

    def __init__(
        self,
        model: TrainableModel,
        optimizer: Optimizer,
        config: TrainerConfig | None = None,
        *,
        comm: Communicator,
        schedule: LRSchedule | None = None,
        out_dir: str | os.PathLike | None = None,
        check_every: int | None = 100,
        bucket_bytes: int = 4 << 20,
        overlap: bool = False,
        masks: str = "global",
        average: bool = True,
        weight_by_count: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__(model, optimizer, config, schedule=schedule, out_dir=out_dir)
        if weight_by_count and (overlap or not average):
            raise ValueError(
                "DistributedTrainer: weight_by_count needs average=True and overlap=False, "
                f"got average={average!r}, overlap={overlap!r}"
            )
        if masks not in MASKS:
            raise ValueError(f"DistributedTrainer: masks must be one of {MASKS}, got {masks!r}")
        if check_every is not None and (not isinstance(check_every, int) or check_every < 1):
            raise ValueError(f"DistributedTrainer: check_every must be an int >= 1 or None, got {check_every!r}")
        self.comm = comm
        self.is_main = comm.rank == 0
        self.check_every, self.masks, self.overlap = check_every, masks, bool(overlap)
        self.weight_by_count = bool(weight_by_count)
        self.shard = ShardInfo()
        self.buckets = GradientBuckets(
            model.grads, comm, bucket_bytes=bucket_bytes, average=average and not self.weight_by_count
        )
        self.comm_seconds = 0.0  # time spent waiting for gradient reductions (for benchmarks)
        self._install_generators(seed)
        self._backward_calls: dict | None = None
        if self.overlap:
            self._wrap_backwards()

    # -- set-up ---------------------------------------------------------------------------------------
    def _install_generators(self, seed: int) -> None:
        """Replace every module's generator by a ShardedGenerator (global masks) or a per-rank stream (local)."""
        modules = [(p.rstrip("."), m) for p, m in self.model.named_modules()]
        with_rng = [(p, m) for p, m in modules if isinstance(getattr(m, "rng", None), np.random.Generator)]
        if self.masks == "local":  # rank r's streams: SeedSequence(seed).spawn(p)[r], one child per generator
            rank_seq = np.random.SeedSequence(seed).spawn(self.comm.size)[self.comm.rank]
            children = rank_seq.spawn(len(with_rng))
        for i, (_, m) in enumerate(with_rng):
            bits = m.rng.bit_generator if self.masks == "global" else type(m.rng.bit_generator)(children[i])
            m.rng = ShardedGenerator(bits, self.shard) if self.masks == "global" else np.random.Generator(bits)

    def shard_source(self, source: BatchSource) -> ShardedSource:
        """This rank's view of ``source`` (wired to the dropout generators, for global masks).

        With ``weight_by_count`` a batch's shards may be unequal (``even=False``).
        """
        return ShardedSource(source, self.comm.rank, self.comm.size, self.shard, even=not self.weight_by_count)

    def _wrap_backwards(self) -> None:
        """Each top-level submodule's backward marks its parameters final when it returns."""
        self._backward_calls = {}
        for name, child in self.model._modules.items():
            names = [f"{name}.{k}" for k in child.params]
            original = child.backward

            def wrapped(*args, _original=original, _names=names, _name=name, **kwargs):
                out = _original(*args, **kwargs)
                calls = self._backward_calls
                calls[_name] = calls.get(_name, 0) + 1
                if self._overlap_on:
                    self.buckets.ready(_names, self.model.grads)
                return out

            object.__setattr__(child, "backward", wrapped)
        self._overlap_on = False

    # -- the hooks ------------------------------------------------------------------------------------
    def fit(self, train: ShardedSource, valid: ShardedSource | None = None, *, resume: bool = False) -> TrainResult:
        if not isinstance(train, ShardedSource):
            raise TypeError("DistributedTrainer.fit: train must come from trainer.shard_source(source)")
        if valid is not None and not isinstance(valid, ShardedSource):
            raise TypeError("DistributedTrainer.fit: valid must come from trainer.shard_source(source)")
        with abort_on_error(self.comm):
            self.buckets.begin()
            if resume:
                self._check_same_checkpoint()
            else:
                self._check_weights(0)  # every rank starts from the same weights
            return super().fit(train, valid, resume=resume)

    def _check_same_checkpoint(self) -> None:
        """Every rank must resume from the same checkpoint (a directory all of them see)."""
        found = None if self.checkpoint_dir is None else latest_checkpoint(self.checkpoint_dir)
        names = self.comm.allgather_json(None if found is None else Path(found).name)
        if len(set(names)) > 1:
            raise ValueError(
                f"DistributedTrainer.fit: every rank must see the same checkpoints in {self.checkpoint_dir} "
                f"(a file system shared by all nodes), got {names} by rank"
            )

    def evaluate(self, data: BatchSource) -> dict:
        if not isinstance(data, ShardedSource):
            raise TypeError("DistributedTrainer.evaluate: data must come from trainer.shard_source(source)")
        with abort_on_error(self.comm):
            return super().evaluate(data)

    def reduce_step(self, res: StepResult, grads: dict) -> StepResult:
        t0 = time.perf_counter()
        if self.weight_by_count:  # n_r g_r: the gradient of the shard's loss sum
            _scale(grads, float(res.count))
        total, count = self.buckets.finish(grads, [float(res.loss_sum), float(res.count)])
        if self.weight_by_count:  # sum_r n_r g_r / n
            _scale(grads, 1.0 / max(float(count), 1.0))
        self.comm_seconds += time.perf_counter() - t0
        self._next_step_overlap()
        self.buckets.begin()
        return StepResult(total, int(count), res.state)

    def _next_step_overlap(self) -> None:
        if not self.overlap:
            return
        calls, self._backward_calls = self._backward_calls, {}
        if not self._overlap_on:  # after the first step: overlap only if each submodule ran backward once
            self._overlap_on = bool(calls) and all(n == 1 for n in calls.values())
            if not self._overlap_on:
                log.warning("overlap off: top-level backward calls per step were %s, not one each", calls)

    def agree(self, flag: bool) -> bool:
        return self.comm.broadcast_flag(flag)

    def reduce_sums(self, total: float, count: int) -> tuple[float, int]:
        buf = self.comm.allreduce_(np.array([total, count], dtype=np.float64))
        return float(buf[0]), int(buf[1])

    def after_update(self, step: int) -> None:
        if self.check_every is not None and step % self.check_every == 0:
            self._check_weights(step)

    def _check_weights(self, step: int) -> None:
        sums = self.comm.allgather_array(weights_checksum(self.model.params))  # (p, 2)
        bad = [r for r in range(self.comm.size) if not np.array_equal(sums[r], sums[0])]
        if bad:
            raise DivergenceError(
                f"DistributedTrainer: after update {step} the weights of rank(s) {bad} differ from rank 0's "
                f"(checksums {sums[0].tolist()} vs {sums[bad[0]].tolist()}); every rank must run the same "
                "rnnkit, NumPy and BLAS with the same seed and data"
            )

    def checkpoint_extras(self, carried: Any) -> tuple[dict, dict]:
        structure, arrays = flatten_state(carried, prefix=f"rank{self.comm.rank}.state")
        mine = {
            "generators": {k: g.bit_generator.state for k, g in self.model.generators().items()},
            "carried_state": structure,
        }
        everyone = self.comm.allgather_json(_jsonable(mine))
        all_arrays = self.comm.allgather_arrays(arrays)
        merged = {k: v for part in all_arrays for k, v in part.items()}
        return {"world_size": self.comm.size, "masks": self.masks, "ranks": everyone}, merged

    def restore_extras(self, state: dict, arrays: dict, carried: Any) -> Any:
        ranks = state.get("ranks")
        if ranks is None or state.get("world_size") != self.comm.size:
            raise ValueError(
                f"DistributedTrainer: resume needs a checkpoint of a run on {self.comm.size} processes, got one "
                f"from {state.get('world_size', 1)} process(es)"
            )
        mine = ranks[self.comm.rank]
        for name, gen in self.model.generators().items():
            gen.bit_generator.state = mine["generators"][name]
        carried = unflatten_state(mine["carried_state"], arrays)
        self._check_weights(int(state.get("step", 0)))
        return carried


def _scale(grads: dict, factor: float) -> None:
    for g in grads.values():
        np.multiply(g, g.dtype.type(factor), out=g)


def _jsonable(obj):
    """Bit-generator states hold NumPy integers and arrays; make them plain JSON values."""
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
