"""``mpirun -n 2 rnnkit lm train`` trains the same model as one process, from text or from a prepared corpus."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from rnnkit.cli import main
from rnnkit.runs import lm as lmrun

from helpers import assert_close
from mpi_launch import ROOT, TIMEOUT, _env, _mpirun_prefix, _require_mpi

FLAGS = (
    "--level word --epochs 2 --max-minutes 0 --hidden-size 16 --embedding-size 8 --num-layers 1 --batch-size 4 --bptt 5"
)


def _corpus(path, lines, seed):
    rng = np.random.default_rng(seed)
    words = np.array(["the", "cat", "sat", "on", "a", "mat", "dog", "ran"])
    path.write_text("".join(" ".join(rng.choice(words, 9)) + "\n" for _ in range(lines)))


def test_mpirun_lm_train_matches_one_process(tmp_path):
    _require_mpi()
    _corpus(tmp_path / "t.txt", 200, 0)
    _corpus(tmp_path / "v.txt", 40, 1)
    assert main(["lm", "prepare", "--data", str(tmp_path / "t.txt"), "--valid", str(tmp_path / "v.txt"),
                 "--out", str(tmp_path / "prep")]) == 0  # fmt: skip
    for data in ("t.txt", "prep"):
        args = ["-m", "rnnkit", "lm", "train", "--data", str(tmp_path / data), "--valid", str(tmp_path / "v.txt")]
        args += FLAGS.split() + ["--no-progress"]
        runs = {}
        for n in (1, 2):
            out = tmp_path / f"{data}-{n}"
            cmd = ([] if n == 1 else _mpirun_prefix(2)) + [sys.executable] + args + ["--out", str(out)]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=_env(), cwd=ROOT)
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout.count("--- sample ---") == 1  # only rank 0 reports
            runs[n] = lmrun.load_run(out)[0].params
        for name, ref in runs[1].items():
            assert_close(name, runs[2][name], ref, 1e-5, peer="one process")
