"""Adaptive softmax: parity with torch.nn.AdaptiveLogSoftmaxWithLoss, finite differences, log_prob, predict."""

import numpy as np
import pytest
import torch

from rnnkit import _kernels
from rnnkit.grad_mode import no_grad
from rnnkit.gradcheck import assert_gradient_close, numerical_gradient
from rnnkit.layers.adaptive import AdaptiveLogSoftmaxWithLoss, adaptive_backward, adaptive_forward

needs_c = pytest.mark.skipif(not _kernels.available("c"), reason=str(_kernels.why_unavailable("c")))

CASES = [  # (E, V, cutoffs, div_value, head_bias)
    (8, 20, (5, 12), 2.0, False),
    (8, 20, (5, 12), 2.0, True),
    (12, 30, (4, 10, 29), 1.5, True),  # the last cluster holds one word
    (6, 9, (3,), 4.0, False),
]


def pair(E, V, cutoffs, div_value, head_bias, seed=0):
    ours = AdaptiveLogSoftmaxWithLoss(E, V, cutoffs, div_value, head_bias, dtype=np.float64, seed=seed)
    theirs = torch.nn.AdaptiveLogSoftmaxWithLoss(E, V, list(cutoffs), div_value=div_value, head_bias=head_bias)
    theirs = theirs.double()
    assert set(theirs.state_dict()) == set(ours.params)  # the same names
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return ours, theirs


def data(E, V, N=40, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, E)) * 2.0
    y = rng.integers(0, V, size=N)
    y[:V] = np.arange(V)[: min(N, V)]  # every class at least once: every tail gets gradient
    return x, y


@pytest.mark.parametrize("E,V,cutoffs,div_value,head_bias", CASES)
def test_outputs_loss_and_all_gradients_equal_torch(E, V, cutoffs, div_value, head_bias):
    ours, theirs = pair(E, V, cutoffs, div_value, head_bias)
    x, y = data(E, V)
    output, loss = ours.forward(x, y)
    ours.zero_grad()
    dx = ours.backward()
    tx = torch.tensor(x, requires_grad=True)
    res = theirs(tx, torch.from_numpy(y))
    res.loss.backward()
    np.testing.assert_allclose(output, res.output.detach().numpy(), rtol=0, atol=1e-12)
    assert abs(loss - res.loss.item()) < 1e-12
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=0, atol=1e-12)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(ours.grads[name], p.grad.numpy(), rtol=0, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(ours.log_prob(x), theirs.log_prob(tx).detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(tx).numpy())


def test_predict_agrees_with_torch_when_clusters_win_the_head():
    ours, theirs = pair(8, 20, (5, 12), 2.0, True)
    ours.params["head.bias"][5:] += 6.0  # the cluster entries dominate the head: predict takes the long path
    theirs.head.bias.data[5:] += 6.0
    x, _ = data(8, 20, N=64, seed=3)
    pred = ours.predict(x)
    assert (pred >= 5).any()  # some rows take the full log_prob
    np.testing.assert_array_equal(pred, theirs.predict(torch.from_numpy(x)).numpy())
    np.testing.assert_array_equal(pred, ours.log_prob(x).argmax(axis=1))


def test_log_prob_is_a_distribution_and_gives_the_targets_output():
    ours, _ = pair(12, 30, (4, 10, 29), 1.5, True)
    x, y = data(12, 30)
    lp = ours.log_prob(x)
    np.testing.assert_allclose(np.exp(lp).sum(axis=1), 1.0, rtol=0, atol=1e-13)
    output, _ = ours.forward(x, y)
    np.testing.assert_allclose(lp[np.arange(y.size), y], output, rtol=0, atol=1e-13)


@pytest.mark.parametrize("E,V,cutoffs,div_value,head_bias", CASES[1:3])
def test_gradients_by_finite_differences_with_a_random_projection(E, V, cutoffs, div_value, head_bias):
    ours, _ = pair(E, V, cutoffs, div_value, head_bias, seed=4)
    x, y = data(E, V, N=V + 4, seed=5)
    real = np.random.default_rng(6).random(y.size) < 0.8
    P = np.random.default_rng(7).normal(size=y.size)  # loss = sum_n P_n nll_n over the real rows
    params = ours.params

    def loss():
        return float(np.dot(P, adaptive_forward(params, x, y, ours.cutoffs, real=real)[0]))

    nll, cache = adaptive_forward(params, x, y, ours.cutoffs, real=real, grad_scale=P)
    assert not nll[~real].any()
    dx, grads = adaptive_backward(params, cache)
    assert not dx[~real].any()
    for name, p in params.items():
        assert_gradient_close(name, grads[name], numerical_gradient(loss, p))
    assert_gradient_close("x", dx, numerical_gradient(loss, x))


def test_backward_weights_scale_each_row():
    ours, _ = pair(8, 20, (5, 12), 2.0, True)
    x, y = data(8, 20)
    w = np.random.default_rng(8).random(y.size)
    ours.forward(x, y)
    ours.zero_grad()
    dx = ours.backward(w)
    _, cache = adaptive_forward(ours.params, x, y, ours.cutoffs, grad_scale=w)
    dx_ref, grads = adaptive_backward(ours.params, cache)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-13, atol=1e-15)
    for name, g in grads.items():
        np.testing.assert_allclose(ours.grads[name], g, rtol=1e-13, atol=1e-15, err_msg=name)


