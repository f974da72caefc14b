"""Optimisers that update a dict of parameter arrays in place from a dict of gradients.

Each optimiser takes two mappings with the same keys, ``params`` and ``grads``
(name -> ``np.ndarray``, float32 or float64), typically ``model.params`` and
``model.grads``. It keeps references to those *live* arrays: ``step()``
writes into ``params[name]`` in place and never rebinds it, and
``zero_grad()`` zeroes ``grads[name]`` in place.

The update rules, defaults and step counting are those of ``torch.optim``
(single parameter group, no ``maximize``), so a model trained here and one
trained with PyTorch on the same gradients agree to rounding. The equations
in each docstring use ``t`` for the step count (1 on the first ``step()``),
``g`` for the gradient, ``p`` for the parameter and ``lr`` for the learning
rate.

``lr`` is a mutable attribute (the schedules in ``rnnkit.schedules`` set it);
the other hyper-parameters are fixed at construction and readable from
``opt.hyper``. ``state_dict()`` returns ``{"arrays": {str: ndarray},
"meta": {...}}`` with JSON-serialisable ``meta`` (safetensors for the arrays,
JSON for the rest), and ``load_state_dict`` restores it exactly, so a resumed
run is bit-identical to an uninterrupted one.

Temporaries: every update works in two scratch buffers per dtype, sized for
the largest parameter and shared by all of them, so a step allocates nothing.
Plain SGD (no momentum or weight decay) runs on the compiled backend, when it
is in use, as one pass per weight that reads p and g and writes p, with the
same roundings as the NumPy update (``SGD._one_pass``).

Example
-------
>>> import numpy as np
>>> from rnnkit.optim import Adam
>>> params = {"w": np.ones(3)}
>>> grads = {"w": np.array([0.5, -1.0, 0.0])}
>>> opt = Adam(params, grads, lr=0.1)
>>> opt.step()
>>> params["w"].round(6).tolist()
[0.9, 1.1, 1.0]
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from rnnkit import _kernels
from rnnkit._validate import check_real

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW"]


# -- validation helpers ------------------------------------------------------------------------
def _real(where: str, name: str, value, *, low: float | None = 0.0, **bounds) -> float:
    """A finite real number, >= 0 unless ``low`` says otherwise (rnnkit._validate.check_real)."""
    return check_real(where, name, value, low=low, **bounds)


def _flag(where: str, name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {name} must be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def _check_params_grads(where: str, params, grads) -> tuple[dict, dict]:
    """Check that params and grads are matching mappings of float arrays; return plain dicts."""
    for arg, d in (("params", params), ("grads", grads)):
        if not isinstance(d, Mapping):
            raise TypeError(f"{where}: {arg} must be a mapping of name -> np.ndarray, got {type(d).__name__}")
    if len(params) == 0:
        raise ValueError(f"{where}: params must not be empty")
    missing = [k for k in params if k not in grads]
    unexpected = [k for k in grads if k not in params]
    if missing or unexpected:
        raise ValueError(
            f"{where}: grads must have the same keys as params; missing {missing}, unexpected {unexpected}"
        )
    seen: dict[int, str] = {}
    for k, p in params.items():
        g = grads[k]
        for arg, a in (("params", p), ("grads", g)):
            if not isinstance(a, np.ndarray):
                raise TypeError(f"{where}: {arg}[{k!r}] must be a numpy array, got {type(a).__name__}")
            if a.dtype not in (np.float32, np.float64):
                raise TypeError(f"{where}: {arg}[{k!r}] must be float32 or float64, got dtype {a.dtype}")
        if g.shape != p.shape:
            raise ValueError(f"{where}: grads[{k!r}] must have shape {p.shape} like params[{k!r}], got {g.shape}")
        if g.dtype != p.dtype:
            raise TypeError(f"{where}: grads[{k!r}] must have dtype {p.dtype} like params[{k!r}], got {g.dtype}")
        if not p.flags.writeable:
            raise ValueError(f"{where}: params[{k!r}] must be writeable, got a read-only array")
        if id(p) in seen:
            raise ValueError(
                f"{where}: params[{seen[id(p)]!r}] and params[{k!r}] are the same array; pass a tied weight once"
            )
        seen[id(p)] = k
    return dict(params), dict(grads)


# -- base class --------------------------------------------------------------------------------
class Optimizer:
    """Base class: live params/grads, a mutable ``lr``, a step count and per-parameter buffers.

    A subclass sets ``_defaults`` (hyper-parameter name -> default, ``lr``
    included), implements ``_check_hyper`` (validate a full hyper-parameter
    dict), ``_buffers`` (the state arrays those hyper-parameters need, with
    their initial fill value) and ``_update`` (one parameter's step).
    """

    _defaults: dict[str, Any] = {}

    def __init__(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray], **hyper: Any) -> None:
        where = type(self).__name__
        self.params, self.grads = _check_params_grads(where, params, grads)
        self._hyper = self._check_hyper(where, {**self._defaults, **hyper})
        self._step = 0
        self.state = self._fresh_state(self._hyper)
        # Two scratch buffers per dtype, as large as the largest parameter, shared by every update.
        sizes: dict[np.dtype, int] = {}
        for p in self.params.values():
            sizes[p.dtype] = max(sizes.get(p.dtype, 0), p.size)
        self._scratch = {dt: (np.empty(n, dt), np.empty(n, dt)) for dt, n in sizes.items()}
        self.weight_sumsq: dict[str, float] | None = None  # set by step() (its docstring)

    # -- hyper-parameters ----------------------------------------------------------------------
    @property
    def lr(self) -> float:
        """The learning rate; assignable (schedules set it), validated on assignment."""
        return self._hyper["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        self._hyper["lr"] = _real(f"{type(self).__name__}", "lr", value)

    @property
    def hyper(self) -> dict[str, Any]:
        """A copy of the hyper-parameters (``lr`` included)."""
        return dict(self._hyper)

    @property
    def step_count(self) -> int:
        """How many times ``step()`` has run (``t`` in the equations)."""
        return self._step

    def _check_hyper(self, where: str, hyper: dict) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def _buffers(self, hyper: dict) -> dict[str, float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _fresh_state(self, hyper: dict) -> dict[str, dict[str, np.ndarray]]:
        bufs = self._buffers(hyper)
        return {k: {b: np.full_like(p, fill) for b, fill in bufs.items()} for k, p in self.params.items()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._hyper.items())
        return f"{type(self).__name__}({args})"

    # -- stepping ------------------------------------------------------------------------------
    def zero_grad(self) -> None:
        """Set every gradient to zero in place."""
        for g in self.grads.values():
            g.fill(0.0)

    def step(self, grad_scale: float = 1.0) -> None:
        """Update every parameter in place from its current gradient times ``grad_scale``.

        ``grad_scale`` folds a factor common to every gradient (the coefficient of global-norm
        clipping, say) into the step, in place of a pass of its own over the gradients: the weights
        come out exactly as ``g *= grad_scale`` for every gradient followed by ``step()`` leaves them.
        Afterwards the gradients hold either g or grad_scale * g (SGD's one-pass update leaves them
        unscaled); zero them before the next backward pass, as always.

        ``weight_sumsq`` is then a dict of each weight's sum of squares (in its dtype) when the
        update computed them on the way (SGD's one-pass update), else None; the Trainer's check
        that the weights stayed finite reads it instead of a pass of its own.
        """
        scale = _real(type(self).__name__, "grad_scale", grad_scale)
        self._step += 1
        self.weight_sumsq = self._one_pass(scale)
        if self.weight_sumsq is not None:
            return
        if scale != 1.0:
            for g in self.grads.values():
                g *= scale
        for k, p in self.params.items():
            t1, t2 = self._scratch[p.dtype]
            self._update(p, self.grads[k], self.state[k], t1[: p.size].reshape(p.shape), t2[: p.size].reshape(p.shape))

    def _one_pass(self, scale: float) -> dict[str, float] | None:
        """The whole update in one compiled pass per weight, returning the weights' sums of squares,
        or None (the NumPy update runs). Subclasses whose update a loop backend covers override it."""
        return None

    def _update(self, p, g, state, t1, t2) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, dict]:
        """Copies of the state: ``{"arrays": {"<param>.<buffer>": array}, "meta": {...}}``.

        ``meta`` is JSON-serialisable: the optimiser's name, the hyper-parameters,
        the step count and each parameter's shape and dtype.
        """
        arrays = {f"{k}.{b}": a.copy() for k, bufs in self.state.items() for b, a in bufs.items()}
        hyper = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self._hyper.items()}
        meta = {
            "optimizer": type(self).__name__,
            "step": self._step,
            "hyper": hyper,
            "params": {k: {"shape": list(p.shape), "dtype": p.dtype.name} for k, p in self.params.items()},
        }
        return {"arrays": arrays, "meta": meta}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()``: hyper-parameters (``lr`` too), step count and buffers.

        Everything is checked before anything changes: the optimiser type, the
        parameter names, shapes and dtypes, the hyper-parameters and every array.
        """
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state, Mapping) or set(state) != {"arrays", "meta"}:
            got = sorted(state) if isinstance(state, Mapping) else type(state).__name__
            raise TypeError(f"{where}: state must be a mapping with keys 'arrays' and 'meta', got {got}")
        arrays, meta = state["arrays"], state["meta"]
        if not isinstance(arrays, Mapping) or not isinstance(meta, Mapping):
            raise TypeError(f"{where}: state['arrays'] and state['meta'] must be mappings")
        for key in ("optimizer", "step", "hyper", "params"):
            if key not in meta:
                raise ValueError(f"{where}: state['meta'] must have key {key!r}, got keys {sorted(meta)}")
        if meta["optimizer"] != type(self).__name__:
            raise ValueError(f"{where}: state must come from {type(self).__name__}, got {meta['optimizer']!r}")
        step = meta["step"]
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise ValueError(f"{where}: meta['step'] must be an int >= 0, got {step!r}")
        saved = meta["params"]
        if not isinstance(saved, Mapping):
            raise TypeError(f"{where}: meta['params'] must be a mapping, got {type(saved).__name__}")
        missing = [k for k in self.params if k not in saved]
        unexpected = [k for k in saved if k not in self.params]
        if missing or unexpected:
            raise ValueError(f"{where}: state does not match these params; missing {missing}, unexpected {unexpected}")
        for k, p in self.params.items():
            info = saved[k]
            if list(info.get("shape", ())) != list(p.shape) or info.get("dtype") != p.dtype.name:
                raise ValueError(
                    f"{where}: params[{k!r}] is {p.dtype.name} {tuple(p.shape)} here, "
                    f"got {info.get('dtype')} {tuple(info.get('shape', ()))} in the state"
                )
        hyper_in = meta["hyper"]
        if not isinstance(hyper_in, Mapping) or set(hyper_in) != set(self._defaults):
            got = sorted(hyper_in) if isinstance(hyper_in, Mapping) else type(hyper_in).__name__
            raise ValueError(f"{where}: meta['hyper'] must have keys {sorted(self._defaults)}, got {got}")
        hyper = self._check_hyper(where, dict(hyper_in))
        bufs = self._buffers(hyper)
        expected = {f"{k}.{b}" for k in self.params for b in bufs}
        if set(arrays) != expected:
            raise ValueError(f"{where}: state['arrays'] must have keys {sorted(expected)}, got {sorted(arrays)}")
        new_state: dict[str, dict[str, np.ndarray]] = {}
        for k, p in self.params.items():
            new_state[k] = {}
            for b in bufs:
                a = arrays[f"{k}.{b}"]
                if not isinstance(a, np.ndarray):
                    raise TypeError(
                        f"{where}: state['arrays'][{k + '.' + b!r}] must be a numpy array, got {type(a).__name__}"
                    )
                if a.shape != p.shape or a.dtype != p.dtype:
                    raise ValueError(
                        f"{where}: state['arrays'][{k + '.' + b!r}] must be {p.dtype.name} {tuple(p.shape)}, "
                        f"got {a.dtype.name} {tuple(a.shape)}"
                    )
                new_state[k][b] = np.array(a, copy=True, order="C")
        self._hyper, self._step, self.state = hyper, int(step), new_state


# -- the optimisers ----------------------------------------------------------------------------
class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, dampening, Nesterov and L2 weight decay.

    Equations (``mu`` momentum, ``tau`` dampening, ``wd`` weight_decay)::

        g = g + wd * p
        b = g                           if t == 1      (momentum buffer)
        b = mu * b + (1 - tau) * g      otherwise
        d = g + mu * b  if nesterov  else  b           (d = g when mu == 0)
        p = p - lr * d

    Nesterov momentum needs ``momentum > 0`` and ``dampening == 0``.

    Example
    -------
    >>> import numpy as np
    >>> params, grads = {"w": np.zeros(2)}, {"w": np.ones(2)}
    >>> opt = SGD(params, grads, lr=0.5, momentum=0.9)
    >>> opt.step(); opt.step()
    >>> params["w"].tolist()
    [-1.45, -1.45]
    """

    _defaults = {"lr": None, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False}

    def __init__(
        self,
        params: dict,
        grads: dict,
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(
            params, grads, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov
        )

    def _check_hyper(self, where, h):
        if h["lr"] is None:
            raise TypeError(f"{where}: lr is required, got None")
        out = {
            "lr": _real(where, "lr", h["lr"]),
            "momentum": _real(where, "momentum", h["momentum"]),
            "dampening": _real(where, "dampening", h["dampening"]),
            "weight_decay": _real(where, "weight_decay", h["weight_decay"]),
            "nesterov": _flag(where, "nesterov", h["nesterov"]),
        }
        if out["nesterov"] and (out["momentum"] <= 0 or out["dampening"] != 0):
            raise ValueError(
                f"{where}: nesterov=True requires momentum > 0 and dampening == 0, "
                f"got momentum={out['momentum']}, dampening={out['dampening']}"
            )
        return out

    def _buffers(self, h):
        return {"momentum_buffer": 0.0} if h["momentum"] != 0 else {}

    def _one_pass(self, scale: float) -> dict[str, float] | None:
        # Plain SGD (no momentum, no weight decay) on the compiled backend: p -= (g * scale) * lr,
        # rounded as the NumPy update rounds it, one pass reading p and g (rnnkit/_kernels/update.h).
        h = self._hyper
        if h["momentum"] != 0 or h["weight_decay"] != 0:
            return None
        adapters = {}
        for p in self.params.values():
            if p.dtype not in adapters:
                adapters[p.dtype] = _kernels.update_adapter(p.dtype)
            if adapters[p.dtype] is None or not p.flags.c_contiguous:
                return None
        if not all(g.flags.c_contiguous for g in self.grads.values()):
            return None
        lr = h["lr"]
        return {k: adapters[p.dtype].sgd(p, self.grads[k], scale, lr) for k, p in self.params.items()}

    def _update(self, p, g, state, t1, t2):
        h = self._hyper
        lr, mu, wd = h["lr"], h["momentum"], h["weight_decay"]
        if wd != 0:
            g = np.add(g, np.multiply(p, wd, out=t1), out=t1)  # g + wd p
        if mu != 0:
            b = state["momentum_buffer"]
            if self._step == 1:
                np.copyto(b, g)  # b = g
            else:
                b *= mu  # b = mu b + (1 - tau) g
                b += g if h["dampening"] == 0 else np.multiply(g, 1.0 - h["dampening"], out=t2)
            if h["nesterov"]:
                g = np.add(g, np.multiply(b, mu, out=t2), out=t2)  # d = g + mu b
            else:
                g = b  # d = b
        p -= np.multiply(g, lr, out=t2)  # p - lr d


class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011): per-coordinate steps shrunk by the root of the summed squared gradients.

    Equations (``wd`` weight_decay, ``s`` the accumulator, starting at
    ``initial_accumulator_value``)::

        g   = g + wd * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s   = s + g * g
        p   = p - clr * g / (sqrt(s) + eps)

    Example
    -------
    >>> import numpy as np
    >>> params, grads = {"w": np.zeros(2)}, {"w": np.array([2.0, -3.0])}
    >>> opt = Adagrad(params, grads, lr=0.1)
    >>> opt.step()
    >>> params["w"].round(6).tolist()
    [-0.1, 0.1]
    """

    _defaults = {"lr": 0.01, "lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0, "eps": 1e-10}

    def __init__(
        self,
        params: dict,
        grads: dict,
        lr: float = 0.01,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        super().__init__(
            params,
            grads,
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
        )

    def _check_hyper(self, where, h):
        return {
            "lr": _real(where, "lr", h["lr"]),
            "lr_decay": _real(where, "lr_decay", h["lr_decay"]),
            "weight_decay": _real(where, "weight_decay", h["weight_decay"]),
            "initial_accumulator_value": _real(where, "initial_accumulator_value", h["initial_accumulator_value"]),
            "eps": _real(where, "eps", h["eps"]),
        }

    def _buffers(self, h):
        return {"sum": h["initial_accumulator_value"]}

    def _update(self, p, g, state, t1, t2):
        h = self._hyper
        wd = h["weight_decay"]
        clr = h["lr"] / (1.0 + (self._step - 1) * h["lr_decay"])
        if wd != 0:
            g = np.add(g, np.multiply(p, wd, out=t1), out=t1)  # g + wd p
        s = state["sum"]
        s += np.multiply(g, g, out=t2)  # s + g^2
        std = np.sqrt(s, out=t2)
        std += h["eps"]  # sqrt(s) + eps
        step = np.divide(g, std, out=t2)
        step *= clr
        p -= step  # p - clr g / (sqrt(s) + eps)


class RMSprop(Optimizer):
    """RMSprop (Tieleman & Hinton 2012; the centered form from Graves 2013), as torch.optim.RMSprop.

    Equations (``a`` alpha, ``mu`` momentum, ``wd`` weight_decay; ``v``,
    ``m``, ``b`` start at zero)::

        g   = g + wd * p
        v   = a * v + (1 - a) * g * g
        m   = a * m + (1 - a) * g                  (centered only)
        den = sqrt(v - m * m) + eps  if centered  else  sqrt(v) + eps
        b   = mu * b + g / den;  p = p - lr * b    if mu > 0
        p   = p - lr * g / den                     otherwise

    In the centered form ``v - m * m`` is clamped at 0, so rounding near zero
    variance cannot produce a NaN.

    Example
    -------
    >>> import numpy as np
    >>> params, grads = {"w": np.zeros(1)}, {"w": np.ones(1)}
    >>> opt = RMSprop(params, grads, lr=0.01)
    >>> opt.step()
    >>> round(float(params["w"][0]), 6)
    -0.1
    """

    _defaults = {"lr": 0.01, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0, "centered": False}

    def __init__(
        self,
        params: dict,
        grads: dict,
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        super().__init__(
            params, grads, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered
        )

    def _check_hyper(self, where, h):
        return {
            "lr": _real(where, "lr", h["lr"]),
            "alpha": _real(where, "alpha", h["alpha"]),
            "eps": _real(where, "eps", h["eps"]),
            "weight_decay": _real(where, "weight_decay", h["weight_decay"]),
            "momentum": _real(where, "momentum", h["momentum"]),
            "centered": _flag(where, "centered", h["centered"]),
        }

    def _buffers(self, h):
        bufs = {"square_avg": 0.0}
        if h["centered"]:
            bufs["grad_avg"] = 0.0
        if h["momentum"] > 0:
            bufs["momentum_buffer"] = 0.0
        return bufs

    def _update(self, p, g, state, t1, t2):
        h = self._hyper
        a, wd, mu = h["alpha"], h["weight_decay"], h["momentum"]
        if wd != 0:
            g = np.add(g, np.multiply(p, wd, out=t1), out=t1)  # g + wd p
        v = state["square_avg"]
        v *= a  # v = a v + (1 - a) g^2
        sq = np.multiply(g, g, out=t2)
        sq *= 1.0 - a
        v += sq
        if h["centered"]:
            m = state["grad_avg"]
            m *= a  # m = a m + (1 - a) g
            m += np.multiply(g, 1.0 - a, out=t2)
            den = np.subtract(v, np.multiply(m, m, out=t2), out=t2)  # v - m^2, >= 0 up to rounding
            np.maximum(den, 0.0, out=den)
            np.sqrt(den, out=den)
        else:
            den = np.sqrt(v, out=t2)
        den += h["eps"]
        step = np.divide(g, den, out=t2)  # g / den
        if mu > 0:
            b = state["momentum_buffer"]
            b *= mu  # b = mu b + g / den
            b += step
            step = np.multiply(b, h["lr"], out=t2)
        else:
            step *= h["lr"]
        p -= step  # p - lr (b or g / den)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with L2 weight decay added to the gradient, and the AMSGrad option.

    Equations (``b1, b2`` betas, ``wd`` weight_decay; ``m``, ``v``, ``vmax``
    start at zero)::

        g    = g + wd * p                         (Adam; AdamW decays p instead)
        m    = b1 * m + (1 - b1) * g
        v    = b2 * v + (1 - b2) * g * g
        vmax = max(vmax, v);  u = vmax  if amsgrad  else  u = v
        p    = p - lr / (1 - b1**t) * m / (sqrt(u) / sqrt(1 - b2**t) + eps)

    Example
    -------
    >>> import numpy as np
    >>> params, grads = {"w": np.zeros(2)}, {"w": np.array([3.0, -0.01])}
    >>> opt = Adam(params, grads, lr=0.1)
    >>> opt.step()
    >>> params["w"].round(6).tolist()
    [-0.1, 0.1]
    """

    _defaults = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False}
    _decoupled = False  # AdamW sets True

    def __init__(
        self,
        params: dict,
        grads: dict,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, grads, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)

    def _check_hyper(self, where, h):
        betas = h["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{where}: betas must be a pair (beta1, beta2), got {betas!r}")
        return {
            "lr": _real(where, "lr", h["lr"]),
            "betas": (
                _real(where, "betas[0]", betas[0], high=1.0, high_open=True),
                _real(where, "betas[1]", betas[1], high=1.0, high_open=True),
            ),
            "eps": _real(where, "eps", h["eps"]),
            "weight_decay": _real(where, "weight_decay", h["weight_decay"]),
            "amsgrad": _flag(where, "amsgrad", h["amsgrad"]),
        }

    def _buffers(self, h):
        bufs = {"exp_avg": 0.0, "exp_avg_sq": 0.0}
        if h["amsgrad"]:
            bufs["max_exp_avg_sq"] = 0.0
        return bufs

    def _update(self, p, g, state, t1, t2):
        h = self._hyper
        lr, wd, eps = h["lr"], h["weight_decay"], h["eps"]
        b1, b2 = h["betas"]
        t = self._step
        if wd != 0:
            if self._decoupled:
                p *= 1.0 - lr * wd  # AdamW: p = p (1 - lr wd)
            else:
                g = np.add(g, np.multiply(p, wd, out=t1), out=t1)  # Adam: g + wd p
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= b1  # m = b1 m + (1 - b1) g
        m += np.multiply(g, 1.0 - b1, out=t2)
        v *= b2  # v = b2 v + (1 - b2) g^2
        sq = np.multiply(g, g, out=t2)
        sq *= 1.0 - b2
        v += sq
        if h["amsgrad"]:
            v = np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        den = np.sqrt(v, out=t2)  # sqrt(u) / sqrt(1 - b2^t) + eps
        den /= math.sqrt(1.0 - b2**t)
        den += eps
        step = np.divide(m, den, out=t2)
        step *= lr / (1.0 - b1**t)
        p -= step  # p - lr / (1 - b1^t) m / den


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter 2019): Adam with weight decay applied to the parameter, not the gradient.

    Equations: as :class:`Adam` with ``wd = 0`` in the gradient, preceded by ::

        p = p * (1 - lr * wd)

    The default ``weight_decay`` is 1e-2, as in torch.optim.AdamW.

    Example
    -------
    >>> import numpy as np
    >>> params, grads = {"w": np.ones(1)}, {"w": np.zeros(1)}
    >>> opt = AdamW(params, grads, lr=0.1, weight_decay=0.5)
    >>> opt.step()
    >>> round(float(params["w"][0]), 6)
    0.95
    """

    _defaults = {**Adam._defaults, "weight_decay": 1e-2}
    _decoupled = True

    def __init__(
        self,
        params: dict,
        grads: dict,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, grads, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
