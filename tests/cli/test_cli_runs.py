"""``rnnkit lm train``'s run flags (--resume, --overwrite, --init-from, --checkpoint-every, --on-nonfinite) and
the sampling and evaluation behaviour users rely on."""

import json

import numpy as np
import pytest

from rnnkit.checkpoint import load_checkpoint
from rnnkit.cli import main
from rnnkit.runs import lm as lmrun
from rnnkit.runs.control import RunControl, parse_every
from rnnkit.runs.textscore import parse_text_score
from rnnkit.trainer import TrainingError

TEXT = "".join(f"the {w} sat on the mat {i % 5}\n" for i, w in zip(range(60), ["cat", "dog", "fox"] * 20))


def _train(data, out, *extra):
    return [
        "lm",
        "train",
        "--data",
        str(data),
        "--level",
        "word",
        "--embedding-size",
        "4",
        "--hidden-size",
        "4",
        "--num-layers",
        "1",
        "--bptt",
        "5",
        "--batch-size",
        "4",
        "--max-minutes",
        "0",
        "--no-progress",
        "--out",
        str(out),
        *extra,
    ]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs")
    (d / "t.txt").write_text(TEXT, encoding="utf-8")
    assert main(_train(d / "t.txt", d / "run")) == 0
    return d


def test_checkpoint_every_reads_updates_or_minutes():
    assert parse_every("500") == (500, None) and parse_every("10m") == (None, 10.0) and parse_every(".5m")[1] == 0.5
    for bad in ("0", "0m", "-1", "10x", "m", "", "1e3", "infm"):
        with pytest.raises(ValueError, match="--checkpoint-every"):
            parse_every(bad)
    assert RunControl(checkpoint_every="3").trainer_fields() == {
        "checkpoint_every": 3,
        "checkpoint_minutes": None,
        "on_nonfinite": "raise",
    }
    assert RunControl(on_nonfinite="skip").trainer_fields()["on_nonfinite"] == "skip"


def test_checkpoints_are_written_every_n_updates(tmp_path, capsys):
    (tmp_path / "t.txt").write_text(TEXT, encoding="utf-8")
    assert main(_train(tmp_path / "t.txt", tmp_path / "run", "--checkpoint-every", "4")) == 0
    steps = load_checkpoint(tmp_path / "run" / "checkpoints").trainer_state["step"]
    kept = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("ckpt-*"))
    assert len(kept) == 2 and int(kept[-1][5:]) == steps // 4 + (steps % 4 != 0)  # one per 4 updates, and the end


def test_overwrite_says_so_and_resume_refuses_another_config(trained, tmp_path, capsys):
    import shutil

    shutil.copytree(trained / "run", tmp_path / "run")
    capsys.readouterr()
    assert main(_train(trained / "t.txt", tmp_path / "run", "--resume", "--hidden-size", "5")) == 2
    err = capsys.readouterr().err
    assert "--resume: --hidden-size is 5 but the run in" in err and "has 4" in err and err.count("\n") == 1
    assert main(_train(trained / "t.txt", tmp_path / "run", "--overwrite", "--seed", "3")) == 0
    assert "--overwrite: the run that was in" in capsys.readouterr().out
    assert json.loads((tmp_path / "run" / "run.json").read_text())["seed"] == 3
    # --epochs may grow on resume: the run goes on from where it stopped
    before = load_checkpoint(tmp_path / "run" / "checkpoints").trainer_state["step"]
    assert main(_train(trained / "t.txt", tmp_path / "run", "--seed", "3", "--epochs", "2", "--resume")) == 0
    assert load_checkpoint(tmp_path / "run" / "checkpoints").trainer_state["step"] == 2 * before


def test_init_from_starts_from_the_weights_and_checks_shapes(trained, tmp_path, capsys):
    src = load_checkpoint(trained / "run" / "checkpoints").model_state
    assert main(_train(trained / "t.txt", tmp_path / "ft", "--init-from", str(trained / "run"), "--lr", "1e-9")) == 0
    out = capsys.readouterr().out
    assert "from the weights of" in out
    tuned = load_checkpoint(tmp_path / "ft" / "checkpoints").model_state
    for k, v in src.items():  # a learning rate of 1e-9 leaves them almost where they started
        assert np.allclose(v, tuned[k], atol=1e-5), k
    assert (tmp_path / "ft" / "vocab.json").read_bytes() == (trained / "run" / "vocab.json").read_bytes()
    assert (
        main(_train(trained / "t.txt", tmp_path / "bad", "--init-from", str(trained / "run"), "--hidden-size", "6"))
        == 2
    )
    err = capsys.readouterr().err
    assert "--init-from:" in err and "has shape" in err and err.count("\n") == 1
    assert not (tmp_path / "bad").exists()


