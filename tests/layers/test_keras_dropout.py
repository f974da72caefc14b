"""Per-gate dropout masks (Keras's ``x * B_W[k]``, ``h_tm1 * B_U[k]``) beside rnnkit's shared masks.

Checked against: Keras's own cells run step by step with the same masks injected (float32), the shared
form when every gate gets the same mask, float64 finite differences with the masks held fixed, the
NumPy path when the compiled backend is selected, and the settings Keras layers report.
"""

import os

import numpy as np
import pytest

from rnnkit import _kernels
from rnnkit.cells import gru, lstm, rnn
from rnnkit.cells.common import StepMasks
from rnnkit.layers import recurrent_layer

from helpers import assert_close, check_layer_gradients, random_state

T, B, D, H = 5, 3, 4, 3
MASK = np.array([[1, 0, 1], [1, 1, 1], [0, 1, 1], [1, 1, 0], [1, 0, 1]], dtype=bool)  # (T, B)
CELLS = {"rnn": (rnn, 1), "gru": (gru, 3), "lstm": (lstm, 4)}


def _params(G, rng, dtype=np.float64):
    return {
        "weight_ih": rng.normal(size=(G * H, D)).astype(dtype),
        "weight_hh": rng.normal(size=(G * H, H)).astype(dtype) * 0.5,
        "bias_ih": rng.normal(size=G * H).astype(dtype),
        "bias_hh": rng.normal(size=G * H).astype(dtype),
    }


def _state(name, rng, dtype=np.float64):
    h = rng.normal(size=(B, H)).astype(dtype)
    return (h, rng.normal(size=(B, H)).astype(dtype)) if name == "lstm" else h


def _masks(rng, G, steps, dtype=np.float64):
    """Random inverted-dropout masks (values 0 or 2), per gate."""
    m_in = (rng.random((steps, B, G, D)) < 0.5).astype(dtype) * 2
    m_rec = (rng.random((steps, B, G, H)) < 0.5).astype(dtype) * 2
    return m_in, m_rec


@pytest.mark.parametrize("name", ["rnn", "gru", "lstm"])
def test_identical_gate_masks_are_the_shared_form(name):
    """Every gate given the same mask computes what one shared mask computes (x * m fed to the cell)."""
    mod, G = CELLS[name]
    rng = np.random.default_rng(0)
    p, x, s0 = _params(G, rng), rng.normal(size=(T, B, D)), _state(name, rng)
    m_in, m_rec = _masks(rng, 1, T)
    per = StepMasks(input=np.repeat(m_in, G, axis=2), recurrent=np.repeat(m_rec, G, axis=2))
    shared = StepMasks(recurrent=m_rec[:, :, 0])
    out_p, st_p, cache_p = mod.forward(p, x, s0, masks=per)
    out_s, st_s, cache_s = mod.forward(p, x * m_in[:, :, 0], s0, masks=shared)
    np.testing.assert_allclose(out_p, out_s, rtol=0, atol=1e-12)
    dout = rng.normal(size=out_p.shape)
    g_p, dx_p, _ = mod.backward(p, cache_p, dout, None)
    g_s, dx_s, _ = mod.backward(p, cache_s, dout, None)
    np.testing.assert_allclose(dx_p, dx_s * m_in[:, :, 0], rtol=0, atol=1e-12)
    for k in g_p:
        np.testing.assert_allclose(g_p[k], g_s[k], rtol=0, atol=1e-11, err_msg=k)


@pytest.mark.parametrize("steps", [1, T], ids=["variational", "per-step"])
@pytest.mark.parametrize("name", ["rnn", "gru", "lstm"])
def test_per_gate_cell_gradients(name, steps):
    """float64 finite differences of the cell maths with per-gate masks held fixed, and a step mask."""
    from rnnkit.gradcheck import assert_gradient_close, numerical_gradient

    mod, G = CELLS[name]
    rng = np.random.default_rng(1)
    p, x, s0 = _params(G, rng), rng.normal(size=(T, B, D)), _state(name, rng)
    m_in, m_rec = _masks(rng, G, steps)
    u = MASK.astype(np.float64)[:, :, None]
    mk = StepMasks(input=m_in, recurrent=m_rec, update=u, update_c=u, out=u)
    out, st, cache = mod.forward(p, x, s0, masks=mk)
    P = rng.normal(size=out.shape)
    states = st if isinstance(st, tuple) else (st,)
    Q = [rng.normal(size=s.shape) for s in states]

    def loss():
        o, s, _ = mod.forward(p, x, s0, masks=mk)
        ss = s if isinstance(s, tuple) else (s,)
        return float(np.sum(P * o) + sum(np.sum(q * v) for q, v in zip(Q, ss)))

    grads, dx, ds0 = mod.backward(p, cache, P, tuple(Q) if isinstance(st, tuple) else Q[0])
    for k, v in p.items():
        assert_gradient_close(k, grads[k], numerical_gradient(loss, v))
    assert_gradient_close("x", dx, numerical_gradient(loss, x))
    for i, (a, s) in enumerate(zip(ds0 if isinstance(ds0, tuple) else (ds0,), s0 if isinstance(s0, tuple) else (s0,))):
        assert_gradient_close(f"state[{i}]", a, numerical_gradient(loss, s))


