"""Every registered cell family and variant through the generic checks (family_checks.py), and the
registry's own contract. A new family is picked up here with no new test code."""

import doctest
import importlib

import numpy as np
import pytest
from family_checks import GENERIC_CHECKS, check_torch_parity, has_torch_twin, variant_id, variants

import rnnkit
from rnnkit import _kernels
from rnnkit.cells import registry
from rnnkit.cells.registry import CellFamily, Option

VARIANTS = variants()
TWIN_VARIANTS = [v for v in VARIANTS if has_torch_twin(*v)]


@pytest.mark.parametrize("check", GENERIC_CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_generic_checks(variant, check):
    check(*variant)


@pytest.mark.parametrize("variant", TWIN_VARIANTS, ids=variant_id)
def test_torch_parity(variant):
    check_torch_parity(*variant)


def test_the_parametrisation_covers_the_registry():
    """Every family is in the generic tests, each option's values too, and the twins are compared."""
    assert {name for name, _ in VARIANTS} == set(registry.names())
    assert {registry.get(n).torch_twin for n, _ in TWIN_VARIANTS} == {"RNN", "GRU", "LSTM"}
    assert ("gru", {"reset_gate": False}) in VARIANTS and ("rnn", {"nonlinearity": "relu"}) in VARIANTS
    assert ("lstm", {"proj_size": 2}) in TWIN_VARIANTS and ("lstm", {"peephole": True}) not in TWIN_VARIANTS


# -- the registry itself -------------------------------------------------------------------------------


def test_builtin_entries_describe_their_families():
    assert registry.names() == ("rnn", "gru", "lstm", "mgu", "ln_lstm", "ln_gru")
    assert registry.names(model_choice=True) == ("rnn", "gru", "lstm", "mgu")
    lstm, gru = registry.get("lstm"), registry.get("gru")
    assert lstm.gates() == ("i", "f", "g", "o") and lstm.state_arity == 2
    assert lstm.gate_blocks() == {"i": 0, "f": 1, "o": 3}
    assert gru.gates() == ("r", "z", "n") and gru.gates({"reset_gate": False}) == ("z", "n")
    assert gru.gate_blocks({"reset_gate": False}) == {"z": 0} and gru.num_gates({"reset_gate": False}) == 2
    assert registry.get("rnn").gate_activations({"nonlinearity": "relu"}) == {"h": "relu"}
    assert registry.get("mgu").plain_rnn_block({"f": 1.0}) == "n" and registry.get("mgu").plain_rnn_block({}) is None
    assert gru.plain_rnn_block({"r": 1.0, "z": 0.0}) == "n" and lstm.plain_rnn_block({"i": 1, "f": 0, "o": 1}) is None
    assert [f.torch_twin for f in registry.families()] == ["RNN", "GRU", "LSTM", None, None, None]
    assert [f.keras_twin for f in registry.families()] == ["SimpleRNN", "GRU", "LSTM", None, None, None]
    assert registry.get("ln_lstm").parameter_names(bias=False) == (
        "weight_ih",
        "weight_hh",
        "ln_ih_weight",
        "ln_hh_weight",
        "ln_c_weight",
    )
    assert lstm.parameter_names(proj_size=1, peephole=True) == (
        "weight_ih",
        "weight_hh",
        "bias_ih",
        "bias_hh",
        "weight_hr",
        "weight_ci",
        "weight_cf",
        "weight_co",
    )


def test_named_classes_are_bound_to_their_entries():
    """The named layer and cell classes stay, each bound to its registry entry; the builders return them."""
    for cls, name in [
        (rnnkit.RNN, "rnn"),
        (rnnkit.GRU, "gru"),
        (rnnkit.LSTM, "lstm"),
        (rnnkit.MGU, "mgu"),
        (rnnkit.LayerNormLSTM, "ln_lstm"),
        (rnnkit.LayerNormGRU, "ln_gru"),
    ]:
        layer = cls(2, 3)
        assert layer.family is registry.get(name)
        assert type(rnnkit.layers.recurrent_layer(name, 2, 3)) is cls
    for cls, name in [
        (rnnkit.RNNCell, "rnn"),
        (rnnkit.GRUCell, "gru"),
        (rnnkit.LSTMCell, "lstm"),
        (rnnkit.MGUCell, "mgu"),
    ]:
        assert cls(2, 3).family is registry.get(name)
        assert type(rnnkit.layers.step_cell(name, 2, 3)) is cls
    assert type(rnnkit.layers.step_cell("ln_lstm", 2, 3)) is rnnkit.layers.StepCell


def test_unknown_names_and_bad_entries_are_refused():
    with pytest.raises(ValueError, match=r"registry.get: cell must be one of 'rnn', 'gru', .*'ln_gru', got 'tcn'"):
        registry.get("tcn")
    with pytest.raises(ValueError, match="cell must be one of .* got 'tcn'"):
        rnnkit.layers.recurrent_layer("tcn", 2, 3)
    with pytest.raises(ValueError, match="family 'lstm' is already registered"):
        registry.register(registry.get("lstm"))
    with pytest.raises(TypeError, match="family must be a CellFamily, got dict"):
        registry.register({})
    fwd = registry.get("rnn").forward
    bwd = registry.get("rnn").backward
    with pytest.raises(ValueError, match="name must be a lower-case identifier, got 'My Cell'"):
        CellFamily("My Cell", fwd, bwd, ("h",))
    with pytest.raises(ValueError, match="state_arity must be 1 or 2, got 3"):
        CellFamily("x", fwd, bwd, ("h",), state_arity=3)
    with pytest.raises(ValueError, match="features must be among"):
        CellFamily("x", fwd, bwd, ("h",), features=frozenset({"attention"}))
    with pytest.raises(ValueError, match="options must have distinct names"):
        CellFamily("x", fwd, bwd, ("h",), options=(Option("clamp", 0),))
    with pytest.raises(
        ValueError,
        match="RNN: nonlinearity must be one of 'tanh', 'relu', 'sigmoid', 'hard_sigmoid', 'linear', got 'gelu'",
    ):
        rnnkit.RNN(2, 3, nonlinearity="gelu")
    with pytest.raises(TypeError, match="GRU: reset_after must be a bool, got str 'yes'"):
        rnnkit.GRU(2, 3, reset_after="yes")
    with pytest.raises(ValueError, match="RecurrentLayer: proj_size is not supported by cell 'mgu', got 2"):
        rnnkit.layers.RecurrentLayer(2, 3, family="mgu", proj_size=2)
    with pytest.raises(TypeError, match="RecurrentLayer: family must name a registered cell family, got None"):
        rnnkit.layers.RecurrentLayer(2, 3)
    with pytest.raises(ValueError, match="LayerNormLSTM: eps must be a finite number > 0, got -1"):
        rnnkit.LayerNormLSTM(2, 3, eps=-1)


def test_registry_is_consulted_at_construction_not_per_step(monkeypatch):
    """The hot path reads no registry: a layer built before its entry is removed still runs."""
    layer = rnnkit.GRU(2, 3, seed=0)
    x = np.ones((4, 2, 2), np.float32)
    before, _ = layer.forward(x)
    calls = []
    monkeypatch.setattr(registry, "get", lambda *a: calls.append(a))
    after, _ = layer.forward(x)
    layer.backward(np.ones_like(after))
    assert calls == [] and np.array_equal(before, after)


def test_loop_backend_registry():
    assert _kernels.backends()[:3] == ("auto", "numpy", "c")
    assert _kernels.available("numpy") and _kernels.why_unavailable("numpy") is None
    assert _kernels.why_unavailable("cuda") == "no loop backend named 'cuda'"
    with pytest.raises(ValueError, match="backend name must be new and not 'auto', got 'numpy'"):
        _kernels.register_backend(_kernels.LoopBackend("numpy", None))
    with pytest.raises(TypeError, match="backend must be a LoopBackend, got str"):
        _kernels.register_backend("cupy")


def test_cells_are_pure_numpy():
    """The maths modules import no loop backend, layer, model or training code."""
    import ast
    import pathlib

    import rnnkit.cells as cells

    for path in pathlib.Path(cells.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        for mod in imported:
            assert not mod.startswith(("rnnkit._kernels", "rnnkit.layers", "rnnkit.lm", "rnnkit.trainer")), (path, mod)


@pytest.mark.parametrize(
    "module",
    ["rnnkit.cells.registry", "rnnkit.functional", "rnnkit._kernels", "rnnkit.layers.recurrent", "rnnkit.layers.cell"],
)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
