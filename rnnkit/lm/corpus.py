"""The built-in corpus: the Python standard library's own source files on this machine.

Nothing third-party is shipped: ``builtin_corpus()`` reads the ``.py`` files
of the running interpreter's standard library (``sysconfig``'s "stdlib"
path, top-level modules only, in sorted order) until ``max_chars`` characters
are collected. The text is the same on every machine with the same Python
version, so runs on it are reproducible, and it is real, structured text
(code, comments, docstrings) on which a character-level model learns
visibly within minutes.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

from rnnkit._validate import check_positive_int


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
