"""``rnnkit seq2seq train|translate|eval`` end to end on a few pairs: learns them, decodes, scores, resumes."""

import io
import json

import numpy as np
import pytest

from rnnkit.checkpoint import load_checkpoint
from rnnkit.cli import main
from rnnkit.metrics import corpus_bleu

PAIRS = [("24.11.26", "2026-11-24"), ("3.1.99", "1999-01-03"), ("7.12.05", "2005-12-07"), ("30.6.61", "1961-06-30")]
SMALL = ["--embedding-size", "8", "--hidden-size", "24", "--batch-size", "4", "--lr", "0.03", "--no-progress"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("s2s")
    data = d / "train.tsv"
    data.write_text("".join(f"{s}\t{t}\n" for s, t in PAIRS), encoding="utf-8")
    argv = ["seq2seq", "train", "--data", str(data), "--valid", str(data), "--out", str(d / "run"), "--epochs", "120"]
    assert main(argv + ["--checkpoint-every", "50", *SMALL]) == 0
    return d, data


def test_train_writes_a_run_directory(trained, capsys):
    d, _ = trained
    run = d / "run"
    for name in ("run.json", "source_vocab.json", "target_vocab.json", "metrics.json", "log.jsonl"):
        assert (run / name).is_file(), name
    assert json.loads((run / "run.json").read_text())["hidden_size"] == 24
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["steps"] == 120 and metrics["exact_match"] == 1.0  # four pairs, learnt by heart
    assert load_checkpoint(run / "checkpoints").trainer_state["step"] == 120
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert records[-1]["loss"] < records[0]["loss"]


def test_translate_arguments_and_stdin(trained, capsys, monkeypatch):
    d, _ = trained
    assert main(["seq2seq", "translate", "--run", str(d / "run"), "24.11.26", "3.1.99"]) == 0
    assert capsys.readouterr().out.splitlines() == ["2026-11-24", "1999-01-03"]
    monkeypatch.setattr("sys.stdin", io.StringIO("7.12.05\n\n30.6.61\n"))
    assert main(["seq2seq", "translate", "--run", str(d / "run")]) == 0
    assert capsys.readouterr().out.splitlines() == ["2005-12-07", "1961-06-30"]


def test_translate_nbest_and_plot(trained, capsys):
    d, _ = trained
    png = d / "attention.png"
    argv = [
        "seq2seq",
        "translate",
        "--run",
        str(d / "run"),
        "--beam",
        "3",
        "--nbest",
        "3",
        "--plot",
        str(png),
        "3.1.99",
    ]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["1", "2", "3"]
    scores = [float(line.split("\t")[1]) for line in lines]
    assert scores == sorted(scores, reverse=True) and all(s <= 0 for s in scores)
    assert lines[0].split("\t")[2] == "1999-01-03"
    assert len({line.split("\t")[2] for line in lines}) == 3  # three different outputs
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_eval_prints_the_three_scores(trained, capsys, tmp_path):
    d, data = trained
    assert main(["seq2seq", "eval", "--run", str(d / "run"), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("exact-match 1.0000  token-accuracy 1.0000  BLEU ") and "(4 pairs)" in out
    wrong = tmp_path / "wrong.tsv"
    wrong.write_text("24.11.26\t2026-11-25\n3.1.99\t1999-01-03\n", encoding="utf-8")
    assert main(["seq2seq", "eval", "--run", str(d / "run"), "--data", str(wrong)]) == 0
    out = capsys.readouterr().out
    bleu = corpus_bleu(["2026-11-24", "1999-01-03"], ["2026-11-25", "1999-01-03"])
    assert out.startswith(f"exact-match 0.5000  token-accuracy {19 / 20:.4f}  BLEU {bleu:.2f}")


def test_resume_continues_to_the_same_weights(tmp_path):
    data = tmp_path / "d.tsv"
    data.write_text("".join(f"{s}\t{t}\n" for s, t in PAIRS * 3), encoding="utf-8")
    common = ["seq2seq", "train", "--data", str(data), "--valid-fraction", "0.2", "--checkpoint-every", "2"]
    common += ["--eval-every", "3", "--dropout", "0.2", "--encoder-layers", "2", *SMALL]  # validations decode
    assert main(common + ["--out", str(tmp_path / "whole"), "--epochs", "4"]) == 0
    assert main(common + ["--out", str(tmp_path / "parts"), "--epochs", "2"]) == 0
    assert main(common + ["--out", str(tmp_path / "parts"), "--epochs", "4", "--resume"]) == 0
    whole = load_checkpoint(tmp_path / "whole" / "checkpoints")
    parts = load_checkpoint(tmp_path / "parts" / "checkpoints")
    assert whole.trainer_state["step"] == parts.trainer_state["step"] == 12
    for name, w in whole.model_state.items():
        np.testing.assert_array_equal(parts.model_state[name], w, err_msg=name)


def test_resume_with_another_model_is_refused(tmp_path, capsys):
    data = tmp_path / "d.tsv"
    data.write_text("".join(f"{s}\t{t}\n" for s, t in PAIRS), encoding="utf-8")
    common = ["seq2seq", "train", "--data", str(data), "--valid", str(data), "--out", str(tmp_path / "r"), *SMALL]
    assert main(common + ["--epochs", "1"]) == 0
    capsys.readouterr()
    assert main(common + ["--epochs", "2", "--resume", "--hidden-size", "12"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "was trained with another config (hidden_size: 24 -> 12)" in err[0]


def _tiny_run(tmp_path, name, *flags):
    argv = ["seq2seq", "train", *flags, "--train-size", "8", "--valid-size", "2", "--epochs", "1"]
    assert main(argv + ["--out", str(tmp_path / name), *SMALL]) == 0
    return tmp_path / name


def test_heatmap_of_a_hierarchical_run_has_sentences_as_columns(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from rnnkit.runs import seq2seq as runs

    run_dir = _tiny_run(tmp_path, "multi", "--task", "multi", "--encoder", "hierarchical")
    source = "the red fox sees the hat . the blue owl eats the cake . who is in sentence two ?"
    tr = runs.translate(runs.load_run(run_dir), [source])[0][0]
    assert tr.source_tokens == [
        "the red fox sees the hat .",
        "the blue owl eats the cake .",
        "who is in sentence two ?",
    ]
    assert tr.attention.shape == (len(tr.tokens) + tr.finished, 3)  # a row per output token (and </s>)
    np.testing.assert_allclose(tr.attention.sum(axis=1), 1.0, rtol=1e-5)
    png = tmp_path / "multi.png"
    assert main(["seq2seq", "translate", "--run", str(run_dir), "--plot", str(png), source]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_plot_needs_attention(tmp_path, capsys):
    run_dir = _tiny_run(tmp_path, "plain", "--task", "reverse", "--attention", "none")
    capsys.readouterr()
    rc = main(["seq2seq", "translate", "--run", str(run_dir), "--plot", str(tmp_path / "x.png"), "123"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--plot needs a model with attention" in err[0]
    assert not (tmp_path / "x.png").exists()
