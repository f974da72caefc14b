"""Flags are spelled like the fields they set, one spelling per concept, each default shown once."""

import dataclasses
import re

import pytest

from rnnkit.cli import build_parser, main
from rnnkit.cli.common import flag_name
from rnnkit.runs.lm import LMTrainConfig
from rnnkit.runs.ngram import NGramTrainConfig


def _parser(*path):
    p = build_parser()
    for name in path:
        p = next(a for a in p._actions if a.dest and a.choices and name in a.choices).choices[name]
    return p


def _flags(parser):
    return {s for a in parser._actions for s in a.option_strings if a.help != "==SUPPRESS=="}


@pytest.mark.parametrize("path,config", [(("lm", "train"), LMTrainConfig), (("ngram", "train"), NGramTrainConfig)])
def test_every_config_field_is_a_flag_with_a_sentence_and_one_default(path, config):
    parser = _parser(*path)
    flags = _flags(parser)
    for f in dataclasses.fields(config):
        assert flag_name(f.name) in flags, f.name
        assert f.metadata.get("help", "").endswith("."), f"{config.__name__}.{f.name} needs a help sentence"
    for action in parser._actions:
        if action.help and action.help != "==SUPPRESS==" and action.dest != "help":
            assert action.help.count("default") <= 1, action.help


def test_one_spelling_per_concept_across_subcommands():
    seen = set()
    for path in [("lm", "train"), ("lm", "sample"), ("lm", "eval"), ("ngram", "train"), ("ngram", "eval")]:
        seen |= _flags(_parser(*path))
    for path in [("ngram", "sample"), ("analyze", "gradflow"), ("analyze", "spectrum"), ("analyze", "gates")]:
        seen |= _flags(_parser(*path))
    seen |= _flags(_parser("longrange")) | _flags(_parser("demo"))
    for old in ("--layers", "--tie", "--clip", "--minutes", "--hidden", "--batch", "--checkpoint", "--model"):
        assert old not in seen, f"{old} is shown in --help; its one spelling is the field's name"
    for new in ("--num-layers", "--tie-weights", "--clip-norm", "--max-minutes", "--hidden-size", "--batch-size"):
        assert new in seen
    assert "--run" in _flags(_parser("lm", "sample")) & _flags(_parser("ngram", "eval"))
    assert "--run" in _flags(_parser("analyze", "gates"))


def test_choices_are_listed_in_help():
    text = " ".join(_parser("lm", "train").format_help().split())
    assert re.search(r"--cell \{rnn,gru,lstm,mgu\}", text)
    assert "--optimizer {adam,sgd}" in text


def test_old_spellings_still_parse():
    args = _parser("lm", "train").parse_args(["--layers", "3", "--tie", "--clip", "0.5", "--minutes", "2"])
    assert (args.num_layers, args.tie_weights, args.clip_norm, args.max_minutes) == (3, True, 0.5, 2.0)
    args = _parser("longrange").parse_args(["--hidden", "8", "--batch", "4", "--clip", "0"])
    assert (args.hidden_size, args.batch_size, args.clip_norm) == (8, 4, 0.0)
    assert _parser("ngram", "eval").parse_args(["--model", "d", "--data", "x"]).run == "d"


def test_a_run_is_required_and_named_by_its_flag(capsys):
    assert main(["lm", "sample"]) == 2
    assert "the following arguments are required: --run" in capsys.readouterr().err


def test_training_into_a_run_is_refused_without_overwrite(tmp_path, capsys):
    data = tmp_path / "t.txt"
    data.write_text("the cat sat\nthe dog sat\n" * 10)
    argv = ["ngram", "train", "--data", str(data), "--order", "2", "--out", str(tmp_path / "r")]
    assert main(argv) == 0
    before = (tmp_path / "r" / "ngram.safetensors").read_bytes()
    capsys.readouterr()
    assert main(argv + ["--order", "3"]) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--overwrite" in err and err.count("\n") == 1
    assert (tmp_path / "r" / "ngram.safetensors").read_bytes() == before
    assert main(argv + ["--order", "3", "--overwrite"]) == 0
    assert '"order": 3' in (tmp_path / "r" / "run.json").read_text()


def _all_leaves():
    import argparse

    def walk(p, path=()):
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield path, p
            return
        for name, sub in subs[0].choices.items():
            yield from walk(sub, (*path, name))

    return list(walk(build_parser()))


def test_every_flag_of_every_subcommand_has_a_sentence_its_choices_and_one_default():
    leaves = _all_leaves()
    assert len(leaves) >= 11
    for path, parser in leaves:
        for a in parser._actions:
            if not a.option_strings or a.help == "==SUPPRESS==" or a.dest == "help":
                continue
            where = f"{' '.join(path)} {a.option_strings[0]}"
            text = " ".join(a.help.split())
            assert re.match(r"[A-Z].*\.", text), f"{where}: help must be a sentence: {text!r}"
            assert text.count("(default") + text.count("(required)") == 1, f"{where}: {text!r}"
            if a.choices:
                assert "{" in parser.format_usage() or a.metavar is None, where
    lm_sample = " ".join(_parser("lm", "sample").format_help().split())
    for flag in ("--temperature X", "--top-k N", "--top-p X", "--seed N"):
        assert flag in lm_sample
    assert "0 takes the likeliest token (greedy)" in lm_sample


def test_run_flags_are_shared_by_training_commands():
    flags = _flags(_parser("lm", "train"))
    for flag in ("--resume", "--overwrite", "--init-from", "--checkpoint-every", "--on-nonfinite", "--out"):
        assert flag in flags
    text = " ".join(_parser("lm", "train").format_help().split())
    assert "--on-nonfinite {stop,skip}" in text and "(default: 10m)" in text
