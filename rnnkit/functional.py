"""Plain forward/backward maths below the cells and the layers: activations, linear, layer norm,
embedding, cross-entropy.

Every function here is pure (arrays in, arrays and a cache out), does no input checking, and
keeps no state, so the cell time loops and the layers' forward passes can call it; the layers
(``rnnkit.layers``) and ``rnnkit.losses`` own the parameters, validate at the public boundary
and call into this module. Shape legend as the package's: T time, B batch, D input, H hidden,
V vocabulary, E embedding; ``...`` any leading axes.

Activations. ``sigmoid`` is computed as ``0.5 * (1 + tanh(x / 2))``: the same function with no
``exp`` that can overflow, so pre-activations of +/-500 (or +/-1e30) give exact 0 or 1 and no
RuntimeWarning, in float32 and float64 alike. Derivatives are written in terms of the outputs,
as backward passes use them:

    sigmoid'(a) = s * (1 - s)        tanh'(a) = 1 - t**2        relu'(a) = [r > 0]

Linear, ``y = x @ weight.T + bias`` in PyTorch's layout: x (..., D), weight (H, D), bias (H,),
y (..., H); backward dx = dy @ weight, dweight = dy^T x, dbias = sum dy.

Layer normalisation (Ba, Kiros and Hinton 2016), for x (..., H) over its last axis:

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

(means over the normalised axes; with k normalised axes the statistics run over the last k).

Embedding, ``y = weight[ids]``: weight (V, E), ids any integer array, y ids.shape + (E,). The
backward pass is a scatter-add: an id used k times receives the sum of its k rows of dy; the
row of ``padding_idx`` (if any) receives nothing, as in ``torch.nn.Embedding``.

Softmax cross-entropy, per row of logits z (V,) with target y and label smoothing eps (the
target distribution q = (1 - eps) onehot(y) + eps / V, PyTorch's definition):

    lse  = m + log(sum(exp(z - m))),  m = max(z)
    loss = lse - (1 - eps) z[y] - eps mean(z)          # = -sum(q * log_softmax(z))
    dz   = softmax(z) - q

so no log-probability array is formed and logits of +/-1e4 stay finite.

>>> import numpy as np
>>> y, cache = linear_forward(np.ones((2, 3)), np.ones((4, 3)), np.zeros(4))
>>> dx, dw, db = linear_backward(np.ones_like(y), cache)
>>> y.shape, dx.shape, dw.shape, float(sigmoid(np.array(0.0)))
((2, 4), (2, 3), (4, 3), 0.5)
"""

from __future__ import annotations

import numpy as np

# -- activations ----------------------------------------------------------------------------------------


