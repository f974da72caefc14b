"""Files on disk: the safetensors format in NumPy, and writes that are never half done.

Everything rnnkit writes goes through :func:`atomic_write` (:mod:`rnnkit.io.atomic`): the bytes go to a
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

from rnnkit.io.atomic import atomic_rename, atomic_write, fsync_dir
from rnnkit.io.errors import CheckpointError
from rnnkit.io.safetensors import encode_file, load_bytes, load_file, load_metadata, save_file

__all__ = [
    "CheckpointError",
    "atomic_write",
    "atomic_rename",
    "fsync_dir",
    "encode_file",
    "save_file",
    "load_file",
    "load_metadata",
    "load_bytes",
]
