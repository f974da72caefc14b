"""NGramLM's smoothers and queries beyond the classic five: KenLM's discount fallback rule, stupid backoff,
Kneser-Ney with one fixed discount, the nltk convention (nltk.lm as the oracle), fit in parts,
full_scores and count pruning. Expected values are worked out by hand or by nltk."""

import itertools
import math

import numpy as np
import pytest

from rnnkit.lm import NGramLM, Vocabulary

CORPUS = [
    s.split()
    for s in [
        "the cat sat on the mat",
        "the dog sat on the log",
        "a cat saw the dog",
        "the dog saw a cat on the mat",
        "a bird sang",
        "the cat ate the fish",
        "a dog ate a bone on the log",
        "the bird saw the cat",
    ]
]
MOTORCYCLE = [s.split() for s in ["he has a motorcycle", "she rode a motorcycle", "they walk"]]


# -- KenLM's discount fallback -----------------------------------------------------------------------
def test_tiny_corpus_no_longer_collapses_a_bigram_into_its_unigram(caplog):
    # Bigram counts: "a motorcycle" and "motorcycle </s>" twice, nine others once: n1..n4 = 9, 2, 0, 0.
    # The per-discount rule kept D2 = 2 - 3 Y n3/n2 = 2 (its own count): P(motorcycle | a) =
    # (2 - 2 + gamma P(motorcycle)) / 2 with gamma = D2 = 2, i.e. exactly P(motorcycle). KenLM's rule
    # refuses the whole order (n3 = 0) and uses 0.5, 1, 1.5 instead.
    with caplog.at_level("WARNING", logger="rnnkit.lm.ngram"):
        lm = NGramLM(2, "kneser-ney").fit(MOTORCYCLE)
    assert lm.discounts[2] == (0.5, 1.0, 1.5)
    assert any(
        "2-grams are undefined or out of range (n1..n4 = [9, 2, 0, 0])" in r.getMessage() for r in caplog.records
    )
    p_uni = lm.prob("motorcycle")
    assert lm.prob("motorcycle", ["a"]) != pytest.approx(p_uni, rel=1e-6)
    # by hand: c(a .) = 2, only "motorcycle" follows a: (2 - D2 + D2 P(motorcycle)) / 2 with D2 = 1
    assert lm.prob("motorcycle", ["a"]) == pytest.approx((2 - 1.0 + 1.0 * p_uni) / 2, rel=1e-14)
    # unigram continuation counts: motorcycle 1 (after a), has 1, a 2 (has, rode), ...: n1..n4 = 7, 2, 0, 0 -> fallback
    assert lm.discounts[1] == (0.5, 1.0, 1.5)


def test_fallback_values_are_configurable_and_checked():
    lm = NGramLM(2, "kneser-ney", discount_fallback=(0.25, 0.75, 1.25)).fit(MOTORCYCLE)
    assert lm.discounts[2] == (0.25, 0.75, 1.25)
    assert lm.prob("motorcycle", ["a"]) == pytest.approx((2 - 0.75 + 0.75 * lm.prob("motorcycle")) / 2, rel=1e-14)
    with pytest.raises(ValueError, match=r"discount_fallback\[1\] \(D2\) must be in \[0, 2\], got 2.5"):
        NGramLM(2, discount_fallback=(0.5, 2.5, 1.5))
    with pytest.raises(ValueError, match=r"discount_fallback must be three discounts"):
        NGramLM(2, discount_fallback=(0.5, 1.0))


def test_orders_with_valid_estimates_keep_them():
    # the 2-grams of CORPUS have n1..n4 = 22, 4, 3, 3 (all non-zero, discounts inside [0, r])
    lm = NGramLM(2, "kneser-ney").fit(CORPUS)
    adj = lm._levels[1].adj
    n1, n2, n3, n4 = (int((adj == r).sum()) for r in (1, 2, 3, 4))
    assert min(n1, n2, n3) > 0
    y = n1 / (n1 + 2 * n2)
    assert lm.discounts[2] == pytest.approx((1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3), rel=1e-14)


