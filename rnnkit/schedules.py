"""Learning-rate schedules that set an optimiser's ``lr`` once per epoch.

A schedule wraps any object with a mutable ``lr`` attribute (every optimiser in
``rnnkit.optim``). It records ``base_lr = optimizer.lr`` when it is built and
counts epochs in ``last_epoch`` (0 at construction). Call ``step()`` (or
``step(metric)`` for :class:`ReduceLROnPlateau`) once at the *end* of each
epoch, as with ``torch.optim.lr_scheduler``; the lr sequences match
PyTorch's ``StepLR``, ``ReduceLROnPlateau`` and ``CosineAnnealingLR``.

``state_dict()`` returns a JSON-serialisable dict (non-finite floats are
written as the strings ``"inf"``, ``"-inf"``, ``"nan"``) and
``load_state_dict`` restores it. The optimiser's current ``lr`` lives in the
optimiser's own state; restore both to resume.

Example
-------
>>> import numpy as np
>>> from rnnkit.optim import SGD
>>> opt = SGD({"w": np.zeros(1)}, {"w": np.zeros(1)}, lr=1.0)
>>> sched = StepDecay(opt, step_size=1, gamma=0.5, decay_start=2)   # Zaremba et al. 2014
>>> lrs = []
>>> for epoch in range(5):
...     lrs.append(opt.lr)   # train one epoch with this lr
...     sched.step()
>>> lrs
[1.0, 1.0, 0.5, 0.25, 0.125]
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from rnnkit._validate import check_choice, check_positive_int
from rnnkit._validate import check_real as _real
from rnnkit.optim import Optimizer

__all__ = ["LRSchedule", "StepDecay", "ReduceLROnPlateau", "CosineAnnealing"]


def _float_to_json(x: float):
    return x if math.isfinite(x) else repr(x)  # "inf", "-inf", "nan"


def _float_from_json(where: str, name: str, x) -> float:
    if isinstance(x, str) and x in ("inf", "-inf", "nan"):
        return float(x)
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{where}: {name} must be a number or 'inf'/'-inf'/'nan', got {x!r}")
    return float(x)


class LRSchedule:
    """Base class: holds the optimiser, ``base_lr`` and ``last_epoch``; handles state_dict checks.

    A subclass lists its constructor arguments in ``_hyper_names`` and its
    mutable counters in ``_counter_names``, and implements ``_check`` (validate
    a dict of both, returning the cleaned values) and ``step``.
    """

    _hyper_names: tuple[str, ...] = ()
    _counter_names: tuple[str, ...] = ()

    def __init__(self, optimizer: Optimizer, **hyper: Any) -> None:
        where = type(self).__name__
        if not hasattr(optimizer, "lr"):
            raise TypeError(f"{where}: optimizer must have an 'lr' attribute, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = _real(where, "optimizer.lr", optimizer.lr, low=0.0)
        self.last_epoch = 0
        for k, v in self._check(where, hyper).items():
            setattr(self, k, v)

    def _check(self, where: str, values: dict) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self, *args: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def lr(self) -> float:
        """The optimiser's current learning rate."""
        return self.optimizer.lr

    def state_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of the schedule's name, hyper-parameters and counters."""
        out: dict[str, Any] = {"schedule": type(self).__name__, "base_lr": self.base_lr, "last_epoch": self.last_epoch}
        for k in self._hyper_names + self._counter_names:
            v = getattr(self, k)
            out[k] = _float_to_json(v) if isinstance(v, float) else v
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()``; everything is checked before anything changes."""
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state, Mapping):
            raise TypeError(f"{where}: state must be a mapping, got {type(state).__name__}")
        expected = {"schedule", "base_lr", "last_epoch", *self._hyper_names, *self._counter_names}
        if set(state) != expected:
            raise ValueError(f"{where}: state must have keys {sorted(expected)}, got {sorted(state)}")
        if state["schedule"] != type(self).__name__:
            raise ValueError(f"{where}: state must come from {type(self).__name__}, got {state['schedule']!r}")
        base_lr = _real(where, "base_lr", state["base_lr"], low=0.0)
        last_epoch = check_positive_int(where, "last_epoch", state["last_epoch"], minimum=0)
        values = {k: state[k] for k in self._hyper_names + self._counter_names}
        values = self._check(where, values)
        self.base_lr, self.last_epoch = base_lr, last_epoch
        for k, v in values.items():
            setattr(self, k, v)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._hyper_names)
        return f"{type(self).__name__}({args}, last_epoch={self.last_epoch})"


class StepDecay(LRSchedule):
    """Multiply lr by ``gamma`` at epoch ``decay_start`` and every ``step_size`` epochs after it.

    With ``e = last_epoch`` after ``step()``::

        lr = lr * gamma   if e >= decay_start and (e - decay_start) % step_size == 0
        lr = lr           otherwise

    so from a constant start, ``lr_e = base_lr * gamma ** n_e`` with
    ``n_e = 0`` for ``e < decay_start`` and ``1 + (e - decay_start) // step_size``
    after. ``decay_start`` defaults to ``step_size``, which is PyTorch's
    ``StepLR``. Zaremba et al. (2014) keep the lr for the first N epochs and
    then divide it by a constant after every epoch: ``step_size=1,
    decay_start=N`` with N=4, gamma=1/2 (small model), N=6, gamma=1/1.2
    (medium) and N=14, gamma=1/1.15 (large).

    Example
    -------
    >>> import numpy as np
    >>> from rnnkit.optim import SGD
    >>> opt = SGD({"w": np.zeros(1)}, {"w": np.zeros(1)}, lr=1.0)
    >>> sched = StepDecay(opt, step_size=2, gamma=0.1)               # StepLR(step_size=2)
    >>> for _ in range(4):
    ...     sched.step()
    >>> round(opt.lr, 12)
    0.01
    """

    _hyper_names = ("step_size", "gamma", "decay_start")

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, decay_start: int | None = None
    ) -> None:
        super().__init__(
            optimizer, step_size=step_size, gamma=gamma, decay_start=step_size if decay_start is None else decay_start
        )

    def _check(self, where, v):
        return {
            "step_size": check_positive_int(where, "step_size", v["step_size"]),
            "gamma": _real(where, "gamma", v["gamma"], low=0.0),
            "decay_start": check_positive_int(where, "decay_start", v["decay_start"]),
        }

    def step(self) -> None:
        """Advance one epoch and decay lr if this epoch is a decay epoch."""
        self.last_epoch += 1
        e = self.last_epoch
        if e >= self.decay_start and (e - self.decay_start) % self.step_size == 0:
            self.optimizer.lr = self.optimizer.lr * self.gamma


class CosineAnnealing(LRSchedule):
    """Cosine annealing from ``base_lr`` to ``eta_min`` over ``T_max`` epochs (Loshchilov & Hutter 2017, no restarts).

    With ``e = last_epoch`` after ``step()``::

        lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * e / T_max)) / 2

    Past ``T_max`` the cosine carries on (the lr rises again, period
    ``2 * T_max``), as PyTorch's ``CosineAnnealingLR`` does. The lr is set from
    this closed form each epoch, so changes made to ``optimizer.lr`` by hand
    are overwritten at the next ``step()``.

    Example
    -------
    >>> import numpy as np
    >>> from rnnkit.optim import SGD
    >>> opt = SGD({"w": np.zeros(1)}, {"w": np.zeros(1)}, lr=1.0)
    >>> sched = CosineAnnealing(opt, T_max=2)
    >>> sched.step(); round(opt.lr, 12)
    0.5
    """

    _hyper_names = ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        super().__init__(optimizer, T_max=T_max, eta_min=eta_min)

    def _check(self, where, v):
        return {
            "T_max": check_positive_int(where, "T_max", v["T_max"]),
            "eta_min": _real(where, "eta_min", v["eta_min"], low=0.0),
        }

    def step(self) -> None:
        """Advance one epoch and set lr from the cosine."""
        self.last_epoch += 1
        cos = math.cos(math.pi * self.last_epoch / self.T_max)
        self.optimizer.lr = self.eta_min + (self.base_lr - self.eta_min) * (1.0 + cos) / 2.0


class ReduceLROnPlateau(LRSchedule):
    """Multiply lr by ``factor`` when a metric has not improved for more than ``patience`` epochs.

    ``step(metric)`` once per epoch. The metric improves on ``best`` when ::

        metric < best * (1 - threshold)     mode "min", threshold_mode "rel"
        metric < best - threshold           mode "min", threshold_mode "abs"
        metric > best * (1 + threshold)     mode "max", threshold_mode "rel"
        metric > best + threshold           mode "max", threshold_mode "abs"

    An improvement sets ``best = metric`` and ``num_bad_epochs = 0``; otherwise
    ``num_bad_epochs += 1`` (a NaN metric is never an improvement). During
    ``cooldown`` epochs after a reduction bad epochs are not counted. When
    ``num_bad_epochs > patience``::

        lr = max(lr * factor, min_lr)      (skipped if it would change lr by eps or less)

    and the cooldown starts. These are the rules of PyTorch's ``ReduceLROnPlateau``.

    Example
    -------
    >>> import numpy as np
    >>> from rnnkit.optim import SGD
    >>> opt = SGD({"w": np.zeros(1)}, {"w": np.zeros(1)}, lr=1.0)
    >>> sched = ReduceLROnPlateau(opt, factor=0.5, patience=1)
    >>> for loss in [3.0, 2.0, 2.0, 2.0]:
    ...     sched.step(loss)
    >>> opt.lr
    0.5
    """

    _hyper_names = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr", "eps")
    _counter_names = ("best", "num_bad_epochs", "cooldown_counter")

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
        worst = math.inf if mode == "min" else -math.inf
        super().__init__(
            optimizer,
            mode=mode,
            factor=factor,
            patience=patience,
            threshold=threshold,
            threshold_mode=threshold_mode,
            cooldown=cooldown,
            min_lr=min_lr,
            eps=eps,
            best=worst,
            num_bad_epochs=0,
            cooldown_counter=0,
        )

    def _check(self, where, v):
        return {
            "mode": check_choice(where, "mode", v["mode"], ("min", "max")),
            "factor": _real(where, "factor", v["factor"], low=0.0, low_open=True, high=1.0, high_open=True),
            "patience": check_positive_int(where, "patience", v["patience"], minimum=0),
            "threshold": _real(where, "threshold", v["threshold"], low=0.0),
            "threshold_mode": check_choice(where, "threshold_mode", v["threshold_mode"], ("rel", "abs")),
            "cooldown": check_positive_int(where, "cooldown", v["cooldown"], minimum=0),
            "min_lr": _real(where, "min_lr", v["min_lr"], low=0.0),
            "eps": _real(where, "eps", v["eps"], low=0.0),
            "best": _float_from_json(where, "best", v["best"]),
            "num_bad_epochs": check_positive_int(where, "num_bad_epochs", v["num_bad_epochs"], minimum=0),
            "cooldown_counter": check_positive_int(where, "cooldown_counter", v["cooldown_counter"], minimum=0),
        }

    def _is_better(self, a: float) -> bool:
        if self.mode == "min":
            return a < (
                self.best * (1.0 - self.threshold) if self.threshold_mode == "rel" else self.best - self.threshold
            )
        return a > (self.best * (1.0 + self.threshold) if self.threshold_mode == "rel" else self.best + self.threshold)

    def step(self, metric: float) -> None:
        """Record this epoch's metric (e.g. validation loss) and reduce lr if it has plateaued."""
        if isinstance(metric, bool) or not isinstance(metric, numbers.Real):
            raise TypeError(f"ReduceLROnPlateau.step: metric must be a real number, got {type(metric).__name__}")
        metric = float(metric)
        self.last_epoch += 1
        if self._is_better(metric):
            self.best = metric
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during cooldown do not count
        if self.num_bad_epochs > self.patience:
            old = self.optimizer.lr
            new = max(old * self.factor, self.min_lr)
            if old - new > self.eps:
                self.optimizer.lr = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
