r"""ARPA files: the backoff n-gram format of SRILM, KenLM and speech decoders, read and written.

The format (Doug Paul's, as SRILM's ``ngram-format(5)`` and KenLM describe it)::

    \data\
    ngram 1=5            the number of 1-grams, 2-grams, ... listed below
    ngram 2=4

    \1-grams:
    -1.0    <unk>
    -99     <s>     -0.5     log10 P(w), the word, and (below the highest order) log10 bow(w)
    -0.6    a       -0.3
    ...
    \2-grams:
    -0.2    <s> a   -0.1     log10 P(a | <s>), the n-gram, log10 bow(<s> a)
    ...
    \end\

A model in this form scores a word w after a history h (oldest word first; h' is h without its
oldest word) by the backoff recursion::

    log10 P(w | h) = log10 P(h w)                          if the n-gram (h w) is listed
                   = log10 bow(h) + log10 P(w | h')        otherwise (bow(h) = 1 when h is not listed)

``<s>`` is listed with probability ``-99`` (it is only ever a context), and a probability of
``-99`` or lower reads as 0 (SRILM writes log10(0) as -99). A word the file does not list scores
as ``<unk>``; a file without ``<unk>`` gives it probability 0.

Writing an interpolated model (:class:`NGramLM` with ``witten-bell``, ``absolute`` or
``kneser-ney``): every n-gram the model counted (and did not prune) is listed with the model's
own probability P(w | h), interpolation included, and each listed history h gets the backoff
weight that makes the recursion give the model's probability for every word it did not list::

    bow(h) = (1 - sum_{w listed after h} P(w | h)) / (1 - sum_{w listed after h} P(w | h'))

which for these models is exactly their interpolation weight gamma(h) / denominator(h) (for an
unlisted w, P(w | h) = gamma(h) / denominator(h) * P(w | h')); rnnkit writes that weight rather
than the difference of sums, which would lose digits when the sums are close to 1. So a written
file read back gives the same probabilities, to the last digits of the printed floats (written
with Python's shortest round-trip ``repr``). ``mle`` and add-delta have no backoff form (an
unseen word's probability in a seen context is not a fixed multiple of its lower-order one), and
stupid backoff multiplies by alpha even after an unseen history, which ARPA cannot say: they are
refused.

Reading streams the file line by line into one preallocated array per order (the ``\data\``
header gives the sizes), so a large file is never held twice. A file that breaks the format
raises ``ValueError("FILE:LINE: expected ..., got ...")``. Writing goes through
:func:`rnnkit.io.atomic_write`: a reader sees the old file or the complete new one.

Example
-------
>>> import os, tempfile
>>> from rnnkit.lm.ngram import NGramLM
>>> lm = NGramLM(3, "kneser-ney").fit([["a", "b"], ["a", "c"], ["b", "c"]])
>>> path = lm.to_arpa(os.path.join(tempfile.mkdtemp(), "lm.arpa"))
>>> back = NGramLM.from_arpa(path)
>>> abs(back.prob("c", ["a", "b"]) - lm.prob("c", ["a", "b"])) < 1e-14
True
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import TextIO

import numpy as np

from rnnkit.io import atomic_write
from rnnkit.lm.ngram import NGramLM
from rnnkit.lm.vocab import Vocabulary

LOG_ZERO = -99.0  # how log10(0) is written
_COUNT_LINE = re.compile(r"ngram\s+(\d+)\s*=\s*(\d+)$")
_SECTION = re.compile(r"\\(\d+)-grams:$")
_CHUNK = 4096  # lines per write


# -- writing ------------------------------------------------------------------------------------------
def _log10(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        lp = np.log10(p)
    return np.where(np.isfinite(lp), lp, LOG_ZERO)


def _fmt(x: float) -> str:
    return repr(float(x)) if x > LOG_ZERO else "-99"


def _sections(lm):
    """Per order k: (words (n, k) ids, log10 P (n,), log10 bow (n,) with NaN where none is written)."""
    N, V = lm.order, len(lm.vocab)
    levels, arpa = lm._levels, lm.smoothing == "arpa"
    ctx_words = lm._context_words()
    out = []
    for m in range(N):
        lv = levels[m]
        codes = lv.codes[lv.keep]
        words = np.concatenate([ctx_words[m][codes // V], (codes % V)[:, None]], axis=1)  # (n, m + 1)
        if m == 0 and not arpa:  # every entry but <s> has a unigram probability; <s> is listed at -99
            words = np.array([[w] for w in range(V) if w != lm.vocab.bos_id], dtype=np.int64).reshape(-1, 1)
        hist = np.concatenate([np.full((words.shape[0], N - 1 - m), -1, dtype=np.int64), words[:, :-1]], axis=1)
        if arpa:
            lp = lv.counts[:-1][lv.keep]
        else:
            lp = _log10(lm._pair_probs(hist, words[:, -1]))
        if m == 0 and lm.vocab.bos_id not in set(words[:, 0].tolist()):
            words = np.concatenate([words, [[lm.vocab.bos_id]]])
            lp = np.append(lp, LOG_ZERO)
        bow = np.full(words.shape[0], np.nan)
        if m + 1 < N:  # the backoff weight of each listed n-gram that is a context of the next order
            up = levels[m + 1]
            full = np.concatenate([np.full((words.shape[0], N - 1 - (m + 1)), -1, dtype=np.int64), words], axis=1)
            cid = lm._context_ids(full)[:, m + 1]
            has = cid >= 0
            if arpa:
                bow[has] = up.bow[cid[has]]
            else:
                # a context whose n-grams were all pruned backs off with weight 1: leave it out
                listed = np.bincount(up.codes[up.keep] // V, minlength=up.ctx_codes.size) > 0
                has &= listed[np.maximum(cid, 0)]
                bow[has] = _log10(up.gnum[cid[has]] / up.denom[cid[has]])
        out.append((words, lp, bow))
    return out


def write_arpa(lm: NGramLM, path: str | os.PathLike) -> Path:
    """Write ``lm`` (an :class:`NGramLM` with a backoff form) to ``path`` as an ARPA file, atomically."""
    where = "NGramLM.to_arpa"
    lm._require_fitted(where)
    if lm.smoothing not in ("witten-bell", "absolute", "kneser-ney", "arpa"):
        raise ValueError(
            f"{where}: smoothing must be one with a backoff form ('witten-bell', 'absolute', 'kneser-ney', or a "
            f"model read from an ARPA file), got {lm.smoothing!r}"
        )
    if lm.convention != "rnnkit" or not lm.collapse_start:
        raise ValueError(
            f"{where}: the model must use one <s> per sentence (convention='rnnkit', collapse_start=True), as ARPA "
            f"files do, got convention={lm.convention!r}, collapse_start={lm.collapse_start}"
        )
    bad = next((t for t in lm.vocab.tokens if not t or any(c.isspace() for c in t)), None)
    if bad is not None:
        raise ValueError(
            f"{where}: vocabulary tokens must hold no whitespace (ARPA separates words by it), got {bad!r}"
        )
    sections = _sections(lm)
    tokens = lm.vocab.tokens

    def chunks():
        head = ["", "\\data\\"] + [f"ngram {k}={s[0].shape[0]}" for k, s in enumerate(sections, start=1)]
        yield ("\n".join(head) + "\n").encode("utf-8")
        for k, (words, lp, bow) in enumerate(sections, start=1):
            lines = [f"\n\\{k}-grams:"]
            for row, p, b in zip(words.tolist(), lp.tolist(), bow.tolist()):
                text = " ".join(tokens[w] for w in row)
                lines.append(f"{_fmt(p)}\t{text}" if math.isnan(b) else f"{_fmt(p)}\t{text}\t{_fmt(b)}")
                if len(lines) >= _CHUNK:
                    yield ("\n".join(lines) + "\n").encode("utf-8")
                    lines = []
            yield ("\n".join(lines) + "\n").encode("utf-8")
        yield b"\n\\end\\\n"

    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(file, chunks())
    return file


# -- reading ------------------------------------------------------------------------------------------
class _Lines:
    """Numbered, stripped lines of a text file, read one at a time."""

    def __init__(self, f: TextIO, src: str) -> None:
        self.f, self.src, self.no = f, src, 0

    def next(self) -> str | None:
        line = self.f.readline()
        if not line:
            return None
        self.no += 1
        return line.strip()

    def next_nonblank(self) -> str | None:
        while True:
            line = self.next()
            if line is None or line:
                return line

    def fail(self, expected: str, got: str | None) -> None:
        shown = "end of file" if got is None else repr(got[:80])
        raise ValueError(f"{self.src}:{self.no}: expected {expected}, got {shown}")


def _header(lines: _Lines) -> list[int]:
    while True:  # SRILM and KenLM allow free text before \data\
        line = lines.next()
        if line is None:
            lines.fail("a '\\data\\' line", None)
        if line == "\\data\\":
            break
    counts: list[int] = []
    while True:
        line = lines.next_nonblank()
        m = _COUNT_LINE.match(line or "")
        if m is None:
            if counts and line == "\\1-grams:":
                return counts
            lines.fail(f"'ngram {len(counts) + 1}=COUNT'" + (" or '\\1-grams:'" if counts else ""), line)
        k, n = int(m.group(1)), int(m.group(2))
        if k != len(counts) + 1:
            lines.fail(f"'ngram {len(counts) + 1}=COUNT' (orders in sequence)", line)
        counts.append(n)


def _parse_float(lines: _Lines, text: str, what: str, k: int, line: str) -> float:
    try:
        x = float(text)
    except ValueError:
        x = math.nan
    if math.isnan(x) or x == math.inf:
        lines.fail(f"a {k}-gram line starting with {what}", line)
    return x


def read_arpa(path: str | os.PathLike, *, unk: str = "<unk>", bos: str = "<s>", eos: str = "</s>") -> NGramLM:
    """Read an ARPA file into an :class:`NGramLM` that scores by the backoff recursion.

    ``unk``, ``bos``, ``eos`` name the file's special words (``<s>`` and ``</s>`` must be listed).
    Raises ``FileNotFoundError`` when ``path`` does not exist and ``ValueError("FILE:LINE: expected
    ..., got ...")`` for a malformed file.
    """
    from rnnkit.lm.ngram import NGramLM

    src = str(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"NGramLM.from_arpa: no such file: {src}")
    with open(path, encoding="utf-8") as f:
        lines = _Lines(f, src)
        counts = _header(lines)
        N = len(counts)
        ids = [np.zeros((n, k), dtype=np.int64) for k, n in enumerate(counts, start=1)]
        logp = [np.zeros(n) for n in counts]
        bows = [np.zeros(n) for n in counts]
        index: dict[str, int] = {}
        for k in range(1, N + 1):
            if k > 1:
                line = lines.next_nonblank()
                if line != f"\\{k}-grams:":
                    lines.fail(f"'\\{k}-grams:' after the {counts[k - 2]} {k - 1}-grams the header declares", line)
            section_line = lines.no
            arr, lp, bw = ids[k - 1], logp[k - 1], bows[k - 1]
            for i in range(counts[k - 1]):
                line = lines.next()
                fields = line.split() if line else []
                if len(fields) not in ((k + 1, k + 2) if k < N else (k + 1,)):
                    shape = "LOG10PROB WORDS" + (" [LOG10BACKOFF]" if k < N else "")
                    lines.fail(
                        f"a {k}-gram line '{shape}' with {k} word(s) ({i + 1} of the {counts[k - 1]} declared)", line
                    )
                lp[i] = _parse_float(lines, fields[0], "a log10 probability", k, line)
                if lp[i] > 0:
                    lines.fail(f"a {k}-gram line with a log10 probability <= 0", line)
                if len(fields) == k + 2:
                    bw[i] = _parse_float(
                        lines, fields[-1], "a log10 probability and ending with a log10 backoff", k, line
                    )
                words = fields[1 : k + 1]
                if k == 1:
                    if words[0] in index:
                        lines.fail("distinct 1-grams", line)
                    index[words[0]] = i
                    arr[i, 0] = i
                else:
                    for j, w in enumerate(words):
                        got = index.get(w)
                        if got is None:
                            lines.fail(f"{k}-grams of words listed among the 1-grams ({w!r} is not)", line)
                        arr[i, j] = got
            if k == 1:
                missing = [t for t in (bos, eos) if t not in index]
                if missing:
                    raise ValueError(
                        f"{src}:{section_line}: expected the 1-grams to list {bos!r} and {eos!r}, got no {missing[0]!r}"
                    )
        line = lines.next_nonblank()
        if line != "\\end\\":
            lines.fail(
                f"'\\end\\' after the {counts[-1]} {N}-grams the header declares"
                + (f" (or '\\{N + 1}-grams:' with a count in the header)" if line == f"\\{N + 1}-grams:" else ""),
                line,
            )
    # the vocabulary: the specials first, then the file's 1-grams in their order
    file_words = sorted(index, key=index.get)
    tokens = [unk, bos, eos] + [w for w in file_words if w not in (unk, bos, eos)]
    vocab = Vocabulary(tokens, unk_token=unk, eos_token=eos, bos_token=bos)
    to_vocab = np.array([vocab.index(w) for w in file_words], dtype=np.int64)
    ids = [to_vocab[a] for a in ids]
    lm = NGramLM(N, "witten-bell", unk=unk, bos=bos, eos=eos)
    lm.smoothing = "arpa"
    lm.vocab = vocab
    lm._levels = _levels(src, ids, logp, bows, len(vocab), vocab)
    return lm


def _levels(src: str, ids: list, logp: list, bows: list, V: int, vocab: Vocabulary) -> list:
    """The context/n-gram levels of the lookups (see ``_Level``) from the listed n-grams."""
    from rnnkit.lm.ngram import _find, _Level

    N = len(ids)
    # the histories that need an id at each level m: the listed m-grams (they carry a backoff), the prefixes
    # of the listed (m+1)-grams, and the suffixes of the level m+1 histories (the lookup walks suffixes)
    hist_rows: list = [np.zeros((1, 0), dtype=np.int64)] + [None] * (N - 1)
    for m in range(N - 1, 0, -1):
        parts = [ids[m - 1], ids[m][:, :m]]
        if m + 1 < N:
            parts.append(hist_rows[m + 1][:, 1:])
        hist_rows[m] = np.unique(np.concatenate(parts), axis=0)
    levels: list = []

    def ids_of(rows: np.ndarray) -> np.ndarray:  # context ids of (n, m) histories, all present
        cid = np.zeros(rows.shape[0], dtype=np.int64)
        for j in range(1, rows.shape[1] + 1):
            cid = _find(levels[j].ctx_codes, cid * V + rows[:, rows.shape[1] - j])
        return cid

    for m in range(N):
        lv = _Level()
        rows = hist_rows[m]
        lv.ctx_codes = np.zeros(1, dtype=np.int64) if m == 0 else np.unique(ids_of(rows[:, 1:]) * V + rows[:, 0])
        levels.append(lv)
        grams = ids[m]
        codes = ids_of(grams[:, :m]) * V + grams[:, m]
        order = np.argsort(codes, kind="stable")
        lv.codes = codes[order]
        dup = np.flatnonzero(np.diff(lv.codes) == 0)
        if dup.size:
            words = " ".join(vocab.tokens[w] for w in grams[order[dup[0]]])
            raise ValueError(f"{src}: expected distinct {m + 1}-grams, got {words!r} twice")
        lv.counts = np.append(logp[m][order], np.nan)  # log10 probabilities; NaN sentinel: not listed
        lv.keep = np.ones(lv.codes.size, dtype=bool)
        lv.raw = None
        lv.bow = np.zeros(lv.ctx_codes.size + 1)  # log10 backoff per context; 0 for an unlisted one
        if m > 0:
            lv.bow[ids_of(ids[m - 1])] = bows[m - 1]
    return levels