def _fixed_masks(layer):
    """Make every forward draw the same dropout masks (the generator restarts from one state)."""
    state = layer.rng.bit_generator.state
    orig = layer.forward

    def forward(*a, **k):
        layer.rng.bit_generator.state = state
        return orig(*a, **k)

    layer.forward = forward


@pytest.mark.parametrize("variational", [True, False])
@pytest.mark.parametrize("name", ["rnn", "gru", "lstm"])
def test_per_gate_layer_gradients(name, variational):
    rng = np.random.default_rng(2)
    layer = recurrent_layer(
        name,
        D,
        H,
        num_layers=2,
        bidirectional=True,
        input_dropout=0.4,
        recurrent_dropout=0.4,
        variational=variational,
        dropout_masks="per_gate",
        dtype=np.float64,
        seed=0,
    )
    _fixed_masks(layer)
    x = rng.normal(size=(T, B, D))
    check_layer_gradients(layer, x, random_state(layer, B, rng), mask=MASK)


def test_per_gate_masks_differ_between_gates_and_shared_ones_do_not():
    layer = recurrent_layer("lstm", D, H, recurrent_dropout=0.5, input_dropout=0.5, variational=True, seed=0)
    mk = layer._step_masks(T, B, None, first_layer=True)
    assert mk.recurrent.shape == (1, B, H) and mk.input is None
    layer = recurrent_layer(
        "lstm", D, H, recurrent_dropout=0.5, input_dropout=0.5, variational=True, dropout_masks="per_gate", seed=0
    )
    mk = layer._step_masks(T, B, None, first_layer=True)
    assert mk.recurrent.shape == (1, B, 4, H) and mk.input.shape == (1, B, 4, D)
    assert not np.array_equal(mk.recurrent[:, :, 0], mk.recurrent[:, :, 1])
    assert set(np.unique(mk.input)) <= {0.0, 2.0}
    layer.eval()
    assert layer._step_masks(T, B, None, first_layer=True) is None  # no dropout in eval mode


@pytest.mark.skipif(not _kernels.available(), reason="compiled loops unavailable")
@pytest.mark.parametrize("name", ["rnn", "gru", "lstm"])
def test_the_compiled_backend_declines_per_gate_masks(name, monkeypatch):
    """With the C backend selected, per-gate masks run the NumPy maths: same numbers, no loop called."""
    calls = []
    real = _kernels.ck

    class Spy:
        def __getattr__(self, attr):
            fn = getattr(real, attr)
            return lambda *a: (calls.append(attr), fn(*a))[1]

    res = []
    for backend in ("numpy", "c"):
        layer = recurrent_layer(
            name, D, H, recurrent_dropout=0.3, input_dropout=0.3, dropout_masks="per_gate", dtype=np.float64, seed=0
        )
        x = np.random.default_rng(3).normal(size=(T, B, D))
        if backend == "c":
            monkeypatch.setattr(_kernels, "ck", Spy())
        with _kernels.use(backend):
            out, _ = layer.forward(x, mask=MASK)
            dx, _ = layer.backward(np.ones_like(out))
        res.append((out, dx))
    assert not [c for c in calls if c.endswith(("_forward", "_backward"))]
    np.testing.assert_array_equal(res[0][0], res[1][0])
    np.testing.assert_array_equal(res[0][1], res[1][1])


def test_families_without_per_gate_maths_refuse_them():
    with pytest.raises(ValueError, match=r"MGU: dropout_masks must be 'shared' for cell 'mgu'"):
        recurrent_layer("mgu", D, H, dropout_masks="per_gate")
    with pytest.raises(ValueError, match=r"GRU: dropout_masks must be 'shared' for cell 'gru'"):
        recurrent_layer("gru", D, H, reset_after=False, dropout_masks="per_gate")
    with pytest.raises(ValueError, match=r"LSTM: dropout_masks must be one of 'shared', 'per_gate', got 'gate'"):
        recurrent_layer("lstm", D, H, dropout_masks="gate")


