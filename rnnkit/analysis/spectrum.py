"""Singular values of the recurrent weights, and the bound they put on products of Jacobians.

The singular-value argument of Pascanu, Mikolov and Bengio 2013 ("On the difficulty of training
recurrent neural networks"): for a plain RNN
h_t = f(W_hh h_{t-1} + ...), the one-step Jacobian is
J_t = diag(f'(a_t)) W_hh, so for any k consecutive steps

    || J_{t+k} ... J_{t+1} ||  <=  prod ||diag(f')|| ||W_hh||  <=  (sigma_max * max|f'|)^k

with sigma_max the largest singular value of W_hh and max|f'| = 1 for tanh
and relu (1/4 for a sigmoid). If sigma_max * max|f'| < 1 every gradient
reaching back k steps shrinks at least geometrically: the plain RNN forgets.
The converse is only a possibility: sigma_max > 1 is *necessary* for
exploding gradients, not sufficient (tanh' < 1 away from 0 pulls the other way).

Gated cells stack one block of rows per gate (PyTorch's order: GRU r, z, n;
LSTM i, f, g, o; MGU f, n); :func:`recurrent_spectrum` gives the singular
values of each block. Their state Jacobian is not diag(f') W (a GRU's holds
the identity-like term diag(z), an LSTM's c path diag(f)), so no such bound
applies, which is the point of gating. The exception is the "binary
gates" view: a GRU clamped to r=1, z=0 (``clamp_gates``) or an MGU clamped to
f=1 *is* a plain tanh RNN with the candidate's weights W_hn, and its rate is
reported. (An LSTM clamped to i=1, f=0, o=1 carries the pair (h, c), so it
gets none.)

Measured products to compare with: ``gradient_flow(layer, x).jacobian_by_steps()``.

Example
-------
>>> import numpy as np, rnnkit
>>> spec = recurrent_spectrum(rnnkit.GRU(3, 8, seed=0).clamp_gates(r=1, z=0))
>>> sorted(spec.singular_values["weight_hh_l0"]), spec.max_derivative["z"]
(['n', 'r', 'z'], 0.25)
>>> rate = spec.rates["weight_hh_l0"]
>>> bool(np.isclose(rate, spec.singular_values["weight_hh_l0"]["n"][0]))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit.analysis._common import find_layer
from rnnkit.layers.recurrent import RecurrentLayer
from rnnkit.module import Module

# max over a of |f'(a)|
MAX_DERIVATIVE = {"sigmoid": 0.25, "hard_sigmoid": 1.0 / 6.0, "tanh": 1.0, "relu": 1.0, "linear": 1.0}


def gate_names(layer: RecurrentLayer) -> tuple[str, ...]:
    """The gate blocks of the layer's weights, in row order (its family's registry entry)."""
    return layer.family.gates(layer.variant)


def _activations(layer) -> dict[str, str]:
    return layer.family.gate_activations(layer.variant)


def _plain_rnn_block(layer) -> str | None:
    """The block whose weights drive h_{t-1} -> h_t when the layer is (or is clamped to) a plain RNN."""
    return layer.family.plain_rnn_block(layer.clamped_gates, layer.variant)


@dataclass
class RecurrentSpectrum:
    """Singular values of every W_hh, per gate block; see the module docstring."""

    singular_values: dict  # "weight_hh_l{k}{suffix}" -> gate -> (min(H, H_out),) descending
    max_derivative: dict  # gate -> max |f'| of that gate's activation
    rates: dict  # "weight_hh_l{k}{suffix}" -> sigma_max * max|f'| if a plain RNN (or clamped to one), else None

    def sigma_max(self, name: str = "weight_hh_l0", gate: str | None = None) -> float:
        """The largest singular value of one gate block (default: the only or the candidate block)."""
        blocks = self.singular_values[name]
        gate = gate or ("h" if "h" in blocks else "n" if "n" in blocks else "g")
        return float(blocks[gate][0])

    def gains(self, name: str = "weight_hh_l0") -> dict:
        """gate -> sigma_max * max|f'|: the largest factor by which that gate's pre-activation can amplify h_{t-1}."""
        return {g: float(v[0]) * self.max_derivative[g] for g, v in self.singular_values[name].items()}

    def bound(self, k: int, name: str = "weight_hh_l0") -> np.ndarray:
        """(k+1,) the bound rate**j on ||J_{t+j} ... J_{t+1}|| for j = 0..k (plain RNNs only).

        It bounds one layer's own recurrence h_{t-1} -> h_t. In a stacked RNN the
        whole state's Jacobian also holds the input weights of the upper layers,
        so compare a single-layer RNN's ``jacobian_by_steps()`` with it.
        """
        rate = self.rates[name]
        if rate is None:
            raise ValueError(
                f"RecurrentSpectrum.bound: {name} is not a plain RNN's (nor clamped to one); "
                "no sigma_max bound applies to gated state Jacobians"
            )
        return rate ** np.arange(k + 1, dtype=np.float64)


def recurrent_spectrum(model: Module) -> RecurrentSpectrum:
    """Singular values of each recurrent weight matrix, per gate block, with the plain-RNN rate.

    ``model`` is a recurrent layer or a model holding one as ``.rnn``. Weights
    of every layer and direction are included, named as in ``state_dict``.
    """
    layer = find_layer("recurrent_spectrum", model)
    gates = gate_names(layer)
    acts = _activations(layer)
    plain = _plain_rnn_block(layer)
    H = layer.hidden_size
    values, rates = {}, {}
    for name, w in layer.params.items():
        if not name.startswith("weight_hh"):
            continue
        w = np.asarray(w, dtype=np.float64)
        values[name] = {g: np.linalg.svd(w[k * H : (k + 1) * H], compute_uv=False) for k, g in enumerate(gates)}
        rates[name] = None if plain is None else float(values[name][plain][0]) * MAX_DERIVATIVE[acts[plain]]
    return RecurrentSpectrum(values, {g: MAX_DERIVATIVE[a] for g, a in acts.items()}, rates)
