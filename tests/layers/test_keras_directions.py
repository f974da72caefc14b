"""go_backwards and the Bidirectional merge modes (sum, mul, ave, concat): definitions checked by hand,
float64 finite-difference gradients, refusals. Keras parity is in test_keras_masks.py."""

import numpy as np
import pytest

from rnnkit.layers import recurrent_layer

from helpers import check_layer_gradients, random_state

T, B, D, H = 5, 3, 3, 4
MASK = np.array([[1, 0, 1], [1, 1, 1], [0, 1, 1], [1, 1, 0], [1, 0, 0]], dtype=bool)  # (T, B)
LENGTHS = np.array([5, 2, 4])


def _layer(name="gru", **kw):
    return recurrent_layer(name, D, H, dtype=np.float64, seed=0, **kw)


@pytest.mark.parametrize("mode", ["sum", "mul", "ave", "concat"])
def test_merge_modes_join_the_two_directions_as_keras_does(mode):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(T, B, D))
    cat, h_cat = _layer(bidirectional=True).forward(x)
    f, b = cat[..., :H], cat[..., H:]
    want = {"sum": f + b, "mul": f * b, "ave": (f + b) / 2, "concat": cat}[mode]
    out, h = _layer(bidirectional=True, merge_mode=mode).forward(x)
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(h, h_cat)  # the states are not merged


def test_a_merged_stack_reads_h_out_features():
    layer = _layer(bidirectional=True, num_layers=2, merge_mode="sum")
    assert layer.layer_output_size == H
    assert layer.params["weight_ih_l1"].shape == (3 * H, H)
    assert _layer(bidirectional=True, num_layers=2).params["weight_ih_l1"].shape == (3 * H, 2 * H)


@pytest.mark.parametrize("kind", ["none", "mask", "lengths"])
@pytest.mark.parametrize("mode", ["sum", "mul", "ave", "concat"])
@pytest.mark.parametrize("name", ["rnn", "gru", "lstm"])
def test_merge_mode_gradients(name, mode, kind):
    rng = np.random.default_rng(1)
    layer = _layer(name, bidirectional=True, num_layers=2, merge_mode=mode)
    x = rng.normal(size=(T, B, D))
    kw = {"none": {}, "mask": {"mask": MASK}, "lengths": {"lengths": LENGTHS}}[kind]
    check_layer_gradients(layer, x, random_state(layer, B, rng), **kw)


def test_go_backwards_reads_the_reversed_sequence_and_returns_outputs_reversed():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(T, B, D))
    out, h = _layer(go_backwards=True, num_layers=2).forward(x, mask=MASK)
    ref, h_ref = _layer(num_layers=2).forward(x[::-1].copy(), mask=MASK[::-1].copy())
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(h, h_ref)
    # lengths become the mask t < lengths[b] before the reversal: padding is read first, and kept out
    out_l, h_l = _layer(go_backwards=True).forward(x, lengths=LENGTHS)
    m = np.arange(T)[:, None] < LENGTHS[None, :]
    out_m, h_m = _layer(go_backwards=True).forward(x, mask=m)
    np.testing.assert_array_equal(out_l, out_m)
    np.testing.assert_array_equal(h_l, h_m)
    # a right-padded sequence read backwards ends in the state of its first step read last: that of the
    # reverse direction of a bidirectional layer (which reverses within each length)
    bi = _layer(bidirectional=True)
    bi.params["weight_ih_l0_reverse"][...] = bi.params["weight_ih_l0"]
    for n in ("weight_hh", "bias_ih", "bias_hh"):
        bi.params[f"{n}_l0_reverse"][...] = bi.params[f"{n}_l0"]
    _, h_bi = bi.forward(x, lengths=LENGTHS)
    np.testing.assert_allclose(h_l[0], h_bi[1], rtol=0, atol=1e-14)


@pytest.mark.parametrize("kind", ["none", "mask", "lengths"])
@pytest.mark.parametrize("name", ["rnn", "gru", "lstm", "mgu"])
def test_go_backwards_gradients(name, kind):
    rng = np.random.default_rng(3)
    layer = _layer(name, go_backwards=True, num_layers=2, batch_first=True)
    x = rng.normal(size=(B, T, D))
    kw = {"none": {}, "mask": {"mask": np.ascontiguousarray(MASK.T)}, "lengths": {"lengths": LENGTHS}}[kind]
    check_layer_gradients(layer, x, random_state(layer, B, rng), **kw)


def test_bad_options_are_refused_naming_the_argument():
    with pytest.raises(ValueError, match=r"GRU: go_backwards must be False for a bidirectional layer"):
        _layer(bidirectional=True, go_backwards=True)
    with pytest.raises(ValueError, match=r"GRU: merge_mode must be one of 'concat', 'sum', 'mul', 'ave', got None"):
        _layer(bidirectional=True, merge_mode=None)
    with pytest.raises(TypeError, match=r"GRU: go_backwards must be a bool, got int 1"):
        _layer(go_backwards=1)
