"""benchmarks/bench_distributed.py runs end to end (1 and 2 processes) on a tiny generated corpus, so it cannot rot."""

import importlib.util
from pathlib import Path

import numpy as np

from mpi_launch import _mpi_missing, _require_mpi

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("bench_distributed", ROOT / "benchmarks" / "bench_distributed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_distributed_smoke(tmp_path, capsys, monkeypatch):
    for name in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    rng = np.random.default_rng(0)
    words = np.array("the cat sat on a mat and dog ran far".split())
    (tmp_path / "train.txt").write_text("".join(" ".join(rng.choice(words, 8)) + "\n" for _ in range(300)))
    procs = ["1", "2"] if _mpi_missing() is None else ["1"]
    results = tmp_path / "RESULTS.md"
    args = ["--train", str(tmp_path / "train.txt"), "--procs", *procs, "--batch", "4", "--bptt", "5", "--hidden", "8"]
    rc = _load().main(args + ["--steps", "3", "--warmup", "1", "--threads", "1", "--results", str(results)])
    assert rc == 0
    table = capsys.readouterr().out
    assert sum(line.startswith("| ") for line in table.splitlines()) == 1 + len(procs)  # header, one row per count
    assert "| 1 | " in table and "1 / 1 |" in table
    text = results.read_text()
    assert "bench_distributed" in text and "global batch 4" in text
    if procs == ["1"]:
        _require_mpi()  # loud: the two-process row was not measured
