"""The compiled loops (rnnkit._kernels) against the NumPy reference, and the switch between them.

Every case runs the same family through the one dispatch (``rnnkit._kernels.forward`` /
``backward``, what the layers call) on both paths and compares outputs, final
states, caches and gradients: float64 to 1e-12, float32 to 1e-5. At the end, the
finite-difference checks and the PyTorch parity tests of test_gradcheck.py and
test_torch_parity.py run again on the path the default does not take, so both
paths pass the same checks in every run.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import rnnkit
from rnnkit import _kernels
from rnnkit.cells import registry
from rnnkit.cells.common import StepMasks

# Subprocesses import the same rnnkit as this process (the installed one, or the source tree).
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(rnnkit.__file__)))

needs_c = pytest.mark.skipif(
    not _kernels.available(), reason=f"compiled loops unavailable: {_kernels.why_unavailable()}"
)
TOL = {np.float64: 1e-12, np.float32: 1e-5}


def _close(name, a, b, tol):
    if a is None or b is None:
        assert a is None and b is None, f"{name}: one path gave None"
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{name}: shape {a.shape} vs {b.shape}"
    err = float(np.max(np.abs(a - b))) if a.size else 0.0
    assert err <= tol * max(1.0, float(np.max(np.abs(b))) if b.size else 1.0), f"{name}: max abs error {err:.3e}"


def _params(G, D, H, rng, dtype, bias=True):
    p = {"weight_ih": rng.uniform(-0.6, 0.6, (G * H, D)), "weight_hh": rng.uniform(-0.6, 0.6, (G * H, H))}
    if bias:
        p["bias_ih"] = rng.uniform(-0.5, 0.5, G * H)
        p["bias_hh"] = rng.uniform(-0.5, 0.5, G * H)
    return {k: v.astype(dtype) for k, v in p.items()}


def _masks(kind, T, B, H, rng, dtype):
    if kind == "none":
        return None, None
    if kind == "lengths":
        lengths = rng.integers(1, T + 1, size=B)
        return lengths, None
    if kind == "zoneout":  # random 0/1 update masks, per unit
        u = (rng.random((T, B, H)) > 0.3).astype(dtype)
        uc = (rng.random((T, B, H)) > 0.3).astype(dtype)
        return None, StepMasks(update=u, update_c=uc)
    if kind == "zoneout-eval":  # the expectation, broadcast over B and H
        u = np.full((T, 1, 1), 0.7, dtype=dtype)
        return None, StepMasks(update=u, update_c=u)
    if kind == "recurrent":  # standard recurrent dropout, a new mask per step
        return None, StepMasks(recurrent=((rng.random((T, B, H)) > 0.25) / 0.75).astype(dtype))
    if kind == "variational":  # one mask for every step, with lengths
        m = StepMasks.from_lengths(rng.integers(1, T + 1, size=B), T, dtype)
        m.recurrent = ((rng.random((1, B, H)) > 0.25) / 0.75).astype(dtype)
        m.out = m.out * (rng.random((T, B, 1)) > 0.1)
        return None, m
    raise ValueError(kind)


class _Dispatched:
    """A registry family called through the loop-backend dispatch (what the layers call)."""

    def __init__(self, name):
        self.family = registry.get(name)
        self.pair = self.family.state_arity == 2

    def forward(self, *args, **kw):
        return _kernels.forward(self.family, *args, **kw)

    def backward(self, *args, **kw):
        return _kernels.backward(self.family, *args, **kw)


rnn, gru, lstm = _Dispatched("rnn"), _Dispatched("gru"), _Dispatched("lstm")
FAMILIES = [
    ("rnn-tanh", rnn, 1, {"nonlinearity": "tanh"}),
    ("rnn-relu", rnn, 1, {"nonlinearity": "relu"}),
    ("gru", gru, 3, {}),
    ("lstm", lstm, 4, {}),
]


def test_every_compiled_adapter_is_compared_here():
    """Each family the C backend adapts is in FAMILIES, so the comparisons below cover every adapter."""
    adapters = _kernels.get_backend("c").adapters
    assert set(adapters) == {f.family.name for _, f, _, _ in FAMILIES}
    for name in adapters:
        assert name in registry.names()


MASKS = ["none", "lengths", "zoneout", "zoneout-eval", "recurrent", "variational"]


def _run(family, G, kw, dtype, T, B, D, H, mask_kind, seed, bias=True, need_cache=True):
    rng = np.random.default_rng(seed)
    p = _params(G, D, H, rng, dtype, bias)
    x = rng.normal(size=(T, B, D)).astype(dtype)
    h0 = rng.normal(size=(B, H)).astype(dtype)
    state = (h0, rng.normal(size=(B, H)).astype(dtype)) if family.pair else h0
    lengths, masks = _masks(mask_kind, T, B, H, rng, dtype)
    out, sT, cache = family.forward(p, x, state, lengths=lengths, masks=masks, need_cache=need_cache, **kw)
    result = {"out": out, "state": sT, "cache": cache}
    if need_cache:
        dout = rng.normal(size=out.shape).astype(dtype)
        dT = (
            (rng.normal(size=(B, H)).astype(dtype), rng.normal(size=(B, H)).astype(dtype))
            if family.pair
            else rng.normal(size=(B, H)).astype(dtype)
        )
        result["grads"], result["dx"], result["d0"] = family.backward(p, cache, dout, dT)
    return result


def _parts(s):
    return s if isinstance(s, tuple) else (s,)


def _compare(ref, fast, tol):
    _close("out", fast["out"], ref["out"], tol)
    for k, (a, b) in enumerate(zip(_parts(fast["state"]), _parts(ref["state"]))):
        _close(f"state[{k}]", a, b, tol)
    if "grads" in ref:
        assert sorted(fast["grads"]) == sorted(ref["grads"])
        for name in ref["grads"]:
            _close(f"grad {name}", fast["grads"][name], ref["grads"][name], tol)
        _close("dx", fast["dx"], ref["dx"], tol)
        for k, (a, b) in enumerate(zip(_parts(fast["d0"]), _parts(ref["d0"]))):
            _close(f"dstate0[{k}]", a, b, tol)


@needs_c
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("mask_kind", MASKS)
@pytest.mark.parametrize("name,family,G,kw", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_compiled_matches_reference(name, family, G, kw, mask_kind, dtype):
    args = (family, G, kw, dtype, 6, 3, 4, 5, mask_kind, 7)
    with _kernels.use("numpy"):
        ref = _run(*args)
    with _kernels.use("c"):
        fast = _run(*args)
    _compare(ref, fast, TOL[dtype])
    # the caches hold the same quantities (backward may run on a cache from either path)
    for field in ("h", "f", "c", "c_new", "gates", "tanh_c", "act", "extra"):
        if hasattr(ref["cache"], field):
            _close(f"cache.{field}", getattr(fast["cache"], field), getattr(ref["cache"], field), TOL[dtype])


@needs_c
@pytest.mark.parametrize("name,family,G,kw", FAMILIES, ids=[f[0] for f in FAMILIES])
@pytest.mark.parametrize("T,B,D,H", [(1, 1, 3, 4), (1, 5, 2, 3), (9, 1, 4, 6), (4, 2, 1, 1), (70, 2, 3, 8)])
def test_compiled_sizes_and_no_bias(name, family, G, kw, T, B, D, H):
    """T = 1, B = 1, H = 1, long sequences (the W_hh^T layout) and bias=False."""
    for bias in (True, False):
        args = (family, G, kw, np.float64, T, B, D, H, "lengths" if B > 1 else "none", 3)
        with _kernels.use("numpy"):
            ref = _run(*args, bias=bias)
        with _kernels.use("c"):
            fast = _run(*args, bias=bias)
        _compare(ref, fast, TOL[np.float64])


@needs_c
@pytest.mark.parametrize("T,B", [(7, 3), (45, 30)], ids=["one-chunk", "chunks"])
@pytest.mark.parametrize("mask_kind", ["none", "lengths", "zoneout"])
@pytest.mark.parametrize("name,family,G,kw", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_compiled_inference_keeps_no_cache(name, family, G, kw, mask_kind, T, B):
    """need_cache=False (no_grad) projects the inputs chunk by chunk (1024 rows) and keeps only
    rings of states: same outputs and final states, no cache."""
    args = (family, G, kw, np.float64, T, B, 4, 5, mask_kind, 11)
    with _kernels.use("numpy"):
        ref = _run(*args, need_cache=False)
    with _kernels.use("c"):
        fast = _run(*args, need_cache=False)
    assert fast["cache"] is None
    _compare(ref, fast, TOL[np.float64])


@needs_c
@pytest.mark.parametrize("name,family,G,kw", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_caches_cross_paths(name, family, G, kw):
    """A cache from one path backpropagates on the other to the same gradients."""
    rng = np.random.default_rng(5)
    T, B, D, H = 5, 3, 4, 6
    p = _params(G, D, H, rng, np.float64)
    x = rng.normal(size=(T, B, D))
    state = (rng.normal(size=(B, H)), rng.normal(size=(B, H))) if family.pair else rng.normal(size=(B, H))
    dout = rng.normal(size=(T, B, H))
    lengths = np.array([5, 2, 4])
    grads = {}
    for fwd in ("numpy", "c"):
        with _kernels.use(fwd):
            _, _, cache = family.forward(p, x, state, lengths=lengths, **kw)
        for bwd in ("numpy", "c"):
            with _kernels.use(bwd):
                grads[fwd, bwd] = family.backward(p, cache, dout, None)
    ref = grads["numpy", "numpy"]
    for key, (g, dx, _) in grads.items():
        for n in ref[0]:
            _close(f"{key} grad {n}", g[n], ref[0][n], 1e-12)
        _close(f"{key} dx", dx, ref[1], 1e-12)


@needs_c
@pytest.mark.parametrize(
    "T,B,D,H",
    [(23, 13, 7, 37), (20, 1, 5, 19), (17, 7, 3, 16), (9, 5, 33, 32)],
    ids=["odd", "one-row", "lanes", "wide-input"],
)
@pytest.mark.parametrize("need_cache", [True, False], ids=["train", "infer"])
@pytest.mark.parametrize("mask_kind", ["none", "variational", "zoneout"])
@pytest.mark.parametrize("name,family,G,kw", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_packed_products_and_threads(name, family, G, kw, mask_kind, need_cache, T, B, D, H):
    """float32 runs big enough for the packed products and several threads (odd sizes: tails of
    rows and of 16-lane vectors; one sequence; 13 rows split over 2 or 3 threads; weights packed
    16 x 16 blocks at a time, whole and with a tail, D = 33 and H = 37) agree with the BLAS loops
    and the NumPy reference."""
    args = (family, G, kw, np.float32, T, B, D, H, mask_kind, 17)
    with _kernels.use("numpy"):
        ref = _run(*args, need_cache=need_cache)
    before = _kernels.configure()
    try:
        for packed, threads in ((False, 1), (True, 1), (True, 2), (True, 3)):
            _kernels.configure(packed=packed, threads=threads, work_per_thread=1000.0)
            with _kernels.use("c"):
                fast = _run(*args, need_cache=need_cache)
            _compare(ref, fast, 3e-5)
    finally:
        _kernels.configure(**before)


@needs_c
def test_extreme_preactivations_are_finite_without_warnings():
    """Pre-activations of +/-500 (float32 and float64): finite results and gradients, no RuntimeWarning."""
    for dtype in (np.float32, np.float64):
        for name, family, G, kw in FAMILIES:
            rng = np.random.default_rng(0)
            p = {k: (v * 400).astype(dtype) for k, v in _params(G, 3, 4, rng, dtype).items()}
            x = rng.normal(size=(5, 2, 3)).astype(dtype)
            h0 = np.zeros((2, 4), dtype)
            state = (h0, h0) if family.pair else h0
            with _kernels.use("c"):
                out, _, cache = family.forward(p, x, state, **kw)
                grads, dx, _ = family.backward(p, cache, np.ones_like(out), None)
            with _kernels.use("numpy"):
                ref, _, _ = family.forward(p, x, state, **kw)
            assert np.isfinite(out).all() and np.isfinite(dx).all()
            assert all(np.isfinite(g).all() for g in grads.values())
            _close(f"{name} {dtype.__name__} out", out, ref, 1e-5)


@needs_c
def test_unsupported_variants_take_the_reference_path():
    """Peepholes, projection, clamped gates, the other GRU forms and MGU run the NumPy loops, unchanged."""
    rng = np.random.default_rng(2)
    cases = [
        (rnnkit.LSTM, {"peephole": True}, None),
        (rnnkit.LSTM, {"proj_size": 2}, None),
        (rnnkit.LSTM, {}, {"i": 1.0, "f": 0.0}),
        (rnnkit.GRU, {"reset_after": False}, None),
        (rnnkit.GRU, {"reset_gate": False}, None),
        (rnnkit.GRU, {}, {"z": 0.0}),
        (rnnkit.MGU, {}, None),
    ]
    x = rng.normal(size=(4, 2, 3))
    for cls, kw, clamp in cases:
        outs = []
        for path in ("numpy", "c"):
            layer = cls(3, 4, dtype=np.float64, seed=1, **kw)
            if clamp:
                layer.clamp_gates(**clamp)
            with _kernels.use(path):
                out, _ = layer.forward(x)
                layer.backward(np.ones_like(out))
            outs.append((out, dict(layer.grads)))
        assert np.array_equal(outs[0][0], outs[1][0])
        for n in outs[0][1]:
            assert np.array_equal(outs[0][1][n], outs[1][1][n]), (cls.__name__, kw, n)


@needs_c
def test_layers_in_float32_match_between_paths():
    """Stacked, bidirectional, variable-length layers: both paths agree in the dtype users train in."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(7, 3, 5)).astype(np.float32)
    lengths = np.array([7, 3, 5])
    for cls in (rnnkit.RNN, rnnkit.GRU, rnnkit.LSTM):
        res = []
        for path in ("numpy", "c"):
            layer = cls(5, 6, num_layers=2, bidirectional=True, seed=3)
            with _kernels.use(path):
                out, _ = layer.forward(x, lengths=lengths)
                dx, _ = layer.backward(np.ones_like(out))
            res.append((out, dx, {k: v.copy() for k, v in layer.grads.items()}))
        _close("out", res[1][0], res[0][0], 1e-5)
        _close("dx", res[1][1], res[0][1], 1e-5)
        for k in res[0][2]:
            _close(k, res[1][2][k], res[0][2][k], 1e-5)


