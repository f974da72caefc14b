"""The base class of every rnnkit layer and model.

A ``Module`` owns NumPy arrays of parameters and, beside each, an array of the
same shape for its gradient. The names are PyTorch's (``weight_ih_l0``,
``encoder.weight``, ...), so ``state_dict()`` moves to and from PyTorch as a
plain dict copy.

Contract, relied on by optimisers, checkpoints and the Trainer:

- ``params`` and ``grads`` map the same names to *live* arrays. Optimisers
  update ``params[name]`` in place and ``load_state_dict`` copies into the
  existing arrays: an array is never rebound, so references stay valid.
- ``backward`` *adds* into ``grads`` (as PyTorch accumulates into ``.grad``);
  call ``zero_grad()`` before each new backward pass.
- ``state_dict()`` returns copies; mutating them changes nothing.
- Submodules assigned as attributes are registered under their attribute
  name, and their parameters appear as ``"<attr>.<name>"``.
- ``train()`` / ``eval()`` set ``training`` on the module and every submodule
  (dropout reads it).
- A module that draws random numbers (dropout masks) owns a generator,
  ``rng``, seeded at construction; ``generators()`` collects them all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np


class Module:
    def __init__(self) -> None:
        object.__setattr__(self, "_own_params", {})
        object.__setattr__(self, "_own_grads", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    # -- registration -------------------------------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, Module):
            if "_modules" not in self.__dict__:
                raise RuntimeError(f"{type(self).__name__}: call Module.__init__() before assigning submodules")
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_parameter(self, name: str, value: np.ndarray) -> np.ndarray:
        """Own ``value`` as parameter ``name`` and allocate its zeroed gradient."""
        value = np.ascontiguousarray(value)
        self._own_params[name] = value
        self._own_grads[name] = np.zeros_like(value)
        return value

    # -- views ---------------------------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, mod in self._modules.items():
            yield from mod.named_modules(f"{prefix}{name}.")

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Name -> live parameter array, submodules included (PyTorch's order)."""
        return {p + k: v for p, m in self.named_modules() for k, v in m._own_params.items()}

    @property
    def grads(self) -> dict[str, np.ndarray]:
        """Name -> live gradient array, the same keys as ``params``."""
        return {p + k: v for p, m in self.named_modules() for k, v in m._own_grads.items()}

    def generators(self) -> dict[str, np.random.Generator]:
        """Module path -> the random generator of every (sub)module that draws masks.

        A module that draws random numbers keeps its own ``np.random.Generator``
        as ``rng``; checkpoints save these states so a resumed run continues
        the same random streams.
        """
        return {
            p.rstrip(".") or "": m.rng
            for p, m in self.named_modules()
            if isinstance(getattr(m, "rng", None), np.random.Generator)
        }

    def num_parameters(self) -> int:
        return sum(v.size for v in self.params.values())

    def zero_grad(self) -> None:
        for g in self.grads.values():
            g.fill(0.0)

    def train(self, mode: bool = True) -> Module:
        for _, m in self.named_modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        return self.train(False)

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter, keyed by PyTorch-compatible names."""
        return {k: v.copy() for k, v in self.params.items()}

    def load_state_dict(self, state: Mapping[str, object], strict: bool = True) -> None:
        """Copy ``state`` into the parameters in place, checking names and shapes.

        Values may be NumPy arrays or anything with ``.numpy()`` / ``__array__``
        (a torch tensor on the CPU, for instance), of any floating-point dtype;
        integer, bool and complex values are refused (TypeError), and so are
        values that are not finite, before or after the cast to the
        parameter's dtype (ValueError naming the key: 1e300 does not fit in
        float32). With ``strict=False`` missing and unexpected keys are
        ignored; shapes are always checked. Nothing is copied unless every
        value passes.
        """
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state, Mapping):
            raise TypeError(f"{where}: state must be a mapping of name -> array, got {type(state).__name__}")
        params = self.params
        if strict:
            missing = [k for k in params if k not in state]
            unexpected = [k for k in state if k not in params]
            if missing or unexpected:
                raise KeyError(
                    f"{where}: state does not match this model; missing keys {missing}, unexpected keys {unexpected}"
                )
        converted = {}
        for k, dst in params.items():
            if k not in state:
                continue
            src = state[k]
            if hasattr(src, "detach"):
                src = src.detach().cpu().numpy()
            src = np.asarray(src)
            if src.shape != dst.shape:
                raise ValueError(f"{where}: {k} must have shape {tuple(dst.shape)}, got {tuple(src.shape)}")
            if src.dtype.kind != "f":  # int, bool, complex, object, str weights are a mistake, not a format
                raise TypeError(f"{where}: {k} must hold floating-point numbers, got dtype {src.dtype}")
            if not np.isfinite(src).all():
                raise ValueError(f"{where}: {k} must be finite, got non-finite values")
            with np.errstate(over="ignore"):  # overflow is reported below, naming the key
                cast = src.astype(dst.dtype)
            if not np.isfinite(cast).all():
                big = float(np.max(np.abs(src[~np.isfinite(cast)])))
                raise ValueError(
                    f"{where}: {k} must fit in {dst.dtype}, got {big:g}, which overflows to inf after the cast"
                )
            converted[k] = cast
        for k, src in converted.items():  # all checked first: nothing half-loaded on error
            np.copyto(params[k], src)

    def __repr__(self) -> str:
        extra = self.extra_repr()
        return f"{type(self).__name__}({extra})"

    def extra_repr(self) -> str:
        return ""
