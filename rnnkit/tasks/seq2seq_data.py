"""Sequence-pair data for encoder-decoders: the built-in tasks, tokens, vocabularies, padded batches.

Built-in tasks (generated, seeded, nothing downloaded), by name:

    dates    dates as people write them -> "2026-11-24"          char   (rnnkit.tasks.dates)
    reverse  digit strings of 1..60 digits -> reversed            char   (rnnkit.tasks.digits)
    sort     digit strings of 1..60 digits -> sorted              char   (rnnkit.tasks.digits)
    copy     "... first last ..." -> "last , first", new names     word   (rnnkit.tasks.names)
    multi    3..6 sentences and a question -> a sentence's subject word   (rnnkit.tasks.multi_sentence)

Tokens: ``char`` level splits a string into its characters, ``word`` level
at whitespace; :func:`detokenize` undoes either. A vocabulary is an
:class:`rnnkit.text.vocab.Vocabulary` with the four special tokens

    <pad> = 0   <unk> = 1   <s> = 2   </s> = 3     (then the regular tokens, by count)

A batch (:class:`PairBatch`, tokens and strings; the model reads its ids as a
:class:`rnnkit.seq2seq.Seq2SeqBatch`) is time-major and padded with ``<pad>``; the
decoder reads ``<s> y_1 .. y_n`` and predicts ``y_1 .. y_n </s>``. For copying
(See et al. 2017) each example's source tokens that the *target* vocabulary
lacks get extended ids V, V+1, ... in order of first appearance
(``oov_tokens``); ``src_ext`` holds every source token over that extended
target vocabulary and ``tgt_out_ext`` the targets, so a target word absent
from the target vocabulary but present in the source is a reachable class,
while ``tgt_in`` and ``tgt_out`` hold ``<unk>`` for it.

Example
-------
>>> task = get_task("reverse")
>>> pairs = task.pairs(4, seed=0)
>>> src_vocab, tgt_vocab = build_vocabularies(pairs, task.level)
>>> batch = PairBatches(pairs, src_vocab, tgt_vocab, task.level, batch_size=4, shuffle=False).batch(0, 0)
>>> batch.src.shape[1], int(batch.tgt_in[0, 0]) == tgt_vocab.bos_id
(4, True)
>>> bool((batch.tgt_lengths == batch.src_lengths + 1).all())   # reversal: n target tokens and </s>
True
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from rnnkit._validate import check_choice, check_positive_int
from rnnkit.tasks.dates import date_pairs
from rnnkit.tasks.digits import reversal_pairs, sorting_pairs
from rnnkit.tasks.multi_sentence import SENTENCE_ENDS, multi_sentence_pairs
from rnnkit.tasks.names import TARGET_TOKENS, name_pairs
from rnnkit.text.vocab import Vocabulary

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
PAD_ID = 0  # <pad> comes first in every vocabulary built here (make_vocabulary)
LEVELS = ("char", "word")


@dataclass(frozen=True)
class Seq2SeqTask:
    """A built-in task: how to draw its pairs and how to read them."""

    name: str
    level: str  # char | word
    make_pairs: Callable  # (n, seed) -> list of (source, target)
    description: str
    target_tokens: tuple | None = None  # a closed target vocabulary (None: built from the training targets)
    sentence_ends: tuple | None = None  # tokens that end a sentence, for a hierarchical encoder

    def pairs(self, n: int, seed: int = 0) -> list[tuple[str, str]]:
        return self.make_pairs(n, seed)


TASKS = {
    t.name: t
    for t in (
        Seq2SeqTask("dates", "char", date_pairs, "dates in many written formats -> YYYY-MM-DD"),
        Seq2SeqTask("reverse", "char", reversal_pairs, "a string of 1 to 60 digits -> the digits reversed"),
        Seq2SeqTask("sort", "char", sorting_pairs, "a string of 1 to 60 digits -> the digits sorted"),
        Seq2SeqTask(
            "copy", "word", name_pairs, "a sentence naming 'first last' -> 'last , first'", target_tokens=TARGET_TOKENS
        ),
        Seq2SeqTask(
            "multi",
            "word",
            multi_sentence_pairs,
            "sentences and 'who is in sentence k ?' -> that sentence's subject",
            sentence_ends=SENTENCE_ENDS,
        ),
    )
}


def get_task(name: str) -> Seq2SeqTask:
    check_choice("get_task", "name", name, tuple(TASKS))
    return TASKS[name]


# -- tokens and vocabularies ---------------------------------------------------------------------------
def tokenize(text: str, level: str) -> list[str]:
    """Characters (``char``) or whitespace-separated words (``word``)."""
    return list(text) if level == "char" else text.split()


def detokenize(tokens: Iterable[str], level: str) -> str:
    return "".join(tokens) if level == "char" else " ".join(tokens)


def make_vocabulary(
    token_lists: Iterable[Sequence[str]],
    *,
    min_count: int = 1,
    max_size: int | None = None,
    tokens: Sequence[str] | None = None,
) -> Vocabulary:
    """A vocabulary with <pad> <unk> <s> </s>: from counted token lists, or exactly ``tokens`` when given."""
    if tokens is not None:
        counts = Counter({t: 1 for t in tokens})
    else:
        counts = Counter(t for toks in token_lists for t in toks)
    return Vocabulary.from_counts(
        counts, min_count=min_count, max_size=max_size, unk_token=UNK, eos_token=EOS, pad_token=PAD, bos_token=BOS
    )


def build_vocabularies(
    pairs: Sequence[tuple[str, str]],
    level: str,
    *,
    min_count: int = 1,
    max_size: int | None = None,
    target_tokens: Sequence[str] | None = None,
    shared: bool = False,
) -> tuple[Vocabulary, Vocabulary]:
    """(source vocabulary, target vocabulary) of training pairs; ``shared``: one vocabulary for both sides."""
    check_choice("build_vocabularies", "level", level, LEVELS)
    src = [tokenize(s, level) for s, _ in pairs]
    tgt = [tokenize(t, level) for _, t in pairs]
    if shared:
        v = make_vocabulary(src + tgt, min_count=min_count, max_size=max_size)
        return v, v
    tv = make_vocabulary(tgt, min_count=min_count, max_size=max_size, tokens=target_tokens)
    return make_vocabulary(src, min_count=min_count, max_size=max_size), tv


# -- batches -------------------------------------------------------------------------------------------
@dataclass
class PairBatch:
    """One padded, time-major batch of token pairs (S source steps, T target steps, B examples)."""

    src: np.ndarray  # (S, B) int64 source ids, <pad> after each length
    src_lengths: np.ndarray  # (B,) int64
    tgt_in: np.ndarray  # (T, B) int64 decoder inputs  <s> y_1 .. y_n
    tgt_out: np.ndarray  # (T, B) int64 decoder targets y_1 .. y_n </s>
    tgt_lengths: np.ndarray  # (B,) int64, n + 1
    src_ext: np.ndarray  # (S, B) int64 source tokens over the extended target vocabulary
    tgt_out_ext: np.ndarray  # (T, B) int64 targets over the extended target vocabulary
    oov_tokens: list  # per example: the source tokens the target vocabulary lacks; extended id V + j
    sentence_lengths: np.ndarray | None = None  # (B, N) tokens per sentence (0 past the last), hierarchical tasks

    @property
    def max_oov(self) -> int:
        return max((len(o) for o in self.oov_tokens), default=0)

    @property
    def num_target_tokens(self) -> int:
        return int(self.tgt_lengths.sum())


def extend_ids(
    src_tokens: Sequence[str], tgt_tokens: Sequence[str], tgt_vocab: Vocabulary
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(source ids, target ids, oov list) over the target vocabulary extended by this example's source OOVs."""
    V = len(tgt_vocab)
    oov: list[str] = []
    src_ext = []
    for t in src_tokens:
        if t in tgt_vocab:
            src_ext.append(tgt_vocab.index(t))
        else:
            if t not in oov:
                oov.append(t)
            src_ext.append(V + oov.index(t))
    tgt_ext = [
        tgt_vocab.index(t) if t in tgt_vocab else (V + oov.index(t) if t in oov else tgt_vocab.unk_id)
        for t in tgt_tokens
    ]
    return np.asarray(src_ext, dtype=np.int64), np.asarray(tgt_ext, dtype=np.int64), oov


