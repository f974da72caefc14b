"""Shape, dtype, naming and error contracts of the sequence layers and cells."""

import doctest
import importlib
import re
import warnings

import numpy as np
import pytest
import torch

import rnnkit

from helpers import VARIANTS, variant_id

LAYERS = ["RNN", "GRU", "LSTM", "MGU"]


# -- names and shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("num_layers,bidirectional,bias", [(1, False, True), (3, True, True), (2, False, False)])
def test_state_dict_names_and_shapes_equal_torch(name, num_layers, bidirectional, bias):
    ours = getattr(rnnkit, name)(7, 5, num_layers=num_layers, bidirectional=bidirectional, bias=bias)
    theirs = getattr(torch.nn, name)(7, 5, num_layers=num_layers, bidirectional=bidirectional, bias=bias)
    ours_shapes = [(k, v.shape) for k, v in ours.state_dict().items()]
    theirs_shapes = [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert ours_shapes == theirs_shapes  # same names, same shapes, same order
    assert list(ours.grads) == list(ours.params)


@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM"])
def test_cell_state_dict_names_and_shapes_equal_torch(name):
    ours = getattr(rnnkit, name + "Cell")(7, 5)
    theirs = getattr(torch.nn, name + "Cell")(7, 5)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict().items()
    ]


@pytest.mark.parametrize("kw,G", [({}, 3), ({"reset_after": False}, 3), ({"reset_gate": False}, 2)])
def test_gru_variants_follow_the_naming_pattern(kw, G):
    sd = rnnkit.GRU(4, 6, **kw).state_dict()
    assert {k: v.shape for k, v in sd.items()} == {
        "weight_ih_l0": (G * 6, 4),
        "weight_hh_l0": (G * 6, 6),
        "bias_ih_l0": (G * 6,),
        "bias_hh_l0": (G * 6,),
    }
    assert rnnkit.MGU(4, 6).state_dict()["weight_hh_l0"].shape == (12, 6)


def test_documented_gate_counts_match_parameters():
    """The module docstring states G for each family; the parameters must agree with it."""
    doc = " ".join(rnnkit.layers.recurrent.__doc__.split())
    for cls, G in [("RNN", 1), ("GRU", 3), ("LSTM", 4), ("MGU", 2)]:
        assert f"{G} ({cls}" in doc
        assert getattr(rnnkit, cls)(3, 5).params["weight_ih_l0"].shape == (G * 5, 3)


def test_initialisation_is_pytorch_default_and_seeded():
    a = rnnkit.LSTM(10, 64, seed=3)
    b = rnnkit.LSTM(10, 64, seed=3)
    c = rnnkit.LSTM(10, 64, seed=4)
    for k in a.params:
        assert np.array_equal(a.params[k], b.params[k])
        assert not np.array_equal(a.params[k], c.params[k])
        w = a.params[k]
        assert w.dtype == np.float32
        assert np.abs(w).max() <= 1 / np.sqrt(64)
        assert np.abs(w).max() > 0.9 / np.sqrt(64)  # fills the range, not a narrower one
        assert abs(float(w.mean())) < 0.02


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T,B", [(1, 1), (1, 5), (7, 1), (3, 4)])
def test_shapes_and_dtypes(variant, dtype, T, B):
    name, kw, _ = variant
    layer = getattr(rnnkit, name)(3, 4, num_layers=2, bidirectional=True, dtype=dtype, **kw)
    x = np.ones((T, B, 3))  # float64 in: converted to the layer's dtype
    out, hn = layer.forward(x)
    assert out.shape == (T, B, 8) and out.dtype == dtype
    states = hn if name == "LSTM" else (hn,)
    for s in states:
        assert s.shape == (4, B, 4) and s.dtype == dtype
    dx, dhx = layer.backward(np.ones_like(out))
    assert dx.shape == (T, B, 3) and dx.dtype == dtype
    for s in dhx if name == "LSTM" else (dhx,):
        assert s.shape == (4, B, 4) and s.dtype == dtype
    assert all(g.dtype == dtype for g in layer.grads.values())


def test_outputs_are_zero_past_each_length_and_state_is_taken_at_the_end():
    rng = np.random.default_rng(0)
    layer = rnnkit.GRU(3, 4, dtype=np.float64, seed=0)
    x = rng.normal(size=(6, 2, 3))
    out, hn = layer.forward(x, lengths=[6, 3])
    assert np.all(out[3:, 1] == 0)
    alone, hn_alone = layer.forward(x[:3, 1:2])
    np.testing.assert_allclose(out[:3, 1:2], alone, atol=1e-14)
    np.testing.assert_allclose(hn[:, 1:2], hn_alone, atol=1e-14)


def test_gradients_accumulate_until_zero_grad():
    layer = rnnkit.RNN(2, 3, dtype=np.float64, seed=0)
    x = np.ones((4, 2, 2))
    out, _ = layer.forward(x)
    layer.backward(np.ones_like(out))
    once = {k: v.copy() for k, v in layer.grads.items()}
    layer.backward(np.ones_like(out))
    for k in once:
        np.testing.assert_allclose(layer.grads[k], 2 * once[k])
    layer.zero_grad()
    assert all(not v.any() for v in layer.grads.values())


