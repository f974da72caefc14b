"""Digit reversal and sorting, the name-copy task, the multi-sentence task; vocabularies and padded batches."""

import doctest
import importlib

import numpy as np
import pytest

from rnnkit.tasks.digits import reversal_pairs, sorting_pairs
from rnnkit.tasks.multi_sentence import ORDINALS, multi_sentence_pairs, split_sentences
from rnnkit.tasks.names import TARGET_TOKENS, name_pairs
from rnnkit.tasks.seq2seq_data import (
    TASKS,
    PairBatches,
    build_vocabularies,
    detokenize,
    extend_ids,
    get_task,
    make_batch,
    tokenize,
)


def test_reversal_and_sorting():
    pairs = reversal_pairs(500, seed=0, min_length=1, max_length=60)
    lengths = [len(s) for s, _ in pairs]
    assert min(lengths) == 1 and max(lengths) == 60
    for s, t in pairs:
        assert s.isdigit() and t == "".join(reversed(s))
    for s, t in sorting_pairs(300, seed=1):
        assert sorted(s) == list(t) and all(a <= b for a, b in zip(t, t[1:]))
    fixed = reversal_pairs(20, seed=2, min_length=37, max_length=37)
    assert {len(s) for s, _ in fixed} == {37}
    assert reversal_pairs(50, seed=4) == reversal_pairs(50, seed=4) != reversal_pairs(50, seed=5)
    with pytest.raises(ValueError, match="reversal_pairs: max_length must be >= min_length = 5, got 4"):
        reversal_pairs(3, min_length=5, max_length=4)


def test_copy_targets_need_words_outside_the_target_vocabulary():
    train, test = name_pairs(3000, seed=0), name_pairs(500, seed=1)
    src_vocab, tgt_vocab = build_vocabularies(train, "word", target_tokens=get_task("copy").target_tokens)
    assert set(tgt_vocab.tokens) == {"<pad>", "<unk>", "<s>", "</s>", *TARGET_TOKENS}
    train_names = {w for _, t in train for w in t.split() if w != ","}
    new = 0
    for s, t in test:
        last, comma, first = t.split()
        assert comma == "," and f"{first} {last}" in s
        assert first not in tgt_vocab and last not in tgt_vocab
        new += first not in train_names and last not in train_names
    assert new > 0.7 * len(test)  # mostly names never seen in training at all
    assert name_pairs(30, seed=2) == name_pairs(30, seed=2)


def test_multi_sentence_answers_the_kth_subject():
    for src, tgt in multi_sentence_pairs(300, seed=0):
        sentences = split_sentences(src.split())
        body, question = sentences[:-1], sentences[-1]
        assert 3 <= len(body) <= 6 and question[-1] == "?"
        k = ORDINALS.index(question[-2])
        assert k < len(body) and " ".join(body[k][1:3]) == tgt
        subjects = [" ".join(s[1:3]) for s in body]
        assert len(set(subjects)) == len(subjects)  # the answer is unique
    assert split_sentences(["a", ".", "b"]) == [["a", "."], ["b"]]


def test_registry_and_tokens():
    assert set(TASKS) == {"dates", "reverse", "sort", "copy", "multi"}
    assert TASKS["dates"].level == "char" and TASKS["copy"].level == "word"
    for task in TASKS.values():
        pairs = task.pairs(5, seed=0)
        assert len(pairs) == 5 and all(isinstance(s, str) and isinstance(t, str) and s and t for s, t in pairs)
        for s, _ in pairs:
            assert detokenize(tokenize(s, task.level), task.level) == s
    with pytest.raises(ValueError, match="get_task: name must be one of"):
        get_task("nope")


