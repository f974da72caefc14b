"""benchmarks/bench_ptb.py runs end to end (both frameworks) on a tiny generated corpus, so it cannot rot."""

import importlib.util
from pathlib import Path

import pytest

from helpers import REPO_ROOT

ROOT = REPO_ROOT


def _load():
    spec = importlib.util.spec_from_file_location("bench_ptb", ROOT / "benchmarks" / "bench_ptb.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("framework", ["rnnkit", "torch"])
def test_bench_ptb_smoke(tmp_path, framework, capsys):
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far"]
    lines = [" ".join(words[(i * 3 + j) % 10] for j in range(8)) for i in range(200)]
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "valid.txt").write_text("\n".join(lines[:40]) + "\n")
    results = tmp_path / "RESULTS.md"
    rc = _load().main(
        [
            "--train",
            str(tmp_path / "train.txt"),
            "--valid",
            str(tmp_path / "valid.txt"),
            "--framework",
            framework,
            "--epochs",
            "2",
            "--max-batches",
            "3",
            "--threads",
            "1",
            "--results",
            str(results),
        ]
    )
    assert rc == 0
    text = results.read_text()
    assert f"PTB word LM, model small, {framework} (3 batches per epoch)" in text
    assert text.count("\n| 2 | 1.0000 |") == 1 and "final valid perplexity" in text


@pytest.mark.parametrize(
    "framework,flags",
    [
        ("rnnkit", ["--output-path", "reference"]),
        ("rnnkit", ["--adaptive-cutoffs", "3,6", "--div-value", "2", "--memory"]),
        ("torch", ["--adaptive-cutoffs", "3,6", "--div-value", "2", "--memory"]),
    ],
)
def test_bench_ptb_output_options_and_memory_smoke(tmp_path, framework, flags):
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far"]
    lines = [" ".join(words[(i * 7 + j) % 10] for j in range(6)) for i in range(150)]
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "valid.txt").write_text("\n".join(lines[:30]) + "\n")
    results = tmp_path / "RESULTS.md"
    argv = ["--train", str(tmp_path / "train.txt"), "--valid", str(tmp_path / "valid.txt"), "--framework", framework]
    argv += ["--epochs", "1", "--max-batches", "2", "--threads", "1", "--results", str(results), *flags]
    assert _load().main(argv) == 0
    text = results.read_text()
    assert "- output layer: " + ("adaptive softmax, cutoffs 3,6" if "--adaptive-cutoffs" in flags else "full") in text
    if "--memory" in flags and Path("/proc/self/clear_refs").exists():
        line = next(row for row in text.splitlines() if row.startswith("- memory of one training step"))
        assert "peak resident above the RSS before the step" in line and "MiB" in line
        assert ("tracemalloc peak above the bytes traced before the step -" in line) == (framework == "torch")
