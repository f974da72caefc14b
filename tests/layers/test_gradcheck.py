"""Finite-difference checks (float64) of every cell family, variant and layer option."""

import numpy as np
import pytest

import rnnkit
from rnnkit.gradcheck import assert_gradient_close, numerical_gradient, relative_error

from helpers import VARIANTS, check_layer_gradients, check_step_cell_gradients, random_state, variant_id


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
@pytest.mark.parametrize("bias", [True, False])
def test_single_layer_gradients(variant, bias):
    name, kw, _ = variant
    rng = np.random.default_rng(1)
    layer = getattr(rnnkit, name)(3, 4, bias=bias, dtype=np.float64, seed=2, **kw)
    x = rng.normal(size=(5, 3, 3))
    hx = random_state(layer, 3, rng)
    assert check_layer_gradients(layer, x, hx) < 1e-6


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_stacked_bidirectional_lengths_gradients(variant):
    name, kw, _ = variant
    rng = np.random.default_rng(3)
    layer = getattr(rnnkit, name)(3, 3, num_layers=2, bidirectional=True, dtype=np.float64, seed=4, **kw)
    x = rng.normal(size=(4, 3, 3))
    hx = random_state(layer, 3, rng)
    assert check_layer_gradients(layer, x, hx, lengths=np.array([2, 4, 1])) < 1e-6


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_batch_first_and_unbatched_gradients(variant):
    name, kw, _ = variant
    rng = np.random.default_rng(5)
    layer = getattr(rnnkit, name)(2, 3, batch_first=True, dtype=np.float64, seed=6, **kw)
    assert check_layer_gradients(layer, rng.normal(size=(2, 4, 2)), random_state(layer, 2, rng)) < 1e-6
    # unbatched input (T, D) with state (L, H)
    assert check_layer_gradients(layer, rng.normal(size=(4, 2)), random_state(layer, 1, rng, unbatched=True)) < 1e-6


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_cell_step_gradients(variant):
    """The single-step cells through a 3-step loop, backpropagated by hand with explicit caches."""
    name, kw, _ = variant
    rng = np.random.default_rng(7)
    cell = getattr(rnnkit, name + "Cell")(3, 4, dtype=np.float64, seed=8, **kw)
    check_step_cell_gradients(cell, rng, pair=name == "LSTM")


def test_gradcheck_catches_a_wrong_gradient():
    """The checker itself must fail on a wrong derivative, naming the parameter and index."""
    w = np.array([0.3, -1.2, 2.0])
    f = lambda: float(np.sum(np.sin(w) * np.array([1.0, 2.0, 3.0])))
    numeric = numerical_gradient(f, w)
    wrong = np.cos(w) * np.array([1.0, 2.0, 3.0])
    wrong[2] *= 1.001
    with pytest.raises(AssertionError, match=r"w: relative error .* worst at index \(2,\)"):
        assert_gradient_close("w", wrong, numeric)
    assert relative_error(np.cos(w) * np.array([1.0, 2.0, 3.0]), numeric) < 1e-8
