"""Single-step cells: ``RNNCell``, ``GRUCell``, ``LSTMCell``, ``MGUCell`` as ``torch.nn.*Cell``; ``step_cell`` for any.

A cell computes one time step, h' = cell(x, h), with the same maths as the
sequence layers (the cell modules run with T = 1: one implementation, no
second copy to drift). Parameters are named as PyTorch's cells name them:
``weight_ih`` (G*H, D), ``weight_hh`` (G*H, H), ``bias_ih``, ``bias_hh`` (G*H,).

Caches are explicit. ``forward`` keeps the cache of its call in ``cell.cache``
and ``backward(dh_next)`` uses it; to backpropagate through a loop of steps,
keep each step's cache from ``step`` and hand it back:

>>> import numpy as np, rnnkit
>>> cell = rnnkit.GRUCell(4, 8, seed=0)
>>> xs = np.ones((3, 2, 4), np.float32)
>>> h, caches = None, []
>>> for x in xs:
...     h, cache = cell.step(x, h)
...     caches.append(cache)
>>> dh = np.ones_like(h)
>>> for cache in reversed(caches):               # backprop through time, by hand
...     dx, dh = cell.backward(dh, cache=cache)
>>> dh.shape
(2, 8)

Shapes: x (B, D) or unbatched (D,); h (B, H) or (H,).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from rnnkit import _kernels
from rnnkit._validate import as_float_array, check_positive_int, fmt_shape, make_rng, resolve_dtype
from rnnkit.cells import registry
from rnnkit.cells.registry import CellFamily
from rnnkit.grad_mode import is_grad_enabled
from rnnkit.module import Module

# family name -> the named cell class bound to it (filled by the class statements below, not by hand)
_NAMED_CELLS: dict[str, type] = {}


class StepCell(Module):
    """One step of any registered cell family; RNNCell, GRUCell, ... are it bound to their family.

    ``family`` is needed only when building this class directly (``step_cell`` does, for a
    family without a named class); ``variant`` keywords are the family's own options.
    """

    _family_name: str | None = None  # set by ``class X(StepCell, family="...")``

    def __init_subclass__(cls, family: str | None = None, **kw):
        super().__init_subclass__(**kw)
        if family is not None:
            cls._family_name = family
            _NAMED_CELLS.setdefault(family, cls)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        dtype: DTypeLike = np.float32,
        seed: int | np.random.Generator | None = None,
        family: str | CellFamily | None = None,
        **variant: Any,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if family is None and self._family_name is None:
            raise TypeError(f"{name}: family must name a registered cell family, got None")
        self._family: CellFamily = registry.get(self._family_name if family is None else family)
        self._has_cell_state = self._family.state_arity == 2
        self.input_size = check_positive_int(name, "input_size", input_size)
        self.hidden_size = check_positive_int(name, "hidden_size", hidden_size)
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"{name}: bias must be a bool, got {type(bias).__name__} {bias!r}")
        self.bias = bool(bias)
        self.dtype = resolve_dtype(name, dtype)
        self.variant = self._family.resolve(name, variant)
        H = self.hidden_size
        rng = make_rng(name, seed)
        k = 1.0 / np.sqrt(H)
        spec = self._family.parameter_spec(self.input_size, H, bias=self.bias, variant=self.variant)
        for n, (shape, init) in spec.items():
            if init == "ones":
                w = np.ones(shape, dtype=self.dtype)
            elif init == "zeros":
                w = np.zeros(shape, dtype=self.dtype)
            else:
                w = rng.uniform(-k, k, size=shape).astype(self.dtype)
            self.register_parameter(n, w)
        self.cache = None

    @property
    def family(self) -> CellFamily:
        """The cell family this cell runs (its registry entry)."""
        return self._family

    def _num_gates(self) -> int:
        return self._family.num_gates(self.variant)

    def _parse(self, where, name, a, width, B):
        a = as_float_array(where, name, a, self.dtype)
        want = (width,) if B is None else (B, width)
        if a.shape != want:
            raise ValueError(f"{where}: {name} must have shape {fmt_shape(want)}, got {fmt_shape(a.shape)}")
        return a

    def step(
        self, x: ArrayLike, hx: ArrayLike | tuple[ArrayLike, ArrayLike] | None = None
    ) -> tuple[np.ndarray | tuple[np.ndarray, np.ndarray], tuple]:
        """One step. Returns (h', cache); LSTMCell: ((h', c'), cache). Keeps the cache nowhere."""
        where = f"{type(self).__name__}.forward"
        x = as_float_array(where, "x", x, self.dtype)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{where}: x must have shape (B, {self.input_size}) or ({self.input_size},), got {fmt_shape(x.shape)}"
            )
        unbatched = x.ndim == 1
        B = None if unbatched else x.shape[0]
        H = self.hidden_size
        zeros = np.zeros((H,) if unbatched else (B, H), dtype=self.dtype)
        if self._has_cell_state:
            if hx is None:
                state = (zeros, zeros.copy())
            else:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise TypeError(f"{where}: hx must be a tuple (h, c), got {type(hx).__name__}")
                state = (self._parse(where, "hx[0]", hx[0], H, B), self._parse(where, "hx[1]", hx[1], H, B))
            state = tuple(s[None] if unbatched else s for s in state)
        else:
            state = zeros if hx is None else self._parse(where, "hx", hx, H, B)
            state = state[None] if unbatched else state
        xb = x[None, None] if unbatched else x[None]
        params = self.params
        _, state_T, cache = _kernels.forward(self._family, params, xb, state, need_cache=True, **self.variant)
        if unbatched:
            state_T = tuple(s[0] for s in state_T) if self._has_cell_state else state_T[0]
        return state_T, (cache, unbatched)

    def forward(
        self, x: ArrayLike, hx: ArrayLike | tuple[ArrayLike, ArrayLike] | None = None
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """One step, h' = cell(x, h); ``hx=None`` means zeros. LSTMCell returns (h', c')."""
        state, cache = self.step(x, hx)
        self.cache = cache if is_grad_enabled() else None
        return state

    def backward(
        self, dh_next: ArrayLike | None, dc_next: ArrayLike | None = None, *, cache: tuple | None = None
    ) -> tuple[np.ndarray, np.ndarray | tuple[np.ndarray, np.ndarray]]:
        """Gradients of one step. Returns (dx, dh_prev); LSTMCell: (dx, (dh_prev, dc_prev)).

        LSTMCell takes the gradient in the structure ``forward`` returned,
        ``backward((dh_next, dc_next))`` (either part may be None), or as two
        arguments ``backward(dh_next, dc_next)``. Adds the parameter gradients
        into ``self.grads``. ``cache`` defaults to the last ``forward``'s; pass
        the one ``step`` returned to go back further.
        """
        where = f"{type(self).__name__}.backward"
        if cache is None:
            cache = self.cache
        if cache is None:
            raise RuntimeError(f"{where}: backward called before forward (or after a forward under no_grad())")
        inner, unbatched = cache
        B = None if unbatched else inner.x.shape[1]
        H = self.hidden_size
        if self._has_cell_state and _is_state_pair(dh_next):
            if len(dh_next) != 2:
                raise TypeError(
                    f"{where}: dh_next must be an array or the pair (dh_next, dc_next), got a tuple of {len(dh_next)}"
                )
            if dc_next is not None:
                raise TypeError(
                    f"{where}: dc_next must be None when dh_next is the pair (dh_next, dc_next), got an array"
                )
            dh_next, dc_next = dh_next
        if dh_next is None and self._has_cell_state:
            dh = np.zeros((B, H) if not unbatched else (H,), dtype=self.dtype)
        else:
            dh = self._parse(where, "dh_next", dh_next, H, B)
        dh = dh[None] if unbatched else dh
        if self._has_cell_state:
            dc = None if dc_next is None else self._parse(where, "dc_next", dc_next, H, B)
            if dc is not None and unbatched:
                dc = dc[None]
            dstate = (dh, dc)
        else:
            if dc_next is not None:
                raise TypeError(f"{where}: dc_next is only for LSTMCell, got an array")
            dstate = dh
        grads, dx, ds0 = _kernels.backward(self._family, self.params, inner, None, dstate)
        for n, g in grads.items():
            self._own_grads[n] += g
        dx = dx[0]
        if unbatched:
            dx = dx[0]
            ds0 = tuple(s[0] for s in ds0) if self._has_cell_state else ds0[0]
        return dx, ds0


def _is_state_pair(value) -> bool:
    """A tuple (dh, dc), or a list of two arrays (or None), as the LSTM layers' states are passed."""
    if isinstance(value, tuple):
        return True
    return isinstance(value, list) and len(value) == 2 and all(v is None or isinstance(v, np.ndarray) for v in value)


_Cell = StepCell  # the name the interop modules knew


class RNNCell(StepCell, family="rnn"):
    """One Elman step, h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu); ``torch.nn.RNNCell``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        *,
        dtype: DTypeLike = np.float32,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, dtype=dtype, seed=seed, nonlinearity=nonlinearity)


class GRUCell(StepCell, family="gru"):
    """One GRU step; ``torch.nn.GRUCell`` by default; ``reset_after``, ``reset_gate`` and Keras's
    ``activation`` / ``recurrent_activation`` as in ``rnnkit.GRU``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        reset_after: bool = True,
        reset_gate: bool = True,
        activation: str = "tanh",
        recurrent_activation: str = "sigmoid",
        dtype: DTypeLike = np.float32,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            bias,
            dtype=dtype,
            seed=seed,
            reset_after=reset_after,
            reset_gate=reset_gate,
            activation=activation,
            recurrent_activation=recurrent_activation,
        )


class LSTMCell(StepCell, family="lstm"):
    """One LSTM step on the state (h, c); ``torch.nn.LSTMCell`` (gate order i, f, g, o)."""


class MGUCell(StepCell, family="mgu"):
    """One minimal-gated-unit step (Zhou et al. 2016); names as PyTorch's cells."""


def step_cell(name: str | CellFamily, input_size: int, hidden_size: int, **kw: Any) -> StepCell:
    """The single-step cell of the registered family ``name``, e.g. ``step_cell("lstm", 3, 4)``.

    A family with a named cell class (RNNCell, GRUCell, LSTMCell, MGUCell) gets an instance of it;
    any other registered family (e.g. "ln_lstm") a ``StepCell`` bound to it. ``kw``: bias, dtype,
    seed and the family's own options.

    >>> import numpy as np
    >>> cell = step_cell("ln_gru", 3, 4, seed=0)
    >>> type(cell).__name__, cell.forward(np.ones((2, 3), np.float32)).shape
    ('StepCell', (2, 4))
    """
    family = registry.get(name)
    cls = _NAMED_CELLS.get(family.name)
    if cls is not None:
        return cls(input_size, hidden_size, **kw)
    return StepCell(input_size, hidden_size, family=family, **kw)
