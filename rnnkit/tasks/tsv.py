"""Sequence pairs from a TSV file: one ``source<TAB>target`` per line, UTF-8.

Every problem is reported as one line naming the file and the line (a
``ValueError``, which the command line prints and exits 2 on)::

    pairs.tsv: line 7: no tab (expected source<TAB>target)

The file is refused when it is empty, is not UTF-8 (the line of the first bad
byte is named), or has a line that is empty, has no tab or more than one,
has an empty side, or has a side longer than the limit in tokens (``level``
"char": characters, "word": whitespace-separated words). A final newline is
optional; Windows line ends are accepted.

Example
-------
>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "pairs.tsv")
>>> _ = open(path, "w", encoding="utf-8").write("24.11.26\\t2026-11-24\\nNov 1, 1999\\t1999-11-01\\n")
>>> read_tsv(path, level="char")
[('24.11.26', '2026-11-24'), ('Nov 1, 1999', '1999-11-01')]
>>> _ = open(path, "w", encoding="utf-8").write("24.11.26\\t2026-11-24\\n\\n")
>>> read_tsv(path, level="char")  # doctest: +ELLIPSIS
Traceback (most recent call last):
    ...
ValueError: ...pairs.tsv: line 2: empty line (expected source<TAB>target)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from rnnkit._validate import check_choice, check_positive_int

DEFAULT_MAX_LENGTH = 400


def _length(text: str, level: str) -> int:
    return len(text) if level == "char" else len(text.split())


def read_tsv(
    path: str | os.PathLike,
    *,
    level: str,
    max_source_length: int = DEFAULT_MAX_LENGTH,
    max_target_length: int = DEFAULT_MAX_LENGTH,
) -> list[tuple[str, str]]:
    """The (source, target) pairs of a TSV file, checked line by line (see the module docstring)."""
    check_choice("read_tsv", "level", level, ("char", "word"))
    limits = {
        "source": check_positive_int("read_tsv", "max_source_length", max_source_length),
        "target": check_positive_int("read_tsv", "max_target_length", max_target_length),
    }
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ValueError(f"{p}: line {line}: not UTF-8 (byte {raw[e.start]:#04x} at offset {e.start})") from None
    if text.startswith("\ufeff"):  # a byte-order mark some editors write
        text = text[1:]
    if not text.strip():
        raise ValueError(f"{p}: empty file (expected lines source<TAB>target)")
    lines = text.split("\n")
    if lines[-1] == "":  # the final newline ends the last line; it does not start an empty one
        lines.pop()
    pairs = []
    for number, line in enumerate(lines, start=1):
        line = line[:-1] if line.endswith("\r") else line
        where = f"{p}: line {number}"
        if not line.strip():
            raise ValueError(f"{where}: empty line (expected source<TAB>target)")
        tabs = line.count("\t")
        if tabs == 0:
            raise ValueError(f"{where}: no tab (expected source<TAB>target)")
        if tabs > 1:
            raise ValueError(f"{where}: {tabs} tabs (expected exactly one, between source and target)")
        source, target = line.split("\t")
        for side, value in (("source", source), ("target", target)):
            if not value.strip():
                raise ValueError(f"{where}: empty {side}")
            n = _length(value, level)
            if n > limits[side]:
                unit = "characters" if level == "char" else "words"
                raise ValueError(
                    f"{where}: {side} too long: {n} {unit}, the limit is {limits[side]} (max_{side}_length)"
                )
        pairs.append((source, target))
    return pairs


def write_tsv(path: str | os.PathLike, pairs: Iterable[tuple[str, str]]) -> None:
    """Write (source, target) pairs atomically; a tab or newline inside a side is refused."""
    from rnnkit.io import atomic_write

    lines = []
    for i, (s, t) in enumerate(pairs):
        for side, v in (("source", s), ("target", t)):
            if not isinstance(v, str) or "\t" in v or "\n" in v or not v.strip():
                raise ValueError(
                    f"write_tsv: pair {i}: {side} must be a non-empty str without tab or newline, got {v!r}"
                )
        lines.append(f"{s}\t{t}\n")
    atomic_write(path, ["".join(lines).encode("utf-8")])
