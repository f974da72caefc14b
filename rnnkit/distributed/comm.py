"""The few MPI operations data-parallel training needs, behind one small class.

``Communicator`` wraps an mpi4py communicator. Everything that crosses
between processes is either a NumPy buffer (uppercase mpi4py calls, no
serialisation) or bytes the caller encoded itself (JSON, ``np.save`` with
``allow_pickle=False``): nothing is ever unpickled, as everywhere else in rnnkit.

Failure of one rank. MPI's default error handler on ``COMM_WORLD`` is
``MPI_ERRORS_ARE_FATAL``, and the launchers (Open MPI's ``mpirun``, MPICH's
Hydra, Slurm's ``srun --kill-on-bad-exit``) kill every rank as soon as one
exits without finalising, so a rank killed by a signal or by the
out-of-memory killer takes the job down instead of leaving the others blocked
in an allreduce. What MPI cannot see is a Python exception on one rank: that
rank would finalise and exit normally while the others wait for it forever.
:func:`install_excepthook` closes that gap: an uncaught exception prints
``rnnkit.distributed: rank R of N failed: ...`` and calls ``MPI_Abort``, which
ends every rank of the job with a non-zero status.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np


class Communicator:
    """rank, size and the collectives of a data-parallel run, over ``comm`` (an ``mpi4py.MPI.Comm``)."""

    def __init__(self, comm: Any) -> None:
        from mpi4py import MPI  # imported only when a run has more than one process

        self.MPI = MPI
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()

    # -- numbers -------------------------------------------------------------------------------------
    def allreduce_(self, buf: np.ndarray) -> np.ndarray:
        """Sum ``buf`` over every rank, in place; returns ``buf``."""
        self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM)
        return buf

    def iallreduce_(self, buf: np.ndarray) -> Any:
        """Start an in-place sum of ``buf`` over every rank; returns the request to ``wait`` on."""
        return self.comm.Iallreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM)

    def waitall(self, requests: Sequence[Any]) -> None:
        self.MPI.Request.Waitall(requests)

    def testall(self, requests: Sequence[Any]) -> bool:
        """Let MPI progress outstanding requests (without blocking); True when all are done."""
        return bool(self.MPI.Request.Testall(requests))

    def broadcast_flag(self, flag: bool) -> bool:
        """Rank 0's ``flag``, on every rank."""
        buf = np.array([1 if flag else 0], dtype=np.int8)
        self.comm.Bcast(buf, root=0)
        return bool(buf[0])

    def allgather_array(self, x: np.ndarray) -> np.ndarray:
        """(size, *x.shape): every rank's ``x`` (same shape and dtype on every rank)."""
        x = np.ascontiguousarray(x)
        out = np.empty((self.size,) + x.shape, dtype=x.dtype)
        self.comm.Allgather(x, out)
        return out

    def barrier(self) -> None:
        self.comm.Barrier()

    # -- bytes, JSON and arrays ------------------------------------------------------------------------
    def allgather_bytes(self, data: bytes) -> list[bytes]:
        """Every rank's ``data`` (any length), in rank order."""
        sizes = self.allgather_array(np.array([len(data)], dtype=np.int64))[:, 0]
        recv = np.empty(int(sizes.sum()), dtype=np.uint8)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        send = np.frombuffer(data, dtype=np.uint8) if data else np.empty(0, np.uint8)
        self.comm.Allgatherv(send, [recv, sizes.tolist(), offsets.tolist(), self.MPI.BYTE])
        return [recv[o : o + n].tobytes() for o, n in zip(offsets, sizes)]

    def allgather_json(self, obj: Any) -> list:
        return [json.loads(b.decode()) for b in self.allgather_bytes(json.dumps(obj).encode())]

    def allgather_arrays(self, arrays: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
        """Every rank's dict of arrays (shapes may differ between ranks), sent as ``.npz`` bytes, no pickle."""
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        out = []
        for data in self.allgather_bytes(buf.getvalue()):
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                out.append({k: z[k] for k in z.files})
        return out

    def abort(self, code: int = 1) -> None:
        self.comm.Abort(code)


class abort_on_error:
    """Context manager: an exception inside aborts every rank (after printing which rank failed and why).

    A data-parallel loop wraps itself in it, so that an error on one rank
    (a bad file, a bug, a :class:`DivergenceError`) cannot leave the other
    ranks waiting in a collective, even when a caller above catches it.
    """

    def __init__(self, comm: Communicator) -> None:
        self.comm = comm

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is None or issubclass(kind, GeneratorExit):
            return False
        import os
        import traceback

        # what a user can act on (a bad flag, a missing file) is one line, as the CLI prints it; the rest a traceback
        if os.environ.get("RNNKIT_DEBUG") == "1" or not issubclass(kind, (ValueError, TypeError, KeyError, OSError)):
            traceback.print_exception(kind, value, tb)
        _report_and_abort(self.comm, kind, value)
        return False  # not reached: Abort ends the process


def _report_and_abort(comm: Communicator, kind, value) -> None:
    sys.stderr.write(
        f"rnnkit.distributed: rank {comm.rank} of {comm.size} failed ({kind.__name__}: {value}); aborting every rank\n"
    )
    sys.stderr.flush()
    comm.abort(1)


def install_excepthook(comm: Communicator) -> None:
    """An uncaught exception on any rank aborts the whole job with a message naming the rank."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        _report_and_abort(comm, kind, value)

    sys.excepthook = hook
