"""Vocabulary: deterministic order, specials, min_count / max_size, encode/decode, JSON round trips, errors."""

import doctest
import json

import numpy as np
import pytest

import rnnkit.text.vocab as vocab_module
from rnnkit.lm import Vocabulary, char_tokens, word_tokens

TEXT = "the cat sat on the mat\nthe dog sat\n"


def test_order_is_specials_then_count_desc_then_token():
    tokens = ["b", "a", "c", "a", "b", "d", "a"]
    v = Vocabulary.from_tokens(tokens, pad_token="<pad>", bos_token="<bos>")
    assert v.tokens == ("<pad>", "<unk>", "<bos>", "<eos>", "a", "b", "c", "d")
    assert (v.pad_id, v.unk_id, v.bos_id, v.eos_id) == (0, 1, 2, 3)
    assert v.counts.tolist() == [0, 0, 0, 0, 3, 2, 1, 1]
    # the same multiset in another order gives the same vocabulary
    assert Vocabulary.from_tokens(sorted(tokens), pad_token="<pad>", bos_token="<bos>") == v


def test_optional_specials_are_absent_by_default():
    v = Vocabulary.from_tokens(word_tokens(TEXT))
    assert v.pad_id is None and v.bos_id is None and v.pad_token is None
    assert v.tokens[:2] == ("<unk>", "<eos>")
    assert v.counts[v.eos_id] == 2  # one <eos> per line, counted like a word


def test_min_count_and_max_size():
    toks = word_tokens(TEXT)  # the 3, sat 2, <eos> 2, cat/dog/mat/on 1
    v = Vocabulary.from_tokens(toks, min_count=2)
    assert v.tokens == ("<unk>", "<eos>", "the", "sat")
    assert v.counts[v.unk_id] == 4  # the four dropped words fold into <unk>
    assert v.encode(["cat", "the"]).tolist() == [v.unk_id, v.index("the")]
    w = Vocabulary.from_tokens(toks, max_size=5)  # specials included
    assert len(w) == 5 and w.tokens == ("<unk>", "<eos>", "the", "sat", "cat")
    assert Vocabulary.from_tokens(toks, max_size=2).tokens == ("<unk>", "<eos>")


def test_literal_specials_in_the_text_are_not_duplicated():
    v = Vocabulary.from_tokens(["<unk>", "a", "<unk>", "<eos>"])
    assert v.tokens == ("<unk>", "<eos>", "a") and v.counts.tolist() == [2, 1, 1]


def test_encode_decode_round_trip_words_and_chars():
    v = Vocabulary.from_tokens(word_tokens(TEXT))
    toks = word_tokens(TEXT)
    ids = v.encode(toks)
    assert ids.dtype == np.int64 and ids.shape == (len(toks),)
    assert v.decode(ids) == toks
    assert v.decode(np.array([], dtype=np.int64)) == [] and v.encode([]).shape == (0,)
    c = Vocabulary.from_tokens(char_tokens("abca\nb"))
    assert c.decode(c.encode(list("abc"))) == list("abc")
    assert "a" in c and "z" not in c and len(c) == 5


def test_json_round_trip_and_file(tmp_path):
    v = Vocabulary.from_tokens(word_tokens(TEXT) + ["é", "日本"], pad_token="<pad>", bos_token="<s>")
    assert Vocabulary.from_json(v.to_json()) == v
    obj = json.loads(v.to_json())
    assert obj["format"] == "rnnkit.Vocabulary" and obj["version"] == 1
    assert obj["specials"] == {"pad": "<pad>", "unk": "<unk>", "bos": "<s>", "eos": "<eos>"}
    path = tmp_path / "vocab.json"
    v.save(path)
    assert Vocabulary.load(path) == v
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    no_counts = Vocabulary(["<unk>", "<eos>", "x"])
    assert Vocabulary.from_json(no_counts.to_json()) == no_counts and no_counts.counts is None


def test_errors_name_the_argument_and_value():
    with pytest.raises(ValueError, match=r"min_count must be >= 1, got 0"):
        Vocabulary.from_tokens(["a"], min_count=0)
    with pytest.raises(ValueError, match=r"max_size must be >= 3 \(the special tokens .*\), got 2"):
        Vocabulary.from_tokens(["a"], max_size=2, bos_token="<s>")
    with pytest.raises(TypeError, match=r"tokens must be an iterable of str tokens, got a str"):
        Vocabulary.from_tokens("hello")
    with pytest.raises(TypeError, match=r"tokens must all be str, got int 3 at position 1"):
        Vocabulary.from_tokens(["a", 3])
    with pytest.raises(ValueError, match=r"tokens must be distinct, got 'a' more than once"):
        Vocabulary(["<unk>", "<eos>", "a", "a"])
    with pytest.raises(ValueError, match=r"eos_token '<eos>' must be one of the tokens"):
        Vocabulary(["<unk>", "a"])
    with pytest.raises(ValueError, match=r"special tokens must be distinct"):
        Vocabulary(["<unk>", "<eos>"], pad_token="<unk>")
    v = Vocabulary.from_tokens(["a", "b"])
    with pytest.raises(ValueError, match=r"ids must be in \[0, 4\), got 9 at index 1"):
        v.decode([0, 9])
    with pytest.raises(TypeError, match=r"ids must be a 1-D sequence of ints"):
        v.decode([0.5])
    with pytest.raises(TypeError, match=r"encode: tokens must be a sequence of str tokens, got a str"):
        v.encode("ab")
    with pytest.raises(TypeError, match=r"encode: tokens must be str, got int 1"):
        v.encode(["a", 1])
    with pytest.raises(ValueError, match=r"format must be 'rnnkit.Vocabulary', got 'other'"):
        Vocabulary.from_json('{"format": "other"}')
    with pytest.raises(ValueError, match=r"text must be valid JSON"):
        Vocabulary.from_json("{not json")
    bad = json.loads(v.to_json())
    bad["counts"] = [1, 2]
    with pytest.raises(ValueError, match=r"counts must be 4 non-negative ints"):
        Vocabulary.from_json(json.dumps(bad))


def test_docstring_examples_run():
    result = doctest.testmod(vocab_module)
    assert result.attempted > 0 and result.failed == 0
