"""Tokenisation, batchify (Zaremba layout), truncated-BPTT windows and sentence padding."""

import doctest

import numpy as np
import pytest

import rnnkit.text.data as data_module
from rnnkit.lm import (
    batchify,
    bptt_batches,
    char_sentences,
    char_tokens,
    pad_batch,
    word_sentences,
    word_tokens,
)


def test_word_tokens_end_every_line_with_one_eos():
    text = " the  cat\tsat \n\non the mat"  # a blank line is an empty line; the last line has no newline
    assert word_tokens(text) == ["the", "cat", "sat", "<eos>", "<eos>", "on", "the", "mat", "<eos>"]
    assert word_sentences(text) == [["the", "cat", "sat"], [], ["on", "the", "mat"]]
    assert word_tokens("a\r\nb\n", eos="</s>") == ["a", "</s>", "b", "</s>"]


def test_char_tokens_eos_or_newline():
    text = "ab\nc\n"
    assert char_tokens(text) == ["a", "b", "<eos>", "c", "<eos>"]
    assert "".join(char_tokens(text, eos="\n")) == text
    assert char_sentences(text) == [["a", "b"], ["c"]]
    # the same number of predicted tokens either way
    assert len(char_tokens(text)) == len(char_tokens(text, eos="\n"))


def test_batchify_is_the_zaremba_layout():
    ids = np.arange(23)
    data = batchify(ids, 4)  # N = 5, the last 3 tokens dropped
    assert data.shape == (5, 4) and data.dtype == np.int64
    for b in range(4):
        assert data[:, b].tolist() == list(range(5 * b, 5 * b + 5))
    assert batchify([1, 2, 3], 3).tolist() == [[1, 2, 3]]


def test_bptt_batches_cover_every_target_once_and_continue_columns():
    data = batchify(np.arange(42), 3)  # (14, 3)
    xs, ys = zip(*bptt_batches(data, 5))
    assert [x.shape for x in xs] == [(5, 3), (5, 3), (3, 3)]
    np.testing.assert_array_equal(np.concatenate(xs), data[:-1])
    np.testing.assert_array_equal(np.concatenate(ys), data[1:])
    for x, y in zip(xs, ys):
        np.testing.assert_array_equal(y[:-1], x[1:])  # the target is the next token of the same column
    # seq_len longer than the data: one window
    ((x, y),) = bptt_batches(data, 100)
    assert x.shape == (13, 3)


def test_pad_batch():
    ids, lengths = pad_batch([[5, 6, 7], [8], np.array([9, 10])], pad_id=0)
    assert ids.shape == (3, 3) and ids.dtype == np.int64
    assert ids.T.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert lengths.tolist() == [3, 1, 2]
    ids, lengths = pad_batch([[1], []], pad_id=3)
    assert ids.tolist() == [[1, 3]] and lengths.tolist() == [1, 0]


def test_errors_name_the_argument_and_value():
    with pytest.raises(ValueError, match=r"batchify: batch_size must be >= 1, got 0"):
        batchify([1, 2], 0)
    with pytest.raises(ValueError, match=r"ids must hold at least batch_size=4 tokens, got 3"):
        batchify([1, 2, 3], 4)
    with pytest.raises(TypeError, match=r"ids must hold integer token ids, got dtype float64"):
        batchify([1.5, 2.0], 1)
    with pytest.raises(ValueError, match=r"ids must be 1-D, got shape \(2, 2\)"):
        batchify(np.zeros((2, 2), dtype=int), 1)
    with pytest.raises(ValueError, match=r"seq_len must be >= 1, got 0"):
        bptt_batches(np.zeros((4, 2), dtype=int), 0)
    with pytest.raises(ValueError, match=r"data must have at least 2 rows .* got shape \(1, 2\)"):
        bptt_batches(np.zeros((1, 2), dtype=int), 3)
    with pytest.raises(ValueError, match=r"pad_id must be >= 0, got -1"):
        pad_batch([[1]], -1)
    with pytest.raises(ValueError, match=r"sentences must hold at least one sentence"):
        pad_batch([], 0)
    with pytest.raises(TypeError, match=r"sentences\[1\] must hold integer token ids"):
        pad_batch([[1], ["a"]], 0)
    with pytest.raises(TypeError, match=r"word_sentences: text must be a str, got list"):
        word_tokens(["a b"])
    with pytest.raises(TypeError, match=r"eos must be a non-empty str, got str ''"):
        char_tokens("ab", eos="")


def test_docstring_examples_run():
    result = doctest.testmod(data_module)
    assert result.attempted > 0 and result.failed == 0
