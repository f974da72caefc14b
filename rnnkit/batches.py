"""Batch sources for the Trainer: deterministic, indexable, resumable.

A batch source tells the Trainer how many batches an epoch has and gives
batch ``index`` of epoch ``epoch`` on request, always the same one for the
same pair. That is what makes a killed run resumable at any step: the
position is two integers, saved with the checkpoint, not the state of an
iterator.

    class BatchSource(Protocol):       # rnnkit.protocols.BatchSource
        stateful: bool                 # does the recurrent state carry from batch i to i + 1?
        def __len__(self) -> int: ...  # batches per epoch
        def batch(self, epoch: int, index: int): ...

Two sources cover most uses:

- ``ArrayBatches``: examples along one axis (sequences, images, pairs),
  shuffled per epoch with a permutation derived from (seed, epoch); stateless.
- ``StreamBatches``: one long token stream laid out as B parallel streams
  (Zaremba et al. 2014) and cut into windows for truncated BPTT; stateful.

``StreamBatches`` implements TBPTT(k1, k2) in the sense of Williams and Peng
(1990): every k1 new steps, backpropagate through the last k2 >= k1 steps.
Window j covers steps [j*k1 + k1 - k2, j*k1 + k1) of each stream (clipped at
0 and at the stream's end); the loss counts only its last k1 targets (the earlier ones were counted
by the previous window), and the state to carry into window j+1 is the state
after the first ``carry`` = k1 steps of window j. With k1 = k2 (the usual
case) windows do not overlap and the carried state is the final one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rnnkit._validate import check_positive_int


@dataclass
class Window:
    """One TBPTT window: inputs and next-token targets (T, B), with the loss and carry positions."""

    x: np.ndarray  # (T, B) input token ids
    y: np.ndarray  # (T, B) target ids (the next tokens)
    loss_from: int  # targets y[loss_from:] count towards the loss
    carry: int  # the state after x[:carry] is carried into the next window

    @property
    def num_targets(self) -> int:
        return (self.y.shape[0] - self.loss_from) * self.y.shape[1]


class StreamBatches:
    """TBPTT windows over a token stream laid out as (N, B): B parallel streams of N steps.

    ``data`` (N, B) integer ids, e.g. from ``rnnkit.text.data.batchify``. The
    targets of step t are the inputs of step t + 1, so N - 1 steps are
    predicted per stream. ``k1`` new steps per window, ``k2`` (>= k1, default
    k1) steps of backpropagation; see the module docstring.

    Example
    -------
    >>> import numpy as np
    >>> src = StreamBatches(np.arange(22).reshape(11, 2), k1=4)
    >>> len(src), src.batch(0, 0).x[:, 0].tolist(), src.batch(0, 0).y[:, 0].tolist()
    (3, [0, 2, 4, 6], [2, 4, 6, 8])
    """

    stateful = True

    def __init__(self, data: np.ndarray, k1: int, k2: int | None = None) -> None:
        data = np.asarray(data)
        if data.ndim != 2 or data.dtype.kind not in "iu":
            raise ValueError(
                f"StreamBatches: data must be an integer array of shape (N, B), got {data.dtype} {data.shape}"
            )
        if data.shape[0] < 2:
            raise ValueError(f"StreamBatches: data must have N >= 2 steps, got {data.shape[0]}")
        self.k1 = check_positive_int("StreamBatches", "k1", k1)
        self.k2 = self.k1 if k2 is None else check_positive_int("StreamBatches", "k2", k2)
        if self.k2 < self.k1:
            raise ValueError(f"StreamBatches: k2 must be >= k1 = {self.k1}, got {self.k2}")
        self.data = data
        self.steps = data.shape[0] - 1  # predicted steps per stream

    def __len__(self) -> int:
        return -(-self.steps // self.k1)

    @property
    def batch_size(self) -> int:
        return self.data.shape[1]

    def _bounds(self, index: int) -> tuple[int, int, int]:
        """(start, first new step, end) of window ``index``: k1 new steps, k2 steps back from a full window's end."""
        new_from = index * self.k1
        end = min(new_from + self.k1, self.steps)
        return max(0, new_from + self.k1 - self.k2), new_from, end

    def batch(self, epoch: int, index: int) -> Window:
        if not 0 <= index < len(self):
            raise IndexError(f"StreamBatches.batch: index must be in [0, {len(self)}), got {index}")
        start, new_from, end = self._bounds(index)
        # the next window starts where this one's state must be handed over
        carry = (self._bounds(index + 1)[0] if index + 1 < len(self) else end) - start
        return Window(x=self.data[start:end], y=self.data[start + 1 : end + 1], loss_from=new_from - start, carry=carry)


class ArrayBatches:
    """Minibatches of examples along axis ``axis`` of each array, shuffled per epoch; stateless.

    ``arrays`` are aligned (same size along their batch axis). ``batch(epoch,
    index)`` returns the tuple of slices for that minibatch; the last one may
    be smaller unless ``drop_last``. The order of epoch e comes from
    ``np.random.default_rng([seed, e])``, so it never depends on what ran before.

    Example
    -------
    >>> import numpy as np
    >>> src = ArrayBatches(np.arange(10), batch_size=4, shuffle=False)
    >>> len(src), src.batch(0, 2)[0].tolist()
    (3, [8, 9])
    """

    stateful = False

    def __init__(
        self,
        *arrays: np.ndarray,
        batch_size: int,
        axes: int | Sequence[int] | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if not arrays:
            raise ValueError("ArrayBatches: at least one array is required")
        self.arrays = [np.asarray(a) for a in arrays]
        self.axes = tuple(axes) if axes is not None else (0,) * len(arrays)
        if len(self.axes) != len(self.arrays):
            raise ValueError(f"ArrayBatches: axes must give one axis per array ({len(arrays)}), got {self.axes}")
        sizes = {a.shape[ax] for a, ax in zip(self.arrays, self.axes)}
        if len(sizes) != 1:
            raise ValueError(
                f"ArrayBatches: arrays must have the same size along their batch axes, got {sorted(sizes)}"
            )
        self.n = sizes.pop()
        self.batch_size = check_positive_int("ArrayBatches", "batch_size", batch_size)
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        if self.drop_last and self.n < self.batch_size:
            raise ValueError(
                f"ArrayBatches: drop_last with {self.n} examples < batch_size {self.batch_size} leaves no batch"
            )

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.n)
        return np.random.default_rng([self.seed, int(epoch)]).permutation(self.n)

    def batch(self, epoch: int, index: int) -> tuple[np.ndarray, ...]:
        if not 0 <= index < len(self):
            raise IndexError(f"ArrayBatches.batch: index must be in [0, {len(self)}), got {index}")
        idx = self.order(epoch)[index * self.batch_size : (index + 1) * self.batch_size]
        return tuple(np.take(a, idx, axis=ax) for a, ax in zip(self.arrays, self.axes))
