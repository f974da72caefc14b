"""Files on disk: the safetensors format in NumPy, and writes that are never half done.

Everything rnnkit writes goes through :func:`atomic_write`: the bytes go to a
temporary file in the target's directory, which is flushed, fsynced and then
renamed over the target, and the directory is fsynced so that the rename itself
survives a power cut. A reader therefore sees the old file or the new one,
never a mixture, whatever instant the writing process dies at.

Everything rnnkit reads from such files is checked, and a file that is not what
it should be raises :class:`CheckpointError` naming the file and the problem.
No loader here can run code from a file: there is no pickle anywhere.

Example::

    >>> import numpy as np, tempfile, os
    >>> from rnnkit.io import save_file, load_file, load_metadata
    >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
    >>> _ = save_file({"weight_ih_l0": np.eye(2, dtype=np.float32)}, path, {"note": "demo"})
    >>> load_file(path)["weight_ih_l0"].dtype, load_metadata(path)
    (dtype('float32'), {'note': 'demo'})
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable


class CheckpointError(ValueError):
    """A file (or directory of files) rnnkit was asked to load is missing, damaged or incompatible.

    The message names the file, what is wrong, and what was expected.
    """


def _fsync_dir(directory: str | os.PathLike) -> None:
    """Make a rename or creation inside ``directory`` durable."""
    if os.name == "nt":  # Windows cannot open a directory to fsync it; NTFS journals the rename
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, chunks: Iterable) -> str:
    """Write the byte-like ``chunks`` to ``path`` atomically; return the SHA-256 hex digest written.

    The data goes to a hidden temporary file beside ``path`` (same directory,
    so the final rename cannot cross file systems), is flushed and fsynced,
    then ``os.replace`` puts it in place and the directory is fsynced. If
    anything fails, or the process dies, ``path`` keeps its old content (or
    stays absent) and the temporary file is removed when Python still can.

    Example::

        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "note.txt")
        >>> atomic_write(p, [b"hello ", b"world"])[:12]
        'b94d27b9934d'
        >>> open(p, "rb").read()
        b'hello world'
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    digest = hashlib.sha256()
    # O_EXCL: never write through someone else's file; 0o666 lets the umask decide permissions
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
                digest.update(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)
    return digest.hexdigest()


# The submodule imports CheckpointError and atomic_write from here, so it comes last.
from rnnkit.io.safetensors import load_bytes, load_file, load_metadata, save_file  # noqa: E402

__all__ = ["CheckpointError", "atomic_write", "save_file", "load_file", "load_metadata", "load_bytes"]
