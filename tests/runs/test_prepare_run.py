"""``rnnkit lm prepare`` as a run: its directory is refused unless --overwrite, and lm train checks what it reads."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.runs.prepare import PrepareConfig, prepare
from rnnkit.text.mmap_corpus import is_prepared

QUIET = {"log_fn": lambda line: None}


def _text(path, lines, seed=0):
    rng = np.random.default_rng(seed)
    words = np.array("the cat sat on a mat and dog ran far".split())
    path.write_text("".join(" ".join(rng.choice(words, 6)) + "\n" for _ in range(lines)))
    return str(path)


def _contents(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_a_prepared_corpus_is_refused_without_overwrite_and_left_as_it_was(tmp_path):
    cfg = PrepareConfig(data=_text(tmp_path / "t.txt", 40), valid=_text(tmp_path / "v.txt", 10, seed=1))
    prepare(cfg, tmp_path / "p", **QUIET)
    before = _contents(tmp_path / "p")
    with pytest.raises(
        FileExistsError, match=r"--out: .* already holds a prepared corpus \(corpus.json\); pass --overwrite"
    ):
        prepare(PrepareConfig(data=_text(tmp_path / "u.txt", 5, seed=2)), tmp_path / "p", **QUIET)
    assert _contents(tmp_path / "p") == before


def test_overwrite_replaces_every_file_of_the_old_corpus(tmp_path):
    old = PrepareConfig(data=_text(tmp_path / "t.txt", 40), valid=_text(tmp_path / "v.txt", 10, seed=1))
    prepare(old, tmp_path / "p", **QUIET)
    (tmp_path / "p" / "notes.txt").write_text("mine")
    new = PrepareConfig(data=_text(tmp_path / "u.txt", 5, seed=2), level="char")
    meta = prepare(new, tmp_path / "p", overwrite=True, **QUIET)
    names = sorted(p.name for p in (tmp_path / "p").iterdir())
    assert names == ["corpus.json", "notes.txt", "train.npy", "vocab.json"]  # the old valid.npy is gone
    on_disk = json.loads((tmp_path / "p" / "corpus.json").read_text())
    assert on_disk == meta and on_disk["level"] == "char" and set(on_disk["tokens"]) == {"train"}
    text = (tmp_path / "u.txt").read_text()
    assert on_disk["tokens"]["train"] == len(text)  # one token per character, the newline included


def test_bad_input_leaves_the_old_corpus_complete(tmp_path):
    prepare(PrepareConfig(data=_text(tmp_path / "t.txt", 40)), tmp_path / "p", **QUIET)
    before = _contents(tmp_path / "p")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match="--data: .*empty.txt is empty"):
        prepare(PrepareConfig(data=str(tmp_path / "empty.txt")), tmp_path / "p", overwrite=True, **QUIET)
    assert _contents(tmp_path / "p") == before and is_prepared(tmp_path / "p")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "PrepareConfig: data must be the path of a text file, got None"),
        ({"data": "t.txt", "level": "byte"}, "PrepareConfig: level must be one of"),
        ({"data": "t.txt", "min_count": 0}, "PrepareConfig: min_count must be"),
        ({"data": "t.txt", "max_vocab": 2}, "PrepareConfig: max_vocab must be"),
    ],
)
def test_config_names_the_bad_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PrepareConfig(**kwargs)


def test_cli_prepare_refuses_then_overwrites(tmp_path, capsys):
    data = _text(tmp_path / "t.txt", 40)
    args = ["lm", "prepare", "--data", data, "--out", str(tmp_path / "p"), "--min-count", "2", "--max-vocab", "6"]
    assert main(args) == 0
    assert len(json.loads((tmp_path / "p" / "vocab.json").read_text())["tokens"]) == 6
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--overwrite" in err[0] and "Traceback" not in err[0]
    assert main(args + ["--overwrite"]) == 0
    assert main(["lm", "prepare", "--out", str(tmp_path / "q")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "rnnkit lm prepare: the following arguments are required: --data"


def test_lm_train_checks_the_prepared_corpus(tmp_path, capsys):
    data = _text(tmp_path / "t.txt", 60)
    prepare(PrepareConfig(data=data, level="word"), tmp_path / "no-valid", **QUIET)
    prepare(PrepareConfig(data=data, valid=data, level="word"), tmp_path / "p", **QUIET)
    flags = ["--epochs", "1", "--max-minutes", "0", "--hidden-size", "8", "--embedding-size", "8", "--no-progress"]
    for corpus, level, expected in (
        ("p", "char", "--level: the corpus in"),
        ("no-valid", "word", "has no validation split; prepare it with --valid FILE"),
    ):
        out = tmp_path / f"run-{corpus}"
        assert main(["lm", "train", "--data", str(tmp_path / corpus), "--level", level, "--out", str(out)] + flags) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0]
        assert not out.exists()  # refused before the run directory is made
