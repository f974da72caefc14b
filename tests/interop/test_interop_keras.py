"""rnnkit.interop.keras: weights to and from Keras 3 LSTM / GRU / SimpleRNN, proven by equal outputs.

Against Keras itself (torch backend) in float32, to 1e-5: Keras 3 computes its
matmuls in float32 even for float64 layers (its type promotion maps 64-bit to
32-bit), so float64 is checked against a NumPy transcription of Keras'
equations instead, to 1e-12, on the same Keras-layout arrays.
"""

import doctest
import os
import re
import subprocess
import sys

import numpy as np
import pytest

os.environ["KERAS_BACKEND"] = "torch"
keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":
    pytest.skip(f"needs Keras on the torch backend, got {keras.backend.backend()}", allow_module_level=True)

import rnnkit  # noqa: E402
from rnnkit.interop import keras as interop  # noqa: E402
from rnnkit.interop.keras import from_keras_weights, keras_layer, to_keras_weights  # noqa: E402

from helpers import REPO_ROOT, assert_close  # noqa: E402

# Keras' own variables hand torch tensors to np.array without the copy keyword (NumPy 2 notice)
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")

B, T, D, H = 3, 6, 5, 4
# (rnnkit class, rnnkit kwargs, Keras class, Keras kwargs)
CASES = [
    ("LSTM", {}, "LSTM", {}),
    ("GRU", {}, "GRU", {"reset_after": True}),
    ("GRU", {"reset_after": False}, "GRU", {"reset_after": False}),
    ("RNN", {}, "SimpleRNN", {}),
    ("RNN", {"nonlinearity": "relu"}, "SimpleRNN", {"activation": "relu"}),
]
IDS = ["LSTM", "GRU-reset_after=True", "GRU-reset_after=False", "SimpleRNN-tanh", "SimpleRNN-relu"]


def _np(t):
    return keras.ops.convert_to_numpy(t)


def _keras(kcls, kkw, bias=True, d_in=D):
    """A Keras layer built by hand (not by keras_layer), so its layout is Keras' own."""
    layer = getattr(keras.layers, kcls)(H, use_bias=bias, return_sequences=True, return_state=True, **kkw)
    layer.build((None, None, d_in))
    return layer


def _init_states(name, rng, L=1):
    h = rng.normal(size=(L, B, H)).astype(np.float32)
    return (h, rng.normal(size=(L, B, H)).astype(np.float32)) if name == "LSTM" else (h,)


def _assert_close(what, ours, theirs, tol):
    assert_close(what, ours, theirs, tol, peer="Keras")


def _compare(layer, klayer, name, rng, tol=1e-5):
    """Run both on the same (B, T, D) input and initial state; compare outputs and final states."""
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    states = _init_states(name, rng)
    out, hn = layer.forward(x, states if name == "LSTM" else states[0])
    res = klayer(x, initial_state=[s[0] for s in states])
    _assert_close("out", out, _np(res[0]), tol)
    for i, s in enumerate(hn if name == "LSTM" else (hn,)):
        _assert_close(f"state[{i}]", s[0], _np(res[1 + i]), tol)


# -- a NumPy transcription of Keras' cell equations, on Keras-layout weights -----------------------
def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _keras_reference(kcls, kkw, weights, x, states):
    """Keras' recurrences written out from its documentation: x (B, T, D); returns (out, final states)."""
    kernel, rec = weights[0], weights[1]
    bias = weights[2] if len(weights) > 2 else np.zeros(kernel.shape[1])
    act = np.tanh if kkw.get("activation", "tanh") == "tanh" else (lambda a: np.maximum(a, 0.0))
    h, c = states[0], (states[1] if kcls == "LSTM" else None)
    outs = []
    for t in range(x.shape[1]):
        xt = x[:, t]
        if kcls == "SimpleRNN":
            h = act(xt @ kernel + bias + h @ rec)
        elif kcls == "LSTM":
            i, f, g, o = np.split(xt @ kernel + bias + h @ rec, 4, axis=1)
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
        else:
            b_in, b_rec = (bias[0], bias[1]) if bias.ndim == 2 else (bias, np.zeros_like(bias))
            xz, xr, xh = np.split(xt @ kernel + b_in, 3, axis=1)
            if kkw["reset_after"]:
                hz, hr, hh = np.split(h @ rec + b_rec, 3, axis=1)
                z, r = _sigmoid(xz + hz), _sigmoid(xr + hr)
                cand = np.tanh(xh + r * hh)
            else:
                z, r = _sigmoid(xz + h @ rec[:, :H]), _sigmoid(xr + h @ rec[:, H : 2 * H])
                cand = np.tanh(xh + (r * h) @ rec[:, 2 * H :])
            h = z * h + (1 - z) * cand
        outs.append(h)
    return np.stack(outs, axis=1), ((h, c) if kcls == "LSTM" else (h,))


