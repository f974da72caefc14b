"""NGramLM.save / NGramLM.load: exact round trips for every smoothing, atomic writes, and a clear
CheckpointError for truncated, corrupted and foreign files."""

import json
import os

import numpy as np
import pytest

from rnnkit.io import CheckpointError, load_bytes, load_file, load_metadata, save_file
from rnnkit.lm import NGramLM, Vocabulary
from rnnkit.lm import ngram as ngram_module

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
HELD = [s.split() for s in ["the cat sat on the log", "a bird saw a fish", "the zebra sang"]]
CONTEXTS = [
    [],
    ["<s>"],
    ["<s>", "<s>"],
    ["the"],
    ["on", "the"],
    ["a", "cat", "saw"],
    ["zebra", "the"],
    ["the", "<s>", "a"],
]
SMOOTHINGS = [
    ("mle", None),
    ("lidstone", 0.1),
    ("laplace", None),
    ("witten-bell", None),
    ("absolute", None),
    ("absolute", 0.7),
    ("kneser-ney", None),
]


def assert_same_model(a: NGramLM, b: NGramLM):
    assert repr(a) == repr(b) and a.vocab == b.vocab and a.discounts == b.discounts
    assert (a.order, a.smoothing, a.delta, a.min_count, a.collapse_start) == (
        b.order,
        b.smoothing,
        b.delta,
        b.min_count,
        b.collapse_start,
    )
    for ctx in CONTEXTS:
        np.testing.assert_array_equal(a.next_logprobs(ctx), b.next_logprobs(ctx))  # bit for bit
    assert a.total_logprob(HELD) == b.total_logprob(HELD)
    assert a.perplexity(CORPUS) == b.perplexity(CORPUS)
    for gram in (["the"], ["on", "the"], ["<s>", "the", "cat"], ["sat", "on", "the", "mat"]):
        assert a.count(gram[-a.order :]) == b.count(gram[-b.order :])
    assert a.generate(12, seed=5) == b.generate(12, seed=5)


@pytest.mark.parametrize("order", [1, 2, 4])
@pytest.mark.parametrize("smoothing,delta", SMOOTHINGS)
def test_round_trip_gives_identical_probabilities(tmp_path, caplog, order, smoothing, delta):
    lm = NGramLM(order, smoothing, delta).fit(CORPUS)
    path = lm.save(tmp_path / "model")
    assert path == tmp_path / "model" / "ngram.safetensors" and path.is_file()
    caplog.clear()
    loaded = NGramLM.load(tmp_path / "model")
    assert_same_model(lm, loaded)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]  # the fit's fallback warnings are not repeated


@pytest.mark.parametrize("collapse_start", [True, False])
def test_single_file_options_and_a_fixed_vocabulary(tmp_path, collapse_start):
    vocab = Vocabulary.from_tokens([w for s in CORPUS for w in s] + ["zebra"], bos_token="<s>", eos_token="</s>")
    lm = NGramLM(3, "kneser-ney", vocab=vocab, collapse_start=collapse_start).fit(CORPUS[:5])
    path = lm.save(tmp_path / "deep" / "lm.safetensors")  # a .safetensors path is the file itself
    assert path == tmp_path / "deep" / "lm.safetensors"
    loaded = NGramLM.load(path)
    assert_same_model(lm, loaded)
    assert loaded._given_vocab == vocab  # refitting keeps the fixed vocabulary
    assert loaded.fit(CORPUS).vocab == vocab


def test_character_model_min_count_and_custom_symbols(tmp_path):
    lines = [list(w) for w in "banana bandana cabana ananas".split()]
    lm = NGramLM(3, "witten-bell", min_count=2, unk="?", bos="^", eos="$").fit(lines)
    lm.save(tmp_path)
    loaded = NGramLM.load(tmp_path)
    assert loaded.vocab.unk_token == "?" and loaded.vocab.bos_token == "^" and loaded.min_count == 2
    np.testing.assert_array_equal(lm.next_logprobs(["^", "b"]), loaded.next_logprobs(["^", "b"]))
    assert NGramLM(2, "mle", unk="?", bos="^", eos="$").fit(lines)._names == loaded._names


def test_the_file_is_plain_safetensors_with_json_metadata(tmp_path):
    lm = NGramLM(3, "kneser-ney").fit(CORPUS)
    path = lm.save(tmp_path)
    raw = path.read_bytes()
    assert raw[8:9] == b"{" and b"pickle" not in raw
    meta = load_metadata(path)
    assert meta["format"] == "rnnkit.NGramLM" and meta["format_version"] == "1"
    config = json.loads(meta["config"])
    assert config["order"] == 3 and config["smoothing"] == "kneser-ney" and config["discounts"]["3"]
    assert Vocabulary.from_json(meta["vocab"]) == lm.vocab
    tensors = load_file(path)
    assert sorted(tensors) == sorted(
        f"level{m}.{k}" for m in range(3) for k in ("contexts", "ngrams", "counts", "kn_counts")
    )
    assert tensors["level0.counts"].sum() == sum(len(s) + 1 for s in CORPUS)  # one prediction per word and </s>
    st = pytest.importorskip("safetensors.numpy")
    np.testing.assert_array_equal(st.load_file(str(path))["level2.ngrams"], tensors["level2.ngrams"])


