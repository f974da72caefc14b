"""``rnnkit lm train`` killed and resumed through the command line ends with the weights of a run never stopped.

The runs are subprocesses, as a user starts them: one trains uninterrupted;
another is killed with SIGKILL at random moments (one of them while a
checkpoint is being written, caught by watching for the checkpoint's
temporary directory) and continued each time with ``--resume``; a third is
stopped with SIGTERM and must exit with status 130, printing the exact command
that resumes it, which is then run. The final weights of all three must be
equal bit for bit.
"""

import os
import shlex
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from rnnkit.checkpoint import load_checkpoint

from helpers import subprocess_env

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEXT = "".join(f"the {w} sat on the mat {i % 5}\n" for i, w in zip(range(60), ["cat", "dog", "fox"] * 20))


def _argv(data, out):
    return [
        "lm",
        "train",
        "--data",
        str(data),
        "--level",
        "word",
        "--embedding-size",
        "6",
        "--hidden-size",
        "6",
        "--num-layers",
        "1",
        "--dropout",
        "0.3",  # dropout masks come from a generator: its state must be restored too
        "--bptt",
        "5",
        "--batch-size",
        "4",
        "--epochs",
        "2",
        "--max-minutes",
        "0",
        "--checkpoint-every",
        "1",
        "--no-progress",
        "--out",
        str(out),
    ]


def _start(argv):
    env = subprocess_env()
    return subprocess.Popen(
        [sys.executable, "-m", "rnnkit", *argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _weights(run):
    state = load_checkpoint(run / "checkpoints").model_state
    return {k: np.asarray(v) for k, v in state.items()}


def _wait_for(predicate, proc, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if predicate():
            return True
        time.sleep(0.0005)
    return False


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    d = tmp_path_factory.mktemp("resume")
    (d / "t.txt").write_text(TEXT, encoding="utf-8")
    p = _start(_argv(d / "t.txt", d / "straight"))
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err.decode()
    return d, _weights(d / "straight")


def test_killed_at_random_moments_and_during_a_checkpoint_write_resumes_bit_identically(straight):
    d, expected = straight
    run = d / "killed"
    argv = _argv(d / "t.txt", run)
    rng = np.random.default_rng(13)
    ckpts = run / "checkpoints"
    mid_write = kills = 0
    for attempt in range(4):
        p = _start(argv + (["--resume"] if attempt else []))
        assert _wait_for(lambda: (ckpts / "latest").exists(), p), "training ended before its first checkpoint"
        if attempt == 0:  # the first kill lands while a checkpoint is being written
            _wait_for(lambda: any(n.startswith(".tmp-ckpt-") for n in os.listdir(ckpts)), p, timeout=10)
        else:
            time.sleep(float(rng.uniform(0.0, 0.3)))
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=60)
        if p.returncode != -signal.SIGKILL:
            break  # it finished first: nothing left to resume
        kills += 1
        mid_write += any(n.startswith(".tmp-ckpt-") for n in os.listdir(ckpts))
    p = _start(argv + ["--resume"])
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err.decode()
    assert kills >= 3 and mid_write >= 1, (kills, mid_write)
    got = _weights(run)
    assert sorted(got) == sorted(expected)
    for k, v in expected.items():
        assert np.array_equal(v, got[k]), k


def test_sigterm_checkpoints_exits_130_and_prints_the_command_that_resumes(straight):
    d, expected = straight
    run = d / "terminated"
    argv = _argv(d / "t.txt", run)
    p = _start(argv)
    assert _wait_for(lambda: (run / "checkpoints" / "latest").exists(), p)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    lines = err.decode().strip().splitlines()
    assert p.returncode == 130, err.decode()
    assert "resume with: " in lines[-1] and "Traceback" not in err.decode()
    command = lines[-1].split("resume with: ", 1)[1]
    assert command == shlex.join(["rnnkit", *argv, "--resume"])
    step = int(lines[-1].split("interrupted after update ", 1)[1].split(",")[0])
    assert load_checkpoint(run / "checkpoints").trainer_state["step"] == step
    assert (run / "learning_curve.png").stat().st_size > 0
    words = shlex.split(command)
    assert words[0] == "rnnkit"
    p = _start(words[1:])
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err.decode()
    got = _weights(run)
    for k, v in expected.items():
        assert np.array_equal(v, got[k]), k
