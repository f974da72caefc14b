r"""ARPA files: a hand-written file scored as the format defines, write/read round trips, KenLM as the
oracle both ways, malformed files, atomic writes, and the models that have no backoff form."""

import math
import os

import numpy as np
import pytest

from rnnkit.lm import NGramLM

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
SENTENCES = ["the cat sat on the mat", "a zebra saw the dog", "the the the", "", "bird sang on a log the end"]
CONTEXTS = [(), ("the",), ("<s>",), ("<s>", "the"), ("the", "cat"), ("on", "the"), ("zebra",), ("a", "<s>", "b")]

# A trigram model written by hand from the format's definition: log10 probabilities, optional log10
# backoff weights below the highest order, <s> listed with -99, <unk> listed.
HAND_ARPA = """
\\data\\
ngram 1=5
ngram 2=4
ngram 3=1

\\1-grams:
-1.0\t<unk>
-99\t<s>\t-0.5
-0.6\ta\t-0.3
-0.7\tb\t-0.2
-0.4\t</s>

\\2-grams:
-0.2\t<s> a\t-0.1
-0.5\ta b\t-0.15
-0.3\tb </s>
-0.45\ta </s>

\\3-grams:
-0.05\t<s> a b

\\end\\
"""
# (log10 P, n-gram length, OOV) by the backoff recursion, word by word:
HAND_SCORES = {
    "a b": [
        (-0.2, 2, False),  # "<s> a" listed
        (-0.05, 3, False),  # "<s> a b" listed
        (-0.15 + -0.3, 2, False),  # "a b </s>" not listed: bow(a b) + P(</s> | b), "b </s>" listed
    ],
    "b a zebra": [
        (-0.5 + -0.7, 1, False),  # "<s> b" not listed: bow(<s>) + P(b)
        (-0.2 + -0.6, 1, False),  # "<s> b" is no history in the file (bow 1); "b a" not listed: bow(b) + P(a)
        (-0.3 + -1.0, 1, True),  # zebra is <unk>; "a <unk>" not listed: bow(a) + P(<unk>)
        (-0.4, 1, False),  # "<unk> </s>" not listed, <unk> has no backoff weight (0): P(</s>)
    ],
    "a": [(-0.2, 2, False), (-0.1 + -0.45, 2, False)],  # "<s> a </s>" not listed: bow(<s> a) + P(</s> | a)
}


@pytest.fixture
def hand_file(tmp_path):
    path = tmp_path / "hand.arpa"
    path.write_text(HAND_ARPA, encoding="utf-8")
    return path


def _aligned(lm, other, ctx):
    """other's P(. | ctx) in lm's vocabulary order."""
    p = np.exp(other.next_logprobs(list(ctx)))
    return np.array([p[other.vocab.index(t)] for t in lm.vocab.tokens])


# -- the format's definition ---------------------------------------------------------------------
def test_hand_written_file_is_scored_as_the_format_defines(hand_file):
    lm = NGramLM.from_arpa(hand_file)
    assert lm.order == 3 and lm.smoothing == "arpa"
    assert set(lm.vocab.tokens) == {"<unk>", "<s>", "</s>", "a", "b"}
    for sentence, expected in HAND_SCORES.items():
        got = list(lm.full_scores(sentence))
        assert [g[1:] for g in got] == [e[1:] for e in expected], sentence
        np.testing.assert_allclose([g[0] for g in got], [e[0] for e in expected], rtol=0, atol=1e-14)
    assert lm.prob("b", ["a"]) == pytest.approx(10**-0.5, rel=1e-14)
    assert lm.prob("</s>", ["<s>", "b"]) == pytest.approx(10**-0.3, rel=1e-14)  # "<s> b" unlisted: P(</s> | b)
    assert lm.prob("b", ["<s>", "b"]) == pytest.approx(10 ** (-0.2 + -0.7), rel=1e-14)  # bow(b) + P(b)
    assert lm.prob("<s>", ["a"]) == 0.0  # <s> (-99) is never predicted
    assert lm.logprob("a", []) == pytest.approx(-0.6 * math.log(10), rel=1e-14)
    with pytest.raises(RuntimeError, match="holds probabilities, not counts"):
        lm.fit([["a"]])


