"""Loop backends: the compiled time loops of the recurrences, and the one place that dispatches to them.

rnnkit computes every recurrence in NumPy (``rnnkit.cells``): that code is the
definition, and it runs everywhere. A *loop backend* runs the per-step loops
of some cell families faster, computing the same thing. Two are registered:

- ``"numpy"``: the reference; no adapters, every family runs its NumPy maths.
- ``"c"``: the optional C extension ``rnnkit._kernels._ckernels``, built at
  install time, for the common cases (RNN tanh/relu, GRU in PyTorch's form,
  LSTM without peepholes, projection or clamped gates; with any lengths,
  zoneout or recurrent-dropout masks): the same equations, one BLAS call and
  one fused pass over the gates per step, no Python between steps. Its
  adapters are in ``rnnkit._kernels.adapters``; see docs/performance.md.

What a backend implements (``register_backend``): a name, the reason it
cannot run here (``None`` when it can), and a dict of *adapters* keyed by cell
family name. An adapter has four methods:

- ``accepts_forward(params, x, kw) -> bool``: whether it covers this call
  (``kw`` are the keyword arguments of the family's forward: lengths, masks,
  need_cache, the variant options, clamp); when False the NumPy maths runs.
- ``forward(params, x, state, **kw) -> (out, state_T, cache)``: the family's
  forward contract (``rnnkit.cells.common``), returning the *same cache type*
  with the same quantities, so either path's backward can take it.
- ``accepts_backward(params, cache) -> bool`` and
  ``backward(params, cache, dout, dstate_T, *, grads_out=None)``: likewise.

A backend may also have an *output* adapter, for the softmax output layer
(``rnnkit.layers.output``): ``accepts(dtype) -> bool``, ``project(x, weight, out)``
(out = x @ weight^T, returned), ``input_grad(dz, weight)`` (dz @ weight),
``softmax_xent(z, bias, targets, real, label_smoothing, grad_scale) -> per``
(the per-row losses; with ``grad_scale`` not None z is overwritten by dz, as
``softmax_cross_entropy_`` does after ``z += bias``) and
``weight_grad(dz, x, dweight)`` (adds dz^T x into dweight in place).
``output_adapter(dtype)`` returns the one in use, or None.

And an *update* adapter, for the optimiser (``rnnkit.optim``):
``accepts(dtype) -> bool`` and ``sgd(p, g, grad_scale, lr) -> float``, which
sets p -= (g * grad_scale) * lr in place with NumPy's roundings and returns the
sum of squares of the new p in its dtype. ``update_adapter(dtype)`` returns the
one in use, or None.

A family without an adapter, or a call an adapter declines, runs the NumPy
maths, so a backend may cover as little as it likes and the cells never
change. A new array backend (CuPy on a GPU, say) is one adapter module and
one ``register_backend`` call.

How it is selected:

- ``RNNKIT_KERNELS=auto`` (default): the first registered backend that can
  run here (C when built), else NumPy (with a log notice).
- ``RNNKIT_KERNELS=numpy``: always the NumPy reference.
- ``RNNKIT_KERNELS=c``: C, and ``import rnnkit`` fails if it cannot (so a test
  run that asks for the compiled path never silently tests the other one).
- At run time, ``set_backend(name)`` or the context manager ``use(name)``;
  ``backend()`` says which one is in use.

>>> from rnnkit import _kernels
>>> with _kernels.use("numpy"):
...     _kernels.backend()
'numpy'

Dispatch happens here only: layers call ``forward(family, ...)`` and
``backward(family, ...)`` with a ``rnnkit.cells.registry.CellFamily``; the
cell modules never import this package.

How a backend is tested against the reference: ``tests/test_fast_path.py``
runs every adapter of the backend on the same inputs as the NumPy maths
(every mask kind, both float dtypes, T = 1 and B = 1, without a cache,
caches crossing paths) and compares outputs, states, caches and gradients to
1e-12 (float64); it then reruns the gradient checks and PyTorch parity tests
on the path the default does not take. Run the whole suite with
``RNNKIT_KERNELS=<name>`` as well.

The C extension links no BLAS of its own: it calls the CBLAS functions of the
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

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
    """(sgemm, dgemm, sgemv, dgemv, set_threads, get_threads addresses, ilp64, library) of the BLAS NumPy
    uses, or None. The thread-count pair is OpenBLAS's (0 elsewhere): with it the compiled products run
    BLAS single-threaded on rnnkit's own thread pool (rnnkit/_kernels/_ckernels.c, blas_solo_begin)."""
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
            addresses = [ctypes.cast(f, ctypes.c_void_p).value for f in fns]
            return addresses + _openblas_threads(lib, prefix[: -len("cblas_")], suffix), ilp64, path
    return None


