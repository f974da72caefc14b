"""Names that moved keep their old import paths: rnnkit.lm.{vocab,data,corpus} are rnnkit.text's modules."""

import importlib

import pytest

import rnnkit.text


@pytest.mark.parametrize("name", ["vocab", "data", "corpus"])
def test_old_module_paths_are_the_moved_modules(name):
    assert importlib.import_module(f"rnnkit.lm.{name}") is importlib.import_module(f"rnnkit.text.{name}")


def test_old_names_import_from_rnnkit_lm():
    from rnnkit.lm import Vocabulary, batchify, word_tokens
    from rnnkit.lm.corpus import builtin_corpus
    from rnnkit.lm.vocab import Vocabulary as V2

    assert Vocabulary is V2 is rnnkit.text.Vocabulary
    assert batchify is rnnkit.text.batchify and word_tokens is rnnkit.text.word_tokens
    assert builtin_corpus is rnnkit.text.builtin_corpus


def test_trainer_and_decoding_still_export_the_protocol_names():
    from rnnkit.decoding import StepModel as D
    from rnnkit.protocols import StepModel, StepResult
    from rnnkit.trainer import StepResult as T

    assert T is StepResult and D is StepModel
