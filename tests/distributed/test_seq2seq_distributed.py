"""Data-parallel encoder-decoders: two MPI processes against one process on the combined batch.

The training tests launch ``mpirun -n 2`` on tests/distributed/s2s_worker.py
(a float64 encoder-decoder with attention, dropout, recurrent dropout and
zoneout; optionally copy and coverage) whose batches' halves hold different
numbers of target tokens, so the ranks' gradients must be weighted by token
count to equal the combined batch's. The CLI test runs ``mpirun -n 2 rnnkit
seq2seq train``. Without ``mpirun`` or mpi4py they skip with the reason; with
``RNNKIT_REQUIRE_MPI=1`` (as CI sets) they fail instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnkit.distributed.shard import ShardedSource, split
from rnnkit.runs import seq2seq as runs
from rnnkit.seq2seq import Seq2SeqBatch

from helpers import assert_close
from mpi_launch import ROOT, TIMEOUT, _env, _mpirun_prefix, _require_mpi

WORKER = Path(__file__).resolve().parent / "s2s_worker.py"


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


def max_diff(a: dict, b: dict) -> float:
    assert set(a) == set(b)
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


# -- sharding (one process) ---------------------------------------------------------------------------
def test_rows_of_a_copy_batch_keep_padding_and_extended_ids():
    b = Seq2SeqBatch.from_sequences(
        [[4, 3], [5, 6, 3], [7]],
        [[3], [6, 3, 3], [7]],
        bos_id=1,
        eos_id=2,
        src_ext=[[4, 12], [5, 6, 12], [7]],
        tgt_ext=[[12], [6, 12, 12], [7]],
        n_oov=1,
    )
    part = b.rows(1, 3)
    assert part.src.shape == (3, 2) and part.tgt_out.shape == (4, 2)  # the whole batch's padded lengths
    assert part.n_oov == 1 and part.src_ext[:, 0].tolist() == [5, 6, 12]
    assert part.tgt_out[:, 0].tolist() == [6, 12, 12, 2] and part.tgt_lengths.tolist() == [4, 2]
    assert b.rows(3, 3).batch_size == 0
    with pytest.raises(ValueError, match=r"Seq2SeqBatch.rows: need 0 <= lo <= hi <= 3, got lo=2, hi=1"):
        b.rows(2, 1)


@pytest.mark.parametrize("B", [1, 2, 5, 6])
def test_uneven_shards_cover_any_batch(B):
    bounds = [split(B, r, 3, even=False) for r in range(3)]
    assert bounds[0][0] == 0 and bounds[-1][1] == B
    assert all(hi == lo2 for (_, hi), (lo2, _) in zip(bounds, bounds[1:]))
    assert max(hi - lo for lo, hi in bounds) - min(hi - lo for lo, hi in bounds) <= 1


def test_sharded_source_of_pair_batches_takes_its_rows():
    class One:
        stateful = False

        def __len__(self):
            return 1

        def batch(self, epoch, index):
            return Seq2SeqBatch.from_sequences([[4], [5], [6]], [[4], [5, 5], [6]], bos_id=1, eos_id=2)

    shards = [ShardedSource(One(), r, 2, even=False).batch(0, 0) for r in range(2)]
    assert [s.tgt_lengths.tolist() for s in shards] == [[2, 3], [2]]
    with pytest.raises(ValueError, match="divisible by the number of processes 2, got 3"):
        ShardedSource(One(), 0, 2).batch(0, 0)  # a plain average needs equal shards


def test_weighting_by_count_needs_the_plain_schedule_and_a_mean():
    from rnnkit.distributed.trainer import DistributedTrainer
    from rnnkit.optim import SGD
    from rnnkit.seq2seq import Seq2Seq, Seq2SeqConfig

    model = Seq2Seq(Seq2SeqConfig(src_vocab_size=6, tgt_vocab_size=6, embedding_size=2, hidden_size=2))
    opt = SGD(model.params, model.grads, lr=0.1)
    for bad in ({"overlap": True}, {"average": False}):
        with pytest.raises(ValueError, match="weight_by_count needs average=True and overlap=False"):
            DistributedTrainer(model, opt, comm=None, weight_by_count=True, **bad)


# -- two processes ------------------------------------------------------------------------------------
@pytest.mark.parametrize("copy", [False, True], ids=["attention", "copy-coverage"])
def test_two_processes_equal_one_process_on_the_combined_batch(tmp_path, copy):
    """Ragged batches (5 and 1 examples: rank 1 gets none of the latter) and halves of unequal token counts."""
    _require_mpi()
    common = ["--steps", 8, "--eval-every", 3, "--ragged"] + (["--copy"] if copy else [])
    run_worker(tmp_path / "one", *common, n=1)
    run_worker(tmp_path / "two", *common)
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    err = max_diff(one, two)
    assert err <= 1e-12, f"2 processes vs the combined batch differ by {err:.3g}"
    s1, s2 = summary(tmp_path / "one"), summary(tmp_path / "two")
    assert any(2 * half != whole for half, whole in s1["token_counts"])  # the per-token weighting matters
    assert s2["valid_count"] == s1["valid_count"]  # every rank's shard of the validation batches, summed
    assert abs(s2["valid_loss"] - s1["valid_loss"]) <= 1e-12
    evals = lambda s: [(r["step"], r["loss"]) for r in s["history"] if r["kind"] == "eval"]  # noqa: E731
    assert len(evals(s2)) == 2
    for (a_step, a), (b_step, b) in zip(evals(s1), evals(s2)):
        assert a_step == b_step and abs(a - b) <= 1e-12
    trains = lambda s: [r["loss"] for r in s["history"] if r["kind"] == "train"]  # noqa: E731
    np.testing.assert_allclose(trains(s2), trains(s1), rtol=0, atol=1e-12)


def test_averaging_the_ranks_means_instead_of_weighting_by_tokens_differs(tmp_path):
    """The check above can fail: equal shards whose token counts differ, the ranks' mean gradients averaged."""
    _require_mpi()
    run_worker(tmp_path / "one", "--steps", 4, n=1)
    run_worker(tmp_path / "weighted", "--steps", 4)
    run_worker(tmp_path / "naive", "--steps", 4, "--naive")
    one = weights(tmp_path / "one")
    assert max_diff(one, weights(tmp_path / "weighted")) <= 1e-12
    assert max_diff(one, weights(tmp_path / "naive")) > 1e-6


