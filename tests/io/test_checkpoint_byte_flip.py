"""Every byte of every file a checkpoint holds, flipped: the load fails naming the file, or loads the same thing."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.checkpoint import POINTER, load_checkpoint, save_checkpoint
from rnnkit.io import CheckpointError

FLIPS = (0xFF, 0x01, 0x20)  # every bit, the lowest bit (digits, letters), the ASCII case/space bit


def _save(directory, step):
    rng = np.random.default_rng(step)
    return save_checkpoint(
        directory,
        model_state={"weight_ih_l0": rng.normal(size=(4, 3)).astype(np.float32), "bias": np.arange(4.0)},
        config={"cell": "lstm", "hidden_size": 1, "lr": 0.5, "names": ["a", "b"]},
        optimizer_state={
            "arrays": {"weight_ih_l0.exp_avg": rng.normal(size=(4, 3)).astype(np.float32)},
            "meta": {"optimizer": "Adam", "step": step, "hyper": {"lr": 0.01}},
        },
        trainer_state={"epoch": 1, "index": 2, "step": step, "best": float("inf")},
        rng_states={"": np.random.default_rng(7)},
        arrays={"state.0": rng.normal(size=(1, 2, 1))},
    )


def _content(ckpt):
    """Everything a load returns, in comparable form (arrays by dtype, shape and bytes)."""

    def arrays(d):
        return None if d is None else {k: (v.dtype.str, v.shape, v.tobytes()) for k, v in d.items()}

    opt = ckpt.optimizer_state
    return (
        ckpt.config,
        arrays(ckpt.model_state),
        None if opt is None else (arrays(opt["arrays"]), opt["meta"]),
        repr(ckpt.trainer_state),  # repr: inf == inf, and a changed float type would show
        repr(ckpt.rng_states),
        arrays(ckpt.arrays),
        ckpt.path.name,
    )


def test_every_flipped_byte_is_detected_or_harmless(tmp_path):
    _save(tmp_path, 1)
    path = _save(tmp_path, 2)  # the previous checkpoint stays: a flipped pointer could name it
    original = _content(load_checkpoint(tmp_path))
    files = [tmp_path / POINTER] + sorted(p for p in path.iterdir())
    assert {p.name for p in files} == {
        POINTER,
        "manifest.json",
        "model.safetensors",
        "optimizer.safetensors",
        "trainer_state.json",
        "rng_states.json",
        "arrays.safetensors",
    }
    tried = detected = harmless = 0
    for file in files:
        data = file.read_bytes()
        for i in range(len(data)):
            for mask in FLIPS:
                flipped = bytearray(data)
                flipped[i] ^= mask
                file.write_bytes(flipped)
                tried += 1
                try:
                    loaded = load_checkpoint(tmp_path)
                except CheckpointError as e:
                    assert file.name in str(e), f"{file.name} byte {i} ^ {mask:#x}: the error names another file: {e}"
                    detected += 1
                else:
                    assert _content(loaded) == original, f"{file.name} byte {i} ^ {mask:#x} changed what loads"
                    harmless += 1
        file.write_bytes(data)
        assert _content(load_checkpoint(tmp_path)) == original
    print(f"byte flips: {tried} tried, {detected} detected, {harmless} harmless")
    assert tried == detected + harmless and tried > 3000
    assert harmless == 0  # with every file hashed, none is expected; a harmless flip would still pass above


@pytest.mark.parametrize(
    "name", ["manifest.json", "model.safetensors", "optimizer.safetensors", "trainer_state.json", "rng_states.json"]
)
def test_a_truncated_file_is_detected(tmp_path, name):
    path = _save(tmp_path, 1)
    f = path / name
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=name):
        load_checkpoint(tmp_path)
