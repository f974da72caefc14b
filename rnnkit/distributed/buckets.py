"""Gradient averaging over one flat, preallocated buffer, cut into buckets that communicate independently.

Layout. Every gradient gets a fixed slice of one contiguous buffer ``flat``
(allocated once, in the gradients' dtype), in *reverse* registration order:
a model registers its layers input-first, so its backward pass finishes
them last-first, and the buffer's first slices are the first to be final.
Buckets are filled in that order, whole parameters at a time, and closed
once they hold at least ``bucket_bytes`` (so a small bias never travels
alone); each bucket is one in-place ``MPI_Iallreduce``.

    flat[slice(name)] = grads[name].ravel()      copy in, bucket by bucket
    flat <- sum over ranks (per bucket, nonblocking)
    grads[name] = flat[slice(name)] / p           copy out, after all buckets are done

Averaging (the mean over ranks) equals the gradient of the combined batch
whenever the model's objective is a mean over equally sized shards (the
default ``token_mean`` and ``batch_mean`` of the language models); for a
summed objective, ``average=False`` sums instead.

When do buckets communicate? :meth:`ready` launches a bucket as soon as all
its parameters are marked final, which lets the trainer start the output
layer's bucket while the recurrent layers' backward is still running
(``overlap=True`` in :class:`rnnkit.distributed.DistributedTrainer`).
Otherwise :meth:`finish` launches every bucket at the end of backward, all
nonblocking, and waits for them together, so the copy into bucket k+1
overlaps the transfer of bucket k. The step's loss sum and prediction count
travel in a second, float64 buffer (``extras``), so the summed loss is exact
whatever the gradients' dtype.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from rnnkit.distributed.comm import Communicator


class GradientBuckets:
    """Flat buffer, bucket boundaries and the reduction of a dict of gradients; see the module docstring."""

    def __init__(
        self, grads: dict, comm: Communicator, *, bucket_bytes: int = 4 << 20, average: bool = True, num_extras: int = 2
    ) -> None:
        if not grads:
            raise ValueError("GradientBuckets: grads must hold at least one gradient, got none")
        dtypes = {g.dtype for g in grads.values()}
        if len(dtypes) != 1:
            raise TypeError(f"GradientBuckets: grads must share one dtype, got {sorted(map(str, dtypes))}")
        if not isinstance(bucket_bytes, int) or bucket_bytes < 1:
            raise ValueError(f"GradientBuckets: bucket_bytes must be a positive int, got {bucket_bytes!r}")
        self.comm, self.average = comm, bool(average)
        self.names = list(grads)[::-1]  # the order a sequential model's backward finishes them
        self.dtype = dtypes.pop()
        self.slices: dict[str, slice] = {}
        self.buckets: list[list[str]] = [[]]
        offset, in_bucket = 0, 0
        for name in self.names:
            if in_bucket * self.dtype.itemsize >= bucket_bytes:  # the current bucket is full: close it
                self.buckets.append([])
                in_bucket = 0
            n = grads[name].size
            self.slices[name] = slice(offset, offset + n)
            self.buckets[-1].append(name)
            offset += n
            in_bucket += n
        self.flat = np.zeros(offset, dtype=self.dtype)  # the one preallocated buffer
        self.bounds = [(self.slices[b[0]].start, self.slices[b[-1]].stop) for b in self.buckets]
        self.extras = np.zeros(num_extras, dtype=np.float64)
        self._pending: list = []
        self._launched = [False] * len(self.buckets)
        self._ready: set = set()

    @property
    def nbytes(self) -> int:
        """Bytes each rank contributes per step (gradients and extras)."""
        return self.flat.nbytes + self.extras.nbytes

    # -- one step ------------------------------------------------------------------------------------
    def begin(self) -> None:
        """Forget the previous step's launches (call before the backward pass)."""
        self._pending, self._ready = [], set()
        self._launched = [False] * len(self.buckets)

    def _launch(self, k: int, grads: dict) -> None:
        for name in self.buckets[k]:
            self.flat[self.slices[name]] = grads[name].ravel()
        lo, hi = self.bounds[k]
        self._pending.append(self.comm.iallreduce_(self.flat[lo:hi]))
        self._launched[k] = True

    def ready(self, names: Iterable[str], grads: dict) -> None:
        """Mark ``names`` final; launch every bucket all of whose gradients are final; let MPI progress."""
        self._ready.update(names)
        for k, bucket in enumerate(self.buckets):
            if not self._launched[k] and all(n in self._ready for n in bucket):
                self._launch(k, grads)
        if self._pending:
            self.comm.testall(self._pending)

    def finish(self, grads: dict, extras: Sequence[float]) -> np.ndarray:
        """Launch what is left, wait, write the mean (or sum) back into ``grads``; return the summed extras."""
        self.extras[:] = extras
        self._pending.append(self.comm.iallreduce_(self.extras))
        for k in range(len(self.buckets)):
            if not self._launched[k]:
                self._launch(k, grads)
        self.comm.waitall(self._pending)
        self._pending = []
        scale = self.dtype.type(1.0 / self.comm.size) if self.average else None
        for name in self.names:
            g = grads[name]
            part = self.flat[self.slices[name]].reshape(g.shape)
            if scale is None:
                g[...] = part
            else:
                np.multiply(part, scale, out=g)
        return self.extras.copy()


def weights_checksum(params: dict) -> np.ndarray:
    """(2,) float64: the sum and the position-weighted sum of every parameter, a cheap fingerprint.

    The weighted sum (each array's sum times its index, plus the sum of its
    first row's absolute values) tells apart two ranks whose weights differ by
    a permutation or by a sign that a plain sum would miss. Ranks that apply
    the same update to the same weights compute bit-identical checksums.
    """
    total, weighted = 0.0, 0.0
    for i, p in enumerate(params.values()):
        s = float(np.sum(p, dtype=np.float64))
        total += s
        weighted += (i + 1) * s + float(np.abs(p.reshape(p.shape[0], -1)[0] if p.ndim else p).sum(dtype=np.float64))
    return np.array([total, weighted])
