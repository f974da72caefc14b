"""Scores of generated sequences against references: exact match, token accuracy, corpus BLEU.

``exact_match``: the fraction of outputs equal to their reference, as strings.

``token_accuracy``: position by position, over tokens (characters or words):

    sum_i #{t < min(|h_i|, |r_i|) : h_i[t] == r_i[t]}  /  sum_i max(|h_i|, |r_i|)

so a missing or an extra token counts as a wrong one, and only an exact match
scores 1 on a sentence.

``corpus_bleu``: BLEU-4 (Papineni et al. 2002, "BLEU: a Method for Automatic
Evaluation of Machine Translation") as sacrebleu computes it by default (Post
2018, "A Call for Clarity in Reporting BLEU Scores"): each segment is
stripped of trailing whitespace and tokenised with the ``13a`` rules of
mteval-v13a (:func:`tokenize_13a`); n-gram counts of orders 1..4 are clipped
by the reference with the most of each n-gram, summed over the corpus, then

    p_n = 100 * correct_n / total_n             (a zero correct_n: p_n = 100 / (2^k total_n),
                                                 k counting the zero orders so far: "exp" smoothing)
    BP  = exp(1 - r / c)  if c < r  else 1      (c: hypothesis tokens, r: reference tokens, the
                                                 reference closest in length per segment, ties: shorter)
    BLEU = BP * exp(mean_n log p_n)             (0 if no n-gram of any order matches, or total_n = 0)

on a 0..100 scale. sacrebleu itself is only a test oracle; rnnkit does not need it.

Example
-------
>>> round(corpus_bleu(["the cat sat on the mat"], ["the cat sat on the mat"]), 6)
100.0
>>> round(corpus_bleu(["the cat sat on a mat"], ["the cat sat on the mat"]), 2)
53.73
>>> exact_match(["2026-11-24", "2026-11-25"], ["2026-11-24", "2026-11-24"]), token_accuracy([list("ab")], [list("abc")])
(0.5, 0.6666666666666666)
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence

__all__ = ["exact_match", "token_accuracy", "corpus_bleu", "tokenize_13a", "bleu_statistics"]


def _check_aligned(where: str, hyps, refs) -> None:
    if isinstance(hyps, str) or isinstance(refs, str):
        raise TypeError(f"{where}: hypotheses and references must be sequences (one entry per segment), got a str")
    if len(hyps) != len(refs):
        raise ValueError(f"{where}: references must have one entry per hypothesis ({len(hyps)}), got {len(refs)}")


def exact_match(hypotheses: Sequence, references: Sequence) -> float:
    """The fraction of hypotheses equal to their reference (0.0 for an empty corpus)."""
    _check_aligned("exact_match", hypotheses, references)
    if not hypotheses:
        return 0.0
    return sum(h == r for h, r in zip(hypotheses, references)) / len(hypotheses)


def token_accuracy(hypotheses: Sequence[Sequence], references: Sequence[Sequence]) -> float:
    """Position-wise token accuracy (see the module docstring); token lists or strings (characters)."""
    _check_aligned("token_accuracy", hypotheses, references)
    correct = total = 0
    for h, r in zip(hypotheses, references):
        correct += sum(a == b for a, b in zip(h, r))
        total += max(len(h), len(r))
    return correct / total if total else 0.0


# -- BLEU ----------------------------------------------------------------------------------------------
_13A_RULES = (
    # punctuation and symbols in the ASCII ranges mteval-v13a names, except . , - between digits
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),  # a period or comma not preceded by a digit
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),  # ... or not followed by one
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),  # a dash after a digit
)


def tokenize_13a(line: str) -> list[str]:
    """The tokens of ``line`` under mteval-v13a's rules (the WMT standard), as sacrebleu's ``13a``."""
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    line = f" {line} "
    for pattern, repl in _13A_RULES:
        line = pattern.sub(repl, line)
    return line.split()


def _ngrams(tokens: list[str], max_order: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for n in range(1, max_order + 1) for i in range(len(tokens) - n + 1))


def bleu_statistics(
    hypotheses: Sequence[str],
    references: Sequence[str] | Sequence[Sequence[str]],
    *,
    max_order: int = 4,
    tokenize: Callable[[str], list[str]] = tokenize_13a,
) -> dict:
    """Corpus sums: correct and total n-grams per order, hypothesis length c, reference length r.

    ``references`` holds one str per hypothesis, or one list of strs per hypothesis (several references).
    """
    _check_aligned("bleu_statistics", hypotheses, references)
    correct, total = [0] * max_order, [0] * max_order
    c = r = 0
    for hyp, refs in zip(hypotheses, references):
        refs = [refs] if isinstance(refs, str) else list(refs)
        if not refs:
            raise ValueError("bleu_statistics: every hypothesis needs at least one reference, got an empty list")
        h = tokenize(hyp.rstrip())
        ref_tokens = [tokenize(x.rstrip()) for x in refs]
        # the reference closest in length to the hypothesis; ties go to the shorter one
        r += min((abs(len(t) - len(h)), len(t)) for t in ref_tokens)[1]
        c += len(h)
        best = Counter()
        for t in ref_tokens:
            best |= _ngrams(t, max_order)  # max count of each n-gram over the references
        for gram, count in _ngrams(h, max_order).items():
            n = len(gram) - 1
            total[n] += count
            correct[n] += min(count, best[gram])
    return {"correct": correct, "total": total, "hyp_len": c, "ref_len": r}


def corpus_bleu(
    hypotheses: Sequence[str],
    references: Sequence[str] | Sequence[Sequence[str]],
    *,
    max_order: int = 4,
    tokenize: Callable[[str], list[str]] = tokenize_13a,
) -> float:
    """Corpus BLEU on a 0..100 scale, sacrebleu's default definition (see the module docstring)."""
    s = bleu_statistics(hypotheses, references, max_order=max_order, tokenize=tokenize)
    correct, total, c, r = s["correct"], s["total"], s["hyp_len"], s["ref_len"]
    if not any(correct):
        return 0.0
    bp = 1.0 if c >= r else (math.exp(1 - r / c) if c > 0 else 0.0)
    log_p, halvings = 0.0, 1.0
    for n in range(max_order):
        if total[n] == 0:
            return 0.0  # no n-grams of this order at all: a log of zero in the mean
        if correct[n] == 0:
            halvings *= 2  # "exp" smoothing (NIST): 1/2, 1/4, ... of a count for each zero order
            log_p += math.log(100.0 / (halvings * total[n]))
        else:
            log_p += math.log(100.0 * correct[n] / total[n])
    return bp * math.exp(log_p / max_order)