def _floating(x) -> np.ndarray:
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Logistic function 1 / (1 + exp(-x)), overflow-free. ``out`` may alias ``x``.

    Any real input (scalars, integer arrays) is accepted; the result is float.
    """
    x = _floating(x)
    out = np.multiply(x, 0.5, out=np.empty_like(x) if out is None else out)
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the maximum so it never overflows."""
    x = _floating(x)
    z = x - x.max(axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """x - logsumexp(x) along ``axis``, stable for any finite input."""
    x = _floating(x)
    z = x - x.max(axis=axis, keepdims=True)
    z -= np.log(np.exp(z).sum(axis=axis, keepdims=True))
    return z


def sigmoid_backward(dy: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Gradient through s = sigmoid(a), from the output: dy * s * (1 - s)."""
    return dy * s * (1.0 - s)


def tanh_backward(dy: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Gradient through t = tanh(a), from the output: dy * (1 - t**2)."""
    return dy * (1.0 - t * t)


def relu(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """max(x, 0). ``out`` may alias ``x``."""
    return np.maximum(x, 0.0, out=out)


def relu_backward(dy: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Gradient through r = relu(a), from the output: dy * [r > 0]."""
    return dy * (r > 0)


def hard_sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Keras 3's piecewise-linear sigmoid, relu6(x + 3) / 6 = clip(x / 6 + 1/2, 0, 1). ``out`` may alias ``x``.

    (Keras 2 used clip(0.2 x + 0.5, 0, 1); Keras 3 and PyTorch's ``hardsigmoid`` use this one.)
    """
    x = _floating(x)
    out = np.multiply(x, 1.0 / 6.0, out=np.empty_like(x) if out is None else out)
    out += 0.5
    return np.clip(out, 0.0, 1.0, out=out)


def _linear(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    if out is None:
        return np.array(x, dtype=_floating(x).dtype)
    if out is not x:
        out[...] = x
    return out


def _tanh(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.tanh(x, out=out)


# name -> (y = f(x) with ``out``, dy/dx written as a function of y). Every derivative here is a function
# of the output alone, so backward passes keep only activated values: sigmoid y (1 - y); tanh 1 - y^2;
# hard_sigmoid 1/6 where 0 < y < 1 (x in (-3, 3)), else 0; relu [y > 0]; linear 1.
ACTIVATIONS = {
    "sigmoid": (sigmoid, lambda y: y * (1.0 - y)),
    "hard_sigmoid": (hard_sigmoid, lambda y: ((y > 0.0) & (y < 1.0)) * y.dtype.type(1.0 / 6.0)),
    "tanh": (_tanh, lambda y: 1.0 - y * y),
    "relu": (relu, lambda y: (y > 0).astype(y.dtype)),
    "linear": (_linear, lambda y: np.ones_like(y)),
}


def activate(name: str, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The activation ``name`` (a key of ``ACTIVATIONS``) of x; ``out`` may alias ``x``."""
    return ACTIVATIONS[name][0](x, out=out)


def activation_grad(name: str, y: np.ndarray) -> np.ndarray:
    """dy/dx of the activation ``name`` at the output y = f(x)."""
    return ACTIVATIONS[name][1](y)


# -- linear -------------------------------------------------------------------------------------------


def linear_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> tuple[np.ndarray, tuple]:
    """``y = x @ weight.T + bias``; returns ``(y, cache)``. No input checks.

    x (..., D), weight (H, D), bias (H,) or None -> y (..., H).
    """
    # One 2-D GEMM: numpy runs a 3-D @ 2-D product as a loop of small GEMMs (4x slower at (20, 20, 200)).
    y = (x.reshape(-1, x.shape[-1]) @ weight.T).reshape(x.shape[:-1] + (weight.shape[0],))  # (..., H)
    if bias is not None:
        y += bias
    return y, (x, weight, bias is not None)


def linear_backward(dy: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients of ``linear_forward``: returns ``(dx, dweight, dbias)``; dbias is None without a bias.

    dy (..., H) -> dx (..., D), dweight (H, D), dbias (H,).
    """
    x, weight, has_bias = cache
    # y = x @ weight.T + bias
    dy2 = dy.reshape(-1, dy.shape[-1])  # (N, H), N = product of the leading axes
    dx = (dy2 @ weight).reshape(dy.shape[:-1] + (weight.shape[1],))  # (..., D)
    x2 = x.reshape(-1, x.shape[-1])  # (N, D)
    dweight = dy2.T @ x2  # (H, D)
    dbias = dy2.sum(axis=0) if has_bias else None  # (H,)
    return dx, dweight, dbias


# -- layer normalisation ------------------------------------------------------------------------------


def layer_norm_forward(
    x: np.ndarray,
    gamma: np.ndarray | None,
    beta: np.ndarray | None,
    eps: float = 1e-5,
    *,
    normalized_ndim: int | None = None,
) -> tuple[np.ndarray, tuple]:
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


def layer_norm_backward(dy: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
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


# -- embedding ----------------------------------------------------------------------------------------

# For small vocabularies (characters) the scatter is a one-hot (V, N) matrix
# product, one BLAS call and about 10x faster than np.add.at; for larger ones,
# or when the (V, N) temporary would be big, np.add.at is faster and lighter.
_ONE_HOT_MAX_V = 256
_ONE_HOT_MAX_ELEMENTS = 1 << 22


def embedding_forward(ids: np.ndarray, weight: np.ndarray, padding_idx: int | None = None) -> tuple[np.ndarray, tuple]:
    """``y = weight[ids]``; returns ``(y, cache)``. No input checks.

    ids (...) integer, weight (V, E) -> y (..., E).
    """
    return weight[ids], (ids, weight.shape, padding_idx)


def embedding_backward(dy: np.ndarray, cache: tuple, out: np.ndarray | None = None) -> np.ndarray:
    """Gradient of ``embedding_forward`` for the table: returns dweight (V, E).

    dweight[v] = sum of dy[p] over the positions p with ids[p] == v; the
    padding row receives nothing. With ``out`` (V, E) given, the gradient is
    added into it and ``out`` is returned.
    """
    ids, (V, E), padding_idx = cache
    flat_ids = ids.reshape(-1)  # (N,)
    dy2 = dy.reshape(-1, E)  # (N, E)
    if padding_idx is not None:
        keep = flat_ids != padding_idx
        flat_ids, dy2 = flat_ids[keep], dy2[keep]
    if out is None:
        out = np.zeros((V, E), dtype=dy.dtype)
    if V <= _ONE_HOT_MAX_V and V * flat_ids.size <= _ONE_HOT_MAX_ELEMENTS:
        onehot = np.zeros((V, flat_ids.size), dtype=dy.dtype)  # (V, N)
        onehot[flat_ids, np.arange(flat_ids.size)] = 1.0
        out += onehot @ dy2  # (V, E)
    else:
        np.add.at(out, flat_ids, dy2)
    return out


# -- softmax cross-entropy ----------------------------------------------------------------------------


def cross_entropy_forward(
    logits: np.ndarray, targets: np.ndarray, label_smoothing: float = 0.0
) -> tuple[np.ndarray, tuple]:
    """Per-row softmax cross-entropy of logits (N, V) against targets (N,) in [0, V); returns
    ``(loss (N,), cache)``. No input checks; ``logits`` is not modified."""
    N, V = logits.shape
    eps = label_smoothing
    rows = np.arange(N)
    z = logits - logits.max(axis=1, keepdims=True)  # (N, V), max(z) = 0
    z_y = z[rows, targets]  # (N,)
    z_mean = z.mean(axis=1) if eps > 0 else 0.0
    p = np.exp(z, out=z)  # z is not needed any more: reuse its memory
    s = p.sum(axis=1)  # >= 1, as one entry is exp(0)
    loss = np.log(s) - (1.0 - eps) * z_y - eps * z_mean  # lse - (1 - eps) z_y - eps mean(z)
    return loss, (p, s, targets, eps)


def cross_entropy_backward(dloss: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of ``cross_entropy_forward``: dlogits (N, V) = dloss[:, None] * (softmax(z) - q).

    Consumes the cache (its buffer becomes the result): call once per forward."""
    p, s, targets, eps = cache
    N, V = p.shape
    p /= s[:, None]  # softmax(z)
    p[np.arange(N), targets] -= 1.0 - eps
    if eps > 0:
        p -= eps / V
    p *= dloss[:, None]
    return p
