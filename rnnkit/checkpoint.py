"""Checkpoints of training runs: weights, config, optimiser, trainer and RNG state, saved all or nothing.

Layout of a checkpoint directory (``keep=2``, after a few saves)::

    runs/lm/
        latest                    # pointer: {"checkpoint": "ckpt-00000007", "manifest_sha256": ...}
        ckpt-00000006/            # the previous checkpoint, kept
        ckpt-00000007/            # the newest complete checkpoint
            manifest.json         # format version, rnnkit version, SHA-256 and size of every file below
            model.safetensors     # weights under PyTorch names; metadata "config" (JSON) and "rnnkit_version"
            optimizer.safetensors # optimiser arrays; metadata "meta" (JSON)          (if optimizer_state given)
            trainer_state.json    # epoch, step, best loss, schedule, data position... (if trainer_state given)
            rng_states.json       # name -> np.random bit generator state              (if rng_states given)
            arrays.safetensors    # other arrays of the run, e.g. a recurrent state    (if arrays given)
                                  # carried across batches

``model.safetensors`` is a plain safetensors file: ``safetensors.numpy.load_file``
and ``safetensors.torch.load_file`` read it directly, and a PyTorch model with
the same architecture takes it with ``load_state_dict``.

Why a save can be killed at any instant and lose nothing: each save writes a
new hidden ``.tmp-ckpt-*`` directory, fsyncs every file in it, renames it to
``ckpt-<n>`` and fsyncs the parent; only then is ``latest`` replaced
atomically (:func:`rnnkit.io.atomic_write`). Until that replace, ``latest``
names the previous checkpoint, which nothing has touched. Checkpoints beyond
the newest ``keep`` are deleted only after the pointer has moved, and leftovers
of interrupted saves are swept then too. One process saves into a directory at
a time (in data-parallel training: rank 0).

Why damage is always noticed: ``manifest.json`` records the SHA-256 and size of
every file and a SHA-256 of itself, and ``latest`` records the manifest's
SHA-256, so a truncated file or a flipped byte anywhere raises
:class:`CheckpointError` naming the file, before anything is parsed.

Example::

    >>> import numpy as np, tempfile
    >>> d = tempfile.mkdtemp()
    >>> rng = np.random.default_rng(0)
    >>> _ = save_checkpoint(d, model_state={"weight_ih_l0": np.ones((8, 3), np.float32)},
    ...                     config={"cell": "gru", "hidden_size": 2}, trainer_state={"step": 100},
    ...                     rng_states={"data": rng})
    >>> ckpt = load_checkpoint(d, expected_config={"cell": "gru", "hidden_size": 2})
    >>> ckpt.trainer_state["step"], ckpt.generator("data").random() == rng.random()
    (100, True)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import numbers
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.io import CheckpointError, atomic_write, encode_file, fsync_dir, load_bytes

log = logging.getLogger(__name__)

FORMAT = "rnnkit.checkpoint"
FORMAT_VERSION = 1  # bump when the layout changes; loaders refuse versions they do not know
POINTER = "latest"
MANIFEST = "manifest.json"
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
TRAINER_FILE = "trainer_state.json"
RNG_FILE = "rng_states.json"
ARRAYS_FILE = "arrays.safetensors"
_OPTIONAL_FILES = (OPTIMIZER_FILE, TRAINER_FILE, RNG_FILE, ARRAYS_FILE)
_CKPT_RE = re.compile(r"ckpt-(\d{8,})")
_LEFTOVER_PREFIXES = (".tmp-ckpt-", ".trash-ckpt-")
_BIT_GENERATORS = {name: getattr(np.random, name) for name in ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")}


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """Everything one checkpoint holds; ``path`` is its ``ckpt-<n>`` directory.

    ``optimizer_state``, ``trainer_state`` and ``rng_states`` are None when
    the save did not include them.

    Example::

        >>> import numpy as np, tempfile
        >>> d = tempfile.mkdtemp()
        >>> _ = save_checkpoint(d, model_state={"w": np.zeros(2)}, config={"hidden_size": 2})
        >>> ckpt = load_checkpoint(d)
        >>> ckpt.config, ckpt.path.name, ckpt.optimizer_state is None
        ({'hidden_size': 2}, 'ckpt-00000001', True)
    """

    config: dict
    model_state: dict[str, np.ndarray] = dataclasses.field(repr=False)  # arrays: too long to print
    optimizer_state: dict | None = dataclasses.field(repr=False)
    trainer_state: dict | None
    rng_states: dict[str, dict] | None = dataclasses.field(repr=False)
    path: Path
    rnnkit_version: str = ""
    arrays: dict[str, np.ndarray] | None = dataclasses.field(default=None, repr=False)

    def load_into(self, model: Any, *, strict: bool = True) -> None:
        """Copy the weights into ``model`` (a :class:`rnnkit.Module`), naming this file if they do not fit."""
        try:
            model.load_state_dict(self.model_state, strict=strict)
        except (KeyError, ValueError, TypeError) as e:
            detail = e.args[0] if isinstance(e, KeyError) and e.args else e
            raise CheckpointError(
                f"{self.path / MODEL_FILE}: weights do not fit {type(model).__name__}: {detail}"
            ) from e

    def load_optimizer(self, optimizer: Any) -> None:
        """Give the saved optimiser state to ``optimizer.load_state_dict``, naming this file on failure."""
        if self.optimizer_state is None:
            raise CheckpointError(
                f"{self.path}: checkpoint has no {OPTIMIZER_FILE}; it was saved without optimizer_state"
            )
        try:
            optimizer.load_state_dict(self.optimizer_state)
        except (KeyError, ValueError, TypeError) as e:
            detail = e.args[0] if isinstance(e, KeyError) and e.args else e
            raise CheckpointError(
                f"{self.path / OPTIMIZER_FILE}: state does not fit {type(optimizer).__name__}: {detail}"
            ) from e

    def generator(self, name: str) -> np.random.Generator:
        """A ``np.random.Generator`` that continues exactly where the saved one ``name`` stopped."""
        if not self.rng_states or name not in self.rng_states:
            have = sorted(self.rng_states or {})
            raise KeyError(f"Checkpoint.generator: no RNG state named {name!r} in {self.path}; saved: {have}")
        state = self.rng_states[name]
        bit_generator = _BIT_GENERATORS[state["bit_generator"]]()
        bit_generator.state = state
        return np.random.Generator(bit_generator)


# -- JSON values -----------------------------------------------------------------------------------
def _jsonable(where: str, value, path: str, *, arrays_ok: bool = False):
    """A copy of ``value`` made of dict (str keys), list, str, int, float, bool and None.

    Tuples become lists and NumPy scalars Python numbers; anything else is a
    TypeError naming the path, so nothing is silently changed by the JSON trip.
    """
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: {path} has key {k!r} of type {type(k).__name__}; JSON keys must be str")
            out[k] = _jsonable(where, v, f"{path}[{k!r}]", arrays_ok=arrays_ok)
        return out
    if isinstance(value, (list, tuple)):
        return [_jsonable(where, v, f"{path}[{i}]", arrays_ok=arrays_ok) for i, v in enumerate(value)]
    if arrays_ok and isinstance(value, np.ndarray) and value.dtype.kind in "biu":
        return value.tolist()
    raise TypeError(
        f"{where}: {path} must be JSON-serialisable (dict with str keys, list, str, int, float, bool, None), "
        f"got {type(value).__name__}"
    )


def _dumps(value, *, strict: bool) -> str:
    # strict: the config lands in model.safetensors, read by other tools; standard JSON has no NaN/Infinity.
    # Trainer state may hold best_loss = inf, which Python's json writes and reads back as Infinity.
    return json.dumps(value, sort_keys=True, indent=1, allow_nan=not strict)


def _canonical_hash(obj: dict) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def _rng_state(where: str, name: str, value) -> dict:
    """Normalise a Generator / BitGenerator / state dict to a JSON-ready state, checking numpy accepts it."""
    if isinstance(value, np.random.Generator):
        value = value.bit_generator
    if isinstance(value, np.random.BitGenerator):
        value = value.state
    if not isinstance(value, Mapping) or value.get("bit_generator") not in _BIT_GENERATORS:
        got = value.get("bit_generator") if isinstance(value, Mapping) else type(value).__name__
        raise TypeError(
            f"{where}: rng_states[{name!r}] must be a Generator or its bit_generator.state dict with "
            f"bit_generator one of {sorted(_BIT_GENERATORS)}, got {got!r}"
        )
    return _jsonable(where, value, f"rng_states[{name!r}]", arrays_ok=True)


def _restore_rng_state(source: str, name: str, state) -> dict:
    """numpy's own form of a state read back from JSON (lists become arrays again), validated by numpy."""
    if not isinstance(state, dict) or state.get("bit_generator") not in _BIT_GENERATORS:
        raise CheckpointError(f"{source}: {name!r} is not a bit generator state of {sorted(_BIT_GENERATORS)}")
    bit_generator = _BIT_GENERATORS[state["bit_generator"]]()
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError) as e:
        raise CheckpointError(f"{source}: numpy rejects the state {name!r}: {e}") from None
    return bit_generator.state


