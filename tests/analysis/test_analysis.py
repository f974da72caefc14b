"""rnnkit.analysis: gradient flow against torch and finite differences, the spectral bound, gate statistics, plots."""

import sys

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.analysis import gate_statistics, gradient_flow, recurrent_spectrum
from rnnkit.analysis._common import StateLayout
from rnnkit.grad_mode import no_grad
from rnnkit.gradcheck import numerical_gradient

from helpers import REPO_ROOT

T, B, D, H = 6, 3, 2, 3


def _unit(seed, n):
    u = np.random.default_rng(seed).normal(size=n)
    return u / np.linalg.norm(u)


def _torch_twin(layer):
    twin = getattr(torch.nn, type(layer).__name__)(
        layer.input_size, layer.hidden_size, layer.num_layers, dtype=torch.float64
    )
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    return twin


def _torch_state(lay, v):
    """StateLayout.unflatten for a torch tensor (B, S)."""
    B = v.shape[0]
    h = v[:, lay.hidden].reshape(B, lay.L, lay.Ho).permute(1, 0, 2).contiguous()
    if not lay.lstm:
        return h
    return h, v[:, lay.L * lay.Ho :].reshape(B, lay.L, lay.H).permute(1, 0, 2).contiguous()


def _torch_flat(lay, state):
    parts = state if lay.lstm else (state,)
    return torch.cat([p.permute(1, 0, 2).reshape(p.shape[1], -1) for p in parts], dim=1)


def _torch_state_grads(layer, x, u):
    """dL/ds_t for t = 0..T by torch autograd (float64), L = sum_b u . h_T[top layer, b]. Returns (T+1, B, S).

    s_t is the state our layer passed through (state_at), made a leaf, and the steps t..T re-run in torch."""
    twin, lay = _torch_twin(layer), StateLayout(layer)
    layer.forward(x)
    grads = []
    for t in range(x.shape[0] + 1):
        s = torch.from_numpy(lay.flatten(layer.state_at(t))).requires_grad_(True)
        st = _torch_state(lay, s)
        for k in range(t, x.shape[0]):
            _, st = twin(torch.from_numpy(x[k : k + 1]), st)
        h_T = (st[0] if lay.lstm else st)[-1]
        (g,) = torch.autograd.grad((h_T @ torch.from_numpy(u)).sum(), s)
        grads.append(g.numpy())
    return np.stack(grads)


