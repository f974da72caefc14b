"""benchmarks/bench_seq2seq.py on tiny problems, into a temporary results file: it must keep running.

No figure is asserted (results live in benchmarks/RESULTS.md); the helpers that compute them are checked.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_seq2seq.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_seq2seq", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TINY = ["--hidden-size", "8", "--embedding-size", "4", "--batch-size", "4", "--threads", "1"]


def test_speed_mode_appends_a_table(tmp_path):
    pytest.importorskip("torch")
    bench = _load()
    results = tmp_path / "RESULTS.md"
    out = bench.main(["--mode", "speed", "--repeats", "1", "--warmup", "0", "--results", str(results), *TINY])
    row = out["speed: one training step of the dates model"]["rows"][0]
    assert row["rnnkit_ms"] > 0 and row["torch_ms"] > 0
    text = results.read_text()
    assert text.startswith("# Benchmark results") and "bench_seq2seq.py --mode speed" in text
    assert "| shape | rnnkit ms | torch ms | torch / rnnkit |" in text


def test_repeated_attention_rate():
    bench = _load()
    diagonal = np.eye(4)
    stuck = np.tile([0.1, 0.7, 0.1, 0.1], (4, 1))  # the same position four times: three repeats
    assert bench.repeated_attention_rate([diagonal]) == 0.0
    assert bench.repeated_attention_rate([stuck]) == 0.75
    assert bench.repeated_attention_rate([diagonal, stuck]) == 3 / 8


def test_bad_mode():
    bench = _load()
    with pytest.raises(SystemExit):
        bench.main(["--mode", "dates,nope"])
