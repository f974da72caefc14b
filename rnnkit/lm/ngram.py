"""Count-based n-gram language models: MLE, add-delta, Witten-Bell, absolute discounting, Kneser-Ney, stupid backoff.

An order-N model predicts a word from the N-1 words before it (the Markov
assumption): P(w_1 .. w_T) ~ prod_t P(w_t | w_{t-N+1} .. w_{t-1}).

Padding and counting
--------------------
``fit`` pads every sentence with N-1 start symbols ``<s>`` on the left and one
end symbol ``</s>`` on the right, ``<s> <s> the cat </s>`` for N = 3, and
counts, at every *predicted* position (each word and the ``</s>``), the k-gram
ending there for every k = 1..N. So c(h w) is the number of times w was
predicted after the history h, and c(h) = sum_w c(h w) is the number of
predictions made after h. ``<s>`` is context only: it is never predicted, so
every distribution below covers the V' = V - 1 other entries of the vocabulary
(the words, ``<unk>`` and ``</s>``) and gives ``<s>`` probability 0. Words seen
fewer than ``min_count`` times in training become ``<unk>``, which is then
scored as a normal word (here and in ``perplexity``: the open-vocabulary
convention of the Penn Treebank setups).

Sentence starts (``collapse_start``, default True): a history goes no further
back than its newest ``<s>``, so ``<s> <s> <s> <s>`` is the one-word context
``<s>`` and ``<s> <s> the`` is ``<s> the``; the n-grams that would reach past
a ``<s>`` are not counted. This is what SRILM and KenLM do with their single
``<s>``. Without it the interpolated models (witten-bell, absolute,
kneser-ney) smooth the same sentence-start counts once per padded order, which
costs 4% of perplexity on the Penn Treebank (5-gram modified Kneser-Ney, valid:
148.0 collapsed, 153.6 not). mle and lidstone/laplace give the same
probabilities either way (the counts after ``<s> <s>`` and after ``<s>`` are
equal); ``collapse_start=False`` keeps every ``<s>`` as a context word, which is
nltk's convention.

A context is the list of previous words; only its last N-1 are used. A shorter
context is *not* padded: it selects the lower-order estimate P(w | h) with |h|
= len(context), as in nltk; pass the ``<s>`` symbols to mean a sentence start.
Below, h' is h without its oldest word and "h unseen" means c(h) = 0.

Smoothing (delta is ``delta``; D a discount)
--------------------------------------------
    mle          P(w|h) = c(h w) / c(h); for an unseen h, the longest seen suffix of h is used
    lidstone     P(w|h) = (c(h w) + delta) / (c(h) + delta V')          (an unseen h gives 1/V')
    laplace      lidstone with delta = 1
    witten-bell  P(w|h) = (c(h w) + N1+(h .) P(w|h')) / (c(h) + N1+(h .)),  N1+(h .) = #{w : c(h w) > 0}
                 ending at the unigram estimate P(w) = c(w) / c()  (as nltk's WittenBellInterpolated,
                 so a word never seen in training gets probability 0)
    absolute     P(w|h) = (max(c(h w) - D, 0) + D N1+(h .) P(w|h')) / c(h),  ending at the uniform 1/V';
                 D = delta if given, otherwise Ney's estimate per order D = n1 / (n1 + 2 n2)
                 (n_r: number of distinct k-grams seen exactly r times), 0.5 when n1 = 0
    kneser-ney   interpolated modified Kneser-Ney (Chen and Goodman 1998):
                 P(w|h) = (a(h w) - D(a(h w)) + gamma(h) P(w|h')) / a(h),   a(h) = sum_w a(h w)
                 gamma(h) = D1 N1(h .) + D2 N2(h .) + D3+ N3+(h .)        (N_r(h .) = #{w : a(h w) = r})
                 ending at the uniform 1/V'. D(0) = 0, D(1) = D1, D(2) = D2, D(>=3) = D3+, per order, from
                 the counts-of-counts n1..n4 of a at that order:
                 Y = n1 / (n1 + 2 n2),  D1 = 1 - 2 Y n2/n1,  D2 = 2 - 3 Y n3/n2,  D3+ = 3 - 4 Y n4/n3.
                 a is the raw count c at the highest order and for k-grams that begin with <s>
                 (nothing precedes them but <s>), and the continuation count
                 a(g) = N1+(. g) = #{v : c(v g) > 0} for the other lower-order k-grams.
                 With ``delta`` = D: one fixed discount D1 = D2 = D3+ = D at every order (interpolated
                 Kneser-Ney as Kneser and Ney 1995 and nltk's KneserNeyInterpolated(discount=D)).
    stupid-backoff  S(w|h) = c(h w) / c(h) if c(h w) > 0, else alpha S(w|h'), ending at c(w) / c(),
                 alpha = ``delta`` (default 0.4); Brants, Popat, Xu, Och and Dean, "Large language
                 models in machine translation" (2007). These are SCORES, not probabilities: they do
                 not sum to one, so ``perplexity`` and ``total_logprob`` refuse the model; ``prob``,
                 ``full_scores`` and decoding return the scores. Like the paper (and nltk), an unseen
                 h backs off with alpha too.

KenLM's discount fallback (modified Kneser-Ney). On tiny or artificial corpora the formulas
can fail: a zero n1, n2 or n3 (a division by zero, or a discount equal to its own count, e.g.
n3 = 0 gives D2 = 2), or a discount outside [0, r]. Then the whole order takes the fallback
discounts ``discount_fallback`` (default 0.5, 1, 1.5), as KenLM's ``lmplz --discount_fallback``
does, and a warning is logged; ``discounts`` holds the values used. Example: on the three
sentences "he has a motorcycle", "she rode a motorcycle", "they walk" the bigram counts of counts
are n1..n4 = 9, 2, 0, 0. Keeping D2 = 2 (the formula's value) would give "a motorcycle" (count 2)
nothing and the whole context "a" to the backoff, so P(motorcycle | a) = P(motorcycle); with the
fallback, P(motorcycle | a) = (2 - 1 + 1 P(motorcycle)) / 2. n4 = 0 alone is allowed (D3+ = 3).

Pruning (``prune``, lmplz's ``--prune``): one count threshold per order (the last one repeats;
non-decreasing; 0 for the unigrams, which are never pruned). An n-gram of order >= 2 whose raw
count is at most its order's threshold is dropped after the statistics are taken (the counts
of counts, so the discounts, and the continuation counts are those of the unpruned model). Its
context keeps its denominator and its backoff mass takes what the dropped n-gram held:
gamma(h) += c(h w) - D(c(h w)) (witten-bell: += c(h w)), so every distribution still sums to
one and a dropped w gets gamma(h) / denominator(h) P(w|h'), as in lmplz. ``count`` still
reports the raw counts.

Counting in parts: ``fit`` adds to what earlier calls counted, so a corpus counted in parts gives
the same model as counted at once (the vocabulary, with ``min_count``, is rebuilt from the counts
of all parts; ``fit`` keeps what it counted, one row per predicted position). A loaded model goes
on counting from its saved counts; the words its vocabulary had already folded into ``<unk>``
stay there.

The nltk convention (``convention="nltk"``) reproduces ``nltk.lm`` fitted after
``padded_everygram_pipeline`` (MLE, Lidstone, Laplace, WittenBellInterpolated,
AbsoluteDiscountingInterpolated, KneserNeyInterpolated, StupidBackoff), to 1e-12 for orders >= 2.
Where rnnkit's own convention differs, with the sentence "a b" (bigrams):

1. Whether ``<s>`` is predicted. nltk pads N-1 ``<s>`` and N-1 ``</s>`` and counts every k-gram
   of the padded sentence, so ``<s>`` is a predicted word: its unigram counts are <s> a b </s>,
   P(<s>) = 1/4. rnnkit never predicts ``<s>`` (P(<s>) = 0) and counts one ``</s>``: P(a) = 1/3.
2. The vocabulary size of add-delta. nltk divides by len(vocab) = 5 (<unk>, <s>, </s>, a, b),
   rnnkit by V' = 4, leaving out ``<s>``: in an unseen context Laplace gives 1/5 against 1/4.
3. The base of absolute discounting. nltk ends at the unigram MLE, so an unseen word gets 0;
   rnnkit ends at the uniform 1/V': P(<unk>) = 0.5 * 3 * (1/4) / 3 = 0.125 with D = 0.5.
4. Kneser-Ney. nltk uses continuation counts at every lower order (rnnkit: raw counts for k-grams
   that begin with ``<s>``), discounts the word types after h by their raw counts in gamma, and
   ends at the continuation unigram (an unseen word gets 0) rather than at 1/V'. Its gamma and
   alpha disagree where a k-gram has no continuation ("<s> <s>"), so after "<s>" nltk's
   trigram distribution sums to more than one; the nltk convention reproduces that too.
5. MLE in an unseen context: nltk gives every word 0; rnnkit's own convention backs off.

>>> [NGramLM(2, "mle", convention=c).fit([["a", "b"]]).prob("<s>") for c in ("nltk", "rnnkit")]
[0.25, 0.0]
>>> [NGramLM(2, "laplace", convention=c).fit([["a", "b"]]).prob("a", ["zebra"]) for c in ("nltk", "rnnkit")]
[0.2, 0.25]
>>> [NGramLM(2, "absolute", 0.5, convention=c).fit([["a", "b"]]).prob("zebra") for c in ("nltk", "rnnkit")]
[0.0, 0.125]

(At order 1 nltk pads nothing and scores ``<s>`` and ``</s>`` as ``<unk>`` when they are not in
its vocabulary; that corner is not reproduced.)

In an unseen context the interpolated models (witten-bell, absolute,
kneser-ney) use P(w|h'), so every distribution sums to one over the V'
predicted entries in every context.

Queries as KenLM's: ``full_scores(sentence)`` yields, for every word and the final ``</s>``,
(log10 P(w | h), the length of the longest n-gram (h w) counted and not pruned, whether w is
out of vocabulary), as ``kenlm.Model.full_scores``. ARPA files (``to_arpa`` / ``from_arpa``):
see :mod:`rnnkit.lm.arpa`.

Perplexity (the SRILM convention): exp(-(1/M) sum log P(w_i | h_i)), summed
over every word and one ``</s>`` per sentence, not the ``<s>`` padding; M is
the number of those predictions.

Decoding: the model follows :mod:`rnnkit.decoding`'s protocol (``initial_state``,
``step``, ``select``); its state is the last N-1 ids of each hypothesis, (K, N-1),
with -1 where there is no history yet.

Files: ``save(path)`` writes one safetensors file (``path`` itself when it ends
in ``.safetensors``, otherwise ``path/ngram.safetensors`` in a directory made
for it), atomically. It holds, per order k = m + 1, the sorted context codes
``level{m}.contexts``, the sorted k-gram codes ``level{m}.ngrams`` and their raw
counts ``level{m}.counts`` (int64), plus, for kneser-ney, the counts a(g) it
discounts as ``level{m}.kn_counts`` (float64) (a model read from an ARPA file holds
``level{m}.logprobs`` per n-gram and ``level{m}.backoffs`` per context instead); the metadata holds the
constructor arguments and the discounts as JSON (``config``), the vocabulary
as :meth:`Vocabulary.to_json` (``vocab``), and a SHA-256 of all of it
(``sha256``). ``NGramLM.load(path)`` checks the digest, the structure of every
array and that the counts give the saved discounts back, and raises
:class:`rnnkit.io.CheckpointError` naming the file otherwise; every other
statistic is recomputed from the counts, so a loaded model gives exactly the
same probabilities. Nothing is pickled.

Example
-------
>>> import numpy as np
>>> from rnnkit.lm.ngram import NGramLM
>>> lm = NGramLM(2, "mle").fit([["a", "b"], ["a", "c"]])
>>> lm.prob("b", ["a"]), lm.prob("a", ["<s>"]), lm.prob("</s>", ["b"])
(0.5, 1.0, 1.0)
>>> round(lm.perplexity([["a", "b"]]), 6)     # exp(-(log 1 + log 0.5 + log 1) / 3)
1.259921
>>> kn = NGramLM(3, "kneser-ney").fit([["a", "b"], ["a", "c"], ["b", "c"]])
>>> round(float(np.exp(kn.next_logprobs(["<s>", "a"])).sum()), 12)
1.0
>>> kn.generate(5, seed=0) == kn.generate(5, seed=0)
True
>>> import tempfile
>>> path = kn.save(tempfile.mkdtemp())
>>> NGramLM.load(path).next_logprobs(["a"]).tolist() == kn.next_logprobs(["a"]).tolist()
True
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import numbers
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from rnnkit._validate import check_choice, check_positive_int
from rnnkit.io import CheckpointError, load_bytes, save_file
from rnnkit.text.vocab import Vocabulary

logger = logging.getLogger(__name__)

SMOOTHINGS = ("mle", "lidstone", "laplace", "witten-bell", "kneser-ney", "absolute", "stupid-backoff")
CONVENTIONS = ("rnnkit", "nltk")
KN_FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # lmplz --discount_fallback's default
STUPID_BACKOFF_ALPHA = 0.4  # Brants et al. 2007
ARPA_LOG_ZERO = -99.0  # log10 probabilities at or below this are 0 (SRILM writes log10(0) as -99)
ABSOLUTE_FALLBACK_DISCOUNT = 0.5
MODEL_FILE = "ngram.safetensors"  # the file name inside a directory given to save / load
_FILE_FORMAT = "rnnkit.NGramLM"
_FILE_VERSION = 1


def _find(sorted_codes: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Index of each code in ``sorted_codes``, -1 where absent."""
    if sorted_codes.size == 0:
        return np.full(codes.shape, -1, dtype=np.int64)
    idx = np.searchsorted(sorted_codes, codes)
    idx = np.minimum(idx, sorted_codes.size - 1)
    return np.where(sorted_codes[idx] == codes, idx, -1)