def test_no_grad_keeps_no_cache_and_gives_the_same_output():
    layer = rnnkit.LSTM(3, 4, seed=0)
    x = np.random.default_rng(0).normal(size=(5, 2, 3))
    with rnnkit.no_grad():
        out, _ = layer.forward(x)
        assert not rnnkit.is_grad_enabled()
    assert rnnkit.is_grad_enabled()
    with pytest.raises(RuntimeError, match=r"LSTM.backward: the last forward ran under no_grad"):
        layer.backward(np.ones_like(out))
    out2, _ = layer.forward(x)
    np.testing.assert_array_equal(out, out2)


def test_load_state_dict_copies_in_place_and_state_dict_copies_out():
    layer = rnnkit.GRU(3, 4, seed=0)
    live = layer.params["weight_ih_l0"]
    sd = layer.state_dict()
    sd["weight_ih_l0"][:] = 0.5
    assert not np.any(live == 0.5)  # state_dict returned a copy
    layer.load_state_dict(sd)
    assert layer.params["weight_ih_l0"] is live and np.all(live == 0.5)


# -- numerical extremes ------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_preactivations_stay_finite_without_warnings(variant, dtype):
    name, kw, _ = variant
    layer = getattr(rnnkit, name)(2, 3, dtype=dtype, seed=0, **kw)
    for p in layer.params.values():
        p[...] = np.where(np.arange(p.size).reshape(p.shape) % 2, 250.0, -250.0)
    x = np.array([[[1.0, 1.0]], [[-1.0, 1.0]], [[1.0, -1.0]]])  # pre-activations of about +/-500
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, hn = layer.forward(x)
        dx, dh = layer.backward(np.ones_like(out))
    assert np.isfinite(out).all() and np.isfinite(dx).all()
    assert all(np.isfinite(g).all() for g in layer.grads.values())


# -- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LAYERS)
def test_wrong_rank_and_feature_size(name):
    layer = getattr(rnnkit, name)(8, 4)
    with pytest.raises(ValueError, match=re.escape(f"{name}.forward: x must have shape (T, B, 8), got (5, 4, 7)")):
        layer.forward(np.zeros((5, 4, 7)))
    with pytest.raises(ValueError, match=re.escape("x must have shape (T, B, 8), got (2, 5, 4, 8)")):
        layer.forward(np.zeros((2, 5, 4, 8)))
    with pytest.raises(ValueError, match=re.escape("x must have shape (T, 8) when unbatched, got (5, 7)")):
        layer.forward(np.zeros((5, 7)))
    bf = getattr(rnnkit, name)(8, 4, batch_first=True)
    with pytest.raises(ValueError, match=re.escape("x must have shape (B, T, 8), got (5, 4, 7)")):
        bf.forward(np.zeros((5, 4, 7)))
    with pytest.raises(ValueError, match=re.escape("x must have T >= 1, got shape (0, 4, 8)")):
        layer.forward(np.zeros((0, 4, 8)))
    with pytest.raises(TypeError, match="x must be a numpy array, got str"):
        layer.forward("hello")


def test_mismatched_batch_in_hx():
    with pytest.raises(ValueError, match=re.escape("GRU.forward: hx must have shape (2, 3, 4), got (2, 5, 4)")):
        rnnkit.GRU(8, 4, num_layers=2).forward(np.zeros((5, 3, 8)), np.zeros((2, 5, 4)))
    with pytest.raises(ValueError, match=re.escape("LSTM.forward: hx[1] must have shape (1, 3, 4), got (1, 2, 4)")):
        rnnkit.LSTM(8, 4).forward(np.zeros((5, 3, 8)), (np.zeros((1, 3, 4)), np.zeros((1, 2, 4))))
    with pytest.raises(TypeError, match=r"LSTM.forward: hx must be a tuple \(h0, c0\), got ndarray"):
        rnnkit.LSTM(8, 4).forward(np.zeros((5, 3, 8)), np.zeros((1, 3, 4)))


def test_non_finite_values():
    x = np.zeros((5, 3, 8))
    x[2, 1, 4] = np.nan
    with pytest.raises(ValueError, match=re.escape("RNN.forward: x must be finite, got nan at index (2, 1, 4)")):
        rnnkit.RNN(8, 4).forward(x)
    h = np.zeros((1, 3, 4))
    h[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="MGU.forward: hx must be finite, got inf"):
        rnnkit.MGU(8, 4).forward(np.zeros((5, 3, 8)), h)
    layer = rnnkit.RNN(8, 4)
    out, _ = layer.forward(np.zeros((5, 3, 8)))
    bad = np.ones_like(out)
    bad[0, 0, 0] = -np.inf
    with pytest.raises(ValueError, match="RNN.backward: dout must be finite"):
        layer.backward(bad)
    sd = layer.state_dict()
    sd["weight_hh_l0"][0, 0] = np.nan
    with pytest.raises(ValueError, match="RNN.load_state_dict: weight_hh_l0 must be finite"):
        layer.load_state_dict(sd)


