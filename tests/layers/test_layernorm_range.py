"""LayerNorm stays finite, and correct, for inputs up to the largest value of the dtype."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.layers import LayerNorm
from rnnkit.layers.layernorm_rnn import LayerNormLSTM


def _reference(x):
    """float64 statistics of x / max|x| (exact scaling by a power of two), so nothing overflows in the reference."""
    x = x.astype(np.float64)
    s = 2.0 ** np.floor(np.log2(np.max(np.abs(x), axis=-1, keepdims=True)))
    xs = x / s
    xc = xs - xs.mean(-1, keepdims=True)
    return xc / np.sqrt((xc * xc).mean(-1, keepdims=True) + 1e-5 / s / s)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [1e10, 1e19, 1e20, 1e30, 0.99])  # x times scale * dtype max (0.99: near the top)
def test_layernorm_is_finite_and_correct_near_the_top_of_the_range(dtype, scale):
    rng = np.random.default_rng(0)
    top = float(np.finfo(dtype).max)
    mag = scale * top if scale < 1 else scale
    x = (rng.uniform(-1, 1, size=(4, 7)) * mag).astype(dtype)
    ln = LayerNorm(7, dtype=dtype)
    ln.weight[:] = rng.normal(size=7)
    ln.bias[:] = rng.normal(size=7)
    y = ln.forward(x)  # RuntimeWarnings are errors in this suite
    ref = _reference(x) * ln.weight.astype(np.float64) + ln.bias.astype(np.float64)
    assert np.isfinite(y).all()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, ref, atol=tol, rtol=0)
    dx = ln.backward(rng.normal(size=y.shape).astype(dtype))
    assert np.isfinite(dx).all() and np.isfinite(ln.grads["weight"]).all()


def test_layernorm_lstm_at_1e20_is_finite():
    layer = LayerNormLSTM(3, 4, seed=0)
    out, (h, c) = layer.forward(np.full((3, 2, 3), 1e20, np.float32) * np.array([1, -1, 0.5], np.float32))
    assert np.isfinite(out).all() and np.isfinite(c).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_constant_input_at_the_top_of_the_range_normalises_to_zero(dtype):
    top = np.finfo(dtype).max
    ln = LayerNorm(4, dtype=dtype)
    x = np.array([[top, top, top, top], [-top, -top, -top, -top]], dtype)  # the sum overflows; var(x) = 0
    y = ln.forward(x)
    np.testing.assert_array_equal(y, np.zeros_like(x))
    dx = ln.backward(np.ones_like(x))
    assert np.isfinite(dx).all()
