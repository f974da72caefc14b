"""Module.load_state_dict: values checked after the cast to each parameter's dtype, and only float kinds accepted."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch

import rnnkit


def _state(layer, **replace):
    state = layer.state_dict()
    state.update(replace)
    return state


def test_a_value_that_overflows_float32_is_refused_naming_the_key():
    layer = rnnkit.LSTM(3, 4, seed=0)  # float32
    before = layer.state_dict()
    bad = before["weight_hh_l0"].astype(np.float64)
    bad[2, 1] = 1e300
    fresh = {k: v + 1 for k, v in before.items()}  # every other key would change if anything were copied
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "overflow encountered in cast" either: one clear error
        with pytest.raises(
            ValueError,
            match=re.escape("LSTM.load_state_dict: weight_hh_l0 must fit in float32, got 1e+300, which overflows"),
        ):
            layer.load_state_dict(dict(fresh, weight_hh_l0=bad))
    for k, v in layer.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=f"{k} changed by a refused load")


def test_float64_values_within_range_are_cast():
    layer = rnnkit.GRU(3, 4, seed=0)
    src = {k: np.full(v.shape, 3.5e38 / 2, np.float64) for k, v in layer.state_dict().items()}
    layer.load_state_dict(src)
    assert all(v.dtype == np.float32 and np.isfinite(v).all() for v in layer.params.values())
    tensors = {k: torch.zeros(v.shape, dtype=torch.float16) for k, v in layer.state_dict().items()}
    layer.load_state_dict(tensors)
    assert all(not v.any() for v in layer.params.values())


@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.uint8, np.bool_, np.complex64, object])
def test_non_float_kinds_are_refused(dtype):
    layer = rnnkit.RNN(3, 4, seed=0)
    value = np.ones(layer.params["bias_hh_l0"].shape, dtype=dtype)
    with pytest.raises(
        TypeError,
        match=re.escape(
            f"RNN.load_state_dict: bias_hh_l0 must hold floating-point numbers, got dtype {np.dtype(dtype)}"
        ),
    ):
        layer.load_state_dict(_state(layer, bias_hh_l0=value))


def test_non_finite_values_are_still_refused():
    layer = rnnkit.RNN(3, 4, seed=0)
    value = np.zeros(layer.params["bias_hh_l0"].shape)
    value[0] = np.inf
    with pytest.raises(ValueError, match="RNN.load_state_dict: bias_hh_l0 must be finite"):
        layer.load_state_dict(_state(layer, bias_hh_l0=value))
