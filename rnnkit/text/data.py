"""Turning text into training batches for language models: tokens, parallel streams, BPTT windows, padding.

Tokenisation (both levels end every line with one end-of-line token):

    word level   each line split on whitespace, then ``eos``      (the Penn Treebank convention:
                 "a b\\nc\\n" -> a b <eos> c <eos>)
    char level   each line's characters, then ``eos``, which is ``"<eos>"`` by default
                 or ``"\\n"`` to keep the newline itself as a character

Why ``<eos>`` by default at the character level too: word and character models
then share the vocabulary's end token and the perplexity convention (one end
token per line); with ``eos="\\n"`` instead, ``"".join(tokens)`` gives the text
back (with a final newline). Either way the number of predicted tokens is the
same, so bits per character do not depend on the choice. The end of the text
counts as the end of its last line, and a blank line is an empty line (one end
token). ``word_sentences`` / ``char_sentences`` give the lines as lists without
the end token, which is what :class:`rnnkit.lm.NGramLM` wants (it adds ``</s>``).

Streams for truncated BPTT (Zaremba et al. 2014): the token stream of length L
is cut into B contiguous pieces of N = L // B tokens (the last L - N*B tokens
are dropped), placed side by side as the columns of ``data`` (N, B)::

    data[:, b] = ids[b*N : (b+1)*N]

``bptt_batches`` then walks down the rows in windows of ``seq_len``; the target
of each position is the next token of the same column::

    x = data[i : i+T],   y = data[i+1 : i+1+T],   T = min(seq_len, N - 1 - i)

so consecutive windows continue each column and the hidden state can be carried
from one window to the next.

Sentence batches: ``pad_batch`` stacks variable-length sentences as ids (T, B),
T the longest length, filled with ``pad_id`` past each sentence's length.

Example
-------
>>> import numpy as np
>>> from rnnkit.text.data import word_tokens, batchify, bptt_batches, pad_batch
>>> word_tokens("the cat\\nsat\\n")
['the', 'cat', '<eos>', 'sat', '<eos>']
>>> data = batchify(np.arange(10), 2)            # (N, B) = (5, 2)
>>> data[:, 0].tolist(), data[:, 1].tolist()
([0, 1, 2, 3, 4], [5, 6, 7, 8, 9])
>>> [(x.shape, y[:, 0].tolist()) for x, y in bptt_batches(data, 3)]
[((3, 2), [1, 2, 3]), ((1, 2), [4])]
>>> ids, lengths = pad_batch([[4, 5, 6], [7]], pad_id=0)
>>> ids.tolist(), lengths.tolist()
([[4, 7], [5, 0], [6, 0]], [3, 1])
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from numpy.typing import ArrayLike

from rnnkit._validate import check_positive_int


def _check_text(where: str, text) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{where}: text must be a str, got {type(text).__name__}")
    return text


def _check_eos(where: str, eos) -> str:
    if not isinstance(eos, str) or eos == "":
        raise TypeError(f"{where}: eos must be a non-empty str, got {type(eos).__name__} {eos!r}")
    return eos


def word_sentences(text: str) -> list[list[str]]:
    """One list of whitespace-separated words per line (no end token)."""
    text = _check_text("word_sentences", text)
    return [line.split() for line in text.splitlines()]


def char_sentences(text: str) -> list[list[str]]:
    """One list of characters per line (no end token; the newline is not included)."""
    text = _check_text("char_sentences", text)
    return [list(line) for line in text.splitlines()]


def word_tokens(text: str, *, eos: str = "<eos>") -> list[str]:
    """The flat word stream: each line's words followed by ``eos`` (the PTB convention)."""
    eos = _check_eos("word_tokens", eos)
    out: list[str] = []
    for words in word_sentences(text):
        out.extend(words)
        out.append(eos)
    return out


def char_tokens(text: str, *, eos: str = "<eos>") -> list[str]:
    """The flat character stream: each line's characters followed by ``eos`` (``"<eos>"`` or ``"\\n"``)."""
    eos = _check_eos("char_tokens", eos)
    out: list[str] = []
    for chars in char_sentences(text):
        out.extend(chars)
        out.append(eos)
    return out


