"""A run directory: where one training run keeps everything needed to evaluate, sample or continue it.

Layout (every kind of run uses the names it needs)::

    RUN/
        run.json              the resolved config of the run (a frozen dataclass, as JSON)
        manifest.json         SHA-256 of run.json, vocab.json and the model file, checked on every read
        vocab.json            the vocabulary (rnnkit.text.Vocabulary), for models over text
        source_vocab.json     an encoder-decoder's two vocabularies (write_vocab / read_vocab by name)
        target_vocab.json
        metrics.json          scores a kind of run keeps beside its log (write_json)
        result.json           what the finished run measured, and the command that started it
        checkpoints/          model, optimiser, trainer and RNG state (rnnkit.checkpoint)
        log.jsonl             one record per log interval and per evaluation (rnnkit.trainer)
        learning_curve.png    train and validation loss against updates (with matplotlib)
        <model file>          what a model saves by itself (ngram.safetensors)

Every file is written atomically (:mod:`rnnkit.io.atomic`). :meth:`RunDir.create`
refuses a directory that already holds a run unless told to overwrite it, and
checks that the place is writable before any work starts; :meth:`RunDir.open`
checks that the files a kind of run needs are there, with errors naming the flag
the path came from.

Integrity: every file a run reads back is checked. The checkpoints carry their
own manifest (:mod:`rnnkit.checkpoint`); run.json, vocab.json and a model file
such as ngram.safetensors are recorded in the run's ``manifest.json`` (their
SHA-256, and a SHA-256 of the manifest itself) when written, and a read of any
of them whose bytes differ raises :class:`rnnkit.io.CheckpointError` naming the
file, so a one-character edit cannot silently change an evaluation. A run
written before manifests existed (no manifest.json) is read unchecked.

Example
-------
>>> import tempfile, os
>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Cfg:
...     order: int = 3
>>> path = os.path.join(tempfile.mkdtemp(), "run")
>>> run = RunDir.create(path)
>>> run.write_config(Cfg(order=5)); run.read_config(Cfg)
Cfg(order=5)
>>> RunDir.create(path)
Traceback (most recent call last):
...
FileExistsError: --out: ... already holds a run (run.json); pass --overwrite to replace it
>>> RunDir.open(path, needs=("run.json",)).read_config(Cfg).order
5
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rnnkit.io import CheckpointError, atomic_write
from rnnkit.text.corpus import file_kind
from rnnkit.text.vocab import Vocabulary

__all__ = [
    "RunDir",
    "save_figure",
    "RESULT_FILE",
    "CONFIG_FILE",
    "VOCAB_FILE",
    "CHECKPOINT_DIR",
    "PLOT_FILE",
    "RUN_ENTRIES",
]

CONFIG_FILE, VOCAB_FILE, CHECKPOINT_DIR, PLOT_FILE = "run.json", "vocab.json", "checkpoints", "learning_curve.png"
MANIFEST_FILE = "manifest.json"
RESULT_FILE = "result.json"  # what a finished run measured and how it was started (parameters, command, ...)
MANIFEST_FORMAT = "rnnkit.run"
# Everything a run may hold; --overwrite removes exactly these (other files in the directory are left alone).
RUN_ENTRIES = (
    CONFIG_FILE,
    VOCAB_FILE,
    CHECKPOINT_DIR,
    PLOT_FILE,
    "log.jsonl",
    "log.csv",
    "ngram.safetensors",
    "source_vocab.json",
    "target_vocab.json",
    "metrics.json",
    "result.json",
    MANIFEST_FILE,
)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest_hash(files: dict) -> str:
    return _sha256(json.dumps({"format": MANIFEST_FORMAT, "files": files}, sort_keys=True).encode("utf-8"))


class RunDir:
    """One run directory (see the module docstring). ``flag`` names where its path came from, for messages."""

    def __init__(self, path: str | os.PathLike, *, flag: str = "--run") -> None:
        self.path = Path(path)
        self.flag = flag

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # -- the files --------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def vocab_path(self) -> Path:
        return self.path / VOCAB_FILE

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / CHECKPOINT_DIR

    @property
    def plot_path(self) -> Path:
        return self.path / PLOT_FILE

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST_FILE

    # -- integrity ----------------------------------------------------------------------------------
    def _manifest(self) -> dict | None:
        """The recorded file digests ({name: sha256}); None for a run without a manifest."""
        try:
            raw = self.manifest_path.read_bytes()
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise CheckpointError(f"{self.manifest_path}: is a directory, not the run's manifest") from None
        try:
            manifest = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            manifest = None
        files = manifest.get("files") if isinstance(manifest, dict) else None
        if (
            not isinstance(files, dict)
            or manifest.get("format") != MANIFEST_FORMAT
            or manifest.get("manifest_sha256") != _manifest_hash(files)
        ):
            raise CheckpointError(f"{self.manifest_path}: damaged (its content does not match its own SHA-256)")
        return files

    def record(self, name: str, data: bytes | None = None) -> None:
        """Record the SHA-256 of the run's file ``name`` (its bytes ``data``, read if None) in manifest.json."""
        if data is None:
            data = (self.path / name).read_bytes()
        try:
            files = dict(self._manifest() or {})
        except CheckpointError:
            files = {}  # a damaged manifest is rewritten by a new run
        files[name] = _sha256(data)
        body = {"format": MANIFEST_FORMAT, "files": files, "manifest_sha256": _manifest_hash(files)}
        atomic_write(self.manifest_path, [json.dumps(body, indent=1, sort_keys=True).encode("utf-8")])

    def read_checked(self, name: str) -> bytes:
        """The bytes of the run's file ``name``, checked against manifest.json; CheckpointError if they differ."""
        path = self.path / name
        if path.is_dir():
            raise CheckpointError(f"{path}: is a directory, not a file of the run")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise CheckpointError(f"{self.path}: not a complete run ({name} is missing)") from None
        files = self._manifest()
        if files is None:
            return data  # a run written before manifests existed
        if name not in files:
            raise CheckpointError(f"{path}: not recorded in {self.manifest_path}; the run is incomplete or altered")
        if _sha256(data) != files[name]:
            raise CheckpointError(
                f"{path}: changed since the run wrote it (SHA-256 differs from {MANIFEST_FILE}); "
                "the file is damaged or was edited"
            )
        return data

    def holds_run(self) -> bool:
        """Whether the directory already holds any file or folder a run writes."""
        return self.path.is_dir() and any((self.path / name).exists() for name in RUN_ENTRIES)

    # -- create and open ----------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike, *, overwrite: bool = False, flag: str = "--out") -> RunDir:
        """A new run directory at ``path``: created if absent; refused if it holds a run, unless ``overwrite``.

        With ``overwrite`` the entries of the old run (:data:`RUN_ENTRIES`) are
        removed first. Raises FileExistsError (a run is there), NotADirectoryError
        (a file is there) or PermissionError (the place is not writable) before
        any work is done.
        """
        run = cls(path, flag=flag)
        if run.path.exists() and not run.path.is_dir():
            raise NotADirectoryError(f"{flag}: {run.path} is a file, not a directory")
        if run.holds_run():
            found = next(name for name in RUN_ENTRIES if (run.path / name).exists())
            if not overwrite:
                raise FileExistsError(
                    f"{flag}: {run.path} already holds a run ({found}); pass --overwrite to replace it"
                )
            for name in RUN_ENTRIES:
                p = run.path / name
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                elif p.exists() or p.is_symlink():
                    p.unlink()
        missing = [p for p in (run.path, *run.path.parents) if not p.exists()]
        try:
            run.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise PermissionError(f"{flag}: cannot create {run.path}: {e.strerror or e}") from None
        run._created = missing[::-1]  # outermost first
        if not os.access(run.path, os.W_OK | os.X_OK):
            run.discard()
            raise PermissionError(f"{flag}: {run.path} is not writable")
        return run

    def discard(self) -> None:
        """Undo :meth:`create` for a run that failed before training: its entries, and the folders it made."""
        for name in RUN_ENTRIES:
            p = self.path / name
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            elif p.exists() or p.is_symlink():
                p.unlink()
        for p in reversed(getattr(self, "_created", [])):
            try:
                p.rmdir()
            except OSError:
                break

    @classmethod
    def open(cls, path: str | os.PathLike, *, needs: Iterable[str] = (), flag: str = "--run", what: str = "") -> RunDir:
        """An existing run directory; CheckpointError if one of the files ``needs`` is missing.

        ``what`` names the command that writes such runs, for the message
        (``not a run directory of 'rnnkit lm train' (vocab.json is missing)``).
        """
        run = cls(path, flag=flag)
        if not run.path.is_dir():
            kind = file_kind(run.path)
            if kind == "nothing":
                raise FileNotFoundError(f"{flag}: no such directory: {run.path}")
            raise NotADirectoryError(f"{flag}: {run.path} is {kind}, not a run directory")
        for name in needs:
            if not (run.path / name).exists():
                kind = f" of {what}" if what else ""
                raise CheckpointError(f"{run.path}: not a run directory{kind} ({name} is missing)")
        return run

    # -- config -------------------------------------------------------------------------------------
    def write_config(self, config: Any) -> None:
        """Save ``config`` (a frozen config dataclass, or a plain dict) as run.json, atomically, recorded in the
        run's manifest."""
        fields = config if isinstance(config, dict) else dataclasses.asdict(config)
        data = json.dumps(fields, indent=2).encode("utf-8")
        atomic_write(self.config_path, [data])
        self.record(CONFIG_FILE, data)

    def read_raw_config(self) -> dict:
        """run.json as a dict (checked against the manifest); CheckpointError if it is not a JSON object."""
        try:
            data = self.read_checked(CONFIG_FILE)
            raw = json.loads(data.decode("utf-8"))
        except CheckpointError:
            raise
        except (ValueError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{self.config_path}: unreadable run file: {e}") from None
        if not isinstance(raw, dict):
            raise CheckpointError(f"{self.config_path}: unreadable run file: expected a JSON object")
        return raw

    def read_config(self, config_cls: type, *, renamed: Mapping[str, str] | None = None, strict: bool = False) -> Any:
        """run.json as a ``config_cls``; ``renamed`` maps old field names to new.

        Fields it does not know are ignored, or with ``strict`` refused (CheckpointError naming them).
        """
        raw = self.read_raw_config()
        for old, new in (renamed or {}).items():
            if old in raw and new not in raw:
                raw[new] = raw.pop(old)
        known = {f.name for f in dataclasses.fields(config_cls)}
        if strict and set(raw) - known:
            raise CheckpointError(
                f"{self.path}: unreadable run files: {CONFIG_FILE} has fields this rnnkit does not know: "
                f"{sorted(set(raw) - known)}"
            )
        try:
            return config_cls(**{k: v for k, v in raw.items() if k in known})
        except (ValueError, TypeError) as e:
            raise CheckpointError(f"{self.path}: unreadable run files: {e}") from None

    # -- vocabularies and other JSON files ----------------------------------------------------------
    def write_vocab(self, vocab: Vocabulary, name: str = VOCAB_FILE) -> None:
        """Save the vocabulary as ``name`` (vocab.json; an encoder-decoder keeps two), atomically, and record it."""
        data = vocab.to_json().encode("utf-8")
        atomic_write(self.path / name, [data])
        self.record(name, data)

    def read_vocab(self, name: str = VOCAB_FILE) -> Vocabulary:
        """The vocabulary saved as ``name`` (checked against the manifest); CheckpointError if it is not one."""
        try:
            data = self.read_checked(name)
            return Vocabulary.from_json(data.decode("utf-8"))
        except CheckpointError:
            raise
        except (ValueError, TypeError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{self.path}: unreadable run files: {name}: {e}") from None

    def write_json(self, name: str, obj: Any) -> Path:
        """Save a JSON-serialisable object as the file ``name`` of the run (e.g. metrics.json), atomically."""
        if name not in RUN_ENTRIES:  # --overwrite removes exactly RUN_ENTRIES: a file outside them would stay
            raise ValueError(f"RunDir.write_json: name must be one of the run's files {RUN_ENTRIES}, got {name!r}")
        path = self.path / name
        data = json.dumps(obj, indent=2).encode("utf-8")
        atomic_write(path, [data])
        self.record(name, data)
        return path

    # -- plots --------------------------------------------------------------------------------------
    def write_figure(self, fig: Any, name: str = PLOT_FILE) -> Path:
        """Save a matplotlib figure as PNG under the run, atomically; return its path."""
        return save_figure(fig, self.path / name)


def save_figure(fig: Any, path: str | os.PathLike) -> Path:
    """Save a matplotlib figure at ``path`` atomically (parent folders created); return the path.

    The format follows the file's extension (PNG when it has none), as ``fig.savefig(path)`` would.
    """
    path = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix[1:].lower() or "png", dpi=100)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, [buf.getvalue()])
    return path