def test_extended_ids():
    from rnnkit.tasks.seq2seq_data import make_vocabulary

    v = make_vocabulary(None, tokens=[",", "a"])  # <pad> <unk> <s> </s> , a
    V = len(v)
    src, tgt, oov = extend_ids(["x", "a", "y", "x"], ["y", ",", "x", "z", "a"], v)
    assert oov == ["x", "y"]
    assert src.tolist() == [V, v.index("a"), V + 1, V]
    assert tgt.tolist() == [V + 1, v.index(","), V, v.unk_id, v.index("a")]  # z: neither vocabulary nor source


def test_batch_layout():
    pairs = [("abc", "cb"), ("de", "edxq")]
    src_vocab, tgt_vocab = build_vocabularies(pairs, "char")
    assert tgt_vocab.tokens[:4] == ("<pad>", "<unk>", "<s>", "</s>")
    b = make_batch(pairs, src_vocab, tgt_vocab, "char")
    assert b.src.shape == (3, 2) and b.tgt_in.shape == (5, 2) and b.tgt_out.shape == (5, 2)
    assert b.src_lengths.tolist() == [3, 2] and b.tgt_lengths.tolist() == [3, 5]
    assert b.src[2, 1] == src_vocab.pad_id and (b.tgt_out[3:, 0] == tgt_vocab.pad_id).all()
    assert tgt_vocab.decode(b.tgt_in[:3, 0]) == ["<s>", "c", "b"]
    assert tgt_vocab.decode(b.tgt_out[:3, 0]) == ["c", "b", "</s>"]
    assert b.num_target_tokens == 8
    # a word the target vocabulary lacks is <unk> in tgt_out but its extended id in tgt_out_ext
    sv, tv = build_vocabularies([("a b", "b")], "word")
    b2 = make_batch([("a zz", "zz b")], sv, tv, "word")
    assert b2.tgt_out[0, 0] == tv.unk_id and b2.tgt_out_ext[0, 0] == len(tv) + 1 and b2.oov_tokens == [["a", "zz"]]


def test_sentence_lengths_for_the_hierarchical_encoder():
    pairs = [("a b . c ?", "x"), ("d . e f g . h ?", "y")]
    sv, tv = build_vocabularies(pairs, "word")
    b = make_batch(pairs, sv, tv, "word", sentence_ends=(".", "?"))
    assert b.sentence_lengths.tolist() == [[3, 2, 0], [2, 4, 2]]
    assert (b.sentence_lengths.sum(1) == b.src_lengths).all()


def test_pair_batches_cover_every_pair_once_per_epoch_deterministically():
    pairs = reversal_pairs(103, seed=0, max_length=30)
    sv, tv = build_vocabularies(pairs, "char")
    src = PairBatches(pairs, sv, tv, "char", batch_size=8, seed=3, bucket=4)
    assert len(src) == 13
    for epoch in (0, 1):
        seen = np.concatenate(src.batches(epoch))
        assert sorted(seen.tolist()) == list(range(103))
    assert [b.tolist() for b in src.batches(0)] != [b.tolist() for b in src.batches(1)]
    again = PairBatches(pairs, sv, tv, "char", batch_size=8, seed=3, bucket=4)
    np.testing.assert_array_equal(src.batch(1, 5).src, again.batch(1, 5).src)
    # bucketing: batches hold sources of similar length (less padding than a plain shuffle)
    pad = sum(int((src.batch(0, i).src == sv.pad_id).sum()) for i in range(len(src)))
    plain = PairBatches(pairs, sv, tv, "char", batch_size=8, seed=3, bucket=1)
    pad_plain = sum(int((plain.batch(0, i).src == sv.pad_id).sum()) for i in range(len(plain)))
    assert pad < pad_plain
    with pytest.raises(IndexError, match=r"PairBatches.batch: index must be in \[0, 13\), got 13"):
        src.batch(0, 13)


@pytest.mark.parametrize("name", ["digits", "names", "multi_sentence", "seq2seq_data", "tsv"])
def test_doctests(name):
    assert doctest.testmod(importlib.import_module(f"rnnkit.tasks.{name}")).failed == 0