def _as_id_array(where: str, name: str, ids, ndim: int) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu" and not (arr.size == 0 and arr.dtype.kind == "f"):
        raise TypeError(f"{where}: {name} must hold integer token ids, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{where}: {name} must be {ndim}-D, got shape {arr.shape}")
    return arr.astype(np.int64, copy=False)


def batchify(ids: ArrayLike, batch_size: int) -> np.ndarray:
    """Cut the stream ``ids`` (L,) into ``batch_size`` contiguous pieces, as the columns of (N, B)."""
    where = "batchify"
    ids = _as_id_array(where, "ids", ids, 1)
    B = check_positive_int(where, "batch_size", batch_size)
    N = ids.shape[0] // B
    if N < 1:
        raise ValueError(f"{where}: ids must hold at least batch_size={B} tokens, got {ids.shape[0]}")
    return np.ascontiguousarray(ids[: N * B].reshape(B, N).T)  # (N, B)


def bptt_batches(data: ArrayLike, seq_len: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (x, y), each (T, B), T = seq_len except the last window; y is x shifted by one step.

    ``x`` and ``y`` are views of ``data`` (no copy): copy them before writing to them.
    """
    where = "bptt_batches"
    data = _as_id_array(where, "data", data, 2)
    seq_len = check_positive_int(where, "seq_len", seq_len)
    N = data.shape[0]
    if N < 2:
        raise ValueError(f"{where}: data must have at least 2 rows (an input and its target), got shape {data.shape}")
    return _windows(data, seq_len)


def _windows(data: np.ndarray, seq_len: int):
    N = data.shape[0]
    for i in range(0, N - 1, seq_len):
        T = min(seq_len, N - 1 - i)
        yield data[i : i + T], data[i + 1 : i + 1 + T]  # (T, B), (T, B)


def pad_batch(sentences: Sequence, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Stack sentences of ids into ids (T, B) filled with ``pad_id``, and their lengths (B,)."""
    where = "pad_batch"
    pad_id = check_positive_int(where, "pad_id", pad_id, minimum=0)
    if isinstance(sentences, (str, np.ndarray)) or not isinstance(sentences, Sequence):
        raise TypeError(f"{where}: sentences must be a list of id sequences, got {type(sentences).__name__}")
    if len(sentences) == 0:
        raise ValueError(f"{where}: sentences must hold at least one sentence, got an empty list")
    rows = [_as_id_array(where, f"sentences[{b}]", s, 1) for b, s in enumerate(sentences)]
    lengths = np.array([r.shape[0] for r in rows], dtype=np.int64)
    ids = np.full((int(lengths.max()), len(rows)), pad_id, dtype=np.int64)  # (T, B)
    for b, r in enumerate(rows):
        ids[: r.shape[0], b] = r
    return ids, lengths


LEVELS = ("char", "word")  # the two tokenisations of text every language model here uses


def tokenize(text: str, level: str, *, eos: str | None = None) -> list[str]:
    """One token stream of ``text`` at ``level`` ("char" or "word"), one end token per line.

    The end token defaults to the newline itself for characters (so samples
    keep their lines) and ``<eos>`` for words.

    >>> tokenize("ab\\nc", "char"), tokenize("a b\\nc", "word")
    (['a', 'b', '\\n', 'c', '\\n'], ['a', 'b', '<eos>', 'c', '<eos>'])
    """
    if level == "char":
        return char_tokens(text, eos="\n" if eos is None else eos)
    if level == "word":
        return word_tokens(text, eos="<eos>" if eos is None else eos)
    raise ValueError(f"tokenize: level must be one of {LEVELS}, got {level!r}")


def sentences(text: str, level: str) -> list[list[str]]:
    """The lines of ``text`` as token lists at ``level`` ("char" or "word"), without end tokens.

    >>> sentences("a b\\nc", "word"), sentences("ab", "char")
    ([['a', 'b'], ['c']], [['a', 'b']])
    """
    if level == "char":
        return char_sentences(text)
    if level == "word":
        return word_sentences(text)
    raise ValueError(f"sentences: level must be one of {LEVELS}, got {level!r}")