def kn_discounts(
    n: Sequence[int], fallback: Sequence[float] = KN_FALLBACK_DISCOUNTS
) -> tuple[tuple[float, float, float], bool]:
    """Chen and Goodman's (D1, D2, D3+) from the counts-of-counts (n1, n2, n3, n4), and whether they fell back.

    KenLM's rule (lmplz ``--discount_fallback``): the estimate of an order is refused as a whole when
    one of n1, n2, n3 is 0 (a formula divides by it, or its discount would equal its count) or when a
    discount falls outside [0, r]; the order then takes ``fallback`` (default 0.5, 1, 1.5) for all three.
    n4 = 0 is allowed (D3+ = 3).

    >>> [round(d, 12) for d in kn_discounts((9, 3, 1, 0))[0]], kn_discounts((9, 2, 0, 0))
    ([0.6, 1.4, 3.0], ((0.5, 1.0, 1.5), True))
    """
    n1, n2, n3, n4 = (float(x) for x in n)
    if n1 == 0 or n2 == 0 or n3 == 0:
        return tuple(float(d) for d in fallback), True
    y = n1 / (n1 + 2 * n2)
    ds = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    if not all(0.0 <= d <= r for r, d in enumerate(ds, start=1)):
        return tuple(float(d) for d in fallback), True
    return ds, False


def _cut_at_start(hist: np.ndarray, bos: int) -> np.ndarray:
    """Drop (-1) the words older than the newest ``bos`` of each history row (n, N-1)."""
    if hist.shape[1] == 0:
        return hist
    is_bos = hist == bos
    newest = np.where(is_bos.any(axis=1), hist.shape[1] - 1 - np.argmax(is_bos[:, ::-1], axis=1), -1)
    return np.where(np.arange(hist.shape[1])[None, :] < newest[:, None], -1, hist)


class _Level:
    """Counts of the (m+1)-grams, i.e. of predictions after contexts of m words, and per-context sums.

    Contexts of m words get ids 0..n_ctx-1: a context's code is id(its m-1 newest words) * V +
    its oldest word, kept sorted in ``ctx_codes``. An (m+1)-gram's code is id(context) * V + word,
    kept sorted in ``codes``, so one context's words are a contiguous run. ``adj`` holds the counts
    the smoothing uses (raw, or Kneser-Ney's continuation counts), ``counts`` the same with the pruned
    n-grams set to 0 (what the queries read) and a 0 sentinel at the end; ``keep`` marks the listed
    (unpruned) n-grams. A model read from an ARPA file holds log10 probabilities in ``counts`` (NaN
    sentinel) and the log10 backoff weight of each context in ``bow``.
    """

    __slots__ = ("ctx_codes", "codes", "raw", "adj", "counts", "keep", "total", "types", "gnum", "denom", "disc", "bow")