# -- Kneser-Ney with one discount --------------------------------------------------------------------------
def test_fixed_discount_kneser_ney_by_hand():
    # bigram, D = 0.1 at every order; MOTORCYCLE padded "<s> he has a motorcycle </s>" etc.
    lm = NGramLM(2, "kneser-ney", 0.1).fit(MOTORCYCLE)
    assert lm.discounts == {1: (0.1, 0.1, 0.1), 2: (0.1, 0.1, 0.1)}
    # unigram continuation counts a(w) = #{v : c(v w) > 0}: he, has, motorcycle, she, rode, they, walk 1;
    # a 2 (has, rode); </s> 2 (motorcycle, walk). Total 11, 9 types; V' = 10 (8 words, <unk>, </s>).
    uni = {w: 1 for w in ["he", "has", "motorcycle", "she", "rode", "they", "walk"]} | {"a": 2, "</s>": 2}

    def p1(w):
        return (max(uni.get(w, 0) - 0.1, 0) + 0.1 * 9 / 10) / 11

    # after "a": motorcycle twice; c(a) = 2, one type
    assert lm.prob("motorcycle", ["a"]) == pytest.approx((2 - 0.1 + 0.1 * p1("motorcycle")) / 2, rel=1e-14)
    assert lm.prob("walk", ["a"]) == pytest.approx(0.1 * p1("walk") / 2, rel=1e-14)
    assert lm.prob("<unk>", []) == pytest.approx(p1("<unk>"), rel=1e-14)


# -- stupid backoff -------------------------------------------------------------------------------------
def test_stupid_backoff_by_hand_and_scores_not_probabilities():
    lm = NGramLM(3, "stupid-backoff").fit(MOTORCYCLE)  # alpha 0.4 (Brants et al. 2007)
    assert lm.delta == 0.4
    n = sum(len(s) + 1 for s in MOTORCYCLE)  # 12 predictions: 9 words + 3 </s>
    assert lm.prob("a", []) == pytest.approx(2 / n, rel=1e-14)
    assert lm.prob("motorcycle", ["has", "a"]) == pytest.approx(1.0, rel=1e-14)  # c(has a motorcycle) / c(has a)
    assert lm.prob("walk", ["has", "a"]) == pytest.approx(0.4 * 0.4 * 1 / n, rel=1e-14)  # two backoffs
    assert lm.prob("</s>", ["zebra", "a"]) == pytest.approx(
        0.4 * 0.4 * 3 / n, rel=1e-14
    )  # unseen contexts back off too
    assert lm.prob("</s>", ["she", "a"]) == pytest.approx(0.4 * 0.4 * 3 / n, rel=1e-14)
    assert np.exp(lm.next_logprobs(["has", "a"])).sum() > 1  # a score, not a distribution
    for f in (lm.perplexity, lm.total_logprob):
        with pytest.raises(ValueError, match="gives scores, not probabilities"):
            f(MOTORCYCLE)
    assert [x[1] for x in lm.full_scores("he has a motorcycle")] == [2, 3, 3, 3, 3]  # "<s> he" is the longest
    with pytest.raises(ValueError, match=r"alpha\) must be in \(0, 1\] for stupid-backoff, got 1.5"):
        NGramLM(2, "stupid-backoff", 1.5)


