"""Activations: exact at the extremes, correct on any real input."""

import warnings

import numpy as np
import pytest

from rnnkit.activations import log_softmax, sigmoid, softmax


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_matches_the_definition_and_never_overflows(dtype):
    x = np.linspace(-30, 30, 121).astype(dtype)
    np.testing.assert_allclose(
        sigmoid(x),
        1 / (1 + np.exp(-x.astype(np.float64))),
        rtol=2e-6 if dtype == np.float32 else 1e-12,
        atol=1e-7 if dtype == np.float32 else 1e-15,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ext = sigmoid(np.array([-1e30, -500.0, 500.0, 1e30], dtype=dtype))
    assert ext.dtype == dtype and list(ext) == [0.0, 0.0, 1.0, 1.0]


def test_scalars_and_integers_are_accepted():
    assert sigmoid(0) == 0.5 and sigmoid(np.float64(0.0)).shape == ()
    np.testing.assert_allclose(softmax(np.array([1, 2, 3])), np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum())
    np.testing.assert_allclose(np.exp(log_softmax(np.array([[0, 0]]))), [[0.5, 0.5]])


def test_softmax_is_shift_invariant_and_stable():
    x = np.array([[1000.0, 1001.0, 1002.0], [-1e4, 0.0, 1e4]])
    p = softmax(x)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0)
    np.testing.assert_allclose(p[0], softmax(np.array([0.0, 1.0, 2.0])))
    np.testing.assert_allclose(np.exp(log_softmax(x)), p, atol=1e-15)
