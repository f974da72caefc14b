"""Regularisers and structural options of the sequence layers: gradients, parity, behaviour.

Covers the projection (PyTorch's proj_size), peepholes, dropout in its standard
and variational forms (input, between layers, recurrent), DropConnect on W_hh,
zoneout, and gate clamping with the notes' "binary gates" claims.
"""

import re

import numpy as np
import pytest
import torch

import rnnkit

from helpers import assert_close, check_layer_gradients, random_state

NAMES = ["RNN", "GRU", "LSTM", "MGU"]


class FixedMasks:
    """Make every forward draw the same masks, so finite differences see one function."""

    def __init__(self, layer, seed=123):
        self.layer, self.seed = layer, seed
        original = layer.forward

        def forward(*args, **kwargs):
            layer.rng = np.random.default_rng(self.seed)
            return original(*args, **kwargs)

        layer.forward = forward


# -- projection (proj_size) --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)], ids=["f64", "f32"])
@pytest.mark.parametrize("lengths", [None, [5, 2, 4]], ids=["full", "lengths"])
@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
def test_lstm_projection_matches_torch(dtype, tol, lengths):
    rng = np.random.default_rng(0)
    T, B, D, H, P, L = 5, 3, 4, 6, 3, 2
    ours = rnnkit.LSTM(D, H, num_layers=L, bidirectional=True, proj_size=P, dtype=dtype, seed=0)
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    theirs = torch.nn.LSTM(D, H, num_layers=L, bidirectional=True, proj_size=P, dtype=tdt)
    assert [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()] == [
        (k, v.shape) for k, v in ours.state_dict().items()
    ]
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x = rng.normal(size=(T, B, D)).astype(dtype)
    h0 = rng.normal(size=(2 * L, B, P)).astype(dtype)
    c0 = rng.normal(size=(2 * L, B, H)).astype(dtype)
    out, (hn, cn) = ours.forward(x, (h0, c0), lengths=lengths)
    xt = torch.tensor(x, requires_grad=True)
    h0t, c0t = torch.tensor(h0, requires_grad=True), torch.tensor(c0, requires_grad=True)
    if lengths is None:
        ot, (hnt, cnt) = theirs(xt, (h0t, c0t))
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), enforce_sorted=False)
        po, (hnt, cnt) = theirs(packed, (h0t, c0t))
        ot, _ = torch.nn.utils.rnn.pad_packed_sequence(po, total_length=T)
    Pm = rng.normal(size=out.shape).astype(dtype)
    Q, Q2 = rng.normal(size=hn.shape).astype(dtype), rng.normal(size=cn.shape).astype(dtype)
    ((ot * torch.tensor(Pm)).sum() + (hnt * torch.tensor(Q)).sum() + (cnt * torch.tensor(Q2)).sum()).backward()
    dx, (dh0, dc0) = ours.backward(Pm, (Q, Q2))
    pairs = [
        ("out", out, ot),
        ("h_n", hn, hnt),
        ("c_n", cn, cnt),
        ("dx", dx, xt.grad),
        ("dh0", dh0, h0t.grad),
        ("dc0", dc0, c0t.grad),
    ]
    pairs += [(f"grad {k}", ours.grads[k], p.grad) for k, p in theirs.named_parameters()]
    for name, a, b in pairs:
        assert_close(name, a, b, tol, peer="torch")


def test_projection_and_peephole_gradients():
    rng = np.random.default_rng(1)
    layer = rnnkit.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, peephole=True, dtype=np.float64, seed=1)
    assert {"weight_hr_l1_reverse", "weight_ci_l0", "weight_cf_l1", "weight_co_l0_reverse"} <= set(layer.params)
    assert (
        check_layer_gradients(layer, rng.normal(size=(4, 2, 3)), random_state(layer, 2, rng), lengths=np.array([4, 3]))
        < 1e-6
    )


