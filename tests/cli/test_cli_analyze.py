"""``rnnkit analyze`` and ``rnnkit longrange``, called through the entry point; smoke tests of the benchmark scripts."""

import contextlib
import io
import runpy
import sys

import numpy as np
import pytest

from rnnkit.checkpoint import save_checkpoint
from rnnkit.cli import main
from rnnkit.lm.rnnlm import RNNLM, RNNLMConfig
from rnnkit.text.data import char_tokens
from rnnkit.text.vocab import Vocabulary

from helpers import REPO_ROOT

ROOT = REPO_ROOT
PNG = b"\x89PNG\r\n\x1a\n"


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def assert_usage_error(argv, message):
    code, out, err = run(*argv)
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith("rnnkit"), err
    assert message in err, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny sweep saved to disk: adding at T = 6, gru and rnn, a few updates each."""
    pytest.importorskip("matplotlib")
    d = tmp_path_factory.mktemp("longrange")
    code, out, err = run(
        "longrange",
        "--task",
        "adding",
        "--lengths",
        "6",
        "--cells",
        "gru,rnn",
        "--steps",
        "3",
        "--batch-size",
        "4",
        "--hidden-size",
        "5",
        "--test-size",
        "8",
        "--save",
        d / "runs",
        "--out",
        d / "sweep.png",
    )
    assert code == 0, err
    return d, out


def test_longrange_prints_a_table_and_writes_a_plot(trained):
    d, out = trained
    lines = [ln for ln in out.splitlines() if ln.startswith("| 6 |")]
    assert [ln.split("|")[2].strip() for ln in lines] == ["gru", "rnn"]
    assert "test mse" in out and "0.1667" in out
    assert (d / "sweep.png").read_bytes()[:8] == PNG
    assert (d / "runs" / "adding-gru-T6" / "checkpoints" / "latest").exists()


def test_analyze_spectrum_and_gates_of_a_task_checkpoint(trained, tmp_path):
    d, _ = trained
    code, out, err = run("analyze", "spectrum", "--run", d / "runs" / "adding-gru-T6", "--out", tmp_path / "s.png")
    assert code == 0, err
    assert "weight_hh_l0" in out and out.count("weight_hh_l0 ") == 3  # r, z, n
    assert (tmp_path / "s.png").read_bytes()[:8] == PNG
    code, out, err = run("analyze", "spectrum", "--run", d / "runs" / "adding-rnn-T6" / "checkpoints")
    assert code == 0 and "a plain RNN; every k-step Jacobian product is at most" in out
    code, out, err = run("analyze", "gates", "--run", d / "runs" / "adding-gru-T6", "--out", tmp_path / "g.png")
    assert code == 0, err
    assert "l0" in out and " z " in out and (tmp_path / "g.png").read_bytes()[:8] == PNG
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((7, 3, 2)))
    code, out, err = run("analyze", "gates", "--run", d / "runs" / "adding-gru-T6", "--data", tmp_path / "x.npy")
    assert code == 0 and "over 3 sequences of 7 steps" in out


def test_analyze_gradflow_fresh_and_trained(trained, tmp_path):
    d, _ = trained
    code, out, err = run(
        "analyze",
        "gradflow",
        "--cells",
        "rnn,lstm",
        "--length",
        "12",
        "--hidden-size",
        "4",
        "--batch-size",
        "2",
        "--jacobians",
        "--out",
        tmp_path / "f.png",
    )
    assert code == 0, err
    assert [ln.split()[0] for ln in out.splitlines()[2:4]] == ["rnn", "lstm"]
    assert (tmp_path / "f.png").read_bytes()[:8] == PNG
    code, out, err = run(
        "analyze",
        "gradflow",
        "--run",
        d / "runs" / "adding-gru-T6",
        "--run",
        d / "runs" / "adding-rnn-T6",
        "--length",
        "10",
        "--batch-size",
        "2",
    )
    assert code == 0, err
    assert "gru (adding-gru-T6)" in out and "rnn (adding-rnn-T6)" in out


def _lm_run(tmp_path, vocab=True):
    text = "the cat sat on the mat\nthe dog sat on the log\n" * 3
    v = Vocabulary.from_tokens(char_tokens(text))
    model = RNNLM(RNNLMConfig(vocab_size=len(v), cell="lstm", embedding_size=6, hidden_size=5, num_layers=2))
    run_dir = tmp_path / "lm"
    save_checkpoint(run_dir / "checkpoints", model_state=model.state_dict(), config=model.config())
    if vocab:
        v.save(run_dir / "vocab.json")
    (tmp_path / "text.txt").write_text(text, encoding="utf-8")
    return run_dir


def test_analyze_gates_and_spectrum_of_a_language_model(tmp_path):
    run_dir = _lm_run(tmp_path)
    code, out, err = run(
        "analyze", "gates", "--run", run_dir, "--data", tmp_path / "text.txt", "--length", "10", "--batch-size", "4"
    )
    assert code == 0, err
    assert "gates of the LSTM over 4 sequences of 10 steps" in out
    assert [ln.split()[:2] for ln in out.splitlines()[2:]] == [[r, g] for r in ("l0", "l1") for g in "ifo"]
    code, out, err = run("analyze", "spectrum", "--run", run_dir)
    assert code == 0 and "weight_hh_l1" in out


def test_one_line_errors_with_exit_status_2(tmp_path):
    assert_usage_error(["analyze"], "an analysis is required")
    assert_usage_error(["analyze", "gradflow", "--cells", "rnn,transformer"], "--cells must be a comma-separated list")
    assert_usage_error(["analyze", "gradflow", "--length", "1"], "--length must be >= 2, got 1")
    assert_usage_error(["analyze", "spectrum", "--run", tmp_path / "nope"], "no such directory")
    assert_usage_error(["analyze", "spectrum", "--run", tmp_path], "latest")  # no checkpoint there
    run_dir = _lm_run(tmp_path, vocab=False)
    assert_usage_error(
        ["analyze", "gates", "--run", run_dir, "--data", tmp_path / "text.txt"],
        "no vocab.json beside the checkpoint",
    )
    assert_usage_error(["analyze", "gates", "--run", run_dir], "--data FILE (a text) is required")
    assert_usage_error(["analyze", "gates", "--run", run_dir, "--data", tmp_path / "missing.txt"], "no such file")
    save_checkpoint(tmp_path / "other", model_state={"w": np.zeros(2)}, config={"kind": "mystery"})
    assert_usage_error(["analyze", "spectrum", "--run", tmp_path / "other"], "unknown model kind 'mystery'")
    assert_usage_error(["longrange", "--lengths", "50,abc"], "--lengths must be a comma-separated list of integers")
    assert_usage_error(["longrange", "--task", "sorting"], "argument --task: invalid choice: 'sorting'")
    assert_usage_error(["longrange", "--cells", "lstm,xl"], "--cells must be a comma-separated list of rnn, gru")
    assert_usage_error(["longrange", "--steps", "0"], "--steps must be >= 1, got 0")


def test_gates_refuses_a_plain_rnn_checkpoint(trained):
    d, _ = trained
    assert_usage_error(["analyze", "gates", "--run", d / "runs" / "adding-rnn-T6"], "has no gates")


def test_missing_matplotlib_is_a_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert_usage_error(
        ["analyze", "gradflow", "--length", "4", "--out", tmp_path / "f.png"], 'pip install "rnnkit[cli]"'
    )


# -- benchmark scripts on tiny sizes ------------------------------------------------------------------


def _script(name, argv, monkeypatch):
    monkeypatch.setattr(sys, "argv", [name] + [str(a) for a in argv])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        runpy.run_path(str(ROOT / "benchmarks" / name), run_name="__main__")
    return out.getvalue()


def test_bench_longrange_smoke(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    common = ["--lengths", "6", "--cells", "rnn,mgu", "--gradflow-length", "6", "--figures", tmp_path]
    out = _script(
        "bench_longrange.py",
        common
        + [
            "--steps",
            "2",
            "--batch",
            "4",
            "--hidden",
            "4",
            "--test-size",
            "8",
            "--results",
            tmp_path / "R.md",
            "--save",
            tmp_path / "runs",
        ],
        monkeypatch,
    )
    assert "| 6 | mgu |" in out
    text = (tmp_path / "R.md").read_text()
    assert "bench_longrange.py" in text and "| 6 | rnn |" in text and "trained mgu:" in text
    for name in ("longrange_adding.png", "gradflow_trained.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG
    (tmp_path / "gradflow_trained.png").unlink()
    out = _script("bench_longrange.py", common + ["--reuse", tmp_path / "runs"], monkeypatch)
    assert "trained rnn:" in out and (tmp_path / "gradflow_trained.png").is_file()
    assert (tmp_path / "R.md").read_text() == text  # --reuse appends nothing


def test_bench_gradflow_smoke(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    out = _script(
        "bench_gradflow.py",
        ["--length", "10", "--hidden", "4", "--batch", "2", "--clip-steps", "3", "--figures", tmp_path],
        monkeypatch,
    )
    assert "decay per step" in out and "bound holds at every k: True" in out
    for name in ("gradflow_clamped.png", "spectrum_bound.png", "clipping.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG
