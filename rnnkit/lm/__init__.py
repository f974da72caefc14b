"""Language models: vocabularies, batching of token streams, n-gram and recurrent models.

Decoding (sampling, greedy, beam search) for every model lives in :mod:`rnnkit.decoding`.
"""

from rnnkit.lm.data import (
    batchify,
    bptt_batches,
    char_sentences,
    char_tokens,
    pad_batch,
    word_sentences,
    word_tokens,
)
from rnnkit.lm.ngram import SMOOTHINGS, NGramLM, kn_discounts
from rnnkit.lm.nnlm import NNLM, NNLMConfig, ngram_windows
from rnnkit.lm.rnnlm import RNNLM, RNNLMConfig
from rnnkit.lm.vocab import Vocabulary

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
