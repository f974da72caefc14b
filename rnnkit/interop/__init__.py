"""Weights to and from other frameworks, with the gate orders and bias conventions checked.

- :mod:`rnnkit.interop.torch`: PyTorch state_dicts, safetensors files that
  PyTorch loads as they are, and the equivalent ``torch.nn`` module.
- :mod:`rnnkit.interop.keras`: Keras 3 ``LSTM`` / ``GRU`` / ``SimpleRNN``
  weight lists (transposed kernels, gates z, r, h, one bias where Keras has one).

Neither imports its framework until a function needs it: the conversions run
on NumPy arrays. The conventions side by side are in ``docs/interop.md``.

Example
-------
>>> import rnnkit
>>> from rnnkit.interop import keras, torch
>>> sorted(torch.to_torch_state_dict(rnnkit.RNN(2, 3)))[0], len(keras.to_keras_weights(rnnkit.RNN(2, 3)))
('bias_hh_l0', 3)
"""

from rnnkit.interop import keras, torch

__all__ = ["keras", "torch"]