def _openblas_threads(lib: ctypes.CDLL, prefix: str, suffix: str) -> list[int]:
    """Addresses of OpenBLAS's thread-count setter and getter, or [0, 0]: only for its pthreads (or
    sequential) build, whose count is one number for the process. In its OpenMP build the count
    follows each calling thread's OpenMP setting, so a pool thread could not lower it."""
    try:
        setter, getter, parallel = (
            getattr(lib, f"{prefix}openblas_{name}{suffix}")
            for name in ("set_num_threads", "get_num_threads", "get_parallel")
        )
    except AttributeError:
        return [0, 0]
    parallel.restype = ctypes.c_int
    if parallel() not in (0, 1):  # 0: sequential, 1: pthreads, 2: OpenMP
        return [0, 0]
    return [ctypes.cast(f, ctypes.c_void_p).value for f in (setter, getter)]


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
    _ckernels.set_blas(*addresses[:4], ilp64, *addresses[4:])
    problem = _self_test()
    if problem:
        _ckernels.set_blas(0, 0, 0, 0, False, 0, 0)
        return f"the BLAS in {path} failed the self-test: {problem}"
    log.debug("rnnkit kernels: C loops with the BLAS in %s (%s integers)", path, "64-bit" if ilp64 else "32-bit")
    return None


_unavailable = _setup()


@dataclass(frozen=True)
class LoopBackend:
    """A loop backend: its name, why it cannot run here (None when it can) and its adapters by family name."""

    name: str
    unavailable: str | None
    adapters: Mapping[str, Any] = field(default_factory=dict)
    output: Any = None  # the output layer's adapter (module docstring), or None
    update: Any = None  # the optimiser's adapter (module docstring), or None


_BACKENDS: dict[str, LoopBackend] = {}
_adapters: Mapping[str, Any] = {}  # the adapters of the backend in use (empty: NumPy)
_output: Any = None  # the output adapter of the backend in use
_update: Any = None  # the update adapter of the backend in use
_current = "numpy"


def register_backend(backend: LoopBackend) -> None:
    """Add a loop backend (the module docstring says what it implements); "auto" prefers the earliest."""
    if not isinstance(backend, LoopBackend):
        raise TypeError(f"rnnkit kernels: backend must be a LoopBackend, got {type(backend).__name__}")
    if backend.name == "auto" or backend.name in _BACKENDS:
        raise ValueError(f"rnnkit kernels: backend name must be new and not 'auto', got {backend.name!r}")
    _BACKENDS[backend.name] = backend


def get_backend(name: str) -> LoopBackend:
    """The registered backend ``name`` (its adapters, and why it cannot run here, if it cannot)."""
    if name not in _BACKENDS:
        raise ValueError(f"rnnkit kernels: backend must be one of {', '.join(_BACKENDS)}, got {name!r}")
    return _BACKENDS[name]


def backends() -> tuple[str, ...]:
    """The names ``set_backend`` accepts: "auto" and every registered backend."""
    return ("auto",) + tuple(_BACKENDS)


def available(name: str = "c") -> bool:
    """Whether the backend (by default the compiled loops) can run here."""
    b = _BACKENDS.get(name)
    return b is not None and b.unavailable is None


def why_unavailable(name: str = "c") -> str | None:
    """Why the backend (by default the compiled loops) cannot run (None when it can)."""
    b = _BACKENDS.get(name)
    return f"no loop backend named {name!r}" if b is None else b.unavailable


def set_backend(name: str) -> None:
    """Choose the loops: "auto" (the first that can run), "numpy" (the reference), or a backend by name
    (error if it cannot run here)."""
    global _adapters, _current, _output, _update
    if name != "auto" and name not in _BACKENDS:
        raise ValueError(f"rnnkit kernels: backend must be one of {', '.join(map(repr, backends()))}, got {name!r}")
    if name == "auto":
        name = next((n for n, b in _BACKENDS.items() if n != "numpy" and b.unavailable is None), "numpy")
    b = _BACKENDS[name]
    if b.unavailable is not None:
        raise RuntimeError(f"rnnkit kernels: backend {name!r} requested but unavailable: {b.unavailable}")
    _current, _adapters, _output, _update = name, b.adapters, b.output, b.update


def backend() -> str:
    """The backend in use: "c" or "numpy" (or another registered one)."""
    return _current


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
    """Whether a compiled backend is in use and these arrays share one float dtype it runs (float32/64)."""
    if not _adapters:
        return False
    dt = arrays[0].dtype
    if dt != _F32 and dt != _F64:
        return False
    for a in arrays:
        if a.dtype != dt or a.size == 0:  # an empty batch takes the NumPy loops, which handle B = 0
            return False
    return True


