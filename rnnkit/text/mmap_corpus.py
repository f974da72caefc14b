"""Corpora larger than memory: token ids written once to a memory-mapped ``.npy``, streamed into TBPTT windows.

``prepare(data, out_dir)`` (what ``rnnkit lm prepare`` runs) reads the text file
line by line twice and never holds it: the first pass counts tokens (the
vocabulary and the stream's length L), the second encodes each chunk of lines
and writes the ids into ``np.lib.format.open_memmap`` at its offset. Each file
appears atomically (temporary name, flush, fsync, rename)::

    OUT/
        vocab.json            the vocabulary (rnnkit.text.Vocabulary), from the training file only
        train.npy             (L,) token ids, int32 (int64 past 2^31 - 1 tokens in the vocabulary)
        valid.npy             the same for --valid, if given
        corpus.json           {"format": "rnnkit.TokenCorpus", "level", "tokens": {"train": L, ...}, ...}

The tokens are exactly those of :func:`rnnkit.text.data.tokenize` on the
whole text (each line of ``str.splitlines``, then the end-of-line token).

``MappedStreamBatches(ids, batch_size, k1)`` gives the windows that
``StreamBatches(batchify(ids, batch_size), k1)`` gives, from the mapping: the
(N, B) layout is a strided view of the file, and each window is copied out
as int64 (T + 1 rows, B columns: a few kilobytes). Pages read through a
mapping count in the process's resident set until they are unmapped, so
every ``release_every`` windows the source tells the kernel it no longer
needs them (``madvise(MADV_DONTNEED)``; they stay in the page cache, free to
reclaim). Resident memory then stays bounded by the model and a few windows'
pages, whatever the corpus size. Where ``madvise`` is missing (not Linux or
macOS), the mapping still works and the kernel reclaims pages under pressure.
"""

from __future__ import annotations

import json
import mmap
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from rnnkit._validate import check_positive_int
from rnnkit.batches import StreamBatches, Window
from rnnkit.io import CheckpointError, atomic_write
from rnnkit.text.vocab import Vocabulary

__all__ = [
    "FORMAT",
    "CORPUS_FILES",
    "prepare",
    "is_prepared",
    "load_meta",
    "TokenIds",
    "MappedStreamBatches",
    "stream_from_prepared",
    "write_token_ids",
    "iter_line_tokens",
]

FORMAT = "rnnkit.TokenCorpus"
META_FILE, VOCAB_FILE = "corpus.json", "vocab.json"
SPLITS = ("train", "valid")
# Everything a prepared corpus consists of; corpus.json first: it is removed first and written last.
CORPUS_FILES = (META_FILE, VOCAB_FILE) + tuple(f"{split}.npy" for split in SPLITS)
LEVELS = ("char", "word")


def _eos(level: str) -> str:
    return "\n" if level == "char" else "<eos>"  # as rnnkit.text.data.tokenize


def iter_line_tokens(path: str | os.PathLike, level: str) -> Iterator[list[str]]:
    """Each line's tokens (the line's characters or words, then the end token), reading one line at a time."""
    eos = _eos(level)
    with open(path, encoding="utf-8") as f:
        for raw in f:  # universal newlines: \n, \r\n, \r end a line here
            for line in raw.splitlines() or [""]:  # the other separators str.splitlines knows
                yield (list(line) if level == "char" else line.split()) + [eos]


def _chunks(path, level: str, chunk_tokens: int):
    buf: list[str] = []
    for tokens in iter_line_tokens(path, level):
        buf.extend(tokens)
        if len(buf) >= chunk_tokens:
            yield buf
            buf = []
    if buf:
        yield buf


