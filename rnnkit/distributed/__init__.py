"""Data-parallel training over MPI (mpi4py): the same model on every process, each on its shard of the batch.

Launch any training script, ``rnnkit lm train`` or ``rnnkit seq2seq train`` under an MPI launcher::

    mpirun -n 4 rnnkit lm train --data corpus.txt ...
    mpirun -n 4 rnnkit seq2seq train --task dates ...
    srun --ntasks=4 --kill-on-bad-exit=1 rnnkit lm train --data corpus.txt ...

and :func:`init` returns a :class:`~rnnkit.distributed.comm.Communicator`
for the job; without a launcher, or with one process, it returns None and
nothing changes: mpi4py is imported only when the launcher's environment says
there is more than one process, so ``import rnnkit`` and every one-process
run work (and run the same code) without mpi4py installed.

In a script::

    comm = rnnkit.distributed.init()                  # None on one process
    trainer = rnnkit.distributed.make_trainer(model, opt, cfg, comm=comm, out_dir=out)
    train = rnnkit.distributed.shard_source(trainer, StreamBatches(batchify(ids, 64), 35))
    trainer.fit(train, rnnkit.distributed.shard_source(trainer, valid))

:class:`~rnnkit.distributed.trainer.DistributedTrainer` describes what is
decided collectively and what a checkpoint holds; docs/distributed.md gives
the cost model and cluster recipes.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when used: mpi4py and the trainers load only when needed
    from rnnkit.distributed.comm import Communicator
    from rnnkit.optim import Optimizer
    from rnnkit.protocols import BatchSource, TrainableModel
    from rnnkit.trainer import Trainer, TrainerConfig

# environment variables through which launchers announce the job's size, in the order checked
SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE")

_COMM = None


def launched_size() -> int:
    """The number of processes the launcher started (1 without a launcher), read from its environment.

    ``RNNKIT_DISTRIBUTED=off`` forces 1 (run one process of an MPI job on its own).
    """
    if os.environ.get("RNNKIT_DISTRIBUTED", "").lower() == "off":
        return 1
    for name in SIZE_VARIABLES:
        value = os.environ.get(name)
        if value and value.isdigit():
            return int(value)
    if os.environ.get("SLURM_STEP_ID") is not None and (os.environ.get("SLURM_NTASKS") or "").isdigit():
        return int(os.environ["SLURM_NTASKS"])  # inside `srun`
    return 1


def init() -> Communicator | None:
    """The job's Communicator when more than one process runs, else None (and mpi4py is not imported).

    Raises ImportError with the install command when the launcher started
    several processes but mpi4py is missing (each would otherwise train alone).
    """
    global _COMM
    if _COMM is not None:
        return _COMM
    if launched_size() <= 1:
        return None
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError(
            f"rnnkit.distributed: the launcher started {launched_size()} processes but mpi4py is not installed; "
            "pip install 'rnnkit[mpi]' (it needs an MPI library: apt-get install openmpi-bin libopenmpi-dev)"
        ) from None
    from rnnkit.distributed.comm import Communicator, install_excepthook

    comm = Communicator(MPI.COMM_WORLD)
    if comm.size <= 1:
        return None
    install_excepthook(comm)
    _COMM = comm
    return comm


def make_trainer(
    model: TrainableModel,
    optimizer: Optimizer,
    config: TrainerConfig | None = None,
    *,
    comm: Communicator | None = None,
    **kwargs: Any,
) -> Trainer:
    """A plain :class:`rnnkit.trainer.Trainer` when ``comm`` is None, else a DistributedTrainer on ``comm``.

    Keyword arguments only the DistributedTrainer knows (check_every,
    bucket_bytes, overlap, masks, average, weight_by_count, seed) are ignored
    on one process.
    """
    if comm is None:
        from rnnkit.trainer import Trainer

        plain = {k: kwargs[k] for k in ("schedule", "out_dir") if k in kwargs}
        return Trainer(model, optimizer, config, **plain)
    from rnnkit.distributed.trainer import DistributedTrainer

    return DistributedTrainer(model, optimizer, config, comm=comm, **kwargs)


def guard(comm: Communicator | None) -> AbstractContextManager:
    """A context in which an exception on one rank aborts the job (nothing at all when ``comm`` is None)."""
    if comm is None:
        import contextlib

        return contextlib.nullcontext()
    from rnnkit.distributed.comm import abort_on_error

    return abort_on_error(comm)


def shard_source(trainer: Trainer, source: BatchSource) -> BatchSource:
    """``source`` itself for a plain Trainer; this rank's shard of it for a DistributedTrainer."""
    if source is None or not hasattr(trainer, "shard_source"):
        return source
    return trainer.shard_source(source)


def __getattr__(name):  # the classes load on first use, so importing this package imports no MPI code
    if name in ("DistributedTrainer", "DivergenceError"):
        from rnnkit.distributed import trainer

        return getattr(trainer, name)
    if name in ("ShardedSource", "ShardedGenerator"):
        from rnnkit.distributed import shard as _shard

        return getattr(_shard, name)
    raise AttributeError(f"module 'rnnkit.distributed' has no attribute {name!r}")


__all__ = [
    "launched_size",
    "init",
    "make_trainer",
    "shard_source",
    "DistributedTrainer",
    "DivergenceError",
    "ShardedSource",
]
