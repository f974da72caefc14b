"""Moved to :mod:`rnnkit.text.data`; this module keeps the old import path working."""

from rnnkit.text.data import batchify, bptt_batches, char_sentences, char_tokens, pad_batch, word_sentences, word_tokens

__all__ = ["batchify", "bptt_batches", "char_sentences", "char_tokens", "pad_batch", "word_sentences", "word_tokens"]