@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_gradient_flow_matches_torch_autograd(name, num_layers):
    rng = np.random.default_rng(1)
    layer = getattr(rnnkit, name)(D, H, num_layers=num_layers, dtype=np.float64, seed=2)
    x = rng.normal(size=(T, B, D))
    flow = gradient_flow(layer, x, seed=5)
    ref = _torch_state_grads(layer, x, _unit(5, H))  # (T+1, B, S)
    np.testing.assert_allclose(flow.grad_norm, np.linalg.norm(ref, axis=2), rtol=1e-10, atol=1e-14)
    lay = StateLayout(layer)
    np.testing.assert_allclose(
        flow.hidden_grad_norm, np.linalg.norm(ref[:, :, lay.hidden], axis=2), rtol=1e-10, atol=1e-14
    )
    np.testing.assert_allclose(flow.state_grad0, ref[0], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(flow.bptt_grad0, ref[0], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM"])
def test_jacobian_products_match_torch(name):
    rng = np.random.default_rng(3)
    layer = getattr(rnnkit, name)(D, H, num_layers=2, dtype=np.float64, seed=4)
    x = rng.normal(size=(T, B, D))
    flow = gradient_flow(layer, x)
    twin, lay = _torch_twin(layer), StateLayout(layer)
    layer.forward(x)
    for t in (0, 2, T - 1, T):
        for b in range(B):

            def run(s, t=t, b=b):
                st = _torch_state(lay, s)
                for k in range(t, T):
                    _, st = twin(torch.from_numpy(x[k : k + 1, b : b + 1]), st)
                return _torch_flat(lay, st)

            s_t = torch.from_numpy(lay.flatten(layer.state_at(t))[b : b + 1])
            J = torch.autograd.functional.jacobian(run, s_t).reshape(lay.size, lay.size).numpy()
            assert flow.jacobian_norm[t, b] == pytest.approx(np.linalg.norm(J, 2), rel=1e-10)


@pytest.mark.parametrize(
    "name,kw",
    [("MGU", {}), ("GRU", {"reset_after": False}), ("GRU", {"reset_gate": False})],
    ids=["MGU", "GRU-reset-before", "GRU-no-reset-gate"],
)
def test_gradient_flow_of_cells_torch_lacks_matches_finite_differences(name, kw):
    rng = np.random.default_rng(6)
    layer = getattr(rnnkit, name)(D, H, num_layers=2, dtype=np.float64, seed=7, **kw)
    x = rng.normal(size=(T, B, D))
    target = rng.normal(size=(B, H))
    flow = gradient_flow(layer, x, target)
    lay = StateLayout(layer)
    layer.forward(x)
    states = [lay.flatten(layer.state_at(t)) for t in range(T + 1)]
    for t in (0, 3, T):
        s = states[t].copy()

        def loss(t=t, s=s):
            _, h_n = layer.forward(x[t:], lay.unflatten(s)) if t < T else (None, lay.unflatten(s))
            return float(0.5 * np.sum((h_n[-1] - target) ** 2))

        num = numerical_gradient(loss, s)
        np.testing.assert_allclose(flow.grad_norm[t], np.linalg.norm(num, axis=1), rtol=1e-6)

        def state_T(t=t, s=s):
            return lay.flatten(layer.forward(x[t:], lay.unflatten(s))[1]) if t < T else s.copy()

        J = np.zeros((B, lay.size, lay.size))
        for j in range(lay.size):  # column j of ds_T/ds_t, per sequence
            old = s[:, j].copy()
            s[:, j] = old + 1e-6
            up = state_T()
            s[:, j] = old - 1e-6
            down = state_T()
            s[:, j] = old
            J[:, :, j] = (up - down) / 2e-6
        np.testing.assert_allclose(flow.jacobian_norm[t], np.linalg.norm(J, 2, axis=(1, 2)), rtol=1e-6)


def test_chained_gradient_equals_the_layers_own_bptt_for_every_cell():
    rng = np.random.default_rng(8)
    for cls in (rnnkit.RNN, rnnkit.GRU, rnnkit.LSTM, rnnkit.MGU):
        layer = cls(D, 4, num_layers=2, dtype=np.float64, seed=9)
        flow = gradient_flow(layer, rng.normal(size=(12, 2, D)), jacobians=False)
        np.testing.assert_allclose(flow.state_grad0, flow.bptt_grad0, rtol=1e-12, atol=1e-300)
        assert flow.jacobian_norm is None and flow.grad_norm.shape == (13, 2)
    # an LSTM with a projection: h is P wide, c is H wide
    layer = rnnkit.LSTM(D, 4, num_layers=2, proj_size=2, dtype=np.float64, seed=9)
    flow = gradient_flow(layer, rng.normal(size=(7, 2, D)))
    assert flow.state_grad0.shape == (2, 2 * 2 + 2 * 4)
    np.testing.assert_allclose(flow.state_grad0, flow.bptt_grad0, rtol=1e-12, atol=1e-300)


# -- the notes' claims --------------------------------------------------------------------------------


def test_tanh_rnn_gradient_decays_geometrically_while_an_lstm_with_f_clamped_to_1_keeps_it():
    T_long = 60
    x = np.random.default_rng(10).normal(size=(T_long, 4, D))
    rnn = rnnkit.RNN(D, 16, dtype=np.float64, seed=11)
    rnn.params["weight_hh_l0"] *= 0.5 / recurrent_spectrum(rnn).sigma_max()  # sigma_max = 0.5
    flow = gradient_flow(rnn, x)
    g = flow.grad_curve
    assert flow.decay_per_step() < 0.5 + 1e-9  # at least as fast as sigma_max^k
    assert g[0] < 0.5**T_long * g[-1]
    assert np.all(np.diff(np.log(g)) > 0)  # shrinking at every step back in time

    lstm = rnnkit.LSTM(D, 16, dtype=np.float64, seed=11)
    for name in ("weight_hh_l0", "weight_ih_l0"):
        lstm.params[name] *= 0.1  # small init, as for the RNN
    free = gradient_flow(lstm, x, jacobians=False).grad_curve
    kept = gradient_flow(lstm.clamp_gates(f=1), x, jacobians=False).grad_curve
    assert free[0] < 1e-12 * free[-1]  # f ~ 0.5: the LSTM forgets too
    # f = 1: the cell path is the identity; after the first step back (through o and tanh at step T)
    # the gradient stays level over all 59 steps
    assert kept[0] > 0.5 * kept[-2]
    assert kept[:-1].min() > 0.25 * kept[-1]


def test_measured_k_step_products_respect_the_spectral_bound():
    x = np.random.default_rng(12).normal(size=(25, 5, D))
    for sigma in (0.7, 1.0, 1.6):
        rnn = rnnkit.RNN(D, 8, dtype=np.float64, seed=13)
        rnn.params["weight_hh_l0"] *= sigma / recurrent_spectrum(rnn).sigma_max()
        spec = recurrent_spectrum(rnn)
        assert spec.rates["weight_hh_l0"] == pytest.approx(sigma)
        by_k = gradient_flow(rnn, x).jacobian_by_steps()  # (T+1, B)
        bound = spec.bound(25)
        assert np.all(by_k <= bound[:, None] * (1 + 1e-9))
        assert by_k[0] == pytest.approx(1.0)
    # a GRU clamped to the notes' binary gates is a tanh RNN: the bound of its candidate block holds
    gru = rnnkit.GRU(D, 8, dtype=np.float64, seed=14).clamp_gates(r=1, z=0)
    gru.params["weight_hh_l0"] *= 3.0
    spec = recurrent_spectrum(gru)
    by_k = gradient_flow(gru, x).jacobian_by_steps()
    assert np.all(by_k <= spec.bound(25)[:, None] * (1 + 1e-9))
    assert spec.rates["weight_hh_l0"] == pytest.approx(spec.sigma_max(gate="n"))


def test_relu_rnn_bound_and_zero_gradients_do_not_break_the_fit():
    rnn = rnnkit.RNN(D, 8, nonlinearity="relu", dtype=np.float64, seed=15)
    x = np.random.default_rng(16).normal(size=(10, 3, D))
    flow = gradient_flow(rnn, x)
    assert np.all(flow.jacobian_by_steps() <= recurrent_spectrum(rnn).bound(10)[:, None] * (1 + 1e-9))
    assert np.isfinite(flow.decay_per_step())


def test_spectrum_per_gate_blocks_and_names():
    gru = rnnkit.GRU(3, 5, num_layers=2, bidirectional=True, dtype=np.float64, seed=17)
    spec = recurrent_spectrum(gru)
    assert sorted(spec.singular_values) == sorted(k for k in gru.params if k.startswith("weight_hh"))
    for name, blocks in spec.singular_values.items():
        w = gru.params[name]
        for k, g in enumerate(("r", "z", "n")):
            np.testing.assert_allclose(blocks[g], np.linalg.svd(w[5 * k : 5 * (k + 1)], compute_uv=False), rtol=1e-12)
        assert spec.rates[name] is None
    assert spec.max_derivative == {"r": 0.25, "z": 0.25, "n": 1.0}
    assert spec.gains()["z"] == pytest.approx(0.25 * spec.singular_values["weight_hh_l0"]["z"][0])
    with pytest.raises(ValueError, match="no sigma_max bound applies to gated"):
        spec.bound(3)
    lstm = recurrent_spectrum(rnnkit.LSTM(3, 4, proj_size=2, seed=0))
    assert list(lstm.singular_values["weight_hh_l0"]) == ["i", "f", "g", "o"]
    assert lstm.singular_values["weight_hh_l0"]["g"].shape == (2,)
    assert list(recurrent_spectrum(rnnkit.MGU(3, 4).clamp_gates(f=1)).rates.values()) != [None]
    assert list(recurrent_spectrum(rnnkit.GRU(3, 4, reset_gate=False).clamp_gates(z=0)).rates.values()) != [None]
    assert list(recurrent_spectrum(rnnkit.LSTM(3, 4).clamp_gates(i=1, f=0, o=1)).rates.values()) == [None]


# -- gate statistics ----------------------------------------------------------------------------------


def _direct(a, low, high):
    closed, opened = a < low, a > high
    return (
        a.mean(axis=(0, 1)),
        (closed | opened).mean(axis=(0, 1)),
        a.mean(axis=(1, 2)),
        closed.mean(axis=(1, 2)),
        opened.mean(axis=(1, 2)),
    )


@pytest.mark.parametrize(
    "name,gates", [("LSTM", {"i": 0, "f": 1, "o": 3}), ("GRU", {"r": 0, "z": 1}), ("MGU", {"f": 0})]
)
def test_gate_statistics_equal_a_direct_computation(name, gates):
    layer = getattr(rnnkit, name)(D, 6, num_layers=2, dtype=np.float64, seed=18)
    layer.params["weight_ih_l0"] *= 8.0  # push the gates towards saturation
    x = np.random.default_rng(19).normal(size=(15, 7, D))
    layer.forward(x)
    stats = gate_statistics(layer, low=0.1, high=0.9)
    assert stats.gates == tuple(gates) and stats.rows == ("l0", "l1")
    for r in range(2):
        cc = layer._cache.cells[r][0]
        act = cc.gates if name == "LSTM" else cc.act
        for g, k in gates.items():
            want = _direct(act[..., 6 * k : 6 * (k + 1)], 0.1, 0.9)
            j = stats.gates.index(g)
            got = (
                stats.mean_per_unit[r, j],
                stats.saturated_per_unit[r, j],
                stats.mean_over_time[r, j],
                stats.closed_over_time[r, j],
                stats.open_over_time[r, j],
            )
            for a, b in zip(got, want):
                np.testing.assert_allclose(a, b, rtol=1e-12)
    for arr in (stats.saturated_per_unit, stats.closed_over_time, stats.open_over_time, stats.saturated_over_time):
        assert np.all((arr >= 0) & (arr <= 1))
    assert 0 < stats.saturation()[0].max() <= 1


def test_gate_statistics_of_one_step_from_zero_state_equal_the_gates_computed_from_the_weights():
    """Independent of the cache's layout: with h0 = 0 the gates are sigmoid(x W_ih^T + b_ih + b_hh)."""
    x = np.random.default_rng(26).normal(size=(1, 50, D))
    for name, gates in (("LSTM", {"i": 0, "f": 1, "o": 3}), ("GRU", {"r": 0, "z": 1}), ("MGU", {"f": 0})):
        layer = getattr(rnnkit, name)(D, 5, dtype=np.float64, seed=27)
        p = layer.params
        a = 1.0 / (1.0 + np.exp(-(x[0] @ p["weight_ih_l0"].T + p["bias_ih_l0"] + p["bias_hh_l0"])))  # (B, G*H)
        stats = gate_statistics(layer, x, low=0.3, high=0.7)
        for j, k in enumerate(gates.values()):
            block = a[:, 5 * k : 5 * (k + 1)]
            np.testing.assert_allclose(stats.mean_per_unit[0, j], block.mean(0), rtol=1e-12)
            np.testing.assert_allclose(stats.closed_over_time[0, j, 0], (block < 0.3).mean(), rtol=1e-12)
            np.testing.assert_allclose(stats.open_over_time[0, j, 0], (block > 0.7).mean(), rtol=1e-12)


def test_gate_statistics_with_lengths_and_a_reverse_direction():
    layer = rnnkit.GRU(D, 4, bidirectional=True, dtype=np.float64, seed=20)
    x = np.random.default_rng(21).normal(size=(9, 3, D))
    lengths = np.array([9, 4, 6])
    stats = gate_statistics(layer, x, lengths=lengths)
    assert stats.rows == ("l0", "l0_reverse")
    # each sequence alone, no padding: the per-step means over valid sequences agree
    alone = [gate_statistics(layer, x[:n, b : b + 1]) for b, n in enumerate(lengths)]
    for r in range(2):
        for t in range(9):
            vals = [a.mean_over_time[r, :, t] for a, n in zip(alone, lengths) if t < n]
            np.testing.assert_allclose(stats.mean_over_time[r, :, t], np.mean(vals, axis=0), rtol=1e-12)
    per_unit = np.sum([a.mean_per_unit * n for a, n in zip(alone, lengths)], axis=0) / lengths.sum()
    np.testing.assert_allclose(stats.mean_per_unit, per_unit, rtol=1e-12)


def test_clamped_gates_read_as_saturated():
    x = np.random.default_rng(22).normal(size=(8, 2, D))
    lstm = gate_statistics(rnnkit.LSTM(D, 4, seed=0).clamp_gates(i=1, f=0, o=1), x)
    assert np.all(lstm.open_over_time[0, [0, 2]] == 1) and np.all(lstm.closed_over_time[0, 1] == 1)
    gru = gate_statistics(rnnkit.GRU(D, 4, seed=0).clamp_gates(z=0), x)
    np.testing.assert_array_equal(gru.mean_per_unit[0, 1], 0.0)
    assert np.all(gru.saturated_per_unit[0, 1] == 1)


def test_gate_statistics_errors():
    with pytest.raises(ValueError, match="gate_statistics: RNN has no gates"):
        gate_statistics(rnnkit.RNN(D, 3), np.zeros((2, 1, D)))
    with pytest.raises(RuntimeError, match="has no forward cache; pass x"):
        gate_statistics(rnnkit.GRU(D, 3))
    layer = rnnkit.LSTM(D, 3)
    with no_grad():
        layer.forward(np.zeros((2, 1, D), np.float32))
    with pytest.raises(RuntimeError, match="has no forward cache"):
        gate_statistics(layer)
    with pytest.raises(ValueError, match="low must be below high"):
        gate_statistics(layer, np.zeros((2, 1, D)), low=0.9, high=0.1)
    with pytest.raises(TypeError, match="model must be an rnnkit recurrent layer"):
        gate_statistics(object())


# -- contracts ----------------------------------------------------------------------------------------


def test_analysis_leaves_the_model_as_found():
    rng = np.random.default_rng(23)
    layer = rnnkit.LSTM(D, 4, dropout=0.5, num_layers=2, dtype=np.float64, seed=24)
    x = rng.normal(size=(5, 2, D))
    out, _ = layer.forward(x)
    P = rng.normal(size=out.shape)
    layer.grads["weight_hh_l1"][...] = 7.0
    before = {k: v.copy() for k, v in layer.grads.items()}
    gradient_flow(layer, rng.normal(size=(9, 3, D)))
    gate_statistics(layer, rng.normal(size=(4, 3, D)))
    assert layer.training
    for k in before:
        np.testing.assert_array_equal(layer.grads[k], before[k])
    layer.backward(P)  # the pending backward still sees its own forward
    layer2 = rnnkit.LSTM(D, 4, dropout=0.5, num_layers=2, dtype=np.float64, seed=24)
    layer2.forward(x)
    layer2.grads["weight_hh_l1"][...] = 7.0
    layer2.backward(P)
    for k in before:
        np.testing.assert_allclose(layer.grads[k], layer2.grads[k], rtol=1e-12)


def test_gradient_flow_inputs_and_errors():
    layer = rnnkit.GRU(D, 3, batch_first=True, dtype=np.float64, seed=0)
    x = np.random.default_rng(0).normal(size=(2, 5, D))  # (B, T, D)
    assert gradient_flow(layer, x, jacobians=False).grad_norm.shape == (6, 2)
    f = gradient_flow(layer, x, lambda h: ((h**2).sum(1), 2 * h), jacobians=False)
    assert f.loss.shape == (2,)
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, D\) with D = 2, got \(5, 2\)"):
        gradient_flow(layer, np.zeros((5, 2)))
    with pytest.raises(ValueError, match="needs a unidirectional layer"):
        gradient_flow(rnnkit.RNN(D, 3, bidirectional=True), np.zeros((3, 1, D)))
    with pytest.raises(ValueError, match=r"target must have the shape of h_T \(2, 3\), got \(2, 4\)"):
        gradient_flow(layer, x, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="the loss gradient must have the shape of h_T"):
        gradient_flow(layer, x, lambda h: (h.sum(1), h[:, :1]))
    with no_grad(), pytest.raises(RuntimeError, match="gradients are disabled"):
        gradient_flow(layer, x)
    with pytest.raises(ValueError, match="run gradient_flow with jacobians=True"):
        gradient_flow(layer, x, jacobians=False).jacobian_by_steps()


# -- plots --------------------------------------------------------------------------------------------


def test_plots_return_figures_and_write_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    from rnnkit.analysis import plots

    x = np.random.default_rng(25).normal(size=(12, 3, D))
    flows = {c: gradient_flow(getattr(rnnkit, c.upper())(D, 4, dtype=np.float64, seed=0), x) for c in ("rnn", "lstm")}
    spec = recurrent_spectrum(rnnkit.RNN(D, 4, seed=0))
    stats = gate_statistics(rnnkit.GRU(D, 4, seed=0), x)
    rows = [{"cell": c, "length": n, "value": v} for c in ("rnn", "gru") for n, v in ((10, 0.2), (20, 0.1))]
    run = {"step": np.arange(1, 4), "loss": np.array([1.0, 0.5, np.nan]), "grad_norm": np.array([1.0, 1e3, 0.0])}
    figs = [
        plots.plot_gradient_flow({k: f.grad_curve for k, f in flows.items()}),
        plots.plot_spectrum(
            {"rnn": spec.singular_values["weight_hh_l0"]["h"]},
            measured={"rnn": flows["rnn"].jacobian_by_steps().max(1)},
            bounds={"rnn": spec.bound(12)},
        ),
        plots.plot_gate_saturation(stats, title="t"),
        plots.plot_length_sweep(rows, baseline=0.167, log=True),
        plots.plot_clipping({"a": run, "b": run}),
    ]
    assert figs[0].axes[0].get_yscale() == "log" and len(figs[0].axes[0].lines) == 2
    assert len(figs[1].axes) == 2 and len(figs[2].axes) == 4
    from matplotlib.figure import Figure

    assert all(isinstance(f, Figure) for f in figs)
    for i in (0, 2):  # writing is matplotlib's job; check it once or twice
        path = tmp_path / f"{i}.png"
        figs[i].savefig(path, dpi=40)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots_say_what_to_install_without_matplotlib(monkeypatch):
    from rnnkit.analysis import plots

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r'pip install "rnnkit\[cli\]"'):
        plots.plot_gradient_flow({"rnn": np.ones(3)})


@pytest.mark.parametrize("modname", ["gradflow", "spectrum", "gates", "plots", "experiments"])
def test_docstring_examples_run(modname):
    import doctest
    import importlib

    if modname == "plots":
        pytest.importorskip("matplotlib")
    result = doctest.testmod(importlib.import_module(f"rnnkit.analysis.{modname}"))
    assert result.attempted > 0 and result.failed == 0


def test_docs_page_examples_run_and_its_figures_exist():
    import contextlib
    import io
    import re

    root = REPO_ROOT
    text = (root / "docs" / "analysis.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 4
    namespace, out = {}, io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in blocks:
            exec(compile(block, "docs/analysis.md", "exec"), namespace)
    lines = out.getvalue().splitlines()
    assert [ln.split()[0] for ln in lines[:4]] == ["RNN", "GRU", "LSTM", "MGU"]
    assert "('r', 'z') (1, 2, 32) (1, 2, 40)" in lines
    figures = re.findall(r"\]\((figures/[^)]+\.png)\)", text)
    assert len(figures) >= 8
    for f in figures:
        path = root / "docs" / f
        assert path.is_file(), f
        assert path.stat().st_size < 200_000, f
