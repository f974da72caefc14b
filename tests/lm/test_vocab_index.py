"""Vocabulary.index: a str maps to its id (or unk); anything else is a TypeError naming the argument."""

from __future__ import annotations

import re

import pytest

from rnnkit.lm.vocab import Vocabulary


@pytest.mark.parametrize("token", [None, 3, 1.5, b"the", ["the"], ("the",)])
def test_index_of_a_non_string_is_a_type_error(token):
    vocab = Vocabulary.from_tokens("the cat sat".split())
    with pytest.raises(
        TypeError, match=re.escape(f"Vocabulary.index: token must be a str, got {type(token).__name__}")
    ):
        vocab.index(token)


def test_index_of_strings():
    vocab = Vocabulary.from_tokens("the cat the".split())
    assert vocab.index("the") == vocab.tokens.index("the")
    assert vocab.index("dog") == vocab.unk_id
