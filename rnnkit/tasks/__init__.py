"""Generated sequence tasks (seeded, no downloads) and small models to train on them.

- :func:`adding_problem`: sum the two marked numbers (Hochreiter and Schmidhuber 1997).
- :func:`copy_memory`: repeat a message after T blank steps (Arjovsky et al. 2016).
- :func:`parity_task`: parity (or count modulo m) of a bit sequence.
- :class:`SequenceRegressor`, :class:`SequenceClassifier`: a recurrent layer and a read-out,
  following the Trainer's protocol.
"""

from rnnkit.tasks.adding import BASELINE_MSE, adding_problem
from rnnkit.tasks.copy_memory import copy_memory, copy_memory_baseline
from rnnkit.tasks.models import (
    SequenceClassifier,
    SequenceRegressor,
    TaskModelConfig,
    task_model_from_config,
)
from rnnkit.tasks.parity import parity_task

__all__ = [
    "adding_problem",
    "BASELINE_MSE",
    "copy_memory",
    "copy_memory_baseline",
    "parity_task",
    "SequenceRegressor",
    "SequenceClassifier",
    "TaskModelConfig",
    "task_model_from_config",
]