@needs_c
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_language_model_training_uses_the_compiled_loops(cell, monkeypatch):
    """The RNN LM's forward and backward (what the Trainer calls) go through the compiled loops."""
    from rnnkit.lm.rnnlm import RNNLM, RNNLMConfig

    calls = []
    real = _kernels.ck

    class Spy:
        def __getattr__(self, name):
            fn = getattr(real, name)
            return lambda *a: (calls.append(name), fn(*a))[1]

    monkeypatch.setattr(_kernels, "ck", Spy())
    model = RNNLM(
        RNNLMConfig(
            vocab_size=11, cell=cell, embedding_size=6, hidden_size=8, num_layers=2, dropout=0.1, recurrent_dropout=0.1
        )
    )
    with _kernels.use("c"):
        logits, _ = model.forward(np.random.default_rng(0).integers(0, 11, size=(5, 3)))
        model.backward(np.ones_like(logits))
    assert calls.count(f"{cell}_forward") == 2 and calls.count(f"{cell}_backward") == 2


@needs_c
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("packed", [True, False], ids=["packed", "blas"])
@pytest.mark.parametrize("on_pool", [True, False], ids=["on-pool", "blas-threads"])
def test_weight_gradient_products(dtype, packed, on_pool):
    """ck.tn (c += a^T b, bias sums) and ck.nn (c = a b), used for the weight gradients and dx, on
    column blocks of wider arrays, sizes across the 256-row blocks and the 16-lane tails; with
    BLAS single-threaded on the pool (split in blocks of rows) and BLAS threading itself."""
    rng = np.random.default_rng(9)
    before = _kernels.configure()
    try:
        _kernels.configure(packed=packed, work_per_thread=1000.0, blas_on_pool=on_pool)
        for K, M, N in ((7, 3, 5), (300, 37, 65), (600, 64, 16)):
            wide = rng.normal(size=(K, M + 4)).astype(dtype)
            a, b = wide[:, 2 : M + 2], rng.normal(size=(K, N)).astype(dtype)
            c, cb = rng.normal(size=(M, N)).astype(dtype), rng.normal(size=M).astype(dtype)
            want, want_b = c + a.T.astype(np.float64) @ b, cb + a.astype(np.float64).sum(axis=0)
            _kernels.ck.tn(a, b, c, cb)
            _close("tn", c, want, TOL[dtype] * 10)
            _close("tn bias", cb, want_b, TOL[dtype] * 10)
            a2 = rng.normal(size=(M, K)).astype(dtype)
            out = np.empty((M, N), dtype=dtype)
            _kernels.ck.nn(a2, b, out)
            _close("nn", out, a2.astype(np.float64) @ b, TOL[dtype] * 10)
    finally:
        _kernels.configure(**before)


