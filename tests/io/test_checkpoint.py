"""rnnkit.checkpoint: round trips, integrity checks, atomicity under failures and SIGKILL, pruning."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import rnnkit.checkpoint as ckpt_mod
from rnnkit import Module
from rnnkit.checkpoint import (
    Checkpoint,
    CheckpointError,
    check_compatible,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from rnnkit.io import CheckpointError as IoCheckpointError

CONFIG = {"cell": "lstm", "hidden_size": 4, "layers": [1, 2], "encoder": {"vocab": 11, "dropout": 0.25}}


def _parts(step: int) -> dict:
    """Everything one save takes, with values that encode ``step`` so a mix-up cannot pass."""
    rng = np.random.default_rng(step)
    return dict(
        model_state={
            "weight_ih_l0": rng.standard_normal((16, 3)).astype(np.float32),
            "weight_hh_l0": rng.standard_normal((16, 4)),
            "bias_ih_l0": np.full(16, step, np.float32),
        },
        config=CONFIG,
        optimizer_state={
            "arrays": {
                "exp_avg.weight_ih_l0": np.full((16, 3), step, np.float32),
                "step": np.array(step, np.int64),
            },
            "meta": {"lr": 1e-3, "betas": [0.9, 0.999], "t": step},
        },
        trainer_state={
            "step": step,
            "epoch": step // 10,
            "best_loss": float("inf"),
            "data": {"order_seed": 7, "pos": 3 * step},
        },
        rng_states={
            "data": np.random.default_rng(1000 + step),
            "dropout": np.random.Generator(np.random.MT19937(step)),
        },
    )


def _assert_matches(ckpt: Checkpoint, step: int):
    want = _parts(step)
    assert ckpt.config == CONFIG
    for k, v in want["model_state"].items():
        assert ckpt.model_state[k].dtype == v.dtype
        np.testing.assert_array_equal(ckpt.model_state[k], v, err_msg=k)
    assert sorted(ckpt.model_state) == sorted(want["model_state"])
    for k, v in want["optimizer_state"]["arrays"].items():
        np.testing.assert_array_equal(ckpt.optimizer_state["arrays"][k], v, err_msg=k)
    assert ckpt.optimizer_state["meta"] == want["optimizer_state"]["meta"]
    assert ckpt.trainer_state == want["trainer_state"]
    for name, gen in want["rng_states"].items():
        np.testing.assert_array_equal(ckpt.generator(name).random(8), gen.random(8), err_msg=name)


# -- round trips -----------------------------------------------------------------------------------
def test_round_trip_of_everything(tmp_path):
    path = save_checkpoint(tmp_path, **_parts(3))
    assert path == tmp_path / "ckpt-00000001" and latest_checkpoint(tmp_path) == path
    ckpt = load_checkpoint(tmp_path)
    _assert_matches(ckpt, 3)
    assert ckpt.path == path and ckpt.rnnkit_version == __import__("rnnkit").__version__
    assert ckpt.trainer_state["best_loss"] == float("inf")
    assert sorted(p.name for p in path.iterdir()) == [
        "manifest.json",
        "model.safetensors",
        "optimizer.safetensors",
        "rng_states.json",
        "trainer_state.json",
    ]


def test_optional_parts_absent_load_as_none(tmp_path):
    save_checkpoint(tmp_path, model_state={"w": np.zeros(2)}, config={})
    ckpt = load_checkpoint(tmp_path)
    assert ckpt.optimizer_state is None and ckpt.trainer_state is None and ckpt.rng_states is None
    assert sorted(p.name for p in ckpt.path.iterdir()) == ["manifest.json", "model.safetensors"]
    with pytest.raises(CheckpointError, match="no optimizer.safetensors"):
        ckpt.load_optimizer(object())
    with pytest.raises(KeyError, match="no RNG state named 'data'"):
        ckpt.generator("data")


@pytest.mark.parametrize("bit_generator", ["PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"])
def test_rng_state_round_trip_gives_identical_streams(tmp_path, bit_generator):
    gen = np.random.Generator(getattr(np.random, bit_generator)(12345))
    gen.random(3)
    gen.integers(0, 10, 5)  # leaves a buffered 32-bit half in some generators
    state = gen.bit_generator.state
    save_checkpoint(tmp_path, model_state={}, config={}, rng_states={"as_dict": state, "as_generator": gen})
    ckpt = load_checkpoint(tmp_path)
    for name in ("as_dict", "as_generator"):
        restored = ckpt.rng_states[name]
        assert restored["bit_generator"] == bit_generator
        assert json.dumps(restored, default=lambda a: a.tolist()) == json.dumps(state, default=lambda a: a.tolist())
        twin = ckpt.generator(name)
        np.testing.assert_array_equal(twin.random(100), np.random.Generator(_copy_bitgen(state)).random(100))
    # and the original, continued, matches the restored one
    np.testing.assert_array_equal(ckpt.generator("as_dict").standard_normal(50), gen.standard_normal(50))


def _copy_bitgen(state):
    bg = getattr(np.random, state["bit_generator"])()
    bg.state = state
    return bg


def test_model_file_is_plain_safetensors_for_numpy_and_torch(tmp_path):
    torch = pytest.importorskip("torch")
    st_numpy = pytest.importorskip("safetensors.numpy")
    st_torch = pytest.importorskip("safetensors.torch")
    from safetensors import safe_open

    torch.manual_seed(0)
    gru = torch.nn.GRU(3, 4, num_layers=2, dtype=torch.float64)
    state = {k: v.detach().numpy().copy() for k, v in gru.state_dict().items()}
    path = save_checkpoint(tmp_path, model_state=state, config=CONFIG)
    model_file = str(path / "model.safetensors")
    for k, v in st_numpy.load_file(model_file).items():
        np.testing.assert_array_equal(v, state[k], err_msg=k)
    twin = torch.nn.GRU(3, 4, num_layers=2, dtype=torch.float64)
    twin.load_state_dict(st_torch.load_file(model_file), strict=True)
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    assert torch.equal(twin(x)[0], gru(x)[0])
    with safe_open(model_file, framework="np") as f:
        meta = f.metadata()
    assert json.loads(meta["config"]) == CONFIG and meta["rnnkit_version"] == __import__("rnnkit").__version__


def test_dataclass_config_and_tuples_compare_as_saved(tmp_path):
    @dataclasses.dataclass(frozen=True)
    class Cfg:
        hidden_size: int = 4
        sizes: tuple = (1, 2)

    save_checkpoint(tmp_path, model_state={}, config=Cfg())
    ckpt = load_checkpoint(tmp_path, expected_config=Cfg())
    assert ckpt.config == {"hidden_size": 4, "sizes": [1, 2]}
    with pytest.raises(CheckpointError, match=r"hidden_size: checkpoint has 4, expected 5"):
        load_checkpoint(tmp_path, expected_config=Cfg(hidden_size=5))


# -- pointer, keep, directories --------------------------------------------------------------------
def test_keep_prunes_old_checkpoints_after_the_pointer_moves(tmp_path):
    for step in range(1, 6):
        save_checkpoint(tmp_path, **_parts(step))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-00000004", "ckpt-00000005", "latest"]
    _assert_matches(load_checkpoint(tmp_path), 5)
    _assert_matches(load_checkpoint(tmp_path / "ckpt-00000004"), 4)  # a kept one loads directly
    save_checkpoint(tmp_path, **_parts(6), keep=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-00000006", "latest"]
    for step in (7, 8, 9):
        save_checkpoint(tmp_path, **_parts(step), keep=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-00000007", "ckpt-00000008", "ckpt-00000009", "latest"]


@pytest.mark.parametrize("keep", [0, -1, 1.5, True])
def test_keep_must_be_a_positive_int(tmp_path, keep):
    with pytest.raises(ValueError, match=rf"keep must be an int >= 1, got {keep!r}"):
        save_checkpoint(tmp_path, model_state={}, config={}, keep=keep)
    assert list(tmp_path.iterdir()) == []


def test_latest_checkpoint_and_missing_directories(tmp_path):
    assert latest_checkpoint(tmp_path / "nope") is None
    assert latest_checkpoint(tmp_path) is None
    with pytest.raises(CheckpointError, match=r"nope: checkpoint directory does not exist"):
        load_checkpoint(tmp_path / "nope")
    with pytest.raises(CheckpointError, match=r"no checkpoint here \(latest pointer file is missing\)"):
        load_checkpoint(tmp_path)
    path = save_checkpoint(tmp_path, **_parts(1))
    assert latest_checkpoint(tmp_path) == path
    os.rename(path, tmp_path / "moved")
    for fn in (latest_checkpoint, load_checkpoint):
        with pytest.raises(CheckpointError, match=r"latest: names ckpt-00000001, which does not exist"):
            fn(tmp_path)


# -- integrity -------------------------------------------------------------------------------------
FILES = ["model.safetensors", "optimizer.safetensors", "trainer_state.json", "rng_states.json", "manifest.json"]


@pytest.mark.parametrize("filename", FILES + ["latest"])
def test_a_flipped_byte_anywhere_is_caught_and_names_the_file(tmp_path, filename):
    path = save_checkpoint(tmp_path, **_parts(2))
    target = tmp_path / filename if filename == "latest" else path / filename
    original = target.read_bytes()
    n = len(original)
    # every byte of the small files, and a spread over the header and data of the larger ones
    positions = range(n) if n <= 400 else sorted({*range(0, 200), *np.linspace(200, n - 1, 120).astype(int).tolist()})
    for pos in positions:
        damaged = bytearray(original)
        damaged[pos] ^= 0x04
        target.write_bytes(bytes(damaged))
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(tmp_path)
        assert filename in str(info.value), f"byte {pos}: {info.value}"
    target.write_bytes(original)
    _assert_matches(load_checkpoint(tmp_path), 2)


@pytest.mark.parametrize("filename", FILES)
def test_truncated_or_missing_files_are_caught(tmp_path, filename):
    path = save_checkpoint(tmp_path, **_parts(2))
    original = (path / filename).read_bytes()
    (path / filename).write_bytes(original[: len(original) // 2])
    with pytest.raises(CheckpointError, match=filename) as info:
        load_checkpoint(tmp_path)
    assert str(path / filename) in str(info.value) or filename == "manifest.json"
    (path / filename).unlink()
    with pytest.raises(CheckpointError, match=rf"{filename}: missing"):
        load_checkpoint(tmp_path)


def test_truncated_model_file_says_truncated(tmp_path):
    path = save_checkpoint(tmp_path, **_parts(2))
    model = path / "model.safetensors"
    model.write_bytes(model.read_bytes()[:-4])
    with pytest.raises(CheckpointError, match=r"model.safetensors: \d+ bytes, expected \d+ .*truncated"):
        load_checkpoint(tmp_path)


def test_unknown_format_version_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(ckpt_mod, "FORMAT_VERSION", 99)
    save_checkpoint(tmp_path, **_parts(1))
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match=r"manifest.json: format_version 99 is not one .* \(expected 1\)"):
        load_checkpoint(tmp_path)


def test_checkpoint_error_is_the_io_one_and_a_value_error():
    assert CheckpointError is IoCheckpointError and issubclass(CheckpointError, ValueError)


# -- compatibility ---------------------------------------------------------------------------------
def test_config_mismatch_names_every_differing_key(tmp_path):
    save_checkpoint(tmp_path, **_parts(1))
    expected = {"cell": "gru", "hidden_size": 4, "layers": [1, 2], "encoder": {"vocab": 12, "dropout": 0.25}, "new": 1}
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path, expected_config=expected)
    msg = str(info.value)
    assert "model.safetensors" in msg
    assert "cell: checkpoint has 'lstm', expected 'gru'" in msg
    assert "encoder.vocab: checkpoint has 11, expected 12" in msg
    assert "new: missing in the checkpoint (expected 1)" in msg
    assert "hidden_size" not in msg and "dropout" not in msg
    ckpt = load_checkpoint(tmp_path, expected_config=expected, ignore=["cell", "encoder.vocab", "new"])
    check_compatible(ckpt, CONFIG)
    with pytest.raises(CheckpointError, match=r"encoder.dropout: only in the checkpoint \(0.25\)"):
        check_compatible(ckpt, {**CONFIG, "encoder": {"vocab": 11}})
    with pytest.raises(CheckpointError, match=r"hidden_size: checkpoint has True, expected 1"):
        check_compatible({"hidden_size": True}, {"hidden_size": 1})


class _TinyRNN(Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.weight_hh_l0 = self.register_parameter("weight_hh_l0", np.zeros((hidden, hidden)))
        self.bias_hh_l0 = self.register_parameter("bias_hh_l0", np.zeros(hidden))


def test_load_into_a_module_and_a_misfit_names_the_file(tmp_path):
    src = _TinyRNN(3)
    src.weight_hh_l0[...] = np.arange(9.0).reshape(3, 3)
    save_checkpoint(tmp_path, model_state=src.state_dict(), config={"hidden": 3})
    ckpt = load_checkpoint(tmp_path)
    dst = _TinyRNN(3)
    ckpt.load_into(dst)
    np.testing.assert_array_equal(dst.weight_hh_l0, src.weight_hh_l0)
    misfit = r"model.safetensors: weights do not fit _TinyRNN: .*weight_hh_l0 must have shape \(4, 4\), got \(3, 3\)"
    with pytest.raises(CheckpointError, match=misfit):
        ckpt.load_into(_TinyRNN(4))
    save_checkpoint(tmp_path, model_state={"weight_hh_l0": np.zeros((3, 3))}, config={})
    with pytest.raises(CheckpointError, match=r"model.safetensors: weights do not fit _TinyRNN: .*missing keys"):
        load_checkpoint(tmp_path).load_into(_TinyRNN(3))


# -- bad input: refused before anything is written -------------------------------------------------
@pytest.mark.parametrize(
    "change, error, pattern",
    [
        ({"trainer_state": {"curve": np.zeros(3)}}, TypeError, r"trainer_state\['curve'\] must be JSON-.*ndarray"),
        ({"trainer_state": {1: "a"}}, TypeError, r"trainer_state has key 1 of type int"),
        ({"trainer_state": {"seen": {1, 2}}}, TypeError, r"trainer_state\['seen'\] must be JSON-serialisable.*set"),
        ({"config": {"lr": float("nan")}}, ValueError, r"config must hold only finite numbers"),
        ({"config": [1]}, TypeError, r"config must be a dict or a dataclass instance, got list"),
        ({"optimizer_state": {"arrays": {}}}, TypeError, r"optimizer_state must be a dict with keys \['arrays', 'me"),
        ({"optimizer_state": {"arrays": {"m": [1.0]}, "meta": {}}}, TypeError, r"tensors\['m'\] must be a numpy array"),
        ({"model_state": {"w": np.zeros(2, np.complex128)}}, TypeError, r"model_state.*\['w'\] has dtype complex128"),
        ({"rng_states": {"g": np.random.RandomState(0)}}, TypeError, r"rng_states\['g'\] must be a Generator"),
        ({"rng_states": {"g": {"bit_generator": "os.system"}}}, TypeError, r"got 'os.system'"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(tmp_path, change, error, pattern):
    save_checkpoint(tmp_path, **_parts(1))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(error, match=pattern):
        save_checkpoint(tmp_path, **{**_parts(2), **change})
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    _assert_matches(load_checkpoint(tmp_path), 1)


def test_numpy_scalars_in_trainer_state_are_saved_as_numbers(tmp_path):
    trainer_state = {"step": np.int64(5), "loss": np.float32(0.5), "ok": np.bool_(True)}
    save_checkpoint(tmp_path, model_state={}, config={}, trainer_state=trainer_state)
    state = load_checkpoint(tmp_path).trainer_state
    assert state == {"step": 5, "loss": 0.5, "ok": True} and type(state["step"]) is int and type(state["ok"]) is bool


# -- atomicity -------------------------------------------------------------------------------------
class _Injector:
    """Counts calls of os.fsync / os.replace / os.rename and raises at call number ``fail_at``."""

    def __init__(self, monkeypatch, fail_at: int | None):
        self.calls, self.fail_at, self.log = 0, fail_at, []
        for name in ("fsync", "replace", "rename"):
            monkeypatch.setattr(os, name, self._wrap(getattr(os, name), name))

    def _wrap(self, fn, name):
        def wrapped(*args, **kwargs):
            self.calls += 1
            self.log.append((name, *map(str, args)))
            if self.calls - 1 == self.fail_at:
                raise OSError(f"injected failure in os.{name}")
            return fn(*args, **kwargs)

        return wrapped


def _assert_every_checkpoint_dir_is_complete(directory: Path):
    for p in directory.glob("ckpt-*"):
        load_checkpoint(p)


def test_a_save_failing_at_any_os_call_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    save_checkpoint(tmp_path / "count", **_parts(1))
    with monkeypatch.context() as m:
        counter = _Injector(m, None)
        save_checkpoint(tmp_path / "count", **_parts(2), keep=1)
    n_calls = counter.calls
    # the commit point: the os.replace that moves the `latest` pointer
    commit = next(i for i, call in enumerate(counter.log) if call[0] == "replace" and call[-1].endswith("latest"))
    assert 8 <= commit < n_calls - 1
    outcomes = set()
    for k in range(n_calls):
        d = tmp_path / f"run{k}"
        save_checkpoint(d, **_parts(1))
        with monkeypatch.context() as m:
            _Injector(m, k)
            try:
                save_checkpoint(d, **_parts(2), keep=1)
                saved = True
            except OSError as e:
                assert "injected failure" in str(e)
                saved = False
        outcomes.add(saved)
        # a failure before the commit point leaves the old checkpoint; one after it (fsync of the
        # directory, pruning) the new one, and the error only says durability is not confirmed
        _assert_matches(load_checkpoint(d), 1 if k <= commit else 2)
        assert saved == (k > commit + 1), (k, counter.log[k])  # pruning failures are logged, not raised
        _assert_every_checkpoint_dir_is_complete(d)
        save_checkpoint(d, **_parts(3))  # the next save works and sweeps the leftovers
        _assert_matches(load_checkpoint(d), 3)
        assert not [p.name for p in d.iterdir() if p.name.startswith(".")]
    assert outcomes == {True, False}  # failures both before the commit point and after it (pruning)


def test_a_save_raising_in_the_middle_of_any_file_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    real = ckpt_mod.atomic_write
    n_files = 6  # model, optimizer, trainer, rng, manifest, pointer
    for k in range(n_files):
        d = tmp_path / f"run{k}"
        save_checkpoint(d, **_parts(1))
        seen = []

        def failing(path, chunks, _k=k, _seen=seen):
            _seen.append(Path(path).name)
            if len(_seen) - 1 != _k:
                return real(path, chunks)

            def half():
                yield next(iter(chunks))[:3]
                raise KeyboardInterrupt("interrupted mid-write")

            return real(path, half())

        monkeypatch.setattr(ckpt_mod, "atomic_write", failing)
        with pytest.raises(KeyboardInterrupt):
            save_checkpoint(d, **_parts(2))
        monkeypatch.setattr(ckpt_mod, "atomic_write", real)
        _assert_matches(load_checkpoint(d), 1)
        assert (
            seen[-1]
            == [
                "model.safetensors",
                "optimizer.safetensors",
                "trainer_state.json",
                "rng_states.json",
                "manifest.json",
                "latest",
            ][k]
        )


SAVER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from rnnkit.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint

    d = sys.argv[1]
    start = load_checkpoint(d).trainer_state["step"] + 1 if latest_checkpoint(d) else 1
    for step in range(start, 10**9):
        w = np.full((256, 256), step, np.float64)
        save_checkpoint(
            d,
            model_state={"w": w, "b": np.full(7, step, np.float32)},
            config={"hidden_size": 256},
            optimizer_state={"arrays": {"m": w[:128]}, "meta": {"step": step}},
            trainer_state={"step": step},
            rng_states={"g": np.random.default_rng(step)},
        )
        print(step, flush=True)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_at_a_random_moment_leaves_a_complete_checkpoint(tmp_path):
    script = tmp_path / "saver.py"
    script.write_text(SAVER)
    d = tmp_path / "run"
    delays = np.random.default_rng(20240611).uniform(0.0, 0.04, size=4)
    last_step = 0
    for delay in delays:
        proc = subprocess.Popen([sys.executable, str(script), str(d)], stdout=subprocess.PIPE, text=True)
        try:
            first = proc.stdout.readline()  # one save has completed
            assert first.strip().isdigit(), first
            time.sleep(float(delay))
            os.kill(proc.pid, signal.SIGKILL)
            printed = [first, *proc.stdout.read().split()]
        finally:
            proc.kill()
            proc.wait()
        assert proc.returncode == -signal.SIGKILL
        reported = int(printed[-1])
        ckpt = load_checkpoint(d)
        step = ckpt.trainer_state["step"]
        # the pointer may have moved after the last print and before the kill, never further
        assert step in (reported, reported + 1) and step > last_step
        assert (ckpt.model_state["w"] == step).all() and (ckpt.model_state["b"] == step).all()
        assert (ckpt.optimizer_state["arrays"]["m"] == step).all() and ckpt.optimizer_state["meta"] == {"step": step}
        assert ckpt.generator("g").random() == np.random.default_rng(step).random()
        _assert_every_checkpoint_dir_is_complete(d)
        last_step = step


def test_resuming_model_and_adam_from_a_checkpoint_is_bit_identical(tmp_path):
    optim = pytest.importorskip("rnnkit.optim")
    rng = np.random.default_rng(0)
    grads_seq = [rng.standard_normal((3, 3)) for _ in range(6)]

    def run(model, opt, grads):
        for g in grads:
            model.zero_grad()
            model.grads["weight_hh_l0"][...] = g
            opt.step()

    model = _TinyRNN(3)
    opt = optim.Adam(model.params, model.grads, lr=0.01)
    run(model, opt, grads_seq[:3])
    save_checkpoint(
        tmp_path,
        model_state=model.state_dict(),
        config={"hidden": 3},
        optimizer_state=opt.state_dict(),
        trainer_state={"step": 3},
    )
    run(model, opt, grads_seq[3:])

    ckpt = load_checkpoint(tmp_path, expected_config={"hidden": 3})
    twin = _TinyRNN(3)
    twin_opt = optim.Adam(twin.params, twin.grads, lr=0.5)
    ckpt.load_into(twin)
    ckpt.load_optimizer(twin_opt)
    run(twin, twin_opt, grads_seq[ckpt.trainer_state["step"] :])
    np.testing.assert_array_equal(twin.weight_hh_l0, model.weight_hh_l0)
    with pytest.raises(CheckpointError, match=r"optimizer.safetensors: state does not fit SGD: .*Adam"):
        ckpt.load_optimizer(optim.SGD(twin.params, twin.grads, lr=0.1))
