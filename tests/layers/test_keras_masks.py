"""Keras's step masks on every recurrent layer: a masked step keeps the states and emits zeros (or the
last output); left padding and holes; both directions; both loop backends; parity with Keras 3.

Expected values come from Keras itself (torch backend, float32; compared with ``assert_close``), from
finite differences (float64), or from running the layer on the kept steps alone.
"""

import os

import numpy as np
import pytest

import rnnkit
from rnnkit import _kernels
from rnnkit.layers import recurrent_layer

from helpers import assert_close, check_layer_gradients, family_variants, random_state

needs_c = pytest.mark.skipif(
    not _kernels.available(), reason=f"compiled loops unavailable: {_kernels.why_unavailable()}"
)

T, B, D, H = 6, 5, 3, 4
# rows: all kept, left padding, holes, right padding, nothing kept
MASK_BT = np.array(
    [
        [1, 1, 1, 1, 1, 1],
        [0, 0, 1, 1, 1, 1],
        [1, 0, 1, 0, 0, 1],
        [1, 1, 1, 0, 0, 0],
        [0, 0, 0, 0, 0, 0],
    ],
    dtype=bool,
)
MASK = np.ascontiguousarray(MASK_BT.T)  # (T, B)


def _layer(name, dtype=np.float64, seed=0, **kw):
    return recurrent_layer(name, D, H, dtype=dtype, seed=seed, **kw)


def _split(state):
    return state if isinstance(state, tuple) else (state,)


# -- semantics, checked without any other library ----------------------------------------------------


@pytest.mark.parametrize("name", ["rnn", "gru", "lstm", "mgu", "ln_lstm", "ln_gru"])
def test_masked_steps_keep_the_state_and_emit_zeros(name):
    """Each row equals the layer run on its kept steps alone; masked steps emit zeros."""
    rng = np.random.default_rng(1)
    layer = _layer(name)
    x = rng.normal(size=(T, B, D))
    hx = random_state(layer, B, rng)
    out, hn = layer.forward(x, hx, mask=MASK)
    for b in range(B):
        keep = np.flatnonzero(MASK[:, b])
        assert np.all(out[~MASK[:, b], b] == 0.0)
        h0b = tuple(s[:, b : b + 1] for s in _split(hx))
        h0b = h0b if len(h0b) == 2 else h0b[0]
        if keep.size == 0:  # nothing kept: the initial state passes through
            for s, s0 in zip(_split(hn), _split(hx)):
                np.testing.assert_array_equal(s[:, b], s0[:, b])
            continue
        alone, hn_alone = layer.forward(x[keep, b : b + 1], h0b)
        np.testing.assert_allclose(out[keep, b], alone[:, 0], rtol=0, atol=1e-13)
        for s, s_alone in zip(_split(hn), _split(hn_alone)):
            np.testing.assert_allclose(s[:, b], s_alone[:, 0], rtol=0, atol=1e-13)


def test_previous_output_mode_repeats_the_last_output_and_zeros_before_the_first_kept_step():
    rng = np.random.default_rng(2)
    layer = _layer("gru", masked_output="previous")
    x = rng.normal(size=(T, B, D))
    hx = rng.normal(size=(1, B, H))
    out, _ = layer.forward(x, hx, mask=MASK)
    ref, _ = _layer("gru").forward(x, hx, mask=MASK)  # zeros at masked steps
    for b in range(B):
        last = np.zeros(H)  # Keras starts from zeros, not from h0
        for t in range(T):
            if MASK[t, b]:
                last = ref[t, b]
            np.testing.assert_array_equal(out[t, b], last)


def test_an_all_true_mask_is_no_mask_and_right_padding_is_lengths():
    rng = np.random.default_rng(3)
    layer = _layer("lstm", bidirectional=True, num_layers=2)
    x = rng.normal(size=(T, B, D))
    out, (h, c) = layer.forward(x, mask=np.ones((T, B), bool))
    ref, (hr, cr) = layer.forward(x)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-14)
    np.testing.assert_allclose(h, hr, rtol=0, atol=1e-14)
    lengths = np.array([6, 2, 4, 3, 1])
    m = np.arange(T)[:, None] < lengths[None, :]
    out, (h, c) = layer.forward(x, mask=m)
    ref, (hr, cr) = layer.forward(x, lengths=lengths)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-13)
    np.testing.assert_allclose(c, cr, rtol=0, atol=1e-13)


