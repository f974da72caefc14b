"""Layer-normalised LSTM and GRU: gradients, an autograd reference, LN's invariances, contracts.

The reference below is written with torch autograd straight from the
equations (Ba et al. 2016, appendix, for the LSTM; the same recipe on
PyTorch's GRU), one step at a time and one sequence at a time, so it shares
nothing with rnnkit's batched, masked implementation.
"""

import re
import warnings

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.layers.layernorm_rnn import LayerNormGRU, LayerNormLSTM

from helpers import assert_close, check_layer_gradients

KINDS = {"lstm": LayerNormLSTM, "gru": LayerNormGRU}
TOL = {np.float64: 1e-10, np.float32: 1e-5}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def _state(layer, B, rng, unbatched=False):
    L = layer.num_layers * layer.num_directions
    lead = (L,) if unbatched else (L, B)
    h = rng.normal(size=lead + (layer.hidden_size,)).astype(layer.dtype)
    if isinstance(layer, LayerNormLSTM):
        return h, rng.normal(size=lead + (layer.hidden_size,)).astype(layer.dtype)
    return h


def _perturb_ln(layer, rng):
    """Gains and shifts away from 1 and 0, so a mistake in their gradients cannot hide."""
    for k, v in layer.params.items():
        if k.startswith("ln_"):
            v[...] = (1.0 if "_weight_" in k else 0.0) + 0.5 * rng.normal(size=v.shape)
    return layer


class _FixedMasks:
    """Every forward draws the same dropout and zoneout masks, so finite differences see one function."""

    def __init__(self, layer, seed=123):
        original = layer.forward

        def forward(*args, **kwargs):
            layer.rng = np.random.default_rng(seed)
            return original(*args, **kwargs)

        layer.forward = forward


# -- the reference ------------------------------------------------------------------------------


def _ln(v, w, b, eps):
    mu = v.mean(-1, keepdim=True)
    var = ((v - mu) ** 2).mean(-1, keepdim=True)
    y = (v - mu) / torch.sqrt(var + eps) * w
    return y if b is None else y + b


