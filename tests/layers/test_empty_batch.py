"""A batch of size 0 (B = 0): empty outputs and no gradient contribution, on both loop backends, as PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit import _kernels
from rnnkit.layers.layernorm_rnn import LayerNormGRU, LayerNormLSTM

BACKENDS = ["numpy"] + (["c"] if _kernels.available() else [])
LAYERS = {
    "RNN": rnnkit.RNN,
    "GRU": rnnkit.GRU,
    "LSTM": rnnkit.LSTM,
    "MGU": rnnkit.MGU,
    "LayerNormLSTM": LayerNormLSTM,
    "LayerNormGRU": LayerNormGRU,
}
CELLS = {"RNNCell": rnnkit.RNNCell, "GRUCell": rnnkit.GRUCell, "LSTMCell": rnnkit.LSTMCell, "MGUCell": rnnkit.MGUCell}


def _states(s):
    return s if isinstance(s, tuple) else (s,)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_layer_with_an_empty_batch_returns_empty_outputs(name, dtype, backend, batch_first):
    layer = LAYERS[name](3, 4, num_layers=2, bidirectional=True, batch_first=batch_first, dtype=dtype, seed=0)
    x = np.zeros((0, 5, 3) if batch_first else (5, 0, 3), dtype)
    with _kernels.use(backend):
        out, state = layer.forward(x, lengths=np.zeros(0, np.int64))
        assert out.shape == ((0, 5, 8) if batch_first else (5, 0, 8)) and out.dtype == dtype
        for s in _states(state):
            assert s.shape == (4, 0, 4)
        layer.zero_grad()
        dx, dstate = layer.backward(
            np.ones_like(out),
            tuple(np.ones_like(s) for s in _states(state)) if isinstance(state, tuple) else np.ones_like(state),
        )
    assert dx.shape == x.shape
    for s in _states(dstate):
        assert s.shape == (4, 0, 4)
    for k, g in layer.grads.items():
        assert not g.any(), f"{k}: an empty batch contributed to the gradient"


@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM"])
def test_empty_batch_matches_torch(name):
    ours = LAYERS[name](3, 4, num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    theirs = getattr(torch.nn, name)(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64)
    x = torch.zeros(5, 0, 3, dtype=torch.float64, requires_grad=True)
    out_t, state_t = theirs(x)
    out_t.sum().backward()
    for backend in BACKENDS:
        with _kernels.use(backend):
            out, state = ours.forward(x.detach().numpy())
            dx, _ = ours.backward(np.ones_like(out))
        assert out.shape == tuple(out_t.shape)
        assert [s.shape for s in _states(state)] == [tuple(s.shape) for s in _states(state_t)]
        assert dx.shape == tuple(x.grad.shape)
    assert all(not p.grad.any() for p in theirs.parameters())
    assert all(not g.any() for g in ours.grads.values())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(CELLS))
def test_cell_with_an_empty_batch(name, backend):
    cell = CELLS[name](3, 4, seed=0)
    with _kernels.use(backend):
        state = cell.forward(np.zeros((0, 3), np.float32))
        for s in _states(state):
            assert s.shape == (0, 4)
        dx, dstate = cell.backward(state[0] if isinstance(state, tuple) else state)
    assert dx.shape == (0, 3)
    for s in _states(dstate):
        assert s.shape == (0, 4)
    assert all(not g.any() for g in cell.grads.values())
    theirs = getattr(torch.nn, name)(3, 4) if name != "MGUCell" else None
    if theirs is not None:
        out_t = theirs(torch.zeros(0, 3))
        assert [tuple(s.shape) for s in _states(out_t)] == [s.shape for s in _states(state)]


def test_zero_length_sequence_is_still_refused():
    with pytest.raises(ValueError, match=r"LSTM.forward: x must have T >= 1, got shape \(0, 2, 3\)"):
        rnnkit.LSTM(3, 4).forward(np.zeros((0, 2, 3), np.float32))
