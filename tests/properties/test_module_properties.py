"""Property-based tests of Linear, Embedding, LayerNorm, Dropout and cross_entropy against torch in float64."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from prop_common import (
    BAD_DTYPES,
    FLOAT_DTYPES,
    PROPERTY,
    Args,
    array,
    assert_names_an_invalid_argument,
    bad_bool,
    bad_int,
    bad_probability,
    bad_seeds,
    close,
    poison,
    positive_int,
    probability,
    seeds,
)

from rnnkit.layers import Dropout, Embedding, LayerNorm, Linear
from rnnkit.losses import REDUCTIONS, cross_entropy


def _lead(data, max_dims=2):
    return tuple(data.draw(st.lists(st.integers(0, 3), max_size=max_dims), label="leading shape"))


def _error_names(err, owner, arg):
    msg = str(err)
    m = re.match(re.escape(owner) + r": (\w+) must ", msg)
    assert m, f"not of the form '{owner}: <arg> must ...': {msg!r}"
    assert m.group(1) == arg, f"names {m.group(1)!r}, expected {arg!r}: {msg!r}"
    assert "\n" not in msg


# -- Linear ---------------------------------------------------------------------------------------------------


@PROPERTY
@given(data=st.data())
def test_linear_constructor(data):
    a = Args(data, ["in_features", "out_features", "bias", "dtype", "seed"])
    a.draw("in_features", positive_int(), bad_int())
    a.draw("out_features", positive_int(), bad_int())
    a.draw("bias", st.booleans(), bad_bool())
    a.draw("dtype", FLOAT_DTYPES, BAD_DTYPES)
    a.draw("seed", seeds(), bad_seeds())
    try:
        layer = Linear(**a.kwargs)
    except (ValueError, TypeError) as e:
        assert a.invalid, f"valid {a.kwargs} raised {e!r}"
        assert_names_an_invalid_argument(e, "Linear", a.invalid)
        return
    assert not a.invalid, f"invalid {sorted(a.invalid)} accepted"
    assert layer.weight.shape == (a.kwargs["out_features"], a.kwargs["in_features"])


@PROPERTY
@given(data=st.data())
def test_linear_matches_torch(data):
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    D, H = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    layer = Linear(D, H, bias=data.draw(st.booleans()), dtype=dtype, seed=0)
    lead = _lead(data)
    x = array(data, lead + (D,), data.draw(st.sampled_from([dtype, np.float64, np.float32])))
    y = layer.forward(x)
    dy = array(data, y.shape, dtype)
    dx = layer.backward(dy)
    x64 = np.asarray(x, dtype=dtype).astype(np.float64)
    xt = torch.tensor(x64, requires_grad=True)
    w = torch.tensor(layer.weight.astype(np.float64), requires_grad=True)
    b = None if layer.bias is None else torch.tensor(layer.bias.astype(np.float64), requires_grad=True)
    yt = F.linear(xt, w, b)
    (yt * torch.tensor(dy.astype(np.float64))).sum().backward()
    assert y.dtype == dtype and dx.dtype == dtype
    close("y", y, yt.detach().numpy(), dtype)
    close("dx", dx, xt.grad.numpy(), dtype)
    close("dweight", layer.grads["weight"], w.grad.numpy(), dtype)
    if b is not None:
        close("dbias", layer.grads["bias"], b.grad.numpy(), dtype)


@PROPERTY
@given(data=st.data())
def test_linear_invalid_input(data):
    D = data.draw(st.integers(1, 4))
    layer = Linear(D, 3)
    fault = data.draw(st.sampled_from(["x dtype", "x finite", "x shape", "dy shape", "dy dtype"]))
    x = array(data, (2, D))
    method = "forward"
    with pytest.raises((ValueError, TypeError)) as err:
        if fault == "x dtype":
            x = x.astype(data.draw(st.sampled_from([np.complex128, np.str_, object])))
        elif fault == "x finite":
            x, _ = poison(data, x)
        elif fault == "x shape":
            x = data.draw(st.sampled_from([np.zeros((2, D + 1)), np.zeros(())]))
        y = layer.forward(x)
        method = "backward"
        layer.backward(np.zeros((2, 4)) if fault == "dy shape" else y.astype(np.complex128))
    _error_names(err.value, f"Linear.{method}", fault.split(" ")[0])


# -- Embedding ------------------------------------------------------------------------------------------------


@PROPERTY
@given(data=st.data())
def test_embedding_constructor(data):
    a = Args(data, ["num_embeddings", "embedding_dim", "padding_idx", "dtype", "seed"])
    V = a.draw("num_embeddings", positive_int(1, 6), bad_int())
    a.draw("embedding_dim", positive_int(), bad_int())
    v_ok = isinstance(V, int) and not isinstance(V, bool) and V >= 1
    good_pad = st.one_of(st.none(), st.integers(-V, V - 1)) if v_ok else st.none()
    bad_pad = st.one_of(
        st.just(V if v_ok else 10**6),
        st.just(-(V + 1) if v_ok else -(10**6)),
        st.floats(),
        st.booleans(),
        st.text(max_size=1),
    )
    a.draw("padding_idx", good_pad, bad_pad)
    a.draw("dtype", FLOAT_DTYPES, BAD_DTYPES)
    a.draw("seed", seeds(), bad_seeds())
    try:
        emb = Embedding(**a.kwargs)
    except (ValueError, TypeError) as e:
        assert a.invalid, f"valid {a.kwargs} raised {e!r}"
        assert_names_an_invalid_argument(e, "Embedding", a.invalid)
        return
    assert not a.invalid, f"invalid {sorted(a.invalid)} accepted"
    if emb.padding_idx is not None:
        assert not emb.weight[emb.padding_idx].any()


@PROPERTY
@given(data=st.data())
def test_embedding_matches_torch(data):
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    V, E = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 4))
    pad = data.draw(st.one_of(st.none(), st.integers(0, V - 1)))
    emb = Embedding(V, E, padding_idx=pad, dtype=dtype, seed=0)
    lead = _lead(data, 3)
    ids = np.random.default_rng(data.draw(st.integers(0, 999))).integers(0, V, size=lead)
    ids = ids.astype(data.draw(st.sampled_from([np.int64, np.int32, np.uint8])))
    y = emb.forward(ids)
    dy = array(data, y.shape, dtype)
    emb.backward(dy)
    w = torch.tensor(emb.weight.astype(np.float64), requires_grad=True)
    yt = F.embedding(torch.tensor(ids.astype(np.int64)), w, padding_idx=pad)
    (yt * torch.tensor(dy.astype(np.float64))).sum().backward()
    close("y", y, yt.detach().numpy(), dtype)
    close("dweight", emb.grads["weight"], w.grad.numpy(), dtype)


@PROPERTY
@given(data=st.data())
def test_embedding_invalid_input(data):
    V = data.draw(st.integers(1, 6))
    emb = Embedding(V, 3)
    fault = data.draw(st.sampled_from(["ids dtype", "ids range", "ids type", "dy shape", "dy finite"]))
    ids = np.zeros((2, 2), np.int64)
    method = "forward"
    with pytest.raises((ValueError, TypeError)) as err:
        if fault == "ids dtype":
            ids = ids.astype(data.draw(st.sampled_from([np.float64, np.float32, np.bool_, np.complex64])))
        elif fault == "ids range":
            ids[1, 0] = data.draw(st.sampled_from([-1, V, V + 7]))
        elif fault == "ids type":
            ids = "abc"
        y = emb.forward(ids)
        method = "backward"
        dy = np.ones(y.shape)
        if fault == "dy shape":
            dy = np.ones((2, 2, 4))
        else:
            dy, _ = poison(data, dy)
        emb.backward(dy)
    _error_names(err.value, f"Embedding.{method}", fault.split(" ")[0])


# -- LayerNorm ------------------------------------------------------------------------------------------------


@PROPERTY
@given(data=st.data())
def test_layernorm_constructor(data):
    a = Args(data, ["normalized_shape", "eps", "elementwise_affine", "bias", "dtype"])
    good_shape = st.one_of(positive_int(), st.lists(positive_int(), min_size=1, max_size=2).map(tuple))
    bad_shape = st.one_of(
        st.integers(-2, 0), st.just(()), st.tuples(st.integers(-1, 0)), st.floats(), st.none(), st.booleans()
    )
    a.draw("normalized_shape", good_shape, bad_shape)
    a.draw(
        "eps",
        st.floats(1e-12, 1.0),
        st.one_of(st.just(0.0), st.floats(-1, -1e-9), st.just(math.inf), st.text(max_size=1)),
    )
    a.draw("elementwise_affine", st.booleans(), bad_bool())
    a.draw("bias", st.booleans(), bad_bool())
    a.draw("dtype", FLOAT_DTYPES, BAD_DTYPES)
    try:
        ln = LayerNorm(**a.kwargs)
    except (ValueError, TypeError) as e:
        assert a.invalid, f"valid {a.kwargs} raised {e!r}"
        assert_names_an_invalid_argument(e, "LayerNorm", a.invalid)
        return
    assert not a.invalid, f"invalid {sorted(a.invalid)} accepted"
    assert (ln.weight is not None) == a.kwargs["elementwise_affine"]


def _layer_norm_reference(x, k, eps):
    """float64 LayerNorm over the last k axes of x, scaled by a power of two near max|x| so nothing overflows."""
    axes = tuple(range(x.ndim - k, x.ndim))
    x = x.astype(np.float64)
    m = np.max(np.abs(x), axis=axes, keepdims=True)
    s = 2.0 ** np.floor(np.log2(np.where(m > 0, m, 1.0)))
    xs = x / s
    xc = xs - xs.mean(axis=axes, keepdims=True)
    denom = np.sqrt((xc * xc).mean(axis=axes, keepdims=True) + eps / s / s)
    return xc / np.where(denom > 0, denom, 1.0)  # denom = 0 only where xc = 0 (a constant input beyond 1e154)


@PROPERTY
@given(data=st.data())
def test_layernorm_matches_the_reference_over_the_whole_range(data):
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    ns = tuple(data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=2)))
    affine, bias = data.draw(st.booleans()), data.draw(st.booleans())
    ln = LayerNorm(ns, elementwise_affine=affine, bias=bias, dtype=dtype)
    if affine:
        ln.weight[:] = array(data, ns, dtype)
        if bias:
            ln.bias[:] = array(data, ns, dtype)
    exponent = data.draw(st.sampled_from([0, 0, 5, 19, 20, 30, 38] + ([100, 300] if dtype == np.float64 else [])))
    top = float(np.finfo(dtype).max)
    mag = min(10.0**exponent, top)
    x = array(data, _lead(data) + ns, np.float64, -1, 1) * mag
    x = np.clip(x, -top, top).astype(dtype)
    y = ln.forward(x)
    ref = _layer_norm_reference(x, len(ns), ln.eps)
    if affine:
        ref = ref * ln.weight.astype(np.float64) + (ln.bias.astype(np.float64) if bias else 0.0)
    assert y.dtype == dtype and np.isfinite(y).all()
    close("y", y, ref, dtype, tol64=1e-9, tol32=1e-4)
    dy = array(data, y.shape, dtype)
    dx = ln.backward(dy)
    assert np.isfinite(dx).all()
    if exponent > 5:
        return  # torch computes float64 statistics directly: compare gradients where it does not overflow
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)
    w = torch.tensor(ln.weight.astype(np.float64), requires_grad=True) if affine else None
    b = torch.tensor(ln.bias.astype(np.float64), requires_grad=True) if affine and bias else None
    yt = F.layer_norm(xt, ns, w, b, ln.eps)
    (yt * torch.tensor(dy.astype(np.float64))).sum().backward()
    close("y vs torch", y, yt.detach().numpy(), dtype, tol64=1e-9, tol32=1e-4)
    close("dx vs torch", dx, xt.grad.numpy(), dtype, tol64=1e-9, tol32=1e-3)
    if w is not None:
        close("dweight vs torch", ln.grads["weight"], w.grad.numpy(), dtype, tol64=1e-9, tol32=1e-3)
    if b is not None:
        close("dbias vs torch", ln.grads["bias"], b.grad.numpy(), dtype, tol64=1e-9, tol32=1e-3)


@PROPERTY
@given(data=st.data())
def test_layernorm_invalid_input(data):
    ln = LayerNorm(3)
    fault = data.draw(st.sampled_from(["x dtype", "x finite", "x shape", "dy shape", "dy finite"]))
    x = array(data, (2, 3))
    method = "forward"
    with pytest.raises((ValueError, TypeError)) as err:
        if fault == "x dtype":
            x = x.astype(data.draw(st.sampled_from([np.complex128, np.str_, object])))
        elif fault == "x finite":
            x, _ = poison(data, x)
        elif fault == "x shape":
            x = data.draw(st.sampled_from([np.zeros((2, 4)), np.zeros(()), np.zeros((3, 1))]))
        y = ln.forward(x)
        method = "backward"
        ln.backward(np.zeros((2, 4)) if fault == "dy shape" else poison(data, np.ones_like(y))[0])
    _error_names(err.value, f"LayerNorm.{method}", fault.split(" ")[0])


# -- Dropout --------------------------------------------------------------------------------------------------


@PROPERTY
@given(data=st.data())
def test_dropout_constructor_and_assignment(data):
    a = Args(data, ["p", "variational", "seed"])
    a.draw("p", probability(), bad_probability())
    a.draw("variational", st.booleans(), bad_bool())
    a.draw("seed", seeds(), bad_seeds())
    try:
        drop = Dropout(**a.kwargs)
    except (ValueError, TypeError) as e:
        assert a.invalid, f"valid {a.kwargs} raised {e!r}"
        assert_names_an_invalid_argument(e, "Dropout", a.invalid)
        return
    assert not a.invalid, f"invalid {sorted(a.invalid)} accepted"
    p_new = data.draw(st.one_of(probability(), bad_probability()), label="assigned p")
    try:
        drop.p = p_new
    except (ValueError, TypeError) as e:
        assert_names_an_invalid_argument(e, "Dropout", {"p"})
        assert drop.p == a.kwargs["p"]
    else:
        assert 0 <= drop.p < 1


@PROPERTY
@given(data=st.data())
def test_dropout_masks_and_gradients(data):
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    p = data.draw(probability())
    variational = data.draw(st.booleans())
    drop = Dropout(p, variational, seed=data.draw(st.integers(0, 999))).train(data.draw(st.booleans()))
    shape = tuple(data.draw(st.lists(st.integers(0, 3), min_size=2 if variational else 0, max_size=3)))
    x = array(data, shape, dtype, 0.5, 2.0)  # no zeros: the mask is read back from y / x
    y = drop.forward(x)
    dy = array(data, shape, dtype)
    dx = drop.backward(dy)
    assert y.dtype == dtype and dx.dtype == dtype and y.shape == x.shape
    if not drop.training or p == 0:
        np.testing.assert_array_equal(y, x)
        np.testing.assert_array_equal(dx, dy)
        return
    kept = y != 0
    scale = np.asarray(1.0 / (1.0 - p), dtype)
    np.testing.assert_allclose(y[kept], x[kept] * scale, rtol=1e-6 if dtype == np.float32 else 1e-15)
    np.testing.assert_allclose(dx, np.where(kept, dy * scale, 0), rtol=1e-6 if dtype == np.float32 else 1e-15)
    if variational and x.size:
        assert (kept == kept[:1]).all()  # one mask, reused at every step


@PROPERTY
@given(data=st.data())
def test_dropout_invalid_input(data):
    drop = Dropout(0.5, variational=data.draw(st.booleans()), seed=0)
    fault = data.draw(st.sampled_from(["x dtype", "x finite", "x type", "dy shape", "dy dtype"]))
    x = array(data, (2, 3))
    method = "forward"
    with pytest.raises((ValueError, TypeError)) as err:
        if fault == "x dtype":
            x = x.astype(data.draw(st.sampled_from([np.int64, np.float16, np.bool_, np.complex64, object])))
        elif fault == "x finite":
            x, _ = poison(data, x)
        elif fault == "x type":
            x = "abc"
        y = drop.forward(x)
        method = "backward"
        drop.backward(np.ones((3, 2)) if fault == "dy shape" else np.ones(y.shape, np.int64))
    _error_names(err.value, f"Dropout.{method}", fault.split(" ")[0])


# -- cross_entropy --------------------------------------------------------------------------------------------


def _ce_reference(logits, targets, ignore_index, eps, reduction, batch_first):
    """torch autograd of the documented definition (torch's own for mean/sum/none)."""
    z = torch.tensor(logits.astype(np.float64), requires_grad=True)
    V = logits.shape[-1]
    t = torch.tensor(targets.astype(np.int64))
    ii = -100 if ignore_index is None else ignore_index
    none = F.cross_entropy(z.reshape(-1, V), t.reshape(-1), ignore_index=ii, label_smoothing=eps, reduction="none")
    real = (t.reshape(-1) != ii) if ignore_index is not None else torch.ones_like(none, dtype=torch.bool)
    none = none * real  # torch gives 0 at ignored positions already; targets == -100 with ignore_index None: none
    if reduction == "none":
        return none.reshape(targets.shape), z
    if reduction == "sum":
        return none.sum(), z
    if reduction == "mean":
        return none.sum() / real.sum(), z
    per = none.reshape(targets.shape)
    realr = real.reshape(targets.shape)
    time_axis = 1 if batch_first else 0
    if reduction == "sum_over_time_mean_over_batch":
        return per.sum() / targets.shape[1 - time_axis], z
    n_b = realr.sum(dim=time_axis)
    seq = per.sum(dim=time_axis)
    has = n_b > 0
    return (seq[has] / n_b[has]).sum() / has.sum(), z


@PROPERTY
@given(data=st.data())
def test_cross_entropy_matches_torch(data):
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    reduction = data.draw(st.sampled_from(REDUCTIONS))
    seq = reduction in REDUCTIONS[3:]
    V = data.draw(st.integers(1, 5))
    lead = tuple(data.draw(st.lists(st.integers(0, 3), min_size=2, max_size=2))) if seq else _lead(data)
    if reduction == "mean" or seq:
        lead = tuple(max(n, 1) for n in lead) or (1,)  # an all-empty mean is nan: tested below
    logits = array(data, lead + (V,), dtype, -5, 5)
    ignore_index = data.draw(st.sampled_from([-100, None, 0]))
    targets = np.random.default_rng(data.draw(st.integers(0, 999))).integers(0, V, size=lead)
    if ignore_index is not None and targets.size and data.draw(st.booleans(), label="some ignored"):
        targets.reshape(-1)[:: max(targets.size // 2, 1)] = ignore_index
    eps = data.draw(st.sampled_from([0.0, 0.1, 1.0]))
    batch_first = seq and data.draw(st.booleans())
    loss, d = cross_entropy(
        logits, targets, ignore_index=ignore_index, label_smoothing=eps, reduction=reduction, batch_first=batch_first
    )
    ref, z = _ce_reference(logits, targets, ignore_index, eps, reduction, batch_first)
    if reduction == "none":
        ref.sum().backward()
        close("loss", loss, ref.detach().numpy(), dtype)
    else:
        if torch.isnan(ref):
            assert math.isnan(loss) and not d.any()
            return
        ref.backward()
        close("loss", loss, ref.item(), dtype)
    close("dlogits", d, z.grad.numpy(), dtype)


@PROPERTY
@given(data=st.data())
def test_cross_entropy_invalid_input(data):
    V = data.draw(st.integers(1, 4))
    logits, targets = np.zeros((3, 2, V)), np.zeros((3, 2), np.int64)
    kw = {}
    fault = data.draw(
        st.sampled_from(
            [
                "logits dtype",
                "logits finite",
                "logits shape",
                "targets dtype",
                "targets shape",
                "targets range",
                "label_smoothing value",
                "reduction value",
                "ignore_index type",
                "mask shape",
            ]
        )
    )
    if fault == "logits dtype":
        logits = logits.astype(data.draw(st.sampled_from([np.int64, np.float16, np.complex128])))
    elif fault == "logits finite":
        logits, _ = poison(data, logits)
    elif fault == "logits shape":
        logits = np.zeros(())
    elif fault == "targets dtype":
        targets = targets.astype(np.float64)
    elif fault == "targets shape":
        targets = np.zeros((2, 3), np.int64)
    elif fault == "targets range":
        targets[1, 1] = data.draw(st.sampled_from([V, -1, V + 5]))
    elif fault == "label_smoothing value":
        kw["label_smoothing"] = data.draw(bad_probability().filter(lambda v: v != 1.0))
    elif fault == "reduction value":
        kw["reduction"] = data.draw(st.sampled_from(["avg", None, "MEAN"]))
    elif fault == "ignore_index type":
        kw["ignore_index"] = data.draw(st.sampled_from([1.5, "x", True]))
    elif fault == "mask shape":
        kw["mask"] = np.ones((2, 3))
    with pytest.raises((ValueError, TypeError)) as err:
        cross_entropy(logits, targets, **kw)
    _error_names(err.value, "cross_entropy", fault.split(" ")[0])