def test_hand_written_file_in_kenlm_gives_the_same_numbers(hand_file):
    kenlm = pytest.importorskip("kenlm")
    ken = kenlm.Model(str(hand_file))
    ours = NGramLM.from_arpa(hand_file)
    for sentence, expected in HAND_SCORES.items():
        theirs = list(ken.full_scores(sentence))
        assert [tuple(t[1:]) for t in theirs] == [e[1:] for e in expected], sentence
        np.testing.assert_allclose([t[0] for t in theirs], [e[0] for e in expected], rtol=0, atol=1e-6)
        got = list(ours.full_scores(sentence))
        assert [g[1:] for g in got] == [tuple(t[1:]) for t in theirs]


def test_a_file_without_unk_gives_it_probability_zero(tmp_path):
    path = tmp_path / "nounk.arpa"
    text = "\\data\\\nngram 1=3\n\n\\1-grams:\n-99 <s>\n-0.3 a\n-0.3 </s>\n\n\\end\\\n"
    path.write_text("SRILM allows text before the header\n" + text)
    lm = NGramLM.from_arpa(path)
    assert lm.prob("zebra") == 0.0 and lm.prob("a") == pytest.approx(10**-0.3, rel=1e-14)
    assert [s[1:] for s in lm.full_scores("zebra")] == [(1, True), (1, False)]


# -- round trips ----------------------------------------------------------------------------------
@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize(
    "smoothing,delta,prune",
    [
        ("kneser-ney", None, None),
        ("kneser-ney", 0.3, None),
        ("absolute", None, None),
        ("absolute", 0.7, None),
        ("witten-bell", None, None),
        ("kneser-ney", None, (0, 1, 1, 1)),
        ("witten-bell", None, (0, 1)),
    ],
)
def test_written_file_read_back_gives_the_same_probabilities(tmp_path, order, smoothing, delta, prune):
    lm = NGramLM(order, smoothing, delta, prune=prune[:order] if prune else None).fit(CORPUS)
    path = lm.to_arpa(tmp_path / "lm.arpa")
    back = NGramLM.from_arpa(path)
    for ctx in CONTEXTS:
        p = np.exp(lm.next_logprobs(list(ctx)))
        np.testing.assert_allclose(_aligned(lm, back, ctx), p, rtol=1e-13, atol=1e-16)
    for s in SENTENCES:
        a, b = list(lm.full_scores(s)), list(back.full_scores(s))
        assert [x[1:] for x in a] == [x[1:] for x in b]
        np.testing.assert_allclose([x[0] for x in a], [x[0] for x in b], rtol=1e-13, atol=1e-13)
    # and once more: a model read from a file writes the same file back
    again = back.to_arpa(tmp_path / "again.arpa")
    for ctx in CONTEXTS:
        np.testing.assert_allclose(
            _aligned(lm, NGramLM.from_arpa(again), ctx), np.exp(lm.next_logprobs(list(ctx))), rtol=1e-13, atol=1e-16
        )


def test_the_written_file_lists_what_the_format_requires(tmp_path):
    lm = NGramLM(3, "kneser-ney", prune=(0, 0, 1)).fit(CORPUS)
    text = lm.to_arpa(tmp_path / "lm.arpa").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[1] == "\\data\\" and lines[-1] == "\\end\\"
    n = {k: int(line.split("=")[1]) for k, line in enumerate(lines[2:5], start=1)}
    assert n[1] == len(lm.vocab)  # every entry, <s> included
    kept3 = int(lm._levels[2].keep.sum())
    assert n[3] == kept3 < lm._levels[2].codes.size  # singleton trigrams were pruned
    one = {line.split("\t")[1]: line.split("\t") for line in lines if line.count("\t") >= 1 and " " not in line}
    assert one["<s>"][0] == "-99" and len(one["<s>"]) == 3  # <s>: -99 and a backoff weight
    assert len(one["</s>"]) == 2  # </s> is never a history: no backoff weight
    three = lines[lines.index("\\3-grams:") + 1 : lines.index("\\end\\") - 1]
    assert all(len(line.split("\t")) == 2 for line in three)  # no backoff at the highest order