# -- saving ----------------------------------------------------------------------------------------
def _version() -> str:
    import rnnkit  # at call time: rnnkit/__init__ may import this module before defining __version__

    return str(getattr(rnnkit, "__version__", "unknown"))


def _checkpoint_dirs(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for p in directory.iterdir():
        m = _CKPT_RE.fullmatch(p.name)
        if m and p.is_dir():
            found.append((int(m.group(1)), p))
    return sorted(found)


def save_checkpoint(
    directory: str | os.PathLike,
    *,
    model_state: Mapping[str, np.ndarray],
    config: Mapping | Any,
    optimizer_state: Mapping | None = None,
    trainer_state: Mapping | None = None,
    rng_states: Mapping[str, Any] | None = None,
    arrays: Mapping[str, np.ndarray] | None = None,
    keep: int = 2,
) -> Path:
    """Save a new checkpoint under ``directory`` all or nothing; return its ``ckpt-<n>`` path.

    ``model_state`` is ``model.state_dict()``; ``config`` a JSON-serialisable
    dict (or a dataclass, saved as ``dataclasses.asdict``); ``optimizer_state``
    is ``{"arrays": {name: ndarray}, "meta": {JSON}}``; ``trainer_state`` any
    JSON-serialisable dict; ``rng_states`` maps names to ``np.random.Generator``
    objects or their ``bit_generator.state`` dicts; ``arrays`` any other named
    arrays the run needs to continue (a recurrent state carried across
    batches, say). Everything is checked
    before the first byte is written. After the pointer moves, all but the
    newest ``keep`` checkpoints are deleted. See the module docstring for the
    layout and for why an interrupted save leaves the previous checkpoint whole.

    Example::

        >>> import numpy as np, tempfile
        >>> d = tempfile.mkdtemp()
        >>> for step in (1, 2, 3):
        ...     p = save_checkpoint(d, model_state={"w": np.full(2, step)}, config={}, trainer_state={"step": step})
        >>> p.name, sorted(q.name for q in p.parent.iterdir())
        ('ckpt-00000003', ['ckpt-00000002', 'ckpt-00000003', 'latest'])
    """
    where = "save_checkpoint"
    if isinstance(keep, bool) or not isinstance(keep, numbers.Integral) or keep < 1:
        raise ValueError(f"{where}: keep must be an int >= 1, got {keep!r}")
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if not isinstance(config, Mapping):
        raise TypeError(f"{where}: config must be a dict or a dataclass instance, got {type(config).__name__}")
    try:
        config_json = _dumps(_jsonable(where, config, "config"), strict=True)
    except ValueError:  # json's own message does not say where
        raise ValueError(
            f"{where}: config must hold only finite numbers (standard JSON has no NaN or Infinity)"
        ) from None
    version = _version()

    # Encode every file in memory (arrays stay as views) so that bad input fails before disk is touched.
    files: dict[str, list] = {}
    files[MODEL_FILE] = encode_file(
        model_state, {"config": config_json, "rnnkit_version": version}, where=f"{where}: model_state"
    )

    if optimizer_state is not None:
        if not isinstance(optimizer_state, Mapping) or set(optimizer_state) != {"arrays", "meta"}:
            got = sorted(optimizer_state) if isinstance(optimizer_state, Mapping) else type(optimizer_state).__name__
            raise TypeError(f"{where}: optimizer_state must be a dict with keys ['arrays', 'meta'], got {got}")
        meta_json = _dumps(_jsonable(where, optimizer_state["meta"], "optimizer_state['meta']"), strict=False)
        files[OPTIMIZER_FILE] = encode_file(
            optimizer_state["arrays"],
            {"meta": meta_json, "rnnkit_version": version},
            where=f"{where}: optimizer_state['arrays']",
        )
    if trainer_state is not None:
        if not isinstance(trainer_state, Mapping):
            raise TypeError(f"{where}: trainer_state must be a dict, got {type(trainer_state).__name__}")
        files[TRAINER_FILE] = [_dumps(_jsonable(where, trainer_state, "trainer_state"), strict=False).encode()]
    if rng_states is not None:
        if not isinstance(rng_states, Mapping):
            raise TypeError(
                f"{where}: rng_states must be a dict of name -> Generator state, got {type(rng_states).__name__}"
            )
        states = {}
        for name, value in rng_states.items():
            if not isinstance(name, str):
                raise TypeError(f"{where}: rng_states keys must be str, got {type(name).__name__} {name!r}")
            states[name] = _rng_state(where, name, value)
        files[RNG_FILE] = [_dumps(states, strict=True).encode()]
    if arrays is not None:
        files[ARRAYS_FILE] = encode_file(arrays, {"rnnkit_version": version}, where=f"{where}: arrays")

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    existing = _checkpoint_dirs(directory)
    index = existing[-1][0] + 1 if existing else 1
    name = f"ckpt-{index:08d}"
    tmp = directory / f".tmp-{name}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        listing = {}
        for filename, file_chunks in files.items():
            size = sum(len(c) if isinstance(c, bytes) else c.nbytes for c in file_chunks)
            listing[filename] = {"sha256": atomic_write(tmp / filename, file_chunks), "size": size}
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "rnnkit_version": version,
            "checkpoint": name,
            "files": listing,
        }
        manifest["manifest_sha256"] = _canonical_hash(manifest)
        manifest_sha = atomic_write(tmp / MANIFEST, [_dumps(manifest, strict=True).encode()])
        os.rename(tmp, directory / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(directory)
    # The commit point: before this replace `latest` names the previous checkpoint, after it this one.
    pointer = {"format": FORMAT, "checkpoint": name, "manifest_sha256": manifest_sha}
    atomic_write(directory / POINTER, [_dumps(pointer, strict=True).encode()])
    _prune(directory, keep, current=name)
    return directory / name


def _prune(directory: Path, keep: int, current: str) -> None:
    """Delete all but the newest ``keep`` checkpoints (never ``current``) and leftovers of interrupted saves."""
    old = [p for _, p in _checkpoint_dirs(directory)[:-keep] if p.name != current]
    for p in old:
        trash = directory / f".trash-{p.name}-{secrets.token_hex(4)}"
        try:
            os.rename(p, trash)  # a ckpt-* name always means a complete checkpoint, even mid-delete
        except OSError as e:
            log.warning("could not remove old checkpoint %s: %s", p, e)
    for p in directory.iterdir():
        if p.name.startswith(_LEFTOVER_PREFIXES) and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)