def _lstm_step(x, h, c, p, eps):
    a = _ln(h @ p["weight_hh"].T, p["ln_hh_weight"], p.get("ln_hh_bias"), eps) + _ln(
        x @ p["weight_ih"].T, p["ln_ih_weight"], p.get("ln_ih_bias"), eps
    )
    i, f, g, o = torch.chunk(a, 4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(_ln(c, p["ln_c_weight"], p.get("ln_c_bias"), eps))
    return h, c


def _gru_step(x, h, p, eps):
    ax_r, ax_z, ax_n = torch.chunk(_ln(x @ p["weight_ih"].T, p["ln_ih_weight"], p.get("ln_ih_bias"), eps), 3, -1)
    ah_r, ah_z, ah_n = torch.chunk(_ln(h @ p["weight_hh"].T, p["ln_hh_weight"], p.get("ln_hh_bias"), eps), 3, -1)
    r, z = torch.sigmoid(ax_r + ah_r), torch.sigmoid(ax_z + ah_z)
    n = torch.tanh(ax_n + r * ah_n)
    return (1 - z) * n + z * h


def _reference(layer, w, x, h0, c0, lengths):
    """Outputs (T, B, H*dirs) and final states of the stacked layer; x time-major; each sequence run alone."""
    T, B = x.shape[:2]
    suffixes = ("", "_reverse")[: layer.num_directions]
    lstm = isinstance(layer, LayerNormLSTM)
    outs, h_ns, c_ns = [], [], []
    for b in range(B):
        n = T if lengths is None else int(lengths[b])
        inp = x[:n, b : b + 1]
        hs, cs = [], []
        for k in range(layer.num_layers):
            dir_outs = []
            for d, s in enumerate(suffixes):
                end = f"_l{k}{s}"
                p = {name[: -len(end)]: v for name, v in w.items() if name.endswith(end)}
                idx = k * layer.num_directions + d
                h, c = h0[idx, b : b + 1], (c0[idx, b : b + 1] if lstm else None)
                seq, steps = (inp if d == 0 else inp.flip(0)), []
                for t in range(n):
                    if lstm:
                        h, c = _lstm_step(seq[t], h, c, p, layer.eps)
                    else:
                        h = _gru_step(seq[t], h, p, layer.eps)
                    steps.append(h)
                o = torch.stack(steps)
                dir_outs.append(o if d == 0 else o.flip(0))
                hs.append(h)
                cs.append(c)
            inp = torch.cat(dir_outs, -1)
        outs.append(torch.cat([inp, inp.new_zeros((T - n,) + inp.shape[1:])]))
        h_ns.append(torch.stack(hs))
        if lstm:
            c_ns.append(torch.stack(cs))
    return torch.cat(outs, 1), torch.cat(h_ns, 1), (torch.cat(c_ns, 1) if lstm else None)


def _close(name, ours, theirs, tol):
    assert_close(name, ours, theirs, tol)


def _check_against_reference(
    kind, dtype, T, B, D, H, num_layers=1, bidirectional=False, lengths=None, batch_first=False, bias=True, seed=0
):
    rng = np.random.default_rng(seed)
    layer = _perturb_ln(
        KINDS[kind](
            D,
            H,
            num_layers=num_layers,
            bidirectional=bidirectional,
            bias=bias,
            batch_first=batch_first,
            dtype=dtype,
            seed=seed,
        ),
        rng,
    )
    x = rng.normal(size=(B, T, D) if batch_first else (T, B, D)).astype(dtype)
    hx = _state(layer, B, rng)
    out, hn = layer.forward(x, hx, lengths=lengths)
    P = rng.normal(size=out.shape).astype(dtype)
    Qs = [rng.normal(size=s.shape).astype(dtype) for s in (hn if kind == "lstm" else (hn,))]
    dx, dhx = layer.backward(P, tuple(Qs) if kind == "lstm" else Qs[0])

    tt = TORCH_DTYPE[dtype]
    w = {k: torch.tensor(v, dtype=tt, requires_grad=True) for k, v in layer.state_dict().items()}
    xt = torch.tensor(x, dtype=tt, requires_grad=True)
    states = [torch.tensor(s, dtype=tt, requires_grad=True) for s in (hx if kind == "lstm" else (hx,))]
    ot, hnt, cnt = _reference(
        layer, w, xt.transpose(0, 1) if batch_first else xt, states[0], states[1] if kind == "lstm" else None, lengths
    )
    if batch_first:
        ot = ot.transpose(0, 1)
    finals = [hnt, cnt] if kind == "lstm" else [hnt]
    loss = (ot * torch.tensor(P)).sum() + sum((f * torch.tensor(q)).sum() for f, q in zip(finals, Qs))
    loss.backward()

    tol = TOL[dtype]
    _close("out", out, ot, tol)
    for i, (ours, theirs) in enumerate(zip(hn if kind == "lstm" else (hn,), finals)):
        _close(f"state_n[{i}]", ours, theirs, tol)
    _close("dx", dx, xt.grad, tol)
    for i, (ours, s) in enumerate(zip(dhx if kind == "lstm" else (dhx,), states)):
        _close(f"dhx[{i}]", ours, s.grad, tol)
    assert sorted(layer.grads) == sorted(w)
    for k, p in w.items():
        _close(f"grad {k}", layer.grads[k], p.grad, tol)
        assert layer.grads[k].dtype == dtype


# -- agreement with the reference -----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", range(2))
def test_single_layer_matches_the_reference_on_fuzzed_sizes(kind, dtype, seed):
    rng = np.random.default_rng(40 + seed)
    T, B, D = (int(v) for v in rng.integers(1, 7, size=3))
    H = int(rng.integers(2, 7))
    _check_against_reference(kind, dtype, T, B, D, H, seed=seed)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kind", KINDS)
def test_stacked_bidirectional_with_lengths_matches_the_reference(kind, dtype):
    _check_against_reference(
        kind,
        dtype,
        5,
        4,
        3,
        4,
        num_layers=2,
        bidirectional=True,
        lengths=np.array([5, 2, 4, 1]),
        batch_first=True,
        seed=7,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_without_shifts_matches_the_reference(kind):
    _check_against_reference(kind, np.float64, 4, 3, 2, 5, num_layers=2, bias=False, seed=8)


# -- finite differences ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bias", [True, False])
def test_single_layer_gradients(kind, bias):
    rng = np.random.default_rng(1)
    layer = _perturb_ln(KINDS[kind](3, 4, bias=bias, dtype=np.float64, seed=1), rng)
    assert check_layer_gradients(layer, rng.normal(size=(5, 2, 3)), _state(layer, 2, rng)) < 1e-6


@pytest.mark.parametrize("kind", KINDS)
def test_stacked_bidirectional_gradients_with_lengths(kind):
    rng = np.random.default_rng(2)
    layer = _perturb_ln(KINDS[kind](3, 3, num_layers=2, bidirectional=True, dtype=np.float64, seed=2), rng)
    assert (
        check_layer_gradients(layer, rng.normal(size=(4, 3, 3)), _state(layer, 3, rng), lengths=np.array([4, 1, 3]))
        < 1e-6
    )


@pytest.mark.parametrize("kind", KINDS)
def test_regularised_gradients_with_fixed_masks(kind):
    """Stacked and bidirectional, with every mask at once: lengths, zoneout, variational recurrent
    dropout, dropout between layers and on the input, DropConnect on W_hh."""
    rng = np.random.default_rng(3)
    layer = _perturb_ln(
        KINDS[kind](
            2,
            3,
            num_layers=2,
            bidirectional=True,
            dtype=np.float64,
            seed=3,
            zoneout=0.3,
            recurrent_dropout=0.4,
            variational=True,
            dropout=0.3,
            input_dropout=0.2,
            weight_drop=0.5,
        ),
        rng,
    )
    _FixedMasks(layer)
    assert (
        check_layer_gradients(layer, rng.normal(size=(3, 2, 2)), _state(layer, 2, rng), lengths=np.array([3, 2])) < 1e-6
    )


@pytest.mark.parametrize("kind", KINDS)
def test_per_step_masks_gradients(kind):
    """A new recurrent-dropout and zoneout mask at every step (the non-variational forms)."""
    rng = np.random.default_rng(30)
    layer = _perturb_ln(KINDS[kind](3, 4, dtype=np.float64, seed=30, zoneout=0.3, recurrent_dropout=0.4), rng)
    _FixedMasks(layer)
    assert (
        check_layer_gradients(layer, rng.normal(size=(5, 3, 3)), _state(layer, 3, rng), lengths=np.array([5, 3, 4]))
        < 1e-6
    )


@pytest.mark.parametrize("kind", KINDS)
def test_zoneout_in_eval_mode_gradients(kind):
    rng = np.random.default_rng(4)
    zoneout = (0.3, 0.6) if kind == "lstm" else 0.3
    layer = _perturb_ln(KINDS[kind](3, 3, dtype=np.float64, seed=4, zoneout=zoneout), rng).eval()
    assert check_layer_gradients(layer, rng.normal(size=(4, 2, 3)), _state(layer, 2, rng)) < 1e-6


@pytest.mark.parametrize("kind,gates", [("lstm", {"f": 1.0, "o": 0.5}), ("gru", {"r": 0.7}), ("gru", {"z": 0.2})])
def test_gradients_with_clamped_gates(kind, gates):
    rng = np.random.default_rng(5)
    layer = _perturb_ln(KINDS[kind](3, 3, dtype=np.float64, seed=5), rng).clamp_gates(**gates)
    assert check_layer_gradients(layer, rng.normal(size=(4, 2, 3)), _state(layer, 2, rng)) < 1e-6


def test_clamped_gates_hold_the_state():
    """f = 1, i = 0 keeps c at c0 (and h = o tanh(LN(c0))); z = 1 keeps a GRU's h at h0."""
    rng = np.random.default_rng(6)
    x = rng.normal(size=(4, 2, 3))
    lstm = LayerNormLSTM(3, 5, dtype=np.float64, seed=6).clamp_gates(f=1, i=0)
    h0, c0 = _state(lstm, 2, rng)
    _, (h_n, c_n) = lstm.forward(x, (h0, c0))
    np.testing.assert_array_equal(c_n, c0)
    gru = LayerNormGRU(3, 5, dtype=np.float64, seed=6).clamp_gates(z=1)
    h0 = _state(gru, 2, rng)
    out, h_n = gru.forward(x, h0)
    np.testing.assert_allclose(h_n, h0, rtol=0, atol=1e-14)  # n + 1 * (h - n), rounded
    np.testing.assert_allclose(out, np.broadcast_to(h0, out.shape), rtol=0, atol=1e-14)


# -- what normalisation buys: invariances of the function ---------------------------------------------


def _run(layer, x, hx, P, Qs):
    layer.zero_grad()
    out, hn = layer.forward(x, hx)
    layer.backward(P, tuple(Qs) if isinstance(hn, tuple) else Qs[0])
    return out, {k: v.copy() for k, v in layer.grads.items()}


def _setup(kind, seed, eps):
    rng = np.random.default_rng(seed)
    layer = _perturb_ln(KINDS[kind](3, 4, num_layers=2, dtype=np.float64, eps=eps, seed=seed), rng)
    x = rng.normal(size=(6, 2, 3))
    hx = _state(layer, 2, rng)
    out, hn = layer.forward(x, hx)
    P = rng.normal(size=out.shape)
    Qs = [rng.normal(size=s.shape) for s in (hn if kind == "lstm" else (hn,))]
    return layer, x, hx, P, Qs


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("alpha", [0.1, 7.0])
def test_rescaling_recurrent_weights_changes_nothing_and_scales_their_gradient(kind, alpha):
    """LN(alpha v) = LN(v) for alpha > 0 (up to eps, made negligible here), whatever the shifts:
    the output is unchanged and, by the chain rule, dL/dW_hh is divided by alpha."""
    layer, x, hx, P, Qs = _setup(kind, 10, eps=1e-14)
    out, grads = _run(layer, x, hx, P, Qs)
    for name in ("weight_hh_l0", "weight_hh_l1"):
        layer.params[name] *= alpha
    out2, grads2 = _run(layer, x, hx, P, Qs)
    np.testing.assert_allclose(out2, out, rtol=0, atol=1e-10)
    for k in grads:
        want = grads[k] / alpha if k.startswith("weight_hh") else grads[k]
        np.testing.assert_allclose(grads2[k], want, rtol=1e-7, atol=1e-9, err_msg=k)


@pytest.mark.parametrize("kind", KINDS)
def test_rescaling_the_input_changes_nothing(kind):
    """x enters only through LN(x W_ih^T), so a positive scale of the data (or of W_ih) is invisible."""
    layer, x, hx, P, Qs = _setup(kind, 11, eps=1e-14)
    out, _ = layer.forward(x, hx)
    np.testing.assert_allclose(layer.forward(25.0 * x, hx)[0], out, rtol=0, atol=1e-10)
    layer.params["weight_ih_l0"] *= 0.05
    np.testing.assert_allclose(layer.forward(x, hx)[0], out, rtol=0, atol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
def test_recentring_the_weights_over_all_gates_changes_nothing(kind):
    """Adding one vector v to every row of W (all G*H of them) shifts each pre-activation vector by the
    scalar v.h, which LN's mean removes exactly (eps included). Adding it to one gate's rows only is
    *not* invisible: the statistics run over all gates together, not gate by gate."""
    layer, x, hx, P, Qs = _setup(kind, 12, eps=1e-5)
    out, _ = layer.forward(x, hx)
    rng = np.random.default_rng(0)
    for name in ("weight_ih_l0", "weight_hh_l0", "weight_ih_l1", "weight_hh_l1"):
        w = layer.params[name]
        w += rng.normal(size=w.shape[1])
    np.testing.assert_allclose(layer.forward(x, hx)[0], out, rtol=0, atol=1e-12)
    H = layer.hidden_size
    layer.params["weight_hh_l0"][:H] += 1.0  # one gate block only
    assert np.max(np.abs(layer.forward(x, hx)[0] - out)) > 1e-3


def test_lstm_output_ignores_the_scale_of_h0():
    """An LN-LSTM reads h0 only through LN(h0 W_hh^T): a positive rescaling of h0 is invisible."""
    layer, x, (h0, c0), P, Qs = _setup("lstm", 13, eps=1e-14)
    out, _ = layer.forward(x, (h0, c0))
    np.testing.assert_allclose(layer.forward(x, (3.0 * h0, c0))[0], out, rtol=0, atol=1e-10)


# -- contracts ------------------------------------------------------------------------------------


def _documented_shapes(kind, G, H, D):
    """Parameter shapes as the layers' module docstring states them, for layer 0."""
    doc = rnnkit.layers.layernorm_rnn.__doc__
    shapes = {}
    for name, shape, note in re.findall(r"^\s+(\w+)_l\{k\}\{s\}\s+\(([^)]*)\)(.*)$", doc, flags=re.M):
        if "LSTM only" in note and kind != "lstm":
            continue
        dims = [d.strip() for d in shape.split(",") if d.strip()]
        shapes[name] = tuple(eval(d, {"G": G, "H": H, "D": D}) for d in dims)
    return shapes


@pytest.mark.parametrize("kind,G", [("lstm", 4), ("gru", 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_documented_names_shapes_and_initialisation(kind, G, bias):
    layer = KINDS[kind](7, 5, num_layers=2, bidirectional=True, bias=bias, seed=0)
    sd = layer.state_dict()
    want = {k: v for k, v in _documented_shapes(kind, G, 5, 7).items() if bias or not k.endswith("_bias")}
    for s in ("", "_reverse"):
        assert {k[: -len("_l0" + s)]: v.shape for k, v in sd.items() if k.endswith("_l0" + s)} == want
        assert sd["weight_ih_l1" + s].shape == (G * 5, 10)  # D = H * num_directions above layer 0
    assert list(layer.grads) == list(layer.params)
    for k, v in sd.items():
        assert v.dtype == np.float32
        if re.match(r"ln_\w+_weight_", k):
            assert np.all(v == 1.0), k
        elif re.match(r"ln_\w+_bias_", k):
            assert np.all(v == 0.0), k
        else:
            assert np.all(np.abs(v) <= 1 / np.sqrt(5)) and np.std(v) > 0, k
    again = KINDS[kind](7, 5, num_layers=2, bidirectional=True, bias=bias, seed=0).state_dict()
    assert all(np.array_equal(sd[k], again[k]) for k in sd)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T,B", [(1, 1), (4, 3)])
def test_shapes_and_dtypes(kind, dtype, T, B):
    layer = KINDS[kind](3, 5, num_layers=2, bidirectional=True, dtype=dtype, seed=0)
    x = np.random.default_rng(0).normal(size=(T, B, 3))
    out, hn = layer.forward(x)
    assert out.shape == (T, B, 10) and out.dtype == dtype
    states = hn if kind == "lstm" else (hn,)
    for s in states:
        assert s.shape == (4, B, 5) and s.dtype == dtype
    dx, dhx = layer.backward(np.ones_like(out))
    assert dx.shape == x.shape and dx.dtype == dtype
    for s in dhx if kind == "lstm" else (dhx,):
        assert s.shape == (4, B, 5) and s.dtype == dtype
    assert all(g.dtype == dtype for g in layer.grads.values())


@pytest.mark.parametrize("kind", KINDS)
def test_unbatched_and_no_grad_agree_with_the_batched_forward(kind):
    rng = np.random.default_rng(20)
    layer = KINDS[kind](3, 4, num_layers=2, dtype=np.float64, seed=20)
    x = rng.normal(size=(5, 3))
    out, hn = layer.forward(x)
    out_b, hn_b = layer.forward(x[:, None])
    np.testing.assert_array_equal(out, out_b[:, 0])
    with rnnkit.no_grad():
        out_ng, _ = layer.forward(x)
    np.testing.assert_array_equal(out_ng, out)
    with pytest.raises(RuntimeError, match="no_grad"):
        layer.backward(np.ones_like(out))


@pytest.mark.parametrize("kind", KINDS)
def test_huge_preactivations_stay_finite_without_warnings(kind):
    """Gains of 500 saturate every sigmoid and tanh; inputs of 1e6 only change LN's statistics."""
    rng = np.random.default_rng(21)
    for dtype in (np.float32, np.float64):
        layer = KINDS[kind](3, 4, dtype=dtype, seed=21)
        for k, v in layer.params.items():
            if k.startswith("ln_") and "_weight_" in k:
                v[...] = 500.0 * np.sign(rng.normal(size=v.shape))
        x = (1e6 * rng.normal(size=(6, 2, 3))).astype(dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out, _ = layer.forward(x)
            dx, _ = layer.backward(rng.normal(size=out.shape).astype(dtype))
        assert np.all(np.isfinite(out)) and np.all(np.isfinite(dx))
        assert all(np.all(np.isfinite(g)) for g in layer.grads.values())


@pytest.mark.parametrize("kind", KINDS)
def test_bad_arguments_and_inputs(kind):
    cls, name = KINDS[kind], KINDS[kind].__name__
    with pytest.raises(TypeError, match=f"{name}: eps must be a float, got str '0.1'"):
        cls(3, 4, eps="0.1")
    for eps in (0.0, -1e-5, float("inf")):
        with pytest.raises(ValueError, match=f"{name}: eps must be a finite number > 0, got"):
            cls(3, 4, eps=eps)
    with pytest.raises(TypeError, match="proj_size"):
        cls(3, 4, proj_size=2)
    with pytest.raises(ValueError, match=f"{name}: hidden_size must be >= 1, got 0"):
        cls(3, 0)
    layer = cls(3, 4, eps=1e-3)
    assert layer.eps == 1e-3 and "eps=0.001" in repr(layer)
    with pytest.raises(ValueError, match=re.escape(f"{name}.forward: x must have shape (T, B, 3), got (5, 2, 7)")):
        layer.forward(np.zeros((5, 2, 7)))
    with pytest.raises(ValueError, match=re.escape(f"{name}.forward: lengths must be in [1, 5], got 6 at index 1")):
        layer.forward(np.zeros((5, 2, 3)), lengths=np.array([2, 6]))
    if kind == "lstm":
        with pytest.raises(TypeError, match=f"{name}.forward: hx must be a tuple"):
            layer.forward(np.zeros((5, 2, 3)), np.zeros((1, 2, 4)))
    else:
        with pytest.raises(ValueError, match=re.escape(f"{name}.forward: hx must have shape (1, 2, 4), got (1, 3, 4)")):
            layer.forward(np.zeros((5, 2, 3)), np.zeros((1, 3, 4)))
    with pytest.raises(ValueError, match=f"{name}.clamp_gates: gate must be one of"):
        layer.clamp_gates(g=1.0)


def test_docstring_examples_run():
    import doctest

    import rnnkit.cells.ln_gru
    import rnnkit.cells.ln_lstm
    import rnnkit.layers.layernorm_rnn

    for mod in (rnnkit.cells.ln_lstm, rnnkit.cells.ln_gru, rnnkit.layers.layernorm_rnn):
        result = doctest.testmod(mod)
        assert result.failed == 0 and result.attempted > 0, mod.__name__