def test_saving_is_atomic_and_overwrites(tmp_path):
    a = NGramLM(2, "laplace").fit(CORPUS)
    b = NGramLM(3, "kneser-ney").fit(CORPUS)
    a.save(tmp_path)
    b.save(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["ngram.safetensors"]  # no temporary file left behind
    assert NGramLM.load(tmp_path).order == 3


def test_an_unfitted_model_cannot_be_saved(tmp_path):
    with pytest.raises(RuntimeError, match="not fitted"):
        NGramLM(2).save(tmp_path)


# -- damaged and foreign files ------------------------------------------------------------------------
@pytest.fixture()
def saved(tmp_path):
    lm = NGramLM(3, "kneser-ney").fit(CORPUS)
    return lm.save(tmp_path / "m")


def test_missing_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or directory"):
        NGramLM.load(tmp_path / "nothing")
    with pytest.raises(CheckpointError, match=r"not a saved NGramLM \(ngram.safetensors is missing\)"):
        NGramLM.load(tmp_path)


@pytest.mark.parametrize("keep", [0, 5, 100, -1])
def test_truncated_file(saved, keep):
    raw = saved.read_bytes()
    saved.write_bytes(raw[:keep] if keep >= 0 else raw[:-3])
    with pytest.raises(CheckpointError, match=str(saved)):
        NGramLM.load(saved)


def test_a_flipped_byte_anywhere_is_caught(saved):
    raw = bytearray(saved.read_bytes())
    n = int.from_bytes(raw[:8], "little")
    rng = np.random.default_rng(0)
    for pos in list(rng.integers(8 + n, len(raw), size=6)) + [len(raw) - 1]:  # in the data
        bad = bytearray(raw)
        bad[pos] ^= 0x10
        saved.write_bytes(bytes(bad))
        with pytest.raises(CheckpointError, match="SHA-256 .* differs from the recorded .* corrupted"):
            NGramLM.load(saved)
    header = raw[8 : 8 + n].decode()
    pos = 8 + header.index('"order\\": 3') + len('"order\\": ')  # inside the JSON config
    bad = bytearray(raw)
    bad[pos : pos + 1] = b"4"
    saved.write_bytes(bytes(bad))
    with pytest.raises(CheckpointError, match="differs from the recorded"):
        NGramLM.load(saved)


def test_foreign_files_are_refused(tmp_path):
    other = tmp_path / "weights.safetensors"
    save_file({"weight": np.zeros((2, 2), np.float32)}, other, {"config": "{}"})
    with pytest.raises(CheckpointError, match=r"not a saved NGramLM \(metadata format is None"):
        NGramLM.load(other)
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a model at all")
    with pytest.raises(CheckpointError, match="notes.txt"):
        NGramLM.load(text)
    from rnnkit.checkpoint import save_checkpoint

    ckpt = save_checkpoint(tmp_path / "ckpt", model_state={"w": np.zeros(2)}, config={"kind": "rnnlm"})
    with pytest.raises(CheckpointError, match="not a saved NGramLM"):
        NGramLM.load(ckpt)
    with pytest.raises(CheckpointError, match="not a saved NGramLM"):
        NGramLM.load(ckpt / "model.safetensors")


def _rewrite(path, edit):
    """Re-save the file with ``edit(tensors, meta, config)`` applied and a matching digest: what a
    foreign or buggy writer could produce, which the digest alone cannot catch."""
    tensors, meta = load_bytes(path.read_bytes())
    config = json.loads(meta["config"])
    edit(tensors, meta, config)
    meta["config"] = json.dumps(config)
    meta["sha256"] = ngram_module._content_digest(tensors, meta)
    save_file(tensors, path, meta)


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda t, m, c: m.update(format_version="2"), "format_version '2' is not one this rnnkit reads"),
        (lambda t, m, c: c.update(smoothing="good-turing"), "config or vocabulary not readable"),
        (lambda t, m, c: c.pop("order"), "config or vocabulary not readable"),
        (lambda t, m, c: m.update(vocab="[]"), "config or vocabulary not readable"),
        (lambda t, m, c: c.update(eos="<eos>"), "special tokens"),
        (lambda t, m, c: t.pop("level1.kn_counts"), r"missing \['level1.kn_counts'\]"),
        (lambda t, m, c: t.update(extra=np.zeros(1)), r"unexpected \['extra'\]"),
        (lambda t, m, c: c.update(order=4), "missing"),
        (lambda t, m, c: t.update({"level2.ngrams": t["level2.ngrams"][::-1].copy()}), "strictly increasing"),
        (lambda t, m, c: t.update({"level1.ngrams": t["level1.ngrams"] + 10**6}), "strictly increasing"),
        (lambda t, m, c: t.update({"level0.contexts": np.array([0, 1])}), "must be \\[0\\]"),
        (lambda t, m, c: t.update({"level1.counts": t["level1.counts"][:-1].copy()}), "one count per n-gram"),
        (lambda t, m, c: t.update({"level1.counts": t["level1.counts"].astype(np.float64)}), "1-D int64"),
        (lambda t, m, c: t.update({"level2.counts": -t["level2.counts"]}), "negative, zero or non-finite"),
        (lambda t, m, c: t.update({"level1.kn_counts": t["level1.kn_counts"] + 1}), "do not belong to this config"),
    ],
)
def test_inconsistent_content_with_a_valid_digest(saved, edit, message):
    _rewrite(saved, edit)
    with pytest.raises(CheckpointError, match=message):
        NGramLM.load(saved)
