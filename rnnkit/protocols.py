"""The protocols that models, the Trainer, the run layer and the decoders share.

This module sits below all of them and imports nothing of rnnkit's but NumPy
helpers, so a model can say what it offers (``StepResult`` from its
``train_step``, a :class:`StepModel` for decoding) without importing the
training loop or the decoders, and the Trainer and the decoders can say what
they need without importing any model.

Three protocols (structural: a class takes part by having the methods, it
does not inherit from anything):

:class:`TrainableModel`, what :class:`rnnkit.trainer.Trainer` trains (besides
being a :class:`rnnkit.Module` with ``params``/``grads``/``train()``/``eval()``)::

    initial_state(batch) -> state or None     # None: the model's own zeros
    train_step(batch, state) -> StepResult     # forward AND backward; adds into model.grads
    eval_step(batch, state) -> StepResult      # forward only (the Trainer wraps it in no_grad)
    config() -> dict                           # JSON-serialisable, saved with every checkpoint

:class:`BatchSource`, where the Trainer gets data (:mod:`rnnkit.batches`)::

    stateful: bool                 # does the recurrent state carry from batch i to i + 1?
    __len__() -> int               # batches per epoch
    batch(epoch, index) -> batch   # deterministic: the same pair gives the same batch

:class:`DecodingModel`, what :mod:`rnnkit.decoding` decodes from (K
hypotheses side by side, V the vocabulary size)::

    initial_state(prompt_ids (P,)) -> state         # the state of a batch of one
    step(state, token_ids (K,)) -> (logprobs (K, V), state)
    select(state, indices (K',)) -> state           # optional; default select_state

Example
-------
>>> import numpy as np
>>> from rnnkit.protocols import BatchSource, DecodingModel, StepModel, StepResult
>>> uniform = StepModel(lambda prompt: np.zeros((1, 0)), lambda s, t: (np.full((len(t), 4), -np.log(4)), s))
>>> isinstance(uniform, DecodingModel)
True
>>> from rnnkit.batches import ArrayBatches
>>> isinstance(ArrayBatches(np.zeros(8), batch_size=4), BatchSource)
True
>>> StepResult(loss_sum=6.0, count=3).state is None
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "StepResult",
    "TrainableModel",
    "BatchSource",
    "DecodingModel",
    "StepModel",
    "select_state",
]


@dataclass
class StepResult:
    """What ``train_step`` and ``eval_step`` return: a *summed* loss, its count, the state to carry.

    ``loss_sum`` is summed over ``count`` predictions (tokens, sequences), so
    means and perplexities are exact over batches of any size; ``state`` is
    carried into the next batch when the batch source is stateful (truncated
    BPTT over a stream), else None.
    """

    loss_sum: float  # summed loss over `count` predictions
    count: int  # number of predictions (tokens, sequences) in the batch
    state: Any = None  # state to carry into the next batch (stateful sources), else None


@runtime_checkable
class TrainableModel(Protocol):
    """A model the Trainer can train (see the module docstring)."""

    def initial_state(self, batch: Any) -> Any: ...

    def train_step(self, batch: Any, state: Any) -> StepResult: ...

    def eval_step(self, batch: Any, state: Any) -> StepResult: ...

    def config(self) -> dict: ...


@runtime_checkable
class BatchSource(Protocol):
    """Deterministic, indexable batches: ``len(source)`` per epoch, ``source.batch(epoch, index)``."""

    stateful: bool

    def __len__(self) -> int: ...

    def batch(self, epoch: int, index: int) -> Any: ...


@runtime_checkable
class DecodingModel(Protocol):
    """An autoregressive model the decoders can run (``select`` is optional and not part of the check)."""

    def initial_state(self, prompt_ids: np.ndarray) -> Any: ...

    def step(self, state: Any, token_ids: np.ndarray) -> tuple[np.ndarray, Any]: ...


class StepModel:
    """Adapter: make a decoding model out of plain functions.

    ``initial_state(prompt_ids) -> state``, ``step(state, token_ids (K,)) ->
    (logprobs (K, V), state)`` and optionally ``select(state, indices) ->
    state`` (default: :func:`select_state`).
    """

    def __init__(self, initial_state: Callable, step: Callable, select: Callable | None = None) -> None:
        for name, fn in (("initial_state", initial_state), ("step", step)):
            if not callable(fn):
                raise TypeError(f"StepModel: {name} must be callable, got {type(fn).__name__}")
        if select is not None and not callable(select):
            raise TypeError(f"StepModel: select must be callable or None, got {type(select).__name__}")
        self._initial_state, self._step = initial_state, step
        self._select = select_state if select is None else select

    def initial_state(self, prompt_ids: np.ndarray) -> Any:
        return self._initial_state(prompt_ids)

    def step(self, state: Any, token_ids: np.ndarray) -> tuple[np.ndarray, Any]:
        return self._step(state, token_ids)

    def select(self, state: Any, indices: np.ndarray) -> Any:
        return self._select(state, indices)


def select_state(state: Any, indices: np.ndarray) -> Any:
    """Rows ``indices`` (first axis) of a batched state: an array, a tuple/list/dict of them, or ``state.select``."""
    if state is None:
        return None
    if isinstance(state, np.ndarray):
        return state[indices]
    if isinstance(state, tuple) and hasattr(state, "_fields"):  # a namedtuple keeps its type
        return type(state)(*(select_state(s, indices) for s in state))
    if isinstance(state, (tuple, list)):
        return type(state)(select_state(s, indices) for s in state)
    if isinstance(state, dict):
        return {k: select_state(v, indices) for k, v in state.items()}
    if hasattr(state, "select"):
        return state.select(indices)
    raise TypeError(
        "select_state: state must be a numpy array, a tuple/list/dict of them, None, or an object with "
        f"select(indices), got {type(state).__name__}; give the model a select(state, indices) method"
    )