def _pad(seqs, pad_id: int) -> np.ndarray:
    out = np.full((max(len(s) for s in seqs), len(seqs)), pad_id, dtype=np.int64)
    for b, s in enumerate(seqs):
        out[: len(s), b] = s
    return out


def make_batch(
    pairs: Sequence[tuple[str, str]],
    src_vocab: Vocabulary,
    tgt_vocab: Vocabulary,
    level: str,
    *,
    sentence_ends: Collection[str] | None = None,
) -> PairBatch:
    """Tokenise, encode and pad a list of (source, target) pairs."""
    if not pairs:
        raise ValueError("make_batch: pairs must hold at least one pair, got none")
    src_tok = [tokenize(s, level) for s, _ in pairs]
    tgt_tok = [tokenize(t, level) for _, t in pairs]
    src = [src_vocab.encode(s) for s in src_tok]
    tgt = [tgt_vocab.encode(t) for t in tgt_tok]
    ext = [extend_ids(s, t, tgt_vocab) for s, t in zip(src_tok, tgt_tok)]
    bos, eos, pad = tgt_vocab.bos_id, tgt_vocab.eos_id, tgt_vocab.pad_id
    sentence_lengths = None
    if sentence_ends is not None:
        from rnnkit.tasks.multi_sentence import split_sentences

        per = [[len(x) for x in split_sentences(s, sentence_ends)] for s in src_tok]
        sentence_lengths = np.zeros((len(per), max(len(p) for p in per)), dtype=np.int64)
        for b, p in enumerate(per):
            sentence_lengths[b, : len(p)] = p
    return PairBatch(
        src=_pad(src, src_vocab.pad_id),
        src_lengths=np.array([len(s) for s in src], dtype=np.int64),
        tgt_in=_pad([np.concatenate([[bos], t]) for t in tgt], pad),
        tgt_out=_pad([np.concatenate([t, [eos]]) for t in tgt], pad),
        tgt_lengths=np.array([len(t) + 1 for t in tgt], dtype=np.int64),
        src_ext=_pad([e[0] for e in ext], pad),
        tgt_out_ext=_pad([np.concatenate([e[1], [eos]]) for e in ext], pad),
        oov_tokens=[e[2] for e in ext],
        sentence_lengths=sentence_lengths,
    )


