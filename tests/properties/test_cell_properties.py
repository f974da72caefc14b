"""Property-based tests of the single-step cells: constructors, one step forward and backward, invalid input."""

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
    bad_seeds,
    close,
    poison,
    positive_int,
    seeds,
)

import rnnkit
from rnnkit import _kernels

CELLS = {"RNNCell": rnnkit.RNNCell, "GRUCell": rnnkit.GRUCell, "LSTMCell": rnnkit.LSTMCell, "MGUCell": rnnkit.MGUCell}
VARIANTS = [
    ("RNNCell", {"nonlinearity": "tanh"}, "RNNCell"),
    ("RNNCell", {"nonlinearity": "relu"}, "RNNCell"),
    ("GRUCell", {}, "GRUCell"),
    ("GRUCell", {"reset_after": False}, None),
    ("GRUCell", {"reset_gate": False}, None),
    ("LSTMCell", {}, "LSTMCell"),
    ("MGUCell", {}, None),
]
IDS = [v[0] + "".join(f"-{k}={x}" for k, x in v[1].items()) for v in VARIANTS]
BACKENDS = ["numpy", "c"] if _kernels.available() else ["numpy"]


def _as_tuple(s):
    return s if isinstance(s, tuple) else (s,)


@pytest.mark.parametrize("name", list(CELLS))
@PROPERTY
@given(data=st.data())
def test_cell_constructor(name, data):
    names = ["input_size", "hidden_size", "bias", "dtype", "seed"]
    names += {"RNNCell": ["nonlinearity"], "GRUCell": ["reset_after", "reset_gate"]}.get(name, [])
    a = Args(data, names)
    a.draw("input_size", positive_int(), bad_int())
    a.draw("hidden_size", positive_int(), bad_int())
    a.draw("bias", st.booleans(), bad_bool())
    a.draw("dtype", FLOAT_DTYPES, BAD_DTYPES)
    a.draw("seed", seeds(), bad_seeds())
    if name == "RNNCell":
        a.draw("nonlinearity", st.sampled_from(["tanh", "relu", "hard_sigmoid"]), st.sampled_from(["gelu", None, 0]))
    if name == "GRUCell":
        a.draw("reset_after", st.booleans(), bad_bool())
        a.draw("reset_gate", st.booleans(), bad_bool())
    try:
        cell = CELLS[name](**a.kwargs)
    except (ValueError, TypeError) as e:
        assert a.invalid, f"valid arguments {a.kwargs} raised {e!r}"
        assert_names_an_invalid_argument(e, name, a.invalid)
        return
    assert not a.invalid, f"invalid {sorted(a.invalid)} accepted: {a.kwargs}"
    assert cell.dtype == np.dtype(a.kwargs["dtype"])
    assert ("bias_ih" in cell.params) == a.kwargs["bias"]
    assert cell.params["weight_ih"].shape[1] == a.kwargs["input_size"]


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
@PROPERTY
@given(data=st.data())
def test_one_step_matches_the_float64_reference(variant, data):
    name, kw, twin = variant
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    D, H = data.draw(st.integers(1, 4), label="D"), data.draw(st.integers(1, 4), label="H")
    bias = data.draw(st.booleans(), label="bias")
    cell = CELLS[name](D, H, bias, **kw, dtype=dtype, seed=data.draw(st.integers(0, 999), label="seed"))
    unbatched = data.draw(st.booleans(), label="unbatched")
    B = None if unbatched else data.draw(st.integers(0, 3), label="B")
    lead = () if unbatched else (B,)
    x = array(data, lead + (D,), data.draw(st.sampled_from([dtype, np.float64, np.float32]), label="x dtype"))
    hx = None
    if data.draw(st.booleans(), label="hx given"):
        hx = tuple(array(data, lead + (H,), dtype) for _ in range(2 if name == "LSTMCell" else 1))
        hx = hx if name == "LSTMCell" else hx[0]
    pair = data.draw(st.booleans(), label="LSTMCell gradient as a pair")
    backend = data.draw(st.sampled_from(BACKENDS), label="backend")

    def run(c, x, hx, dh, backend):
        with _kernels.use(backend):
            c.zero_grad()
            state = c.forward(x, hx)
            if name == "LSTMCell":
                dx, ds = c.backward(dh) if pair else c.backward(*dh)
            else:
                dx, ds = c.backward(dh)
        return state, dx, ds, {k: g.copy() for k, g in c.grads.items()}

    dh = tuple(array(data, lead + (H,), dtype) for _ in range(2 if name == "LSTMCell" else 1))
    dh = dh if name == "LSTMCell" else dh[0]
    ours = run(cell, x, hx, dh, backend)
    ref = CELLS[name](D, H, bias, **kw, dtype=np.float64)
    ref.load_state_dict({k: v.astype(np.float64) for k, v in cell.state_dict().items()})

    def up(s):
        return None if s is None else tuple(np.float64(a) if np.ndim(a) == 0 else a.astype(np.float64) for a in s)

    x64 = np.asarray(x, dtype=dtype).astype(np.float64)
    hx64 = None if hx is None else (up(hx) if name == "LSTMCell" else hx.astype(np.float64))
    dh64 = up(dh) if name == "LSTMCell" else dh.astype(np.float64)
    theirs = run(ref, x64, hx64, dh64, "numpy")
    for i, (a, b) in enumerate(zip(_as_tuple(ours[0]), _as_tuple(theirs[0]))):
        assert a.dtype == dtype
        close(f"state[{i}]", a, b, dtype)
    close("dx", ours[1], theirs[1], dtype)
    for i, (a, b) in enumerate(zip(_as_tuple(ours[2]), _as_tuple(theirs[2]))):
        close(f"dstate[{i}]", a, b, dtype)
    for k in ours[3]:
        close(f"grad {k}", ours[3][k], theirs[3][k], dtype)

    if twin is None:
        return
    extra = {"nonlinearity": kw["nonlinearity"]} if name == "RNNCell" else {}
    t = getattr(torch.nn, twin)(D, H, bias, dtype=torch.float64, **extra)
    t.load_state_dict({k: torch.tensor(v) for k, v in ref.state_dict().items()})
    xt = torch.tensor(x64, requires_grad=True)
    hts = None if hx64 is None else tuple(torch.tensor(a, requires_grad=True) for a in _as_tuple(hx64))
    out = t(xt, None if hts is None else (hts if name == "LSTMCell" else hts[0]))
    loss = sum((o * torch.tensor(d)).sum() for o, d in zip(_as_tuple(out), _as_tuple(dh64)))
    loss.backward()
    for i, (a, o) in enumerate(zip(_as_tuple(theirs[0]), _as_tuple(out))):
        close(f"state[{i}] vs torch", a, o.detach().numpy(), np.float64)
    close("dx vs torch", theirs[1], xt.grad.numpy(), np.float64)
    if hts is not None:
        for i, (a, h) in enumerate(zip(_as_tuple(theirs[2]), hts)):
            close(f"dstate[{i}] vs torch", a, h.grad.numpy(), np.float64)
    for k, p in t.named_parameters():
        close(f"grad {k} vs torch", theirs[3][k], p.grad.numpy(), np.float64)