def _blas_thread_count():
    """OpenBLAS's thread count through the function the kernels use, or None where it has none."""
    import ctypes

    found = _kernels._find_blas()
    if found is None or not found[0][5]:
        return None
    return ctypes.CFUNCTYPE(ctypes.c_int)(found[0][5])()


@needs_c
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("on_pool", [True, False], ids=["on-pool", "blas-threads"])
def test_gemm_on_the_pool(dtype, on_pool):
    """ck.gemm (c = alpha op(a) op(b) + beta c, the output layer's weight gradient) split over the
    pool by rows of c or, when c is wider than tall, by columns; every transpose, column blocks."""
    rng = np.random.default_rng(4)
    before = _kernels.configure()
    try:
        _kernels.configure(work_per_thread=100.0, threads=3, blas_on_pool=on_pool)
        for M, N, K in ((1, 9, 4), (37, 5, 70), (6, 131, 33)):
            for ta in (False, True):
                for tb in (False, True):
                    wide = rng.normal(size=(K, M + 3) if ta else (M, K + 3)).astype(dtype)
                    a = wide[:, 1 : M + 1] if ta else wide[:, 1 : K + 1]
                    b = rng.normal(size=(N, K) if tb else (K, N)).astype(dtype)
                    c = rng.normal(size=(M, N)).astype(dtype)
                    want = 0.5 * ((a.T if ta else a).astype(np.float64) @ (b.T if tb else b)) + 2.0 * c
                    _kernels.ck.gemm(a, b, c, ta, tb, 0.5, 2.0)
                    _close(f"gemm {M}x{N}x{K} {ta}/{tb}", c, want, TOL[dtype] * 10)
    finally:
        _kernels.configure(**before)


