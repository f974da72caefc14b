"""Initialisers: the distributions they promise, per-gate blocks, determinism and input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnkit import init


def rng(seed=0):
    return np.random.default_rng(seed)


# -- orthogonal ------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(6, 6), (9, 4), (3, 7), (4, 2, 3)], ids=["square", "tall", "wide", "3d"])
@pytest.mark.parametrize("gain", [1.0, 0.5])
def test_orthogonal(shape, gain):
    a = np.empty(shape)
    out = init.orthogonal_(a, rng(), gain=gain)
    assert out is a
    m = a.reshape(shape[0], -1)
    small = min(m.shape)
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, gain**2 * np.eye(small), atol=1e-12)


@pytest.mark.parametrize("shape,gates", [((4 * 5, 5), 4), ((3 * 6, 4), 3), ((3 * 2, 5), 3)])
def test_orthogonal_per_gate_block(shape, gates):
    a = init.orthogonal_(np.empty(shape), rng(1), gates=gates)
    h = shape[0] // gates
    for k in range(gates):
        b = a[k * h : (k + 1) * h]
        gram = b.T @ b if b.shape[0] >= b.shape[1] else b @ b.T
        np.testing.assert_allclose(gram, np.eye(min(b.shape)), atol=1e-12, err_msg=f"gate block {k}")
    # Separately drawn blocks are not orthogonal to each other.
    assert np.abs(a[:h].T @ a[h : 2 * h]).max() > 0.1


def test_orthogonal_is_haar_distributed():
    # For Haar-distributed Q, E[Q[i, i]] = 0; raw Householder QR without the sign fix gives about -0.5.
    g = rng(7)
    diag = np.array([init.orthogonal_(np.empty((3, 3)), g)[0, 0] for _ in range(2000)])
    assert abs(diag.mean()) < 0.05  # standard error ~ 0.013
    assert abs((diag**2).mean() - 1 / 3) < 0.03  # E[Q00^2] = 1/n


def test_orthogonal_float32():
    a = init.orthogonal_(np.empty((8, 8), np.float32), rng())
    assert a.dtype == np.float32
    np.testing.assert_allclose(a.T @ a, np.eye(8), atol=1e-6)


# -- xavier ----------------------------------------------------------------------------------
def test_xavier_uniform_bound_and_spread():
    gain = 5 / 3
    a = init.xavier_uniform_(np.empty((300, 200)), rng(), gain=gain)
    bound = gain * math.sqrt(6 / (300 + 200))
    assert np.abs(a).max() <= bound
    assert np.abs(a).max() > 0.999 * bound  # 60000 draws reach the edge
    assert abs(a.std() / (bound / math.sqrt(3)) - 1) < 0.01
    assert abs(a.mean()) < 0.01 * bound


def test_xavier_normal_std():
    a = init.xavier_normal_(np.empty((300, 200)), rng(), gain=2.0)
    std = 2.0 * math.sqrt(2 / (300 + 200))
    assert abs(a.std() / std - 1) < 0.01  # standard error of the ratio ~ 0.003
    assert abs(a.mean()) < 0.01 * std


def test_xavier_fans_include_receptive_field_like_pytorch():
    # (out, in, k): fan_in = in * k, fan_out = out * k
    a = init.xavier_uniform_(np.empty((40, 30, 5)), rng())
    bound = math.sqrt(6 / (30 * 5 + 40 * 5))
    assert bound * 0.99 < np.abs(a).max() <= bound


@pytest.mark.parametrize("fn", [init.xavier_uniform_, init.xavier_normal_])
def test_xavier_gates_use_the_block_fan_out(fn):
    hidden, d, gates = 100, 60, 4
    a = fn(np.empty((gates * hidden, d)), rng(), gates=gates)
    block_std = math.sqrt(2 / (hidden + d))  # fan_out = H, not 4H
    whole_std = math.sqrt(2 / (gates * hidden + d))
    for k in range(gates):
        s = a[k * hidden : (k + 1) * hidden].std()
        assert abs(s / block_std - 1) < 0.03, f"gate block {k}: std {s}, expected {block_std}"
    assert abs(a.std() / whole_std - 1) > 0.3


# -- identity, forget bias, PyTorch default, uniform ------------------------------------------
def test_identity():
    a = init.identity_(np.full((4, 4), 9.0), scale=0.5)
    assert np.array_equal(a, 0.5 * np.eye(4))
    wide = init.identity_(np.full((2, 3), 9.0))
    assert np.array_equal(wide, np.eye(2, 3))
    gated = init.identity_(np.full((6, 3), 9.0), scale=2.0, gates=2)
    assert np.array_equal(gated, np.vstack([2 * np.eye(3), 2 * np.eye(3)]))


def test_lstm_forget_bias_sets_only_rows_h_to_2h():
    h = 5
    bias = rng().standard_normal(4 * h)
    before = bias.copy()
    out = init.lstm_forget_bias_(bias, h, value=2.0)
    assert out is bias
    assert np.array_equal(bias[h : 2 * h], np.full(h, 2.0))
    assert np.array_equal(bias[:h], before[:h]) and np.array_equal(bias[2 * h :], before[2 * h :])


def test_pytorch_default_fills_every_array_within_bound():
    h = 16
    params = {
        "weight_ih_l0": np.zeros((4 * h, 10)),
        "weight_hh_l0": np.zeros((4 * h, h)),
        "bias_ih_l0": np.zeros(4 * h),
        "bias_hh_l0": np.zeros(4 * h, np.float32),
    }
    live = dict(params)
    init.pytorch_default_(params, h, rng())
    k = 1 / math.sqrt(h)
    for name, a in params.items():
        assert a is live[name]
        assert np.abs(a).max() <= k and np.abs(a).max() > 0.8 * k, name
        assert np.all(a != 0), name
    assert not np.array_equal(params["bias_ih_l0"], params["bias_hh_l0"])


def test_uniform_bounds_and_degenerate_interval():
    a = init.uniform_(np.empty(10000), -0.3, 0.2, rng())
    assert a.min() >= -0.3 and a.max() < 0.2 and a.min() < -0.29 and a.max() > 0.19
    assert np.array_equal(init.uniform_(np.empty(3), 1.5, 1.5, rng()), np.full(3, 1.5))


# -- determinism -----------------------------------------------------------------------------
CALLS = {
    "uniform_": lambda a, g: init.uniform_(a, -1.0, 1.0, g),
    "xavier_uniform_": lambda a, g: init.xavier_uniform_(a, g, gates=2),
    "xavier_normal_": lambda a, g: init.xavier_normal_(a, g),
    "orthogonal_": lambda a, g: init.orthogonal_(a, g, gates=2),
    "pytorch_default_": lambda a, g: init.pytorch_default_({"w": a}, 4, g),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_same_seed_same_array_and_float32_is_float64_rounded(name):
    call = CALLS[name]
    a, b, c = np.empty((8, 4)), np.empty((8, 4)), np.empty((8, 4))
    call(a, rng(3))
    call(b, rng(3))
    call(c, rng(4))
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)
    f32 = np.empty((8, 4), np.float32)
    call(f32, rng(3))
    assert np.array_equal(f32, a.astype(np.float32))


def test_one_generator_gives_fresh_numbers_to_each_call():
    g = rng(0)
    a = init.xavier_uniform_(np.empty((4, 4)), g)
    b = init.xavier_uniform_(np.empty((4, 4)), g)
    assert not np.allclose(a, b)


# -- input checks ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: init.uniform_([0.0, 0.0], 0, 1, rng()), TypeError, "uniform_: a must be a numpy array, got list"),
        (lambda: init.uniform_(np.zeros(2, int), 0, 1, rng()), TypeError, "uniform_: a must be a float array"),
        (lambda: init.uniform_(np.zeros(2), 1.0, 0.0, rng()), ValueError, "uniform_: high must be >= low=1.0, got 0.0"),
        (lambda: init.uniform_(np.zeros(2), 0, math.inf, rng()), ValueError, "uniform_: high must be finite, got inf"),
        (lambda: init.uniform_(np.zeros(2), 0, 1, 42), TypeError, "uniform_: rng must be a numpy.random.Generator"),
        (lambda: init.uniform_(np.zeros(2), 0, 1, np.random.RandomState(0)), TypeError, "got RandomState"),
        (
            lambda: init.xavier_uniform_(np.zeros(5), rng()),
            ValueError,
            r"xavier_uniform_: a must have at least 2 dimensions, got shape \(5,\)",
        ),
        (
            lambda: init.xavier_normal_(np.zeros((7, 3)), rng(), gates=2),
            ValueError,
            r"xavier_normal_: a.shape\[0\] must be divisible by gates=2, got shape \(7, 3\)",
        ),
        (lambda: init.xavier_uniform_(np.zeros((8, 3)), rng(), gates=0), ValueError, "gates must be >= 1, got 0"),
        (lambda: init.xavier_uniform_(np.zeros((8, 3)), rng(), gain=0.0), ValueError, "gain must be > 0, got 0.0"),
        (lambda: init.orthogonal_(np.zeros((8, 3)), rng(), gain="1"), TypeError, "orthogonal_: gain must be a real"),
        (lambda: init.orthogonal_(np.zeros(4), rng()), ValueError, "orthogonal_: a must have at least 2 dimensions"),
        (lambda: init.identity_(np.zeros((2, 2, 2))), ValueError, r"identity_: a must be 2-D, got shape \(2, 2, 2\)"),
        (lambda: init.identity_(np.zeros((2, 2)), scale=math.nan), ValueError, "identity_: scale must be finite"),
        (
            lambda: init.lstm_forget_bias_(np.zeros(9), 2),
            ValueError,
            r"lstm_forget_bias_: bias must have shape \(4\*hidden_size,\) = \(8,\), got \(9,\)",
        ),
        (lambda: init.lstm_forget_bias_(np.zeros(8), 2.0), TypeError, "lstm_forget_bias_: hidden_size must be an int"),
        (
            lambda: init.pytorch_default_([np.zeros(2)], 2, rng()),
            TypeError,
            "pytorch_default_: params must be a mapping",
        ),
        (lambda: init.pytorch_default_({"w": np.zeros(2)}, 0, rng()), ValueError, "hidden_size must be >= 1, got 0"),
        (
            lambda: init.pytorch_default_({"w": np.zeros(2, int)}, 2, rng()),
            TypeError,
            r"pytorch_default_: params\['w'\] must be a float array",
        ),
    ],
)
def test_bad_input_is_rejected(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_read_only_array_is_rejected():
    a = np.zeros((3, 3))
    a.flags.writeable = False
    with pytest.raises(ValueError, match="orthogonal_: a must be writeable"):
        init.orthogonal_(a, rng())


def test_pytorch_default_checks_every_array_before_filling_any():
    good = np.zeros(4)
    with pytest.raises(TypeError, match=r"params\['b'\]"):
        init.pytorch_default_({"a": good, "b": [0.0]}, 2, rng())
    assert not good.any()


def test_docstring_examples_run():
    import doctest

    result = doctest.testmod(init)
    assert result.attempted >= 8 and result.failed == 0
