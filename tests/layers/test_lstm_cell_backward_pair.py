"""LSTMCell.backward takes the gradient in the (h, c) structure its forward returned (and still as two arguments)."""

from __future__ import annotations

import numpy as np
import pytest

import rnnkit


@pytest.mark.parametrize("batched", [True, False])
def test_pair_and_two_arguments_agree(batched):
    rng = np.random.default_rng(0)
    cell = rnnkit.LSTMCell(3, 5, dtype=np.float64, seed=0)
    x = rng.normal(size=(2, 3) if batched else (3,))
    h, c = cell.forward(x)
    dh, dc = rng.normal(size=h.shape), rng.normal(size=c.shape)
    results = []
    for call in (lambda: cell.backward(dh, dc), lambda: cell.backward((dh, dc)), lambda: cell.backward([dh, dc])):
        cell.zero_grad()
        dx, (dh0, dc0) = call()
        results.append((dx, dh0, dc0, {k: g.copy() for k, g in cell.grads.items()}))
    for other in results[1:]:
        for a, b in zip(results[0][:3], other[:3]):
            np.testing.assert_array_equal(a, b)
        for k in results[0][3]:
            np.testing.assert_array_equal(results[0][3][k], other[3][k])


def test_either_part_of_the_pair_may_be_none():
    rng = np.random.default_rng(1)
    cell = rnnkit.LSTMCell(3, 5, dtype=np.float64, seed=0)
    h, c = cell.forward(rng.normal(size=(2, 3)))
    dc = rng.normal(size=c.shape)
    cell.zero_grad()
    dx_a, _ = cell.backward((None, dc))
    cell.zero_grad()
    dx_b, _ = cell.backward(np.zeros_like(h), dc)
    np.testing.assert_array_equal(dx_a, dx_b)
    cell.zero_grad()
    dx_c, _ = cell.backward((h * 0 + 1, None))
    cell.zero_grad()
    dx_d, _ = cell.backward(np.ones_like(h))
    np.testing.assert_array_equal(dx_c, dx_d)


def test_bad_structures_name_the_argument():
    cell = rnnkit.LSTMCell(3, 5, seed=0)
    h, c = cell.forward(np.ones((2, 3), np.float32))
    with pytest.raises(
        TypeError,
        match=r"LSTMCell.backward: dh_next must be an array or the pair \(dh_next, dc_next\), got a tuple of 3",
    ):
        cell.backward((h, c, c))
    with pytest.raises(TypeError, match="LSTMCell.backward: dc_next must be None when dh_next is the pair"):
        cell.backward((h, c), c)
    with pytest.raises(ValueError, match=r"LSTMCell.backward: dc_next must have shape \(2, 5\), got \(5, 2\)"):
        cell.backward((h, c.T))
