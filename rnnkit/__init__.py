"""rnnkit: recurrent sequence models in NumPy with hand-derived backpropagation through time."""
from rnnkit.grad_mode import is_grad_enabled, no_grad
from rnnkit.layers import GRU, LSTM, MGU, RNN, GRUCell, LSTMCell, MGUCell, RNNCell
from rnnkit.module import Module

__version__ = "0.1.0"

__all__ = [
    "RNN", "GRU", "LSTM", "MGU",
    "RNNCell", "GRUCell", "LSTMCell", "MGUCell",
    "Module", "no_grad", "is_grad_enabled", "__version__",
]