# -- layouts --------------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("name,kw,kcls,kkw", CASES, ids=IDS)
def test_layout_matches_keras_get_weights(name, kw, kcls, kkw, bias):
    ours = to_keras_weights(getattr(rnnkit, name)(D, H, bias=bias, seed=0, **kw))
    theirs = _keras(kcls, kkw, bias=bias).get_weights()
    assert [w.shape for w in ours] == [w.shape for w in theirs]
    assert all(w.dtype == np.float32 for w in ours)


# -- rnnkit -> Keras, Keras -> rnnkit, against Keras itself (float32) ------------------------------
@pytest.mark.parametrize("name,kw,kcls,kkw", CASES, ids=IDS)
def test_rnnkit_weights_give_keras_the_same_outputs(name, kw, kcls, kkw):
    rng = np.random.default_rng(0)
    layer = getattr(rnnkit, name)(D, H, batch_first=True, seed=1, **kw)
    klayer = _keras(kcls, kkw)
    klayer.set_weights(to_keras_weights(layer))
    _compare(layer, klayer, name, rng)


@pytest.mark.parametrize("name,kw,kcls,kkw", CASES, ids=IDS)
def test_keras_weights_give_rnnkit_the_same_outputs(name, kw, kcls, kkw):
    rng = np.random.default_rng(1)
    klayer = _keras(kcls, kkw)
    random = [rng.uniform(-0.6, 0.6, size=w.shape).astype(np.float32) for w in klayer.get_weights()]
    klayer.set_weights(random)  # biases nonzero, unlike Keras' init
    layer = getattr(rnnkit, name)(D, H, batch_first=True, seed=2, **kw)
    from_keras_weights(layer, klayer)  # the layer object: config checked
    _compare(layer, klayer, name, rng)
    back = to_keras_weights(layer)
    assert all(np.array_equal(a, b) for a, b in zip(back, random)), "Keras -> rnnkit -> Keras changed a weight"
    if not (kcls == "GRU" and kkw["reset_after"]):  # one Keras bias: b_hh is zeroed
        assert not np.any(layer.params["bias_hh_l0"])


@pytest.mark.parametrize(
    "name,kw",
    [("LSTM", {}), ("GRU", {}), ("GRU", {"reset_after": False})],
    ids=["LSTM", "GRU", "GRU-reset_after=False"],
)
def test_keras_layer_for_bidirectional(name, kw):
    rng = np.random.default_rng(3)
    layer = getattr(rnnkit, name)(D, H, bidirectional=True, batch_first=True, seed=4, **kw)
    klayer = keras_layer(layer)
    assert type(klayer).__name__ == "Bidirectional" and len(klayer.get_weights()) == 6
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    states = _init_states(name, rng, L=2)
    out, hn = layer.forward(x, states if name == "LSTM" else states[0])
    # Keras wants the forward direction's states, then the backward one's
    res = klayer(x, initial_state=[s[d] for d in (0, 1) for s in states])
    _assert_close("out", out, _np(res[0]), 1e-5)
    k = len(states)
    for d in (0, 1):
        for i, s in enumerate(hn if name == "LSTM" else (hn,)):
            _assert_close(f"direction {d} state[{i}]", s[d], _np(res[1 + d * k + i]), 1e-5)
    twin = getattr(rnnkit, name)(D, H, bidirectional=True, seed=5, **kw)
    from_keras_weights(twin, klayer)
    for p in ("weight_ih_l0_reverse", "weight_hh_l0"):
        assert np.array_equal(twin.params[p], layer.params[p]), p


def test_stacked_layer_one_level_at_a_time():
    rng = np.random.default_rng(6)
    layer = rnnkit.GRU(D, H, num_layers=2, batch_first=True, seed=7)
    k0, k1 = keras_layer(layer, layer_index=0), keras_layer(layer, layer_index=1)
    assert k1.get_weights()[0].shape == (H, 3 * H)  # level 1 reads level 0's outputs
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    out, hn = layer.forward(x)
    y0, h0 = k0(x)
    y1, h1 = k1(y0)
    _assert_close("out", out, _np(y1), 1e-5)
    _assert_close("h_n", hn, np.stack([_np(h0), _np(h1)]), 1e-5)
    twin = rnnkit.GRU(D, H, num_layers=2, seed=8)
    from_keras_weights(twin, k1, layer_index=1)
    assert np.array_equal(twin.params["weight_ih_l1"], layer.params["weight_ih_l1"])
    assert not np.array_equal(twin.params["weight_ih_l0"], layer.params["weight_ih_l0"])  # level 0 untouched