# -- loading ---------------------------------------------------------------------------------------
def _read_json(source: str, raw: bytes):
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"{source}: not valid JSON ({e})") from None


def _read_pointer(directory: Path) -> tuple[Path, str] | None:
    """(the checkpoint directory `latest` names, the manifest SHA-256 it records); None without a pointer."""
    pointer_path = directory / POINTER
    try:
        raw = pointer_path.read_bytes()
    except FileNotFoundError:
        return None
    pointer = _read_json(str(pointer_path), raw)
    name = pointer.get("checkpoint") if isinstance(pointer, dict) else None
    sha = pointer.get("manifest_sha256") if isinstance(pointer, dict) else None
    if (
        not isinstance(pointer, dict)
        or pointer.get("format") != FORMAT
        or not isinstance(name, str)
        or not _CKPT_RE.fullmatch(name)
        or not isinstance(sha, str)
    ):
        raise CheckpointError(
            f"{pointer_path}: expected {{'format': {FORMAT!r}, 'checkpoint': 'ckpt-<n>', 'manifest_sha256': ...}}, "
            f"got {raw[:200]!r}; the pointer is corrupted"
        )
    return directory / name, sha


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint under ``directory`` (what `latest` names), or None if there is none.

    Raises :class:`CheckpointError` if the pointer exists but is damaged or
    names a checkpoint that is gone.

    Example::

        >>> import numpy as np, tempfile
        >>> d = tempfile.mkdtemp()
        >>> latest_checkpoint(d) is None
        True
        >>> _ = save_checkpoint(d, model_state={"w": np.zeros(1)}, config={})
        >>> latest_checkpoint(d).name
        'ckpt-00000001'
    """
    directory = Path(directory)
    if not directory.is_dir():
        return None
    found = _read_pointer(directory)
    if found is None:
        return None
    path, _ = found
    if not path.is_dir():
        raise CheckpointError(f"{directory / POINTER}: names {path.name}, which does not exist in {directory}")
    return path


def _verified_files(path: Path, expected_manifest_sha: str | None) -> tuple[dict, dict[str, bytearray]]:
    """Read the manifest and every file it lists, checking sizes and SHA-256 digests."""
    manifest_path = path / MANIFEST
    try:
        raw = manifest_path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{manifest_path}: missing; {path} is not a complete checkpoint") from None
    if expected_manifest_sha is not None and hashlib.sha256(raw).hexdigest() != expected_manifest_sha:
        raise CheckpointError(
            f"{manifest_path}: SHA-256 {hashlib.sha256(raw).hexdigest()} differs from {expected_manifest_sha} "
            f"recorded in {path.parent / POINTER}; the manifest or the pointer is corrupted"
        )
    manifest = _read_json(str(manifest_path), raw)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{manifest_path}: not an rnnkit checkpoint manifest (expected format {FORMAT!r})")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{manifest_path}: format_version {version!r} is not one this rnnkit reads (expected {FORMAT_VERSION}); "
            f"it was written by rnnkit {manifest.get('rnnkit_version')!r}"
        )
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    if manifest.get("manifest_sha256") != _canonical_hash(body):
        raise CheckpointError(f"{manifest_path}: its content does not match its own SHA-256; the manifest is corrupted")
    listing = manifest.get("files")
    known = {MODEL_FILE, *_OPTIONAL_FILES}
    if not isinstance(listing, dict) or MODEL_FILE not in listing or not set(listing) <= known:
        raise CheckpointError(f"{manifest_path}: files must list {MODEL_FILE} and only known files, got {listing!r}")

    contents = {}
    for filename, entry in listing.items():
        file_path = path / filename
        if not (
            isinstance(entry, dict) and isinstance(entry.get("sha256"), str) and isinstance(entry.get("size"), int)
        ):
            raise CheckpointError(
                f"{manifest_path}: entry for {filename} must be {{'sha256': str, 'size': int}}, got {entry!r}"
            )
        try:
            data = bytearray(file_path.read_bytes())
        except FileNotFoundError:
            raise CheckpointError(f"{file_path}: missing, but {manifest_path} lists it") from None
        if len(data) != entry["size"]:
            raise CheckpointError(
                f"{file_path}: {len(data)} bytes, expected {entry['size']} (recorded in {MANIFEST}); "
                f"the file is truncated or was changed"
            )
        digest = hashlib.sha256(data).hexdigest()
        if digest != entry["sha256"]:
            raise CheckpointError(
                f"{file_path}: SHA-256 {digest} differs from {entry['sha256']} recorded in {MANIFEST}; "
                f"the file is corrupted"
            )
        contents[filename] = data
    return manifest, contents


def load_checkpoint(
    directory: str | os.PathLike, *, expected_config: Mapping | None = None, ignore: Iterable[str] = ()
) -> Checkpoint:
    """Load the checkpoint `latest` names under ``directory`` (or ``directory`` itself if it is a ``ckpt-<n>``).

    Every file is checked against the manifest before it is parsed. With
    ``expected_config`` the saved config must equal it, apart from the dotted
    keys in ``ignore`` (see :func:`check_compatible`). Raises
    :class:`CheckpointError` naming the file for a missing directory or
    pointer, a truncated or corrupted file, an unknown format version or a
    config mismatch.

    Example::

        >>> import numpy as np, tempfile
        >>> d = tempfile.mkdtemp()
        >>> _ = save_checkpoint(d, model_state={"w": np.arange(3.0)}, config={"hidden_size": 3, "lr": 0.1})
        >>> ckpt = load_checkpoint(d, expected_config={"hidden_size": 3, "lr": 0.01}, ignore=["lr"])
        >>> ckpt.model_state["w"].tolist()
        [0.0, 1.0, 2.0]
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: checkpoint directory does not exist")
    if (directory / MANIFEST).exists():
        path, manifest_sha = directory, None
    else:
        found = _read_pointer(directory)
        if found is None:
            raise CheckpointError(f"{directory}: no checkpoint here ({POINTER} pointer file is missing)")
        path, manifest_sha = found
        if not path.is_dir():
            raise CheckpointError(f"{directory / POINTER}: names {path.name}, which does not exist in {directory}")
    manifest, contents = _verified_files(path, manifest_sha)

    source = str(path / MODEL_FILE)
    model_state, meta = load_bytes(contents[MODEL_FILE], source=source)
    if "config" not in meta:
        raise CheckpointError(f"{source}: metadata has no 'config' entry; not saved by save_checkpoint")
    config = _read_json(f"{source} (metadata 'config')", meta["config"].encode("utf-8"))
    if not isinstance(config, dict):
        raise CheckpointError(f"{source}: metadata 'config' must be a JSON object, got {type(config).__name__}")

    optimizer_state = None
    if OPTIMIZER_FILE in contents:
        source = str(path / OPTIMIZER_FILE)
        arrays, meta = load_bytes(contents[OPTIMIZER_FILE], source=source)
        if "meta" not in meta:
            raise CheckpointError(f"{source}: metadata has no 'meta' entry; not saved by save_checkpoint")
        optimizer_state = {"arrays": arrays, "meta": _read_json(f"{source} (metadata 'meta')", meta["meta"].encode())}

    trainer_state = None
    if TRAINER_FILE in contents:
        trainer_state = _read_json(str(path / TRAINER_FILE), bytes(contents[TRAINER_FILE]))

    rng_states = None
    if RNG_FILE in contents:
        source = str(path / RNG_FILE)
        raw_states = _read_json(source, bytes(contents[RNG_FILE]))
        if not isinstance(raw_states, dict):
            raise CheckpointError(f"{source}: expected a JSON object of name -> state, got {type(raw_states).__name__}")
        rng_states = {k: _restore_rng_state(source, k, v) for k, v in raw_states.items()}

    extra_arrays = None
    if ARRAYS_FILE in contents:
        extra_arrays, _ = load_bytes(contents[ARRAYS_FILE], source=str(path / ARRAYS_FILE))

    ckpt = Checkpoint(
        arrays=extra_arrays,
        config=config,
        model_state=model_state,
        optimizer_state=optimizer_state,
        trainer_state=trainer_state,
        rng_states=rng_states,
        path=path,
        rnnkit_version=str(manifest.get("rnnkit_version", "")),
    )
    if expected_config is not None:
        check_compatible(ckpt, expected_config, ignore=ignore)
    return ckpt


