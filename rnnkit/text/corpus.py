"""Corpora: text files read with clear errors, and the built-in corpus (this Python's standard-library sources).

Nothing third-party is shipped: ``builtin_corpus()`` reads the ``.py`` files
of the running interpreter's standard library (``sysconfig``'s "stdlib"
path, top-level modules only, in sorted order) until ``max_chars`` characters
are collected. The text is the same on every machine with the same Python
version, so runs on it are reproducible, and it is real, structured text
(code, comments, docstrings) on which a character-level model learns
visibly within minutes.

:func:`read_text` reads a user's UTF-8 file, naming the flag (``what``) and
the problem when the file is missing, empty or not UTF-8.
"""

from __future__ import annotations

import os
import stat
import sysconfig
from pathlib import Path

from rnnkit._validate import check_positive_int

__all__ = ["read_text", "file_kind", "builtin_corpus", "stdlib_sources"]


def read_text(path: str | Path, what: str = "data") -> str:
    """Read a UTF-8 text file; clear errors for a missing, empty or non-UTF-8 file.

    ``what`` names the input in the messages (``--data: no such file: ...``).

    Example
    -------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "t.txt")
    >>> _ = open(p, "w", encoding="utf-8").write("one line\\n")
    >>> read_text(p)
    'one line\\n'
    """
    p = Path(path)
    if not p.is_file():
        kind = file_kind(p)
        if kind == "nothing":
            raise FileNotFoundError(f"--{what}: no such file: {p}")
        raise ValueError(f"--{what}: {p} is {kind}, not a file")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"--{what}: {p} is not UTF-8 text (byte {e.start} is {raw[e.start]:#04x})") from None
    if not text.strip():
        raise ValueError(f"--{what}: {p} is empty")
    return text


def file_kind(path: str | Path) -> str:
    """What is at ``path``, in words for a message: "a file", "a directory", "a FIFO (named pipe)", "a device",
    "a socket" or "nothing"."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return "nothing"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a file"


def stdlib_sources() -> list[Path]:
    """The standard library's top-level ``.py`` files, sorted by name."""
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(p for p in root.glob("*.py") if p.is_file())


def builtin_corpus(max_chars: int = 2_000_000) -> str:
    """Up to ``max_chars`` characters of standard-library source, whole files in name order.

    Raises ``OSError`` with a clear message if this Python has no ``.py``
    sources (some minimal installations ship only byte code).
    """
    max_chars = check_positive_int("builtin_corpus", "max_chars", max_chars)
    parts, total = [], 0
    for path in stdlib_sources():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        parts.append(text)
        total += len(text)
        if total >= max_chars:
            break
    if not parts:
        raise OSError(
            f"builtin_corpus: no readable .py files in {sysconfig.get_paths()['stdlib']}; "
            "pass your own text with --data FILE"
        )
    return "".join(parts)[:max_chars]