FAULTS = ["x dtype", "x finite", "x shape", "hx shape", "hx finite", "hx type", "dh_next shape", "dh_next finite"]


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
@PROPERTY
@given(data=st.data())
def test_invalid_input_names_the_argument(variant, data):
    name, kw, _ = variant
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    D, H, B = (data.draw(st.integers(1, 4)) for _ in range(3))
    cell = CELLS[name](D, H, **kw, dtype=dtype)
    x = array(data, (B, D), dtype)
    n_states = 2 if name == "LSTMCell" else 1
    hx = tuple(array(data, (B, H), dtype) for _ in range(n_states))
    fault = data.draw(st.sampled_from(FAULTS), label="fault")
    arg = fault.split(" ")[0]
    if fault == "x dtype":
        x = x.astype(data.draw(st.sampled_from([np.complex64, np.str_, object])))
    elif fault == "x finite":
        x, _ = poison(data, x)
    elif fault == "x shape":
        x = data.draw(st.sampled_from([np.zeros((B, D + 1)), np.zeros((1, B, D)), np.zeros(())]))
    elif fault == "hx shape":
        hx = tuple(np.zeros((B + 1, H)) for _ in hx)
    elif fault == "hx finite":
        hx = tuple(poison(data, h)[0] for h in hx)
    elif fault == "hx type":
        hx = (hx[0],) * 3 if name == "LSTMCell" else "zeros"
    state_in = hx if name == "LSTMCell" else hx[0]
    method = "forward"
    with pytest.raises((ValueError, TypeError)) as err:
        state = cell.forward(x, state_in)
        method = "backward"
        dh = array(data, (B, H), dtype)
        if fault == "dh_next shape":
            dh = np.zeros((B, H + 1))
        elif fault == "dh_next finite":
            dh, _ = poison(data, dh)
        else:
            raise AssertionError(f"{fault}: forward accepted it")
        cell.backward(dh)
        del state
    msg = str(err.value)
    m = re.match(re.escape(f"{name}.{method}: ") + r"(\w+)(\[\d\])? must ", msg)
    assert m, f"{fault}: not of the form '{name}.{method}: <arg> must ...': {msg!r}"
    assert m.group(1) == arg, f"{fault}: the error names {m.group(1)!r}: {msg!r}"