# -- compatibility ---------------------------------------------------------------------------------
def _differences(saved, expected, path: str, out: list) -> None:
    if isinstance(saved, dict) and isinstance(expected, dict):
        for k in sorted(set(saved) | set(expected)):
            sub = f"{path}.{k}" if path else k
            if k not in saved:
                out.append((sub, f"missing in the checkpoint (expected {expected[k]!r})"))
            elif k not in expected:
                out.append((sub, f"only in the checkpoint ({saved[k]!r})"))
            else:
                _differences(saved[k], expected[k], sub, out)
    elif saved != expected or isinstance(saved, bool) != isinstance(expected, bool):
        out.append((path, f"checkpoint has {saved!r}, expected {expected!r}"))


def check_compatible(ckpt: Checkpoint | Mapping, config: Mapping | Any, *, ignore: Iterable[str] = ()) -> None:
    """Raise :class:`CheckpointError` naming every key where the saved config differs from ``config``.

    Nested dicts are compared key by key and reported with dotted paths
    (``encoder.hidden_size``); a path in ``ignore`` skips that key and
    everything under it (say the learning rate, when resuming with a new one).
    ``config`` goes through the same JSON normalisation as at save time, so a
    tuple equals the list it was saved as.

    Example::

        >>> try:
        ...     check_compatible({"hidden_size": 4, "lr": 0.1}, {"hidden_size": 8, "lr": 0.1})
        ... except CheckpointError as e:
        ...     print(str(e).split(": ", 2)[2])
        hidden_size: checkpoint has 4, expected 8
    """
    where = "check_compatible"
    if isinstance(ckpt, Checkpoint):
        saved, source = ckpt.config, str(ckpt.path / MODEL_FILE)
    else:
        saved, source = _jsonable(where, ckpt, "ckpt"), "config"
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    expected = _jsonable(where, config, "config")
    ignore = [ignore] if isinstance(ignore, str) else list(ignore)
    found: list = []
    _differences(saved, expected, "", found)
    found = [(p, msg) for p, msg in found if not any(p == i or p.startswith(i + ".") for i in ignore)]
    if found:
        listed = "; ".join(f"{p}: {msg}" for p, msg in found)
        raise CheckpointError(f"{source}: the checkpoint's config differs from the expected one: {listed}")


