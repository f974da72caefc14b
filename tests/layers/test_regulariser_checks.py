"""Dropout's input checks, and the regularisers validated on assignment as in the constructors."""

from __future__ import annotations

import re

import numpy as np
import pytest

import rnnkit
from rnnkit.layers import Dropout
from rnnkit.layers.layernorm_rnn import LayerNormGRU, LayerNormLSTM

LAYERS = [rnnkit.RNN, rnnkit.GRU, rnnkit.LSTM, rnnkit.MGU, LayerNormLSTM, LayerNormGRU]
PROBABILITIES = ["dropout", "input_dropout", "recurrent_dropout", "weight_drop", "zoneout"]


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_, np.complex128, np.float16])
def test_dropout_refuses_non_float_input(dtype):
    drop = Dropout(0.5, seed=0)
    with pytest.raises(
        TypeError, match=re.escape(f"Dropout.forward: x must be float32 or float64, got dtype {np.dtype(dtype)}")
    ):
        drop.forward(np.ones((3, 4), dtype))


@pytest.mark.parametrize("training", [True, False])
def test_dropout_refuses_non_finite_input(training):
    drop = Dropout(0.5, seed=0).train(training)
    x = np.ones((3, 4), np.float32)
    x[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"Dropout.forward: x must be finite, got nan at index \(1, 2\)"):
        drop.forward(x)
    with pytest.raises(TypeError, match="Dropout.forward: x must be a numpy array, got str"):
        drop.forward("abc")


def test_dropout_keeps_the_float_dtype_and_checks_dy():
    drop = Dropout(0.5, seed=0)
    for dtype in (np.float32, np.float64):
        y = drop.forward(np.ones((50, 4), dtype))
        assert y.dtype == dtype
        assert set(np.unique(y)) <= {0.0, 2.0}
        assert drop.backward(np.ones_like(y)).dtype == dtype
    with pytest.raises(ValueError, match=re.escape("Dropout.backward: dy must have shape (50, 4), got (4, 50)")):
        drop.backward(np.ones((4, 50)))
    with pytest.raises(TypeError, match="Dropout.backward: dy must be float32 or float64, got dtype int64"):
        drop.backward(np.ones((50, 4), np.int64))


@pytest.mark.parametrize("bad", [1.0, 1.5, -0.1])
def test_assigning_dropout_p_is_validated(bad):
    drop = Dropout(0.5)
    bound = "[0, 1)"
    with pytest.raises(ValueError, match=re.escape(f"Dropout: p must be in {bound}, got {bad}")):
        drop.p = bad
    assert drop.p == 0.5  # unchanged
    with pytest.raises(TypeError, match="Dropout: p must be a float in"):
        drop.p = "0.3"
    drop.p = 0.25
    assert drop.p == 0.25


@pytest.mark.parametrize("attr", PROBABILITIES)
@pytest.mark.parametrize("cls", LAYERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("bad", [1.0, 1.5, -0.5])
def test_assigning_a_regulariser_is_validated_like_the_constructor(cls, attr, bad):
    layer = cls(3, 4, num_layers=2)
    before = getattr(layer, attr)
    with pytest.raises(ValueError) as in_constructor:
        cls(3, 4, num_layers=2, **{attr: bad})
    with pytest.raises(ValueError) as on_assignment:
        setattr(layer, attr, bad)
    assert str(on_assignment.value) == str(in_constructor.value)
    assert f"{cls.__name__}: {attr} must be in [0, 1), got {bad}" in str(on_assignment.value)
    assert getattr(layer, attr) == before
    with pytest.raises(TypeError, match=f"{cls.__name__}: {attr} must be a float"):
        setattr(layer, attr, None)


def test_a_valid_assignment_takes_effect():
    layer = rnnkit.LSTM(3, 4, num_layers=2, seed=0)
    x = np.ones((6, 2, 3), np.float32)
    out_plain, _ = layer.forward(x)
    layer.dropout = 0.5
    out_drop, _ = layer.forward(x)
    assert layer.dropout == 0.5 and np.isfinite(out_drop).all() and not np.allclose(out_plain, out_drop)
    layer.zoneout = (0.1, 0.2)
    assert layer.zoneout == (0.1, 0.2)
    layer.zoneout = 0.3
    assert layer.zoneout == (0.3, 0.3)
    gru = rnnkit.GRU(3, 4)
    gru.zoneout = 0.3
    assert gru.zoneout == (0.3, 0.0)
    with pytest.raises(TypeError, match=re.escape("GRU: zoneout must be a float in [0, 1), got tuple (0.1, 0.2)")):
        gru.zoneout = (0.1, 0.2)
    with pytest.raises(ValueError, match=re.escape("LSTM: zoneout must be a float or a pair (z_h, z_c), got (0.1,)")):
        layer.zoneout = (0.1,)