def test_batch_first_and_unbatched_masks():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(T, B, D))
    out, h = _layer("gru").forward(x, mask=MASK)
    out_bf, h_bf = _layer("gru", batch_first=True).forward(x.transpose(1, 0, 2), mask=MASK_BT)
    np.testing.assert_array_equal(out_bf, out.transpose(1, 0, 2))
    np.testing.assert_array_equal(h_bf, h)
    out_u, h_u = _layer("gru").forward(x[:, 2], mask=MASK[:, 2])
    np.testing.assert_allclose(out_u, out[:, 2], rtol=0, atol=1e-14)


def test_bad_masks_are_refused_naming_the_argument():
    layer = _layer("rnn")
    x = np.zeros((T, B, D))
    with pytest.raises(TypeError, match=r"RNN.forward: mask must be a boolean array .* got dtype int64"):
        layer.forward(x, mask=MASK.astype(np.int64))
    with pytest.raises(ValueError, match=r"RNN.forward: mask must have shape \(6, 5\), got \(5, 6\)"):
        layer.forward(x, mask=MASK_BT)
    with pytest.raises(ValueError, match=r"RNN.forward: mask must be None when lengths is given"):
        layer.forward(x, lengths=np.full(B, T), mask=MASK)
    with pytest.raises(ValueError, match=r"RNN: masked_output must be one of 'zeros', 'previous', got 'last'"):
        _layer("rnn", masked_output="last")


# -- gradients -------------------------------------------------------------------------------------------


CASES = [(n, kw, "zeros") for n, kw in family_variants()] + [(n, {}, "previous") for n in ("rnn", "gru", "lstm")]


@pytest.mark.parametrize(
    "name,kw,masked_output",
    CASES,
    ids=[n + "".join(f"-{k}={v}" for k, v in kw.items()) + f"-{m}" for n, kw, m in CASES],
)
def test_masked_gradients(name, kw, masked_output):
    """Every family, two layers, both directions, a mask with left padding and holes: float64 finite
    differences of every parameter, the input and the initial states."""
    rng = np.random.default_rng(5)
    layer = _layer(name, num_layers=2, bidirectional=True, masked_output=masked_output, **kw)
    x = rng.normal(size=(T, B, D))
    check_layer_gradients(layer, x, random_state(layer, B, rng), mask=MASK)


@pytest.mark.parametrize("name", ["rnn", "gru", "lstm"])
def test_masked_gradients_with_zoneout_and_recurrent_dropout(name):
    rng = np.random.default_rng(6)
    layer = _layer(name, zoneout=0.3, recurrent_dropout=0.3, variational=True)
    x = rng.normal(size=(T, B, D))
    hx = random_state(layer, B, rng)
    state = layer.rng.bit_generator.state  # the same dropout and zoneout masks at every forward
    orig = layer.forward

    def fixed(*a, **k):
        layer.rng.bit_generator.state = state
        return orig(*a, **k)

    layer.forward = fixed
    check_layer_gradients(layer, x, hx, mask=MASK)


# -- the compiled loops against the NumPy reference ---------------------------------------------------------


@needs_c
@pytest.mark.parametrize("masked_output", ["zeros", "previous"])
@pytest.mark.parametrize("name", ["rnn", "gru", "lstm"])
def test_both_backends_agree_on_masks(name, masked_output):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(T, B, D))
    res = {}
    for backend in ("numpy", "c"):
        layer = _layer(name, num_layers=2, bidirectional=True, masked_output=masked_output)
        hx = random_state(layer, B, np.random.default_rng(8))
        with _kernels.use(backend):
            out, hn = layer.forward(x, hx, mask=MASK)
            P = np.random.default_rng(9).normal(size=out.shape)
            dx, dhx = layer.backward(P, None)
        res[backend] = (out, hn, dx, dhx, dict(layer.grads))
    a, b = res["numpy"], res["c"]
    for what, u, v in zip(("out", "h_n", "dx", "dhx"), a[:4], b[:4]):
        for uu, vv in zip(_split(u), _split(v)):
            assert_close(what, vv, uu, 1e-12)
    for k in a[4]:
        assert_close(k, b[4][k], a[4][k], 1e-12)


# -- Keras ---------------------------------------------------------------------------------------------------

KERAS = [("lstm", {}), ("gru", {}), ("rnn", {})]  # LSTM, GRU (reset_after=True), SimpleRNN


