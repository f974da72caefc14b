"""The generic checks every registered cell family must pass, written once over the registry.

Each check takes a family name and variant keywords (its options, and for families with the
"proj_size"/"peephole" features, those too) and builds everything through
``rnnkit.layers.recurrent_layer`` / ``step_cell``; nothing here knows any family by name.
``test_cell_families.py`` runs them over the registry; ``test_toy_family.py`` registers a toy
family and runs them on it.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit import _kernels
from rnnkit.cells import registry
from rnnkit.layers import recurrent_layer, step_cell

from helpers import assert_close, check_layer_gradients, family_variants
from helpers import check_step_cell_gradients as hand_bptt_gradients


def variants(families=None) -> list[tuple[str, dict]]:
    """(family name, keywords): defaults, each option at each other value, each layer feature on."""
    return family_variants(families, features=True)


def variant_id(v) -> str:
    name, kw = v
    return name + "".join(f"-{k}={val}" for k, val in kw.items())


def _cell_kw(kw: dict) -> dict:
    """The keywords a single-step cell takes: the options, not the layer features."""
    return {k: v for k, v in kw.items() if k not in registry.FEATURES}


def random_state(layer, B, rng, unbatched=False):
    """Random initial state(s) shaped like h_n: h (L, B, H_out) and, for (h, c) families, c (L, B, H)."""
    L = layer.num_layers * layer.num_directions
    lead = (L,) if unbatched else (L, B)
    h = rng.normal(size=lead + (layer.output_size,)).astype(layer.dtype)
    if layer.family.state_arity == 2:
        return h, rng.normal(size=lead + (layer.hidden_size,)).astype(layer.dtype)
    return h


def _perturb(layer, rng):
    """Parameters initialised to constants (LN gains 1, shifts 0) moved away from them, so a
    mistake in their gradients cannot hide."""
    for v in layer.params.values():
        if np.ptp(v) == 0:
            v[...] = v + 0.5 * rng.normal(size=v.shape)
    return layer


# -- gradients (float64 finite differences) ------------------------------------------------------------


def check_single_layer_gradients(name, kw):
    """Every parameter, the input and the initial state(s), with and without biases."""
    for bias in (True, False):
        rng = np.random.default_rng(1)
        layer = _perturb(recurrent_layer(name, 3, 4, bias=bias, dtype=np.float64, seed=2, **kw), rng)
        x = rng.normal(size=(5, 3, 3))
        assert check_layer_gradients(layer, x, random_state(layer, 3, rng)) < 1e-6


def check_stacked_bidirectional_lengths_gradients(name, kw):
    """Two layers, both directions, variable lengths."""
    rng = np.random.default_rng(3)
    layer = recurrent_layer(name, 3, 3, num_layers=2, bidirectional=True, dtype=np.float64, seed=4, **kw)
    _perturb(layer, rng)
    x = rng.normal(size=(4, 3, 3))
    hx = random_state(layer, 3, rng)
    assert check_layer_gradients(layer, x, hx, lengths=np.array([2, 4, 1])) < 1e-6


def check_step_cell_gradients(name, kw):
    """The single-step cell through a 3-step loop, backpropagated by hand with explicit caches."""
    rng = np.random.default_rng(7)
    cell = _perturb(step_cell(name, 3, 4, dtype=np.float64, seed=8, **_cell_kw(kw)), rng)
    hand_bptt_gradients(cell, rng, pair=cell.family.state_arity == 2)


# -- contracts -----------------------------------------------------------------------------------------


def check_parameters_follow_the_registry(name, kw):
    """Parameter names and shapes are the family's layout, G blocks of H rows, per layer and direction."""
    fam = registry.get(name)
    layer = recurrent_layer(name, 3, 4, num_layers=2, bidirectional=True, seed=0, **kw)
    variant = {k: v for k, v in kw.items() if k not in registry.FEATURES}
    G = fam.num_gates(variant)
    assert layer.gates == G == len(fam.gates(variant))
    want = {}
    for k in range(2):
        d_in = 3 if k == 0 else 2 * layer.output_size
        spec = fam.parameter_spec(
            d_in,
            4,
            proj_size=kw.get("proj_size", 0),
            peephole=kw.get("peephole", False),
            variant=variant,
        )
        for s in ("", "_reverse"):
            want.update({f"{n}_l{k}{s}": shape for n, (shape, _) in spec.items()})
    assert {n: p.shape for n, p in layer.params.items()} == want
    assert layer.params["weight_hh_l0"].shape[0] == G * 4
    assert set(layer.grads) == set(layer.params)


