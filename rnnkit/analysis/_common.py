"""Pieces shared by the analysis functions: finding the recurrent layer, leaving a model as it was found."""

from __future__ import annotations

import contextlib

import numpy as np

from rnnkit._validate import as_float_array, fmt_shape
from rnnkit.layers.recurrent import RecurrentLayer
from rnnkit.module import Module


def find_layer(where: str, model) -> RecurrentLayer:
    """``model`` itself if it is a recurrent layer, else its ``.rnn`` attribute."""
    if isinstance(model, RecurrentLayer):
        return model
    layer = getattr(model, "rnn", None)
    if isinstance(layer, RecurrentLayer):
        return layer
    raise TypeError(
        f"{where}: model must be an rnnkit recurrent layer (RNN, GRU, LSTM, MGU) or a model "
        f"holding one as .rnn, got {type(model).__name__}"
    )


def time_major_input(where: str, layer: RecurrentLayer, x) -> np.ndarray:
    """x in the layer's layout ((T, B, D), or (B, T, D) with batch_first) as a time-major (T, B, D) array."""
    x = as_float_array(where, "x", x, layer.dtype)
    want = "(B, T, D)" if layer.batch_first else "(T, B, D)"
    if x.ndim != 3 or x.shape[2] != layer.input_size or 0 in x.shape:
        raise ValueError(f"{where}: x must have shape {want} with D = {layer.input_size}, got {fmt_shape(x.shape)}")
    return np.ascontiguousarray(x.transpose(1, 0, 2)) if layer.batch_first else x


def layer_input(layer: RecurrentLayer, x_tm: np.ndarray) -> np.ndarray:
    """A time-major array in the layout the layer's forward expects."""
    return np.ascontiguousarray(x_tm.transpose(1, 0, 2)) if layer.batch_first else x_tm


@contextlib.contextmanager
def left_as_found(model, layer: RecurrentLayer):
    """Run analysis passes in eval mode (no dropout); restore every mode, gradient and the layer's last cache.

    The passes call the layer's own forward and backward, which add into the
    gradients and replace the cache; a user's pending ``backward`` or
    optimiser step is not disturbed.
    """
    owner = model if isinstance(model, Module) else layer
    modes = [(m, m.training) for _, m in owner.named_modules()]
    grads = {k: v.copy() for k, v in owner.grads.items()}
    cache, ran = layer._cache, layer._forward_ran
    try:
        owner.eval()
        yield
    finally:
        for m, mode in modes:
            m.training = mode
        live = owner.grads
        for k, v in grads.items():
            np.copyto(live[k], v)
        layer._cache, layer._forward_ran = cache, ran


class StateLayout:
    """The recurrent state of a unidirectional layer as one flat vector per sequence.

    s_t = [h_t of layer 0, ..., h_t of layer L-1, (LSTM) c_t of layer 0, ..., c_t of layer L-1],
    S = L * H_out (+ L * H). ``hidden`` is the slice of the h parts, ``top`` that of the last layer's h.
    """

    def __init__(self, layer: RecurrentLayer) -> None:
        self.L, self.Ho, self.H = layer.num_layers, layer.output_size, layer.hidden_size
        self.lstm = layer._has_cell_state
        self.size = self.L * self.Ho + (self.L * self.H if self.lstm else 0)
        self.hidden = slice(0, self.L * self.Ho)
        self.top = slice((self.L - 1) * self.Ho, self.L * self.Ho)

    def flatten(self, state) -> np.ndarray:
        """A layer state ((L, B, H_out), or the LSTM's pair) -> (B, S)."""
        parts = state if self.lstm else (state,)
        B = parts[0].shape[1]
        return np.concatenate([p.transpose(1, 0, 2).reshape(B, -1) for p in parts], axis=1)

    def unflatten(self, v: np.ndarray):
        """(B, S) -> the layer's state (h, or (h, c))."""
        B = v.shape[0]
        h = np.ascontiguousarray(v[:, self.hidden].reshape(B, self.L, self.Ho).transpose(1, 0, 2))
        if not self.lstm:
            return h
        c = np.ascontiguousarray(v[:, self.L * self.Ho :].reshape(B, self.L, self.H).transpose(1, 0, 2))
        return h, c