def _keras():
    os.environ["KERAS_BACKEND"] = "torch"
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip(f"needs Keras on the torch backend, got {keras.backend.backend()}")
    return keras


def keras_run(layer, x_bt, mask_bt, hx, dout_bt):
    """Keras's outputs, states and input gradient for the rnnkit layer's weights (torch autograd)."""
    import torch

    from rnnkit.interop.keras import keras_layer

    k = keras_layer(layer)
    xt = torch.tensor(x_bt, requires_grad=True)
    states = [torch.tensor(s[i]) for i in range(layer.num_directions) for s in _split(hx)]
    res = k(xt, mask=torch.tensor(mask_bt), initial_state=states)
    (res[0] * torch.tensor(dout_bt)).sum().backward()
    return [r.detach().numpy() for r in res], xt.grad.numpy()


def _ours(layer, x_bt, mask_bt, hx, dout_bt):
    out, hn = layer.forward(x_bt, hx, mask=mask_bt)
    dx, _ = layer.backward(dout_bt)
    return out, _split(hn), dx


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")
@pytest.mark.parametrize("masked_output", ["zeros", "previous"])
@pytest.mark.parametrize("name,kw", KERAS, ids=[n for n, _ in KERAS])
def test_keras_parity_with_a_mask(name, kw, masked_output):
    _keras()
    rng = np.random.default_rng(10)
    layer = recurrent_layer(name, D, H, batch_first=True, masked_output=masked_output, seed=3, **kw)
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    hx = random_state(layer, B, rng)
    dout = rng.normal(size=(B, T, H)).astype(np.float32)
    (k_out, *k_states), k_dx = keras_run(layer, x, MASK_BT, hx, dout)
    out, states, dx = _ours(layer, x, MASK_BT, hx, dout)
    assert_close("out", out, k_out, 1e-5, peer="Keras")
    for i, s in enumerate(states):
        assert_close(f"state[{i}]", s[0], k_states[i], 1e-5, peer="Keras")
    assert_close("dx", dx, k_dx, 1e-5, peer="Keras")


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("name,kw", KERAS, ids=[n for n, _ in KERAS])
def test_keras_parity_bidirectional_with_a_mask(name, kw, merge_mode):
    """Keras's Bidirectional reverses the sequence and the mask together for its backward layer."""
    _keras()
    rng = np.random.default_rng(11)
    layer = recurrent_layer(name, D, H, batch_first=True, bidirectional=True, merge_mode=merge_mode, seed=4, **kw)
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    hx = random_state(layer, B, rng)
    width = 2 * H if merge_mode == "concat" else H
    dout = rng.normal(size=(B, T, width)).astype(np.float32)
    (k_out, *k_states), k_dx = keras_run(layer, x, MASK_BT, hx, dout)
    out, states, dx = _ours(layer, x, MASK_BT, hx, dout)
    assert_close("out", out, k_out, 1e-5, peer="Keras")
    n = len(states)  # Keras returns the forward layer's states, then the backward layer's
    for i, s in enumerate(states):
        for d in range(2):
            assert_close(f"state[{i}] direction {d}", s[d], k_states[d * n + i], 1e-5, peer="Keras")
    assert_close("dx", dx, k_dx, 1e-5, peer="Keras")


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")
@pytest.mark.parametrize("use_mask", [True, False], ids=["mask", "no-mask"])
@pytest.mark.parametrize("name,kw", KERAS, ids=[n for n, _ in KERAS])
def test_keras_parity_go_backwards(name, kw, use_mask):
    _keras()
    rng = np.random.default_rng(12)
    layer = recurrent_layer(name, D, H, batch_first=True, go_backwards=True, seed=5, **kw)
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    hx = random_state(layer, B, rng)
    dout = rng.normal(size=(B, T, H)).astype(np.float32)
    mask = MASK_BT if use_mask else np.ones((B, T), bool)
    (k_out, *k_states), k_dx = keras_run(layer, x, mask, hx, dout)
    out, states, dx = _ours(layer, x, mask if use_mask else None, hx, dout)
    assert_close("out", out, k_out, 1e-5, peer="Keras")
    for i, s in enumerate(states):
        assert_close(f"state[{i}]", s[0], k_states[i], 1e-5, peer="Keras")
    assert_close("dx", dx, k_dx, 1e-5, peer="Keras")


def test_rnnkit_namespace_has_the_layers():
    assert rnnkit.LSTM(2, 3, masked_output="previous").masked_output == "previous"
