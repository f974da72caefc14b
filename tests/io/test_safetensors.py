"""rnnkit.io.safetensors: round trips, parity with the reference package both ways, and every damage case."""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path

import numpy as np
import pytest

import rnnkit.io
from rnnkit.io import CheckpointError, atomic_write, load_bytes, load_file, load_metadata, save_file

safetensors_numpy = pytest.importorskip("safetensors.numpy")

DTYPES = [
    "bool",
    "uint8",
    "int8",
    "int16",
    "uint16",
    "float16",
    "int32",
    "uint32",
    "float32",
    "float64",
    "int64",
    "uint64",
]


def _sample(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.random(shape) < 0.5
    if dt.kind == "f":
        return rng.standard_normal(shape).astype(dt)
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)


def _assert_same(got: dict, want: dict):
    assert sorted(got) == sorted(want)
    for k, w in want.items():
        g = np.asarray(got[k])
        assert g.dtype == w.dtype.newbyteorder("="), f"{k}: dtype {g.dtype} != {w.dtype}"
        assert g.shape == w.shape, f"{k}: shape {g.shape} != {w.shape}"
        np.testing.assert_array_equal(g, w, err_msg=k)


def _craft(path: Path, header, data: bytes = b"", *, pad: bool = True) -> Path:
    """Write a safetensors file by hand, the header given as a dict or as raw bytes."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    if pad:
        raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


# -- round trips -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_every_dtype_and_shape(tmp_path, dtype):
    tensors = {
        "matrix": _sample(dtype, (3, 5), 1),
        "scalar": _sample(dtype, (), 2),
        "empty": _sample(dtype, (0, 4), 3),
        "cube": _sample(dtype, (2, 1, 3), 4),
    }
    path = tmp_path / "t.safetensors"
    save_file(tensors, path)
    got = load_file(path)
    _assert_same(got, tensors)
    assert got["scalar"].ndim == 0
    assert all(a.flags.writeable and a.flags.aligned for a in got.values())


def test_non_contiguous_and_big_endian_input_are_written_packed(tmp_path):
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    tensors = {
        "transposed": base.T,
        "strided": base[::2, 1::3],
        "big_endian": base.astype(">f4"),
        "fortran": np.asfortranarray(base.astype(np.int64)),
        "numpy_scalar": np.float32(2.5),
    }
    path = tmp_path / "t.safetensors"
    save_file(tensors, path)
    got = load_file(path)
    for k, want in tensors.items():
        np.testing.assert_array_equal(got[k], want, err_msg=k)
        assert got[k].dtype.isnative
    assert got["big_endian"].dtype == np.float32
    # and the reference reader agrees on every value
    ref = safetensors_numpy.load_file(str(path))
    for k, want in tensors.items():
        np.testing.assert_array_equal(ref[k], want, err_msg=k)


def test_metadata_round_trip_and_layout(tmp_path):
    path = tmp_path / "t.safetensors"
    md = {"config": json.dumps({"hidden_size": 3, "name": "gru ✓"}), "empty": ""}
    save_file({"a": np.ones(3, np.float32), "b": np.zeros((), np.int64)}, path, md)
    assert load_metadata(path) == md
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0 and raw[8:9] == b"{"
    header = json.loads(raw[8 : 8 + n])
    assert list(header)[0] == "__metadata__"
    # 8-byte aligned start and descending alignment: the I64 scalar comes first
    assert header["b"]["data_offsets"] == [0, 8] and header["a"]["data_offsets"] == [8, 20]
    assert len(raw) == 8 + n + 20


def test_no_metadata_reads_as_empty_dict_and_no_tensors_is_fine(tmp_path):
    path = tmp_path / "empty.safetensors"
    save_file({}, path)
    assert load_file(path) == {} and load_metadata(path) == {}
    assert path.read_bytes() == safetensors_numpy.save({})


# -- parity with the reference package -------------------------------------------------------------
def _mixed():
    return {
        name: _sample(dt, (2, 3) if i % 3 else (4,), i) for i, (name, dt) in enumerate((f"t_{dt}", dt) for dt in DTYPES)
    } | {"scalar": np.array(3.5), "empty": np.zeros((0, 2), np.float32)}


def test_reference_numpy_reads_our_files(tmp_path):
    tensors = _mixed()
    path = tmp_path / "ours.safetensors"
    save_file(tensors, path, {"k": "v"})
    _assert_same(safetensors_numpy.load_file(str(path)), tensors)
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as f:
        assert f.metadata() == {"k": "v"}


@pytest.mark.parametrize("metadata", [None, {"format": "np"}])
def test_our_bytes_equal_the_reference_writer(tmp_path, metadata):
    tensors = _mixed()
    path = tmp_path / "ours.safetensors"
    save_file(tensors, path, metadata)
    assert path.read_bytes() == safetensors_numpy.save(tensors, metadata=metadata)


def test_torch_reads_our_files(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    names = ["float32", "float64", "int64", "int32", "uint8", "bool", "float16"]
    tensors = {k: _sample(k, (3, 2), i) for i, k in enumerate(names)}
    tensors["scalar"] = np.float32(1.25)
    path = tmp_path / "ours.safetensors"
    save_file(tensors, path)
    got = st_torch.load_file(str(path))
    assert sorted(got) == sorted(tensors)
    for k, want in tensors.items():
        t = got[k]
        assert isinstance(t, torch.Tensor) and tuple(t.shape) == np.shape(want)
        np.testing.assert_array_equal(t.numpy(), want, err_msg=k)


def test_we_read_reference_files(tmp_path):
    tensors = _mixed()
    path = tmp_path / "ref.safetensors"
    safetensors_numpy.save_file(tensors, str(path), metadata={"a": "1", "b": "two"})
    _assert_same(load_file(path), tensors)
    assert load_metadata(path) == {"a": "1", "b": "two"}


def test_we_read_torch_written_files(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    g = torch.Generator().manual_seed(0)
    tensors = {
        "weight_ih_l0": torch.randn(12, 5, generator=g, dtype=torch.float64),
        "bias_hh_l0": torch.randn(12, generator=g),
        "steps": torch.tensor(7),
        "mask": torch.tensor([True, False, True]),
    }
    path = tmp_path / "torch.safetensors"
    st_torch.save_file(tensors, str(path), metadata={"format": "pt"})
    got = load_file(path)
    for k, t in tensors.items():
        np.testing.assert_array_equal(got[k], t.numpy(), err_msg=k)
        assert got[k].dtype == t.numpy().dtype
    assert load_metadata(path) == {"format": "pt"}


def test_unpadded_header_from_other_writers_is_read_and_aligned(tmp_path):
    # a 1-byte tensor first, then F64 at an odd file offset: legal, but the array must be realigned
    header = {
        "a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
        "b": {"dtype": "F64", "shape": [2], "data_offsets": [1, 17]},
    }
    data = b"\x07" + np.array([1.5, -2.0]).tobytes()
    got = load_file(_craft(tmp_path / "odd.safetensors", header, data, pad=False))
    assert got["a"].tolist() == [7] and got["b"].tolist() == [1.5, -2.0]
    assert got["b"].flags.aligned


# -- bad input on write ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "tensors, metadata, error, pattern",
    [
        ({"x": [1.0, 2.0]}, None, TypeError, r"tensors\['x'\] must be a numpy array, got list"),
        ({"x": np.zeros(2, np.complex64)}, None, TypeError, r"tensors\['x'\] has dtype complex64"),
        ({"x": np.array(["a"])}, None, TypeError, r"tensors\['x'\] has dtype <U1"),
        ({"x": np.zeros(2, object)}, None, TypeError, r"has dtype object"),
        ({3: np.zeros(2)}, None, TypeError, r"tensor names must be str, got int 3"),
        ({"__metadata__": np.zeros(2)}, None, ValueError, r"reserved for metadata"),
        ({"x": np.zeros(2)}, {"k": 1}, TypeError, r"metadata must map str -> str, got str 'k' -> int"),
        ({"x": np.zeros(2)}, ["k"], TypeError, r"metadata must be a dict"),
    ],
)
def test_bad_input_is_refused_before_writing(tmp_path, tensors, metadata, error, pattern):
    path = tmp_path / "t.safetensors"
    with pytest.raises(error, match=pattern) as info:
        save_file(tensors, path, metadata)
    assert "t.safetensors" in str(info.value)
    assert list(tmp_path.iterdir()) == []


# -- damaged files ---------------------------------------------------------------------------------
@pytest.fixture
def good_file(tmp_path) -> Path:
    path = tmp_path / "good.safetensors"
    save_file({"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(3)}, path, {"k": "v"})
    return path


def _expect_error(path: Path, pattern: str, *, metadata_too: bool = True):
    loaders = [load_file, load_metadata] if metadata_too else [load_file]
    for loader in loaders:
        with pytest.raises(CheckpointError, match=pattern) as info:
            loader(path)
        assert str(path) in str(info.value), f"{loader.__name__}: message does not name the file: {info.value}"
    assert issubclass(CheckpointError, ValueError)


def test_truncated_file(good_file):
    raw = good_file.read_bytes()
    good_file.write_bytes(raw[:-1])
    _expect_error(good_file, r"truncated: the header describes 48 data bytes but the file holds 47")
    good_file.write_bytes(raw[:5])
    _expect_error(good_file, r"truncated: 5 bytes, expected at least the 8-byte header length")
    good_file.write_bytes(raw[:40])
    _expect_error(good_file, r"header length field says \d+ bytes but only 32 follow")


def test_garbage_header_length(good_file):
    raw = bytearray(good_file.read_bytes())
    raw[7] = 0xFF
    good_file.write_bytes(bytes(raw))
    _expect_error(good_file, r"header length field says \d+ bytes, more than the 100000000 allowed")


def test_flipped_byte_in_header_structure(good_file):
    raw = bytearray(good_file.read_bytes())
    raw[8] ^= 0x01  # '{' becomes 'z'
    good_file.write_bytes(bytes(raw))
    _expect_error(good_file, r"header must start with '\{'")
    raw[8] ^= 0x01
    i = raw.index(b'"data_offsets"')
    raw[i + 15] ^= 0x01  # '[' becomes 'Z'
    good_file.write_bytes(bytes(raw))
    _expect_error(good_file, r"header is not valid JSON")


def test_extra_bytes_after_the_data(good_file):
    good_file.write_bytes(good_file.read_bytes() + b"\0")
    _expect_error(good_file, r"1 bytes after the last tensor")


F32x2 = np.array([1.0, 2.0], np.float32).tobytes()


def _t(dtype="F32", shape=(2,), offsets=(0, 8)) -> dict:
    """One header entry; the defaults describe F32x2."""
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


@pytest.mark.parametrize(
    "header, data, pattern",
    [
        (b'{"a": ', b"", r"header is not valid JSON"),
        (b"[1, 2]", b"", r"header must start with '\{'"),
        (b"\xff{}", b"", r"header is not valid UTF-8"),
        (b'{"a": {"dtype": "F32", "shape": [NaN], "data_offsets": [0, 8]}}', F32x2, r"NaN is not valid JSON"),
        (b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "a": {}}', F32x2, r"duplicate key 'a'"),
        ({"a": _t("BF16", offsets=(0, 4))}, b"\0" * 4, r"unknown or unsupported dtype 'BF16'"),
        ({"a": _t("F33")}, F32x2, r"unknown or unsupported dtype 'F33'"),
        ({"a": _t(shape=[3])}, F32x2, r"shape \[3\] of F32 needs 12 bytes but data_offsets \[0, 8\] span 8"),
        ({"a": _t(shape=[-2])}, F32x2, r"shape must be a list of ints >= 0, got \[-2\]"),
        ({"a": _t(shape=[2.0])}, F32x2, r"shape must be a list of ints"),
        ({"a": _t(offsets=(0, 8, 9))}, F32x2, r"data_offsets must be \[begin, end\]"),
        ({"a": _t(shape=[0], offsets=(8, 0))}, F32x2, r"end before they begin"),
        ({"a": _t(offsets=(8, 16))}, F32x2, r"bytes \[0, 8\) of the data belong to no tensor"),
        ({"a": _t()}, b"", r"truncated: the header describes 8 data bytes but the file holds 0"),
        ({"a": _t(), "b": _t(shape=[1], offsets=(4, 8))}, F32x2, r"'b' at bytes \[4, 8\) overlaps tensor 'a'"),
        ({"a": {"dtype": "F32", "shape": [2]}}, F32x2, r"tensor 'a' must have exactly the keys"),
        ({"a": _t("BOOL", offsets=(0, 2))}, b"\x01\x02", r"BOOL but holds bytes other than 0 and 1"),
        ({"__metadata__": {"k": 3}}, b"", r"__metadata__ must map str -> str"),
    ],
)
def test_malformed_headers(tmp_path, header, data, pattern):
    path = _craft(tmp_path / "bad.safetensors", header, data)
    _expect_error(path, pattern, metadata_too="BOOL" not in pattern)


def test_empty_and_zero_rank_tensors_share_offsets_legally(tmp_path):
    header = {
        "e1": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]},
        "e2": {"dtype": "I64", "shape": [3, 0], "data_offsets": [0, 0]},
        "s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]},
    }
    got = load_file(_craft(tmp_path / "e.safetensors", header, np.float32(9).tobytes()))
    assert got["e1"].shape == (0,) and got["e2"].shape == (3, 0) and got["s"].shape == () and got["s"] == 9


def test_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_file(tmp_path / "nope.safetensors")


def test_load_bytes_names_its_source():
    with pytest.raises(CheckpointError, match=r"^weights-in-memory: file is truncated"):
        load_bytes(b"\x01\x00", source="weights-in-memory")


# -- atomic writes ---------------------------------------------------------------------------------
def test_a_write_that_fails_midway_leaves_the_old_file(tmp_path, good_file):
    before = good_file.read_bytes()

    def chunks():
        yield b"partial data"
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        atomic_write(good_file, chunks())
    assert good_file.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["good.safetensors"]  # no temporary file left


def test_a_failed_fsync_or_rename_leaves_the_old_file(tmp_path, good_file, monkeypatch):
    before = good_file.read_bytes()
    for name in ("fsync", "replace"):
        with monkeypatch.context() as m:

            def boom(*args, _name=name):
                raise OSError(f"{_name} failed")

            m.setattr(os, name, boom)
            with pytest.raises(OSError, match=f"{name} failed"):
                save_file({"x": np.zeros(4)}, good_file)
        assert good_file.read_bytes() == before
        assert [p.name for p in tmp_path.iterdir()] == ["good.safetensors"]


def test_atomic_write_returns_the_digest_of_the_bytes(tmp_path):
    import hashlib

    path = tmp_path / "x.bin"
    digest = save_file({"x": np.arange(5.0)}, path)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()


def test_no_pickle_in_the_io_code():
    root = Path(rnnkit.io.__file__).parent.parent
    for path in [*sorted((root / "io").glob("*.py")), root / "checkpoint.py"]:
        text = path.read_text()
        assert not re.search(r"\bimport\s+pickle|\bpickle\.|allow_pickle|np\.load\(", text), path