@pytest.mark.parametrize(
    "name,kw",
    [("RNNCell", {}), ("GRUCell", {}), ("GRUCell", {"reset_after": False}), ("LSTMCell", {})],
    ids=["RNNCell", "GRUCell", "GRUCell-v1", "LSTMCell"],
)
def test_cells(name, kw):
    rng = np.random.default_rng(9)
    cell = getattr(rnnkit, name)(D, H, seed=10, **kw)
    kcell = keras_layer(cell)
    assert type(kcell).__name__ == name.replace("RNNCell", "SimpleRNNCell")
    x = rng.normal(size=(B, D)).astype(np.float32)
    states = [rng.normal(size=(B, H)).astype(np.float32) for _ in range(2 if name == "LSTMCell" else 1)]
    ours = cell.forward(x, tuple(states) if name == "LSTMCell" else states[0])
    _, theirs = kcell(x, states)
    for i, (a, b) in enumerate(zip(ours if name == "LSTMCell" else (ours,), theirs)):
        _assert_close(f"state[{i}]", a, _np(b), 1e-5)


# -- the mapping in float64, against the transcription of Keras' equations ---------------------------
@pytest.mark.parametrize("name,kw,kcls,kkw", CASES, ids=IDS)
def test_mapping_in_float64_both_ways(name, kw, kcls, kkw):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(B, T, D))
    states = tuple(rng.normal(size=(B, H)) for _ in range(2 if name == "LSTM" else 1))
    layer = getattr(rnnkit, name)(D, H, batch_first=True, dtype=np.float64, seed=12, **kw)
    out, hn = layer.forward(x, tuple(s[None] for s in states) if name == "LSTM" else states[0][None])
    ref_out, ref_states = _keras_reference(kcls, kkw, to_keras_weights(layer), x, states)
    _assert_close("rnnkit -> Keras: out", out, ref_out, 1e-12)
    for i, s in enumerate(hn if name == "LSTM" else (hn,)):
        _assert_close(f"rnnkit -> Keras: state[{i}]", s[0], ref_states[i], 1e-12)

    weights = [rng.uniform(-0.6, 0.6, size=w.shape) for w in to_keras_weights(layer)]
    from_keras_weights(layer, weights)
    out, _ = layer.forward(x, tuple(s[None] for s in states) if name == "LSTM" else states[0][None])
    _assert_close("Keras -> rnnkit: out", out, _keras_reference(kcls, kkw, weights, x, states)[0], 1e-12)


# -- errors ---------------------------------------------------------------------------------------
def test_gru_convention_mismatch_is_caught():
    v1 = _keras("GRU", {"reset_after": False})
    with pytest.raises(ValueError, match=r"reset_after must be True .* got False"):
        from_keras_weights(rnnkit.GRU(D, H), v1)  # the layer object
    with pytest.raises(
        ValueError,
        match=r"weights\[2\] \(bias\) must have shape \(2, 12\), got \(12,\) "
        r"\(a bias of shape \(3H,\) is Keras GRU\(reset_after=False\)",
    ):
        from_keras_weights(rnnkit.GRU(D, H), v1.get_weights())  # bare arrays


def test_keras_config_is_checked():
    hard = keras.layers.GRU(H, recurrent_activation="hard_sigmoid")
    hard.build((None, None, D))
    with pytest.raises(ValueError, match=r"recurrent_activation must be 'sigmoid' .* got 'hard_sigmoid'"):
        from_keras_weights(rnnkit.GRU(D, H), hard)
    with pytest.raises(ValueError, match=r"must be a GRU to match rnnkit GRU, got LSTM"):
        from_keras_weights(rnnkit.GRU(D, H), _keras("LSTM", {}))
    with pytest.raises(ValueError, match=r"units must be 8 .* got 4"):
        from_keras_weights(rnnkit.LSTM(D, 8), _keras("LSTM", {}))
    with pytest.raises(ValueError, match=r"activation must be 'relu' .* got 'tanh'"):
        from_keras_weights(rnnkit.RNN(D, H, nonlinearity="relu"), _keras("SimpleRNN", {}))
    with pytest.raises(ValueError, match=r"needs a keras\.layers\.Bidirectional"):
        from_keras_weights(rnnkit.LSTM(D, H, bidirectional=True), _keras("LSTM", {}))
    unbuilt = keras.layers.LSTM(H)
    with pytest.raises(ValueError, match="has no weights yet"):
        from_keras_weights(rnnkit.LSTM(D, H), unbuilt)


