"""``rnnkit seq2seq``: flags spelled like the config fields, and one-line errors with exit status 2."""

import dataclasses
import json
import re

import pytest

from rnnkit.cli import main
from rnnkit.runs.directory import CONFIG_FILE as RUN_FILE
from rnnkit.runs.seq2seq import SRC_VOCAB_FILE, TGT_VOCAB_FILE, Seq2SeqRunConfig
from rnnkit.tasks.seq2seq_data import make_vocabulary


def _fails(capsys, argv, pattern):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


def test_train_flags_follow_the_config_fields(capsys):
    with pytest.raises(SystemExit):
        main(["seq2seq", "train", "--help"])
    text = capsys.readouterr().out
    options = re.split(r"\n  (?=--)", text.split("options:")[1])
    for f in dataclasses.fields(Seq2SeqRunConfig):
        flag = "--" + f.name.replace("_", "-")
        entries = [
            o for o in options if o.startswith(flag + " ") or o.startswith(flag + ",") or o.startswith(flag + "\n")
        ]
        assert len(entries) == 1, flag
        entry = " ".join(entries[0].split())
        assert entry.count("(default:") == 1, entry  # the default, once
    assert "{none,additive,dot,general,concat}" in text and "{dates,reverse,sort,copy,multi}" in text
    assert (
        "--copy, --no-copy" in text
        and "--hidden-size" in text
        and "--encoder-layers" in text
        and "--bridge {projection,concat,zeros}" in text
    )


def test_bad_flags(capsys):
    _fails(capsys, ["seq2seq"], r"^rnnkit seq2seq: a command is required")
    _fails(capsys, ["seq2seq", "train", "--attention", "luong"], r"argument --attention: invalid choice: 'luong'")
    _fails(capsys, ["seq2seq", "train", "--hidden-size", "x"], r"argument --hidden-size: must be an integer, got 'x'")
    _fails(capsys, ["seq2seq", "train", "--hidden-size", "0"], r"--hidden-size must be >= 1, got 0")
    _fails(capsys, ["seq2seq", "train", "--attention", "none", "--coverage"], r"coverage needs attention")
    _fails(capsys, ["seq2seq", "train", "--task", "dates", "--data", "x.tsv"], r"give task or data, not both")
    _fails(capsys, ["seq2seq", "train", "--valid", "x.tsv"], r"valid needs data")


@pytest.mark.parametrize(
    "content, pattern",
    [
        (b"a\tb\n\nc\td\n", r"bad\.tsv: line 2: empty line"),
        (b"a\tb\nc d\n", r"bad\.tsv: line 2: no tab"),
        (b"a\tb\n" + b"x" * 9 + b"\tb\n", r"bad\.tsv: line 2: source too long: 9 characters, the limit is 8"),
        (b"", r"bad\.tsv: empty file"),
        (b"a\tb\n\xe9\tb\n", r"bad\.tsv: line 2: not UTF-8"),
    ],
)
def test_bad_tsv_is_one_line_and_exit_2(capsys, tmp_path, content, pattern):
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(content)
    out = tmp_path / "run"
    _fails(capsys, ["seq2seq", "train", "--data", str(bad), "--max-source-length", "8", "--out", str(out)], pattern)
    assert not out.exists()  # nothing written for bad data
    good = tmp_path / "good.tsv"
    good.write_bytes(b"a\tb\nc\td\n")
    argv = ["seq2seq", "train", "--data", str(good), "--valid", str(bad), "--max-source-length", "8", "--out", str(out)]
    _fails(capsys, argv, pattern)
    _fails(capsys, ["seq2seq", "train", "--data", str(tmp_path / "none.tsv")], r"none\.tsv: no such file")


def _foreign_runs(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    lm = tmp_path / "lm"
    lm.mkdir()
    (lm / RUN_FILE).write_text(json.dumps({"level": "char", "cell": "lstm"}))
    (lm / "vocab.json").write_text("{}")
    other = tmp_path / "other"
    other.mkdir()
    vocab = make_vocabulary([["a"]])
    for name in (SRC_VOCAB_FILE, TGT_VOCAB_FILE):
        vocab.save(other / name)
    (other / RUN_FILE).write_text(json.dumps({"run": "something.else", "version": 1, "config": {}}))
    return [
        (tmp_path / "missing", r"--run: no such directory: .*missing"),
        (empty, r"empty: not a run directory of 'rnnkit seq2seq train' \(run\.json is missing\)"),
        (lm, r"lm: not a run directory of 'rnnkit seq2seq train' \(source_vocab\.json is missing\)"),
        (other, r"run\.json has fields this rnnkit does not know: \['config', 'run', 'version'\]"),
    ]


def test_missing_or_foreign_run_directory(capsys, tmp_path):
    data = tmp_path / "d.tsv"
    data.write_text("a\tb\n")
    for run, pattern in _foreign_runs(tmp_path):
        _fails(capsys, ["seq2seq", "translate", "--run", str(run), "24th of November 2026"], pattern)
        _fails(capsys, ["seq2seq", "eval", "--run", str(run), "--data", str(data)], pattern)
    _fails(capsys, ["seq2seq", "train", "--task", "reverse", "--resume", "--out", str(tmp_path / "missing")], "missing")


def test_translate_flag_errors(capsys, tmp_path):
    _fails(capsys, ["seq2seq", "translate", "--run", str(tmp_path), "--beam", "2", "--nbest", "3", "x"], "--nbest")
    _fails(capsys, ["seq2seq", "eval", "--run", str(tmp_path), "--data", "x", "--beam", "0"], "--beam must be >= 1")
    _fails(capsys, ["seq2seq", "translate", "x"], "the following arguments are required: --run")


def test_train_refuses_a_run_unless_overwrite_and_takes_the_old_flag_spellings(capsys, tmp_path):
    out = tmp_path / "r"
    tiny = ["seq2seq", "train", "--task", "reverse", "--train-size", "4", "--valid-size", "2", "--epochs", "1"]
    tiny += ["--hidden-size", "4", "--embedding-size", "3", "--no-progress", "--out", str(out)]
    assert main(tiny + ["--clip", "0.5", "--minutes", "1"]) == 0  # hidden aliases of --clip-norm, --max-minutes
    saved = json.loads((out / "run.json").read_text())
    assert (saved["clip_norm"], saved["max_minutes"]) == (0.5, 1.0)
    capsys.readouterr()
    _fails(capsys, tiny, r"--out: .*r already holds a run \(run\.json\); pass --overwrite to replace it")
    _fails(capsys, tiny + ["--overwrite", "--resume"], r"--resume and --overwrite exclude each other")
    assert main(tiny + ["--overwrite"]) == 0
    assert json.loads((out / "run.json").read_text())["clip_norm"] == 1.0
    assert "--clip " not in build_help()


def build_help():
    from rnnkit.cli import build_parser

    sub = build_parser()._subparsers._group_actions[0].choices["seq2seq"]
    return sub._subparsers._group_actions[0].choices["train"].format_help()
