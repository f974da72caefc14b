"""Moved to :mod:`rnnkit.text.corpus`; this module keeps the old import path working."""

from rnnkit.text.corpus import builtin_corpus, stdlib_sources

__all__ = ["builtin_corpus", "stdlib_sources"]
