"""The softmax output layer as one fused path: projection, log-softmax and cross-entropy, forward and backward.

For rows x (N, E), a weight W (V, E) (the decoder's own, or the embedding's when tied), a bias b (V,),
targets y (N,), label smoothing eps and the weight ``grad_scale`` of each row's gradient:

    z     = x @ W^T + b                                   (N, V)   one GEMM on W as stored (no transposed copy)
    m     = max_v z[n, v]                                 (N,)
    lse   = m + log(sum_v exp(z[n, v] - m))               (N,)
    loss  = sum over real n of  lse - (1 - eps) z[n, y_n] - eps mean_v z[n, v]
    dz    = grad_scale * (softmax(z) - q)                 (N, V)   written over z; 0 on excluded rows
    dx    = dz @ W,   dW = dz^T x,   db = sum_n dz        from z = x @ W^T + b

with q = (1 - eps) onehot(y) + eps / V (PyTorch's label smoothing) and a row "real" unless it is masked
out or its target equals ``ignore_index``. ``loss`` is the sum over real rows; the objective of a
model picks ``grad_scale`` (1 for the sum, 1 / count for the mean over tokens, 1 / B for the mean
over the batch), so the scaled gradient is produced in the same pass as the softmax.

Why it is shaped like this (docs/performance.md, "The output layer"):

- **One (N, V) array.** The logits are computed into one buffer and everything after the GEMM
  happens in place in it: the shift by the row maximum, exp, the normalisation, the one-hot and
  smoothing corrections, the scaling. The buffer then *is* dz. The unfused path holds the logits,
  a shifted copy and (after the scaling) the gradient, and allocates the copy afresh at every step.
- **One call per pass, all rows at once.** Running the element-wise passes over cache-sized
  blocks of rows (``chunk_rows``) was measured and did not pay: NumPy's exp already streams, and
  the per-call overhead of more, smaller calls outweighed the cache reuse. The option stays (every
  operation is row-wise, so any chunking gives the same bits) for machines where it does pay.
- **A reused buffer.** ``out`` lets a model keep the (N, V) buffer between steps: a fresh (N, V)
  array (16 MB for PTB's 400 x 10,000 float32 logits) is faulted into memory page by page at every step.
- **Same operations as the reference.** Each step is the operation :func:`rnnkit.losses.cross_entropy`
  and :func:`rnnkit.layers.linear.linear_backward` perform, in the same order and dtype, so the
  fused and the reference path agree to the last bit (``tests/layers/test_output.py``).
- **BLAS layouts.** ``x @ W.T`` hands W to GEMM as a transposed operand (no copy); dx = dz @ W and
  dW = dz^T @ x read dz and x where they lie.

:func:`output_reference` is the unfused composition (``linear_forward``, ``cross_entropy``, scaling,
``linear_backward``) the fused path is checked against; the language models can run either.

Example
-------
>>> import numpy as np
>>> from rnnkit.layers.output import output_forward, output_backward
>>> rng = np.random.default_rng(0)
>>> x, W, b = rng.normal(size=(6, 4)), rng.normal(size=(10, 4)), np.zeros(10)
>>> loss, count, cache = output_forward(x, W, b, np.array([1, 2, 3, 4, 5, 6]), grad_scale=1 / 6)
>>> dx, dW, db = output_backward(cache)
>>> count, dx.shape, dW.shape, db.shape
(6, (6, 4), (10, 4), (10,))
"""

from __future__ import annotations

import numpy as np

from rnnkit import _kernels
from rnnkit.grad_mode import is_grad_enabled
from rnnkit.layers.linear import linear_backward, linear_forward
from rnnkit.losses import cross_entropy

__all__ = [
    "output_forward",
    "output_backward",
    "output_backward_into",
    "output_reference",
    "softmax_cross_entropy_",
    "softmax_cross_entropy_rows_",
]


