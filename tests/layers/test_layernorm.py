import doctest

import numpy as np
import pytest
import torch

import rnnkit.layers.layernorm as layernorm_module
from rnnkit import no_grad
from rnnkit.gradcheck import assert_gradient_close, numerical_gradient
from rnnkit.layers.layernorm import LayerNorm, layer_norm_backward, layer_norm_forward

from helpers import assert_close


@pytest.mark.parametrize("affine", ["both", "gamma", "none"])
def test_functions_match_finite_differences(affine):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 6)) * 2 + 0.5  # (T, B, H)
    gamma = rng.standard_normal(6) if affine != "none" else None  # not ones: symmetric mistakes would hide
    beta = rng.standard_normal(6) if affine == "both" else None
    P = rng.standard_normal((3, 2, 6))
    _, cache = layer_norm_forward(x, gamma, beta, 1e-5)
    dx, dgamma, dbeta = layer_norm_backward(P, cache)
    f = lambda: float(np.sum(P * layer_norm_forward(x, gamma, beta, 1e-5)[0]))  # noqa: E731
    assert_gradient_close("x", dx, numerical_gradient(f, x))
    if gamma is not None:
        assert_gradient_close("gamma", dgamma, numerical_gradient(f, gamma))
    else:
        assert dgamma is None
    if beta is not None:
        assert_gradient_close("beta", dbeta, numerical_gradient(f, beta))
    else:
        assert dbeta is None


def test_layer_matches_finite_differences_over_two_axes():
    rng = np.random.default_rng(1)
    ln = LayerNorm((2, 3), dtype=np.float64)
    ln.weight[...] = rng.standard_normal((2, 3))
    ln.bias[...] = rng.standard_normal((2, 3))
    x = rng.standard_normal((4, 2, 3))
    P = rng.standard_normal((4, 2, 3))
    ln.forward(x)
    dx = ln.backward(P)
    f = lambda: float(np.sum(P * ln.forward(x)))  # noqa: E731
    assert_gradient_close("x", dx, numerical_gradient(f, x))
    for name in ("weight", "bias"):
        assert_gradient_close(name, ln.grads[name], numerical_gradient(f, ln.params[name]))


@pytest.mark.parametrize("dtype, atol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize(
    "shape, affine, bias", [(5, True, True), ((3, 5), True, True), (5, False, True), (5, True, False)]
)
def test_parity_with_torch(dtype, atol, shape, affine, bias):
    rng = np.random.default_rng(2)
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    ref = torch.nn.LayerNorm(shape, eps=1e-4, elementwise_affine=affine, bias=bias, dtype=tdtype)
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape))))
    ln = LayerNorm(shape, eps=1e-4, elementwise_affine=affine, bias=bias, dtype=dtype)
    ln.load_state_dict(ref.state_dict())
    norm_shape = (shape,) if isinstance(shape, int) else shape
    x = (rng.standard_normal((4, 2) + norm_shape) * 3 + 1).astype(dtype)
    P = rng.standard_normal(x.shape).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    yt = ref(xt)
    (yt * torch.tensor(P)).sum().backward()
    y = ln.forward(x)
    dx = ln.backward(P)
    assert y.dtype == dtype and dx.dtype == dtype
    assert_close("y", y, yt.detach().numpy(), atol)
    assert_close("dx", dx, xt.grad.numpy(), atol)
    assert sorted(ln.params) == sorted(name for name, _ in ref.named_parameters())
    for name, p in ref.named_parameters():
        assert_close(f"grad {name}", ln.grads[name], p.grad.numpy(), atol)


def test_documented_parameter_shapes_and_init():
    ln = LayerNorm((3, 4))
    assert ln.normalized_shape == (3, 4)
    assert ln.params["weight"].shape == (3, 4) and ln.params["bias"].shape == (3, 4)
    assert (ln.weight == 1).all() and (ln.bias == 0).all() and ln.weight.dtype == np.float32
    assert LayerNorm(4, elementwise_affine=False).params == {}
    assert list(LayerNorm(4, bias=False).params) == ["weight"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extremes_are_finite(dtype):
    rng = np.random.default_rng(3)
    ln = LayerNorm(6, dtype=dtype)
    ln.bias[...] = 0.25
    x = (rng.standard_normal((3, 6)) * 500).astype(dtype)
    x[1] = 7.0  # a constant row: zero variance, so y = bias and dx = (dy - mean(dy)) / sqrt(eps)
    dy = rng.standard_normal((3, 6)).astype(dtype)
    y = ln.forward(x)
    dx = ln.backward(dy)
    assert np.isfinite(y).all() and np.isfinite(dx).all()
    np.testing.assert_allclose(y[1], 0.25)
    np.testing.assert_allclose(dx[1], (dy[1] - dy[1].mean()) / np.sqrt(1e-5), rtol=1e-4)
    np.testing.assert_allclose(y[[0, 2]].mean(axis=-1), 0.25, atol=1e-5)


def test_bad_input_errors_name_argument_and_value():
    ln = LayerNorm(8)
    with pytest.raises(ValueError, match=r"LayerNorm\.forward: x must have shape \(\.\.\., 8\), got \(5, 7\)"):
        ln.forward(np.zeros((5, 7)))
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 2, 3\), got \(3, 2\)"):
        LayerNorm((2, 3)).forward(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 1\), got \(\)"):
        LayerNorm(1).forward(np.zeros(()))
    with pytest.raises(TypeError, match=r"LayerNorm: normalized_shape must be .*, got \(3, 0\)"):
        LayerNorm((3, 0))
    with pytest.raises(ValueError, match=r"LayerNorm: eps must be a finite number > 0, got -1"):
        LayerNorm(3, eps=-1)
    with pytest.raises(TypeError, match=r"LayerNorm: elementwise_affine must be a bool, got int 1"):
        LayerNorm(3, elementwise_affine=1)
    ln.forward(np.zeros((2, 8)))
    with pytest.raises(ValueError, match=r"LayerNorm\.backward: dy must have shape \(2, 8\), got \(8,\)"):
        ln.backward(np.zeros(8))


def test_backward_before_forward_or_after_no_grad_raises():
    ln = LayerNorm(3)
    with pytest.raises(RuntimeError, match=r"LayerNorm\.backward: no cached forward pass"):
        ln.backward(np.zeros((1, 3)))
    with no_grad():
        ln.forward(np.ones((1, 3)))
    with pytest.raises(RuntimeError, match=r"no_grad"):
        ln.backward(np.zeros((1, 3)))


def test_docstring_examples_run():
    result = doctest.testmod(layernorm_module)
    assert result.attempted > 0 and result.failed == 0
