"""Speed and memory of rnnkit's RNN, GRU and LSTM layers against PyTorch (CPU) and a naive NumPy loop.

For each cell (RNN tanh, GRU, LSTM) and each shape (T, B, input, hidden):

- ``infer``: forward under ``no_grad`` (no cache kept);
- ``train``: forward and backward (gradients of the weights, the input and the initial state);

and ``gen``: step-by-step generation, 500 calls with T = 1, B = 1 (the sampling loop).
Each case times rnnkit, ``torch.nn.<Cell>`` with the same weights and thread count,
and a naive NumPy per-step loop (below: each step multiplies its own input, one
NumPy call per operation, weight gradients summed step by step). Times are
medians of ``--repeats`` runs after ``--warmup`` runs. rnnkit and torch take turns, run by
run, so that a machine whose speed drifts (on a shared virtual machine it swings by up to 2x
within a second) slows both alike; each timed run follows untimed runs of the same
implementation for ``--lead-in`` seconds (and ``--settle`` seconds of idle if asked for), so
that the threads of the library timed before it take no core from it: PyTorch's OpenMP
worker keeps one core busy for about 10 ms after each call (measured here with the
process's CPU time over 5 ms windows of sleep), so the default lead-in is 50 ms; with
10 ms, rnnkit's timed run overlapped that spinning thread and its PTB-small inference
median rose from about 1.6 to 1.9-2.7 ms, while rnnkit's own pool leaves nothing running.
The naive loop, whose NumPy products wake OpenBLAS's threads (they spin for about 0.1 s),
is timed after them, in one block, and followed by 0.2 s of idle. GFLOP/s count the matrix
products only (2 T B G H (D + H) per forward, three times that per training
step) and are compared with the GEMM peak measured at the start (the roofline).
Training memory is the peak memory of one training step above the memory held
before it (parameters, gradients, inputs), measured in a fresh process for
each implementation: the bytes held through malloc, counted by a small
LD_PRELOAD library compiled on the spot, or where that cannot be built, the
peak resident set.

    python benchmarks/bench_layers.py                               # the full table, ~10 minutes
    python benchmarks/bench_layers.py --cells lstm --shapes 20,20,200,200 --repeats 5 --no-memory

Prints the table and appends it, with the machine, the date and the load, to
``--results`` (default: benchmarks/RESULTS.md beside this script).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHAPES = {  # name: (T, B, input D, hidden H)
    "ptb-small": (20, 20, 200, 200),
    "char-lm": (100, 32, 65, 128),
    "large": (64, 64, 256, 512),
    "wide-batch": (50, 128, 128, 256),
    "one-sequence": (200, 1, 65, 100),
}
GEN = (500, 65, 128)  # generation: steps, D, H (the char-LM sizes)
CELLS = {"rnn": ("RNN", 1), "gru": ("GRU", 3), "lstm": ("LSTM", 4)}  # name: (class, gate blocks G)


def _configure_threads(threads: int) -> None:
    """Same thread count for BLAS, torch and rnnkit; the BLAS part only before numpy is imported."""
    if "numpy" not in sys.modules:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "RNNKIT_NUM_THREADS"):
            os.environ[var] = str(threads)


def _interleaved_medians(fns: dict, repeats: int, warmup: int, settle: float, lead_in: float) -> dict:
    """Median time of each function, the functions taking turns run by run (module docstring)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            if settle:
                time.sleep(settle)
            t_warm = time.perf_counter() + lead_in  # untimed: the other library's threads stop
            fn()  # spinning (PyTorch's OpenMP worker for about 10 ms), caches warm again
            while time.perf_counter() < t_warm:
                fn()
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: sorted(ts)[len(ts) // 2] for name, ts in times.items()}


def _median_time(fn, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


# -- a naive NumPy implementation: what one writes first ---------------------------------------------


def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def naive_step(cell, p, x, state):
    """One step from the equations; returns (new state, what backward needs)."""
    H = p["weight_hh"].shape[1]
    if cell == "lstm":
        h, c = state
        a = x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
        i, f, g, o = _sig(a[:, :H]), _sig(a[:, H : 2 * H]), np.tanh(a[:, 2 * H : 3 * H]), _sig(a[:, 3 * H :])
        c_new = f * c + i * g
        tc = np.tanh(c_new)
        return (o * tc, c_new), (x, h, c, i, f, g, o, tc)
    if cell == "gru":
        h = state
        xw = x @ p["weight_ih"].T + p["bias_ih"]
        hw = h @ p["weight_hh"].T + p["bias_hh"]
        r = _sig(xw[:, :H] + hw[:, :H])
        z = _sig(xw[:, H : 2 * H] + hw[:, H : 2 * H])
        n = np.tanh(xw[:, 2 * H :] + r * hw[:, 2 * H :])
        return (1 - z) * n + z * h, (x, h, r, z, n, hw[:, 2 * H :])
    h = state
    h_new = np.tanh(x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"])
    return h_new, (x, h, h_new)


def naive_forward(cell, p, x, state, keep=False):
    outs, steps = [], []
    for t in range(x.shape[0]):
        state, saved = naive_step(cell, p, x[t], state)
        outs.append(state[0] if cell == "lstm" else state)
        if keep:
            steps.append(saved)
    return np.stack(outs), state, steps


def naive_backward(cell, p, steps, dout):
    """Backpropagation through time, one step at a time, weight gradients summed per step."""
    g = {k: np.zeros_like(v) for k, v in p.items()}
    dh = np.zeros_like(dout[0])
    dc = np.zeros_like(dout[0])
    dx = []
    for t in reversed(range(len(steps))):
        dh = dh + dout[t]
        if cell == "lstm":
            x, h, c, i, f, gg, o, tc = steps[t]
            do = dh * tc
            dc = dc + dh * o * (1 - tc**2)
            da = np.concatenate(
                [dc * gg * i * (1 - i), dc * c * f * (1 - f), dc * i * (1 - gg**2), do * o * (1 - o)], axis=1
            )
            dc = dc * f
            dhw = da
        elif cell == "gru":
            x, h, r, z, n, hn = steps[t]
            dn = dh * (1 - z) * (1 - n**2)
            dz = dh * (h - n) * z * (1 - z)
            dr = dn * hn * r * (1 - r)
            da = np.concatenate([dr, dz, dn], axis=1)
            dhw = np.concatenate([dr, dz, dn * r], axis=1)
        else:
            x, h, h_new = steps[t]
            da = dh * (1 - h_new**2)
            dhw = da
        g["weight_ih"] += da.T @ x
        g["weight_hh"] += dhw.T @ h
        g["bias_ih"] += da.sum(axis=0)
        g["bias_hh"] += dhw.sum(axis=0)
        dx.append(da @ p["weight_ih"])
        dh_prev = dhw @ p["weight_hh"]
        dh = dh_prev + dh * z if cell == "gru" else dh_prev
    return g, np.stack(dx[::-1])


# -- the cases ------------------------------------------------------------------------------------------


class Case:
    """One cell on one shape: the three implementations with the same weights and inputs."""

    def __init__(self, cell: str, T: int, B: int, D: int, H: int, layers: int = 1, seed: int = 0):
        self.cell, self.T, self.B, self.D, self.H, self.layers = cell, T, B, D, H, layers
        cls, self.G = CELLS[cell]
        self.ours = getattr(rnnkit, cls)(D, H, num_layers=layers, seed=seed)
        rng = np.random.default_rng(seed)
        self.x = rng.normal(size=(T, B, D)).astype(np.float32)
        self.dout = rng.normal(size=(T, B, H)).astype(np.float32)
        self.theirs = None
        if torch is not None:
            self.theirs = getattr(torch.nn, cls)(D, H, num_layers=layers)
            self.theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in self.ours.state_dict().items()})
            self.xt = torch.from_numpy(self.x.copy())
            self.doutt = torch.from_numpy(self.dout.copy())
        self.p = {k[: -len("_l0")]: v for k, v in self.ours.params.items()} if layers == 1 else None
        self.zero_state = (
            (np.zeros((B, H), np.float32), np.zeros((B, H), np.float32))
            if cell == "lstm"
            else np.zeros((B, H), np.float32)
        )

    def flops(self, mode: str) -> float:
        per_layer = [
            2.0 * self.T * self.B * self.G * self.H * ((self.D if k == 0 else self.H) + self.H)
            for k in range(self.layers)
        ]
        return sum(per_layer) * (3.0 if mode == "train" else 1.0)

    # rnnkit
    def rnnkit_infer(self):
        with rnnkit.no_grad():
            self.ours.forward(self.x)

    def rnnkit_train(self):
        self.ours.forward(self.x)
        self.ours.backward(self.dout)

    # torch
    def torch_infer(self):
        with torch.no_grad():
            self.theirs(self.xt)

    def torch_train(self):
        x = self.xt.detach().requires_grad_(True)
        out, _ = self.theirs(x)
        out.backward(self.doutt)

    # naive NumPy
    def naive_infer(self):
        naive_forward(self.cell, self.p, self.x, self.zero_state)

    def naive_train(self):
        _, _, steps = naive_forward(self.cell, self.p, self.x, self.zero_state, keep=True)
        naive_backward(self.cell, self.p, steps, self.dout)


class GenCase(Case):
    """Step-by-step generation: ``steps`` calls of the layer with T = 1, B = 1, the state carried."""

    def __init__(self, cell: str, steps: int, D: int, H: int, seed: int = 0):
        super().__init__(cell, steps, 1, D, H, seed=seed)
        self.xs = [self.x[t : t + 1] for t in range(steps)]
        if torch is not None:
            self.xts = [self.xt[t : t + 1] for t in range(steps)]

    def rnnkit_infer(self):
        state = None
        with rnnkit.no_grad():
            for x in self.xs:
                _, state = self.ours.forward(x, state)

    def torch_infer(self):
        state = None
        with torch.no_grad():
            for x in self.xts:
                _, state = self.theirs(x, state)

    def naive_infer(self):
        state = self.zero_state
        for x in self.xs:
            state, _ = naive_step(self.cell, self.p, x[0], state)


def measure_gemm_peak(repeats: int, n: int = 2048) -> dict:
    """GFLOP/s of a large float32 GEMM (n^3) through NumPy and through torch: the roofline."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = np.random.default_rng(1).random((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    flops = 2.0 * n**3
    peaks = {"numpy": flops / _median_time(lambda: np.matmul(a, b, out=c), repeats, 1) / 1e9}
    if torch is not None:
        at, bt = torch.from_numpy(a), torch.from_numpy(b)
        peaks["torch"] = flops / _median_time(lambda: torch.mm(at, bt), repeats, 1) / 1e9
    return peaks


# -- memory: one training step in a fresh process ----------------------------------------------------------

# Counts the bytes every malloc/calloc/realloc/posix_memalign holds (glibc), loaded with LD_PRELOAD into
# the measuring process: NumPy's arrays, torch's tensors and rnnkit's C scratch all come from there.
ALLOC_METER_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);
static long live, peak;
static void add(void *p) {
    if (!p) return;
    long v = __atomic_add_fetch(&live, (long)malloc_usable_size(p), __ATOMIC_RELAXED);
    long q = __atomic_load_n(&peak, __ATOMIC_RELAXED);
    while (v > q && !__atomic_compare_exchange_n(&peak, &q, v, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
}
static void sub(void *p) { if (p) __atomic_sub_fetch(&live, (long)malloc_usable_size(p), __ATOMIC_RELAXED); }
void *malloc(size_t n) { void *p = __libc_malloc(n); add(p); return p; }
void *calloc(size_t a, size_t b) { void *p = __libc_calloc(a, b); add(p); return p; }
void free(void *p) { sub(p); __libc_free(p); }
void *realloc(void *p, size_t n) { sub(p); void *q = __libc_realloc(p, n); add(q ? q : p); return q; }
void *memalign(size_t a, size_t n) { void *p = __libc_memalign(a, n); add(p); return p; }
void *aligned_alloc(size_t a, size_t n) { return memalign(a, n); }
void *valloc(size_t n) { return memalign(4096, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    void *p = __libc_memalign(a, n);
    if (!p) return ENOMEM;
    add(p);
    *out = p;
    return 0;
}
long alloc_meter_live(void) { return __atomic_load_n(&live, __ATOMIC_RELAXED); }
long alloc_meter_peak(void) { return __atomic_load_n(&peak, __ATOMIC_RELAXED); }
void alloc_meter_reset(void) { __atomic_store_n(&peak, __atomic_load_n(&live, __ATOMIC_RELAXED), __ATOMIC_RELAXED); }
"""


def build_alloc_meter(directory: str) -> str | None:
    """Compile the allocation meter (Linux, glibc, a C compiler); its path, or None."""
    if not sys.platform.startswith("linux"):
        return None
    src, lib = Path(directory) / "alloc_meter.c", Path(directory) / "alloc_meter.so"
    src.write_text(ALLOC_METER_C)
    cc = os.environ.get("CC", "cc")
    try:
        subprocess.run(
            [cc, "-O2", "-shared", "-fPIC", str(src), "-o", str(lib)], check=True, capture_output=True, timeout=120
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return str(lib)


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def memory_child(cell: str, T: int, B: int, D: int, H: int, layers: int, impl: str) -> dict:
    """Peak memory of one training step above what was held before it, in bytes:

    ``held``, the bytes held through malloc (with the allocation meter preloaded, else None), and
    ``resident``, the peak resident set (glibc asked to return every freed block above 64 KiB at once)."""
    import ctypes

    case = Case(cell, T, B, D, H, layers)
    step = case.rnnkit_train if impl == "rnnkit" else case.torch_train
    step()  # allocates torch's .grad; rnnkit's exist from construction
    if impl == "rnnkit":
        case.ours._cache = None  # between two steps a training loop holds one cache at most
    meter = ctypes.CDLL(None)
    metered = hasattr(meter, "alloc_meter_peak")
    if metered:
        meter.alloc_meter_live.restype = meter.alloc_meter_peak.restype = ctypes.c_long
        held_before = meter.alloc_meter_live()
        meter.alloc_meter_reset()
    rss_before = _rss_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset the peak (VmHWM) to the current RSS
    step()
    return {
        "held": meter.alloc_meter_peak() - held_before if metered else None,
        "resident": (_rss_kib("VmHWM") - rss_before) * 1024,
    }


def measure_memory(cell, T, B, D, H, layers, impl, threads, meter: str | None = None) -> dict | None:
    env = dict(
        os.environ,
        MALLOC_MMAP_THRESHOLD_="65536",
        MALLOC_TRIM_THRESHOLD_="0",
        OPENBLAS_NUM_THREADS=str(threads),
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        RNNKIT_NUM_THREADS=str(threads),
    )
    if meter:
        env["LD_PRELOAD"] = meter
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--threads",
        str(threads),
        "--memory-child",
        json.dumps([cell, T, B, D, H, layers, impl]),
    ]
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, timeout=600).stdout
        return json.loads(out.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError) as exc:
        print(f"  memory measurement failed for {cell} {impl}: {exc}", file=sys.stderr)
        return None


