"""Constructors name a bad seed, and refuse dtype=None (numpy reads it as float64, overriding the float32 default)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import rnnkit
from rnnkit.layers import Dropout, Embedding, LayerNorm, Linear
from rnnkit.layers.layernorm_rnn import LayerNormGRU, LayerNormLSTM

BUILDERS = {
    "LSTM": lambda **kw: rnnkit.LSTM(3, 4, **kw),
    "GRU": lambda **kw: rnnkit.GRU(3, 4, **kw),
    "RNN": lambda **kw: rnnkit.RNN(3, 4, **kw),
    "MGU": lambda **kw: rnnkit.MGU(3, 4, **kw),
    "LayerNormLSTM": lambda **kw: LayerNormLSTM(3, 4, **kw),
    "LayerNormGRU": lambda **kw: LayerNormGRU(3, 4, **kw),
    "LSTMCell": lambda **kw: rnnkit.LSTMCell(3, 4, **kw),
    "GRUCell": lambda **kw: rnnkit.GRUCell(3, 4, **kw),
    "RNNCell": lambda **kw: rnnkit.RNNCell(3, 4, **kw),
    "MGUCell": lambda **kw: rnnkit.MGUCell(3, 4, **kw),
    "Linear": lambda **kw: Linear(3, 4, **kw),
    "Embedding": lambda **kw: Embedding(3, 4, **kw),
}


@pytest.mark.parametrize("name", list(BUILDERS) + ["Dropout"])
@pytest.mark.parametrize("seed", [-1, 1.5, "ab"])
def test_a_bad_seed_is_named(name, seed):
    build = BUILDERS.get(name, lambda **kw: Dropout(0.5, **kw))
    with pytest.raises(
        TypeError,
        match=re.escape(f"{name}: seed must be None, a non-negative int or a np.random.Generator, got {seed!r}"),
    ):
        build(seed=seed)


@pytest.mark.parametrize("name", list(BUILDERS) + ["LayerNorm"])
def test_dtype_none_is_refused(name):
    build = BUILDERS.get(name, lambda **kw: LayerNorm(4, **kw))
    with pytest.raises(TypeError, match=re.escape(f"{name}: dtype must be float32 or float64, got None")):
        build(dtype=None)
    assert build(dtype=np.float64).dtype == np.float64
