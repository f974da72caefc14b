"""Read and write safetensors files with NumPy alone.

The format (https://github.com/huggingface/safetensors, "Format"):

- 8 bytes: ``N``, the header length, an unsigned little-endian 64-bit int;
- ``N`` bytes: the header, UTF-8 JSON that starts with ``{`` and may be padded
  at the end with spaces. It maps each tensor name to
  ``{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}`` and may
  hold ``"__metadata__"``, a map of str to str;
- the rest: the data buffer. Offsets count from its first byte; each tensor is
  ``end - begin`` bytes, little-endian, C order, packed (no strides).

Rules this module enforces on read, each failure a :class:`CheckpointError`
naming the file: the header is at most 100 MB (the reference limit) and lies
inside the file; it is UTF-8 JSON with no duplicate keys; every dtype is known;
every shape is a list of ints >= 0 and its size times the item size equals
``end - begin``; the ranges, sorted, tile the data buffer exactly from 0 to
its end, with no overlap, no hole and no trailing byte; BOOL bytes are 0 or 1.
Empty tensors (a 0 in the shape) and 0-d tensors (shape ``[]``) are allowed.

On write the header is padded with spaces to a multiple of 8 bytes and the
tensors are laid out by decreasing dtype alignment, then by name, as the
reference writer does, so every tensor starts aligned and files are
byte-identical to those of ``safetensors.numpy.save_file`` (when the metadata
has at most one key: the reference orders several keys at random).

Supported dtypes: BOOL, U8, I8, I16, U16, F16, I32, U32, F32, F64, I64, U64.
BF16 and the 8-bit float formats have no NumPy dtype and are refused on read.

Example::

    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "lstm.safetensors")
    >>> w = np.arange(6, dtype=np.float64).reshape(2, 3)
    >>> _ = save_file({"weight_hh_l0": w.T}, path, metadata={"hidden_size": "2"})
    >>> load_file(path)["weight_hh_l0"].shape, load_metadata(path)
    ((3, 2), {'hidden_size': '2'})
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Mapping

import numpy as np

from rnnkit.io.atomic import atomic_write
from rnnkit.io.errors import CheckpointError

MAX_HEADER_BYTES = 100_000_000  # the reference implementation's limit

# safetensors name -> little-endian NumPy dtype, in increasing alignment order: the
# reference writer lays tensors out in the reverse of this order, then by name.
_DTYPES = {
    "BOOL": np.dtype("?"),
    "U8": np.dtype("u1"),
    "I8": np.dtype("i1"),
    "I16": np.dtype("<i2"),
    "U16": np.dtype("<u2"),
    "F16": np.dtype("<f2"),
    "I32": np.dtype("<i4"),
    "U32": np.dtype("<u4"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I64": np.dtype("<i8"),
    "U64": np.dtype("<u8"),
}
_RANK = {name: i for i, name in enumerate(_DTYPES)}
_NAME_OF = {(dt.kind, dt.itemsize): name for name, dt in _DTYPES.items()}
_METADATA_KEY = "__metadata__"
_ENTRY_KEYS = {"dtype", "shape", "data_offsets"}


# -- writing ---------------------------------------------------------------------------------------
def encode_file(
    tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None, *, where: str = "encode_file"
) -> list:
    """The bytes of a safetensors file as a list of chunks (header first, then the arrays as views).

    Everything is checked before anything is returned, so a caller that writes
    several files (a checkpoint) fails before touching the disk; ``where``
    starts every error message. ``b"".join(encode_file(...))`` is the file.

    Example::

        >>> import numpy as np
        >>> from rnnkit.io import encode_file, load_bytes
        >>> raw = b"".join(encode_file({"w": np.arange(3, dtype=np.int64)}, {"note": "x"}))
        >>> load_bytes(raw)[0]["w"].tolist(), load_bytes(raw)[1]
        ([0, 1, 2], {'note': 'x'})
    """
    head, chunks = _prepare(where, tensors, metadata)
    return [head, *chunks]


def _prepare(where: str, tensors: Mapping, metadata) -> tuple[bytes, list]:
    """Check the input and return (8-byte length + padded header, data chunks in file order)."""
    if not isinstance(tensors, Mapping):
        raise TypeError(f"{where}: tensors must be a dict of name -> numpy array, got {type(tensors).__name__}")
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise TypeError(f"{where}: metadata must be a dict of str -> str or None, got {type(metadata).__name__}")
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError(
                    f"{where}: metadata must map str -> str, got {type(k).__name__} {k!r} -> {type(v).__name__}"
                )
    items = []
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"{where}: tensor names must be str, got {type(name).__name__} {name!r}")
        if name == _METADATA_KEY:
            raise ValueError(f"{where}: {_METADATA_KEY!r} is reserved for metadata and cannot name a tensor")
        if not isinstance(value, (np.ndarray, np.generic)):
            raise TypeError(f"{where}: tensors[{name!r}] must be a numpy array, got {type(value).__name__}")
        dt = np.asarray(value).dtype
        st_name = _NAME_OF.get((dt.kind, dt.itemsize))
        if st_name is None:
            raise TypeError(
                f"{where}: tensors[{name!r}] has dtype {dt}, which safetensors cannot hold here; "
                f"expected one of bool, uint8/16/32/64, int8/16/32/64, float16/32/64"
            )
        # asarray keeps 0-d arrays 0-d; it copies only for strided or big-endian input
        arr = np.asarray(value, dtype=_DTYPES[st_name], order="C")
        items.append((name, st_name, arr))
    items.sort(key=lambda item: (-_RANK[item[1]], item[0]))

    header: dict = {}
    if metadata is not None:
        header[_METADATA_KEY] = dict(metadata)
    chunks = []
    offset = 0
    for name, st_name, arr in items:
        nbytes = arr.size * arr.itemsize
        header[name] = {"dtype": st_name, "shape": list(arr.shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
        if nbytes:
            chunks.append(memoryview(arr.reshape(-1).view(np.uint8)))
    try:
        raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"{where}: a tensor name or metadata string is not valid Unicode ({e})") from None
    raw += b" " * (-len(raw) % 8)  # data then starts 8-byte aligned
    if len(raw) > MAX_HEADER_BYTES:
        raise ValueError(f"{where}: the header would be {len(raw)} bytes, more than the {MAX_HEADER_BYTES} allowed")
    return struct.pack("<Q", len(raw)) + raw, chunks


def save_file(
    tensors: Mapping[str, np.ndarray], path: str | os.PathLike, metadata: Mapping[str, str] | None = None
) -> str:
    """Write ``tensors`` (and string ``metadata``) to a safetensors file at ``path``, atomically.

    Any array layout is accepted (transposed, sliced, big-endian): it is
    written packed, little-endian, in C order. The write goes through
    :func:`rnnkit.io.atomic_write`, so ``path`` is never left half written.
    Returns the SHA-256 hex digest of the file's bytes.

    Example::

        >>> import numpy as np, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "t.safetensors")
        >>> len(save_file({"bias_ih_l0": np.zeros(8, np.float32)}, p))
        64
    """
    return atomic_write(path, encode_file(tensors, metadata, where=f"save_file({os.fspath(path)!r})"))


# -- reading ---------------------------------------------------------------------------------------
def _no_duplicates(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise ValueError(f"duplicate key {k!r}")
        obj[k] = v
    return obj


def _reject_constant(token):
    raise ValueError(f"{token} is not valid JSON")


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _header_length(source: str, prefix: bytes, file_size: int) -> int:
    if file_size < 8:
        raise CheckpointError(
            f"{source}: file is truncated: {file_size} bytes, expected at least the 8-byte header length"
        )
    (n,) = struct.unpack("<Q", prefix[:8])
    if n > MAX_HEADER_BYTES:
        raise CheckpointError(
            f"{source}: header length field says {n} bytes, more than the {MAX_HEADER_BYTES} allowed; "
            f"the file is corrupted or not safetensors"
        )
    if 8 + n > file_size:
        raise CheckpointError(
            f"{source}: header length field says {n} bytes but only {file_size - 8} follow it; "
            f"the file is truncated or not safetensors"
        )
    return n


def _parse_header(source: str, raw: bytes, data_len: int) -> tuple[list, dict]:
    """Validate the header against a data buffer of ``data_len`` bytes.

    Returns ([(name, dtype, shape, begin, end)] sorted by offset, metadata).
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CheckpointError(f"{source}: header is not valid UTF-8 ({e})") from None
    if not text.startswith("{"):
        raise CheckpointError(f"{source}: header must start with '{{', got {text[:20]!r}; not a safetensors file")
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except ValueError as e:  # JSONDecodeError is a ValueError; so are the two hooks' errors
        raise CheckpointError(f"{source}: header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{source}: header must be a JSON object, got {type(header).__name__}")

    metadata = header.pop(_METADATA_KEY, None)
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(f"{source}: {_METADATA_KEY} must map str -> str, got {json.dumps(metadata)[:200]}")

    entries = []
    for name, info in header.items():
        where = f"{source}: tensor {name!r}"
        if not isinstance(info, dict) or set(info) != _ENTRY_KEYS:
            got = sorted(info) if isinstance(info, dict) else type(info).__name__
            raise CheckpointError(f"{where} must have exactly the keys {sorted(_ENTRY_KEYS)}, got {got}")
        st_name, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if st_name not in _DTYPES:
            raise CheckpointError(
                f"{where} has unknown or unsupported dtype {st_name!r}; expected one of {list(_DTYPES)}"
            )
        if not isinstance(shape, list) or not all(_is_int(s) and s >= 0 for s in shape):
            raise CheckpointError(f"{where}: shape must be a list of ints >= 0, got {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) and o >= 0 for o in offsets)):
            raise CheckpointError(f"{where}: data_offsets must be [begin, end] with ints >= 0, got {offsets!r}")
        begin, end = offsets
        if end < begin:
            raise CheckpointError(f"{where}: data_offsets {offsets} end before they begin")
        expected = math.prod(shape) * _DTYPES[st_name].itemsize
        if end - begin != expected:
            raise CheckpointError(
                f"{where}: shape {shape} of {st_name} needs {expected} bytes but data_offsets {offsets} "
                f"span {end - begin}"
            )
        entries.append((name, st_name, tuple(shape), begin, end))

    entries.sort(key=lambda e: (e[3], e[4]))
    position, previous = 0, None
    for name, _, _, begin, end in entries:
        if begin < position:
            raise CheckpointError(
                f"{source}: tensor {name!r} at bytes [{begin}, {end}) overlaps tensor {previous!r}, "
                f"which ends at {position}"
            )
        if begin > position:
            raise CheckpointError(
                f"{source}: bytes [{position}, {begin}) of the data belong to no tensor (before {name!r}); "
                f"expected tensors to tile the data"
            )
        position, previous = end, name
    if position > data_len:
        raise CheckpointError(
            f"{source}: file is truncated: the header describes {position} data bytes but the file holds {data_len}"
        )
    if position < data_len:
        raise CheckpointError(
            f"{source}: {data_len - position} bytes after the last tensor (data ends at {position}, "
            f"file holds {data_len}); expected none"
        )
    return entries, metadata


def load_bytes(data: bytes | bytearray, *, source: str = "<bytes>") -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Parse a whole safetensors file held in memory; return ``(tensors, metadata)``.

    ``source`` names the data in error messages (a path, usually). The arrays
    are writable, in native byte order, and share one buffer: a ``bytearray``
    argument is used as that buffer without a copy.

    Example::

        >>> import numpy as np, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "t.safetensors")
        >>> _ = save_file({"x": np.arange(3)}, p, {"k": "v"})
        >>> t, m = load_bytes(open(p, "rb").read(), source=p)
        >>> t["x"].tolist(), m
        ([0, 1, 2], {'k': 'v'})
    """
    buf = data if isinstance(data, bytearray) else bytearray(data)  # writable arrays need a writable buffer
    n = _header_length(source, bytes(buf[:8]), len(buf))
    start = 8 + n
    entries, metadata = _parse_header(source, bytes(buf[8:start]), len(buf) - start)
    tensors = {}
    for name, st_name, shape, begin, end in entries:
        dt = _DTYPES[st_name]
        arr = np.frombuffer(buf, dtype=dt, count=(end - begin) // dt.itemsize, offset=start + begin).reshape(shape)
        if st_name == "BOOL" and arr.size and arr.view(np.uint8).max() > 1:
            raise CheckpointError(f"{source}: tensor {name!r} is BOOL but holds bytes other than 0 and 1")
        if not dt.isnative:  # big-endian machine
            arr = arr.astype(dt.newbyteorder("="))
        elif not arr.flags.aligned:  # written by a tool that does not pad its header
            arr = arr.copy()
        tensors[name] = arr
    return tensors, metadata


def load_file(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load every tensor of the safetensors file at ``path`` (drop-in for ``safetensors.numpy.load_file``).

    The file is validated completely (see the module docstring); anything
    wrong raises :class:`CheckpointError` naming the file. A missing file
    raises ``FileNotFoundError``. Read the metadata with :func:`load_metadata`.

    Example::

        >>> import numpy as np, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "t.safetensors")
        >>> _ = save_file({"h0": np.zeros((1, 2, 3))}, p)
        >>> load_file(p)["h0"].shape
        (1, 2, 3)
    """
    source = os.fspath(path)
    with open(source, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        buf = bytearray(size)
        got = f.readinto(buf)
    if got != size:
        raise CheckpointError(f"{source}: file changed while being read: expected {size} bytes, read {got}")
    return load_bytes(buf, source=source)[0]


def load_metadata(path: str | os.PathLike) -> dict[str, str]:
    """Return the ``__metadata__`` map of the safetensors file at ``path`` ({} when it has none).

    Reads only the header, but still checks all of it against the file's size.

    Example::

        >>> import numpy as np, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "t.safetensors")
        >>> _ = save_file({"w": np.ones(2)}, p, {"config": '{"hidden_size": 2}'})
        >>> load_metadata(p)
        {'config': '{"hidden_size": 2}'}
    """
    source = os.fspath(path)
    with open(source, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        n = _header_length(source, f.read(8), size)
        raw = f.read(n)
    if len(raw) != n:
        raise CheckpointError(f"{source}: file changed while being read: expected a {n}-byte header, read {len(raw)}")
    return _parse_header(source, raw, size - 8 - n)[1]
