"""Property-based tests of the recurrent layers, every family: constructors, forward and backward.

Valid inputs (random sizes including B = 0 and 1, T = 1, both dtypes, integer input, lengths, batch_first,
unbatched, initial states) must match a float64 reference: the same weights in a float64 layer on the NumPy
loops, and torch autograd where a twin exists. Invalid inputs must raise the documented error naming the
argument.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
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

import rnnkit
from rnnkit import _kernels
from rnnkit.layers.layernorm_rnn import LayerNormGRU, LayerNormLSTM

CLASSES = {
    "RNN": rnnkit.RNN,
    "GRU": rnnkit.GRU,
    "LSTM": rnnkit.LSTM,
    "MGU": rnnkit.MGU,
    "LayerNormLSTM": LayerNormLSTM,
    "LayerNormGRU": LayerNormGRU,
}
# (class name, variant keyword arguments, torch twin or None)
VARIANTS = [
    ("RNN", {"nonlinearity": "tanh"}, "RNN"),
    ("RNN", {"nonlinearity": "relu"}, "RNN"),
    ("GRU", {}, "GRU"),
    ("GRU", {"reset_after": False}, None),
    ("GRU", {"reset_gate": False}, None),
    ("LSTM", {}, "LSTM"),
    ("LSTM", {"proj_size": 1}, "LSTM"),
    ("LSTM", {"peephole": True}, None),
    ("MGU", {}, None),
    ("LayerNormLSTM", {}, None),
    ("LayerNormGRU", {}, None),
]
HAS_CELL_STATE = {"LSTM", "LayerNormLSTM"}


# -- constructors ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CLASSES))
@PROPERTY
@given(data=st.data())
def test_constructor_accepts_valid_arguments_and_names_an_invalid_one(name, data):
    cls = CLASSES[name]
    names = ["input_size", "hidden_size", "num_layers", "bias", "batch_first", "bidirectional", "variational"]
    names += ["dropout", "input_dropout", "recurrent_dropout", "weight_drop", "zoneout", "dtype", "seed"]
    names += {"RNN": ["nonlinearity"], "GRU": ["reset_after", "reset_gate"], "LSTM": ["proj_size", "peephole"]}.get(
        name, []
    )
    names += ["eps"] if name.startswith("LayerNorm") else []
    a = Args(data, names)
    a.draw("input_size", positive_int(), bad_int())
    hidden = a.draw("hidden_size", positive_int(1, 5), bad_int())
    a.draw("num_layers", positive_int(1, 3), bad_int())
    for flag in ("bias", "batch_first", "bidirectional", "variational"):
        a.draw(flag, st.booleans(), bad_bool())
    for p in ("dropout", "input_dropout", "recurrent_dropout", "weight_drop"):
        a.draw(p, probability(), bad_probability())
    zoneout_ok = (
        st.one_of(probability(), st.tuples(probability(), probability())) if name in HAS_CELL_STATE else probability()
    )
    zoneout_bad = (
        bad_probability()
        if name in HAS_CELL_STATE
        else st.one_of(bad_probability(), st.tuples(probability(), probability()))
    )
    a.draw("zoneout", zoneout_ok, zoneout_bad)
    a.draw("dtype", FLOAT_DTYPES, BAD_DTYPES)
    a.draw("seed", seeds(), bad_seeds())
    if name == "RNN":
        a.draw("nonlinearity", st.sampled_from(["tanh", "relu"]), st.sampled_from(["gelu", None, 1, "TANH"]))
    if name == "GRU":
        a.draw("reset_after", st.booleans(), bad_bool())
        a.draw("reset_gate", st.booleans(), bad_bool())
    if name == "LSTM":
        top = hidden - 1 if isinstance(hidden, int) and not isinstance(hidden, bool) and hidden >= 1 else 0
        a.draw(
            "proj_size",
            st.integers(0, max(top, 0)),
            st.one_of(st.integers(-3, -1), st.just(max(top, 0) + 1), st.floats()),
        )
        a.draw("peephole", st.booleans(), bad_bool())
    if name.startswith("LayerNorm"):
        a.draw(
            "eps",
            st.floats(1e-12, 1.0),
            st.one_of(st.just(0.0), st.floats(-1, -1e-9), st.just(float("nan")), st.text(max_size=1)),
        )
    try:
        layer = cls(**a.kwargs)
    except (ValueError, TypeError) as e:
        assert a.invalid, f"valid arguments {a.kwargs} raised {e!r}"
        assert_names_an_invalid_argument(e, name, a.invalid)
        return
    assert not a.invalid, f"invalid {sorted(a.invalid)} accepted: {a.kwargs}"
    kw = a.kwargs
    assert (layer.input_size, layer.hidden_size, layer.num_layers) == (
        kw["input_size"],
        kw["hidden_size"],
        kw["num_layers"],
    )
    assert layer.dtype == np.dtype(kw["dtype"])
    assert layer.dropout == kw["dropout"] and layer.weight_drop == kw["weight_drop"]
    assert all(p.dtype == layer.dtype and np.isfinite(p).all() for p in layer.params.values())
    dirs = 2 if kw["bidirectional"] else 1
    assert len({k.split("_l")[-1] for k in layer.params}) == kw["num_layers"] * dirs


# -- forward and backward on valid input ------------------------------------------------------------------------


def _draw_layer(data, variant, dtype, *, regularised=False):
    name, variant_kw, _ = variant
    H = data.draw(st.integers(2 if "proj_size" in variant_kw else 1, 4), label="H")
    kw = dict(
        input_size=data.draw(st.integers(1, 4), label="D"),
        hidden_size=H,
        num_layers=data.draw(st.integers(1, 2), label="num_layers"),
        bidirectional=data.draw(st.booleans(), label="bidirectional"),
        batch_first=data.draw(st.booleans(), label="batch_first"),
        bias=data.draw(st.booleans(), label="bias"),
        **variant_kw,
    )
    layer = CLASSES[name](**kw, dtype=dtype, seed=data.draw(st.integers(0, 2**16), label="seed"))
    return layer, kw


def _state_like(data, layer, B, unbatched, dtype):
    L = layer.num_layers * layer.num_directions
    lead = (L,) if unbatched else (L, B)
    h = array(data, lead + (layer.output_size,), dtype)
    if layer._has_cell_state:
        return (h, array(data, lead + (layer.hidden_size,), dtype))
    return h


def _as_tuple(s):
    return s if isinstance(s, tuple) else (s,)


def _run(layer, x, hx, lengths, dout, dh, backend):
    with _kernels.use(backend):
        layer.zero_grad()
        out, hn = layer.forward(x, hx, lengths=lengths)
        dx, dhx = layer.backward(dout, dh)
    return out, hn, dx, dhx, {k: g.copy() for k, g in layer.grads.items()}


def _torch_twin(kind, layer, kw):
    cls = getattr(torch.nn, kind)
    extra = {"nonlinearity": kw["nonlinearity"]} if kind == "RNN" else {}
    if kind == "LSTM":
        extra["proj_size"] = kw.get("proj_size", 0)
    twin = cls(
        kw["input_size"],
        kw["hidden_size"],
        num_layers=kw["num_layers"],
        bias=kw["bias"],
        batch_first=kw["batch_first"],
        bidirectional=kw["bidirectional"],
        dtype=torch.float64,
        **extra,
    )
    twin.load_state_dict({k: torch.tensor(v, dtype=torch.float64) for k, v in layer.state_dict().items()})
    return twin


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v[0] + "".join(f"-{k}={x}" for k, x in v[1].items()))
@PROPERTY
@given(data=st.data())
def test_forward_and_backward_match_the_float64_reference(variant, data):
    name, _, twin_kind = variant
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    layer, kw = _draw_layer(data, variant, dtype)
    T = data.draw(st.integers(1, 4), label="T")
    B = data.draw(st.integers(0, 3), label="B")
    unbatched = data.draw(st.booleans(), label="unbatched") and B == 1
    in_dtype = data.draw(st.sampled_from([dtype, np.float64, np.float32, np.int64]), label="x dtype")
    D = kw["input_size"]
    shape = (T, D) if unbatched else ((B, T, D) if kw["batch_first"] else (T, B, D))
    x = array(data, shape, np.float64, -3, 3)
    x = np.round(x).astype(in_dtype) if in_dtype == np.int64 else x.astype(in_dtype)
    hx = _state_like(data, layer, B, unbatched, dtype) if data.draw(st.booleans(), label="hx given") else None
    lengths = None
    if not unbatched and data.draw(st.booleans(), label="lengths given"):
        lengths = np.asarray(data.draw(st.lists(st.integers(1, T), min_size=B, max_size=B), label="lengths"), np.int64)
    backend = data.draw(st.sampled_from(["numpy", "c"] if _kernels.available() else ["numpy"]), label="backend")

    with _kernels.use(backend):
        out, hn = layer.forward(x, hx, lengths=lengths)
    assert out.dtype == dtype and all(s.dtype == dtype for s in _as_tuple(hn))
    dout = array(data, out.shape, dtype)
    dh = tuple(array(data, s.shape, dtype) for s in _as_tuple(hn))
    dh = dh if layer._has_cell_state else dh[0]
    ours = _run(layer, x, hx, lengths, dout, dh, backend)

    ref = CLASSES[name](**kw, dtype=np.float64)
    ref.load_state_dict({k: v.astype(np.float64) for k, v in layer.state_dict().items()})
    x64 = np.asarray(x, dtype=dtype).astype(np.float64)  # what the layer computed on, exactly, in float64
    up = lambda s: (
        None
        if s is None
        else (tuple(a.astype(np.float64) for a in s) if isinstance(s, tuple) else s.astype(np.float64))
    )  # noqa: E731
    theirs = _run(ref, x64, up(hx), lengths, up(dout), up(dh), "numpy")

    for label, a, b in (("out", ours[0], theirs[0]), ("dx", ours[2], theirs[2])):
        close(label, a, b, dtype)
    for i, (a, b) in enumerate(zip(_as_tuple(ours[1]), _as_tuple(theirs[1]))):
        close(f"h_n[{i}]", a, b, dtype)
    for i, (a, b) in enumerate(zip(_as_tuple(ours[3]), _as_tuple(theirs[3]))):
        close(f"dhx[{i}]", a, b, dtype)
    for k in ours[4]:
        close(f"grad {k}", ours[4][k], theirs[4][k], dtype)

    if twin_kind is None or lengths is not None or unbatched:
        return
    twin = _torch_twin(twin_kind, ref, kw)
    xt = torch.tensor(x64, requires_grad=True)
    hts = None if hx is None else tuple(torch.tensor(s, requires_grad=True) for s in _as_tuple(up(hx)))
    out_t, hn_t = twin(xt, None if hts is None else (hts if layer._has_cell_state else hts[0]))
    loss = (out_t * torch.tensor(up(dout))).sum() + sum(
        (s * torch.tensor(d)).sum() for s, d in zip(_as_tuple(hn_t), _as_tuple(up(dh)))
    )
    loss.backward()
    close("out vs torch", theirs[0], out_t.detach().numpy(), np.float64)
    close("dx vs torch", theirs[2], xt.grad.numpy(), np.float64)
    if hts is not None:
        for i, (a, s) in enumerate(zip(_as_tuple(theirs[3]), hts)):
            close(f"dhx[{i}] vs torch", a, s.grad.numpy(), np.float64)
    for k, p in twin.named_parameters():
        close(f"grad {k} vs torch", theirs[4][k], np.zeros(p.shape) if p.grad is None else p.grad.numpy(), np.float64)


# -- invalid input --------------------------------------------------------------------------------------------

FAULTS = [
    "x dtype",
    "x finite",
    "x shape",
    "x T=0",
    "lengths value",
    "lengths shape",
    "lengths dtype",
    "hx shape",
    "hx finite",
    "hx type",
    "dout shape",
    "dout finite",
    "dh_n shape",
]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v[0] + "".join(f"-{k}={x}" for k, x in v[1].items()))
@PROPERTY
@given(data=st.data())
def test_invalid_input_names_the_argument(variant, data):
    name = variant[0]
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    layer, kw = _draw_layer(data, variant, dtype)
    T = data.draw(st.integers(1, 4), label="T")
    B = data.draw(st.integers(1, 3), label="B")
    D = kw["input_size"]
    shape = (B, T, D) if kw["batch_first"] else (T, B, D)
    x = array(data, shape, dtype)
    hx = _state_like(data, layer, B, False, dtype)
    lengths = None
    fault = data.draw(st.sampled_from(FAULTS), label="fault")
    method, arg = "forward", fault.split(" ")[0]
    if fault == "x dtype":
        x = x.astype(data.draw(st.sampled_from([np.complex128, np.str_, object]), label="bad dtype"))
    elif fault == "x finite":
        x, _ = poison(data, x)
    elif fault == "x shape":
        bad = data.draw(st.sampled_from(["D", "ndim1", "ndim4"]), label="how")
        x = {"D": np.zeros(shape[:-1] + (D + 1,)), "ndim1": np.zeros(D), "ndim4": np.zeros((1,) + shape)}[bad]
    elif fault == "x T=0":
        x = np.zeros((B, 0, D) if kw["batch_first"] else (0, B, D))
    elif fault == "lengths value":
        lengths = np.full(B, T, np.int64)
        lengths[data.draw(st.integers(0, B - 1))] = data.draw(st.sampled_from([0, -1, T + 1]), label="bad length")
    elif fault == "lengths shape":
        lengths = np.full(B + 1, T, np.int64)
    elif fault == "lengths dtype":
        lengths = np.full(B, T, np.float64)
    elif fault == "hx shape":
        hx = tuple(np.zeros(s.shape[:-1] + (s.shape[-1] + 1,)) for s in _as_tuple(hx))
        hx = hx if layer._has_cell_state else hx[0]
    elif fault == "hx finite":
        parts = list(_as_tuple(hx))
        i = data.draw(st.integers(0, len(parts) - 1))
        parts[i], _ = poison(data, parts[i])
        hx = tuple(parts) if layer._has_cell_state else parts[0]
    elif fault == "hx type":
        hx = _as_tuple(hx)[0] if layer._has_cell_state else "zeros"
    with pytest.raises((ValueError, TypeError)) as err:
        out, hn = layer.forward(x, hx, lengths=lengths)
        method = "backward"
        dout = array(data, out.shape, dtype)
        dh = None
        if fault == "dout shape":
            dout = dout[..., :-1] if dout.shape[-1] > 1 else np.zeros(dout.shape + (1,))
        elif fault == "dout finite":
            dout, _ = poison(data, dout)
        elif fault == "dh_n shape":
            dh = tuple(np.zeros(s.shape[:-1] + (s.shape[-1] + 1,)) for s in _as_tuple(hn))
            dh = dh if layer._has_cell_state else dh[0]
        else:
            raise AssertionError(f"{fault}: forward accepted it")
        layer.backward(dout, dh)
    msg = str(err.value)
    m = re.match(re.escape(f"{name}.{method}: ") + r"([\w]+)(\[\d\])? must ", msg)
    assert m, f"{fault}: not of the form '{name}.{method}: <arg> must ...': {msg!r}"
    assert m.group(1) == arg, f"{fault}: the error names {m.group(1)!r}: {msg!r}"