# -- Keras -------------------------------------------------------------------------------------------------


def _keras():
    os.environ["KERAS_BACKEND"] = "torch"
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip(f"needs Keras on the torch backend, got {keras.backend.backend()}")
    return keras


# Keras gate block j is rnnkit's block PERM[j]
PERM = {"LSTM": [0, 1, 2, 3], "GRU": [1, 0, 2]}


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_per_gate_maths_match_keras_cells_given_the_same_masks(kind):
    """Keras's cell (implementation=1), stepped by hand with its cached masks set to ours."""
    keras = _keras()
    import torch

    from rnnkit.interop.keras import keras_layer

    name = kind.lower()
    mod, G = CELLS[name]
    rng = np.random.default_rng(4)
    layer = recurrent_layer(name, D, H, seed=1, dropout_masks="per_gate", input_dropout=0.5, recurrent_dropout=0.5)
    klayer = keras_layer(layer)
    assert klayer.cell.implementation == 1 and klayer.cell.dropout == 0.5
    cell = klayer.cell
    x = rng.normal(size=(T, B, D)).astype(np.float32)
    s0 = _state(name, rng, np.float32)
    m_in, m_rec = _masks(rng, G, 1, np.float32)
    cell._dropout_mask = [torch.tensor(m_in[0, :, PERM[kind][j]]) for j in range(G)]
    cell._recurrent_dropout_mask = [torch.tensor(m_rec[0, :, PERM[kind][j]]) for j in range(G)]
    states = [torch.tensor(s) for s in (s0 if isinstance(s0, tuple) else (s0,))]
    k_out = []
    for t in range(T):
        o, states = cell(torch.tensor(x[t]), states, training=True)
        states = states if isinstance(states, (list, tuple)) else [states]
        k_out.append(keras.ops.convert_to_numpy(o))
    params = {k[: -len("_l0")]: v for k, v in layer.params.items()}
    out, st, _ = mod.forward(params, x, s0, masks=StepMasks(input=m_in, recurrent=m_rec))
    assert_close("out", out, np.stack(k_out), 1e-5, peer="Keras")
    for i, s in enumerate(st if isinstance(st, tuple) else (st,)):
        assert_close(f"state[{i}]", s, keras.ops.convert_to_numpy(states[i]), 1e-5, peer="Keras")


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")
def test_keras_dropout_settings_convert_both_ways():
    keras = _keras()
    from rnnkit.interop.keras import from_keras, keras_layer, keras_options

    k = keras.layers.GRU(H, dropout=0.25, recurrent_dropout=0.5, go_backwards=True)
    k.build((None, None, D))
    opts = keras_options(k)
    assert opts == {
        "bidirectional": False,
        "name": "gru",
        "hidden_size": H,
        "bias": True,
        "batch_first": True,
        "go_backwards": True,
        "masked_output": "previous",
        "activation": "tanh",
        "recurrent_activation": "sigmoid",
        "reset_after": True,
        "input_dropout": 0.25,
        "recurrent_dropout": 0.5,
        "variational": True,
        "dropout_masks": "per_gate",
    }
    layer = from_keras(k)
    x = np.random.default_rng(5).normal(size=(B, T, D)).astype(np.float32)
    layer.eval()
    last = layer.forward(x)[0][:, -1]  # Keras returns the last output (of the reversed reading)
    assert_close("out", last, keras.ops.convert_to_numpy(k(x)), 1e-5, peer="Keras")
    k2 = keras.layers.LSTM(H, dropout=0.1)  # no recurrent dropout: Keras's one shared input mask
    k2.build((None, None, D))
    assert keras_options(k2)["dropout_masks"] == "shared"
    bi = keras.layers.Bidirectional(keras.layers.SimpleRNN(H, recurrent_dropout=0.2), merge_mode="sum")
    bi.build((None, None, D))
    o = keras_options(bi)
    assert (o["name"], o["merge_mode"], o["dropout_masks"], o["recurrent_dropout"]) == ("rnn", "sum", "shared", 0.2)
    back = keras_layer(from_keras(bi))
    assert back.merge_mode == "sum" and back.forward_layer.cell.recurrent_dropout == 0.2
