"""Element-wise activations and their stable forms (the maths is in ``rnnkit.functional``).

``sigmoid`` is computed as ``0.5 * (1 + tanh(x / 2))``: the same function,
with no ``exp`` that can overflow, so pre-activations of +/-500 (or +/-1e30)
give exact 0 or 1 and no RuntimeWarning, in float32 and float64 alike.
Derivatives are written in terms of the outputs, as backward passes use them:
``sigmoid'(a) = s * (1 - s)`` and ``tanh'(a) = 1 - t**2``.
"""

from rnnkit.functional import log_softmax, relu, sigmoid, softmax

__all__ = ["sigmoid", "softmax", "log_softmax", "relu"]
