"""Adapters of the compiled C loops: the cell families' forward/backward, marshalled to ``_ckernels``.

Each adapter computes what the NumPy reference in ``rnnkit.cells.<family>``
computes (same equations, same cache, so a cache from either path
backpropagates on the other), for the variants the C loops cover:

- ``rnn``: tanh and relu, any masks.
- ``gru``: PyTorch's form (reset_after, all three gates), no clamped gate.
- ``lstm``: no peepholes, no projection, no clamped gate.

None takes activations other than PyTorch's (``activation``/``recurrent_activation`` of
Keras's kind, or an RNN nonlinearity beyond tanh and relu): the loops compute tanh,
sigmoid and relu only, so those calls run the NumPy maths too.

None of them takes per-gate masks (``StepMasks.per_gate``: a separate input or
recurrent dropout mask for each gate block, Keras's form): the loops multiply
one h_{t-1} by the whole W_hh, so those calls are declined and the NumPy maths runs.

The contract an adapter fulfils is written in ``rnnkit._kernels`` (the loop
backend registry); this module only prepares arguments (contiguous arrays,
broadcast masks, the output mask applied once) and calls the loops.
docs/performance.md has the measurements behind each choice.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from rnnkit.cells import gru, lstm, rnn
from rnnkit.cells.common import StepMasks, add_into, masked_output, recurrent_inputs, resolve_masks, weight_grads

_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)


def same_float_dtype(*arrays: np.ndarray) -> bool:
    """Whether the arrays share one float dtype the loops compile for (float32 or float64) and none is
    empty (an empty batch takes the NumPy loops, which return empty results as PyTorch does)."""
    dt = arrays[0].dtype
    if dt != _F32 and dt != _F64:
        return False
    for a in arrays:
        if a.dtype != dt or a.size == 0:
            return False
    return True


def default_activations(kw: dict | object) -> bool:
    """Whether a call (forward keywords, or a cache) uses the loops' activations: tanh and sigmoid."""
    get = kw.get if isinstance(kw, dict) else lambda k, d: getattr(kw, k, d)
    return get("activation", "tanh") == "tanh" and get("recurrent_activation", "sigmoid") == "sigmoid"


def shared_masks(kw: dict) -> bool:
    """Whether a forward call's step masks are the loops' kind (none per gate)."""
    masks = kw.get("masks")
    return masks is None or not masks.per_gate


# -- arguments of the compiled loops ------------------------------------------------------------------


def can_add_in_place(grads_out: dict | None, dtype: DTypeLike) -> bool:
    """Whether the compiled products can add straight into ``grads_out`` (one float dtype, rows contiguous)."""
    return grads_out is not None and all(
        g.dtype == dtype and g.ndim in (1, 2) and g.strides[-1] == g.itemsize for g in grads_out.values()
    )


def weight_grads_compiled(
    ck: ModuleType,
    params: dict,
    x: np.ndarray,
    dxw: np.ndarray,
    h_in: np.ndarray,
    dhw: np.ndarray,
    grads_out: dict | None,
) -> tuple[dict, np.ndarray]:
    """``rnnkit.cells.common.weight_grads`` for the compiled loops: with ``grads_out``, every product
    is added into the gradient it belongs to, with no temporary. Returns (grads, dx)."""
    if not can_add_in_place(grads_out, x.dtype):
        grads, dx = weight_grads(params, x, dxw, h_in, dhw)
        return add_into(grads_out, grads), dx
    T, B, D = x.shape
    GH = dxw.shape[-1]
    dxw2, dhw2 = dxw.reshape(T * B, GH), dhw.reshape(T * B, GH)
    db = np.zeros(GH, dtype=x.dtype) if "bias_ih" in params else None
    ck.tn(dxw2, np.ascontiguousarray(x).reshape(T * B, D), grads_out["weight_ih"], db)  # dW_ih += da^T x
    if dhw is dxw:
        ck.tn(dhw2, np.ascontiguousarray(h_in).reshape(T * B, -1), grads_out["weight_hh"], None)
        if db is not None:
            grads_out["bias_ih"] += db
            grads_out["bias_hh"] += db
    else:
        ck.tn(dhw2, np.ascontiguousarray(h_in).reshape(T * B, -1), grads_out["weight_hh"], grads_out.get("bias_hh"))
        if db is not None:
            grads_out["bias_ih"] += db
    dx = np.empty((T * B, D), dtype=x.dtype)
    ck.nn(dxw2, np.ascontiguousarray(params["weight_ih"]), dx)  # dx = da W_ih
    return grads_out, dx.reshape(T, B, D)