@needs_c
def test_blas_thread_count_is_restored():
    """The products on the pool lower OpenBLAS's thread count for the call only: after a training
    step of each family, and after a failed call, NumPy's BLAS has the threads it had before."""
    count = _blas_thread_count()
    if count is None:
        pytest.skip("this BLAS has no thread count for rnnkit to set")
    before = _kernels.configure()
    try:
        _kernels.configure(threads=2, work_per_thread=1000.0, blas_on_pool=True)
        rng = np.random.default_rng(1)
        for cls in (rnnkit.RNN, rnnkit.GRU, rnnkit.LSTM):
            for dtype in (np.float32, np.float64):
                layer = cls(5, 7, seed=0, dtype=dtype)
                out, _ = layer.forward(rng.normal(size=(6, 4, 5)).astype(dtype))
                layer.backward(np.ones_like(out))
                assert _blas_thread_count() == count, f"{cls.__name__} {np.dtype(dtype)}"
        with pytest.raises(ValueError, match="chain"):
            _kernels.ck.gemm(np.ones((2, 3)), np.ones((4, 5)), np.ones((2, 5)), False, False, 1.0, 0.0)
        assert _blas_thread_count() == count
    finally:
        _kernels.configure(**before)


def test_blas_threads_taken_only_from_a_pthreads_openblas():
    """OpenBLAS built with OpenMP follows each calling thread's OpenMP setting, so its thread count is
    not one number rnnkit could lower for the pool's threads: no setter is taken from it, nor from a
    library without the three functions."""
    import types

    def fake(parallel):
        return types.SimpleNamespace(
            openblas_set_num_threads=lambda n: None,
            openblas_get_num_threads=lambda: 2,
            openblas_get_parallel=lambda: parallel,
        )

    assert _kernels._openblas_threads(fake(2), "", "") == [0, 0]
    missing = types.SimpleNamespace(openblas_set_num_threads=lambda n: None, openblas_get_num_threads=lambda: 2)
    assert _kernels._openblas_threads(missing, "", "") == [0, 0]