# -- the run --------------------------------------------------------------------------------------------


def _fmt(v, spec=".2f", none="-"):
    return none if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def _geomean(values):
    values = [v for v in values if v]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def run(args) -> dict:
    threads = args.threads
    meter = None
    if args.memory:
        args.meter_dir = tempfile.mkdtemp(prefix="bench_layers_")
        meter = build_alloc_meter(args.meter_dir)
        args.memory_method = (
            "held: peak bytes held through malloc (an LD_PRELOAD meter); resident: peak RSS "
            "(VmHWM) above the RSS before the step"
            if meter
            else "resident: peak RSS (VmHWM) above the RSS before the step (no meter: held not measured)"
        )
    if torch is not None:
        torch.set_num_threads(threads)
    rnnkit_kernels.configure(threads=threads)
    peak = measure_gemm_peak(args.repeats, args.peak_size)
    roof = max(peak.values())
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    shapes = _parse_shapes(args.shapes)
    rows = []

    def time_case(case, name, mode, impls):
        turns = {impl: getattr(case, f"{impl}_{mode}") for impl in impls if impl != "naive"}
        if case.theirs is None:
            turns.pop("torch", None)
        t = _interleaved_medians(turns, args.repeats, args.warmup, args.settle, args.lead_in)
        if "naive" in impls and case.p is not None:
            t["naive"] = _median_time(getattr(case, f"naive_{mode}"), args.repeats, args.warmup)
            time.sleep(0.2)  # OpenBLAS's threads stop spinning before the next case
        gf = case.flops(mode) / t["rnnkit"] / 1e9
        row = {
            "cell": case.cell,
            "case": name,
            "mode": mode,
            "T": case.T,
            "B": case.B,
            "D": case.D,
            "H": case.H,
            "layers": case.layers,
            "rnnkit_ms": t["rnnkit"] * 1e3,
            "torch_ms": t.get("torch", float("nan")) * 1e3,
            "naive_ms": t.get("naive", float("nan")) * 1e3,
            "gflops": gf,
            "roofline": gf / roof,
        }
        row["speedup_torch"] = t["torch"] / t["rnnkit"] if "torch" in t else None
        row["speedup_naive"] = t["naive"] / t["rnnkit"] if "naive" in t else None
        rows.append(row)
        return row

    for cell in cells:
        case_list = [(name, Case(cell, *shape)) for name, shape in shapes]
        if cell == "lstm" and args.ptb_two_layers and "ptb-small" in dict(shapes):
            case_list.append(("ptb-small 2 layers", Case(cell, *dict(shapes)["ptb-small"], layers=2)))
        for name, case in case_list:
            for mode in ("infer", "train"):
                row = time_case(case, name, mode, ("rnnkit", "torch", "naive"))
                if mode == "train" and args.memory:
                    for impl in ("rnnkit", "torch"):
                        if impl == "torch" and torch is None:
                            continue
                        mem = (
                            measure_memory(cell, case.T, case.B, case.D, case.H, case.layers, impl, threads, meter)
                            or {}
                        )
                        row[f"mem_{impl}"] = mem.get("held")
                        row[f"rss_{impl}"] = mem.get("resident")
                _print_row(row)
        if args.gen_steps:
            steps, D, H = args.gen_steps, GEN[1], GEN[2]
            _print_row(
                time_case(
                    GenCase(cell, steps, D, H), f"gen {steps}x(1,1,{D},{H})", "infer", ("rnnkit", "torch", "naive")
                )
            )
    if args.memory:
        shutil.rmtree(args.meter_dir, ignore_errors=True)
    return {"rows": rows, "peak": peak, "roof": roof}


