"""Moved to :mod:`rnnkit.text.vocab`; this module keeps the old import path working."""

from rnnkit.text.vocab import Vocabulary

__all__ = ["Vocabulary"]