@pytest.mark.parametrize("order", [2, 3, 4])
@pytest.mark.parametrize(
    "smoothing,prune", [("kneser-ney", None), ("absolute", None), ("kneser-ney", (0, 1, 1, 1)), ("witten-bell", None)]
)
def test_rnnkit_file_in_kenlm_gives_the_same_scores(tmp_path, order, smoothing, prune):
    kenlm = pytest.importorskip("kenlm")
    lm = NGramLM(order, smoothing, prune=prune[:order] if prune else None).fit(CORPUS)
    ken = kenlm.Model(str(lm.to_arpa(tmp_path / "lm.arpa")))
    for s in SENTENCES:
        ours, theirs = list(lm.full_scores(s)), list(ken.full_scores(s))
        assert [o[1:] for o in ours] == [tuple(t[1:]) for t in theirs], s
        for o, t in zip(ours, theirs):
            if o[0] == -math.inf:  # witten-bell gives an unseen word 0; the file says -99, KenLM adds the backoffs
                assert smoothing == "witten-bell" and t[0] <= -99
            else:
                assert abs(o[0] - t[0]) < 1e-6, (s, o, t)  # KenLM holds float32
        assert ken.order == order


def test_kenlm_scored_file_read_by_rnnkit_gives_kenlms_numbers(tmp_path):
    kenlm = pytest.importorskip("kenlm")
    # a 4-gram model with pruning, written by rnnkit, then edited by hand so that it is no longer one rnnkit
    # could have counted: a backoff weight changed and an n-gram added
    lm = NGramLM(4, "kneser-ney", prune=(0, 0, 1, 1)).fit(CORPUS)
    path = lm.to_arpa(tmp_path / "lm.arpa")
    lines = path.read_text(encoding="utf-8").split("\n")
    for i, line in enumerate(lines):
        fields = line.split("\t")
        if line.startswith("ngram 2="):
            lines[i] = f"ngram 2={int(line.split('=')[1]) + 1}"
        elif len(fields) == 3 and fields[1] == "the":
            lines[i] = "\t".join([fields[0], "the", "-0.25"])  # another backoff weight
    k = lines.index("\\2-grams:")
    lines.insert(k + 1, "-0.9\tcat bird")  # an n-gram the corpus never had
    path.write_text("\n".join(lines), encoding="utf-8")
    ken = kenlm.Model(str(path))
    ours = NGramLM.from_arpa(path)
    for s in SENTENCES + ["the cat bird sang", "cat bird", "the zebra the cat"]:
        a, b = list(ours.full_scores(s)), list(ken.full_scores(s))
        assert [x[1:] for x in a] == [tuple(x[1:]) for x in b], s
        np.testing.assert_allclose([x[0] for x in a], [x[0] for x in b], rtol=0, atol=1e-6)
    assert list(ours.full_scores("cat bird"))[1][1] == 2  # the added bigram matched


# -- bad files --------------------------------------------------------------------------------------
GOOD = (
    "\\data\\\nngram 1=3\nngram 2=1\n\n\\1-grams:\n-99 <s> -0.1\n-0.3 a -0.2\n-0.3 </s>\n\n"
    "\\2-grams:\n-0.1 <s> a\n\n\\end\\\n"
)


