"""rnnkit: recurrent sequence models in NumPy with hand-derived backpropagation through time."""
from rnnkit.grad_mode import is_grad_enabled, no_grad
from rnnkit.module import Module

__version__ = "0.1.0"

__all__ = ["Module", "no_grad", "is_grad_enabled", "__version__"]
