"""benchmarks/bench_layers.py on tiny shapes, into a temporary results file: it must keep running.

No timing is asserted (timings live in benchmarks/RESULTS.md); the naive NumPy
loop the benchmark compares against is checked against rnnkit's layers.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from helpers import REPO_ROOT

BENCH = REPO_ROOT / "benchmarks" / "bench_layers.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_layers", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module._import_libraries()
    return module


def test_bench_layers_runs_and_appends_a_table(tmp_path):
    pytest.importorskip("torch")
    bench = _load()
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n")
    out = bench.main(
        [
            "--cells",
            "rnn,gru,lstm",
            "--shapes",
            "3,2,4,5",
            "--gen-steps",
            "3",
            "--repeats",
            "1",
            "--warmup",
            "0",
            "--lead-in",
            "0.001",
            "--threads",
            "1",
            "--peak-size",
            "64",
            "--no-memory",
            "--results",
            str(results),
        ]
    )
    rows = out["rows"]
    assert [(r["cell"], r["mode"]) for r in rows] == [
        (c, m) for c in ("rnn", "gru", "lstm") for m in ("infer", "train", "infer")
    ]
    assert all(r["rnnkit_ms"] > 0 and r["torch_ms"] > 0 and r["naive_ms"] > 0 for r in rows)
    text = results.read_text()
    assert text.startswith("# Benchmark results\n\n## ") and "bench_layers.py" in text
    assert "| lstm | 3x2x4x5 (3, 2, 4, 5) | train |" in text and "load average" in text
    assert "each timed run after 1 ms of untimed runs" in text


def test_bench_layers_memory_child(tmp_path):
    """The fresh-process memory measurement of one training step, both methods (Linux only)."""
    pytest.importorskip("torch")
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux's /proc/self/clear_refs")
    bench = _load()
    meter = bench.build_alloc_meter(str(tmp_path))
    for impl in ("rnnkit", "torch"):
        mem = bench.measure_memory("lstm", 3, 2, 4, 5, 1, impl, 1)
        assert mem["resident"] >= 0 and mem["held"] is None
    if meter is not None:
        mem = bench.measure_memory("lstm", 50, 8, 16, 32, 1, "rnnkit", 1, meter)
        assert mem["held"] >= 50 * 8 * 4 * 32 * 4  # the gates cache at least


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_naive_reference_agrees_with_rnnkit(cell):
    """The benchmark's naive per-step loop computes the same layer (float64), forward and backward."""
    bench = _load()
    import rnnkit

    T, B, D, H = 4, 3, 5, 6
    layer = getattr(rnnkit, bench.CELLS[cell][0])(D, H, dtype=np.float64, seed=1)
    p = {k[: -len("_l0")]: v for k, v in layer.params.items()}
    rng = np.random.default_rng(0)
    x, dout = rng.normal(size=(T, B, D)), rng.normal(size=(T, B, H))
    zero = (np.zeros((B, H)), np.zeros((B, H))) if cell == "lstm" else np.zeros((B, H))
    out, _, steps = bench.naive_forward(cell, p, x, zero, keep=True)
    grads, dx = bench.naive_backward(cell, p, steps, dout)
    ours, _ = layer.forward(x)
    layer.zero_grad()
    dx_ours, _ = layer.backward(dout)
    np.testing.assert_allclose(out, ours, atol=1e-12)
    np.testing.assert_allclose(dx, dx_ours, atol=1e-12)
    for k, g in grads.items():
        np.testing.assert_allclose(g, layer.grads[f"{k}_l0"], atol=1e-12)


@pytest.mark.parametrize("flag,value", [("--lead-in", "-1"), ("--lead-in", "nan"), ("--settle", "inf")])
def test_bench_layers_rejects_bad_timing_flags(flag, value, capsys):
    pytest.importorskip("torch")
    bench = _load()
    with pytest.raises(SystemExit) as exc:
        bench.main([flag, value, "--no-memory"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"{flag} must be a finite number of seconds >= 0, got" in err