def test_training_errors_are_one_line_naming_the_flag(trained, tmp_path, capsys, monkeypatch):
    def fail(*args, **kwargs):
        raise TrainingError("step 3: the loss is nan (TrainerConfig(on_nonfinite='skip') drops such updates)")

    monkeypatch.setattr(lmrun, "train", fail)
    assert main(_train(trained / "t.txt", tmp_path / "x")) == 2
    err = capsys.readouterr().err
    assert err == "rnnkit: error: training stopped: step 3: the loss is nan (--on-nonfinite skip drops such updates)\n"


def test_temperature_zero_is_greedy_and_samples_end_with_a_newline(trained, capsys):
    run = str(trained / "run")
    model, vocab, cfg = lmrun.load_run(run)
    from rnnkit.decoding import greedy

    ids = greedy(model.as_step_model(), np.array([vocab.eos_id]), 7)
    expected = " ".join(vocab.decode(ids)).replace(" <eos> ", "\n").replace("<eos>", "\n").strip(" ")
    assert main(["lm", "sample", "--run", run, "--temperature", "0", "--length", "7"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip("\n") == expected.rstrip("\n") and out.endswith("\n")
    assert main(["lm", "sample", "--run", run, "--beam", "4", "--length", "6"]) == 0
    out = capsys.readouterr().out
    assert out.strip() and out.endswith("\n")


def test_lm_eval_reports_out_of_vocabulary_tokens(trained, tmp_path, capsys):
    (tmp_path / "new.txt").write_text("the zebra sat on the sofa 3\n" * 4)
    assert main(["lm", "eval", "--run", str(trained / "run"), "--data", str(tmp_path / "new.txt")]) == 0
    out = capsys.readouterr().out
    score = parse_text_score(out)
    assert (score["oov"], score["tokens"], score["sentences"]) == (8, 32, 4)  # zebra and sofa, four times each


def test_ngram_beam_that_stops_at_once_says_why(tmp_path, capsys):
    (tmp_path / "t.txt").write_text("\n" * 30 + "b c\n")  # most lines are empty: </s> is likeliest after <s>
    assert (
        main(["ngram", "train", "--data", str(tmp_path / "t.txt"), "--order", "2", "--out", str(tmp_path / "r")]) == 0
    )
    capsys.readouterr()
    assert main(["ngram", "sample", "--run", str(tmp_path / "r"), "--beam", "5"]) == 0
    out, err = capsys.readouterr()
    assert not out.strip() and "the beam search ended at once" in err and err.count("\n") == 1


def test_resume_without_a_checkpoint_and_runs_that_are_not_directories(trained, tmp_path, capsys):
    import os
    import shutil

    shutil.copytree(trained / "run", tmp_path / "run")
    shutil.rmtree(tmp_path / "run" / "checkpoints")  # killed before its first checkpoint
    assert main(_train(trained / "t.txt", tmp_path / "run", "--resume")) == 2
    assert "has no checkpoint yet; start it again with --overwrite" in capsys.readouterr().err
    assert main(_train(trained / "t.txt", tmp_path / "nothing", "--resume")) == 2
    assert "holds no run to continue" in capsys.readouterr().err
    os.mkfifo(tmp_path / "fifo")
    for argv in (["lm", "sample", "--run"], ["ngram", "sample", "--run"], ["analyze", "spectrum", "--run"]):
        assert main([*argv, str(tmp_path / "fifo")]) == 2
        err = capsys.readouterr().err
        assert "is a FIFO (named pipe), not a" in err and err.count("\n") == 1, err


def test_resume_takes_the_flags_not_typed_from_the_run(trained, tmp_path, capsys):
    import shutil

    shutil.copytree(trained / "run", tmp_path / "run")
    before = load_checkpoint(tmp_path / "run" / "checkpoints").trainer_state["step"]
    # only --out, --resume and a longer run: the sizes, data and level come from run.json
    assert main(["lm", "train", "--out", str(tmp_path / "run"), "--resume", "--epochs", "2", "--no-progress"]) == 0
    assert load_checkpoint(tmp_path / "run" / "checkpoints").trainer_state["step"] == 2 * before
    assert main(["lm", "train", "--out", str(tmp_path / "run"), "--resume", "--layers", "2"]) == 2  # an old spelling
    assert "--num-layers is 2 but the run in" in capsys.readouterr().err