def test_killed_rank_resumes_on_both_bit_identical(tmp_path):
    """SIGKILL on rank 1 at its 5th step ends the job; both ranks resume from the checkpoint of update 3."""
    _require_mpi()
    common = ["--steps", 8, "--checkpoint-every", 3, "--ragged", "--copy"]
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
    assert summary(tmp_path / "run")["steps"] == 8


CLI_FLAGS = (
    "--task dates --train-size 24 --valid-size 9 --epochs 1 --batch-size 5 --hidden-size 8 --embedding-size 4 "
    "--eval-every 3 --checkpoint-every 2 --max-output-length 12 --dropout 0.2 --no-progress"
)


def test_mpirun_seq2seq_train_writes_a_loadable_run(tmp_path):
    """``mpirun -n 2 rnnkit seq2seq train``: rank 0 alone reports and writes; the run loads, matches one process
    and resumes. Batches of 5 pairs (the last of 4) split 3 + 2, and 9 validation pairs 5 + 4 for decoding."""
    _require_mpi()
    runs_ = {}
    for n in (1, 2):
        out = tmp_path / f"run{n}"
        cmd = ([] if n == 1 else _mpirun_prefix(2)) + [sys.executable, "-m", "rnnkit", "seq2seq", "train"]
        cmd += CLI_FLAGS.split() + ["--out", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=_env(), cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.count("--- run directory:") == 1  # only rank 0 reports
        assert proc.stdout.count("validation: exact match") == 2  # after update 3, and the final one
        runs_[n] = runs.load_run(out)
    assert "2 processes" in proc.stdout
    for name, ref in runs_[1].model.params.items():
        assert_close(name, runs_[2].model.params[name], ref, 1e-5, peer="one process")
    m1, m2 = (json.loads((tmp_path / f"run{n}" / "metrics.json").read_text()) for n in (1, 2))
    assert m2["count"] == m1["count"] == 9  # every validation pair decoded once, by one rank or the other
    for key in ("exact_match", "token_accuracy", "bleu", "valid_loss"):
        assert abs(m2[key] - m1[key]) <= 1e-4 * max(1.0, abs(m1[key])), key
    assert len(runs.translate(runs_[2], ["24.11.26"])[0][0].tokens) <= 12
    # --resume with a larger budget continues on both ranks from the checkpoint rank 0 wrote
    cmd = _mpirun_prefix(2) + [sys.executable, "-m", "rnnkit", "seq2seq", "train"]
    cmd += CLI_FLAGS.replace("--epochs 1", "--epochs 2").split() + ["--out", str(tmp_path / "run2"), "--resume"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=_env(), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "after 10 updates" in proc.stdout
    assert json.loads((tmp_path / "run2" / "metrics.json").read_text())["steps"] == 10
