"""Launching the two-process tests: mpirun's flags, a clean environment, and a loud skip without MPI.

Without ``mpirun`` or mpi4py the tests skip with the reason in pytest's
summary; with ``RNNKIT_REQUIRE_MPI=1`` (as CI sets) they fail instead, so CI
cannot skip them silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import subprocess_env

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 180


def _mpi_missing() -> str | None:
    if shutil.which("mpirun") is None:
        return "mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py not installed (pip install 'rnnkit[mpi]')"
    return None


def _require_mpi():
    why = _mpi_missing()
    if why is None:
        return
    if os.environ.get("RNNKIT_REQUIRE_MPI") == "1":
        pytest.fail(f"RNNKIT_REQUIRE_MPI=1 but {why}")
    pytest.skip(f"TWO-PROCESS TESTS NOT RUN: {why}")


def _env():
    env = subprocess_env()
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for name in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE", "RNNKIT_DISTRIBUTED"):
        env.pop(name, None)
    return env


def _mpirun_prefix(n: int) -> list[str]:
    version = subprocess.run(["mpirun", "--version"], capture_output=True, text=True, timeout=30).stdout
    flags = ["--allow-run-as-root", "--oversubscribe"] if "Open MPI" in version else []
    return ["mpirun", *flags, "-n", str(n)]