# -- nltk's numbers -----------------------------------------------------------------------------------------
def _nltk(name, order, min_count, param):
    lm_mod = pytest.importorskip("nltk.lm")
    from nltk.lm.preprocessing import padded_everygram_pipeline

    train, text = padded_everygram_pipeline(order, CORPUS)
    vocab = lm_mod.Vocabulary(text, unk_cutoff=min_count)
    if name == "lidstone":
        model = lm_mod.Lidstone(param, order, vocabulary=vocab)
    else:
        cls, kw = {
            "mle": (lm_mod.MLE, {}),
            "laplace": (lm_mod.Laplace, {}),
            "witten-bell": (lm_mod.WittenBellInterpolated, {}),
            "absolute": (lm_mod.AbsoluteDiscountingInterpolated, {"discount": param}),
            "kneser-ney": (lm_mod.KneserNeyInterpolated, {"discount": param}),
            "stupid-backoff": (lm_mod.StupidBackoff, {"alpha": param}),
        }[name]
        model = cls(order=order, vocabulary=vocab, **kw)
    model.fit(train)
    return model


NLTK_MODELS = [
    ("mle", None),
    ("lidstone", 0.1),
    ("laplace", None),
    ("witten-bell", None),
    ("absolute", 0.75),
    ("kneser-ney", 0.1),
    ("stupid-backoff", 0.4),
]


@pytest.mark.parametrize("min_count", [1, 2])
@pytest.mark.parametrize(
    "name,param,order",
    [(n, p, k) for n, p in NLTK_MODELS for k in (1, 2, 3, 4) if (n, k) != ("kneser-ney", 1)],  # nltk's KN: k >= 2
)
def test_nltk_convention_reproduces_nltk_after_padded_everygram_pipeline(name, param, order, min_count):
    ref = _nltk(name, order, min_count, param)
    lm = NGramLM(order, name, param, convention="nltk", min_count=min_count).fit(CORPUS)
    assert lm.collapse_start is False
    words = list(lm.vocab.tokens) + ["zebra"]
    if order == 1:  # nltk pads nothing at order 1 and looks <s>, </s> up as <unk> when they are not in its vocabulary
        words = [w for w in words if w not in ("<s>", "</s>")]
    compared = 0
    for k in range(order):
        for ctx in itertools.product(["<s>", "the", "cat", "</s>", "zebra", "sat"], repeat=k):
            for w in words:
                expected = ref.score(w, ctx)
                assert lm.prob(w, list(ctx)) == pytest.approx(expected, rel=1e-12, abs=1e-15), (ctx, w)
                compared += 1
    assert compared >= len(words) * order


def test_the_conventions_differ_as_documented():
    # 1. <s> is predicted under nltk's pipeline (it counts the k-grams ending in <s>), never under rnnkit's
    nl = NGramLM(2, "mle", convention="nltk").fit([["a", "b"]])  # nltk counts <s> a b </s>, every unigram
    rk = NGramLM(2, "mle").fit([["a", "b"]])  # rnnkit predicts a, b, </s>
    assert nl.prob("<s>") == pytest.approx(1 / 4) and rk.prob("<s>") == 0.0
    assert rk.prob("a") == pytest.approx(1 / 3)
    # 2. add-delta's V: nltk divides by len(vocab) = 5 (<unk>, <s>, </s>, a, b), rnnkit by V' = 4 (no <s>)
    assert NGramLM(2, "laplace", convention="nltk").fit([["a", "b"]]).prob("a", ["zebra"]) == pytest.approx(1 / 5)
    assert NGramLM(2, "laplace").fit([["a", "b"]]).prob("a", ["zebra"]) == pytest.approx(1 / 4)
    # 3. absolute discounting's bottom: nltk ends at the unigram MLE (an unseen word gets 0), rnnkit at 1/V'
    nla = NGramLM(2, "absolute", 0.5, convention="nltk").fit([["a", "b"]])
    rka = NGramLM(2, "absolute", 0.5).fit([["a", "b"]])
    assert nla.prob("zebra") == 0.0
    # rnnkit: unigram counts a 1, b 1, </s> 1 (total 3, three types): (0 - 0 + 0.5 * 3 * 1/4) / 3 for <unk>
    assert rka.prob("zebra") == pytest.approx(0.5 * 3 * 0.25 / 3, rel=1e-14)
    with pytest.raises(ValueError, match="collapse_start must be False with convention='nltk'"):
        NGramLM(2, convention="nltk", collapse_start=True)