class PairBatches:
    """A batch source (:mod:`rnnkit.batches`) of :class:`PairBatch` over sequence pairs; stateless.

    Each epoch shuffles the pairs with ``np.random.default_rng([seed, epoch])``,
    then sorts each run of ``bucket`` batches by source length so that a batch
    holds sequences of similar length (less padding); the batches of a run keep
    their shuffled order. ``batch(epoch, index)`` is deterministic.
    """

    stateful = False

    def __init__(
        self,
        pairs: Sequence[tuple[str, str]],
        src_vocab: Vocabulary,
        tgt_vocab: Vocabulary,
        level: str,
        *,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        bucket: int = 20,
        sentence_ends: Collection[str] | None = None,
    ) -> None:
        where = "PairBatches"
        self.pairs = list(pairs)
        if not self.pairs:
            raise ValueError(f"{where}: pairs must hold at least one pair, got none")
        self.level = check_choice(where, "level", level, LEVELS)
        self.batch_size = check_positive_int(where, "batch_size", batch_size)
        self.bucket = check_positive_int(where, "bucket", bucket)
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab
        self.shuffle, self.seed, self.sentence_ends = bool(shuffle), int(seed), sentence_ends
        self._src_len = np.array([len(tokenize(s, level)) for s, _ in self.pairs])
        self._cache: dict = {}

    def __len__(self) -> int:
        return -(-len(self.pairs) // self.batch_size)

    def batches(self, epoch: int) -> list[np.ndarray]:
        """The example indices of every batch of ``epoch``, in order."""
        if epoch in self._cache:
            return self._cache[epoch]
        n, size = len(self.pairs), self.batch_size
        if not self.shuffle:
            out = [np.arange(i, min(i + size, n)) for i in range(0, n, size)]
        else:
            perm = np.random.default_rng([self.seed, int(epoch)]).permutation(n)
            chunk = size * self.bucket
            out = []
            for i in range(0, n, chunk):
                part = perm[i : i + chunk]
                part = part[np.argsort(self._src_len[part], kind="stable")]
                out += [part[j : j + size] for j in range(0, len(part), size)]
            out = [out[i] for i in np.random.default_rng([self.seed, int(epoch), 1]).permutation(len(out))]
        self._cache = {epoch: out}  # one epoch at a time is all the Trainer asks for
        return out

    def batch(self, epoch: int, index: int) -> PairBatch:
        if not 0 <= index < len(self):
            raise IndexError(f"PairBatches.batch: index must be in [0, {len(self)}), got {index}")
        idx = self.batches(epoch)[index]
        return make_batch(
            [self.pairs[i] for i in idx], self.src_vocab, self.tgt_vocab, self.level, sentence_ends=self.sentence_ends
        )