def write_token_ids(path: str | os.PathLike, chunks: Iterable[np.ndarray], length: int, dtype: DTypeLike) -> Path:
    """Write ``length`` ids from the iterable of id arrays ``chunks`` to the .npy ``path``, atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(length,))
        pos = 0
        for ids in chunks:
            ids = np.asarray(ids)
            if pos + ids.size > length:
                raise ValueError(f"write_token_ids: chunks must hold length={length} ids, got more")
            out[pos : pos + ids.size] = ids
            pos += ids.size
        if pos != length:
            raise ValueError(f"write_token_ids: chunks must hold length={length} ids, got {pos}")
        out.flush()
        del out
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)  # the commit: a reader sees the whole file or none
    finally:
        if tmp.exists():
            tmp.unlink()
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def prepare(
    data: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    valid: str | os.PathLike | None = None,
    level: str = "word",
    min_count: int = 1,
    max_vocab: int | None = None,
    chunk_tokens: int = 1 << 18,
) -> dict:
    """Build the vocabulary of ``data`` in one streaming pass and write its ids (and ``valid``'s) to ``out_dir``.

    Returns the corpus.json contents. Memory use is the vocabulary's counts
    and one chunk of ``chunk_tokens`` tokens, whatever the file's size. The
    files of a corpus already in ``out_dir`` (:data:`CORPUS_FILES`) are
    replaced: corpus.json first goes, then the new files are written, and
    corpus.json comes back last; refusing to overwrite is the caller's choice
    (:func:`rnnkit.runs.prepare.prepare`).
    """
    where = "prepare"
    if level not in LEVELS:
        raise ValueError(f"{where}: level must be one of {LEVELS}, got {level!r}")
    check_positive_int(where, "chunk_tokens", chunk_tokens)
    files = {"train": Path(data)} | ({"valid": Path(valid)} if valid is not None else {})
    for split, p in files.items():
        if not p.is_file():
            raise FileNotFoundError(f"--{'data' if split == 'train' else 'valid'}: no such file: {p}")
    counts: Counter = Counter()
    length = 0
    for tokens in iter_line_tokens(files["train"], level):  # pass 1: counts and length
        counts.update(tokens)
        length += len(tokens)
    if length == 0:
        raise ValueError(f"--data: {files['train']} is empty")
    vocab = Vocabulary.from_counts(counts, min_count=min_count, max_size=max_vocab, eos_token=_eos(level))
    dtype = np.int32 if len(vocab) < 2**31 else np.int64
    lengths = {"train": length}
    if "valid" in files:
        lengths["valid"] = sum(len(t) for t in iter_line_tokens(files["valid"], level))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in CORPUS_FILES:  # an earlier corpus here: unmark it first, so no mix of old and new reads as complete
        if (out / name).is_file():
            (out / name).unlink()
    for split, p in files.items():  # pass 2: encode and write, chunk by chunk
        chunks = (vocab.encode(c) for c in _chunks(p, level, chunk_tokens))
        write_token_ids(out / f"{split}.npy", chunks, lengths[split], dtype)
    atomic_write(out / VOCAB_FILE, [vocab.to_json().encode()])
    meta = {
        "format": FORMAT,
        "version": 1,
        "level": level,
        "tokens": lengths,
        "dtype": np.dtype(dtype).name,
        "vocab_size": len(vocab),
        "sources": {k: str(v) for k, v in files.items()},
    }
    atomic_write(out / META_FILE, [json.dumps(meta, indent=2).encode()])  # written last: marks the corpus complete
    return meta


def is_prepared(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a directory holding a complete prepared corpus (its corpus.json)."""
    return Path(path).is_dir() and (Path(path) / META_FILE).is_file()


def load_meta(path: str | os.PathLike) -> tuple[dict, Vocabulary]:
    """(corpus.json contents, vocabulary) of a prepared directory; CheckpointError if it is not one."""
    d = Path(path)
    if not is_prepared(d):
        raise CheckpointError(f"{d}: not a corpus prepared by 'rnnkit lm prepare' ({META_FILE} is missing)")
    meta = json.loads((d / META_FILE).read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{d / META_FILE}: format must be {FORMAT!r}, got {meta.get('format')!r}")
    return meta, Vocabulary.from_json((d / VOCAB_FILE).read_text(encoding="utf-8"))


class TokenIds:
    """The read-only mapping of one ``.npy`` of token ids: ``.ids`` (L,) and ``release()`` of its resident pages."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(f)
            offset = f.tell()
            if len(shape) != 1 or dtype.kind not in "iu" or fortran:
                raise CheckpointError(f"{self.path}: must hold a 1-D integer array, got {dtype} {shape}")
            self._mmap = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self.ids = np.frombuffer(self._mmap, dtype=dtype, count=shape[0], offset=offset)  # (L,), no copy

    def __len__(self) -> int:
        return self.ids.shape[0]

    def release(self) -> None:
        """Drop this mapping's pages from the resident set (they stay in the page cache)."""
        advice = getattr(mmap, "MADV_DONTNEED", None)
        if advice is not None and hasattr(self._mmap, "madvise"):
            self._mmap.madvise(advice)


class MappedStreamBatches(StreamBatches):
    """``StreamBatches(batchify(ids, batch_size), k1, k2)``, read from a mapped ``TokenIds`` window by window.

    Example
    -------
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "ids.npy")
    >>> _ = write_token_ids(path, [np.arange(10)], 10, np.int32)
    >>> src = MappedStreamBatches(TokenIds(path), batch_size=2, k1=3)
    >>> src.batch(0, 0).x[:, 1].tolist(), src.batch(0, 0).x.dtype
    ([5, 6, 7], dtype('int64'))
    """

    def __init__(
        self, token_ids: TokenIds, batch_size: int, k1: int, k2: int | None = None, *, release_every: int = 64
    ) -> None:
        B = check_positive_int("MappedStreamBatches", "batch_size", batch_size)
        N = len(token_ids) // B
        if N < 2:
            raise ValueError(f"MappedStreamBatches: batch_size={B} leaves fewer than 2 steps of {len(token_ids)} ids")
        self.token_ids = token_ids
        self.release_every = release_every
        self._served = 0
        super().__init__(token_ids.ids[: N * B].reshape(B, N).T, k1, k2)  # (N, B) strided view of the file

    def batch(self, epoch: int, index: int) -> Window:
        if not 0 <= index < len(self):
            raise IndexError(f"MappedStreamBatches.batch: index must be in [0, {len(self)}), got {index}")
        start, new_from, end = self._bounds(index)
        carry = (self._bounds(index + 1)[0] if index + 1 < len(self) else end) - start
        block = self.data[start : end + 1].astype(np.int64)  # (T + 1, B), copied out of the mapping
        self._served += 1
        if self.release_every and self._served % self.release_every == 0:
            self.token_ids.release()
        return Window(x=block[:-1], y=block[1:], loss_from=new_from - start, carry=carry)


def stream_from_prepared(
    path: str | os.PathLike, split: str, batch_size: int, bptt: int, **kw: Any
) -> MappedStreamBatches:
    """The TBPTT source of ``split`` ("train" or "valid") of a prepared corpus; the batch as ``stream_source``."""
    p = Path(path) / f"{split}.npy"
    if not p.is_file():
        raise FileNotFoundError(f"{path}: the prepared corpus has no {split} split ({p.name} is missing)")
    ids = TokenIds(p)
    B = min(batch_size, max(1, len(ids) // (bptt + 1)))  # the rule of rnnkit.runs.lm.stream_source
    return MappedStreamBatches(ids, B, bptt, **kw)
