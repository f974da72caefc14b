"""Layer normalisation over the last axis (or axes), as in Ba, Kiros and Hinton (2016).

For x (..., H) normalised over its last axis (``normalized_shape`` = (H,)):

    mu   = mean(x)                      # (..., 1)
    xc   = x - mu
    var  = mean(xc ** 2)                # biased, as PyTorch
    rstd = 1 / sqrt(var + eps)
    xhat = xc * rstd                    # (..., H)
    y    = xhat * gamma + beta          # gamma, beta (H,)

and the backward pass, with dxhat = dy * gamma,

    dbeta  = sum over leading axes of dy
    dgamma = sum over leading axes of dy * xhat
    dx     = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))

(means over the normalised axes). With ``normalized_shape`` of k axes the
statistics run over the last k axes of x and gamma, beta have those k axes.

Range: the statistics are computed in x's dtype; where that overflows (float32
values beyond about 1e19, whose squares exceed the float32 range) they are
recomputed for those inputs in float64 on x scaled by its largest magnitude
per position, so LayerNorm stays finite for every finite input of either
dtype, up to the dtype's largest value.

The plain functions ``layer_norm_forward`` / ``layer_norm_backward`` (no
checks, for the cells' time loops) are in ``rnnkit.functional``; ``LayerNorm``
is the layer that owns ``weight`` (gamma) and ``bias`` (beta).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
from numpy.typing import DTypeLike

from rnnkit._validate import as_float_array, fmt_shape, resolve_dtype
from rnnkit.functional import layer_norm_backward, layer_norm_forward
from rnnkit.grad_mode import is_grad_enabled
from rnnkit.module import Module


class LayerNorm(Module):
    """Layer normalisation over the last ``len(normalized_shape)`` axes, PyTorch's ``nn.LayerNorm``.

    ``y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias``, the statistics
    taken per position over the normalised axes (see the module docstring for
    the full equations and the backward pass). Parameters, present when
    ``elementwise_affine`` (``bias`` also needs ``bias=True``): ``weight``
    (gamma) initialised to ones and ``bias`` (beta) to zeros, both of shape
    ``normalized_shape``, for instance (H,).

    ``forward(x)`` takes x (..., *normalized_shape); ``backward(dy)`` adds into
    ``grads`` and returns dx of x's shape.

    Example
    -------
    >>> import numpy as np
    >>> from rnnkit.layers.layernorm import LayerNorm
    >>> ln = LayerNorm(4)
    >>> y = ln.forward(np.arange(8, dtype=np.float32).reshape(2, 4))   # (B, H)
    >>> bool(np.allclose(y.mean(axis=-1), 0.0, atol=1e-6))
    True
    >>> ln.backward(np.ones_like(y)).shape
    (2, 4)
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        where = "LayerNorm"
        if isinstance(normalized_shape, numbers.Integral) and not isinstance(normalized_shape, bool):
            normalized_shape = (normalized_shape,)
        if (
            not isinstance(normalized_shape, (tuple, list))
            or len(normalized_shape) == 0
            or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1 for s in normalized_shape)
        ):
            raise TypeError(
                f"{where}: normalized_shape must be a positive int or a non-empty tuple of "
                f"positive ints, got {normalized_shape!r}"
            )
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
            raise TypeError(f"{where}: eps must be a float, got {type(eps).__name__} {eps!r}")
        if not (eps > 0 and np.isfinite(eps)):
            raise ValueError(f"{where}: eps must be a finite number > 0, got {eps}")
        self.eps = float(eps)
        for name, flag in (("elementwise_affine", elementwise_affine), ("bias", bias)):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"{where}: {name} must be a bool, got {type(flag).__name__} {flag!r}")
        self.elementwise_affine = bool(elementwise_affine)
        self.dtype = resolve_dtype(where, dtype)
        if self.elementwise_affine:
            self.register_parameter("weight", np.ones(self.normalized_shape, dtype=self.dtype))
            if bias:
                self.register_parameter("bias", np.zeros(self.normalized_shape, dtype=self.dtype))
        self._cache = None
        self._last_forward_no_grad = False

    @property
    def weight(self) -> np.ndarray | None:
        """The live gamma array of shape ``normalized_shape``, or None without affine parameters."""
        return self._own_params.get("weight")

    @property
    def bias(self) -> np.ndarray | None:
        """The live beta array of shape ``normalized_shape``, or None."""
        return self._own_params.get("bias")

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Normalise x (..., *normalized_shape) over its last axes; returns y of the same shape."""
        where = "LayerNorm.forward"
        shape = np.shape(x)  # before conversion, which turns a 0-d array into shape (1,)
        x = as_float_array(where, "x", x, self.dtype)
        k = len(self.normalized_shape)
        if len(shape) < k or shape[len(shape) - k :] != self.normalized_shape:
            expected = fmt_shape(("...",) + self.normalized_shape)
            raise ValueError(f"{where}: x must have shape {expected}, got {fmt_shape(shape)}")
        y, cache = layer_norm_forward(x, self.weight, self.bias, self.eps, normalized_ndim=k)
        keep = is_grad_enabled()
        self._cache = cache if keep else None
        self._last_forward_no_grad = not keep
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Add dL/dweight, dL/dbias into ``grads``; return dx for dy of the forward output's shape."""
        where = "LayerNorm.backward"
        if self._cache is None:
            if self._last_forward_no_grad:
                raise RuntimeError(
                    f"{where}: the last forward ran under no_grad() and kept no cache; "
                    "run forward with gradients enabled first"
                )
            raise RuntimeError(f"{where}: no cached forward pass; call forward before backward")
        expected = self._cache[0].shape
        shape = np.shape(dy)
        dy = as_float_array(where, "dy", dy, self.dtype)
        if shape != expected:
            raise ValueError(f"{where}: dy must have shape {fmt_shape(expected)}, got {fmt_shape(shape)}")
        dx, dgamma, dbeta = layer_norm_backward(dy, self._cache)
        if dgamma is not None:
            self._own_grads["weight"] += dgamma
        if dbeta is not None:
            self._own_grads["bias"] += dbeta
        return dx

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
            f"bias={self.bias is not None}, dtype={self.dtype}"
        )
