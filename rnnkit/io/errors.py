"""The error every loader of rnnkit raises for a file that is not what it should be."""

from __future__ import annotations

__all__ = ["CheckpointError"]


class CheckpointError(ValueError):
    """A file (or directory of files) rnnkit was asked to load is missing, damaged or incompatible.

    The message names the file, what is wrong, and what was expected.
    """
