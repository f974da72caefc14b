"""RecurrentLayer.last_dropout_masks(): the masks the last forward applied, read without private state.

Each mask is checked against what it must do to the computation: re-running the
forward with the mask applied by hand (dropout on outputs, DropConnect on W_hh)
or its defining property (zoneout keeps h_{t-1} exactly where the mask is 0).
"""

from __future__ import annotations

import numpy as np
import pytest

import rnnkit
from rnnkit.grad_mode import no_grad

T, B, D, H = 6, 3, 4, 5


def _x(seed=0):
    return np.random.default_rng(seed).normal(size=(T, B, D))


def test_output_dropout_mask_is_the_one_applied():
    layer = rnnkit.GRU(D, H, num_layers=2, dropout=0.4, seed=1, dtype=np.float64)
    x = _x()
    out, _ = layer.forward(x)
    m = layer.last_dropout_masks()
    assert m.output[1] is None and m.input is None and m.weight_hh == ((None,), (None,))
    mask = m.output[0]
    assert mask.shape == (T, B, H)
    assert set(np.unique(mask)) <= {0.0, 1.0 / 0.6} and (mask == 0).any()
    # layer 1 fed with layer 0's output times this mask gives the same output
    first = rnnkit.GRU(D, H, seed=0, dtype=np.float64)
    second = rnnkit.GRU(H, H, seed=0, dtype=np.float64)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        first.params[f"{name}_l0"][...] = layer.params[f"{name}_l0"]
        second.params[f"{name}_l0"][...] = layer.params[f"{name}_l1"]
    y0, _ = first.forward(x)
    y1, _ = second.forward(y0 * mask)
    np.testing.assert_allclose(y1, out, rtol=0, atol=1e-13)


def test_weight_drop_mask_is_the_one_applied():
    layer = rnnkit.RNN(D, H, weight_drop=0.5, seed=2, dtype=np.float64)
    x = _x(1)
    out, _ = layer.forward(x)
    w = layer.last_dropout_masks().weight_hh[0][0]
    assert w.shape == layer.params["weight_hh_l0"].shape and (w == 0).any()
    plain = rnnkit.RNN(D, H, seed=0, dtype=np.float64)
    for name in ("weight_ih_l0", "bias_ih_l0", "bias_hh_l0"):
        plain.params[name][...] = layer.params[name]
    plain.params["weight_hh_l0"][...] = layer.params["weight_hh_l0"] * w
    np.testing.assert_allclose(plain.forward(x)[0], out, rtol=0, atol=1e-13)


def test_zoneout_mask_marks_the_units_that_kept_their_value():
    layer = rnnkit.GRU(D, H, zoneout=0.5, seed=3, dtype=np.float64)
    out, _ = layer.forward(_x(2))
    z = layer.last_dropout_masks().zoneout[0][0]
    assert z.shape == (T, B, H) and set(np.unique(z)) == {0.0, 1.0}
    prev = np.concatenate([np.zeros((1, B, H)), out[:-1]])
    np.testing.assert_array_equal(out[z == 0], prev[z == 0])  # kept h_{t-1} exactly
    assert np.all(out[z == 1] != prev[z == 1])


def test_variational_recurrent_mask_and_copies():
    layer = rnnkit.LSTM(D, H, recurrent_dropout=0.3, variational=True, bidirectional=True, seed=4)
    layer.forward(_x(3).astype(np.float32))
    m = layer.last_dropout_masks()
    assert len(m.recurrent) == 1 and len(m.recurrent[0]) == 2
    assert all(r.shape == (1, B, H) for r in m.recurrent[0])
    assert m.zoneout == ((None, None),) and m.zoneout_c == ((None, None),)
    m.recurrent[0][0][...] = 7.0  # a copy: the layer's own masks are untouched
    assert not (layer.last_dropout_masks().recurrent[0][0] == 7.0).any()


def test_eval_mode_draws_nothing():
    layer = rnnkit.GRU(D, H, num_layers=2, dropout=0.4, recurrent_dropout=0.2, weight_drop=0.3, seed=5)
    layer.eval()
    layer.forward(_x().astype(np.float32))
    m = layer.last_dropout_masks()
    assert m.output == (None, None) and m.recurrent == ((None,), (None,)) and m.weight_hh == ((None,), (None,))


def test_no_forward_or_no_grad_is_an_error():
    layer = rnnkit.GRU(D, H, dropout=0.0, seed=6)
    with pytest.raises(RuntimeError, match=r"GRU\.last_dropout_masks: no cache"):
        layer.last_dropout_masks()
    with no_grad():
        layer.forward(_x().astype(np.float32))
    with pytest.raises(RuntimeError, match=r"GRU\.last_dropout_masks: no cache"):
        layer.last_dropout_masks()
