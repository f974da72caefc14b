"""Generated sequence tasks (seeded, no downloads) and small models to train on them.

- :func:`adding_problem`: sum the two marked numbers (Hochreiter and Schmidhuber 1997).
- :func:`copy_memory`: repeat a message after T blank steps (Arjovsky et al. 2016).
- :func:`parity_task`: parity (or count modulo m) of a bit sequence.
- Sequence pairs for encoder-decoders (:mod:`rnnkit.tasks.seq2seq_data` names them): :func:`date_pairs`
  (dates as people write them -> ISO), :func:`reversal_pairs` and :func:`sorting_pairs` (digit strings),
  :func:`name_pairs` (copying unseen names), :func:`multi_sentence_pairs` (a question about the k-th
  sentence); :func:`read_tsv` reads pairs from a file.
- :class:`SequenceRegressor`, :class:`SequenceClassifier`: a recurrent layer and a read-out,
  following the Trainer's protocol.
"""

from rnnkit.tasks.adding import BASELINE_MSE, adding_problem
from rnnkit.tasks.copy_memory import copy_memory, copy_memory_baseline
from rnnkit.tasks.dates import date_pairs
from rnnkit.tasks.digits import reversal_pairs, sorting_pairs
from rnnkit.tasks.models import (
    SequenceClassifier,
    SequenceRegressor,
    TaskModelConfig,
    task_model_from_config,
)
from rnnkit.tasks.multi_sentence import multi_sentence_pairs
from rnnkit.tasks.names import name_pairs
from rnnkit.tasks.parity import parity_task
from rnnkit.tasks.tsv import read_tsv

__all__ = [
    "adding_problem",
    "BASELINE_MSE",
    "copy_memory",
    "copy_memory_baseline",
    "parity_task",
    "date_pairs",
    "reversal_pairs",
    "sorting_pairs",
    "name_pairs",
    "multi_sentence_pairs",
    "read_tsv",
    "SequenceRegressor",
    "SequenceClassifier",
    "TaskModelConfig",
    "task_model_from_config",
]