@pytest.mark.parametrize(
    "edit,line,expected",
    [
        (lambda t: t.replace("\\data\\", "data"), 13, "expected a '\\data\\' line, got end of file"),
        (lambda t: t.replace("ngram 2=1", "ngram 3=1"), 3, "expected 'ngram 2=COUNT'"),
        (lambda t: t.replace("ngram 1=3", "ngram one=3"), 2, "expected 'ngram 1=COUNT', got 'ngram one=3'"),
        (lambda t: t.replace("-0.3 a -0.2", "-0.3 a -0.2 extra"), 7, "expected a 1-gram line 'LOG10PROB WORDS"),
        (lambda t: t.replace("-0.3 a -0.2", "x a"), 7, "expected a 1-gram line starting with a log10 probability"),
        (lambda t: t.replace("-0.3 a -0.2", "0.5 a"), 7, "log10 probability <= 0"),
        (lambda t: t.replace("-0.3 a -0.2", "-0.3 a nan"), 7, "ending with a log10 backoff"),
        (lambda t: t.replace("-0.3 </s>", "-0.3 a"), 8, "expected distinct 1-grams, got '-0.3 a'"),
        (lambda t: t.replace("-0.1 <s> a", "-0.1 <s> b"), 11, "listed among the 1-grams ('b' is not)"),
        (lambda t: t.replace("-0.1 <s> a", "-0.1 <s> a -0.5"), 11, "expected a 2-gram line"),
        (lambda t: t.replace("ngram 1=3", "ngram 1=4"), 9, "(4 of the 4 declared), got ''"),
        (lambda t: t.replace("ngram 2=1", "ngram 2=2"), 12, "(2 of the 2 declared), got ''"),
        (lambda t: t.replace("\\2-grams:", "\\3-grams:"), 10, "expected '\\2-grams:' after the 3 1-grams"),
        (
            lambda t: t.replace("\\end\\\n", ""),
            12,
            "expected '\\end\\' after the 1 2-grams the header declares, got end of file",
        ),
        (lambda t: t.replace("-0.3 </s>", "-0.3 b"), 5, "expected the 1-grams to list '<s>' and '</s>', got no '</s>'"),
    ],
)
def test_malformed_files_name_the_file_the_line_and_what_was_expected(tmp_path, edit, line, expected):
    path = tmp_path / "bad.arpa"
    NGramLM.from_arpa(_write(path, GOOD))  # the unedited file is fine
    _write(path, edit(GOOD))
    with pytest.raises(ValueError) as info:
        NGramLM.from_arpa(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}:{line}: "), message
    assert expected in message, message


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_duplicate_ngrams_and_missing_files(tmp_path):
    text = GOOD.replace("ngram 2=1", "ngram 2=2").replace("-0.1 <s> a\n", "-0.1 <s> a\n-0.2 <s> a\n")
    with pytest.raises(ValueError, match=r"dup.arpa: expected distinct 2-grams, got '<s> a' twice"):
        NGramLM.from_arpa(_write(tmp_path / "dup.arpa", text))
    with pytest.raises(FileNotFoundError, match="no such file"):
        NGramLM.from_arpa(tmp_path / "missing.arpa")


def test_reading_streams_line_by_line(tmp_path, monkeypatch):
    # the reader never asks for the whole file: read() and readlines() are not called
    import io

    path = NGramLM(3, "kneser-ney").fit(CORPUS).to_arpa(tmp_path / "lm.arpa")
    real_open = open

    class LineOnly(io.TextIOWrapper):
        def read(self, *a):
            raise AssertionError("read() called")

        def readlines(self, *a):
            raise AssertionError("readlines() called")

    def guarded_open(file, *a, **kw):
        f = real_open(file, *a, **kw)
        return LineOnly(f.detach(), encoding="utf-8") if os.fspath(file) == os.fspath(path) else f

    import rnnkit.lm.arpa as arpa_module

    monkeypatch.setattr(arpa_module, "open", guarded_open, raising=False)
    assert NGramLM.from_arpa(path).order == 3


# -- writing --------------------------------------------------------------------------------------------
def test_writing_is_atomic_and_overwrites(tmp_path):
    a = NGramLM(2, "kneser-ney").fit(CORPUS[:3])
    b = NGramLM(3, "kneser-ney").fit(CORPUS)
    path = tmp_path / "sub" / "lm.arpa"
    a.to_arpa(path)
    assert b.to_arpa(path) == path
    assert NGramLM.from_arpa(path).order == 3
    assert sorted(os.listdir(path.parent)) == ["lm.arpa"]  # no temporary file left behind