def softmax_cross_entropy_(
    z: np.ndarray,
    targets: np.ndarray,
    real: np.ndarray | None = None,
    *,
    label_smoothing: float = 0.0,
    grad_scale: float | None = 1.0,
    chunk_rows: int | None = None,
) -> np.ndarray:
    """Per-row loss (N,) of logits z (N, V); with ``grad_scale`` not None, z is overwritten by dz.

    z must be C-contiguous float32/float64; targets (N,) ints (read only on real rows); real (N,)
    bool or None (all rows); grad_scale a number or (N,) weights, one per row. Excluded rows get
    loss 0 and, with a gradient, dz = 0. Without a gradient (``grad_scale=None``) z is still used
    as scratch and holds exp(z - m) afterwards.
    No input checks: the callers check at their public boundary.
    """
    N, V = z.shape
    eps = float(label_smoothing)
    dtype = z.dtype
    per = np.empty(N, dtype=dtype)
    step = chunk_rows or max(N, 1)
    if grad_scale is None:
        scale = None
    elif np.ndim(grad_scale):
        scale = np.asarray(grad_scale, dtype=dtype)  # (N,) a weight per row
    else:
        scale = np.asarray(dtype.type(grad_scale))
    for i in range(0, N, step):
        c = z[i : i + step]  # (n, V) view: rows i .. i+n-1
        n = c.shape[0]
        rows = np.arange(n)
        r = None if real is None else real[i : i + n]
        t = targets[i : i + n] if r is None else np.where(r, targets[i : i + n], 0)  # excluded rows read class 0
        c -= c.max(axis=1, keepdims=True)  # z - m, max = 0
        z_y = c[rows, t]  # (n,)
        z_mean = c.mean(axis=1) if eps > 0 else 0.0
        np.exp(c, out=c)  # exp(z - m)
        s = c.sum(axis=1)  # >= 1
        lse = np.log(s)
        p = per[i : i + n]
        p[...] = lse - (1.0 - eps) * z_y - eps * z_mean  # lse - q . (z - m)
        if r is not None:
            p[~r] = 0.0
        if scale is None:
            continue
        # dz = softmax(z) - q, scaled
        c /= s[:, None]
        c[rows, t] -= 1.0 - eps
        if eps > 0:
            c -= eps / V
        if r is not None:
            c[~r] = 0.0
        if scale.ndim:
            c *= scale[i : i + n, None]  # one weight per row
        elif scale != 1:
            c *= scale
    return per


def softmax_cross_entropy_rows_(
    z: np.ndarray,
    targets: np.ndarray,
    real: np.ndarray | None = None,
    *,
    bias: np.ndarray | None = None,
    label_smoothing: float = 0.0,
    grad_scale: float | np.ndarray | None = 1.0,
    chunk_rows: int | None = None,
) -> np.ndarray:
    """:func:`softmax_cross_entropy_` of z + bias (the bias added in place first), on the compiled row
    kernel of the loop backend in use where it runs z's dtype (float32 on the C extension: bias, softmax
    and dz in three passes over each row, rows over the thread pool), else on the NumPy path.

    Same arguments and results as :func:`softmax_cross_entropy_`; ``chunk_rows`` (NumPy only) keeps
    the NumPy path. No input checks.
    """
    compiled = _kernels.output_adapter(z.dtype) if chunk_rows is None else None
    if compiled is not None:
        return compiled.softmax_xent(z, bias, targets, real, label_smoothing, grad_scale)
    if bias is not None:
        z += bias  # as linear_forward adds it: the same bits
    return softmax_cross_entropy_(
        z, targets, real, label_smoothing=label_smoothing, grad_scale=grad_scale, chunk_rows=chunk_rows
    )


