"""Keras's ``activation`` / ``recurrent_activation`` on LSTM and GRU, and Keras's SimpleRNN activations.

Oracles: values of hard_sigmoid by hand and from Keras / PyTorch, finite differences (float64) of each
activation and of whole layers, and Keras layers given the same weights, mask and activations.
(The generic family checks also run every activation choice, since they are registry options.)
"""

import os

import numpy as np
import pytest

from rnnkit import _kernels
from rnnkit.functional import ACTIVATIONS, activate, activation_grad, hard_sigmoid
from rnnkit.layers import recurrent_layer

from helpers import assert_close, check_layer_gradients, random_state

T, B, D, H = 5, 3, 4, 3
MASK_BT = np.array([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1], [1, 0, 1, 0, 1]], dtype=bool)


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")
def test_hard_sigmoid_is_keras_3s_relu6_form():
    x = np.array([-4.0, -3.0, -1.5, 0.0, 1.5, 3.0, 4.0])
    np.testing.assert_array_equal(hard_sigmoid(x), [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0])
    torch = pytest.importorskip("torch")
    xs = np.linspace(-5, 5, 101)
    np.testing.assert_allclose(hard_sigmoid(xs), torch.nn.functional.hardsigmoid(torch.tensor(xs)).numpy(), atol=1e-15)
    os.environ["KERAS_BACKEND"] = "torch"
    keras = pytest.importorskip("keras")
    got = keras.ops.convert_to_numpy(keras.activations.hard_sigmoid(xs.astype(np.float32)))
    np.testing.assert_allclose(hard_sigmoid(xs.astype(np.float32)), got, atol=1e-7)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_derivatives_from_the_output(name):
    rng = np.random.default_rng(0)
    x = rng.uniform(-5, 5, size=200)
    x = x[np.abs(x) > 1e-3]  # away from relu's kink
    x = x[np.abs(np.abs(x) - 3.0) > 1e-3]  # and hard_sigmoid's
    eps = 1e-6
    numeric = (activate(name, x + eps) - activate(name, x - eps)) / (2 * eps)
    np.testing.assert_allclose(activation_grad(name, activate(name, x)), numeric, rtol=0, atol=1e-8)
    y = x.copy()
    assert activate(name, y, out=y) is y  # in place
    np.testing.assert_array_equal(y, activate(name, x))


CASES = [
    ("lstm", {"activation": "relu", "recurrent_activation": "hard_sigmoid"}),
    ("lstm", {"activation": "sigmoid"}),
    ("gru", {"activation": "linear", "recurrent_activation": "hard_sigmoid"}),
    ("gru", {"activation": "hard_sigmoid", "reset_after": False}),
    ("rnn", {"nonlinearity": "hard_sigmoid"}),
    ("rnn", {"nonlinearity": "linear"}),
    ("rnn", {"nonlinearity": "sigmoid"}),
]
IDS = [n + "".join(f"-{k}={v}" for k, v in kw.items()) for n, kw in CASES]


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_activation_gradients_with_a_mask(name, kw):
    rng = np.random.default_rng(1)
    layer = recurrent_layer(name, D, H, num_layers=2, bidirectional=True, dtype=np.float64, seed=2, **kw)
    x = rng.normal(size=(T, B, D))
    check_layer_gradients(layer, x, random_state(layer, B, rng), mask=np.ascontiguousarray(MASK_BT.T))


@pytest.mark.skipif(not _kernels.available(), reason="compiled loops unavailable")
@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_the_compiled_backend_declines_other_activations(name, kw, monkeypatch):
    calls, real = [], _kernels.ck

    class Spy:
        def __getattr__(self, attr):
            fn = getattr(real, attr)
            return lambda *a: (calls.append(attr), fn(*a))[1]

    res = []
    for backend in ("numpy", "c"):
        layer = recurrent_layer(name, D, H, dtype=np.float64, seed=2, **kw)
        x = np.random.default_rng(3).normal(size=(T, B, D))
        if backend == "c":
            monkeypatch.setattr(_kernels, "ck", Spy())
        with _kernels.use(backend):
            out, _ = layer.forward(x)
            dx, _ = layer.backward(np.ones_like(out))
        res.append((out, dx))
    assert not [c for c in calls if c.endswith(("_forward", "_backward"))]
    np.testing.assert_array_equal(res[0][0], res[1][0])
    np.testing.assert_array_equal(res[0][1], res[1][1])


def test_bad_activations_are_refused_naming_the_argument():
    with pytest.raises(ValueError, match=r"LSTM: recurrent_activation must be one of 'sigmoid', 'hard_sigmoid'"):
        recurrent_layer("lstm", D, H, recurrent_activation="linear")
    with pytest.raises(ValueError, match=r"GRU: activation must be one of .* got 'gelu'"):
        recurrent_layer("gru", D, H, activation="gelu")


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")
@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_keras_parity_with_activations(name, kw):
    os.environ["KERAS_BACKEND"] = "torch"
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("needs Keras on the torch backend")
    import torch

    from rnnkit.interop.keras import keras_layer

    rng = np.random.default_rng(4)
    layer = recurrent_layer(name, D, H, batch_first=True, seed=5, **kw)
    k = keras_layer(layer)
    assert k.get_config()["activation"] == kw.get("activation", kw.get("nonlinearity", "tanh"))
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    hx = random_state(layer, B, rng)
    states = [torch.tensor(s[0]) for s in (hx if isinstance(hx, tuple) else (hx,))]
    xt = torch.tensor(x, requires_grad=True)
    dout = rng.normal(size=(B, T, H)).astype(np.float32)
    k_out, *k_states = k(xt, mask=torch.tensor(MASK_BT), initial_state=states)
    (k_out * torch.tensor(dout)).sum().backward()
    out, hn = layer.forward(x, hx, mask=MASK_BT)
    dx, _ = layer.backward(dout)
    assert_close("out", out, k_out.detach().numpy(), 1e-5, peer="Keras")
    for i, s in enumerate(hn if isinstance(hn, tuple) else (hn,)):
        assert_close(f"state[{i}]", s[0], k_states[i].detach().numpy(), 1e-5, peer="Keras")
    assert_close("dx", dx, xt.grad.numpy(), 1e-5, peer="Keras")
