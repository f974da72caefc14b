"""Gradient clipping against torch.nn.utils, and its edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnnkit.clip import clip_coefficient, clip_grad_norm, clip_grad_value, global_norm
from rnnkit.gradcheck import relative_error

SHAPES = {"weight_ih_l0": (12, 5), "weight_hh_l0": (12, 3), "bias_ih_l0": (12,), "h0": (1, 2, 3)}


def make_grads(dtype, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return {k: (scale * rng.standard_normal(s)).astype(dtype) for k, s in SHAPES.items()}


def torch_clip_norm(grads, max_norm, norm_type):
    ts = [torch.zeros(g.shape, dtype=torch.from_numpy(g).dtype, requires_grad=True) for g in grads.values()]
    for t, g in zip(ts, grads.values()):
        t.grad = torch.from_numpy(g.copy())
    total = torch.nn.utils.clip_grad_norm_(ts, max_norm, norm_type=norm_type)
    return float(total), {k: t.grad.numpy() for k, t in zip(grads, ts)}


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e6], ids=["clips", "no-clip"])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-6)], ids=["f64", "f32"])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, dtype, tol):
    grads = make_grads(dtype, scale=3.0)
    original = {k: g.copy() for k, g in grads.items()}
    live = dict(grads)
    want_total, want = torch_clip_norm(original, max_norm, norm_type)
    total = clip_grad_norm(grads, max_norm, norm_type=norm_type)
    assert isinstance(total, float)
    assert abs(total - want_total) <= tol * want_total
    for k in SHAPES:
        assert grads[k] is live[k] and grads[k].dtype == dtype
        assert relative_error(grads[k], want[k]) <= tol, k
    if max_norm > total:
        assert all(np.array_equal(grads[k], original[k]) for k in SHAPES)
    else:
        assert global_norm(grads, norm_type) <= max_norm * (1 + tol)  # float32 rounding may overshoot by an ulp
        assert global_norm(grads, norm_type) > max_norm * (1 - 1e-5)


def test_returns_norm_before_clipping_and_accepts_a_list():
    grads = [np.array([3.0, 0.0]), np.array([[4.0]])]
    assert clip_grad_norm(grads, 1.0) == 5.0
    assert np.allclose(grads[0], [0.6, 0.0], rtol=1e-5) and np.allclose(grads[1], [[0.8]], rtol=1e-5)


def test_string_inf_norm_type():
    grads = {"a": np.array([-7.0, 2.0]), "b": np.array([5.0])}
    assert clip_grad_norm(grads, 14.0, norm_type="inf") == 7.0
    assert np.array_equal(grads["a"], [-7.0, 2.0])


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_non_finite_norm_is_returned_and_grads_left_alone(bad, norm_type):
    grads = make_grads(np.float64)
    grads["bias_ih_l0"][3] = bad
    before = {k: g.copy() for k, g in grads.items()}
    total = clip_grad_norm(grads, 1.0, norm_type=norm_type)  # pytest turns any RuntimeWarning into an error
    assert math.isnan(total) if math.isnan(bad) else total == math.inf
    for k in SHAPES:
        assert np.array_equal(grads[k], before[k], equal_nan=True)


def test_nan_wins_over_inf_in_the_max_norm_regardless_of_order():
    assert math.isnan(global_norm([np.array([np.nan]), np.array([5.0])], math.inf))
    assert math.isnan(global_norm([np.array([5.0]), np.array([np.nan])], math.inf))


def test_float32_norm_does_not_overflow():
    grads = {"w": np.full(4, 1e20, np.float32)}
    total = global_norm(grads)
    assert math.isfinite(total) and abs(total - 2e20) <= 1e-6 * 2e20
    clip_grad_norm(grads, 1.0)
    assert np.allclose(grads["w"], 0.5, rtol=1e-5)


def test_global_norm_is_the_norm_of_the_concatenation():
    grads = make_grads(np.float64)
    flat = np.concatenate([g.ravel() for g in grads.values()])
    for p in (1.0, 2.0, 3.0, math.inf):
        assert abs(global_norm(grads, p) - np.linalg.norm(flat, p)) <= 1e-12 * np.linalg.norm(flat, p)
    assert global_norm({}) == 0.0 and global_norm({"e": np.zeros((0, 3))}, math.inf) == 0.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_clip_grad_value_matches_torch(dtype):
    grads = make_grads(dtype, scale=2.0)
    ts = [torch.zeros(g.shape, dtype=torch.from_numpy(g).dtype, requires_grad=True) for g in grads.values()]
    for t, g in zip(ts, grads.values()):
        t.grad = torch.from_numpy(g.copy())
    torch.nn.utils.clip_grad_value_(ts, 0.7)
    live = dict(grads)
    assert clip_grad_value(grads, 0.7) is None
    for (k, g), t in zip(grads.items(), ts):
        assert g is live[k]
        assert np.array_equal(g, t.grad.numpy()), k
    assert max(np.abs(g).max() for g in grads.values()) == dtype(0.7)  # some entries were clipped


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda g: clip_grad_norm(g, -1.0), ValueError, "clip_grad_norm: max_norm must be >= 0, got -1.0"),
        (lambda g: clip_grad_norm(g, math.nan), ValueError, "max_norm must be >= 0, got nan"),
        (lambda g: clip_grad_norm(g, "1"), TypeError, "max_norm must be a real number, got str"),
        (lambda g: clip_grad_norm(g, 1.0, norm_type=0), ValueError, "norm_type must be > 0 or inf, got 0"),
        (lambda g: clip_grad_norm(g, 1.0, norm_type="fro"), TypeError, "norm_type must be a positive number or inf"),
        (lambda g: clip_grad_norm(g["w"], 1.0), TypeError, "got a single array"),
        (lambda g: clip_grad_norm(5, 1.0), TypeError, "grads must be a mapping of name -> array or a list"),
        (lambda g: clip_grad_norm({"w": [1.0]}, 1.0), TypeError, r"grads\['w'\] must be a numpy array, got list"),
        (lambda g: clip_grad_norm([np.ones(2, int)], 1.0), TypeError, r"grads\[0\] must be a float array"),
        (lambda g: clip_grad_value(g, -0.1), ValueError, "clip_grad_value: clip_value must be >= 0, got -0.1"),
        (lambda g: global_norm(g, norm_type=-2), ValueError, "global_norm: norm_type must be > 0 or inf, got -2"),
        (lambda g: clip_coefficient(5.0, -1.0), ValueError, "clip_coefficient: max_norm must be >= 0, got -1.0"),
        (lambda g: clip_coefficient(-5.0, 1.0), ValueError, r"clip_coefficient: total_norm must be >= 0 \(or inf"),
        (lambda g: clip_coefficient("5", 1.0), TypeError, "clip_coefficient: total_norm must be a real number, got"),
    ],
)
def test_bad_input_is_rejected(call, exc, match):
    grads = {"w": np.array([3.0, 4.0])}
    with pytest.raises(exc, match=match):
        call(grads)
    assert np.array_equal(grads["w"], [3.0, 4.0])


def test_read_only_gradients_are_rejected_before_anything_changes():
    a, b = np.array([3.0]), np.array([4.0])
    b.flags.writeable = False
    with pytest.raises(ValueError, match=r"grads\[1\] must be writeable"):
        clip_grad_norm([a, b], 1.0)
    assert a[0] == 3.0
    assert global_norm([a, b]) == 5.0  # reading needs no write access


def test_docstring_examples_run():
    import doctest

    import rnnkit.clip

    result = doctest.testmod(rnnkit.clip)
    assert result.attempted >= 5 and result.failed == 0


@pytest.mark.parametrize("max_norm", [0.5, 3.0, 1e6])
def test_clip_coefficient_is_the_factor_clip_grad_norm_applies(max_norm):
    grads = make_grads(np.float64, scale=2.0)
    before = {k: g.copy() for k, g in grads.items()}
    total = clip_grad_norm(grads, max_norm)
    coef = clip_coefficient(total, max_norm)
    for k, g in grads.items():
        np.testing.assert_array_equal(g, before[k] * coef if coef < 1.0 else before[k])
    assert (coef < 1.0) == (max_norm < total)


@pytest.mark.parametrize("total", [math.inf, math.nan])
def test_clip_coefficient_of_a_norm_that_overflowed_is_one(total):
    assert clip_coefficient(total, 1.0) == 1.0
