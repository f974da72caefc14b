"""Exact match, token accuracy and BLEU; BLEU and its 13a tokenisation against sacrebleu on generated corpora."""

import doctest

import numpy as np
import pytest

import rnnkit.metrics as metrics_module
from rnnkit.metrics import bleu_statistics, corpus_bleu, exact_match, token_accuracy, tokenize_13a
from rnnkit.tasks.dates import date_pairs
from rnnkit.tasks.multi_sentence import multi_sentence_pairs

sacrebleu = pytest.importorskip("sacrebleu")

WORDS = (
    'the a cat dog sat on mat 3.5 1,000 U.S. e-mail well-known 2026-11-24 (x) "quoted" it\'s &amp; <tag> x/y $5 '
    "ok. end, -- 1-2"
).split()


def _corpus(rng, n, noise):
    refs, hyps = [], []
    for _ in range(n):
        ref = [WORDS[i] for i in rng.integers(len(WORDS), size=rng.integers(1, 15))]
        hyp = [w if rng.random() > noise else WORDS[rng.integers(len(WORDS))] for w in ref]
        if rng.random() < 0.3:
            hyp = hyp[: rng.integers(0, len(hyp) + 1)]  # shorter: the brevity penalty
        if rng.random() < 0.2:
            hyp = hyp + ["extra"] * int(rng.integers(1, 4))
        joiner = "" if rng.random() < 0.2 else " "
        refs.append(" ".join(ref))
        hyps.append(joiner.join(hyp) + (" " if rng.random() < 0.1 else ""))
    return hyps, refs


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("noise", [0.0, 0.1, 0.4, 0.9])
def test_bleu_matches_sacrebleu_on_generated_corpora(seed, noise):
    rng = np.random.default_rng(seed)
    hyps, refs = _corpus(rng, int(rng.integers(1, 60)), noise)
    expected = sacrebleu.corpus_bleu(hyps, [refs])
    assert corpus_bleu(hyps, refs) == pytest.approx(expected.score, rel=1e-12, abs=1e-12)
    stats = bleu_statistics(hyps, refs)
    assert stats["correct"] == list(expected.counts) and stats["total"] == list(expected.totals)
    assert (stats["hyp_len"], stats["ref_len"]) == (expected.sys_len, expected.ref_len)


def test_bleu_with_several_references_matches_sacrebleu():
    rng = np.random.default_rng(5)
    hyps, refs1 = _corpus(rng, 40, 0.3)
    _, refs2 = _corpus(rng, 40, 0.3)
    expected = sacrebleu.corpus_bleu(hyps, [refs1, refs2]).score
    assert corpus_bleu(hyps, [[a, b] for a, b in zip(refs1, refs2)]) == pytest.approx(expected, rel=1e-12)


def test_bleu_on_task_outputs_matches_sacrebleu():
    rng = np.random.default_rng(1)
    for pairs in (date_pairs(200, seed=0), multi_sentence_pairs(200, seed=0)):
        refs = [t for _, t in pairs]
        hyps = [t if rng.random() < 0.6 else s for s, t in pairs]  # some right, some the source itself
        assert corpus_bleu(hyps, refs) == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score, rel=1e-12)


@pytest.mark.parametrize(
    "hyps, refs",
    [
        (["a b"], ["a b"]),  # too short for any 3-gram: BLEU is 0
        ([""], ["a b c d"]),  # empty hypothesis
        (["x y z w"], ["a b c d"]),  # nothing matches
        (["a b c d e f"], ["a b c d e f"]),
        (["a x c y e"], ["a b c d e"]),  # unigrams only: the "exp" smoothing of the zero orders
    ],
)
def test_bleu_edge_cases_match_sacrebleu(hyps, refs):
    assert corpus_bleu(hyps, refs) == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score, rel=1e-12, abs=1e-12)


def test_13a_tokenisation_matches_sacrebleu():
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    oracle = Tokenizer13a()
    rng = np.random.default_rng(0)
    alphabet = list("abc019 .,-/'\"&;<>()$%!?:{}[]~`@^_|+=*#\\") + ["&quot;", "&amp;", "&lt;", "&gt;", "<skipped>"]
    for _ in range(2000):
        line = "".join(alphabet[i] for i in rng.integers(len(alphabet), size=rng.integers(0, 30)))
        assert tokenize_13a(line) == oracle(line).split(), repr(line)


def test_exact_match_and_token_accuracy():
    assert exact_match(["a", "b", "c"], ["a", "x", "c"]) == pytest.approx(2 / 3)
    assert exact_match([], []) == 0.0
    # position-wise, over the longer of the two: a dropped token costs one, and so does an extra one
    assert token_accuracy([["a", "b", "c"]], [["a", "b", "c"]]) == 1.0
    assert token_accuracy([["a", "c"]], [["a", "b", "c"]]) == pytest.approx(1 / 3)
    assert token_accuracy([["a", "b", "c", "d"]], [["a", "b", "c"]]) == pytest.approx(3 / 4)
    assert token_accuracy(["2026-11-24", "1999"], ["2026-11-25", "1999"]) == pytest.approx(13 / 14)
    with pytest.raises(ValueError, match="exact_match: references must have one entry per hypothesis \\(2\\), got 1"):
        exact_match(["a", "b"], ["a"])
    with pytest.raises(TypeError, match="token_accuracy: hypotheses and references must be sequences"):
        token_accuracy("ab", "ab")


def test_doctest():
    assert doctest.testmod(metrics_module).failed == 0