def test_bad_weight_lists_are_named_and_change_nothing():
    layer = rnnkit.LSTM(D, H, seed=0)
    before = layer.state_dict()
    good = to_keras_weights(rnnkit.LSTM(D, H, seed=1))
    with pytest.raises(
        ValueError,
        match=r"must have 3 arrays for LSTM\(bias=True\): kernel, recurrent_kernel, "
        r"bias; got 2",
    ):
        from_keras_weights(layer, good[:2])
    with pytest.raises(
        ValueError,
        match=r"weights\[0\] \(kernel\) must have shape \(5, 16\), got \(16, 5\) "
        r"\(it looks transposed",
    ):
        from_keras_weights(layer, [good[0].T, good[1], good[2]])
    with pytest.raises(ValueError, match=r"weights\[2\] \(bias\) must have shape \(16,\), got \(15,\)"):
        from_keras_weights(layer, [good[0], good[1], good[2][:-1]])
    with pytest.raises(TypeError, match="weights must be a list of arrays or a Keras layer, got dict"):
        from_keras_weights(layer, {"kernel": good[0]})
    assert all(np.array_equal(layer.params[k], v) for k, v in before.items())


def test_variants_without_keras_and_layer_index_rules():
    with pytest.raises(ValueError, match=r"Keras has no MGU"):
        to_keras_weights(rnnkit.MGU(D, H))
    with pytest.raises(ValueError, match=r"reset_gate=False"):
        keras_layer(rnnkit.GRU(D, H, reset_gate=False))
    stacked = rnnkit.LSTM(D, H, num_layers=3)
    with pytest.raises(ValueError, match=r"layer_index must be given for a layer with num_layers=3.*0\.\.2"):
        to_keras_weights(stacked)
    with pytest.raises(ValueError, match=r"layer_index must be in \[0, 2\] for num_layers=3, got 3"):
        to_keras_weights(stacked, layer_index=3)
    with pytest.raises(TypeError, match=r"layer_index must be an int or None, got bool"):
        to_keras_weights(stacked, layer_index=True)
    with pytest.raises(ValueError, match=r"layer_index must be None for a cell, got 0"):
        to_keras_weights(rnnkit.LSTMCell(D, H), layer_index=0)
    with pytest.raises(TypeError, match=r"\['reset_after', 'units'\] follow from the rnnkit layer"):
        keras_layer(rnnkit.GRU(D, H), units=8, reset_after=False)
    with pytest.raises(ValueError, match=r"proj_size must be 0: Keras' LSTM has no projection, got 2"):
        to_keras_weights(rnnkit.LSTM(D, H, proj_size=2))
    with pytest.raises(ValueError, match=r"peephole must be False"):
        from_keras_weights(rnnkit.LSTM(D, H, peephole=True), _keras("LSTM", {}))
    with pytest.raises(TypeError, match="layer must be an rnnkit RNN, GRU or LSTM layer or cell, got Dense"):
        to_keras_weights(keras.layers.Dense(2))


def test_zoneout_and_clamped_gates_need_allow_variants():
    zoned = rnnkit.GRU(D, H, zoneout=0.2, seed=0)
    with pytest.raises(ValueError, match=r"zoneout must be 0 .* got \(0\.2, 0\.0\); pass allow_variants=True"):
        to_keras_weights(zoned)
    with pytest.raises(ValueError, match=r"zoneout must be 0"):
        keras_layer(zoned)
    weights = to_keras_weights(zoned, allow_variants=True)
    plain = rnnkit.GRU(D, H, seed=1)
    from_keras_weights(plain, weights)
    assert np.array_equal(plain.params["weight_ih_l0"], zoned.params["weight_ih_l0"])
    clamped = rnnkit.LSTM(D, H).clamp_gates(i=1.0)
    with pytest.raises(ValueError, match=r"no clamped gates .* got \{'i': 1\.0\}"):
        from_keras_weights(clamped, _keras("LSTM", {}))
    from_keras_weights(clamped, _keras("LSTM", {}), allow_variants=True)


def test_keras_layer_passes_options_through():
    k = keras_layer(rnnkit.LSTM(D, H, seed=0), return_state=False, name="enc")
    assert k.name == "enc" and not k.return_state and k.return_sequences
    assert tuple(k(np.zeros((B, T, D), np.float32)).shape) == (B, T, H) and k.dtype == "float32"


def test_no_keras_import_at_module_import():
    code = "import sys, rnnkit.interop.keras; print('keras' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(rnnkit.__file__))),
    ).stdout
    assert out.split() == ["False", "False"]


def test_docs_example_runs():
    text = (REPO_ROOT / "docs" / "interop.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "interop.keras" in b]
    scope = {}
    exec(compile(block, "docs/interop.md", "exec"), scope)  # asserts equal outputs itself
    assert [w.shape for w in (scope["kernel"], scope["recurrent_kernel"], scope["bias"])] == [(8, 48), (16, 48), (48,)]


def test_docstring_examples_run():
    result = doctest.testmod(interop)
    assert result.attempted >= 8 and result.failed == 0
