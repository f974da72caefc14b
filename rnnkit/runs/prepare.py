"""Tokenise a large text once into memory-mapped token ids: what ``rnnkit lm prepare`` runs.

The corpus directory it writes (:mod:`rnnkit.text.mmap_corpus`)::

    OUT/
        vocab.json    the vocabulary of the training text
        train.npy     the training text's token ids, memory-mapped when read
        valid.npy     the validation text's, if --valid is given
        corpus.json   level, token counts, dtype; written last, it marks the corpus complete

``rnnkit lm train --data OUT`` then streams its windows from the mapping
(:func:`rnnkit.runs.lm.train`), with the same tokens, vocabulary and batches
as training from the text itself. Like a run directory, ``OUT`` is refused
when it already holds a prepared corpus unless ``overwrite`` is given.

The fields of :class:`PrepareConfig` are the flags of ``rnnkit lm prepare``.

Example
-------
>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> _ = open(os.path.join(d, "t.txt"), "w").write("the cat sat\\nthe dog sat\\n")
>>> meta = prepare(PrepareConfig(data=os.path.join(d, "t.txt")), os.path.join(d, "prep"), log_fn=lambda line: None)
>>> meta["tokens"], meta["vocab_size"], sorted(os.listdir(os.path.join(d, "prep")))
({'train': 8}, 6, ['corpus.json', 'train.npy', 'vocab.json'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnkit._validate import check_choice, check_positive_int
from rnnkit.text import mmap_corpus
from rnnkit.text.data import LEVELS

__all__ = ["PrepareConfig", "prepare"]


@dataclass(frozen=True)
class PrepareConfig:
    """Everything ``rnnkit lm prepare`` can be told; ``data`` is required."""

    data: str | None = field(
        default=None, metadata={"help": "Plain UTF-8 training text, read line by line.", "metavar": "FILE"}
    )
    valid: str | None = field(
        default=None, metadata={"help": "Validation text, encoded with the training vocabulary.", "metavar": "FILE"}
    )
    level: str = field(
        default="word", metadata={"help": "Tokens: characters or whitespace-separated words.", "choices": LEVELS}
    )
    min_count: int = field(default=1, metadata={"help": "Tokens seen fewer times become <unk>."})
    max_vocab: int | None = field(
        default=None, metadata={"help": "Largest vocabulary, special tokens included (none: no limit)."}
    )

    def __post_init__(self):
        w = "PrepareConfig"
        if not isinstance(self.data, str) or not self.data:
            raise ValueError(f"{w}: data must be the path of a text file, got {self.data!r}")
        check_choice(w, "level", self.level, LEVELS)
        check_positive_int(w, "min_count", self.min_count)
        if self.max_vocab is not None:
            check_positive_int(w, "max_vocab", self.max_vocab, minimum=3)


def prepare(cfg: PrepareConfig, out_dir: str | Path, *, overwrite: bool = False, log_fn: Any = print) -> dict:
    """Write the prepared corpus of ``cfg`` into ``out_dir``; return its corpus.json contents.

    Raises FileExistsError if ``out_dir`` already holds a prepared corpus and
    not ``overwrite``, NotADirectoryError if it is a file; both before any
    text is read.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out: {out} is a file, not a directory")
    found = [name for name in mmap_corpus.CORPUS_FILES if (out / name).exists()]
    if found and not overwrite:
        raise FileExistsError(
            f"--out: {out} already holds a prepared corpus ({found[0]}); pass --overwrite to replace it"
        )
    meta = mmap_corpus.prepare(
        cfg.data, out, valid=cfg.valid, level=cfg.level, min_count=cfg.min_count, max_vocab=cfg.max_vocab
    )
    counts = ", ".join(f"{n:,} {split}" for split, n in meta["tokens"].items())
    log_fn(f"{out}: {meta['level']}-level corpus, vocabulary {meta['vocab_size']:,}, tokens: {counts}")
    return meta