def check_shapes_and_dtypes(name, kw):
    """out (T, B, H_out * 2), states like hx, dx like x, gradients like parameters, for T = 1, B = 1,
    both float dtypes; a float64 input is converted to the layer's dtype."""
    for dtype in (np.float32, np.float64):
        for T, B in ((1, 1), (1, 5), (7, 1), (3, 4)):
            layer = recurrent_layer(name, 3, 4, num_layers=2, bidirectional=True, dtype=dtype, seed=0, **kw)
            Ho = layer.output_size
            out, hn = layer.forward(np.ones((T, B, 3)))
            assert out.shape == (T, B, 2 * Ho) and out.dtype == dtype
            pair = layer.family.state_arity == 2
            assert isinstance(hn, tuple) == pair
            widths = (Ho, 4) if pair else (Ho,)
            for s, w in zip(hn if pair else (hn,), widths):
                assert s.shape == (4, B, w) and s.dtype == dtype
            dx, dhx = layer.backward(np.ones_like(out))
            assert dx.shape == (T, B, 3) and dx.dtype == dtype
            for s, w in zip(dhx if pair else (dhx,), widths):
                assert s.shape == (4, B, w) and s.dtype == dtype
            assert all(
                layer.grads[k].shape == p.shape and layer.grads[k].dtype == dtype for k, p in layer.params.items()
            )


def check_bad_input_is_refused(name, kw):
    """A wrong input size or a wrong state shape raises the documented ValueError, naming the argument."""
    layer = recurrent_layer(name, 3, 4, seed=0, **kw)
    cls = type(layer).__name__
    with pytest.raises(ValueError, match=rf"{cls}\.forward: x must have shape \(T, B, 3\), got \(5, 2, 7\)"):
        layer.forward(np.ones((5, 2, 7), np.float32))
    bad = np.ones((1, 2, layer.output_size + 1), np.float32)
    hx = (bad, np.ones((1, 2, 4), np.float32)) if layer.family.state_arity == 2 else bad
    with pytest.raises(ValueError, match=rf"{cls}\.forward: hx(\[0\])? must have shape"):
        layer.forward(np.ones((5, 2, 3), np.float32), hx)
    with pytest.raises(TypeError, match=r"unexpected (option|keyword argument) 'no_such_option'"):
        recurrent_layer(name, 3, 4, no_such_option=1)


def check_lengths_keep_state_and_zero_outputs(name, kw):
    """Past its length a sequence's outputs are zero and its final state is the one at its last step,
    exactly as if it had been run alone."""
    rng = np.random.default_rng(0)
    layer = recurrent_layer(name, 3, 4, dtype=np.float64, seed=0, **kw)
    x = rng.normal(size=(6, 2, 3))
    out, hn = layer.forward(x, lengths=[6, 3])
    assert np.all(out[3:, 1] == 0)
    alone, hn_alone = layer.forward(x[:3, 1:2])
    np.testing.assert_allclose(out[:3, 1:2], alone, atol=1e-14)
    for s, s_alone in zip(hn if isinstance(hn, tuple) else (hn,), hn_alone if isinstance(hn, tuple) else (hn_alone,)):
        np.testing.assert_allclose(s[:, 1:2], s_alone, atol=1e-14)


