"""``rnnkit lm``: train on a small text, sample, evaluate; one-line errors with exit status 2."""

import json

import numpy as np
import pytest

from rnnkit.checkpoint import save_checkpoint
from rnnkit.cli import main
from rnnkit.runs import lm as lmtrain
from rnnkit.runs.textscore import parse_text_score

TEXT = "".join(
    f"the {w} sat on the mat number {i % 7}\n" for i, w in zip(range(400), ["cat", "dog", "bird", "fox"] * 100)
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("lm")
    data = d / "train.txt"
    data.write_text(TEXT, encoding="utf-8")
    rc = main(
        [
            "lm",
            "train",
            "--data",
            str(data),
            "--level",
            "word",
            "--out",
            str(d / "run"),
            "--embedding-size",
            "16",
            "--hidden-size",
            "16",
            "--num-layers",
            "1",
            "--bptt",
            "8",
            "--batch-size",
            "8",
            "--epochs",
            "4",
            "--max-minutes",
            "0",
            "--lr",
            "0.01",
            "--no-progress",
        ]
    )
    assert rc == 0
    return d


def test_train_writes_a_complete_run_directory(run_dir, capsys):
    run = run_dir / "run"
    assert (run / "run.json").is_file() and (run / "vocab.json").is_file()
    assert (run / "checkpoints" / "latest").is_file() and (run / "learning_curve.png").stat().st_size > 1000
    cfg = json.loads((run / "run.json").read_text())
    assert cfg["level"] == "word" and cfg["hidden_size"] == 16
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    evals = [r for r in records if r["kind"] == "eval"]
    assert evals and evals[-1]["ppl"] < 4  # a 4-word choice in a fixed frame: learnable


def test_eval_and_sample(run_dir, capsys):
    (run_dir / "held.txt").write_text(TEXT[:2000], encoding="utf-8")
    assert main(["lm", "eval", "--run", str(run_dir / "run"), "--data", str(run_dir / "held.txt")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("tokens ") and parse_text_score(out)["ppl"] < 4
    assert (
        main(["lm", "sample", "--run", str(run_dir / "run"), "--prompt", "the", "--length", "12", "--seed", "3"]) == 0
    )
    first = capsys.readouterr().out
    assert first.startswith("the ") and "sat" in first
    main(["lm", "sample", "--run", str(run_dir / "run"), "--prompt", "the", "--length", "12", "--seed", "3"])
    assert capsys.readouterr().out == first  # seeded: the same sample again
    assert main(["lm", "sample", "--run", str(run_dir / "run"), "--prompt", "the", "--beam", "3", "--length", "6"]) == 0


def test_errors_are_one_line_with_status_2(run_dir, tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\xfe\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    cases = [
        (["lm", "train", "--data", str(tmp_path / "missing.txt")], "no such file"),
        (["lm", "train", "--data", str(empty), "--out", str(tmp_path / "o")], "is empty"),
        (
            ["lm", "eval", "--run", str(run_dir / "run"), "--data", str(bad)],
            "is not UTF-8 text (byte 3 is 0xff)",
        ),
        (["lm", "train", "--cell", "transformer"], "argument --cell: invalid choice: 'transformer'"),
        (["lm", "train", "--hidden-size", "many"], "--hidden-size: must be an integer, got 'many'"),
        (["lm", "sample", "--run", str(tmp_path)], "not a run directory"),
        (["lm", "sample", "--run", str(run_dir / "run"), "--top-p", "1.5"], "--top-p must be > 0 and <= 1"),
        (["lm"], "a command is required"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err, (argv, err)


def test_a_checkpoint_from_another_version_is_refused(run_dir, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("run.json", "vocab.json"):
        (run / name).write_text((run_dir / "run" / name).read_text())
    vocab_size = len(json.loads((run / "vocab.json").read_text())["tokens"])
    config = {"kind": "rnnlm", "vocab_size": vocab_size, "attention_heads": 4}  # a field we do not know
    save_checkpoint(run / "checkpoints", model_state={"w": np.zeros(1)}, config=config)
    assert main(["lm", "sample", "--run", str(run)]) == 2
    assert "config does not describe a model of this rnnkit version" in capsys.readouterr().err


def test_builtin_corpus_is_standard_library_source():
    from rnnkit.text.corpus import builtin_corpus

    text = builtin_corpus(50_000)
    assert len(text) == 50_000 and "def " in text and "import " in text


def test_train_config_flags_are_generated_from_the_dataclass():
    from rnnkit.cli import build_parser

    help_text = (
        build_parser()
        ._subparsers._group_actions[0]
        .choices["lm"]
        ._subparsers._group_actions[0]
        .choices["train"]
        .format_help()
    )
    for field in ("--hidden-size", "--recurrent-dropout", "--variational", "--tie", "--lr-decay", "--max-minutes"):
        assert field in help_text
    assert lmtrain.LMTrainConfig().max_minutes > 0
