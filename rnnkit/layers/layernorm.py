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

``layer_norm_forward`` / ``layer_norm_backward`` are plain functions with no
checks, so recurrent cells can call them inside their time loops;
``LayerNorm`` is the layer that owns ``weight`` (gamma) and ``bias`` (beta).
"""

from __future__ import annotations

import numbers

import numpy as np

from rnnkit._validate import as_float_array, fmt_shape, resolve_dtype
from rnnkit.grad_mode import is_grad_enabled
from rnnkit.module import Module


def layer_norm_forward(
    x: np.ndarray,
    gamma: np.ndarray | None,
    beta: np.ndarray | None,
    eps: float = 1e-5,
    *,
    normalized_ndim: int | None = None,
):
    """Normalise x over its last axes and apply ``gamma``, ``beta``; returns ``(y, cache)``.

    x (..., H), gamma (H,) or None, beta (H,) or None -> y (..., H). The
    number of normalised axes is ``gamma.ndim`` (or ``beta.ndim``), or
    ``normalized_ndim`` (default 1) when both are None. No input checks.

    >>> import numpy as np
    >>> y, cache = layer_norm_forward(np.array([[1.0, 2.0, 3.0]]), np.ones(3), np.zeros(3))
    >>> np.round(y, 4).tolist()
    [[-1.2247, 0.0, 1.2247]]
    """
    if gamma is not None:
        k = gamma.ndim
    elif beta is not None:
        k = beta.ndim
    else:
        k = 1 if normalized_ndim is None else normalized_ndim
    axes = tuple(range(x.ndim - k, x.ndim))
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is caught below and redone safely
        mu = x.mean(axis=axes, keepdims=True)  # (..., 1)
        xc = x - mu
        var = np.mean(xc * xc, axis=axes, keepdims=True)  # (..., 1)
    if not np.isfinite(var).all():
        xhat, rstd = _scaled_statistics(x, axes, eps)
    else:
        rstd = 1.0 / np.sqrt(var + eps)
        xhat = xc * rstd  # (..., H)
    y = xhat * gamma if gamma is not None else xhat.copy()
    if beta is not None:
        y += beta
    return y, (xhat, rstd, gamma, beta is not None, k)


def _scaled_statistics(x: np.ndarray, axes: tuple, eps: float):
    """(xhat, rstd) of finite x whose squares (or sums) overflow its dtype: |x| near the float32 range.

    The statistics are taken in float64 of x / s with s = max|x| per position,
    then scaled back: var(x) = s^2 var(x / s), so
    xhat = (x/s - mean(x/s)) / sqrt(var(x/s) + eps / s^2) and rstd = 1 / (s sqrt(...)).
    Nothing overflows, for any finite x in either dtype; the results are cast to x's dtype.
    """
    x64 = x.astype(np.float64)
    s = np.max(np.abs(x64), axis=axes, keepdims=True)  # (..., 1)
    s[s == 0] = 1.0
    xs = x64 / s
    xc = xs - xs.mean(axis=axes, keepdims=True)
    denom = np.sqrt(np.mean(xc * xc, axis=axes, keepdims=True) + eps / s / s)  # sqrt(var + eps) / s
    constant = denom == 0  # var = 0 and eps / s^2 below the smallest float: xc = 0 there, rstd = 1 / sqrt(eps)
    denom[constant] = 1.0
    xhat = (xc / denom).astype(x.dtype)
    with np.errstate(under="ignore"):  # rstd of an input near 1e38 is a float32 subnormal
        rstd = 1.0 / (s * denom)
        rstd[constant] = 1.0 / np.sqrt(eps)
        rstd = rstd.astype(x.dtype)
    return xhat, rstd


def layer_norm_backward(dy: np.ndarray, cache):
    """Gradients of ``layer_norm_forward``: returns ``(dx, dgamma, dbeta)``.

    dy (..., H) -> dx (..., H), dgamma (H,), dbeta (H,); dgamma / dbeta are
    None where the forward had no gamma / beta.
    """
    xhat, rstd, gamma, has_beta, k = cache
    axes = tuple(range(dy.ndim - k, dy.ndim))
    lead = tuple(range(dy.ndim - k))
    # y = xhat * gamma + beta
    dbeta = dy.sum(axis=lead) if has_beta else None
    dgamma = (dy * xhat).sum(axis=lead) if gamma is not None else None
    dxhat = dy * gamma if gamma is not None else dy
    # xhat = (x - mu) * rstd, with mu and rstd functions of x
    dx = dxhat - dxhat.mean(axis=axes, keepdims=True)
    dx -= xhat * np.mean(dxhat * xhat, axis=axes, keepdims=True)
    dx *= rstd
    return dx, dgamma, dbeta


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
        self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True, dtype=np.float32
    ):
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