def projection_args(
    params: dict, x: np.ndarray, fold: int
) -> tuple[np.ndarray, np.ndarray, bool, np.ndarray | None, np.ndarray | None, int]:
    """(x, W_ih, transposed?, b_ih, b_hh, fold): the input projection the compiled forward loops start
    with, x @ W_ih^T + b_ih + b_hh[:fold]."""
    return (
        np.ascontiguousarray(x),
        np.ascontiguousarray(params["weight_ih"]),
        False,
        params.get("bias_ih"),
        params.get("bias_hh"),
        fold,
    )


def loop_mask(
    m: np.ndarray | None, T: int, B: int, W: int, dtype: DTypeLike, recurrent: bool = False
) -> np.ndarray | None:
    """A step mask as the compiled loops read it: contiguous, (T, B, 1|W) or, recurrent, (T|1, B, W)."""
    if m is None:
        return None
    if recurrent:
        shape = (m.shape[0], B, W)
    else:
        shape = (T, B, 1 if m.shape[-1] == 1 else W)
    if m.shape != shape:
        m = np.broadcast_to(m, shape)
    return np.ascontiguousarray(m, dtype=dtype)


def loop_masks(
    mk: StepMasks, T: int, B: int, H_out: int, H: int, dtype: DTypeLike
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """(update, update_c, recurrent) for the compiled loops."""
    return (
        loop_mask(mk.update, T, B, H_out, dtype),
        loop_mask(mk.update_c, T, B, H, dtype),
        loop_mask(mk.recurrent, T, B, H_out, dtype, recurrent=True),
    )


def masked_dout(mk: StepMasks, dout: np.ndarray | None, dtype: DTypeLike) -> np.ndarray | None:
    """dout with the output mask applied once for all steps (the loops then only add it), contiguous."""
    if dout is None:
        return None
    if mk.out is not None:
        return np.multiply(dout, mk.out, dtype=dtype)
    return np.ascontiguousarray(dout, dtype=dtype)


def initial_grad(d: np.ndarray | None, like: np.ndarray) -> np.ndarray:
    """A writable, contiguous copy of an incoming state gradient (zeros for None)."""
    return np.zeros_like(like) if d is None else np.array(d, dtype=like.dtype, order="C")


# -- one adapter per family ----------------------------------------------------------------------------


class _Loops:
    def __init__(self, extension: Callable[[], Any]) -> None:
        self._extension = extension

    @property
    def ck(self) -> ModuleType:
        """The extension module, read at each call (so it can be swapped, e.g. to count calls)."""
        return self._extension()


class RNNLoops(_Loops):
    """Elman RNN, tanh or relu, any masks (``rnnkit.cells.rnn``)."""

    def accepts_forward(self, params: dict, x: np.ndarray, variant: dict) -> bool:
        return (
            variant.get("nonlinearity", "tanh") in ("tanh", "relu")
            and shared_masks(variant)
            and same_float_dtype(params["weight_hh"], x)
        )

    def accepts_backward(self, params: dict, cache: Any) -> bool:
        return (
            cache.nonlinearity in ("tanh", "relu")
            and not cache.masks.per_gate
            and same_float_dtype(params["weight_hh"], cache.x, cache.h, cache.f)
        )

    def forward(
        self,
        params: dict,
        x: np.ndarray,
        h0: np.ndarray,
        *,
        lengths: ArrayLike | None = None,
        masks: StepMasks | None = None,
        need_cache: bool = True,
        nonlinearity: str = "tanh",
    ) -> tuple[np.ndarray, np.ndarray, rnn.RNNCache]:
        T, B, _ = x.shape
        H = h0.shape[-1]
        mk = resolve_masks(lengths, masks, T, x.dtype)
        u, _, r = loop_masks(mk, T, B, H, H, x.dtype)
        h = np.empty((T + 1, B, H), dtype=x.dtype)
        h[0] = h0
        # f(a_t) is h_t itself unless an update mask blends it with h_{t-1} (one step of it without a cache)
        f = None if u is None else np.empty((T if need_cache else 1, B, H), dtype=x.dtype)
        w_hh = np.ascontiguousarray(params["weight_hh"])  # as stored; the loops choose the layout
        # no buffer for a_t = x W_ih^T + b + ...: the loops make it step by step; the cache needs f(a_t) only
        self.ck.rnn_forward(*projection_args(params, x, H), None, w_hh, False, h, f, nonlinearity == "relu", u, r)
        cache = rnn.RNNCache(x, h, h[1:] if f is None else f, mk, nonlinearity) if need_cache else None
        return masked_output(mk, h), h[T].copy(), cache

    def backward(
        self,
        params: dict,
        cache: rnn.RNNCache,
        dout: np.ndarray | None,
        dh_T: np.ndarray | None,
        *,
        grads_out: dict | None = None,
    ) -> tuple[dict, np.ndarray, np.ndarray]:
        x, h, mk = cache.x, cache.h, cache.masks
        T, B, _ = x.shape
        H = h.shape[-1]
        dh = initial_grad(dh_T, h[0])
        da = np.empty((T, B, H), dtype=x.dtype)  # gradient of the pre-activations
        u, _, r = loop_masks(mk, T, B, H, H, x.dtype)
        self.ck.rnn_backward(
            np.ascontiguousarray(cache.f),
            np.ascontiguousarray(params["weight_hh"]),
            masked_dout(mk, dout, x.dtype),
            dh,
            da,
            cache.nonlinearity == "relu",
            u,
            r,
        )
        grads, dx = weight_grads_compiled(self.ck, params, x, da, recurrent_inputs(mk, h), da, grads_out)
        return grads, dx, dh


class GRULoops(_Loops):
    """GRU in PyTorch's form: reset_after, all three gates, none clamped (``rnnkit.cells.gru``)."""

    def accepts_forward(self, params: dict, x: np.ndarray, variant: dict) -> bool:
        return (
            variant.get("reset_gate", True)
            and variant.get("reset_after", True)
            and not variant.get("clamp")
            and shared_masks(variant)
            and default_activations(variant)
            and same_float_dtype(params["weight_hh"], x)
        )

    def accepts_backward(self, params: dict, cache: Any) -> bool:
        return (
            cache.reset_gate
            and cache.reset_after
            and not cache.clamp
            and not cache.masks.per_gate
            and default_activations(cache)
            and same_float_dtype(params["weight_hh"], cache.x, cache.act, cache.extra)
        )

    def forward(
        self,
        params: dict,
        x: np.ndarray,
        h0: np.ndarray,
        *,
        lengths: ArrayLike | None = None,
        masks: StepMasks | None = None,
        need_cache: bool = True,
        **_variant: Any,
    ) -> tuple[np.ndarray, np.ndarray, gru.GRUCache]:
        T, B, _ = x.shape
        H = h0.shape[-1]
        mk = resolve_masks(lengths, masks, T, x.dtype)
        act = np.empty((T, B, 3 * H), dtype=x.dtype) if need_cache else None  # x W_ih^T + b, then r, z, n
        u, _, r = loop_masks(mk, T, B, H, H, x.dtype)
        h = np.empty((T + 1, B, H), dtype=x.dtype)
        h[0] = h0
        extra = np.empty((T if need_cache else 1, B, H), dtype=x.dtype)  # hr W_hn^T + b_hn
        b_hn = params["bias_hh"][2 * H :] if "bias_hh" in params else None
        w_hh = np.ascontiguousarray(params["weight_hh"])  # as stored; the loops choose the layout
        self.ck.gru_forward(
            *projection_args(params, x, 2 * H), act, w_hh, False, b_hn, h, extra, u, r
        )  # b_hn stays inside r * (.)
        cache = gru.GRUCache(x, h, act, extra, mk, True, True, {}) if need_cache else None
        return masked_output(mk, h), h[T].copy(), cache

    def backward(
        self,
        params: dict,
        cache: gru.GRUCache,
        dout: np.ndarray | None,
        dh_T: np.ndarray | None,
        *,
        grads_out: dict | None = None,
    ) -> tuple[dict, np.ndarray, np.ndarray]:
        ck = self.ck
        x, h, mk = cache.x, cache.h, cache.masks
        T, B, D = x.shape
        H = h.shape[-1]
        dt = x.dtype
        dh = initial_grad(dh_T, h[0])
        dxw = np.empty((T, B, 3 * H), dtype=dt)  # d(input pre-activations)
        dhwn = np.empty((T, B, H), dtype=dt)  # d(hr W_hn^T + b_hn); its r, z blocks equal dxw's
        u, _, r = loop_masks(mk, T, B, H, H, dt)
        w_hh = params["weight_hh"]
        ck.gru_backward(
            np.ascontiguousarray(cache.act),
            np.ascontiguousarray(h),
            np.ascontiguousarray(cache.extra),
            np.ascontiguousarray(w_hh),
            masked_dout(mk, dout, dt),
            dh,
            dxw,
            dhwn,
            u,
            r,
        )
        TB = T * B
        dxw2, dhwn2 = dxw.reshape(TB, 3 * H), dhwn.reshape(TB, H)
        h_in = np.ascontiguousarray(recurrent_inputs(mk, h)).reshape(TB, H)
        if can_add_in_place(grads_out, dt):  # every block added in place, no temporaries
            grads, tn = grads_out, ck.tn
            db = np.zeros(3 * H, dtype=dt) if "bias_ih" in params else None
            tn(dxw2, np.ascontiguousarray(x).reshape(TB, D), grads["weight_ih"], db)
            tn(dxw2[:, : 2 * H], h_in, grads["weight_hh"][: 2 * H], None)
            tn(dhwn2, h_in, grads["weight_hh"][2 * H :], None if db is None else grads["bias_hh"][2 * H :])
            if db is not None:
                grads["bias_ih"] += db
                grads["bias_hh"][: 2 * H] += db[: 2 * H]
            dx = np.empty((TB, D), dtype=dt)
            ck.nn(dxw2, np.ascontiguousarray(params["weight_ih"]), dx)  # dx = dxw W_ih
        else:
            grads = {"weight_ih": dxw2.T @ x.reshape(TB, D), "weight_hh": np.empty_like(w_hh)}
            np.matmul(dxw2[:, : 2 * H].T, h_in, out=grads["weight_hh"][: 2 * H])
            np.matmul(dhwn2.T, h_in, out=grads["weight_hh"][2 * H :])
            if "bias_ih" in params:
                grads["bias_ih"] = dxw2.sum(axis=0)
                grads["bias_hh"] = np.concatenate([grads["bias_ih"][: 2 * H], dhwn2.sum(axis=0)])
            grads = add_into(grads_out, grads)
            dx = dxw2 @ params["weight_ih"]
        return grads, dx.reshape(T, B, D), dh


class LSTMLoops(_Loops):
    """LSTM without peepholes, projection or clamped gates (``rnnkit.cells.lstm``)."""

    @staticmethod
    def _plain(params: dict) -> bool:
        return "weight_ci" not in params and "weight_hr" not in params

    def accepts_forward(self, params: dict, x: np.ndarray, variant: dict) -> bool:
        return (
            not variant.get("clamp")
            and shared_masks(variant)
            and default_activations(variant)
            and self._plain(params)
            and same_float_dtype(params["weight_hh"], x)
        )

    def accepts_backward(self, params: dict, cache: Any) -> bool:
        return (
            not cache.clamp
            and not cache.masks.per_gate
            and default_activations(cache)
            and self._plain(params)
            and same_float_dtype(params["weight_hh"], cache.x, cache.gates)
        )

    def forward(
        self,
        params: dict,
        x: np.ndarray,
        state: tuple[np.ndarray, np.ndarray],
        *,
        lengths: ArrayLike | None = None,
        masks: StepMasks | None = None,
        need_cache: bool = True,
        **_variant: Any,
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], lstm.LSTMCache]:
        h0, c0 = state
        T, B, _ = x.shape
        H = c0.shape[-1]
        dt = x.dtype
        mk = resolve_masks(lengths, masks, T, dt)
        gates = np.empty((T, B, 4 * H), dtype=dt) if need_cache else None  # x W_ih^T + b, then activated
        u, uc, r = loop_masks(mk, T, B, H, H, dt)
        h = np.empty((T + 1, B, H), dtype=dt)
        h[0] = h0
        steps = T if need_cache else 1  # without a cache, c is a ring of 2 states and the rest one step
        c = np.empty((T + 1 if need_cache else 2, B, H), dtype=dt)
        c[0] = c0
        tanh_c = np.empty((steps, B, H), dtype=dt)
        c_new = None if uc is None else np.empty((steps, B, H), dtype=dt)
        w_hh = np.ascontiguousarray(params["weight_hh"])  # as stored; the loops choose the layout
        self.ck.lstm_forward(*projection_args(params, x, 4 * H), gates, w_hh, False, h, c, c_new, tanh_c, u, uc, r)
        c_T = c[T] if need_cache else c[T % 2]
        cache = None
        if need_cache:
            cache = lstm.LSTMCache(x, h, c, c[1:] if c_new is None else c_new, gates, tanh_c, None, mk, {})
        return masked_output(mk, h), (h[T].copy(), c_T.copy()), cache

    def backward(
        self,
        params: dict,
        cache: lstm.LSTMCache,
        dout: np.ndarray | None,
        dstate_T: tuple[np.ndarray | None, np.ndarray | None] | None,
        *,
        grads_out: dict | None = None,
    ) -> tuple[dict, np.ndarray, tuple[np.ndarray, np.ndarray]]:
        x, h, mk = cache.x, cache.h, cache.masks
        T, B, _ = x.shape
        H = h.shape[-1]
        dt = x.dtype
        dh_T, dc_T = (None, None) if dstate_T is None else dstate_T
        dh, dc = initial_grad(dh_T, h[0]), initial_grad(dc_T, cache.c[0])
        da = np.empty((T, B, 4 * H), dtype=dt)  # gradient of the pre-activations
        u, uc, r = loop_masks(mk, T, B, H, H, dt)
        self.ck.lstm_backward(
            np.ascontiguousarray(cache.gates),
            np.ascontiguousarray(cache.c),
            np.ascontiguousarray(cache.tanh_c),
            np.ascontiguousarray(params["weight_hh"]),
            masked_dout(mk, dout, dt),
            dh,
            dc,
            da,
            u,
            uc,
            r,
        )
        grads, dx = weight_grads_compiled(self.ck, params, x, da, recurrent_inputs(mk, h), da, grads_out)
        return grads, dx, (dh, dc)