def test_configure_rejects_bad_settings():
    for kw, shown in (({"threads": 0}, "threads"), ({"blas_on_pool": "yes"}, "blas_on_pool")):
        with pytest.raises(ValueError, match=shown):
            _kernels.configure(**kw)


# -- the switch --------------------------------------------------------------------------------------


def test_backend_switch():
    before = _kernels.backend()
    with _kernels.use("numpy"):
        assert _kernels.backend() == "numpy"
        assert not _kernels.active(np.zeros(1))
    assert _kernels.backend() == before
    with pytest.raises(ValueError, match="backend must be one of"):
        _kernels.set_backend("fortran")
    if not _kernels.available():
        with pytest.raises(RuntimeError, match="unavailable"):
            _kernels.set_backend("c")
    else:
        with _kernels.use("c"):
            assert _kernels.active(np.zeros(1, np.float32), np.zeros(1, np.float32))
            assert not _kernels.active(np.zeros(1, np.float32), np.zeros(1, np.float64))  # mixed dtypes: NumPy


@pytest.mark.parametrize("value,expected", [("numpy", "numpy"), ("bogus", None)])
def test_environment_variable(value, expected):
    env = dict(os.environ, RNNKIT_KERNELS=value)
    code = "import rnnkit._kernels as k; print(k.backend())"
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=PACKAGE_PARENT, env=env, capture_output=True, text=True, check=True
    )
    want = expected or ("c" if _kernels.available() else "numpy")
    assert res.stdout.strip() == want