# -- fit in parts -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,delta,kw",
    [
        ("kneser-ney", None, {}),
        ("kneser-ney", None, {"min_count": 2}),
        ("witten-bell", None, {"collapse_start": False}),
        ("lidstone", 0.2, {"min_count": 2}),
        ("kneser-ney", 0.1, {"convention": "nltk"}),
        ("stupid-backoff", None, {"prune": (0, 1)}),
    ],
)
def test_fit_in_parts_equals_fit_at_once(name, delta, kw):
    whole = NGramLM(3, name, delta, **kw).fit(CORPUS)
    parts = NGramLM(3, name, delta, **kw)
    for i in range(0, len(CORPUS), 3):  # three calls
        parts.fit(CORPUS[i : i + 3])
    assert parts.vocab == whole.vocab
    assert parts.discounts == whole.discounts
    for ctx in [(), ("the",), ("<s>", "a"), ("on", "the"), ("zebra", "cat")]:
        np.testing.assert_array_equal(parts.next_logprobs(list(ctx)), whole.next_logprobs(list(ctx)))


def test_min_count_uses_the_counts_of_all_parts():
    lm = NGramLM(2, "mle", min_count=2).fit([["x", "y"]])
    assert "x" not in lm.vocab
    lm.fit([["x", "z"]])  # x now seen twice
    assert "x" in lm.vocab and lm.count(["<s>", "x"]) == 2 and "y" not in lm.vocab


def test_a_loaded_model_keeps_counting(tmp_path):
    vocab = Vocabulary.from_tokens([w for s in CORPUS for w in s], bos_token="<s>", eos_token="</s>")
    for kw in ({}, {"vocab": vocab}):
        first = NGramLM(3, "kneser-ney", **kw).fit(CORPUS[:4])
        loaded = NGramLM.load(first.save(tmp_path / "m"))
        loaded.fit(CORPUS[4:])
        whole = NGramLM(3, "kneser-ney", **kw).fit(CORPUS)
        assert set(loaded.vocab.tokens) == set(whole.vocab.tokens)
        for ctx in [(), ("the",), ("<s>", "a"), ("on", "the")]:
            for w in whole.vocab.tokens:
                assert loaded.prob(w, list(ctx)) == pytest.approx(whole.prob(w, list(ctx)), rel=1e-13, abs=1e-16)


# -- full_scores ---------------------------------------------------------------------------------------------
def test_full_scores_by_hand():
    lm = NGramLM(3, "kneser-ney").fit(CORPUS)
    got = list(lm.full_scores("the cat saw zebra"))
    assert len(got) == 5  # four words and </s>
    # matched n-grams: "<s> the" (no longer history), "<s> the cat", "the cat saw"? not in CORPUS -> "cat saw" 2,
    # zebra is <unk>, never seen: 1, "<unk> </s>" unseen -> 1
    assert [g[1] for g in got] == [2, 3, 2, 1, 1]
    assert [g[2] for g in got] == [False, False, False, True, False]
    hist = [["<s>", "<s>"], ["<s>", "the"], ["the", "cat"], ["cat", "saw"], ["saw", "zebra"]]
    for (lp, _, _), h, w in zip(got, hist, ["the", "cat", "saw", "zebra", "</s>"]):
        assert lp == pytest.approx(math.log10(lm.prob(w, h)), rel=1e-14)
    # KenLM's options: no <s> history, no </s>
    nob = list(lm.full_scores(["the", "cat"], bos=False, eos=False))
    assert len(nob) == 2 and nob[0][0] == pytest.approx(math.log10(lm.prob("the", [])), rel=1e-14)
    assert nob[1][1] == 2