class OutputRows:
    """The output layer's softmax cross-entropy and weight gradients on the compiled kernels, float32 only.

    float64 is the precision of the checks: it stays on the NumPy path, which equals the unfused
    composition bit for bit (rnnkit/layers/output.py); this one equals it to float32 rounding.
    """

    def __init__(self, extension: Callable[[], Any]) -> None:
        self._ext = extension

    def accepts(self, dtype: DTypeLike) -> bool:
        return np.dtype(dtype) == _F32

    def softmax_xent(
        self,
        z: np.ndarray,
        bias: np.ndarray | None,
        targets: np.ndarray,
        real: np.ndarray | None,
        label_smoothing: float,
        grad_scale: float | np.ndarray | None,
    ) -> np.ndarray:
        """Per-row losses of z + bias (N, V); z becomes dz unless grad_scale is None (then scratch)."""
        per = np.empty(z.shape[0], dtype=z.dtype)
        t = np.ascontiguousarray(targets, dtype=np.int64)
        if real is not None:
            real = np.ascontiguousarray(real, dtype=np.bool_)
        if grad_scale is not None and np.ndim(grad_scale):
            grad_scale = np.ascontiguousarray(grad_scale, dtype=z.dtype)
        elif grad_scale is not None:
            grad_scale = float(grad_scale)
        b = None if bias is None else np.ascontiguousarray(bias, dtype=z.dtype)
        self._ext().softmax_xent(z, b, t, real, grad_scale, float(label_smoothing), per)
        return per

    def project(self, x: np.ndarray, weight: np.ndarray, out: np.ndarray) -> np.ndarray:
        """out (N, V) = x @ weight^T, for x (N, E) and weight (V, E) as stored; returns out.

        Like the two products below, BLAS on the loops' threads where the library allows it
        (``configure(blas_on_pool=)``), so that BLAS's own threads never spin beside the loops'."""
        self._ext().gemm(np.ascontiguousarray(x), np.ascontiguousarray(weight), out, False, True, 1.0, 0.0)
        return out

    def input_grad(self, dz: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """dz (N, V) @ weight (V, E): the gradient of the rows x."""
        dx = np.empty((dz.shape[0], weight.shape[1]), dtype=dz.dtype)
        self._ext().gemm(dz, np.ascontiguousarray(weight), dx, False, False, 1.0, 0.0)
        return dx

    def weight_grad(self, dz: np.ndarray, x: np.ndarray, dweight: np.ndarray) -> None:
        """dweight (V, E) += dz^T x, for dz (N, V) and x (N, E).

        Through BLAS with beta = 1 (accumulated in place, no (V, E) temporary): for this shape
        (K = N rows, M = V large) BLAS is faster than the packed products of the loops."""
        self._ext().gemm(dz, np.ascontiguousarray(x), dweight, True, False, 1.0, 1.0)


class ParamUpdate:
    """The plain SGD update in one compiled pass per weight (rnnkit/_kernels/update.h), float32 and float64.

    Bit for bit the NumPy update (``g *= s; p -= g * lr``), so it serves float64 too."""

    def __init__(self, extension: Callable[[], Any]) -> None:
        self._ext = extension

    def accepts(self, dtype: DTypeLike) -> bool:
        return np.dtype(dtype) in (_F32, _F64)

    def sgd(self, p: np.ndarray, g: np.ndarray, grad_scale: float, lr: float) -> float:
        """p -= (g * grad_scale) * lr in place (p and g C-contiguous, one dtype); the new p's sum of squares."""
        return self._ext().sgd_step(p.reshape(-1), g.reshape(-1), float(grad_scale), float(lr))


def make_adapters(extension: Callable[[], Any]) -> dict:
    """The C backend's adapters, by family name; ``extension()`` returns the loaded extension module."""
    return {"rnn": RNNLoops(extension), "gru": GRULoops(extension), "lstm": LSTMLoops(extension)}