def _parse_shapes(spec: str | None):
    if not spec:
        return list(SHAPES.items())
    out = []
    for part in spec.split(";"):
        dims = tuple(int(v) for v in part.split(","))
        if len(dims) != 4:
            raise SystemExit(f"bench_layers: --shapes entries must be T,B,D,H, got {part!r}")
        name = next((n for n, s in SHAPES.items() if s == dims), "x".join(map(str, dims)))
        out.append((name, dims))
    return out


def _print_row(r):
    print(
        f"{r['cell']:>4} {r['case']:<22} {r['mode']:<5} rnnkit {r['rnnkit_ms']:9.2f} ms  "
        f"torch {_fmt(r['torch_ms']):>9} ms"
        f"  naive {_fmt(r['naive_ms']):>9} ms  torch/rnnkit {_fmt(r['speedup_torch']):>5}  "
        f"{r['gflops']:6.1f} GFLOP/s ({100 * r['roofline']:4.1f}% of peak)",
        flush=True,
    )


def targets(rows) -> list[str]:
    """The performance issue's targets, each marked met or missed."""
    lines = []
    main = [r for r in rows if r["case"] in SHAPES and r["layers"] == 1]
    for cell in sorted({r["cell"] for r in main}):
        tr = [r for r in main if r["cell"] == cell and r["mode"] == "train" and r["speedup_torch"]]
        if tr:
            gm = _geomean([r["speedup_torch"] for r in tr])
            worst = min(tr, key=lambda r: r["speedup_torch"])
            lines.append(
                f"{cell} train: geometric mean torch/rnnkit {gm:.2f} (target >= 1.0: "
                f"{'met' if gm >= 1.0 else 'MISSED'}); lowest {worst['speedup_torch']:.2f} on "
                f"{worst['case']} (target >= 0.8: {'met' if worst['speedup_torch'] >= 0.8 else 'MISSED'})"
            )
        for r in rows:
            if r["cell"] == cell and r["mode"] == "infer" and r["speedup_torch"]:
                ok = r["speedup_torch"] >= 1.2
                lines.append(
                    f"{cell} {r['case']} infer: torch/rnnkit {r['speedup_torch']:.2f} "
                    f"(target >= 1.2: {'met' if ok else 'MISSED'})"
                )
    for r in rows:
        if r["case"] == "large":
            ok = r["roofline"] >= 0.6
            lines.append(
                f"{r['cell']} large {r['mode']}: {100 * r['roofline']:.0f}% of the GEMM peak "
                f"(target >= 60%: {'met' if ok else 'MISSED'})"
            )
    for r in rows:
        for key, what in (("mem", "held"), ("rss", "resident")):
            ours, theirs = r.get(f"{key}_rnnkit"), r.get(f"{key}_torch")
            if ours is not None and theirs is not None:
                ok = ours <= theirs
                lines.append(
                    f"{r['cell']} {r['case']} train memory ({what}): rnnkit {ours / 2**20:.2f} MiB, "
                    f"torch {theirs / 2**20:.2f} MiB (target <= torch: {'met' if ok else 'MISSED'})"
                )
    return lines