# -- pruning -------------------------------------------------------------------------------------------------
def test_pruning_moves_the_pruned_mass_to_the_backoff_by_hand():
    full = NGramLM(2, "kneser-ney").fit(CORPUS)
    lm = NGramLM(2, "kneser-ney", prune=(0, 1)).fit(CORPUS)
    assert lm.discounts == full.discounts  # counts of counts are taken before pruning (as lmplz does)
    assert lm.count(["the", "mat"]) == 2 and lm.count(["the", "fish"]) == 1  # raw counts stay
    D1, D2, D3 = lm.discounts[2]
    # after "the": cat 3, dog 3, mat 2, log 2, bird 1, fish 1 (c(the) = 12); fish and bird (count 1) are pruned:
    # the denominator keeps them, gamma gets their whole count instead of their discount
    row = {"cat": 3, "dog": 3, "mat": 2, "log": 2, "bird": 1, "fish": 1}
    assert sum(row.values()) == 12 and all(lm.count(["the", w]) == c for w, c in row.items())
    gamma = 2 * D3 + 2 * D2 + 1 + 1
    p_lower = {w: lm.prob(w) for w in ["cat", "fish", "zebra"]}
    assert lm.prob("fish", ["the"]) == pytest.approx(gamma * p_lower["fish"] / 12, rel=1e-14)
    assert lm.prob("cat", ["the"]) == pytest.approx((3 - D3 + gamma * p_lower["cat"]) / 12, rel=1e-14)
    assert lm.prob("zebra", ["the"]) == pytest.approx(gamma * p_lower["zebra"] / 12, rel=1e-14)
    np.testing.assert_array_equal(lm.next_logprobs([]), full.next_logprobs([]))  # unigrams are never pruned
    lengths = [x[1] for x in lm.full_scores("the fish")]
    assert lengths == [2, 1, 1]  # "the fish" and "fish </s>" (count 1) were pruned; "<s> the" (count 5) was not


@pytest.mark.parametrize("name", ["kneser-ney", "absolute", "witten-bell"])
@pytest.mark.parametrize("prune", [(0, 1), (0, 1, 2), (0, 0, 1, 1), (0, 5)])
def test_pruned_distributions_sum_to_one(name, prune):
    lm = NGramLM(4, name, prune=prune).fit(CORPUS)
    for ctx in [(), ("the",), ("<s>",), ("<s>", "the"), ("the", "cat"), ("on", "the"), ("a", "dog", "ate")]:
        assert abs(np.exp(lm.next_logprobs(list(ctx))).sum() - 1) < 1e-12


def test_prune_is_checked():
    for bad, message in [
        ((1, 1), r"prune\[0\] must be 0"),
        ((0, 2, 1), "must be non-decreasing"),
        ((0, -1), r"prune\[1\] must be an int >= 0, got -1"),
        ((0, 1, 1, 1), "prune must be 1 to 3 count thresholds"),
    ]:
        with pytest.raises(ValueError, match=message):
            NGramLM(3, prune=bad)
    with pytest.raises(ValueError, match="prune needs a smoothing with a backoff"):
        NGramLM(3, "lidstone", 0.1, prune=(0, 1))
    assert NGramLM(3, prune=(0, 1)).prune == (0, 1, 1)  # the last threshold applies to the remaining orders
    assert NGramLM(3, prune=(0,)).prune is None


def test_save_and_load_keep_the_new_options(tmp_path):
    lm = NGramLM(3, "kneser-ney", prune=(0, 1), discount_fallback=(0.4, 0.9, 1.4)).fit(CORPUS)
    back = NGramLM.load(lm.save(tmp_path / "m"))
    assert back.prune == (0, 1, 1) and back.discount_fallback == (0.4, 0.9, 1.4)
    for ctx in [(), ("the",), ("on", "the")]:
        np.testing.assert_array_equal(back.next_logprobs(list(ctx)), lm.next_logprobs(list(ctx)))
    nl = NGramLM(3, "kneser-ney", 0.1, convention="nltk").fit(CORPUS)
    back = NGramLM.load(nl.save(tmp_path / "n"))
    assert back.convention == "nltk"
    np.testing.assert_array_equal(back.next_logprobs(["the"]), nl.next_logprobs(["the"]))


