"""A flipped byte in any file of a run that ``lm sample``, ``lm eval`` or ``lm train --resume`` reads back
is either caught (exit 2, one line naming the damage) or harmless (the same output, the same weights).

The run is trained once; then, for each file it holds (run.json, vocab.json,
manifest.json, log.jsonl and every file under checkpoints/) and for byte
positions drawn from a fixed seed (always including the first and the last),
one bit is flipped, the command is run in-process through
:func:`rnnkit.cli.main`, and the byte is restored. The learning-curve PNG is
never read back and is left out.
"""

import json
import shutil

import numpy as np
import pytest

from rnnkit.checkpoint import load_checkpoint
from rnnkit.cli import main

TEXT = "".join(f"the {w} sat on the mat {i % 5}\n" for i, w in zip(range(60), ["cat", "dog", "fox"] * 20))


def _train_argv(data, out):
    return ["lm", "train", "--data", str(data), "--level", "word", "--embedding-size", "4", "--hidden-size", "4"] + [
        "--num-layers",
        "1",
        "--bptt",
        "5",
        "--batch-size",
        "4",
        "--epochs",
        "1",
        "--max-minutes",
        "0",
        "--checkpoint-every",
        "7",
        "--no-progress",
        "--out",
        str(out),
    ]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    d = tmp_path_factory.mktemp("flip")
    (d / "t.txt").write_text(TEXT, encoding="utf-8")
    assert main(_train_argv(d / "t.txt", d / "run")) == 0
    return d


def _files(run):
    """Every file of the run but the plot; the checkpoint `latest` names first among the checkpoint folders."""
    current = json.loads((run / "checkpoints" / "latest").read_text())["checkpoint"]
    files = sorted(p for p in run.rglob("*") if p.is_file() and p.suffix != ".png")
    return [p for p in files if p.parent.name.startswith("ckpt-") and p.parent.name != current], [
        p for p in files if not p.parent.name.startswith("ckpt-") or p.parent.name == current
    ]


def _positions(n, rng, k):
    return sorted({0, n - 1, *rng.integers(0, n, size=min(k, n)).tolist()})


def _run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _caught_or_same(code, out, err, baseline, where):
    if code == 0:
        assert out == baseline, f"{where}: the flip changed the output silently"
        return "harmless"
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, (where, code, err)
    return "caught"


def test_every_flip_is_caught_or_harmless_for_sample_and_eval(pristine, capsys):
    run, data = pristine / "run", pristine / "t.txt"
    commands = {
        "eval": ["lm", "eval", "--run", str(run), "--data", str(data)],
        "sample": ["lm", "sample", "--run", str(run), "--length", "8", "--seed", "1"],
    }
    baseline = {}
    for name, argv in commands.items():
        code, out, err = _run(argv, capsys)
        assert code == 0, err
        baseline[name] = out
    rng = np.random.default_rng(0)
    tally = {"caught": 0, "harmless": 0}
    older, files = _files(run)
    assert {"run.json", "vocab.json", "manifest.json", "log.jsonl", "latest", "model.safetensors"} <= {
        p.name for p in files
    }
    for path in files + older:
        raw = path.read_bytes()
        for i in _positions(len(raw), rng, 6 if path in files else 1):
            flipped = bytearray(raw)
            flipped[i] ^= 1 << int(rng.integers(0, 8))
            path.write_bytes(bytes(flipped))
            try:
                for name, argv in commands.items():
                    code, out, err = _run(argv, capsys)
                    tally[_caught_or_same(code, out, err, baseline[name], f"{path.name}[{i}] ({name})")] += 1
            finally:
                path.write_bytes(raw)
    # the files eval and sample read (run.json, vocab.json, the manifests, the pointer, the model) catch every flip
    print("sample/eval flips:", tally)
    assert tally["caught"] > 60, tally


def test_every_flip_is_caught_or_harmless_for_resume(pristine, capsys, tmp_path):
    src = pristine / "run"
    argv = [*_train_argv(pristine / "t.txt", tmp_path / "run"), "--resume"]
    shutil.copytree(src, tmp_path / "run")
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    baseline = out.replace(str(tmp_path / "run"), "RUN")
    weights = load_checkpoint(tmp_path / "run" / "checkpoints").model_state
    rng = np.random.default_rng(1)
    tally = {"caught": 0, "harmless": 0}
    for path in _files(src)[1]:  # a resume reads the checkpoint `latest` names, not the older one
        rel = path.relative_to(src)
        raw = path.read_bytes()
        k = 1 if rel.name != "log.jsonl" else 4
        for i in _positions(len(raw), rng, k):
            shutil.rmtree(tmp_path / "run")
            shutil.copytree(src, tmp_path / "run")
            flipped = bytearray(raw)
            flipped[i] ^= 1 << int(rng.integers(0, 8))
            (tmp_path / "run" / rel).write_bytes(bytes(flipped))
            code, out, err = _run(argv, capsys)
            verdict = _caught_or_same(code, out.replace(str(tmp_path / "run"), "RUN"), err, baseline, f"{rel}[{i}]")
            tally[verdict] += 1
            if verdict == "harmless":
                got = load_checkpoint(tmp_path / "run" / "checkpoints").model_state
                assert all(np.array_equal(v, got[key]) for key, v in weights.items()), f"{rel}[{i}]"
    print("resume flips:", tally)
    assert tally["caught"] > 10 and tally["harmless"] > 0, tally


def test_a_torn_last_log_line_does_not_block_resume(pristine, capsys, tmp_path):
    shutil.copytree(pristine / "run", tmp_path / "run")
    log = tmp_path / "run" / "log.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines) + lines[-1][: len(lines[-1]) // 2])  # an append cut short by a kill
    argv = [*_train_argv(pristine / "t.txt", tmp_path / "run"), "--resume"]
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == len(lines)  # the torn record is gone, the others kept