def test_models_without_a_backoff_form_are_refused(tmp_path):
    for smoothing, delta in [("mle", None), ("lidstone", 0.1), ("laplace", None), ("stupid-backoff", None)]:
        with pytest.raises(
            ValueError, match=rf"to_arpa: smoothing must be one with a backoff form .* got '{smoothing}'"
        ):
            NGramLM(2, smoothing, delta).fit(CORPUS).to_arpa(tmp_path / "x.arpa")
    with pytest.raises(ValueError, match="one <s> per sentence"):
        NGramLM(3, "kneser-ney", collapse_start=False).fit(CORPUS).to_arpa(tmp_path / "x.arpa")
    with pytest.raises(ValueError, match="tokens must hold no whitespace .* got ' '"):
        NGramLM(3, "kneser-ney").fit([list("a cat")]).to_arpa(tmp_path / "x.arpa")
    with pytest.raises(RuntimeError, match="not fitted"):
        NGramLM(2).to_arpa(tmp_path / "x.arpa")
    assert not (tmp_path / "x.arpa").exists()


def test_a_model_read_from_a_file_saves_and_loads(tmp_path, hand_file):
    from rnnkit.io import CheckpointError

    lm = NGramLM.from_arpa(hand_file)
    back = NGramLM.load(lm.save(tmp_path / "m"))
    assert back.smoothing == "arpa" and back.vocab == lm.vocab
    for sentence in HAND_SCORES:
        assert list(back.full_scores(sentence)) == list(lm.full_scores(sentence))
    with pytest.raises(RuntimeError, match="holds probabilities, not counts"):
        back.count(["a"])
    import json

    import rnnkit.lm.ngram as ngram_module
    from rnnkit.io import load_bytes, save_file

    path = tmp_path / "m" / "ngram.safetensors"
    tensors, meta = load_bytes(path.read_bytes())
    tensors["level1.logprobs"] = -tensors["level1.logprobs"]  # log10 probabilities > 0
    meta["sha256"] = ngram_module._content_digest(tensors, meta)
    save_file(tensors, path, meta)
    assert json.loads(meta["config"])["smoothing"] == "arpa"
    with pytest.raises(CheckpointError, match="log10 probability > 0"):
        NGramLM.load(path)


def test_docstring_examples_run():
    import doctest

    import rnnkit.lm.arpa as arpa_module

    result = doctest.testmod(arpa_module)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("smoothing,prune", [("kneser-ney", None), ("witten-bell", None), ("absolute", (0, 1, 1))])
def test_backoff_weights_are_the_left_over_mass_of_the_standard_conversion(tmp_path, smoothing, prune):
    # bow(h) = (1 - sum_{w listed after h} P(w|h)) / (1 - sum_{w listed after h} P(w|h')), from lm.prob alone
    lm = NGramLM(3, smoothing, prune=prune).fit(CORPUS)
    lines = lm.to_arpa(tmp_path / "lm.arpa").read_text(encoding="utf-8").splitlines()
    listed, bows = {}, {}
    for line in lines:
        fields = line.split("\t")
        if len(fields) >= 2 and not fields[0].startswith("ngram"):
            words = tuple(fields[1].split())
            listed[words] = float(fields[0])
            if len(fields) == 3:
                bows[words] = float(fields[2])
    checked = 0
    for h, bow in bows.items():
        after = [g[-1] for g in listed if len(g) == len(h) + 1 and g[:-1] == h]
        num = 1 - sum(lm.prob(w, list(h)) for w in after)
        den = 1 - sum(lm.prob(w, list(h[1:])) for w in after)
        assert bow == pytest.approx(math.log10(num / den), abs=1e-9), h
        checked += 1
    for g, lp in listed.items():  # a listed n-gram's probability is the model's interpolated one
        p = lm.prob(g[-1], list(g[:-1]))
        if lp == -99:  # <s>, and witten-bell's unseen <unk>: probability 0
            assert p == 0, g
        else:
            assert lp == pytest.approx(math.log10(p), abs=1e-12), g
    assert checked > 10
