"""Each rank's share of every batch, and dropout masks that agree with the combined batch.

Sharding. A global batch of B examples (columns of a TBPTT window, rows of
an ``ArrayBatches`` minibatch, or the examples of any batch object with a
``batch_size`` and a ``rows(lo, hi)`` method, such as
:class:`rnnkit.seq2seq.Seq2SeqBatch`) is split into ``size`` contiguous
blocks; rank r takes rows [lo_r, hi_r). By default the blocks are equal,
[r*B/p, (r+1)*B/p), and B must be divisible by the number of ranks: the
plain gradient average over ranks equals the combined batch's mean gradient
only for equal shards. With ``even=False`` (what a trainer that weighs each
rank's gradient by its token count uses) B may be anything: the first B mod p
ranks take one row more, and when B < p the last ranks take none.

Masks. With the same seed every rank builds the same model, hence the same
dropout generators in the same states. :class:`ShardedGenerator` keeps that
so: a draw of shape (T, b, F) with b the local batch (the package's
time-major mask shape) draws the *combined* batch's (T, B, F) and keeps rows
[lo, hi). The masks a rank applies are therefore exactly the rows of the
masks one process would draw for the combined batch, and every generator
advances identically on every rank. Draws of any other shape (the
DropConnect mask of a weight matrix) are taken whole, the same on every rank;
so a model that draws activation masks of shape (B, F) (one time step at a
time, or no time axis) keeps its ranks in step but loses the exact
equivalence with one process: give it ``masks="local"``.
The price is p times the random numbers per mask, small beside the matrix
products they multiply; ``masks="local"`` in the trainer gives each rank
its own streams instead (no extra draws, and no equivalence with one process).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from rnnkit.batches import Window
from rnnkit.protocols import BatchSource


class ShardInfo:
    """The split of the batch being trained on: combined size B and this rank's rows [lo, hi)."""

    def __init__(self) -> None:
        self.B, self.lo, self.hi = None, 0, 0

    def set(self, B: int, lo: int, hi: int) -> None:
        self.B, self.lo, self.hi = B, lo, hi


class ShardedGenerator(np.random.Generator):
    """A Generator on the same bit generator, drawing (T, B, F) and keeping this rank's rows of (T, b, F) draws."""

    def __init__(self, bit_generator: np.random.BitGenerator, shard: ShardInfo) -> None:
        super().__init__(bit_generator)
        self.shard = shard

    def random(
        self, size: int | tuple[int, ...] | None = None, dtype: DTypeLike = np.float64, out: np.ndarray | None = None
    ) -> float | np.ndarray:
        sh = self.shard
        local = sh.hi - sh.lo
        if out is None and sh.B is not None and sh.B != local and isinstance(size, tuple) and len(size) == 3:
            if size[1] == local:
                full = super().random((size[0], sh.B, size[2]), dtype)  # (T, B, F), as one process draws it
                return np.ascontiguousarray(full[:, sh.lo : sh.hi])  # (T, b, F)
        return super().random(size, dtype, out)


def split(B: int, rank: int, size: int, where: str = "ShardedSource", *, even: bool = True) -> tuple[int, int]:
    """Rows [lo, hi) of rank ``rank`` in a batch of B: equal blocks (B divisible by ``size``) unless not ``even``."""
    if not even:
        b, extra = divmod(B, size)
        lo = rank * b + min(rank, extra)
        return lo, lo + b + (rank < extra)
    if B % size:
        raise ValueError(
            f"{where}: the batch size must be divisible by the number of processes {size}, got {B} "
            "(unequal shards would weight the ranks' gradients unequally)"
        )
    b = B // size
    return rank * b, (rank + 1) * b


def _has_rows(batch: Any) -> bool:
    return callable(getattr(batch, "rows", None)) and isinstance(getattr(batch, "batch_size", None), int)


def batch_size_of(batch: Window | tuple | Any, axes: Sequence[int]) -> int:
    if isinstance(batch, Window):
        return batch.x.shape[1]
    if isinstance(batch, tuple):
        return batch[0].shape[(axes or (0,))[0]]
    if _has_rows(batch):
        return batch.batch_size
    raise TypeError(
        f"ShardedSource: cannot shard a batch of type {type(batch).__name__} "
        "(a Window, a tuple of arrays, or an object with batch_size and rows(lo, hi))"
    )


def shard_batch(batch: Window | tuple | Any, lo: int, hi: int, axes: Sequence[int] | None = None) -> Window | tuple:
    """Rows [lo, hi) of a batch: a TBPTT ``Window`` (columns of x and y), a tuple of arrays along ``axes``,
    or ``batch.rows(lo, hi)`` of a batch object that has it."""
    if not isinstance(batch, (Window, tuple)) and _has_rows(batch):
        return batch.rows(lo, hi)
    if isinstance(batch, Window):
        return Window(x=batch.x[:, lo:hi], y=batch.y[:, lo:hi], loss_from=batch.loss_from, carry=batch.carry)
    axes = axes or (0,) * len(batch)
    return tuple(np.take(a, np.arange(lo, hi), axis=ax) for a, ax in zip(batch, axes))


class ShardedSource:
    """The batch source of one rank: ``source``'s batches, rows [r*B/p, (r+1)*B/p) of each.

    ``even=False`` lets B be any size (see the module docstring): for a
    trainer that weighs each rank's gradient by its count, never for a plain
    average.

    Example
    -------
    >>> import numpy as np
    >>> from rnnkit.batches import StreamBatches
    >>> src = ShardedSource(StreamBatches(np.arange(24).reshape(6, 4), k1=2), rank=1, size=2)
    >>> src.batch(0, 0).x.tolist()
    [[2, 3], [6, 7]]
    """

    def __init__(
        self, source: BatchSource, rank: int, size: int, shard: ShardInfo | None = None, *, even: bool = True
    ) -> None:
        if not (isinstance(size, int) and size >= 1 and isinstance(rank, int) and 0 <= rank < size):
            raise ValueError(f"ShardedSource: rank must be in [0, size) and size >= 1, got rank={rank}, size={size}")
        self.source, self.rank, self.size, self.even = source, rank, size, bool(even)
        self.stateful = source.stateful
        self.shard = shard if shard is not None else ShardInfo()
        self.axes = getattr(source, "axes", None)
        B = getattr(source, "batch_size", None)
        if isinstance(B, int) and getattr(source, "stateful", False) and self.even:
            split(B, rank, size)  # a stream's width is fixed: fail now, not at the first batch

    def __len__(self) -> int:
        return len(self.source)

    def batch(self, epoch: int, index: int) -> Window | tuple:
        batch = self.source.batch(epoch, index)
        B = batch_size_of(batch, self.axes)
        lo, hi = split(B, self.rank, self.size, even=self.even)
        self.shard.set(B, lo, hi)
        return shard_batch(batch, lo, hi, self.axes)
