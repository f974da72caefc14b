"""Compiled time loops for the recurrences, and the switch between them and the NumPy reference.

rnnkit computes every recurrence in NumPy (``rnnkit.cells``): that code is the
definition, and it runs everywhere. When the optional C extension
``rnnkit._kernels._ckernels`` was built at install time, the common cases
(RNN tanh/relu, GRU in PyTorch's form, LSTM without peepholes, projection or
clamped gates; with any lengths, zoneout or recurrent-dropout masks) run their
per-step loops in C instead: the same equations, one BLAS call and one fused
pass over the gates per step, no Python between steps. The results agree with
the NumPy path to rounding (``tests/test_fast_path.py``); see docs/performance.md.

Which path runs:

- ``RNNKIT_KERNELS=auto`` (default): C when available, else NumPy (with a log notice).
- ``RNNKIT_KERNELS=numpy``: always the NumPy reference.
- ``RNNKIT_KERNELS=c``: C, and ``import rnnkit`` fails if it cannot (so a test
  run that asks for the compiled path never silently tests the other one).

At run time, ``set_backend("numpy" | "c" | "auto")`` or the context manager
``use(...)`` switch paths; ``backend()`` says which one is in use.

>>> from rnnkit import _kernels
>>> with _kernels.use("numpy"):
...     _kernels.backend()
'numpy'

The extension links no BLAS of its own: it calls the CBLAS functions of the
library NumPy loaded (found below by symbol name), so NumPy and rnnkit share
one BLAS and one thread pool.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import importlib
import logging
import os
import sys

import numpy as np

log = logging.getLogger(__name__)

BACKENDS = ("auto", "numpy", "c")
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)

try:
    _ckernels = importlib.import_module(__name__ + "._ckernels")
except ImportError as exc:  # not built (no compiler at install time) or built for another Python
    _ckernels = None
    _unavailable = f"the C extension rnnkit._kernels._ckernels is not available ({exc})"
else:
    _unavailable = None

# CBLAS symbol spellings, most specific first: (prefix, suffix, 64-bit integers).
# OpenBLAS as bundled in NumPy's wheels is "scipy_cblas_sgemm64_"; MKL, system
# OpenBLAS, BLIS and Accelerate export plain "cblas_sgemm".
_SPELLINGS = (
    ("scipy_cblas_", "64_", True),
    ("cblas_", "64_", True),
    ("scipy_cblas_", "", False),
    ("cblas_", "", False),
)


def _loaded_libraries() -> list[str]:
    """Shared libraries that may hold NumPy's BLAS: those already mapped into this process, first."""
    found = []
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                path = line.rsplit(None, 1)[-1]
                name = os.path.basename(path).lower()
                if ".so" in name and ("blas" in name or "mkl" in name) and path not in found:
                    found.append(path)
    except OSError:
        pass
    here = os.path.dirname(os.path.dirname(np.__file__))
    for pattern in ("numpy.libs/*blas*", "numpy/.dylibs/*blas*", "numpy.libs/*mkl*"):
        found += [p for p in sorted(glob.glob(os.path.join(here, pattern))) if p not in found]
    return found


def _find_blas():
    """(sgemm, dgemm, sgemv, dgemv addresses, ilp64, library) of the BLAS NumPy uses, or None."""
    handles = []
    for path in _loaded_libraries():
        try:
            handles.append((path, ctypes.CDLL(path)))
        except OSError:
            continue
    if sys.platform == "darwin":
        try:
            handles.append(("Accelerate", ctypes.CDLL("/System/Library/Frameworks/Accelerate.framework/Accelerate")))
        except OSError:
            pass
    for prefix, suffix, ilp64 in _SPELLINGS:
        for path, lib in handles:
            try:
                fns = [getattr(lib, f"{prefix}{name}{suffix}") for name in ("sgemm", "dgemm", "sgemv", "dgemv")]
            except AttributeError:
                continue
            return [ctypes.cast(f, ctypes.c_void_p).value for f in fns], ilp64, path
    return None


