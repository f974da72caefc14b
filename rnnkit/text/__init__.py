"""Text for language models: vocabularies, corpora, tokenisation and batching of token streams.

- :mod:`rnnkit.text.vocab`: :class:`Vocabulary`, the token <-> id mapping saved as JSON.
- :mod:`rnnkit.text.corpus`: :func:`read_text` (a user's UTF-8 file) and :func:`builtin_corpus`
  (this Python's standard-library sources, the default training text).
- :mod:`rnnkit.text.data`: word and character tokens and sentences, parallel streams
  (:func:`batchify`), BPTT windows and padded sentence batches.

Nothing here knows about models; the language models (:mod:`rnnkit.lm`) and the
run layer (:mod:`rnnkit.runs`) build on it.
"""

from rnnkit.text.corpus import builtin_corpus, read_text, stdlib_sources
from rnnkit.text.data import (
    LEVELS,
    batchify,
    bptt_batches,
    char_sentences,
    char_tokens,
    pad_batch,
    sentences,
    tokenize,
    word_sentences,
    word_tokens,
)
from rnnkit.text.vocab import Vocabulary

__all__ = [
    "Vocabulary",
    "read_text",
    "builtin_corpus",
    "stdlib_sources",
    "LEVELS",
    "tokenize",
    "sentences",
    "word_tokens",
    "char_tokens",
    "word_sentences",
    "char_sentences",
    "batchify",
    "bptt_batches",
    "pad_batch",
]