def output_forward(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    targets: np.ndarray,
    *,
    real: np.ndarray | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    grad_scale: float = 1.0,
    chunk_rows: int | None = None,
    out: np.ndarray | None = None,
) -> tuple[float, int, tuple | None]:
    """Projection, softmax and cross-entropy of rows x (N, E): returns ``(loss, count, cache)``.

    loss is the sum over the ``count`` real rows (a float); cache feeds :func:`output_backward`
    and holds dz = grad_scale * d loss / dz in the logits' buffer (None under ``rnnkit.no_grad()``).
    weight (V, E), bias (V,) or None, targets (N,) ints in [0, V) on real rows; a row is real where
    ``real`` (N,) bool (None: everywhere) is True and its target is not ``ignore_index``. ``out``, a
    C-contiguous (N, V) array of x's dtype, is used for the logits (and dz) instead of a fresh one:
    a model that keeps it between steps saves the page faults of a new array per step.
    ``chunk_rows`` (None: all rows at once) sets the rows per element-wise pass. No input checks.
    """
    real = _real_rows(targets, real, ignore_index)
    x2 = x.reshape(-1, x.shape[-1])  # (N, E)
    shape = (x2.shape[0], weight.shape[0])
    usable = out is not None and out.shape == shape and out.dtype == x2.dtype and out.flags.c_contiguous
    compiled = _kernels.output_adapter(x2.dtype) if weight.dtype == x2.dtype else None
    if compiled is not None:  # (N, V) the only (N, V) array, made on the compiled backend's threads
        z = compiled.project(x2, weight, out if usable else np.empty(shape, dtype=x2.dtype))
    elif usable:
        z = np.matmul(x2, weight.T, out=out)  # (N, V) the only (N, V) array, in the caller's workspace
    else:
        z, _ = linear_forward(x2, weight, None)  # (N, V) the only (N, V) array
    grad = is_grad_enabled()
    per = softmax_cross_entropy_rows_(
        z,
        targets,
        real,
        bias=bias,
        label_smoothing=label_smoothing,
        grad_scale=grad_scale if grad else None,
        chunk_rows=chunk_rows,
    )
    w = np.ones(z.shape[0], dtype=z.dtype) if real is None else real.astype(z.dtype)
    loss = float(np.dot(w.astype(np.float64), per.astype(np.float64)))
    count = z.shape[0] if real is None else int(real.sum())
    return loss, count, ((x2, weight, bias is not None), z) if grad else None


def _real_rows(targets, real, ignore_index):
    if ignore_index is None:
        return real
    keep = targets != ignore_index
    return keep if real is None else keep & real


def output_backward(cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients of :func:`output_forward`: ``(dx (N, E), dweight (V, E), dbias (V,) or None)``."""
    linear_cache, dz = cache
    return linear_backward(dz, linear_cache)  # dx = dz @ W, dW = dz^T x, db = sum_n dz


def output_backward_into(cache: tuple, dweight: np.ndarray, dbias: np.ndarray | None) -> np.ndarray:
    """Gradients of :func:`output_forward`, the weight's and the bias's added into ``dweight`` (V, E)
    and ``dbias`` (V,) (a model's gradient accumulators) in place; returns dx (N, E).

    Same values as :func:`output_backward` followed by ``dweight += dW; dbias += db`` (bit for bit
    on the NumPy path); on the compiled kernels (float32) dW goes straight into the accumulator, with
    no (V, E) temporary.
    """
    (x2, weight, has_bias), dz = cache
    compiled = _kernels.output_adapter(dz.dtype)
    dx = compiled.input_grad(dz, weight) if compiled is not None and weight.dtype == dz.dtype else dz @ weight
    if compiled is not None and dweight.dtype == dz.dtype and dweight.flags.c_contiguous:
        compiled.weight_grad(dz, x2, dweight)  # dW += dz^T x in place
    else:
        dweight += dz.T @ x2  # (V, E)
    if has_bias and dbias is not None:
        dbias += dz.sum(axis=0)
    return dx


def output_reference(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    targets: np.ndarray,
    *,
    real: np.ndarray | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    grad_scale: float = 1.0,
) -> tuple[float, int, np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """The unfused path, step by step: ``(loss, count, logits (N, V), dx, dweight, dbias)``.

    linear_forward, cross_entropy (sum over real rows), dz *= grad_scale, linear_backward; the
    gradients are None under ``rnnkit.no_grad()``. The fused path must equal it bit for bit.
    """
    x2 = x.reshape(-1, x.shape[-1])
    z, lcache = linear_forward(x2, weight, bias)
    loss, dz = cross_entropy(
        z, targets, mask=real, ignore_index=ignore_index, label_smoothing=label_smoothing, reduction="sum"
    )
    real = _real_rows(targets, real, ignore_index)
    count = z.shape[0] if real is None else int(real.sum())
    if dz is None:
        return loss, count, z, None, None, None
    if grad_scale != 1:
        dz *= z.dtype.type(grad_scale)
    dx, dweight, dbias = linear_backward(dz, lcache)
    return loss, count, z, dx, dweight, dbias
