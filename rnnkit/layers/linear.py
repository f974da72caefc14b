"""Affine map over the last axis, ``y = x @ weight.T + bias``, in PyTorch's layout.

Shapes: ``x`` is ``(..., D)`` (any leading axes: ``(B, D)``, ``(T, B, D)``, ...),
``weight`` is ``(H, D)``, ``bias`` is ``(H,)`` and ``y`` is ``(..., H)``.

The plain functions ``linear_forward`` / ``linear_backward`` (in
``rnnkit.functional``) do the maths with no checks, for use inside loops; ``Linear`` is the layer that owns the
parameters, checks its input once per call and keeps the last cache.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import DTypeLike

from rnnkit._validate import as_float_array, check_positive_int, fmt_shape, make_rng, resolve_dtype
from rnnkit.functional import linear_backward, linear_forward
from rnnkit.grad_mode import is_grad_enabled
from rnnkit.module import Module


class Linear(Module):
    """Affine layer ``y = x @ weight.T + bias`` over the last axis of ``x``.

    Parameters (PyTorch's names and layout, so ``state_dict`` is a plain copy):
    ``weight`` (H, D) and ``bias`` (H,), with D = ``in_features`` and
    H = ``out_features``. Both are initialised as ``torch.nn.Linear`` does,
    uniform on ``[-1/sqrt(D), 1/sqrt(D)]``, drawn from ``seed``.

    ``forward(x)`` takes x (..., D) and returns y (..., H); it keeps ``x`` as
    the cache (unless gradients are disabled with ``rnnkit.no_grad()``), so do
    not modify ``x`` in place before ``backward``. ``backward(dy)`` takes
    dy (..., H), adds ``dweight`` and ``dbias`` into ``grads`` and returns
    dx (..., D). The cache is kept after backward, so a second ``backward``
    adds the same gradients again.

    Example
    -------
    >>> import numpy as np
    >>> from rnnkit.layers.linear import Linear
    >>> layer = Linear(3, 2, seed=0)
    >>> y = layer.forward(np.ones((4, 5, 3), dtype=np.float32))
    >>> y.shape
    (4, 5, 2)
    >>> dx = layer.backward(np.ones_like(y))
    >>> dx.shape, layer.grads["weight"].shape
    ((4, 5, 3), (2, 3))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        dtype: DTypeLike = np.float32,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        where = "Linear"
        self.in_features = check_positive_int(where, "in_features", in_features)
        self.out_features = check_positive_int(where, "out_features", out_features)
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"{where}: bias must be a bool, got {type(bias).__name__} {bias!r}")
        self.dtype = resolve_dtype(where, dtype)
        rng = make_rng(where, seed)
        bound = 1.0 / math.sqrt(self.in_features)
        shape = (self.out_features, self.in_features)
        self.register_parameter("weight", rng.uniform(-bound, bound, size=shape).astype(self.dtype))
        if bias:
            self.register_parameter("bias", rng.uniform(-bound, bound, size=self.out_features).astype(self.dtype))
        self._cache = None
        self._last_forward_no_grad = False

    @property
    def weight(self) -> np.ndarray:
        """The live (H, D) weight array."""
        return self._own_params["weight"]

    @property
    def bias(self) -> np.ndarray | None:
        """The live (H,) bias array, or None for a layer built with ``bias=False``."""
        return self._own_params.get("bias")

    def forward(self, x: np.ndarray) -> np.ndarray:
        """y = x @ weight.T + bias for x (..., D); returns y (..., H)."""
        where = "Linear.forward"
        shape = np.shape(x)  # before conversion, which turns a 0-d array into shape (1,)
        x = as_float_array(where, "x", x, self.dtype)
        if len(shape) == 0 or shape[-1] != self.in_features:
            raise ValueError(f"{where}: x must have shape (..., {self.in_features}), got {fmt_shape(shape)}")
        y, cache = linear_forward(x, self.weight, self.bias)
        keep = is_grad_enabled()
        self._cache = cache if keep else None
        self._last_forward_no_grad = not keep
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Add dL/dweight, dL/dbias into ``grads``; return dx (..., D) for dy (..., H)."""
        where = "Linear.backward"
        if self._cache is None:
            if self._last_forward_no_grad:
                raise RuntimeError(
                    f"{where}: the last forward ran under no_grad() and kept no cache; "
                    "run forward with gradients enabled first"
                )
            raise RuntimeError(f"{where}: no cached forward pass; call forward before backward")
        x = self._cache[0]
        expected = x.shape[:-1] + (self.out_features,)
        shape = np.shape(dy)
        # No finiteness scan here: dy is often a (T, B, V) logit gradient, and scanning it cost ~10% of an LM
        # step; a non-finite gradient still reaches grads, where the Trainer names the parameter and the step.
        dy = as_float_array(where, "dy", dy, self.dtype, finite=False)
        if shape != expected:
            raise ValueError(f"{where}: dy must have shape {fmt_shape(expected)}, got {fmt_shape(shape)}")
        dx, dweight, dbias = linear_backward(dy, self._cache)
        self._own_grads["weight"] += dweight
        if dbias is not None:
            self._own_grads["bias"] += dbias
        return dx

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, dtype={self.dtype}"
        )