@pytest.mark.parametrize(
    "name,delta,kw",
    [
        ("kneser-ney", 0.1, {}),
        ("absolute", 0.75, {"convention": "nltk"}),
        ("witten-bell", None, {"convention": "nltk"}),
        ("lidstone", 0.1, {"convention": "nltk"}),
        ("kneser-ney", None, {"discount_fallback": (0.2, 0.4, 0.6)}),
    ],
)
@pytest.mark.parametrize("order", [2, 3, 4])
def test_new_modes_give_distributions_in_every_seen_context(name, delta, kw, order):
    lm = NGramLM(order, name, delta, **kw).fit(CORPUS)
    for ctx in [(), ("the",), ("<s>",), ("<s>", "the"), ("the", "cat"), ("on", "the"), ("<s>", "<s>", "a")]:
        p = np.exp(lm.next_logprobs(list(ctx)))
        assert abs(p.sum() - 1) < 1e-12, (ctx, p.sum())
        if kw.get("convention") != "nltk":
            assert p[lm.vocab.bos_id] == 0  # rnnkit never predicts <s>
    if kw.get("convention") == "nltk":
        assert lm.prob("<s>") > 0  # nltk's pipeline counts <s> as a unigram


def test_nltk_kneser_ney_is_reproduced_including_where_it_does_not_sum_to_one():
    # nltk's KneserNeyInterpolated counts the raw word types after h in gamma but continuation counts in
    # alpha: after "<s>" in a trigram model, "<s> <s>" is a type with continuation count 0, so the mass
    # exceeds one. The nltk convention reproduces nltk's numbers, this included (compared above to 1e-12).
    lm = NGramLM(3, "kneser-ney", 0.1, convention="nltk").fit(CORPUS)
    assert np.exp(lm.next_logprobs(["<s>"])).sum() > 1.01
    assert abs(np.exp(lm.next_logprobs(["the", "cat"])).sum() - 1) < 1e-12


def test_a_given_vocabulary_with_other_special_names():
    vocab = Vocabulary.from_tokens("a b".split(), bos_token="<bos>", eos_token="<eos>", unk_token="<oov>")
    lm = NGramLM(2, "kneser-ney", vocab=vocab).fit([["a", "b"], ["b"]])
    assert lm.prob("b", ["<bos>"]) > 0 and abs(np.exp(lm.next_logprobs(["a"])).sum() - 1) < 1e-12
    with pytest.raises(ValueError, match=r"sentences\[1\] must not contain the start symbol '<bos>'"):
        NGramLM(2, vocab=vocab).fit([["a"], ["<bos>", "b"]])
    counted = NGramLM(2, "mle").fit([["x", "</s>", "<unk>"]])  # literal specials inside a sentence are words
    assert counted.vocab.counts[counted.vocab.eos_id] == 1 and counted.vocab.counts[counted.vocab.unk_id] == 1


def test_a_file_saved_under_the_per_discount_rule_is_refused_clearly(tmp_path):
    import json

    import rnnkit.lm.ngram as ngram_module
    from rnnkit.io import CheckpointError, load_bytes, save_file

    path = NGramLM(2, "kneser-ney").fit(MOTORCYCLE).save(tmp_path / "m")
    tensors, meta = load_bytes(path.read_bytes())
    config = json.loads(meta["config"])
    for key in ("discount_fallback", "prune", "convention"):  # the keys an earlier rnnkit did not write
        config.pop(key)
    config["discounts"]["2"] = [1 - 2 * (9 / 13) * 2 / 9, 2.0, 1.5]  # what the per-discount rule kept
    meta["config"] = json.dumps(config)
    meta["sha256"] = ngram_module._content_digest(tensors, meta)
    save_file(tensors, path, meta)
    with pytest.raises(CheckpointError, match="saved by an earlier rnnkit.*Fit the model again"):
        NGramLM.load(path)
