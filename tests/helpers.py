"""Shared test utilities: random-projection losses, finite differences over a layer, torch twins."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

import rnnkit
from rnnkit.cells import registry
from rnnkit.gradcheck import assert_gradient_close, numerical_gradient
from rnnkit.layers import recurrent_layer

# The checkout's root (this file is tests/helpers.py); tests at any depth use it instead of counting parents.
REPO_ROOT = Path(__file__).resolve().parent.parent

# The folder holding the rnnkit this process imported: the installed package in CI, the source tree
# in a development checkout. Subprocesses get it first on PYTHONPATH, so they test the same rnnkit
# (the source tree of an installed checkout has no compiled loops).
PACKAGE_PARENT = str(Path(rnnkit.__file__).resolve().parent.parent)


def subprocess_env(**extra: str) -> dict:
    """os.environ with PYTHONPATH leading to the rnnkit under test, plus ``extra``.

    PYTHONSAFEPATH (Python 3.11+) keeps ``python -m``/``-c`` from putting the working directory, a
    checkout's root whose ``rnnkit/`` has no compiled loops, ahead of it."""
    path = os.pathsep.join(p for p in (PACKAGE_PARENT, os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, PYTHONPATH=path, PYTHONSAFEPATH="1", **extra)


def shared_data(*parts: str) -> Path:
    """A path under the shared data sets (read in place, never copied into the repository).

    The root is $RNNKIT_SHARED_DATA when set, else ``shared/data`` beside the
    checkout (``../shared/data`` from its root). Tests skip when the file is absent.
    """
    root = os.environ.get("RNNKIT_SHARED_DATA")
    return (Path(root) if root else REPO_ROOT.parent / "shared" / "data").joinpath(*parts)


def family_variants(families=None, *, features: bool = False) -> list[tuple[str, dict]]:
    """(family name, keywords) for every registered family: its defaults, then each option set in
    turn to each other value it offers (a bool's other value, each other choice), and, with
    ``features``, each layer feature it supports switched on (proj_size=2, peephole=True)."""
    out = []
    for fam in families if families is not None else registry.families():
        out.append((fam.name, {}))
        for o in fam.options:
            values = o.choices or ((False, True) if isinstance(o.default, bool) else ())
            out += [(fam.name, {o.name: v}) for v in values if v != o.default]
        if features:
            if "proj_size" in fam.features:
                out.append((fam.name, {"proj_size": 2}))
            if "peephole" in fam.features:
                out.append((fam.name, {"peephole": True}))
    return out


def _layer_variants() -> list[tuple[str, dict, str | None]]:
    """(rnnkit class name, constructor kwargs, torch class name or None) of the families a model offers."""
    out = []
    for name, kw in family_variants([f for f in registry.families() if f.model_choice]):
        fam = registry.get(name)
        gap = fam.torch_gap(fam.resolve("VARIANTS", kw)) if fam.torch_gap else None
        out.append((type(recurrent_layer(name, 1, 2)).__name__, kw, None if gap else fam.torch_twin))
    return out


VARIANTS = _layer_variants()


def variant_id(v) -> str:
    name, kw, _ = v
    return name + "".join(f"-{k}={val}" for k, val in kw.items())


def random_state(layer, B, rng, unbatched=False):
    L = layer.num_layers * layer.num_directions
    lead = (L,) if unbatched else (L, B)
    h = rng.normal(size=lead + (layer.output_size,)).astype(layer.dtype)
    if layer.family.state_arity == 2:  # (h, c)
        return (h, rng.normal(size=lead + (layer.hidden_size,)).astype(layer.dtype))
    return h


def check_layer_gradients(layer, x, hx, lengths=None, seed=0, tol=1e-6, **forward_kw):
    """Finite differences (float64) of L = sum(P*out) + sum(Q*h_n) [+ sum(Q2*c_n)] for every parameter,
    the input and the initial state(s); ``forward_kw`` go to every forward (e.g. ``mask=``).
    Returns the worst relative error."""
    rng = np.random.default_rng(seed)
    out, hn = layer.forward(x, hx, lengths=lengths, **forward_kw)
    is_lstm = isinstance(hn, tuple)
    P = rng.normal(size=out.shape)
    Qs = [rng.normal(size=s.shape) for s in (hn if is_lstm else (hn,))]

    def loss():
        o, s = layer.forward(x, hx, lengths=lengths, **forward_kw)
        states = s if is_lstm else (s,)
        return float(np.sum(P * o) + sum(np.sum(q * st) for q, st in zip(Qs, states)))

    layer.forward(x, hx, lengths=lengths, **forward_kw)
    layer.zero_grad()
    dx, dhx = layer.backward(P, tuple(Qs) if is_lstm else Qs[0])
    worst = 0.0
    for name, p in layer.params.items():
        worst = max(worst, assert_gradient_close(name, layer.grads[name], numerical_gradient(loss, p), tol))
    worst = max(worst, assert_gradient_close("x", dx, numerical_gradient(loss, x), tol))
    states0 = hx if is_lstm else (hx,)
    dstates0 = dhx if is_lstm else (dhx,)
    for i, (s0, ds0) in enumerate(zip(states0, dstates0)):
        worst = max(worst, assert_gradient_close(f"hx[{i}]", ds0, numerical_gradient(loss, s0), tol))
    return worst


def assert_close(name, ours, ref, tol, peer="reference"):
    """Max abs error of ``ours`` against ``ref`` below ``tol``; for float32 results, ``tol`` times the
    magnitude compared, max(1, max|ref|).

    A float32 gradient summed over T*B steps carries a rounding error that grows with its size, so
    a fixed absolute bound passes or fails with the luck of the BLAS and dependency versions. float64
    bounds stay absolute (they sit many orders of magnitude above float64 rounding)."""
    ours = np.asarray(ours)
    ref = ref.detach().numpy() if hasattr(ref, "detach") else np.asarray(ref)
    assert ours.shape == ref.shape, f"{name}: shape {ours.shape} vs {peer} {ref.shape}"
    if not ours.size:
        return
    err = float(np.max(np.abs(ours.astype(np.float64) - ref.astype(np.float64))))
    scale = max(1.0, float(np.max(np.abs(ref)))) if ours.dtype == np.float32 else 1.0
    assert err < tol * scale, f"{name}: max abs error {err:.3e} >= {tol:.0e} x {scale:.3g} (vs {peer})"


def check_step_cell_gradients(cell, rng, pair: bool) -> None:
    """A single-step cell (input 3, hidden 4) through a 3-step loop of batch 2, backpropagated by hand
    with explicit caches; finite differences (float64) of every parameter, the inputs and h0 (and c0
    when the state is a pair (h, c))."""
    xs = rng.normal(size=(3, 2, 3))
    h0, c0 = rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    P = rng.normal(size=(3, 2, 4))

    def run():
        state, caches, loss = ((h0, c0) if pair else h0), [], 0.0
        for t in range(3):
            state, cache = cell.step(xs[t], state)
            caches.append(cache)
            loss += np.sum(P[t] * (state[0] if pair else state))
        return loss, caches

    _, caches = run()
    cell.zero_grad()
    dh, dc = np.zeros((2, 4)), np.zeros((2, 4))
    dxs = np.zeros_like(xs)
    for t in reversed(range(3)):
        dh = dh + P[t]
        if pair:
            dxs[t], (dh, dc) = cell.backward(dh, dc, cache=caches[t])
        else:
            dxs[t], dh = cell.backward(dh, cache=caches[t])

    def f():
        return run()[0]

    for pname, p in cell.params.items():
        assert_gradient_close(pname, cell.grads[pname], numerical_gradient(f, p))
    assert_gradient_close("x", dxs, numerical_gradient(f, xs))
    assert_gradient_close("h0", dh, numerical_gradient(f, h0))
    if pair:
        assert_gradient_close("c0", dc, numerical_gradient(f, c0))
