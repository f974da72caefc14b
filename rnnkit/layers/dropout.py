"""Dropout on sequences, standard or variational.

Inverted dropout: in training mode each value is zeroed with probability p
and the survivors are scaled by 1 / (1 - p), so evaluation uses the input
unchanged. ``variational=True`` draws one mask per sequence and reuses it
at every time step (Gal and Ghahramani 2016): for x (T, B, F) the mask is
(1, B, F) instead of (T, B, F). Masks come from the layer's own generator
(``seed``); backward multiplies by the same mask. The layer has no dtype of
its own: x must be a finite float32 or float64 array, and y keeps its dtype.
``p`` may be reassigned later, validated as in the constructor.

Example
-------
>>> import numpy as np
>>> drop = Dropout(0.5, variational=True, seed=0)
>>> y = drop.forward(np.ones((4, 2, 3), np.float32))
>>> bool(np.all(y == y[0]))                 # the same mask at every step
True
"""

from __future__ import annotations

import numpy as np

from rnnkit._validate import FLOAT_DTYPES, as_float_array, check_probability, fmt_shape, make_rng
from rnnkit.grad_mode import is_grad_enabled
from rnnkit.module import Module


class Dropout(Module):
    """y = x * mask / (1 - p) in training; y = x in evaluation. x (T, B, F) or any shape if not variational."""

    def __init__(
        self, p: float = 0.5, variational: bool = False, *, seed: int | np.random.Generator | None = None
    ) -> None:
        super().__init__()
        self.p = p  # validated by the property, here and on every later assignment
        if not isinstance(variational, (bool, np.bool_)):
            raise TypeError(f"Dropout: variational must be a bool, got {type(variational).__name__} {variational!r}")
        self.variational = bool(variational)
        self.rng = make_rng("Dropout", seed)
        self._mask = None
        self._shape = None
        self._ran = False

    @property
    def p(self) -> float:
        """The probability of zeroing a value, in [0, 1); assignments are validated as in the constructor."""
        return self._p

    @p.setter
    def p(self, value: float) -> None:
        self._p = check_probability("Dropout", "p", value)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (T, B, F), or any shape if not variational, float32 or float64 (kept); returns y of x's shape."""
        where = "Dropout.forward"
        if isinstance(x, (list, tuple)):
            x = np.asarray(x, dtype=np.float64)
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{where}: x must be a numpy array, got {type(x).__name__}")
        if x.dtype not in FLOAT_DTYPES:  # no dtype of its own: the input's is kept, so it must be a float one
            raise TypeError(f"{where}: x must be float32 or float64, got dtype {x.dtype}")
        x = as_float_array(where, "x", x, x.dtype)
        self._ran = True
        self._shape = x.shape
        if not self.training or self.p == 0.0:
            self._mask = 1.0
            return x
        if self.variational and x.ndim < 2:
            raise ValueError(
                f"Dropout.forward: x must have shape (T, B, ...) for variational dropout, got {fmt_shape(x.shape)}"
            )
        shape = (1,) + x.shape[1:] if self.variational else x.shape
        keep = 1.0 - self.p
        mask = (self.rng.random(shape) < keep).astype(x.dtype) / x.dtype.type(keep)
        self._mask = mask if is_grad_enabled() else None
        return x * mask

    def backward(self, dy: np.ndarray) -> np.ndarray:
        if not self._ran:
            raise RuntimeError("Dropout.backward: backward called before forward")
        if self._mask is None:
            raise RuntimeError("Dropout.backward: the last forward ran under no_grad(), so it kept no mask")
        where = "Dropout.backward"
        if isinstance(dy, (list, tuple)):
            dy = np.asarray(dy, dtype=np.float64)
        if not isinstance(dy, np.ndarray):
            raise TypeError(f"{where}: dy must be a numpy array, got {type(dy).__name__}")
        if dy.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{where}: dy must be float32 or float64, got dtype {dy.dtype}")
        if dy.shape != self._shape:
            raise ValueError(f"{where}: dy must have shape {fmt_shape(self._shape)}, got {fmt_shape(dy.shape)}")
        return dy * self._mask

    def extra_repr(self) -> str:
        return f"p={self.p}" + (", variational=True" if self.variational else "")