def _self_test() -> str | None:
    """Products through the found BLAS against NumPy's, every shape class the loops use; None if all agree."""
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        tol = 1e-4 if dtype == np.float32 else 1e-12
        for M, N, K in ((3, 5, 4), (1, 6, 3), (7, 2, 9)):
            for ta in (False, True):
                for tb in (False, True):
                    a = rng.normal(size=(K, M) if ta else (M, K)).astype(dtype)
                    b = rng.normal(size=(N, K) if tb else (K, N)).astype(dtype)
                    c = rng.normal(size=(M, N)).astype(dtype)
                    want = 1.5 * ((a.T if ta else a) @ (b.T if tb else b)) + 0.5 * c
                    _ckernels.gemm(a, b, c, ta, tb, 1.5, 0.5)
                    if not np.allclose(c, want, rtol=tol, atol=tol):
                        return f"a {dtype.__name__} product ({M}x{K} @ {K}x{N}, trans {ta}/{tb}) came out wrong"
    return None


def _setup() -> str | None:
    """Connect the extension to NumPy's BLAS; the reason it cannot be used, or None."""
    if _ckernels is None:
        return _unavailable
    found = _find_blas()
    if found is None:
        return "no CBLAS functions found in the libraries NumPy loaded"
    addresses, ilp64, path = found
    _ckernels.set_blas(*addresses, ilp64)
    problem = _self_test()
    if problem:
        _ckernels.set_blas(0, 0, 0, 0, False)
        return f"the BLAS in {path} failed the self-test: {problem}"
    log.debug("rnnkit kernels: C loops with the BLAS in %s (%s integers)", path, "64-bit" if ilp64 else "32-bit")
    return None


_unavailable = _setup()
_active = False


def available() -> bool:
    """Whether the compiled loops can run here."""
    return _unavailable is None


def why_unavailable() -> str | None:
    """Why the compiled loops cannot run (None when they can)."""
    return _unavailable


def set_backend(name: str) -> None:
    """Choose the path: "auto" (C if available), "numpy" (the reference) or "c" (error if unavailable)."""
    global _active
    if name not in BACKENDS:
        raise ValueError(f"rnnkit kernels: backend must be one of {', '.join(map(repr, BACKENDS))}, got {name!r}")
    if name == "c" and not available():
        raise RuntimeError(f"rnnkit kernels: backend 'c' requested but unavailable: {_unavailable}")
    _active = name != "numpy" and available()


def backend() -> str:
    """The path in use: "c" or "numpy"."""
    return "c" if _active else "numpy"


@contextlib.contextmanager
def use(name: str):
    """Run a block with the given backend, then restore the previous one."""
    previous = backend()
    set_backend(name)
    try:
        yield
    finally:
        set_backend(previous)


def active(*arrays) -> bool:
    """Whether the compiled loops should run on these arrays (one float dtype for all)."""
    if not _active:
        return False
    dt = arrays[0].dtype
    if dt != _F32 and dt != _F64:
        return False
    for a in arrays:
        if a.dtype != dt or a.size == 0:  # an empty batch takes the NumPy loops, which handle B = 0
            return False
    return True


def configure(*, packed: bool | None = None, threads: int | None = None, work_per_thread: float | None = None) -> dict:
    """Tune the compiled loops (None keeps a setting); returns the settings in effect.

    ``packed``: multiply by W_hh (and W_ih) packed once per call with rnnkit's own AVX-512
    kernels (float32; the default where the CPU has AVX-512), or through BLAS at every step.
    ``threads``: most threads a call splits its batch over (default: RNNKIT_NUM_THREADS,
    OMP_NUM_THREADS, OPENBLAS_NUM_THREADS or the CPUs this process may use).
    ``work_per_thread``: multiply-adds a call must have per thread it wakes (default 4e6).
    """
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"rnnkit kernels: threads must be an int >= 1, got {threads!r}")
    if work_per_thread is not None and not work_per_thread > 0:
        raise ValueError(f"rnnkit kernels: work_per_thread must be > 0, got {work_per_thread!r}")
    if not available():
        return {"packed": False, "threads": 1, "work_per_thread": 0.0}
    got = _ckernels.set_options(
        -1 if packed is None else int(bool(packed)), threads or 0, float(work_per_thread or 0.0)
    )
    return {"packed": bool(got[0]), "threads": int(got[1]), "work_per_thread": float(got[2])}


def _from_environment() -> None:
    name = os.environ.get("RNNKIT_KERNELS", "auto").strip().lower() or "auto"
    if name not in BACKENDS:
        log.warning("rnnkit kernels: RNNKIT_KERNELS must be one of %s, got %r; using 'auto'", ", ".join(BACKENDS), name)
        name = "auto"
    if name == "auto" and not available():
        log.info("rnnkit kernels: using the NumPy loops, since %s", _unavailable)
    set_backend(name)


_from_environment()
ck = _ckernels