def test_peephole_lstm_matches_an_autograd_reference():
    """Gers and Schmidhuber 2000: i, f see c_{t-1}; o sees c_t."""
    rng = np.random.default_rng(2)
    T, B, D, H = 5, 2, 3, 4
    layer = rnnkit.LSTM(D, H, peephole=True, dtype=np.float64, seed=2)
    x = rng.normal(size=(T, B, D))
    out, (hn, cn) = layer.forward(x)
    Pm = rng.normal(size=out.shape)
    dx, _ = layer.backward(Pm)
    w = {k: torch.tensor(v, requires_grad=True) for k, v in layer.state_dict().items()}
    xt = torch.tensor(x, requires_grad=True)
    h, c, outs = torch.zeros(B, H, dtype=torch.float64), torch.zeros(B, H, dtype=torch.float64), []
    for t in range(T):
        a = xt[t] @ w["weight_ih_l0"].T + w["bias_ih_l0"] + h @ w["weight_hh_l0"].T + w["bias_hh_l0"]
        i = torch.sigmoid(a[:, :H] + w["weight_ci_l0"] * c)
        f = torch.sigmoid(a[:, H : 2 * H] + w["weight_cf_l0"] * c)
        g = torch.tanh(a[:, 2 * H : 3 * H])
        c = f * c + i * g
        o = torch.sigmoid(a[:, 3 * H :] + w["weight_co_l0"] * c)
        h = o * torch.tanh(c)
        outs.append(h)
    ot = torch.stack(outs)
    (ot * torch.tensor(Pm)).sum().backward()
    np.testing.assert_allclose(out, ot.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(cn[0], c.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=1e-12)
    for k, p in w.items():
        np.testing.assert_allclose(layer.grads[k], p.grad.numpy(), atol=1e-12, err_msg=k)


# -- dropout, DropConnect, zoneout: gradients with the masks held fixed --------------------------------

REGULARISERS = [
    {"dropout": 0.4},
    {"dropout": 0.4, "variational": True},
    {"input_dropout": 0.3},
    {"input_dropout": 0.3, "variational": True},
    {"recurrent_dropout": 0.4},
    {"recurrent_dropout": 0.4, "variational": True},
    {"weight_drop": 0.5},
    {"zoneout": 0.3},
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("options", REGULARISERS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_regularised_gradients_with_fixed_masks(name, options):
    rng = np.random.default_rng(3)
    layer = getattr(rnnkit, name)(3, 3, num_layers=2, bidirectional=True, dtype=np.float64, seed=3, **options)
    FixedMasks(layer)
    assert (
        check_layer_gradients(layer, rng.normal(size=(4, 2, 3)), random_state(layer, 2, rng), lengths=np.array([4, 2]))
        < 1e-6
    )


@pytest.mark.parametrize("name", NAMES)
def test_zoneout_in_eval_mode_gradients(name):
    """In eval mode zoneout blends with the expectation 1 - z: still a smooth function to check."""
    rng = np.random.default_rng(4)
    layer = getattr(rnnkit, name)(3, 3, dtype=np.float64, seed=4, zoneout=(0.3, 0.6) if name == "LSTM" else 0.3).eval()
    assert check_layer_gradients(layer, rng.normal(size=(4, 2, 3)), random_state(layer, 2, rng)) < 1e-6


def test_zoneout_eval_is_the_expected_blend():
    """h_t = z h_{t-1} + (1 - z) cell(x_t, h_{t-1}) at evaluation (Krueger et al. 2016)."""
    rng = np.random.default_rng(5)
    layer = rnnkit.GRU(3, 4, dtype=np.float64, seed=5, zoneout=0.25).eval()
    cell = rnnkit.GRUCell(3, 4, dtype=np.float64)
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
    x = rng.normal(size=(6, 2, 3))
    out, _ = layer.forward(x)
    h = np.zeros((2, 4))
    for t in range(6):
        h = 0.25 * h + 0.75 * cell.forward(x[t], h)
        np.testing.assert_allclose(out[t], h, atol=1e-13)


@pytest.mark.parametrize("variational", [False, True])
def test_dropout_masks_rate_scale_and_sharing_over_time(variational):
    layer = rnnkit.LSTM(
        50, 40, num_layers=2, dropout=0.3, input_dropout=0.2, recurrent_dropout=0.4, variational=variational, seed=6
    )
    layer.forward(np.ones((7, 30, 50)))
    cache = layer._cache
    masks = {
        "input": cache.input_mask,
        "between": cache.dropout_masks[0],
        "recurrent": cache.cells[0][0].masks.recurrent,
    }
    for (kind, m), p in zip(masks.items(), (0.2, 0.3, 0.4)):
        assert m.shape[0] == (1 if variational else 7), kind
        values = np.unique(m)
        np.testing.assert_allclose(values, [0.0, 1.0 / (1.0 - p)], rtol=1e-6)
        assert abs(float(np.mean(m == 0)) - p) < 0.05, kind
    assert cache.dropout_masks[1] is None  # never after the last layer


def test_eval_mode_turns_every_regulariser_off_and_masks_repeat_with_the_seed():
    kw = dict(num_layers=2, dropout=0.5, input_dropout=0.5, recurrent_dropout=0.5, weight_drop=0.5)
    x = np.random.default_rng(7).normal(size=(5, 3, 4))
    a, b = rnnkit.GRU(4, 6, seed=7, **kw), rnnkit.GRU(4, 6, seed=7, **kw)
    plain = rnnkit.GRU(4, 6, num_layers=2, seed=7)
    np.testing.assert_array_equal(a.forward(x)[0], b.forward(x)[0])  # same seed, same masks
    assert not np.allclose(a.forward(x)[0], plain.forward(x)[0])
    np.testing.assert_array_equal(a.eval().forward(x)[0], plain.forward(x)[0])


def test_regulariser_arguments_are_checked():
    with pytest.raises(ValueError, match=r"LSTM: recurrent_dropout must be in \[0, 1\), got 1.0"):
        rnnkit.LSTM(3, 4, recurrent_dropout=1.0)
    with pytest.raises(
        ValueError, match=r"LSTM: zoneout must be a float or a pair \(z_h, z_c\), got \(0.1, 0.2, 0.3\)"
    ):
        rnnkit.LSTM(3, 4, zoneout=(0.1, 0.2, 0.3))
    with pytest.raises(TypeError, match="GRU: zoneout must be a float in"):
        rnnkit.GRU(3, 4, zoneout=(0.1, 0.2))
    with pytest.raises(ValueError, match="LSTM: proj_size must be smaller than hidden_size = 4, got 4"):
        rnnkit.LSTM(3, 4, proj_size=4)
    with pytest.raises(TypeError, match="unexpected keyword argument 'recurent_dropout'"):
        rnnkit.MGU(3, 4, recurent_dropout=0.1)
    with pytest.raises(TypeError, match="LSTM.rng must be a numpy.random.Generator, got int"):
        rnnkit.LSTM(3, 4).rng = 5


# -- gate clamping: the notes' "binary gates" --------------------------------------------------------


def test_clamped_gru_is_a_plain_tanh_rnn_with_the_candidate_weights():
    rng = np.random.default_rng(8)
    for reset_after in (True, False):
        gru = rnnkit.GRU(3, 5, dtype=np.float64, seed=8, reset_after=reset_after).clamp_gates(r=1, z=0)
        sd = gru.state_dict()
        rnn = rnnkit.RNN(3, 5, dtype=np.float64)
        rnn.load_state_dict({k: v[10:] for k, v in sd.items()})  # rows of the candidate n
        x, h0 = rng.normal(size=(7, 2, 3)), rng.normal(size=(1, 2, 5))
        np.testing.assert_allclose(gru.forward(x, h0)[0], rnn.forward(x, h0)[0], atol=1e-13)


def test_clamped_lstm_cell_state_is_a_plain_rnn_in_c():
    """i = 1, f = 0, o = 1: c_t = tanh(W x_t + U tanh(c_{t-1}) + b)."""
    rng = np.random.default_rng(9)
    H = 4
    lstm = rnnkit.LSTM(3, H, dtype=np.float64, seed=9).clamp_gates(i=1, f=0, o=1)
    x, c = rng.normal(size=(6, 2, 3)), rng.normal(size=(2, H))
    out, (hn, cn) = lstm.forward(x, (np.tanh(c)[None], c[None]))
    p = lstm.params
    W, U = p["weight_ih_l0"][2 * H : 3 * H], p["weight_hh_l0"][2 * H : 3 * H]
    b = p["bias_ih_l0"][2 * H : 3 * H] + p["bias_hh_l0"][2 * H : 3 * H]
    for t in range(6):
        c = np.tanh(x[t] @ W.T + np.tanh(c) @ U.T + b)
        np.testing.assert_allclose(out[t], np.tanh(c), atol=1e-13)
    np.testing.assert_allclose(cn[0], c, atol=1e-13)


def test_clamped_mgu_with_open_gate_is_a_plain_rnn():
    rng = np.random.default_rng(10)
    mgu = rnnkit.MGU(3, 4, dtype=np.float64, seed=10).clamp_gates(f=1)
    rnn = rnnkit.RNN(3, 4, dtype=np.float64)
    rnn.load_state_dict({k: v[4:] for k, v in mgu.state_dict().items()})
    x = rng.normal(size=(5, 2, 3))
    np.testing.assert_allclose(mgu.forward(x)[0], rnn.forward(x)[0], atol=1e-13)


@pytest.mark.parametrize(
    "name,gates",
    [
        ("LSTM", {"i": 1, "f": 0, "o": 1}),
        ("LSTM", {"f": 0.5}),
        ("GRU", {"r": 1, "z": 0}),
        ("GRU", {"z": 0.3}),
        ("MGU", {"f": 0.7}),
    ],
)
def test_gradients_with_clamped_gates(name, gates):
    rng = np.random.default_rng(11)
    layer = getattr(rnnkit, name)(3, 3, num_layers=2, dtype=np.float64, seed=11).clamp_gates(**gates)
    assert check_layer_gradients(layer, rng.normal(size=(4, 2, 3)), random_state(layer, 2, rng)) < 1e-6
    H = 3
    for gate, block in {"LSTM": {"i": 0, "f": 1, "o": 3}, "GRU": {"r": 0, "z": 1}, "MGU": {"f": 0}}[name].items():
        if gate in gates:  # a constant gate's weights get no gradient
            assert not layer.grads["weight_hh_l0"][block * H : (block + 1) * H].any()


def test_clamp_errors_and_unclamping():
    with pytest.raises(ValueError, match="LSTM.clamp_gates: gate must be one of i, f, o, got 'g'"):
        rnnkit.LSTM(3, 4).clamp_gates(g=1)
    with pytest.raises(ValueError, match="RNN.clamp_gates: RNN has no gates to clamp"):
        rnnkit.RNN(3, 4).clamp_gates(f=1)
    with pytest.raises(ValueError, match=re.escape("GRU.clamp_gates: z must be in [0, 1], got 2")):
        rnnkit.GRU(3, 4).clamp_gates(z=2)
    with pytest.raises(ValueError, match="GRU.clamp_gates: gate must be one of z, got 'r'"):
        rnnkit.GRU(3, 4, reset_gate=False).clamp_gates(r=1)
    layer = rnnkit.GRU(3, 4, seed=0)
    x = np.ones((3, 1, 3))
    free = layer.forward(x)[0]
    assert layer.clamp_gates(z=1).clamped_gates == {"z": 1.0}
    assert not np.allclose(layer.forward(x)[0], free)
    layer.clamp_gates()
    np.testing.assert_array_equal(layer.forward(x)[0], free)