def forward(family, params: dict, x, state, **kw):
    """``family.forward(params, x, state, **kw)``, on the backend in use when it has an adapter that
    accepts the call. ``family`` is a ``rnnkit.cells.registry.CellFamily``."""
    adapter = _adapters.get(family.name)
    if adapter is not None and adapter.accepts_forward(params, x, kw):
        return adapter.forward(params, x, state, **kw)
    return family.forward(params, x, state, **kw)


def backward(family, params: dict, cache, dout, dstate_T, **kw):
    """``family.backward(params, cache, dout, dstate_T, **kw)``, on the backend in use when it can."""
    adapter = _adapters.get(family.name)
    if adapter is not None and adapter.accepts_backward(params, cache):
        return adapter.backward(params, cache, dout, dstate_T, **kw)
    return family.backward(params, cache, dout, dstate_T, **kw)


def output_adapter(dtype: np.dtype) -> Any:
    """The output layer's adapter of the backend in use when it runs ``dtype``, else None (NumPy maths)."""
    if _output is not None and _output.accepts(dtype):
        return _output
    return None


def update_adapter(dtype: np.dtype) -> Any:
    """The optimiser's adapter of the backend in use when it runs ``dtype``, else None (NumPy update)."""
    if _update is not None and _update.accepts(dtype):
        return _update
    return None


def configure(
    *,
    packed: bool | None = None,
    threads: int | None = None,
    work_per_thread: float | None = None,
    blas_on_pool: bool | None = None,
) -> dict:
    """Tune the compiled loops (None keeps a setting); returns the settings in effect.

    ``packed``: multiply by W_hh (and W_ih) packed once per call with rnnkit's own AVX-512
    kernels (float32; the default where the CPU has AVX-512), or through BLAS at every step.
    ``threads``: most threads a call splits its batch over (default: RNNKIT_NUM_THREADS,
    OMP_NUM_THREADS, OPENBLAS_NUM_THREADS or the CPUs this process may use).
    ``work_per_thread``: multiply-adds a call must have per thread it wakes (default 4e6).
    ``blas_on_pool``: run the products around the loops (weight gradients, dx, the output layer's)
    on rnnkit's threads, each calling BLAS single-threaded on its block of the result, so that
    BLAS's own threads, which keep spinning for a while after each call, never compete with the
    loops' for the cores (default True; in effect only where the BLAS lets its thread count be
    set, which OpenBLAS, NumPy's, does). BLAS's thread count is lowered for each such call and
    restored after it, so a NumPy product in another Python thread at that moment runs on one
    thread. False: BLAS threads each product itself, as NumPy's products do. The environment
    variable ``RNNKIT_BLAS_ON_POOL`` (0 or 1) sets it at import.
    """
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"rnnkit kernels: threads must be an int >= 1, got {threads!r}")
    if work_per_thread is not None and not work_per_thread > 0:
        raise ValueError(f"rnnkit kernels: work_per_thread must be > 0, got {work_per_thread!r}")
    if blas_on_pool is not None and not isinstance(blas_on_pool, bool):
        raise ValueError(f"rnnkit kernels: blas_on_pool must be True, False or None, got {blas_on_pool!r}")
    if _unavailable is not None:
        return {"packed": False, "threads": 1, "work_per_thread": 0.0, "blas_on_pool": False}
    got = _ckernels.set_options(
        -1 if packed is None else int(bool(packed)),
        threads or 0,
        float(work_per_thread or 0.0),
        -1 if blas_on_pool is None else int(blas_on_pool),
    )
    return {
        "packed": bool(got[0]),
        "threads": int(got[1]),
        "work_per_thread": float(got[2]),
        "blas_on_pool": bool(got[3]),
    }


def _from_environment() -> None:
    name = os.environ.get("RNNKIT_KERNELS", "auto").strip().lower() or "auto"
    if name not in backends():
        log.warning(
            "rnnkit kernels: RNNKIT_KERNELS must be one of %s, got %r; using 'auto'", ", ".join(backends()), name
        )
        name = "auto"
    if name == "auto" and _unavailable is not None:
        log.info("rnnkit kernels: using the NumPy loops, since %s", _unavailable)
    set_backend(name)
    on_pool = os.environ.get("RNNKIT_BLAS_ON_POOL", "").strip()
    if on_pool in ("0", "1"):
        configure(blas_on_pool=on_pool == "1")
    elif on_pool:
        log.warning("rnnkit kernels: RNNKIT_BLAS_ON_POOL must be 0 or 1, got %r; keeping the default", on_pool)


ck = _ckernels
from rnnkit._kernels.adapters import OutputRows, ParamUpdate, make_adapters  # noqa: E402  (below ``ck``: the adapters read it at each call)

register_backend(LoopBackend("numpy", None))
register_backend(
    LoopBackend("c", _unavailable, make_adapters(lambda: ck), OutputRows(lambda: ck), ParamUpdate(lambda: ck))
)
_from_environment()