def check_every_backend_agrees_with_the_reference(name, kw):
    """Each loop backend that can run here gives the NumPy reference's outputs and gradients (float64,
    1e-12): a family it has no adapter for runs the reference itself."""
    rng = np.random.default_rng(9)
    x = rng.normal(size=(5, 3, 3))
    results = {}
    for backend in _kernels.backends()[1:]:
        if not _kernels.available(backend):
            continue
        layer = recurrent_layer(name, 3, 4, num_layers=2, dtype=np.float64, seed=5, **kw)
        with _kernels.use(backend):
            out, _ = layer.forward(x, lengths=np.array([5, 2, 4]))
            dx, _ = layer.backward(np.ones_like(out))
        results[backend] = (out, dx, dict(layer.grads))
    ref = results["numpy"]
    for backend, (out, dx, grads) in results.items():
        assert_close(f"{backend} out", out, ref[0], 1e-12)
        assert_close(f"{backend} dx", dx, ref[1], 1e-12)
        for k in ref[2]:
            assert_close(f"{backend} grad {k}", grads[k], ref[2][k], 1e-12)


def has_torch_twin(name, kw) -> bool:
    """Whether the family's torch.nn twin computes this variant (peepholes it has none of)."""
    fam = registry.get(name)
    variant = fam.resolve("has_torch_twin", _cell_kw(kw))
    return fam.torch_twin is not None and not (fam.torch_gap and fam.torch_gap(variant)) and not kw.get("peephole")


def check_torch_parity(name, kw):
    """Against the family's torch.nn twin on the same weights, float64: outputs, final states and every
    gradient (inputs, initial states, parameters) to 1e-10, stacked, bidirectional, with lengths."""
    torch = pytest.importorskip("torch")
    fam = registry.get(name)
    rng = np.random.default_rng(21)
    T, B, D, H = 5, 4, 3, 6
    lengths = np.array([5, 2, 4, 1])
    ours = recurrent_layer(name, D, H, num_layers=2, bidirectional=True, dtype=np.float64, seed=21, **kw)
    torch_kw = {k: v for k, v in kw.items() if k in ("proj_size",) or k in ours.variant}
    torch_kw.update({k: v for k, v in ours.variant.items() if k in ("nonlinearity",)})
    theirs = getattr(torch.nn, fam.torch_twin)(D, H, num_layers=2, bidirectional=True, dtype=torch.float64, **torch_kw)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    pair = fam.state_arity == 2
    hx = random_state(ours, B, rng)
    x = rng.normal(size=(T, B, D))
    out, hn = ours.forward(x, hx, lengths=lengths)
    P = rng.normal(size=out.shape)
    Qs = [rng.normal(size=s.shape) for s in (hn if pair else (hn,))]
    dx, dhx = ours.backward(P, tuple(Qs) if pair else Qs[0])

    xt = torch.tensor(x, requires_grad=True)
    hxt = [torch.tensor(s, requires_grad=True) for s in (hx if pair else (hx,))]
    packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), enforce_sorted=False)
    po, hnt = theirs(packed, tuple(hxt) if pair else hxt[0])
    ot, _ = torch.nn.utils.rnn.pad_packed_sequence(po, total_length=T)
    hnt = hnt if pair else (hnt,)
    assert_close("out", out, ot, 1e-10, peer="torch")
    for i, (s, st) in enumerate(zip(hn if pair else (hn,), hnt)):
        assert_close(f"state[{i}]", s, st, 1e-10, peer="torch")
    loss = (ot * torch.tensor(P)).sum() + sum((st * torch.tensor(q)).sum() for st, q in zip(hnt, Qs))
    loss.backward()
    assert_close("dx", dx, xt.grad, 1e-10, peer="torch")
    for i, (d, s) in enumerate(zip(dhx if pair else (dhx,), hxt)):
        assert_close(f"dhx[{i}]", d, s.grad, 1e-10, peer="torch")
    assert sorted(k for k, _ in theirs.named_parameters()) == sorted(ours.grads)
    for k, p in theirs.named_parameters():
        assert_close(f"grad {k}", ours.grads[k], p.grad, 1e-10, peer="torch")


GENERIC_CHECKS = [
    check_single_layer_gradients,
    check_stacked_bidirectional_lengths_gradients,
    check_step_cell_gradients,
    check_parameters_follow_the_registry,
    check_shapes_and_dtypes,
    check_bad_input_is_refused,
    check_lengths_keep_state_and_zero_outputs,
    check_every_backend_agrees_with_the_reference,
]