@pytest.mark.parametrize("backend", ["numpy", pytest.param("c", marks=needs_c)])
def test_float32_equals_torch_float32(backend):
    """float32 on either backend (the compiled softmax rows on "c"): loss, outputs, dx and every
    parameter gradient against PyTorch's float32, to a tolerance scaled by each array's size."""
    ours = AdaptiveLogSoftmaxWithLoss(16, 200, (20, 80), 2.0, True, seed=2)
    theirs = torch.nn.AdaptiveLogSoftmaxWithLoss(16, 200, [20, 80], div_value=2.0, head_bias=True)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x, y = data(16, 200, N=256, seed=9)
    x = x.astype(np.float32)
    with _kernels.use(backend):
        output, loss = ours.forward(x, y)
        dx = ours.backward()
    tx = torch.from_numpy(x).requires_grad_(True)
    res = theirs(tx, torch.from_numpy(y))
    res.loss.backward()
    assert abs(loss - res.loss.item()) < 1e-5 * abs(res.loss.item())
    np.testing.assert_allclose(output, res.output.detach().numpy(), rtol=1e-5, atol=1e-5)
    assert dx.dtype == np.float32
    pairs = [("dx", dx, tx.grad.numpy())] + [(k, ours.grads[k], p.grad.numpy()) for k, p in theirs.named_parameters()]
    for name, got, ref in pairs:
        scale = float(np.abs(ref).max())
        assert scale > 0, name
        np.testing.assert_allclose(got, ref, rtol=0, atol=2e-5 * scale, err_msg=name)


def test_no_grad_keeps_no_cache_and_extreme_inputs_stay_finite():
    ours, _ = pair(8, 20, (5, 12), 2.0, True)
    x, y = data(8, 20)
    with no_grad():
        nll, cache = adaptive_forward(ours.params, x * 1e3, y, ours.cutoffs)
    assert cache is None and np.isfinite(nll).all()
    assert np.isfinite(ours.log_prob(x * 1e3)).all()


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match=r"AdaptiveLogSoftmaxWithLoss: cutoffs must be strictly increasing"):
        AdaptiveLogSoftmaxWithLoss(8, 20, (12, 5))
    with pytest.raises(ValueError, match=r"cutoffs must be strictly increasing ints in \[1, 19\].*got \[5, 20\]"):
        AdaptiveLogSoftmaxWithLoss(8, 20, (5, 20))
    with pytest.raises(TypeError, match="cutoffs must be a list or tuple of ints, got str"):
        AdaptiveLogSoftmaxWithLoss(8, 20, "5,12")
    with pytest.raises(ValueError, match="div_value must leave every tail projection at least 1 wide"):
        AdaptiveLogSoftmaxWithLoss(8, 20, (5, 12), div_value=4.0)
    asm = AdaptiveLogSoftmaxWithLoss(8, 20, (5,))
    with pytest.raises(ValueError, match=r"AdaptiveLogSoftmaxWithLoss.forward: x must have shape \(N, 8\), got"):
        asm.forward(np.zeros((3, 7)), np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match=r"targets must be in \[0, 20\), got 20 at index 1"):
        asm.forward(np.zeros((2, 8)), np.array([0, 20]))


def test_the_module_example_runs():
    import doctest

    import rnnkit.layers.adaptive as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