# -- a nested recurrent state <-> named arrays (the ``arrays`` of a checkpoint) -----------------------------
def flatten_state(state: Any, prefix: str = "state") -> tuple[Any, dict[str, np.ndarray]]:
    """(structure, arrays) of ``state``: None, an array, or a (nested) tuple or list of them.

    ``arrays`` names every array by its position (``state.0.1``: element 1 of
    element 0); ``structure`` is the same nesting with those names in place of
    the arrays (JSON: lists, strings, None), for ``trainer_state``. A save
    passes ``arrays`` as :func:`save_checkpoint`'s ``arrays``; a load gives
    the state back with :func:`unflatten_state`. Distinct ``prefix`` values
    keep several states apart in one checkpoint.

    >>> h, c = np.zeros((2, 3)), np.ones((2, 3))
    >>> structure, arrays = flatten_state(((h, c), None))
    >>> structure, sorted(arrays)
    ([['state.0.0', 'state.0.1'], None], ['state.0.0', 'state.0.1'])
    >>> unflatten_state(structure, arrays)[0][1] is c
    True
    """
    if state is None:
        return None, {}
    if isinstance(state, np.ndarray):
        return prefix, {prefix: state}
    if isinstance(state, (tuple, list)):
        parts, arrays = [], {}
        for i, s in enumerate(state):
            p, a = flatten_state(s, f"{prefix}.{i}")
            parts.append(p)
            arrays.update(a)
        return parts, arrays
    raise TypeError(f"flatten_state: state must be None, an array or a tuple of them, got {type(state).__name__}")


def unflatten_state(structure: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    """The state :func:`flatten_state` took apart: ``structure`` with each name replaced by its array (tuples)."""
    if structure is None:
        return None
    if isinstance(structure, str):
        return arrays[structure]
    return tuple(unflatten_state(s, arrays) for s in structure)


__all__ = [
    "Checkpoint",
    "CheckpointError",
    "flatten_state",
    "unflatten_state",
    "save_checkpoint",
    "load_checkpoint",
    "latest_checkpoint",
    "check_compatible",
]
