"""rnnkit: recurrent sequence models in NumPy with hand-derived backpropagation through time."""

# The one place the version is written: pyproject.toml reads it (setuptools dynamic version).
__version__ = "0.1.0"

# ruff: noqa: E402  (the version comes first so modules imported below can read it)

from rnnkit import init
from rnnkit.clip import clip_grad_norm, clip_grad_value, global_norm
from rnnkit.grad_mode import is_grad_enabled, no_grad
from rnnkit.layers import (
    GRU,
    LSTM,
    MGU,
    RNN,
    Dropout,
    Embedding,
    GRUCell,
    LayerNorm,
    LayerNormGRU,
    LayerNormLSTM,
    Linear,
    LSTMCell,
    MGUCell,
    RNNCell,
)
from rnnkit.losses import bits_per_char, cross_entropy, perplexity
from rnnkit.module import Module
from rnnkit.optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from rnnkit.schedules import CosineAnnealing, ReduceLROnPlateau, StepDecay

__all__ = [
    "RNN",
    "GRU",
    "LSTM",
    "MGU",
    "RNNCell",
    "GRUCell",
    "LSTMCell",
    "MGUCell",
    "LayerNormLSTM",
    "LayerNormGRU",
    "Linear",
    "Embedding",
    "LayerNorm",
    "Dropout",
    "cross_entropy",
    "perplexity",
    "bits_per_char",
    "Optimizer",
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adam",
    "AdamW",
    "StepDecay",
    "ReduceLROnPlateau",
    "CosineAnnealing",
    "clip_grad_norm",
    "clip_grad_value",
    "global_norm",
    "init",
    "Module",
    "no_grad",
    "is_grad_enabled",
    "__version__",
]
