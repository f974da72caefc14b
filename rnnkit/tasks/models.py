"""Small models for the generated tasks: one recurrent layer stack and a linear read-out.

    h_t = Cell(x_t, h_{t-1})                      (T, B, H)   rnn | gru | lstm | mgu, num_layers deep
    SequenceRegressor    y^  = h_T W^T + b        (B, O)      loss: squared error, mean over the O outputs
    SequenceClassifier   z   = h_T W^T + b        (B, C)      loss: softmax cross-entropy
      with per_step=True z_t = h_t W^T + b        (T, B, C)   one prediction per step (copy memory)

Both follow the Trainer's protocol (``initial_state``, ``train_step``,
``eval_step``, ``config``): ``train_step((x, y), state)`` runs forward and
backward and returns the *summed* loss with its count (sequences, or
predicted steps); the gradients added into ``grads`` are those of the
*mean* loss over the batch, so clipping thresholds and learning rates do not
depend on the batch size. ``last_step_loss(h_T, y)`` gives each sequence's
loss and its gradient with respect to the last hidden state, with no side
effect: it is what :func:`rnnkit.analysis.gradient_flow` differentiates.

``remember_bias`` (default 0) is added at initialisation to the bias of the
gate that keeps the old state: LSTM's forget gate f (Gers et al. 2000;
Jozefowicz et al. 2015 recommend 1) and GRU's update gate z; for MGU, whose
f = 1 means "take the new value", it is subtracted from f. It has no effect on
a plain RNN.

Example
-------
>>> import numpy as np
>>> from rnnkit.tasks import adding_problem
>>> model = SequenceRegressor(TaskModelConfig("sequence_regressor", input_size=2, output_size=1,
...                                           cell="gru", hidden_size=8))
>>> x, y = adding_problem(4, 10, np.random.default_rng(0))
>>> res = model.train_step((x, y), None)
>>> model.predict(x).shape, res.count
((4, 1), 4)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from rnnkit._validate import as_float_array, check_choice, check_positive_int, fmt_shape, resolve_dtype
from rnnkit.cells import registry
from rnnkit.grad_mode import no_grad
from rnnkit.layers import Linear, recurrent_layer
from rnnkit.losses import cross_entropy
from rnnkit.module import Module
from rnnkit.protocols import StepResult

CELLS = registry.names(model_choice=True)  # the families offered by name, read from the registry
KINDS = ("sequence_regressor", "sequence_classifier")
IGNORE_INDEX = -100  # per-step targets equal to this do not count


@dataclass(frozen=True)
class TaskModelConfig:
    """Everything that defines a task model; saved with each checkpoint (``kind`` picks the class)."""

    kind: str  # "sequence_regressor" or "sequence_classifier"
    input_size: int  # D
    output_size: int  # regressor: outputs O; classifier: classes C
    cell: str = "lstm"  # rnn | gru | lstm | mgu
    hidden_size: int = 32
    num_layers: int = 1
    per_step: bool = False  # classifier only: predict at every step, not only the last
    remember_bias: float = 0.0  # see the module docstring
    dtype: str = "float32"
    seed: int = 0
    task: str | None = None  # what the model was trained on ("adding", "copy", "parity"); for rnnkit analyze
    length: int | None = None  # that task's T

    def __post_init__(self):
        w = "TaskModelConfig"
        check_choice(w, "kind", self.kind, KINDS)
        check_choice(w, "cell", self.cell, registry.names(model_choice=True))
        for name in ("input_size", "output_size", "hidden_size", "num_layers"):
            check_positive_int(w, name, getattr(self, name))
        if not isinstance(self.per_step, bool):
            raise TypeError(f"{w}: per_step must be a bool, got {type(self.per_step).__name__} {self.per_step!r}")
        if self.per_step and self.kind != "sequence_classifier":
            raise ValueError(f"{w}: per_step needs kind='sequence_classifier', got kind={self.kind!r}")
        if self.kind == "sequence_classifier" and self.output_size < 2:
            raise ValueError(f"{w}: a classifier needs output_size (classes) >= 2, got {self.output_size}")
        if (
            isinstance(self.remember_bias, bool)
            or not isinstance(self.remember_bias, (int, float))
            or not np.isfinite(self.remember_bias)
        ):
            raise ValueError(f"{w}: remember_bias must be a finite number, got {self.remember_bias!r}")
        resolve_dtype(w, self.dtype)
        check_positive_int(w, "seed", self.seed, minimum=0)
        if self.task is not None and not isinstance(self.task, str):
            raise TypeError(f"{w}: task must be a str or None, got {type(self.task).__name__}")
        if self.length is not None:
            check_positive_int(w, "length", self.length)


def _add_remember_bias(layer, value: float) -> None:
    """Add ``value`` to the input bias of the gate that keeps the old state (the family's ``remember``)."""
    H = layer.hidden_size
    if layer.family.remember is None or "bias_ih_l0" not in layer.params:
        return
    gate, sign = layer.family.remember
    block = layer.family.gates(layer.variant).index(gate)
    for name, b in layer.params.items():
        if name.startswith("bias_ih"):
            b[block * H : (block + 1) * H] += sign * value


class _TaskModel(Module):
    """A recurrent layer ``rnn`` and a linear read-out ``head``; see the module docstring."""

    _kind = ""

    def __init__(self, config: TaskModelConfig) -> None:
        super().__init__()
        name = type(self).__name__
        if not isinstance(config, TaskModelConfig):
            raise TypeError(f"{name}: config must be a TaskModelConfig, got {type(config).__name__}")
        if config.kind != self._kind:
            raise ValueError(f"{name}: config.kind must be {self._kind!r}, got {config.kind!r}")
        self.cfg = c = config
        dtype = resolve_dtype(name, c.dtype)
        seeds = np.random.SeedSequence(c.seed).generate_state(2)
        self.rnn = recurrent_layer(
            c.cell, c.input_size, c.hidden_size, num_layers=c.num_layers, dtype=dtype, seed=int(seeds[0])
        )
        self.head = Linear(c.hidden_size, c.output_size, dtype=dtype, seed=int(seeds[1]))
        if c.remember_bias:
            _add_remember_bias(self.rnn, float(c.remember_bias))
        self._T = None

    @classmethod
    def from_config(cls, config: dict) -> _TaskModel:
        return task_model_from_config(config, expect=cls)

    def config(self) -> dict:
        return asdict(self.cfg)

    def copy(self, dtype: str | None = None) -> _TaskModel:
        """A new model with the same weights, cast to ``dtype`` (e.g. "float64", for analysis without underflow)."""
        new = type(self)(replace(self.cfg, dtype=self.cfg.dtype if dtype is None else str(np.dtype(dtype))))
        new.load_state_dict(self.state_dict())
        return new

    def initial_state(self, batch: Any) -> None:
        return None

    def _features(self, x) -> np.ndarray:
        return self.rnn.forward(x)[0]  # (T, B, H)

    def _backward_features(self, dh_top: np.ndarray, last_only: bool) -> None:
        if last_only:
            dout = np.zeros((self._T,) + dh_top.shape, dtype=dh_top.dtype)
            dout[-1] = dh_top  # only h_T reaches the loss
        else:
            dout = dh_top
        self.rnn.backward(dout)

    def extra_repr(self) -> str:
        c = self.cfg
        return f"cell={c.cell!r}, {c.input_size} -> {c.hidden_size} -> {c.output_size}"


class SequenceRegressor(_TaskModel):
    """y^ = Linear(h_T): one real vector per sequence, squared-error loss (the adding problem)."""

    _kind = "sequence_regressor"

    def forward(self, x: ArrayLike) -> np.ndarray:
        """Predictions (B, O) for x (T, B, D)."""
        out = self._features(x)
        self._T = out.shape[0]
        return self.head.forward(out[-1])  # (B, O)

    def backward(self, dpred: np.ndarray) -> None:
        self._backward_features(self.head.backward(dpred), last_only=True)

    def _targets(self, y, B: int) -> np.ndarray:
        where = type(self).__name__
        y = as_float_array(where, "y", y, self.rnn.dtype)
        O = self.cfg.output_size
        shape = y.shape
        if y.ndim == 1 and O == 1:
            y = y[:, None]
        if y.shape != (B, O):
            also = f" or ({B},)" if O == 1 else ""
            raise ValueError(f"{where}: y must have shape ({B}, {O}){also}, got {fmt_shape(shape)}")
        return y

    def last_step_loss(self, h_last: np.ndarray, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Each sequence's squared error from h_T (B, H): (losses (B,), d losses / d h_T (B, H))."""
        W, b = self.head.weight, self.head.bias
        r = h_last @ W.T + b - self._targets(y, h_last.shape[0])  # (B, O)
        O = r.shape[1]
        return (r * r).mean(axis=1), (2.0 / O) * r @ W

    def train_step(self, batch: tuple, state: Any) -> StepResult:
        x, y = batch
        pred = self.forward(x)
        r = pred - self._targets(y, pred.shape[0])
        B, O = r.shape
        self.backward((2.0 / (B * O)) * r)  # gradient of the batch mean
        return StepResult(float((r * r).sum()) / O, B)

    def eval_step(self, batch: tuple, state: Any) -> StepResult:
        x, y = batch
        with no_grad():
            r = self.forward(x) - self._targets(y, x.shape[1])
        return StepResult(float((r * r).sum()) / r.shape[1], r.shape[0])

    def predict(self, x: ArrayLike) -> np.ndarray:
        with no_grad():
            return self.forward(x)


class SequenceClassifier(_TaskModel):
    """Softmax classes from h_T (B, C), or from every h_t with ``per_step`` (T, B, C); cross-entropy loss."""

    _kind = "sequence_classifier"

    def forward(self, x: ArrayLike) -> np.ndarray:
        """Logits (B, C), or (T, B, C) with per_step, for x (T, B, D)."""
        out = self._features(x)
        self._T = out.shape[0]
        return self.head.forward(out if self.cfg.per_step else out[-1])

    def backward(self, dlogits: np.ndarray) -> None:
        self._backward_features(self.head.backward(dlogits), last_only=not self.cfg.per_step)

    def _loss(self, logits, y):
        y = np.asarray(y)
        loss, dlogits = cross_entropy(logits, y, reduction="sum", ignore_index=IGNORE_INDEX)
        count = int((y != IGNORE_INDEX).sum())
        return loss, dlogits, count

    def last_step_loss(self, h_last: np.ndarray, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Each sequence's cross-entropy from h_T (B, H): (losses (B,), d losses / d h_T (B, H))."""
        if self.cfg.per_step:
            raise ValueError(
                "SequenceClassifier.last_step_loss: a per_step model's loss is spread over "
                "every step, not the last one only"
            )
        logits = h_last @ self.head.weight.T + self.head.bias
        losses, dlogits = cross_entropy(logits, np.asarray(y), reduction="none", ignore_index=None)
        return losses, dlogits @ self.head.weight

    def train_step(self, batch: tuple, state: Any) -> StepResult:
        x, y = batch
        logits = self.forward(x)
        loss, dlogits, count = self._loss(logits, y)
        self.backward(dlogits / max(count, 1))  # gradient of the mean
        return StepResult(loss, count)

    def eval_step(self, batch: tuple, state: Any) -> StepResult:
        x, y = batch
        with no_grad():
            loss, _, count = self._loss(self.forward(x), y)
        return StepResult(loss, count)

    def predict(self, x: ArrayLike) -> np.ndarray:
        """Class ids: (B,), or (T, B) with per_step."""
        with no_grad():
            return self.forward(x).argmax(axis=-1)


def task_model_from_config(config: dict, expect: type | None = None) -> SequenceRegressor | SequenceClassifier:
    """Build the task model a saved config describes (its ``kind`` picks the class)."""
    kinds = {"sequence_regressor": SequenceRegressor, "sequence_classifier": SequenceClassifier}
    if not isinstance(config, dict) or config.get("kind") not in kinds:
        kind = config.get("kind") if isinstance(config, dict) else type(config).__name__
        raise ValueError(f"task_model_from_config: config kind must be one of {', '.join(kinds)}, got {kind!r}")
    cls = kinds[config["kind"]]
    if expect is not None and cls is not expect:
        raise ValueError(f"{expect.__name__}.from_config: config kind must be {expect._kind!r}, got {config['kind']!r}")
    known = set(TaskModelConfig.__dataclass_fields__)
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"task_model_from_config: unknown config keys {unknown}")
    return cls(TaskModelConfig(**config))