def test_compiled_module_absent_falls_back(tmp_path):
    """Without the extension, rnnkit runs the NumPy loops (and RNNKIT_KERNELS=c fails loudly)."""
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text("import sys\nsys.modules['rnnkit._kernels._ckernels'] = None\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    code = (
        "import numpy as np, rnnkit, rnnkit._kernels as k; print(k.backend(), k.available());"
        "out, _ = rnnkit.LSTM(3, 4, seed=0).forward(np.ones((2, 1, 3), np.float32)); print(out.shape)"
    )
    res = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PACKAGE_PARENT,
        env=dict(env, RNNKIT_KERNELS="auto"),
        capture_output=True,
        text=True,
        check=True,
    )
    assert res.stdout.split() == ["numpy", "False", "(2,", "1,", "4)"]
    res = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PACKAGE_PARENT,
        env=dict(env, RNNKIT_KERNELS="c"),
        capture_output=True,
        text=True,
    )
    assert res.returncode != 0 and "unavailable" in res.stderr


# -- the gradient checks and PyTorch parity tests, again on the other path -------------------------------
# Imported test functions are collected here too; the fixture runs them on the path that the
# rest of the suite does not take.
import test_gradcheck  # noqa: E402
import test_torch_parity  # noqa: E402

test_gradcheck_single_layer_other_path = test_gradcheck.test_single_layer_gradients
test_gradcheck_stacked_other_path = test_gradcheck.test_stacked_bidirectional_lengths_gradients
test_parity_fuzzed_other_path = test_torch_parity.test_single_layer_parity_fuzzed_sizes
test_parity_stacked_other_path = test_torch_parity.test_stacked_bidirectional_batch_first_parity
test_parity_lengths_other_path = test_torch_parity.test_variable_length_parity_with_packed_sequences

OTHER = "numpy" if _kernels.backend() == "c" else "c"


@pytest.fixture(autouse=True)
def _other_path_for_imported_tests(request):
    if request.function.__module__ == __name__:
        yield
        return
    if OTHER == "c" and not _kernels.available():
        pytest.skip(f"compiled loops unavailable: {_kernels.why_unavailable()}")
    with _kernels.use(OTHER):
        yield
