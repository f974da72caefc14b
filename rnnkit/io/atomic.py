"""Writes that are never half done: a temporary file, fsync, rename, fsync of the directory.

:func:`atomic_write` writes a file, :func:`atomic_rename` moves a finished
file or directory into place; both make the result durable with
:func:`fsync_dir`. The safetensors writer, checkpoints, run directories and
plots all write through these three.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable

__all__ = ["fsync_dir", "atomic_write", "atomic_rename"]


def fsync_dir(directory: str | os.PathLike) -> None:
    """Make a rename or creation inside ``directory`` durable (fsync the directory itself; nothing on Windows)."""
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
        >>> from rnnkit.io import atomic_write
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
    fsync_dir(directory)
    return digest.hexdigest()


def atomic_rename(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Rename ``src`` (a finished file or directory) to ``dst`` in the same directory, durably.

    ``os.rename`` is atomic within one file system; the fsync of ``dst``'s
    directory makes the new name survive a power cut.

    Example::

        >>> import tempfile, os
        >>> from rnnkit.io import atomic_rename
        >>> d = tempfile.mkdtemp(); os.mkdir(os.path.join(d, ".tmp"))
        >>> atomic_rename(os.path.join(d, ".tmp"), os.path.join(d, "done")); os.listdir(d)
        ['done']
    """
    os.rename(src, dst)
    fsync_dir(os.path.dirname(os.path.abspath(os.fspath(dst))))