@pytest.mark.parametrize("name", LAYERS)
def test_backward_before_forward_and_wrong_dout(name):
    layer = getattr(rnnkit, name)(3, 4)
    with pytest.raises(RuntimeError, match=f"{name}.backward: backward called before forward"):
        layer.backward(np.zeros((5, 2, 4)))
    out, _ = layer.forward(np.zeros((5, 2, 3)))
    with pytest.raises(
        ValueError, match=re.escape(f"{name}.backward: dout must have the shape of out (5, 2, 4), got (5, 2, 3)")
    ):
        layer.backward(np.zeros((5, 2, 3)))


def test_constructor_arguments():
    with pytest.raises(ValueError, match="RNN: nonlinearity must be one of 'tanh', 'relu', .*, got 'softplus'"):
        rnnkit.RNN(3, 4, nonlinearity="softplus")
    with pytest.raises(ValueError, match="RNNCell: nonlinearity must be one of 'tanh', 'relu', .*, got 'gelu'"):
        rnnkit.RNNCell(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="LSTM: hidden_size must be >= 1, got 0"):
        rnnkit.LSTM(3, 0)
    with pytest.raises(TypeError, match="GRU: input_size must be an int, got float 3.5"):
        rnnkit.GRU(3.5, 4)
    with pytest.raises(ValueError, match=r"GRU: dropout must be in \[0, 1\), got 1.5"):
        rnnkit.GRU(3, 4, dropout=1.5)
    with pytest.raises(TypeError, match="MGU: dtype must be float32 or float64, got int32"):
        rnnkit.MGU(3, 4, dtype=np.int32)
    with pytest.raises(TypeError, match="GRU: reset_after must be a bool, got str 'yes'"):
        rnnkit.GRU(3, 4, reset_after="yes")


def test_bad_lengths():
    layer = rnnkit.LSTM(3, 4)
    x = np.zeros((5, 2, 3))
    with pytest.raises(ValueError, match=r"LSTM.forward: lengths must be in \[1, 5\], got 6 at index 1"):
        layer.forward(x, lengths=[3, 6])
    with pytest.raises(ValueError, match=re.escape("lengths must have shape (2,), got (3,)")):
        layer.forward(x, lengths=[3, 3, 3])
    with pytest.raises(TypeError, match="lengths must be integers, got dtype float64"):
        layer.forward(x, lengths=[3.0, 2.0])


def test_load_state_dict_errors_leave_the_layer_unchanged():
    layer = rnnkit.GRU(3, 4, seed=0)
    before = layer.state_dict()
    sd = layer.state_dict()
    sd["weight_ih_l0"] = np.ones_like(sd["weight_ih_l0"])
    sd["weight_hh_l0"] = np.zeros((5, 5))
    with pytest.raises(
        ValueError, match=re.escape("GRU.load_state_dict: weight_hh_l0 must have shape (12, 4), got (5, 5)")
    ):
        layer.load_state_dict(sd)
    for k, v in before.items():  # nothing half-loaded
        np.testing.assert_array_equal(layer.params[k], v)
    with pytest.raises(KeyError, match=r"missing keys \['bias_hh_l0'\], unexpected keys \['bias_hh_l9'\]"):
        sd = layer.state_dict()
        sd["bias_hh_l9"] = sd.pop("bias_hh_l0")
        layer.load_state_dict(sd)


def test_cell_errors():
    cell = rnnkit.LSTMCell(3, 4)
    with pytest.raises(RuntimeError, match="LSTMCell.backward: backward called before forward"):
        cell.backward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=re.escape("LSTMCell.forward: x must have shape (B, 3) or (3,), got (2, 5)")):
        cell.forward(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=re.escape("LSTMCell.forward: hx[0] must have shape (2, 4), got (3, 4)")):
        cell.forward(np.zeros((2, 3)), (np.zeros((3, 4)), np.zeros((2, 4))))
    gcell = rnnkit.GRUCell(3, 4)
    gcell.forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=re.escape("GRUCell.backward: dh_next must have shape (2, 4), got (2, 5)")):
        gcell.backward(np.zeros((2, 5)))


# -- every example in the docstrings runs as written -------------------------------------------------

DOC_MODULES = [
    "rnnkit.cells.rnn",
    "rnnkit.cells.lstm",
    "rnnkit.cells.mgu",
    "rnnkit.layers.recurrent",
    "rnnkit.layers.cell",
    "rnnkit.gradcheck",
]


@pytest.mark.parametrize("modname", DOC_MODULES)
def test_docstring_examples_run(modname):
    result = doctest.testmod(importlib.import_module(modname), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{modname} has no example"
    assert result.failed == 0
