"""Layers: sequence layers, single-step cells and the building blocks models are made of."""

from rnnkit.layers.cell import GRUCell, LSTMCell, MGUCell, RNNCell, StepCell, step_cell
from rnnkit.layers.dropout import Dropout
from rnnkit.layers.embedding import Embedding
from rnnkit.layers.layernorm import LayerNorm
from rnnkit.layers.layernorm_rnn import LayerNormGRU, LayerNormLSTM
from rnnkit.layers.linear import Linear
from rnnkit.layers.recurrent import GRU, LSTM, MGU, RNN, RecurrentLayer, recurrent_layer

__all__ = [
    "RNN",
    "GRU",
    "LSTM",
    "MGU",
    "RecurrentLayer",
    "recurrent_layer",
    "StepCell",
    "step_cell",
    "RNNCell",
    "GRUCell",
    "LSTMCell",
    "MGUCell",
    "Linear",
    "Embedding",
    "LayerNorm",
    "Dropout",
    "LayerNormLSTM",
    "LayerNormGRU",
]
