"""A family added with nothing but its maths file and a registry entry runs through the generic checks.

This follows docs/adding-a-cell.md step by step: the maths is tests/cells/toy_family.py (the scaled
tanh RNN), the entry is its ``FAMILY``; registering it is the only other line. It is removed again
when this module's tests are done.
"""

import numpy as np
import pytest
import toy_family
from family_checks import GENERIC_CHECKS, has_torch_twin, variants

from rnnkit.cells import registry
from rnnkit.layers import recurrent_layer, step_cell

NAME = toy_family.FAMILY.name


@pytest.fixture(scope="module", autouse=True)
def toy_registered():
    registry.register(toy_family.FAMILY)  # step 3 of docs/adding-a-cell.md: the one line
    yield
    registry.unregister(NAME)
    assert NAME not in registry.names()


def test_the_registry_lists_it_and_the_generic_tests_pick_it_up():
    assert registry.names()[-1] == NAME and registry.get(NAME) is toy_family.FAMILY
    assert (NAME, {}) in variants()  # what test_cell_families.py parametrises over
    assert not has_torch_twin(NAME, {})


@pytest.mark.parametrize("scale", [0.5, 1.7])
@pytest.mark.parametrize("check", GENERIC_CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_generic_checks_pass(check, scale):
    check(NAME, {} if scale == 0.5 else {"scale": scale})


def test_layer_and_step_cell_by_name():
    layer = recurrent_layer(NAME, 3, 5, num_layers=2, bidirectional=True, scale=2.0, seed=0)
    assert type(layer).__name__ == "RecurrentLayer" and layer.variant == {"scale": 2.0} and layer.gates == 1
    out, h_n = layer.forward(np.ones((4, 2, 3), np.float32))
    assert out.shape == (4, 2, 10) and h_n.shape == (4, 2, 5)
    cell = step_cell(NAME, 3, 5, seed=0)
    assert cell.forward(np.ones((2, 3), np.float32)).shape == (2, 5)
    with pytest.raises(ValueError, match=r"RecurrentLayer: scale must be a number > 0, got -1"):
        recurrent_layer(NAME, 3, 5, scale=-1)
    with pytest.raises(ValueError, match=r"RecurrentLayer.clamp_gates: RecurrentLayer has no gates to clamp"):
        layer.clamp_gates(h=1.0)


def test_matches_an_autograd_reference():
    """The toy's hand-written backward against torch autograd on its equations, float64 to 1e-10."""
    torch = pytest.importorskip("torch")
    from helpers import assert_close

    rng = np.random.default_rng(3)
    T, B, D, H, scale = 6, 3, 4, 5, 1.3
    layer = recurrent_layer(NAME, D, H, scale=scale, dtype=np.float64, seed=3)
    x, h0 = rng.normal(size=(T, B, D)), rng.normal(size=(1, B, H))
    out, hn = layer.forward(x, h0)
    P, Q = rng.normal(size=out.shape), rng.normal(size=hn.shape)
    dx, dh0 = layer.backward(P, Q)

    w = {k: torch.tensor(v, requires_grad=True) for k, v in layer.state_dict().items()}
    xt, h0t = torch.tensor(x, requires_grad=True), torch.tensor(h0, requires_grad=True)
    h, outs = h0t[0], []
    for t in range(T):
        a = xt[t] @ w["weight_ih_l0"].T + w["bias_ih_l0"] + h @ w["weight_hh_l0"].T + w["bias_hh_l0"]
        h = torch.tanh(scale * a)
        outs.append(h)
    ot = torch.stack(outs)
    assert_close("out", out, ot, 1e-10)
    ((ot * torch.tensor(P)).sum() + (h * torch.tensor(Q[0])).sum()).backward()
    assert_close("dx", dx, xt.grad, 1e-10)
    assert_close("dh0", dh0, h0t.grad, 1e-10)
    for k, p in w.items():
        assert_close(f"grad {k}", layer.grads[k], p.grad, 1e-10)


def test_models_analysis_and_plots_read_the_registry():
    """A model picks the toy by name; analysis and plots know it from its entry alone."""
    from rnnkit.analysis.gates import gate_statistics
    from rnnkit.analysis.plots import _color
    from rnnkit.analysis.spectrum import recurrent_spectrum
    from rnnkit.lm.rnnlm import RNNLM, RNNLMConfig

    model = RNNLM(RNNLMConfig(vocab_size=7, cell=NAME, embedding_size=4, hidden_size=5, num_layers=2))
    assert model.rnn.family is registry.get(NAME)
    logits, _ = model.forward(np.random.default_rng(0).integers(0, 7, size=(5, 3)))
    model.backward(np.ones_like(logits))
    spec = recurrent_spectrum(model)
    assert set(spec.singular_values["weight_hh_l0"]) == {"h"} and spec.rates["weight_hh_l0"] is not None
    with pytest.raises(ValueError, match="has no gates"):
        gate_statistics(model.rnn, np.ones((3, 2, 4)))
    assert _color(f"{NAME} (T=100)") is not None and _color(f"{NAME} (T=100)") not in {
        _color(n) for n in "rnn gru".split()
    }
