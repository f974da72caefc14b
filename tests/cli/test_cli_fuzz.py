"""Bad invocations of every sub-command, generated from the parsers' own flag lists: one line, no traceback.

For every shown flag of every sub-command the test derives bad values from
what the flag is (an integer, a finite float, a choice, a switch, a file, a
run directory, an output path) and adds known out-of-range values (sizes that
cannot fit in memory, ranges a model cannot start from). Each invocation, run
in-process through :func:`rnnkit.cli.main`, must exit with status 2, print
exactly one line on stderr and no traceback, and leave nothing under its
``--out`` (a run that was there is left byte for byte). A handful run as
subprocesses, as a user would run them.
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from rnnkit.cli import build_parser, main
from rnnkit.runs import lm as lmrun
from rnnkit.runs import ngram as ngramrun

from helpers import subprocess_env

TEXT = "".join(f"the {w} sat on the mat {i % 5}\n" for i, w in zip(range(120), ["cat", "dog", "fox"] * 40))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _leaves(parser, path=()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, sub in subs[0].choices.items():
        yield from _leaves(sub, (*path, name))


def _tree_digest(path):
    """A digest of every file under ``path`` (names and bytes), or None when nothing is there."""
    if not os.path.exists(path):
        return None
    h = hashlib.sha256()
    for d, _, files in sorted(os.walk(path)):
        for f in sorted(files):
            p = os.path.join(d, f)
            h.update(p.encode() + b"\0" + open(p, "rb").read())
    return h.hexdigest()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    w = {"dir": d}
    w["txt"] = d / "t.txt"
    w["txt"].write_text(TEXT, encoding="utf-8")
    w["empty"] = d / "empty.txt"
    w["empty"].write_text("")
    w["latin1"] = d / "latin1.txt"
    w["latin1"].write_bytes(b"caf\xe9 au lait\n" * 5)
    w["npz"] = d / "x.npz"
    np.savez(w["npz"], x=np.zeros((3, 2, 2)))
    w["fifo"] = d / "fifo"
    os.mkfifo(w["fifo"])
    w["emptydir"] = d / "emptydir"
    w["emptydir"].mkdir()
    cfg = lmrun.LMTrainConfig(
        data=str(w["txt"]),
        level="word",
        embedding_size=4,
        hidden_size=4,
        num_layers=1,
        bptt=6,
        batch_size=4,
        epochs=1,
        max_minutes=0,
    )
    w["lmrun"] = d / "lmrun"
    lmrun.train(cfg, w["lmrun"], progress=False, log_fn=lambda line: None)
    w["ngrun"] = d / "ngrun"
    ngramrun.train(ngramrun.NGramTrainConfig(data=str(w["txt"]), order=2), w["ngrun"], log_fn=lambda line: None)
    # run.json holding [] (the manifest catches the edit; without a manifest, the content check must)
    for name, keep_manifest in (("edited", True), ("legacy", False)):
        p = d / name
        shutil.copytree(w["lmrun"], p)
        (p / "run.json").write_text("[]")
        if not keep_manifest:
            (p / "manifest.json").unlink()
        w[name] = p
    w["existing"] = d / "existing"  # a run that a bad train invocation must leave as it is
    shutil.copytree(w["lmrun"], w["existing"])
    return w


def _bad_values(action, w, analysis=False):
    """Bad values for one flag, from what the flag is."""
    flag, meta = action.option_strings[0], action.metavar
    if isinstance(action, (argparse._StoreTrueAction, argparse.BooleanOptionalAction)):
        return [f"{flag}=1"]
    if action.choices:
        return [[flag, "bogus"], [flag, ""]]
    kind = getattr(action.type, "__name__", "")
    if kind == "integer":
        return [[flag, v] for v in ("x", "1.5", "-1", "9" * 25, "", "nan", "1e3")]
    if kind == "finite_float":
        return [[flag, v] for v in ("x", "nan", "inf", "-inf", "1e999", "")]
    files = [w["dir"] / "missing.txt", w["emptydir"], w["fifo"], w["empty"], w["latin1"], "/dev/null"]
    runs = [w["dir"] / "missing", w["txt"], w["emptydir"], w["edited"], w["legacy"], w["fifo"]]
    if meta == "FILE":
        return [[flag, str(v)] for v in files + ([w["npz"]] if flag == "--data" else [])]
    if meta in ("DIR", "RUN") and flag in ("--run", "--init-from"):
        if analysis:  # analyses read the checkpoints (and vocab.json), not run.json: an edited run.json is harmless
            runs = [r for r in runs if r not in (w["edited"], w["legacy"])]
        return [[flag, str(v)] for v in runs]
    if meta == "DIR":  # an output directory
        return [[flag, str(v)] for v in (w["txt"], w["txt"] / "sub", "/proc/rnnkit-fuzz/out")]
    if meta == "FILE.png":
        return [[flag, str(v)] for v in (w["emptydir"], w["txt"] / "x.png", "/proc/rnnkit-fuzz.png")]
    return []


# Values that parse but are out of range for one flag (sizes beyond memory, ranges no model starts from).
EXTRA = {
    ("lm", "train"): {
        "--init-range": ["1e30", "1e308", "0", "-0.1"],
        "--hidden-size": ["1000000000", "0"],
        "--embedding-size": ["1000000000"],
        "--num-layers": ["100000", "0"],
        "--dropout": ["1.5", "-0.5"],
        "--recurrent-dropout": ["1"],
        "--valid-fraction": ["2"],
        "--lr": ["0", "-1"],
        "--lr-decay": ["0", "1.5"],
        "--clip-norm": ["-1"],
        "--max-minutes": ["-1"],
        "--max-vocab": ["2"],
        "--seed": ["99999999999999999999"],
        "--bptt": ["100000000"],
        "--checkpoint-every": ["0", "10x", "m", "-5", "1e3", "0m", ""],
        "--tie-weights": [],
    },
    ("lm", "sample"): {
        "--length": ["0", "100000000"],
        "--temperature": ["-1"],
        "--top-k": ["0"],
        "--top-p": ["0", "1.5"],
        "--beam": ["100000"],
    },
    ("ngram", "train"): {"--order": ["0"], "--min-count": ["0"], "--delta": ["-1"], "--builtin-chars": ["0"]},
    ("ngram", "sample"): {"--length": ["0", "100000000"], "--temperature": ["-1"], "--top-p": ["2"], "--top-k": ["0"]},
    ("analyze", "gradflow"): {
        "--cells": ["bogus", "", "rnn,,transformer"],
        "--length": ["1", "1000000000"],
        "--hidden-size": ["0", "100000000"],
        "--batch-size": ["0", "1000000000000000"],
    },
    ("analyze", "gates"): {"--length": ["1"], "--batch-size": ["0", "1000000000000000"]},
    ("longrange",): {
        "--lengths": ["x", "0", "", "5,-3", "100000000"],
        "--cells": ["bogus", ""],
        "--steps": ["0"],
        "--lr": ["0"],
        "--clip-norm": ["-1"],
        "--test-size": ["0", "1000000000000"],
        "--batch-size": ["1000000000000"],
        "--hidden-size": ["1000000000"],
    },
    ("demo",): {"--length": ["1", "100000000"], "--steps": ["0"]},
}


def _base(path, w, out):
    """A valid invocation of ``path`` (small sizes), to which one bad flag is appended; and its output."""
    txt, lm, ng = str(w["txt"]), str(w["lmrun"]), str(w["ngrun"])
    png = f"{out}.png"
    return {
        ("lm", "train"): (
            ["--data", txt, "--level", "word", "--hidden-size", "4", "--embedding-size", "4", "--num-layers", "1"]
            + ["--bptt", "6", "--batch-size", "4", "--max-minutes", "0", "--no-progress", "--out", out],
            out,
        ),
        ("lm", "sample"): (["--run", lm, "--length", "5"], None),
        ("lm", "eval"): (["--run", lm, "--data", txt], None),
        ("ngram", "train"): (["--data", txt, "--order", "2", "--out", out], out),
        ("ngram", "eval"): (["--run", ng, "--data", txt], None),
        ("ngram", "sample"): (["--run", ng, "--length", "5"], None),
        ("analyze", "gradflow"): (
            ["--cells", "rnn", "--length", "4", "--hidden-size", "2", "--batch-size", "2", "--out", png],
            png,
        ),
        ("analyze", "spectrum"): (["--run", lm, "--out", png], png),
        ("analyze", "gates"): (["--run", lm, "--data", txt, "--out", png], png),
        ("longrange",): (
            ["--lengths", "4", "--cells", "rnn", "--steps", "1", "--test-size", "2", "--out", png],
            png,
        ),
        ("demo",): (["--steps", "1"], None),
    }.get(path, ([], None))  # a sub-command without a base here: its flags alone, still each one bad


def _invocations(w):
    cases = []
    n = 0
    for path, parser in _leaves(build_parser()):
        for action in parser._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS or action.dest == "help":
                continue
            flag = action.option_strings[0]
            extra = [[flag, v] for v in EXTRA.get(path, {}).get(flag, [])]
            for bad in _bad_values(action, w, path[0] == "analyze") + extra:
                n += 1
                out = str(w["dir"] / f"out{n}")
                base, written = _base(path, w, out)
                cases.append(([*path, *base, *([bad] if isinstance(bad, str) else bad)], written))
    # commands and arguments that are missing or unknown, and run flags that exclude each other
    lm, txt = str(w["lmrun"]), str(w["txt"])
    existing = str(w["existing"])
    train = ["lm", "train", "--data", txt, "--level", "word", "--hidden-size", "4", "--embedding-size", "4"]
    train += ["--num-layers", "1", "--bptt", "6", "--batch-size", "4", "--max-minutes", "0", "--no-progress"]
    for argv in (
        [],
        ["bogus"],
        ["lm"],
        ["ngram"],
        ["analyze"],
        ["lm", "sample"],
        ["lm", "eval", "--run", lm],
        ["ngram", "eval", "--run", str(w["ngrun"])],
        ["analyze", "spectrum"],
        ["analyze", "gates"],
        ["lm", "train", "--bogus"],
        ["lm", "sample", "--run", lm, "extra"],
        ["lm", "sample", "--run", str(w["ngrun"])],
        ["ngram", "sample", "--run", lm],
        ["analyze", "gates", "--run", lm],
        ["analyze", "gates", "--run", lm, "--data", str(w["npz"])],
        ["analyze", "gradflow", "--run", lm],
    ):
        cases.append((argv, None))
    for extra in (
        ["--resume"],
        ["--resume", "--overwrite"],
        ["--init-from", lm, "--resume"],
        ["--init-from", lm, "--hidden-size", "5"],
        ["--init-from", lm, "--level", "char"],
        ["--init-from", str(w["ngrun"])],
    ):
        n += 1
        out = str(w["dir"] / f"out{n}")
        cases.append(([*train, "--out", out, *extra], out))
    for extra in ([], ["--resume", "--hidden-size", "5"], ["--resume", "--cell", "gru"], ["--resume", "--lr", "0.5"]):
        cases.append(([*train, "--out", existing, *extra], existing))
    return cases


def test_at_least_300_bad_invocations_fail_in_one_line(world, capsys):
    cases = _invocations(world)
    assert len(cases) >= 300, len(cases)
    before = _tree_digest(world["existing"])
    failures = []
    for argv, written in cases:
        seen = _tree_digest(written) if written else None
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        problems = []
        if code != 2:
            problems.append(f"exit {code}")
        if err.count("\n") != 1 or not err.endswith("\n") or not err.startswith("rnnkit"):
            problems.append(f"stderr {err!r}")
        if "Traceback" in err or "Traceback" in out:
            problems.append("traceback")
        if written and _tree_digest(written) != seen:
            problems.append(f"{written} was written")
        if problems:
            failures.append((argv, problems))
    assert not failures, "\n".join(f"{a}: {p}" for a, p in failures[:20]) + f"\n({len(failures)} in all)"
    assert _tree_digest(world["existing"]) == before


def test_messages_name_the_flag_the_user_typed(world, capsys):
    lm = str(world["lmrun"])
    cases = [
        (["lm", "sample", "--run", lm, "--length", "0"], "--length must be >= 1"),
        (["lm", "sample", "--run", lm, "--seed", "-1"], "--seed must be >= 0"),
        (["lm", "train", "--init-range", "1e30"], "--init-range must be a number in (0, 10]"),
        (["lm", "train", "--init-range", "inf"], "argument --init-range: must be a finite number"),
        (["lm", "train", "--hidden-size", "0"], "--hidden-size must be >= 1"),
        (["lm", "train", "--hidden-size", "1000000000"], "--hidden-size, --embedding-size"),
        (["lm", "train", "--num-layers", "100000"], "--num-layers must be <= 64"),
        (["lm", "train", "--data", str(world["emptydir"])], "is a directory, not a file"),
        (["lm", "train", "--data", str(world["fifo"])], "is a FIFO (named pipe), not a file"),
        (["lm", "train", "--data", "/dev/null"], "is a device, not a file"),
        (["lm", "eval", "--run", str(world["legacy"]), "--data", str(world["txt"])], "expected a JSON object"),
        (["lm", "sample", "--run", str(world["edited"])], "run.json: changed since the run wrote it"),
        (["demo", "--length", "100000000"], "--length: sequences of 100000000 steps would need about"),
        (["analyze", "gates", "--run", lm, "--data", str(world["emptydir"])], "is a directory, not a file"),
        (["lm", "train", "--out", str(world["existing"])], "pass --resume to continue it or --overwrite"),
        (["lm", "train", "--checkpoint-every", "10x"], "--checkpoint-every must be a number of updates"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (argv, err)


def test_task_inputs_refuse_archives_and_empty_files(tmp_path):
    from rnnkit.runs.models import task_inputs

    cfg = {"task": "adding", "length": 4, "input_size": 2}
    np.savez(tmp_path / "a.npz", x=np.zeros((3, 2, 2)))
    (tmp_path / "e.npy").write_bytes(b"")
    with pytest.raises(ValueError, match="an .npz archive"):
        task_inputs(cfg, str(tmp_path / "a.npz"), 2, np.float32)
    with pytest.raises(ValueError, match="not a .npy array of numbers"):
        task_inputs(cfg, str(tmp_path / "e.npy"), 2, np.float32)
    np.save(tmp_path / "ok.npy", np.ones((3, 2, 2)))
    assert task_inputs(cfg, str(tmp_path / "ok.npy"), 2, np.float32).dtype == np.float32


def test_a_closed_pipe_ends_quietly(world, capsys, monkeypatch):
    class Closed:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", Closed())
    code = main(["lm", "sample", "--run", str(world["lmrun"]), "--length", "5"])
    monkeypatch.undo()
    assert code == 1 and capsys.readouterr().err == ""


def test_as_a_user_runs_them_in_a_subprocess(world):
    env = subprocess_env()
    lm = str(world["lmrun"])
    cases = [
        ["lm", "sample", "--run", str(world["legacy"])],
        ["lm", "train", "--init-range", "inf"],
        ["lm", "train", "--hidden-size", "1000000000", "--out", str(world["dir"] / "sub1")],
        ["demo", "--length", "100000000"],
        ["analyze", "gates", "--run", lm, "--data", str(world["empty"])],
    ]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "rnnkit", *argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for argv in cases
    ]
    # and output to a pipe its reader has closed (as `| head` does): no message, no traceback
    pipe = subprocess.Popen(
        [sys.executable, "-m", "rnnkit", "lm", "sample", "--run", lm, "--length", "50"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    pipe.stdout.close()
    assert pipe.wait(timeout=120) == 1 and pipe.stderr.read() == b""
    for argv, p in zip(cases, procs):
        out, err = p.communicate(timeout=120)
        err = err.decode()
        assert p.returncode == 2 and err.count("\n") == 1 and "Traceback" not in err, (argv, err)
    assert not (world["dir"] / "sub1").exists()
