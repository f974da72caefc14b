import doctest

import numpy as np
import pytest
import torch

import rnnkit.layers.linear as linear_module
from rnnkit import no_grad
from rnnkit.gradcheck import assert_gradient_close, numerical_gradient
from rnnkit.layers.linear import Linear, linear_backward, linear_forward

from helpers import assert_close


def projection_loss(layer, x, P):
    return float(np.sum(P * layer.forward(x)))


@pytest.mark.parametrize("lead", [(), (6,), (3, 2)])
@pytest.mark.parametrize("bias", [True, False])
def test_gradients_match_finite_differences(lead, bias):
    rng = np.random.default_rng(0)
    layer = Linear(4, 5, bias=bias, dtype=np.float64, seed=1)
    x = rng.standard_normal(lead + (4,))
    P = rng.standard_normal(lead + (5,))
    layer.zero_grad()
    layer.forward(x)
    dx = layer.backward(P)
    f = lambda: projection_loss(layer, x, P)  # noqa: E731
    assert_gradient_close("x", dx, numerical_gradient(f, x))
    for name in layer.params:
        assert_gradient_close(name, layer.grads[name], numerical_gradient(f, layer.params[name]))
    assert sorted(layer.params) == (["bias", "weight"] if bias else ["weight"])


@pytest.mark.parametrize("dtype, atol", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_parity_with_torch(dtype, atol):
    rng = np.random.default_rng(2)
    ref = torch.nn.Linear(7, 3, dtype=torch.float64 if dtype == np.float64 else torch.float32)
    layer = Linear(7, 3, dtype=dtype, seed=0)
    layer.load_state_dict(ref.state_dict())
    x = rng.standard_normal((5, 4, 7)).astype(dtype)
    P = rng.standard_normal((5, 4, 3)).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    yt = ref(xt)
    (yt * torch.tensor(P)).sum().backward()
    y = layer.forward(x)
    dx = layer.backward(P)
    assert y.dtype == dtype and dx.dtype == dtype
    assert_close("y", y, yt.detach().numpy(), atol)
    assert_close("dx", dx, xt.grad.numpy(), atol)
    assert_close('layer.grads["weight"]', layer.grads["weight"], ref.weight.grad.numpy(), atol)
    assert_close('layer.grads["bias"]', layer.grads["bias"], ref.bias.grad.numpy(), atol)


def test_documented_parameter_shapes_names_and_init():
    layer = Linear(16, 9, seed=3)
    ref = torch.nn.Linear(16, 9)
    assert list(layer.params) == list(ref.state_dict())
    for name, value in ref.state_dict().items():
        assert layer.params[name].shape == tuple(value.shape)
        assert layer.params[name].dtype == np.float32
    big = Linear(100, 400, dtype=np.float64, seed=4)
    bound = 1 / np.sqrt(100)
    assert np.abs(big.weight).max() <= bound and np.abs(big.bias).max() <= bound
    # uniform(-b, b) has standard deviation b / sqrt(3)
    assert abs(big.weight.std() - bound / np.sqrt(3)) < 0.01 * bound
    assert layer.weight is layer.params["weight"] and layer.bias is layer.params["bias"]


def test_seed_repeats_and_generator_accepted():
    a, b, c = Linear(3, 4, seed=7), Linear(3, 4, seed=7), Linear(3, 4, seed=8)
    np.testing.assert_array_equal(a.weight, b.weight)
    assert not np.array_equal(a.weight, c.weight)
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(Linear(3, 4, seed=g1).bias, Linear(3, 4, seed=g2).bias)


def test_backward_accumulates_and_zero_grad_clears():
    rng = np.random.default_rng(6)
    layer = Linear(3, 2, dtype=np.float64, seed=0)
    x, dy = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    layer.forward(x)
    layer.backward(dy)
    once = {k: v.copy() for k, v in layer.grads.items()}
    layer.backward(dy)
    for k in once:
        np.testing.assert_allclose(layer.grads[k], 2 * once[k], rtol=1e-14)
    layer.zero_grad()
    assert all(not g.any() for g in layer.grads.values())


def test_plain_functions_match_layer():
    rng = np.random.default_rng(7)
    layer = Linear(3, 2, dtype=np.float64, seed=0)
    x, dy = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 2))
    y, cache = linear_forward(x, layer.weight, layer.bias)
    dx, dw, db = linear_backward(dy, cache)
    np.testing.assert_array_equal(y, layer.forward(x))
    np.testing.assert_array_equal(dx, layer.backward(dy))
    np.testing.assert_array_equal(dw, layer.grads["weight"])
    np.testing.assert_array_equal(db, layer.grads["bias"])


def test_float32_default_casts_input():
    layer = Linear(3, 2, seed=0)
    y = layer.forward(np.ones((2, 3), dtype=np.float64))
    assert y.dtype == np.float32


def test_bad_input_errors_name_argument_and_value():
    layer = Linear(8, 4)
    with pytest.raises(ValueError, match=r"Linear\.forward: x must have shape \(\.\.\., 8\), got \(5, 7\)"):
        layer.forward(np.zeros((5, 7)))
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 8\), got \(\)"):
        layer.forward(np.zeros(()))
    with pytest.raises(TypeError, match=r"Linear\.forward: x must hold real numbers, got dtype <U1"):
        layer.forward(np.array(["a"] * 8))
    with pytest.raises(ValueError, match=r"x must be finite, got nan at index \(1, 2\)"):
        bad = np.zeros((2, 8))
        bad[1, 2] = np.nan
        layer.forward(bad)
    with pytest.raises(ValueError, match=r"Linear: in_features must be >= 1, got 0"):
        Linear(0, 3)
    with pytest.raises(TypeError, match=r"Linear: out_features must be an int, got float 2\.5"):
        Linear(3, 2.5)
    with pytest.raises(TypeError, match=r"Linear: dtype must be float32 or float64, got int32"):
        Linear(3, 2, dtype=np.int32)
    with pytest.raises(TypeError, match=r"Linear: bias must be a bool, got str 'yes'"):
        Linear(3, 2, bias="yes")
    with pytest.raises(TypeError, match=r"Linear: seed must be .*, got 1\.5"):
        Linear(3, 2, seed=1.5)
    layer.forward(np.zeros((5, 8)))
    with pytest.raises(ValueError, match=r"Linear\.backward: dy must have shape \(5, 4\), got \(5, 3\)"):
        layer.backward(np.zeros((5, 3)))


def test_backward_before_forward_or_after_no_grad_raises():
    layer = Linear(3, 2)
    with pytest.raises(RuntimeError, match=r"Linear\.backward: no cached forward pass"):
        layer.backward(np.zeros((1, 2)))
    layer.forward(np.zeros((1, 3)))
    with no_grad():
        y = layer.forward(np.zeros((1, 3)))
    assert y.shape == (1, 2)
    with pytest.raises(RuntimeError, match=r"no_grad"):
        layer.backward(np.zeros((1, 2)))


def test_docstring_examples_run():
    result = doctest.testmod(linear_module)
    assert result.attempted > 0 and result.failed == 0


def test_non_finite_dy_reaches_the_gradients_for_the_trainer_to_report():
    """backward does not scan dy (a hot path); a NaN there shows up in grads, where the Trainer checks."""
    layer = Linear(3, 2, dtype=np.float64, seed=0)
    layer.forward(np.ones((4, 3)))
    dy = np.ones((4, 2))
    dy[1, 0] = np.nan
    layer.backward(dy)
    assert np.isnan(layer.grads["weight"][0]).all() and np.isfinite(layer.grads["weight"][1]).all()
