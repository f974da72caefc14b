"""Language models: n-gram (:mod:`rnnkit.lm.ngram`), window (:mod:`rnnkit.lm.nnlm`), recurrent (:mod:`rnnkit.lm.rnnlm`).

Text (vocabularies, corpora, tokens and batching) lives in :mod:`rnnkit.text`;
its public names are re-exported here so older imports keep working. Training
runs (``rnnkit lm train``) live in :mod:`rnnkit.runs`. Decoding (sampling,
greedy, beam search) for every model lives in :mod:`rnnkit.decoding`.
"""

import sys

from rnnkit.lm.ngram import SMOOTHINGS, NGramLM, kn_discounts
from rnnkit.lm.nnlm import NNLM, NNLMConfig, ngram_windows
from rnnkit.lm.rnnlm import RNNLM, RNNLMConfig
from rnnkit.text import corpus, data, vocab
from rnnkit.text.data import (
    batchify,
    bptt_batches,
    char_sentences,
    char_tokens,
    pad_batch,
    word_sentences,
    word_tokens,
)
from rnnkit.text.vocab import Vocabulary

__all__ = [
    "Vocabulary",
    "word_tokens",
    "char_tokens",
    "word_sentences",
    "char_sentences",
    "batchify",
    "bptt_batches",
    "pad_batch",
    "NGramLM",
    "SMOOTHINGS",
    "kn_discounts",
    "RNNLM",
    "RNNLMConfig",
    "NNLM",
    "NNLMConfig",
    "ngram_windows",
]

# rnnkit.lm.vocab, rnnkit.lm.data and rnnkit.lm.corpus moved to rnnkit.text; their old import paths
# name the same module objects, so `from rnnkit.lm.vocab import Vocabulary` keeps working.
for _module in (corpus, data, vocab):
    sys.modules[f"{__name__}.{_module.__name__.rpartition('.')[2]}"] = _module