class NGramLM:
    """An order-N n-gram language model over a :class:`Vocabulary` with ``<unk>``, ``<s>`` and ``</s>``.

    ``delta`` is the one number of the smoothing: Lidstone's added count (required for "lidstone",
    omitted or 1 for "laplace"), the fixed discount 0 < D <= 1 of "absolute" and "kneser-ney"
    (omitted: Ney's estimate per order, or modified Kneser-Ney's three discounts per order), or
    stupid backoff's factor alpha (omitted: 0.4). ``vocab`` fixes the vocabulary (it must have a bos
    token, used as the start symbol; its eos token is the end symbol); otherwise ``fit`` builds one
    with ``min_count`` and the given ``unk``, ``bos``, ``eos`` strings. ``collapse_start`` cuts each
    history at its newest ``<s>`` (SRILM's and KenLM's single sentence start; default True, and
    False under ``convention="nltk"``). ``discount_fallback`` is modified Kneser-Ney's (D1, D2, D3+)
    for an order whose counts of counts give no valid estimate (KenLM's rule, see
    :func:`kn_discounts`). ``prune`` holds one count threshold per order (lmplz ``--prune``): the
    n-grams of order >= 2 seen at most that many times are dropped, and their probability mass goes
    to the backoff of their context. ``convention="nltk"`` counts and smooths as ``nltk.lm`` does
    after ``padded_everygram_pipeline``. See the module docstring for the maths.
    """

    def __init__(
        self,
        order: int,
        smoothing: str = "kneser-ney",
        delta: float | None = None,
        *,
        min_count: int = 1,
        vocab: Vocabulary | None = None,
        unk: str = "<unk>",
        bos: str = "<s>",
        eos: str = "</s>",
        collapse_start: bool | None = None,
        discount_fallback: Sequence[float] = KN_FALLBACK_DISCOUNTS,
        prune: Sequence[int] | None = None,
        convention: str = "rnnkit",
    ) -> None:
        where = "NGramLM"
        self.order = check_positive_int(where, "order", order)
        self.smoothing = check_choice(where, "smoothing", smoothing, SMOOTHINGS)
        self.delta = self._check_delta(where, smoothing, delta)
        self.min_count = check_positive_int(where, "min_count", min_count)
        self.convention = check_choice(where, "convention", convention, CONVENTIONS)
        if vocab is not None:
            if not isinstance(vocab, Vocabulary):
                raise TypeError(f"{where}: vocab must be a Vocabulary or None, got {type(vocab).__name__}")
            if vocab.bos_id is None:
                raise ValueError(f"{where}: vocab must have a bos_token (the start symbol), got {vocab!r}")
        if collapse_start is None:
            collapse_start = convention == "rnnkit"
        if not isinstance(collapse_start, bool):
            raise TypeError(f"{where}: collapse_start must be a bool, got {type(collapse_start).__name__}")
        if collapse_start and convention == "nltk":
            raise ValueError(f"{where}: collapse_start must be False with convention='nltk', got True")
        self.collapse_start = collapse_start
        self.discount_fallback = self._check_fallback(where, discount_fallback)
        self.prune = self._check_prune(where, prune)
        self._given_vocab = vocab
        self._names = {"unk": unk, "bos": bos, "eos": eos}
        for k, v in self._names.items():
            if not isinstance(v, str) or not v:
                raise TypeError(f"{where}: {k} must be a non-empty str, got {v!r}")
        if len(set(self._names.values())) != 3:
            raise ValueError(f"{where}: unk, bos and eos must be distinct, got {self._names}")
        self.vocab: Vocabulary | None = None
        self.discounts: dict[int, tuple[float, ...]] = {}
        self._levels: list[_Level] = []
        self._rows = None  # what fit has counted: (hist (P, N-1), words (P,), weights (P,)) in raw ids
        self._raw: dict[str, int] = {}  # token -> raw id (every token fit has seen; specials first)
        self._raw_freq = np.zeros(0, dtype=np.int64)  # occurrences of each raw id inside sentences

    @staticmethod
    def _check_delta(where: str, smoothing: str, delta) -> float | None:
        if delta is not None and (isinstance(delta, bool) or not isinstance(delta, numbers.Real)):
            raise TypeError(f"{where}: delta must be a float or None, got {type(delta).__name__} {delta!r}")
        if smoothing == "lidstone":
            if delta is None or not (math.isfinite(delta) and delta > 0):
                raise ValueError(f"{where}: delta must be a finite float > 0 for smoothing='lidstone', got {delta}")
            return float(delta)
        if smoothing == "laplace":
            if delta is not None and delta != 1:
                raise ValueError(f"{where}: delta must be None or 1 for smoothing='laplace', got {delta}")
            return 1.0
        if smoothing in ("absolute", "kneser-ney"):
            if delta is not None and not (0 < delta <= 1):
                raise ValueError(
                    f"{where}: delta (the discount D) must be in (0, 1] for smoothing={smoothing!r}, got {delta}"
                )
            return None if delta is None else float(delta)
        if smoothing == "stupid-backoff":
            if delta is None:
                return STUPID_BACKOFF_ALPHA
            if not (0 < delta <= 1):
                raise ValueError(f"{where}: delta (the factor alpha) must be in (0, 1] for stupid-backoff, got {delta}")
            return float(delta)
        if delta is not None:
            raise ValueError(
                f"{where}: delta is only used by smoothing='lidstone', 'absolute', 'kneser-ney' or "
                f"'stupid-backoff', got delta={delta} with smoothing={smoothing!r}"
            )
        return None

    @staticmethod
    def _check_fallback(where: str, fb) -> tuple[float, float, float]:
        if isinstance(fb, (str, bytes)) or not isinstance(fb, Sequence) or len(fb) != 3:
            raise ValueError(f"{where}: discount_fallback must be three discounts (D1, D2, D3+), got {fb!r}")
        out = []
        for r, d in enumerate(fb, start=1):
            if isinstance(d, bool) or not isinstance(d, numbers.Real) or not 0 <= d <= r:
                raise ValueError(f"{where}: discount_fallback[{r - 1}] (D{r}) must be in [0, {r}], got {d!r}")
            out.append(float(d))
        return tuple(out)

    def _check_prune(self, where: str, prune) -> tuple[int, ...] | None:
        if prune is None:
            return None
        if isinstance(prune, (str, bytes)) or not isinstance(prune, Sequence) or not 1 <= len(prune) <= self.order:
            raise ValueError(
                f"{where}: prune must be 1 to {self.order} count thresholds (one per order), got {prune!r}"
            )
        t = []
        for i, x in enumerate(prune):
            if isinstance(x, bool) or not isinstance(x, numbers.Integral) or x < 0:
                raise ValueError(f"{where}: prune[{i}] must be an int >= 0, got {x!r}")
            t.append(int(x))
        if t[0] != 0:
            raise ValueError(f"{where}: prune[0] must be 0 (unigrams are never pruned), got {t[0]}")
        if any(b < a for a, b in zip(t, t[1:])):
            raise ValueError(f"{where}: prune must be non-decreasing (as lmplz requires), got {tuple(t)}")
        if self.smoothing in ("mle", "lidstone", "laplace") and any(t):
            raise ValueError(
                f"{where}: prune needs a smoothing with a backoff (witten-bell, absolute, kneser-ney, "
                f"stupid-backoff), got smoothing={self.smoothing!r}"
            )
        t += [t[-1]] * (self.order - len(t))  # the last threshold applies to the remaining orders
        return tuple(t) if any(t) else None

    def __repr__(self) -> str:
        v = "unfitted" if self.vocab is None else f"V={len(self.vocab)}"
        return f"NGramLM(order={self.order}, smoothing={self.smoothing!r}, {v})"

    # -- fitting ----------------------------------------------------------------------------
    def _check_sentences(self, where: str, sentences) -> list:
        if isinstance(sentences, (str, bytes)) or not isinstance(sentences, Iterable):
            raise TypeError(f"{where}: sentences must be an iterable of token lists, got {type(sentences).__name__}")
        out = []
        for i, s in enumerate(sentences):
            if isinstance(s, str) or not isinstance(s, (Sequence, np.ndarray)):
                raise TypeError(
                    f"{where}: sentences[{i}] must be a list of str tokens, got {type(s).__name__} {str(s)[:30]!r} "
                    "(use line.split() for words, list(line) for characters)"
                )
            if not all(isinstance(w, str) for w in s):
                bad = next(w for w in s if not isinstance(w, str))
                raise TypeError(f"{where}: sentences[{i}] must hold str tokens, got {type(bad).__name__} {bad!r}")
            out.append(s)
        if not out:
            raise ValueError(f"{where}: sentences must hold at least one sentence, got none")
        return out

    def _pad(
        self, where: str, sents: list, get, unk: int, bos: int, eos: int, bos_name: str
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The padded sentences concatenated, the start offset of each, and which positions are padding:
        [<s>]*(N-1) + ids + [</s>] (convention "nltk": N-1 </s>, as ``padded_everygram_pipeline``)."""
        n_end = self.order - 1 if self.convention == "nltk" else 1
        pad, end = [bos] * (self.order - 1), [eos] * n_end
        flat: list[int] = []
        starts = []
        for s in sents:
            starts.append(len(flat))
            flat.extend(pad)
            flat.extend([get(w, unk) for w in s])
            flat.extend(end)
        arr = np.array(flat, dtype=np.int64)
        if np.count_nonzero(arr == bos) != len(pad) * len(sents):
            i = next(i for i, s in enumerate(sents) if bos_name in s)
            raise ValueError(
                f"{where}: sentences[{i}] must not contain the start symbol {bos_name!r} (it is added as padding)"
            )
        begin = np.array(starts, dtype=np.int64)
        is_pad = np.zeros(arr.size, dtype=bool)
        is_pad[(begin[:, None] + np.arange(len(pad))).reshape(-1)] = True
        is_pad[(np.append(begin[1:], arr.size)[:, None] - 1 - np.arange(n_end)).reshape(-1)] = True
        return arr, begin, is_pad

    def _rows_of(self, flat: np.ndarray, starts: np.ndarray, bos: int) -> tuple[np.ndarray, np.ndarray]:
        """(hist (P, N-1), words (P,)): every predicted position and the N-1 tokens before it (-1 where
        absent, on the left). "rnnkit": every token but <s> is predicted; "nltk": every token, its
        history going no further back than its sentence's first <s>."""
        n = self.order - 1
        if self.convention == "nltk":
            pos = np.arange(flat.size)
            first = np.repeat(starts, np.diff(np.append(starts, flat.size)))
        else:
            pos = np.flatnonzero(flat != bos)
            first = None
        cols = []
        for j in range(n, 0, -1):
            back = pos - j
            col = flat[np.maximum(back, 0)]
            cols.append(col if first is None else np.where(back >= first, col, -1))
        hist = np.stack(cols, axis=1) if n else np.zeros((pos.size, 0), np.int64)
        if self.collapse_start:
            hist = _cut_at_start(hist, bos)
        return hist, flat[pos]

    def fit(self, sentences: Iterable[Sequence[str]]) -> NGramLM:
        """Count the n-grams of ``sentences`` (an iterable of token lists) and add them to what earlier
        calls counted; returns ``self``. A corpus counted in parts gives the same model as counted at
        once (the vocabulary, with ``min_count``, is built from the counts of all parts)."""
        where = "NGramLM.fit"
        sents = self._check_sentences(where, sentences)
        if self.smoothing == "arpa":
            raise RuntimeError(f"{where}: a model read from an ARPA file holds probabilities, not counts")
        if self.vocab is not None and self._rows is None:
            self._rows_from_levels()  # a loaded model: its counts, in its vocabulary's ids
        n = self._names
        if self._given_vocab is not None:
            v = self._given_vocab
            flat, starts, _ = self._pad(where, sents, v._stoi.get, v.unk_id, v.bos_id, v.eos_id, v.bos_token)
            hist, words = self._rows_of(flat, starts, v.bos_id)
        else:
            raw = self._raw
            if not raw:
                raw.update({n["unk"]: 0, n["bos"]: 1, n["eos"]: 2})

            def get(w, _unk, raw=raw):
                return raw.setdefault(w, len(raw))

            flat, starts, is_pad = self._pad(where, sents, get, 0, 1, 2, n["bos"])
            hist, words = self._rows_of(flat, starts, 1)
            inner = flat[~is_pad]  # the sentences' own tokens
            freq = np.bincount(inner, minlength=len(raw))
            freq[: self._raw_freq.size] += self._raw_freq
            self._raw_freq = freq
        hist, words = hist.astype(np.int32), words.astype(np.int32)  # kept for later fits: half the memory
        weights = np.ones(words.size, dtype=np.int64)
        if self._rows is not None:
            old_h, old_w, old_c = self._rows
            hist, words, weights = (
                np.concatenate([old_h, hist]),
                np.concatenate([old_w, words]),
                np.concatenate([old_c, weights]),
            )
        self._rows = (hist, words, weights)
        if self._given_vocab is not None:
            self.vocab = self._given_vocab
            self._count_rows(hist, words, weights)
            return self
        tokens = list(self._raw)  # in raw-id order
        self.vocab = Vocabulary.from_counts(
            dict(zip(tokens, self._raw_freq.tolist())),
            min_count=self.min_count,
            unk_token=n["unk"],
            eos_token=n["eos"],
            bos_token=n["bos"],
        )
        table = np.array([self.vocab.index(t) for t in tokens], dtype=np.int64)
        self._count_rows(np.where(hist >= 0, table[np.maximum(hist, 0)], -1), table[words], weights)
        return self

    def _context_words(self) -> list[np.ndarray]:
        """The words of every context, oldest first: a (n_ctx, m) array per level m."""
        V = len(self.vocab)
        out = [np.zeros((1, 0), dtype=np.int64)]
        for lv in self._levels[1:]:
            out.append(np.concatenate([(lv.ctx_codes % V)[:, None], out[-1][lv.ctx_codes // V]], axis=1))
        return out

    def _rows_from_levels(self) -> None:
        """Rebuild the counted rows of a loaded model: each n-gram, weighted by the times it was the
        longest one counted at a position (its count less those of the n-grams one word longer)."""
        V, N = len(self.vocab), self.order
        ctx_words = self._context_words()
        longest = [lv.raw.astype(np.int64).copy() for lv in self._levels]
        for m in range(N - 1):
            up = self._levels[m + 1]
            suffix = _find(self._levels[m].codes, (up.ctx_codes[up.codes // V] // V) * V + up.codes % V)
            np.subtract.at(longest[m], suffix, up.raw)
        hists, words, weights = [], [], []
        for m, lv in enumerate(self._levels):
            sel = np.flatnonzero(longest[m] > 0)
            ctx = ctx_words[m][lv.codes[sel] // V]
            hists.append(np.concatenate([np.full((sel.size, N - 1 - m), -1, dtype=np.int64), ctx], axis=1))
            words.append(lv.codes[sel] % V)
            weights.append(longest[m][sel])
        self._rows = (np.concatenate(hists), np.concatenate(words), np.concatenate(weights))
        if self._given_vocab is None:  # the loaded vocabulary's words (those it had dropped stay in <unk>)
            self._raw = {t: i for i, t in enumerate(self.vocab.tokens)}
            self._raw_freq = np.asarray(self.vocab.counts, dtype=np.int64).copy()

    def _count_rows(self, hist: np.ndarray, words: np.ndarray, weights: np.ndarray) -> None:
        """Build the count levels from predictions ``words`` (P,) after ``hist`` (P, N-1), each seen
        ``weights`` times."""
        N, V, bos = self.order, len(self.vocab), self.vocab.bos_id
        P = words.size
        cid = np.zeros(P, dtype=np.int64)
        alive = np.ones(P, dtype=bool)  # rows whose context of m words exists
        levels, inverse, first = [], [], []
        for m in range(N):
            lv = _Level()
            if m == 0:
                lv.ctx_codes = np.zeros(1, dtype=np.int64)
            else:  # extend each (m-1)-word context by its next older word
                tok = hist[:, N - 1 - m]
                alive &= tok >= 0
                lv.ctx_codes, inv = np.unique(cid[alive] * V + tok[alive], return_inverse=True)
                cid = np.full(P, -1, dtype=np.int64)
                cid[alive] = inv.reshape(-1)
            sel = np.flatnonzero(alive)
            lv.codes, fst, inv = np.unique(cid[sel] * V + words[sel], return_index=True, return_inverse=True)
            inv = inv.reshape(-1)
            lv.raw = np.bincount(inv, weights=weights[sel], minlength=lv.codes.size).astype(np.int64)
            full_inv = np.full(P, -1, dtype=np.int64)
            full_inv[sel] = inv
            levels.append(lv)
            inverse.append(full_inv)
            first.append(sel[fst])  # a row of each distinct (m+1)-gram
        for m, lv in enumerate(levels):
            if self.smoothing == "kneser-ney" and m < N - 1:
                # continuation count: distinct (m+2)-grams whose newest m+1 words are this (m+1)-gram
                suffix = inverse[m][first[m + 1]]
                cont = np.bincount(suffix, minlength=lv.codes.size)
                if self.convention == "rnnkit" and m > 0:  # nothing precedes a k-gram that begins with <s>
                    starts_bos = hist[first[m], N - 1 - m] == bos
                    cont = np.where(starts_bos, lv.raw, cont)
                lv.adj = cont.astype(np.float64)
            else:
                lv.adj = lv.raw.astype(np.float64)
            self._level_stats(m, lv, V)
        self._levels = levels

    def _level_stats(self, m: int, lv: _Level, V: int) -> None:
        """Per-context sums, the discounts of order m + 1, and the pruning."""
        ctx = lv.codes // V
        n_ctx = lv.ctx_codes.size
        c = lv.adj
        lv.total = np.bincount(ctx, weights=c, minlength=n_ctx)  # c(h) or a(h)
        lv.types = np.bincount(ctx, minlength=n_ctx).astype(np.float64)  # N1+(h .)
        k, sm = m + 1, self.smoothing
        if sm == "kneser-ney":
            if self.delta is not None:
                ds = (self.delta,) * 3
            else:
                n = [int(np.count_nonzero(c == r)) for r in (1, 2, 3, 4)]
                ds, fell = kn_discounts(n, self.discount_fallback)
                if fell:
                    logger.warning(
                        "NGramLM.fit: the modified Kneser-Ney discounts of the %d-grams are undefined or out of "
                        "range (n1..n4 = %s); the order uses the fallback discounts %s",
                        k,
                        n,
                        ds,
                    )
            self.discounts[k] = ds
            lv.disc = np.array([0.0, *ds])
        elif sm == "absolute":
            if self.delta is not None:
                d = self.delta
            else:
                n1, n2 = (int(np.count_nonzero(c == r)) for r in (1, 2))
                d = n1 / (n1 + 2 * n2) if n1 > 0 else ABSOLUTE_FALLBACK_DISCOUNT
                if n1 == 0:
                    logger.warning("NGramLM.fit: no %d-gram is seen once (n1 = 0); absolute discount D = %.1f", k, d)
            self.discounts[k] = (d,)
            lv.disc = np.array([0.0, d, d, d])
        else:
            lv.disc = None
        if lv.disc is not None:
            kept_mass = lv.disc[np.minimum(c, 3).astype(np.int64)]
            # nltk's gamma discounts the word types after h by their raw counts (its KN: D N1+(h .))
            bucket = lv.raw if self.convention == "nltk" else c
            lv.gnum = np.bincount(ctx, weights=lv.disc[np.minimum(bucket, 3).astype(np.int64)], minlength=n_ctx)
            lv.denom = lv.total.copy()
        elif sm == "witten-bell":
            lv.gnum, lv.denom = lv.types.copy(), lv.total + lv.types
            kept_mass = np.zeros_like(c)
        else:
            lv.gnum, lv.denom = lv.types.copy(), lv.total.copy()
            kept_mass = np.zeros_like(c)
        lv.keep = np.ones(lv.codes.size, dtype=bool)
        if self.prune is not None and m > 0 and self.prune[m] > 0:
            # lmplz: n-grams seen at most t times (raw count) leave; the context keeps its denominator and
            # its backoff mass takes what they held, so every distribution still sums to one
            lv.keep = lv.raw > self.prune[m]
            lost = np.where(lv.keep, 0.0, c - kept_mass)
            lv.gnum = lv.gnum + np.bincount(ctx, weights=lost, minlength=n_ctx)
        # sentinels past the end: a context (denominator 1, nothing to share) and a count (0), read by the
        # gathers of absent contexts and n-grams (index -1), so they stay in bounds and free of 0/0
        lv.total, lv.types, lv.gnum = (np.append(a, x) for a, x in ((lv.total, 1.0), (lv.types, 0.0), (lv.gnum, 0.0)))
        lv.denom = np.append(np.where(lv.denom > 0, lv.denom, 1.0), 1.0)
        lv.counts = np.append(np.where(lv.keep, c, 0.0), 0.0)

    # -- the shared probability recursion ----------------------------------------------------
    def _require_fitted(self, where: str) -> None:
        if self.vocab is None:
            raise RuntimeError(f"{where}: the model is not fitted; call fit(sentences) first")

    def _cut(self, hist: np.ndarray) -> np.ndarray:
        """With ``collapse_start``, drop (-1) the words older than the newest <s> of each history row."""
        return _cut_at_start(hist, self.vocab.bos_id) if self.collapse_start else hist

    def _context_ids(self, hist: np.ndarray) -> np.ndarray:
        """hist (n, N-1) ids, -1 where absent (on the left; already cut) -> context ids (n, N),
        -1 where the context is absent or unseen."""
        n, N, V = hist.shape[0], self.order, len(self.vocab)
        cids = np.full((n, N), -1, dtype=np.int64)
        cids[:, 0] = 0
        for m in range(1, N):
            prev, tok = cids[:, m - 1], hist[:, N - 1 - m]  # tok: the m-th newest word
            ok = (prev >= 0) & (tok >= 0)
            idx = _find(self._levels[m].ctx_codes, prev * V + tok)
            cids[:, m] = np.where(ok, idx, -1)
        return cids

    def _probs(self, cids: np.ndarray, clen: np.ndarray, counts_at, is_bos) -> np.ndarray:
        """P(w | h) for n rows: (n,) for one word per row or (n, V) for the whole vocabulary.

        ``counts_at(m, cid, ok)`` gives the level-m counts of the rows' words (the fill value where
        not ok or not listed); ``is_bos`` marks the start symbol, which is never predicted
        (convention "rnnkit").
        """
        sm, N = self.smoothing, self.order
        nltk = self.convention == "nltk"
        if nltk:
            is_bos = np.zeros_like(is_bos)
        # V': the entries a distribution covers. nltk's vocabulary holds <s> and </s> only when it pads (N > 1)
        Vp = len(self.vocab) - ((2 if N == 1 else 0) if nltk else 1)
        col = (lambda a: a) if is_bos.ndim == 1 else (lambda a: a[:, None])  # (n,) -> broadcast over words

        def level(m):
            lv = self._levels[m]
            ok = cids[:, m] >= 0
            cid = np.where(ok, cids[:, m], lv.ctx_codes.size)  # rows without this context read the sentinel
            return lv, ok, cid, counts_at(m, cid, ok)

        if sm == "arpa":  # log10 domain: a listed n-gram's own value, else the context's backoff plus P(w|h')
            lp = None
            for m in range(N):
                lv, ok, cid, c = level(m)
                if m == 0:
                    lp = np.where(np.isnan(c), -np.inf, c)
                else:
                    lp = np.where(col(ok), np.where(np.isnan(c), col(lv.bow[cid]) + lp, c), lp)
            with np.errstate(over="ignore"):
                return np.where(is_bos | (lp <= ARPA_LOG_ZERO), 0.0, np.power(10.0, lp))

        if sm in ("mle", "lidstone", "laplace"):
            # mle: the longest seen context (nltk: the context as given); add-delta: the context as given
            use = (cids >= 0).sum(axis=1) - 1 if sm == "mle" and not nltk else clen
            p = np.zeros(is_bos.shape)
            for m in range(N):
                rows = use == m
                if not rows.any():
                    continue
                lv, ok, cid, c = level(m)
                total = col(np.where(ok, lv.total[cid], 0.0))
                if sm == "mle":
                    val = c / np.where(total > 0, total, 1.0)
                else:
                    val = (c + self.delta) / (total + self.delta * Vp)
                p = np.where(col(rows), val, p)
            return np.where(is_bos, 0.0, p)

        if sm == "stupid-backoff":
            # S(w|h) = c(h w) / c(h) when c(h w) > 0, else alpha S(w|h'), for a seen or unseen h alike
            p = None
            for m in range(N):
                lv, ok, cid, c = level(m)
                rel = c / col(np.where(ok, lv.total[cid], 1.0))
                if m == 0:
                    p = rel
                else:
                    p = np.where(col(m < clen + 1) & (c > 0), rel, np.where(col(m < clen + 1), self.delta * p, p))
            return np.where(is_bos, 0.0, p)

        # an MLE bottom: witten-bell; nltk's absolute and Kneser-Ney (the latter on continuation counts)
        mle_bottom = sm == "witten-bell" or nltk
        p = np.where(is_bos, 0.0, 1.0 / Vp)  # the uniform bottom of rnnkit's absolute and kneser-ney
        for m in range(N):
            lv, ok, cid, c = level(m)
            denom, g = col(lv.denom[cid]), col(lv.gnum[cid])
            if m == 0 and mle_bottom:
                new = c / col(lv.total[cid])
            elif sm == "witten-bell":
                new = (c + g * p) / denom
            else:  # kneser-ney, absolute: discount each seen count, give the discounted mass to P(w|h')
                new = (c - lv.disc[np.minimum(c, 3).astype(np.int64)] + g * p) / denom
            p = np.where(col(ok), new, p)
        return p

    def _fill(self) -> float:
        return math.nan if self.smoothing == "arpa" else 0.0

    def _pair_probs(self, hist: np.ndarray, words: np.ndarray) -> np.ndarray:
        """P(words[i] | hist[i]) for hist (n, N-1) (-1 = absent, on the left) and words (n,)."""
        V = len(self.vocab)
        hist = self._cut(hist)
        cids = self._context_ids(hist)
        clen = (hist >= 0).sum(axis=1)
        fill = self._fill()

        def counts_at(m, cid, ok):
            lv = self._levels[m]
            idx = _find(lv.codes, cid * V + words)
            return np.where(ok & (idx >= 0), lv.counts[idx], fill)

        return self._probs(cids, clen, counts_at, words == self.vocab.bos_id)

    def _dense_probs(self, hist: np.ndarray) -> np.ndarray:
        """The full distribution (K, V) after each row of hist (K, N-1)."""
        V = len(self.vocab)
        K = hist.shape[0]
        hist = self._cut(hist)
        cids = self._context_ids(hist)
        clen = (hist >= 0).sum(axis=1)
        fill = self._fill()

        def counts_at(m, cid, ok):
            lv = self._levels[m]
            out = np.full((K, V), fill)
            lo = np.searchsorted(lv.codes, cid * V)
            hi = np.searchsorted(lv.codes, (cid + 1) * V)
            for k in np.flatnonzero(ok):
                out[k, lv.codes[lo[k] : hi[k]] - cid[k] * V] = lv.counts[lo[k] : hi[k]]
            return out

        is_bos = np.zeros((K, V), dtype=bool)
        is_bos[:, self.vocab.bos_id] = True
        return self._probs(cids, clen, counts_at, is_bos)

    def _matched_length(self, hist: np.ndarray, words: np.ndarray) -> np.ndarray:
        """KenLM's n-gram length: 1 + the length of the longest history suffix h with (h w) listed (seen
        and not pruned; for an ARPA model, written in the file); at least 1."""
        V = len(self.vocab)
        hist = self._cut(hist)
        cids = self._context_ids(hist)
        length = np.ones(words.size, dtype=np.int64)
        for m in range(1, self.order):
            lv = self._levels[m]
            ok = cids[:, m] >= 0
            idx = _find(lv.codes, np.where(ok, cids[:, m], 0) * V + words)
            listed = ok & (idx >= 0) & lv.keep[np.maximum(idx, 0)]
            length = np.where(listed, m + 1, length)
        return length

    # -- public scoring -----------------------------------------------------------------------
    def _history(self, where: str, context) -> np.ndarray:
        """The last N-1 context ids as a (1, N-1) row, -1-filled on the left."""
        if context is None:
            context = ()
        if isinstance(context, str) or not isinstance(context, (Sequence, np.ndarray)):
            raise TypeError(
                f"{where}: context must be a list or tuple of str words, got {type(context).__name__} {context!r}"
            )
        for w in context:
            if not isinstance(w, str):
                raise TypeError(f"{where}: context must hold str words, got {type(w).__name__} {w!r}")
        n = self.order - 1
        ids = [self.vocab.index(w) for w in list(context)[max(0, len(context) - n) :]] if n else []
        return np.array([[-1] * (n - len(ids)) + ids], dtype=np.int64).reshape(1, n)

    def _word_id(self, where: str, word) -> int:
        if not isinstance(word, str):
            raise TypeError(f"{where}: word must be a str, got {type(word).__name__} {word!r}")
        return self.vocab.index(word)

    def prob(self, word: str, context: Sequence[str] = ()) -> float:
        """P(word | context), context the previous words (only the last N-1 are used)."""
        where = "NGramLM.prob"
        self._require_fitted(where)
        w = np.array([self._word_id(where, word)])
        return float(self._pair_probs(self._history(where, context), w)[0])

    def logprob(self, word: str, context: Sequence[str] = ()) -> float:
        """log P(word | context) in nats (-inf when the probability is 0)."""
        p = self.prob(word, context)
        return math.log(p) if p > 0 else -math.inf

    def next_logprobs(self, context: Sequence[str] = ()) -> np.ndarray:
        """log P(w | context) for every id w of ``vocab``: (V,), -inf at ``<s>`` and at probability-0 words."""
        where = "NGramLM.next_logprobs"
        self._require_fitted(where)
        p = self._dense_probs(self._history(where, context))[0]
        with np.errstate(divide="ignore"):
            return np.log(p)

    def count(self, ngram: Sequence[str]) -> int:
        """How often the last word of ``ngram`` was predicted after the words before it (raw count)."""
        where = "NGramLM.count"
        self._require_fitted(where)
        if self.smoothing == "arpa":
            raise RuntimeError(f"{where}: a model read from an ARPA file holds probabilities, not counts")
        if isinstance(ngram, str) or not isinstance(ngram, Sequence) or not 1 <= len(ngram) <= self.order:
            raise ValueError(f"{where}: ngram must be a sequence of 1 to {self.order} words, got {ngram!r}")
        ngram = list(ngram)
        hist = self._cut(self._history(where, ngram[:-1]))
        m = int((hist >= 0).sum())
        cid = self._context_ids(hist)[0, m]
        if cid < 0:
            return 0
        lv = self._levels[m]
        idx = _find(lv.codes, np.array([cid * len(self.vocab) + self._word_id(where, ngram[-1])]))[0]
        return int(lv.raw[idx]) if idx >= 0 else 0

    def ngram_counts(self) -> tuple[int, ...]:
        """How many distinct m-grams the model holds for m = 1 .. order (``<s>`` padding included).

        >>> lm = NGramLM(2, "mle").fit([["a", "b"], ["a"]])
        >>> lm.ngram_counts()  # unigrams a, b, </s>; bigrams <s> a, a b, b </s>, a </s>
        (3, 4)
        """
        self._require_fitted("NGramLM.ngram_counts")
        return tuple(int(lv.codes.size) for lv in self._levels)

    def _scored_rows(self, where: str, sents: list, bos: bool = True, eos: bool = True):
        """(hist (P, N-1), words (P,)) of the predictions SRILM and KenLM score: every word and, with
        ``eos``, one ``</s>`` per sentence; with ``bos`` the history starts at ``<s>``, otherwise empty."""
        v = self.vocab
        n = self.order - 1
        hists, words = [], []
        for s in sents:
            ids = [v.index(w) for w in s]
            if v.bos_id in ids:
                raise ValueError(
                    f"{where}: sentences[{sents.index(s)}] must not contain the start symbol {v.bos_token!r} "
                    "(it is added as padding)"
                )
            seq = ([v.bos_id] * n if bos else [-1] * n) + ids + ([v.eos_id] if eos else [])
            arr = np.array(seq, dtype=np.int64)
            pos = np.arange(n, arr.size)
            hists.append(
                np.stack([arr[pos - j] for j in range(n, 0, -1)], axis=1) if n else np.zeros((pos.size, 0), np.int64)
            )
            words.append(arr[pos])
        return np.concatenate(hists), np.concatenate(words)

    def _refuse_scores(self, where: str) -> None:
        if self.smoothing == "stupid-backoff":
            raise ValueError(
                f"{where}: smoothing='stupid-backoff' gives scores, not probabilities (they do not sum to one), "
                "so a perplexity would mean nothing; use full_scores or logprob to rank"
            )

    def total_logprob(self, sentences: Iterable[Sequence[str]]) -> tuple[float, int]:
        """(sum of log P over every word and one ``</s>`` per sentence, the number M of those predictions)."""
        where = "NGramLM.total_logprob"
        self._require_fitted(where)
        self._refuse_scores(where)
        sents = self._check_sentences(where, sentences)
        hist, words = self._scored_rows(where, sents)
        p = self._pair_probs(hist, words)
        if (p <= 0).any():
            return -math.inf, int(words.size)
        return float(np.log(p).sum()), int(words.size)

    def full_scores(
        self, sentence: str | Sequence[str], bos: bool = True, eos: bool = True
    ) -> Iterator[tuple[float, int, bool]]:
        """KenLM's ``full_scores``: for every word of ``sentence`` and (``eos``) the ``</s>`` after it,
        yield (log10 P(w | h), the length of the n-gram that matched, whether w is out of vocabulary).

        ``sentence`` is a list of tokens, or a str split on whitespace (KenLM's form). The history
        starts at ``<s>`` (``bos``) or empty. The n-gram length is 1 + the length of the longest
        history suffix h such that (h w) was counted and not pruned (for a model read from an ARPA
        file, written in the file); w is out of vocabulary when it scores as ``<unk>``. For
        stupid backoff the values are log10 scores, not probabilities.

        >>> lm = NGramLM(2, "kneser-ney").fit([["a", "b"], ["b", "a"]])
        >>> [(round(lp, 4), n, oov) for lp, n, oov in lm.full_scores("a zebra")]
        [(-0.4025, 2, False), (-1.2041, 1, True), (-0.5351, 1, False)]
        """
        where = "NGramLM.full_scores"
        self._require_fitted(where)
        if isinstance(sentence, str):
            sentence = sentence.split()
        sents = self._check_sentences(where, [sentence])
        hist, words = self._scored_rows(where, sents, bos=bool(bos), eos=bool(eos))
        with np.errstate(divide="ignore"):
            lp = np.log10(self._pair_probs(hist, words))
        length = self._matched_length(hist, words)
        oov = words == self.vocab.unk_id
        yield from zip(lp.tolist(), length.tolist(), oov.tolist())

    def perplexity(self, sentences: Iterable[Sequence[str]]) -> float:
        """exp(-(1/M) sum log P), M = number of words + one ``</s>`` per sentence (inf if any P is 0)."""
        total, m = self.total_logprob(sentences)
        return math.exp(-total / m) if math.isfinite(total) else math.inf

    # -- the decoding protocol ----------------------------------------------------------------
    def initial_state(self, prompt_ids: ArrayLike) -> np.ndarray:
        """The last N-1 prompt ids as a (1, N-1) state, -1 where the prompt is shorter."""
        self._require_fitted("NGramLM.initial_state")
        ids = np.asarray(prompt_ids, dtype=np.int64).reshape(-1)
        n = self.order - 1
        ids = ids[max(0, ids.size - n) :] if n else ids[:0]
        return np.concatenate([np.full(n - ids.size, -1, dtype=np.int64), ids]).reshape(1, n)

    def step(self, state: np.ndarray, token_ids: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Feed one token per hypothesis: state (K, N-1), token_ids (K,) -> (logprobs (K, V), state (K, N-1))."""
        where = "NGramLM.step"
        self._require_fitted(where)
        tok = np.asarray(token_ids, dtype=np.int64).reshape(-1)
        if state.shape != (tok.size, self.order - 1):
            raise ValueError(f"{where}: state must have shape ({tok.size}, {self.order - 1}), got {state.shape}")
        if ((tok < 0) | (tok >= len(self.vocab))).any():
            raise ValueError(f"{where}: token_ids must be in [0, {len(self.vocab)}), got {tok.tolist()}")
        hist = np.concatenate([state[:, 1:], tok[:, None]], axis=1) if self.order > 1 else state
        with np.errstate(divide="ignore"):
            return np.log(self._dense_probs(hist)), hist

    def select(self, state: np.ndarray, indices: ArrayLike) -> np.ndarray:
        """Rows ``indices`` of the state (beam search reordering)."""
        return state[np.asarray(indices, dtype=np.int64)]

    def generate(
        self,
        num_words: int,
        context: Sequence[str] = (),
        seed: int | np.random.Generator | None = None,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
    ) -> list[str]:
        """Sample up to ``num_words`` words of a sentence that begins with ``context``; stops at ``</s>``
        (not returned). Uses :func:`rnnkit.decoding.sample`."""
        from rnnkit.decoding import sample

        where = "NGramLM.generate"
        self._require_fitted(where)
        num_words = check_positive_int(where, "num_words", num_words)
        self._history(where, context)  # validates the words
        start = [self.vocab.bos_id] * max(self.order - 1, 1)
        prompt = start + [self.vocab.index(w) for w in (context or ())]
        ids = sample(
            self,
            prompt,
            num_words,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=seed,
            stop_ids=(self.vocab.eos_id,),
        )
        if ids.size and ids[-1] == self.vocab.eos_id:
            ids = ids[:-1]
        return self.vocab.decode(ids)

    # -- files --------------------------------------------------------------------------------
    def to_arpa(self, path: str | os.PathLike) -> Path:
        """Write the model as an ARPA backoff file (interpolated models converted exactly), atomically;
        returns the path. See :mod:`rnnkit.lm.arpa`."""
        from rnnkit.lm.arpa import write_arpa

        return write_arpa(self, path)

    @classmethod
    def from_arpa(cls, path: str | os.PathLike, *, unk: str = "<unk>", bos: str = "<s>", eos: str = "</s>") -> NGramLM:
        """A model that scores as the ARPA file at ``path`` defines (``smoothing == "arpa"``); it can be
        queried, decoded from, saved and written back, but not fitted. See :mod:`rnnkit.lm.arpa`."""
        from rnnkit.lm.arpa import read_arpa

        return read_arpa(path, unk=unk, bos=bos, eos=eos)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted model to ``path`` (a ``.safetensors`` file, or a directory that receives
        ``ngram.safetensors``) atomically; returns the file written. See the module docstring."""
        where = "NGramLM.save"
        self._require_fitted(where)
        file = _model_file(path)
        file.parent.mkdir(parents=True, exist_ok=True)
        tensors = {}
        for m, lv in enumerate(self._levels):
            tensors[f"level{m}.contexts"] = lv.ctx_codes
            tensors[f"level{m}.ngrams"] = lv.codes
            if self.smoothing == "arpa":  # a model read from an ARPA file: its probabilities and backoffs
                tensors[f"level{m}.logprobs"] = lv.counts[:-1]
                tensors[f"level{m}.backoffs"] = lv.bow[:-1]
                continue
            tensors[f"level{m}.counts"] = lv.raw
            if self.smoothing == "kneser-ney":
                tensors[f"level{m}.kn_counts"] = lv.adj
        config = {
            "order": self.order,
            "smoothing": self.smoothing,
            "delta": self.delta,
            "min_count": self.min_count,
            "collapse_start": self.collapse_start,
            "discount_fallback": list(self.discount_fallback),
            "prune": None if self.prune is None else list(self.prune),
            "convention": self.convention,
            **self._names,
            "fixed_vocab": self._given_vocab is not None,
            "discounts": {str(k): list(v) for k, v in self.discounts.items()},
        }
        meta = {
            "format": _FILE_FORMAT,
            "format_version": str(_FILE_VERSION),
            "config": json.dumps(config, sort_keys=True),
            "vocab": self.vocab.to_json(),
        }
        meta["sha256"] = _content_digest(tensors, meta)
        save_file(tensors, file, meta)
        return file

    @classmethod
    def load(cls, path: str | os.PathLike) -> NGramLM:
        """Read a model written by :meth:`save` (the file, or the directory holding ``ngram.safetensors``).

        Raises ``FileNotFoundError`` when nothing is at ``path`` and :class:`rnnkit.io.CheckpointError`
        naming the file when it is truncated, corrupted, or not a saved NGramLM.
        """
        p = Path(path)
        if p.is_dir():
            file = p / MODEL_FILE
            if not file.is_file():
                raise CheckpointError(f"{p}: not a saved NGramLM ({MODEL_FILE} is missing)")
        elif p.is_file():
            file = p
        else:
            raise FileNotFoundError(f"NGramLM.load: no such file or directory: {p}")
        src = str(file)
        tensors, meta = load_bytes(file.read_bytes(), source=src)  # CheckpointError for a broken container
        if meta.get("format") != _FILE_FORMAT:
            raise CheckpointError(
                f"{src}: not a saved NGramLM (metadata format is {meta.get('format')!r}, expected {_FILE_FORMAT!r})"
            )
        if meta.get("format_version") != str(_FILE_VERSION):
            raise CheckpointError(
                f"{src}: format_version {meta.get('format_version')!r} is not one this rnnkit reads "
                f"(expected {_FILE_VERSION})"
            )
        digest = _content_digest(tensors, meta)
        if meta.get("sha256") != digest:
            raise CheckpointError(
                f"{src}: content SHA-256 {digest} differs from the recorded "
                f"{meta.get('sha256')!r}; the file is corrupted"
            )
        try:
            cfg = json.loads(meta["config"])
            vocab = Vocabulary.from_json(meta["vocab"])
            arpa = cfg["smoothing"] == "arpa"
            lm = cls(
                cfg["order"],
                "witten-bell" if arpa else cfg["smoothing"],
                cfg["delta"],
                min_count=cfg["min_count"],
                vocab=vocab if cfg["fixed_vocab"] else None,
                unk=cfg["unk"],
                bos=cfg["bos"],
                eos=cfg["eos"],
                collapse_start=cfg["collapse_start"],
                discount_fallback=tuple(cfg.get("discount_fallback", KN_FALLBACK_DISCOUNTS)),
                prune=cfg.get("prune"),
                convention=cfg.get("convention", "rnnkit"),
            )
            saved_discounts = {int(k): tuple(float(d) for d in v) for k, v in cfg["discounts"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise CheckpointError(f"{src}: config or vocabulary not readable by this rnnkit: {e}") from None
        names = (vocab.unk_token, vocab.bos_token, vocab.eos_token)
        if names != (cfg["unk"], cfg["bos"], cfg["eos"]):
            raise CheckpointError(
                f"{src}: the vocabulary's special tokens {names} differ from the config's "
                f"{(cfg['unk'], cfg['bos'], cfg['eos'])}"
            )
        lm.vocab = vocab
        if arpa:
            lm.smoothing = "arpa"
            lm._levels = _read_levels(src, tensors, lm.order, len(vocab), "arpa")
            return lm
        lm._levels = _read_levels(src, tensors, lm.order, len(vocab), lm.smoothing)
        quiet = _Quiet()
        logger.addFilter(quiet)  # the fallback warnings were logged when the model was fitted
        try:
            for m, lv in enumerate(lm._levels):
                lm._level_stats(m, lv, len(vocab))
        finally:
            logger.removeFilter(quiet)
        if lm.discounts != saved_discounts and "discount_fallback" not in cfg:
            raise CheckpointError(
                f"{src}: saved by an earlier rnnkit, which replaced only the failing Kneser-Ney discount of an "
                f"order (it recorded {saved_discounts}); this one replaces the whole order (KenLM's rule: "
                f"{lm.discounts}). Fit the model again to use it"
            )
        if lm.discounts != saved_discounts:
            raise CheckpointError(
                f"{src}: the counts give the discounts {lm.discounts}, but the file records "
                f"{saved_discounts}; the counts do not belong to this config"
            )
        return lm


class _Quiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


def _model_file(path) -> Path:
    p = Path(path)
    return p if p.suffix == ".safetensors" else p / MODEL_FILE


def _content_digest(tensors: dict, meta: dict) -> str:
    """SHA-256 over the metadata (but the digest itself) and every tensor's name, dtype, shape and bytes."""
    h = hashlib.sha256()
    for k in sorted(meta):
        if k != "sha256":
            h.update(f"{k}\0{meta[k]}\0".encode())
    for name in sorted(tensors):
        a = np.asarray(tensors[name])
        le = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
        h.update(f"{name}\0{le.dtype.str}\0{list(le.shape)}\0".encode())
        h.update(memoryview(le.reshape(-1).view(np.uint8)))
    return h.hexdigest()


def _read_levels(src: str, tensors: dict, order: int, V: int, smoothing: str) -> list[_Level]:
    """Rebuild the count levels from the saved arrays, checking everything the lookups rely on."""
    kn, arpa = smoothing == "kneser-ney", smoothing == "arpa"
    if arpa:
        kinds = ("contexts", "ngrams", "logprobs", "backoffs")
    else:
        kinds = ("contexts", "ngrams", "counts") + (("kn_counts",) if kn else ())
    expected = {f"level{m}.{k}" for m in range(order) for k in kinds}
    if set(tensors) != expected:
        missing, extra = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
        raise CheckpointError(
            f"{src}: tensors do not match an order-{order} model: missing {missing}, unexpected {extra}"
        )

    def get(name, kind):
        a = tensors[name]
        if a.ndim != 1 or a.dtype.kind != kind:
            want = "int64" if kind == "i" else "float64"
            raise CheckpointError(f"{src}: {name} must be a 1-D {want} array, got {a.dtype} {a.shape}")
        return a.astype(np.int64 if kind == "i" else np.float64, copy=False)

    def increasing(name, a, n_ctx):
        if a.size and (a[0] < 0 or (np.diff(a) <= 0).any() or a[-1] // V >= n_ctx):
            raise CheckpointError(
                f"{src}: {name} must be strictly increasing codes of the "
                f"{n_ctx} contexts times V={V}; the file is inconsistent"
            )

    levels, n_prev = [], 1
    for m in range(order):
        lv = _Level()
        lv.ctx_codes = get(f"level{m}.contexts", "i")
        if m == 0 and lv.ctx_codes.tolist() != [0]:
            raise CheckpointError(f"{src}: level0.contexts must be [0] (the empty context)")
        increasing(f"level{m}.contexts", lv.ctx_codes, n_prev)
        lv.codes = get(f"level{m}.ngrams", "i")
        increasing(f"level{m}.ngrams", lv.codes, lv.ctx_codes.size)
        if arpa:
            logp, bow = get(f"level{m}.logprobs", "f"), get(f"level{m}.backoffs", "f")
            if logp.shape != lv.codes.shape or bow.shape != lv.ctx_codes.shape:
                raise CheckpointError(
                    f"{src}: level {m} must hold one log10 probability per n-gram ({lv.codes.size}) and one backoff "
                    f"per context ({lv.ctx_codes.size}), got {logp.size} and {bow.size}"
                )
            if (logp > 0).any() or np.isnan(logp).any() or not np.isfinite(bow).all():
                raise CheckpointError(f"{src}: level {m} holds a log10 probability > 0 or a non-finite backoff")
            lv.counts, lv.bow = np.append(logp, np.nan), np.append(bow, 0.0)
            lv.keep, lv.raw = np.ones(lv.codes.size, dtype=bool), None
            levels.append(lv)
            n_prev = lv.ctx_codes.size
            continue
        lv.raw = get(f"level{m}.counts", "i")
        counts = get(f"level{m}.kn_counts", "f") if kn else lv.raw.astype(np.float64)
        for name, a in ((f"level{m}.counts", lv.raw), (f"level{m}.kn_counts", counts)):
            if a.shape != lv.codes.shape:
                raise CheckpointError(f"{src}: {name} must hold one count per n-gram ({lv.codes.size}), got {a.size}")
        if (lv.raw < 1).any() or not (np.isfinite(counts) & (counts >= 0)).all():
            raise CheckpointError(f"{src}: level {m} holds negative, zero or non-finite counts")
        lv.adj = counts
        levels.append(lv)
        n_prev = lv.ctx_codes.size
    return levels
