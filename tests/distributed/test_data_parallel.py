"""Data-parallel training with two MPI processes against one process on the combined batch.

Each test launches ``mpirun -n 2`` on tests/distributed/mpi_worker.py (a
small two-layer LSTM LM with embedding, inter-layer, output and recurrent
dropout and DropConnect on) with a timeout, so a hang fails instead of
blocking the suite. Without ``mpirun`` or mpi4py the tests skip with the
reason in pytest's summary; with ``RNNKIT_REQUIRE_MPI=1`` (as CI sets) they
fail instead, so CI cannot skip them silently.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import assert_close
from mpi_launch import ROOT, TIMEOUT, _env, _mpirun_prefix, _require_mpi

WORKER = Path(__file__).resolve().parent / "mpi_worker.py"


def run_worker(out: Path, *args, n: int = 2, check: bool = True) -> subprocess.CompletedProcess:
    cmd = ([sys.executable] if n == 1 else _mpirun_prefix(n) + [sys.executable]) + [str(WORKER), "--out", str(out)]
    proc = subprocess.run(
        cmd + [str(a) for a in args], capture_output=True, text=True, timeout=TIMEOUT, env=_env(), cwd=ROOT
    )
    if check:
        assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def weights(out: Path) -> dict:
    with np.load(out / "weights.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_one_process_never_imports_mpi4py(tmp_path):
    """Without a launcher the same script trains on one process and mpi4py is never imported."""
    run_worker(tmp_path, "--steps", 2, n=1)
    assert summary(tmp_path)["mpi4py_imported"] is False
    code = "import sys, rnnkit, rnnkit.trainer, rnnkit.distributed; assert rnnkit.distributed.init() is None; "
    code += "assert 'mpi4py' not in sys.modules, 'mpi4py imported'"
    subprocess.run([sys.executable, "-c", code], check=True, env=_env(), cwd=ROOT, timeout=TIMEOUT)


@pytest.mark.parametrize(("dtype", "cell"), [("float64", "lstm"), ("float32", "lstm"), ("float64", "gru")])
def test_two_processes_equal_one_process_on_the_combined_batch(tmp_path, dtype, cell):
    _require_mpi()
    common = ["--dtype", dtype, "--cell", cell, "--steps", 8, "--eval-every", 3]
    run_worker(tmp_path / "one", *common, n=1)
    run_worker(tmp_path / "two", *common)
    run_worker(tmp_path / "local", *common, "--masks", "local")
    one, two, local = weights(tmp_path / "one"), weights(tmp_path / "two"), weights(tmp_path / "local")
    assert summary(tmp_path / "two")["mpi4py_imported"] is True
    for name in one:
        if dtype == "float64":
            err = np.abs(one[name] - two[name]).max()
            assert err <= 1e-12, f"{name}: 2 processes vs the combined batch differ by {err:.3g}"
        else:
            assert_close(name, two[name], one[name], 1e-5, peer="one process")
    # dropout is really on: each rank drawing its own masks gives other weights
    assert max(np.abs(one[k] - local[k]).max() for k in one) > 1e-4
    # the logged losses and the validation metric are the combined batch's, not rank 0's shard's
    s1, s2 = summary(tmp_path / "one"), summary(tmp_path / "two")
    assert s2["valid_count"] == s1["valid_count"]
    assert abs(s2["valid_loss"] - s1["valid_loss"]) <= (1e-12 if dtype == "float64" else 1e-5)
    evals = lambda s: [(r["step"], r["loss"]) for r in s["history"] if r["kind"] == "eval"]  # noqa: E731
    assert len(evals(s2)) == 2
    for (a_step, a), (b_step, b) in zip(evals(s1), evals(s2)):
        assert a_step == b_step and abs(a - b) <= (1e-12 if dtype == "float64" else 1e-5)


def test_overlapped_buckets_give_the_same_weights(tmp_path):
    _require_mpi()
    run_worker(tmp_path / "end", "--steps", 5)
    run_worker(tmp_path / "overlap", "--steps", 5, "--overlap")
    s = summary(tmp_path / "overlap")
    assert s["overlap_on"] is True and s["buckets"] > 2  # each layer's bucket could leave early
    a, b = weights(tmp_path / "end"), weights(tmp_path / "overlap")
    for name in a:
        assert np.array_equal(a[name], b[name]), name


@pytest.mark.parametrize("masks", ["global", "local"])
def test_killed_rank_resumes_on_both_bit_identical(tmp_path, masks):
    """SIGKILL on rank 1 at update 5 ends the job; both ranks resume from the checkpoint of update 3."""
    _require_mpi()
    common = ["--masks", masks, "--steps", 10, "--checkpoint-every", 3, "--epochs", 3]
    run_worker(tmp_path / "full", *common)
    proc = run_worker(tmp_path / "run", *common, "--kill-rank", 1, "--kill-at-step", 5, check=False)
    assert proc.returncode != 0
    assert not (tmp_path / "run" / "summary.json").exists()
    state = json.loads(next((tmp_path / "run" / "checkpoints").glob("ckpt-*/trainer_state.json")).read_text())
    assert state["step"] == 3 and state["world_size"] == 2 and len(state["ranks"]) == 2
    run_worker(tmp_path / "run", *common, "--resume")
    full, resumed = weights(tmp_path / "full"), weights(tmp_path / "run")
    for name in full:
        assert np.array_equal(full[name], resumed[name]), f"{name} differs after resume"
    assert summary(tmp_path / "run")["steps"] == 10


def test_exception_on_one_rank_ends_every_rank_with_a_message(tmp_path):
    _require_mpi()
    proc = run_worker(tmp_path, "--steps", 6, "--raise-rank", 1, "--raise-at-step", 3, check=False)
    assert proc.returncode != 0
    assert "rank 1 of 2 failed (RuntimeError: injected failure at update 3)" in proc.stderr


def test_diverged_weights_are_detected(tmp_path):
    _require_mpi()
    proc = run_worker(tmp_path, "--steps", 6, "--perturb-rank", 1, "--perturb-at-step", 2, check=False)
    assert proc.returncode != 0
    assert "DivergenceError" in proc.stderr and "after update 2 the weights of rank(s) [1] differ" in proc.stderr


def test_nonfinite_gradient_on_one_rank_is_skipped_by_all(tmp_path):
    _require_mpi()
    run_worker(tmp_path, "--steps", 6, "--nan-rank", 1, "--nan-at-step", 3, "--on-nonfinite", "skip")
    s = summary(tmp_path)
    assert s["skipped"] == 1 and s["steps"] == 6  # rank 0 (whose own gradient was finite) skipped too


def test_time_budget_is_decided_by_rank_0(tmp_path):
    """A budget already spent after the first update: both ranks leave the loop together (no hang)."""
    _require_mpi()
    run_worker(tmp_path, "--steps", 50, "--max-minutes", 1e-9)
    assert summary(tmp_path)["steps"] == 1
