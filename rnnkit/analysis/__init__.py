"""Measure textbook claims about gradients in recurrent networks (Pascanu et al. 2013) on rnnkit's layers.

- :func:`gradient_flow`: ||dL_T/ds_t|| and ||ds_T/ds_t|| for every step t, from the layer's own backward pass.
- :func:`recurrent_spectrum`: singular values of W_hh per gate block, and the plain RNN's bound
  ||J_{t+k} ... J_{t+1}|| <= (sigma_max max|f'|)^k.
- :func:`gate_statistics`: mean gate activations per unit and the fraction of saturated gates over time.
- :mod:`rnnkit.analysis.experiments`: the long-range tasks per cell and length, and a clipping demo.
- :mod:`rnnkit.analysis.plots`: figures of all of the above (matplotlib, imported when used).

See docs/analysis.md for a walk through the notes' claims with these tools.
"""

from rnnkit.analysis.gates import GateStatistics, gate_statistics
from rnnkit.analysis.gradflow import GradientFlow, gradient_flow
from rnnkit.analysis.spectrum import RecurrentSpectrum, recurrent_spectrum

__all__ = [
    "gradient_flow",
    "GradientFlow",
    "recurrent_spectrum",
    "RecurrentSpectrum",
    "gate_statistics",
    "GateStatistics",
]