def _machine() -> str:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = "unknown BLAS"
    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{info.get('name')} {info.get('version')}"
    except Exception:  # older NumPy: no dict mode
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpu}, {cores} cores; Python {platform.python_version()}, NumPy {np.__version__} ({blas}), "
        f"torch {torch.__version__ if torch is not None else 'absent'}"
    )


def markdown(result, args, load_before, load_after) -> str:
    rows = result["rows"]
    peak = ", ".join(f"{k} {v:.0f}" for k, v in result["peak"].items())
    out = [
        f"## {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')} bench_layers.py",
        "",
        f"- command: `python benchmarks/bench_layers.py {' '.join(shlex.quote(a) for a in args.argv)}`",
        f"- machine: {_machine()}",
        f"- threads: {args.threads} (BLAS and torch); rnnkit loops: {rnnkit_kernels.backend()}; "
        f"float32; median of {args.repeats} after {args.warmup} warm-up, rnnkit and torch taking turns, each timed "
        f"run after {1e3 * args.lead_in:g} ms of untimed runs"
        + (f" and {args.settle:g} s idle" if args.settle else ""),
        f"- GEMM peak ({args.peak_size}^3 float32, GFLOP/s): {peak}; roofline = {result['roof']:.0f}",
        f"- load average (1 min) before {load_before:.2f}, after {load_after:.2f}",
        f"- training memory: {getattr(args, 'memory_method', 'not measured')}, one step after a warm-up step, "
        "a fresh process per figure",
        "",
        "| cell | case (T, B, D, H) | mode | rnnkit ms | torch ms | naive ms | torch / rnnkit | naive / rnnkit "
        "| GFLOP/s | % of peak | train MiB held rnnkit / torch | train MiB resident rnnkit / torch |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        shape = f"({r['T']}, {r['B']}, {r['D']}, {r['H']})" if not r["case"].startswith("gen") else ""
        mib = lambda v: _fmt(None if v is None else v / 2**20, ".2f")
        out.append(
            f"| {r['cell']} | {r['case']} {shape} | {r['mode']} | {r['rnnkit_ms']:.2f} | {_fmt(r['torch_ms'])} "
            f"| {_fmt(r['naive_ms'])} | {_fmt(r['speedup_torch'])} | {_fmt(r['speedup_naive'])} "
            f"| {r['gflops']:.1f} | {100 * r['roofline']:.0f} "
            f"| {mib(r.get('mem_rnnkit'))} / {mib(r.get('mem_torch'))} "
            f"| {mib(r.get('rss_rnnkit'))} / {mib(r.get('rss_torch'))} |"
        )
    out += ["", "Targets:", ""] + [f"- {line}" for line in targets(rows)] + [""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", default="rnn,gru,lstm", help="comma-separated: rnn, gru, lstm")
    ap.add_argument("--shapes", default=None, help="'T,B,D,H;T,B,D,H' (default: the five standard shapes)")
    ap.add_argument("--gen-steps", type=int, default=GEN[0], help="generation steps (0: skip)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="seconds of idle before each timed run's untimed run (default 0: none)",
    )
    ap.add_argument(
        "--lead-in",
        type=float,
        default=0.05,
        help="seconds of untimed runs of the same implementation before each timed run (default 0.05)",
    )
    ap.add_argument("--threads", type=int, default=None, help="BLAS and torch threads (default: all cores)")
    ap.add_argument("--no-memory", dest="memory", action="store_false", help="skip the memory measurements")
    ap.add_argument(
        "--no-ptb-two-layers",
        dest="ptb_two_layers",
        action="store_false",
        help="skip the 2-layer LSTM on the PTB-small shape",
    )
    ap.add_argument("--peak-size", type=int, default=2048, help="size n of the n^3 GEMM that measures the peak")
    ap.add_argument("--results", default=str(Path(__file__).resolve().parent / "RESULTS.md"))
    ap.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    if not 0 <= args.lead_in < math.inf:
        ap.error(f"--lead-in must be a finite number of seconds >= 0, got {args.lead_in}")
    if not 0 <= args.settle < math.inf:
        ap.error(f"--settle must be a finite number of seconds >= 0, got {args.settle}")
    if args.threads is None:
        args.threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    _configure_threads(args.threads)
    if args.memory_child:
        spec = json.loads(args.memory_child)
        _import_libraries(with_torch=spec[-1] == "torch")
        print(json.dumps(memory_child(*spec)))
        return {}
    _import_libraries()
    if args.memory and not Path("/proc/self/clear_refs").exists():
        print("bench_layers: memory needs Linux's /proc/self/clear_refs; skipping it", file=sys.stderr)
        args.memory = False
    load_before = os.getloadavg()[0]
    result = run(args)
    load_after = os.getloadavg()[0]
    text = markdown(result, args, load_before, load_after)
    print()
    print(text)
    results = Path(args.results)
    prefix = "" if results.exists() and results.stat().st_size else "# Benchmark results\n\n"
    with results.open("a", encoding="utf-8") as fh:
        fh.write(prefix + text + "\n")
    return result


def _import_libraries(with_torch: bool = True) -> None:
    global np, rnnkit, rnnkit_kernels, torch
    import numpy as np

    import rnnkit
    from rnnkit import _kernels as rnnkit_kernels

    torch = None
    if with_torch:
        try:
            import torch
        except ImportError:
            pass


np = rnnkit = rnnkit_kernels = torch = None

if __name__ == "__main__":
    main()
