"""Parity with PyTorch (CPU) on the same weights: outputs, final states and every gradient.

float64 to 1e-10 and float32 to 1e-5 (max abs error), on sizes fuzzed from fixed seeds.
Variants PyTorch lacks (GRU reset_after=False, GRU without reset gate, MGU) are
compared with a small reference written below with torch autograd.
"""

import numpy as np
import pytest
import torch

import rnnkit

from helpers import assert_close

TOL = {np.float64: 1e-10, np.float32: 1e-5}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def _t(a, dtype, grad=False):
    return torch.tensor(np.asarray(a), dtype=TORCH_DTYPE[dtype], requires_grad=grad)


def _close(name, ours, theirs, tol):
    assert_close(name, ours, theirs, tol, peer="torch")


def _run_layer_pair(name, kw, dtype, T, B, D, H, num_layers, bidirectional, batch_first, lengths, seed):
    rng = np.random.default_rng(seed)
    ours = getattr(rnnkit, name)(
        D, H, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first, dtype=dtype, seed=seed, **kw
    )
    theirs = getattr(torch.nn, name)(
        D,
        H,
        num_layers=num_layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
        dtype=TORCH_DTYPE[dtype],
        **kw,
    )
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    L = num_layers * (2 if bidirectional else 1)
    x = rng.normal(size=(B, T, D) if batch_first else (T, B, D)).astype(dtype)
    h0 = rng.normal(size=(L, B, H)).astype(dtype)
    c0 = rng.normal(size=(L, B, H)).astype(dtype)
    is_lstm = name == "LSTM"
    out, hn = ours.forward(x, (h0, c0) if is_lstm else h0, lengths=lengths)

    xt, h0t, c0t = _t(x, dtype, True), _t(h0, dtype, True), _t(c0, dtype, True)
    hxt = (h0t, c0t) if is_lstm else h0t
    if lengths is None:
        ot, hnt = theirs(xt, hxt)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            xt, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False
        )
        po, hnt = theirs(packed, hxt)
        ot, _ = torch.nn.utils.rnn.pad_packed_sequence(po, batch_first=batch_first, total_length=T)
    P = rng.normal(size=out.shape).astype(dtype)
    Q = rng.normal(size=(L, B, H)).astype(dtype)
    Q2 = rng.normal(size=(L, B, H)).astype(dtype)
    tol = TOL[dtype]
    _close("out", out, ot, tol)
    if is_lstm:
        _close("h_n", hn[0], hnt[0], tol)
        _close("c_n", hn[1], hnt[1], tol)
        loss = (ot * _t(P, dtype)).sum() + (hnt[0] * _t(Q, dtype)).sum() + (hnt[1] * _t(Q2, dtype)).sum()
        dx, (dh0, dc0) = ours.backward(P, (Q, Q2))
    else:
        _close("h_n", hn, hnt, tol)
        loss = (ot * _t(P, dtype)).sum() + (hnt * _t(Q, dtype)).sum()
        dx, dh0 = ours.backward(P, Q)
    loss.backward()
    _close("dx", dx, xt.grad, tol)
    _close("dh0", dh0, h0t.grad, tol)
    if is_lstm:
        _close("dc0", dc0, c0t.grad, tol)
    names = [k for k, _ in theirs.named_parameters()]
    assert sorted(names) == sorted(ours.grads)
    for k, p in theirs.named_parameters():
        _close(f"grad {k}", ours.grads[k], p.grad, tol)
    for g in ours.grads.values():
        assert g.dtype == dtype


TWINS = [("RNN", {"nonlinearity": "tanh"}), ("RNN", {"nonlinearity": "relu"}), ("GRU", {}), ("LSTM", {})]
IDS = ["rnn-tanh", "rnn-relu", "gru", "lstm"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name,kw", TWINS, ids=IDS)
@pytest.mark.parametrize("seed", range(3))
def test_single_layer_parity_fuzzed_sizes(name, kw, dtype, seed):
    rng = np.random.default_rng(100 + seed)
    T, B, D, H = (int(v) for v in rng.integers(1, 9, size=4))
    _run_layer_pair(name, kw, dtype, T, B, D, H, 1, False, False, None, seed)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name,kw", TWINS, ids=IDS)
def test_stacked_bidirectional_batch_first_parity(name, kw, dtype):
    _run_layer_pair(name, kw, dtype, 6, 4, 5, 7, 3, True, True, None, 11)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name,kw", TWINS, ids=IDS)
@pytest.mark.parametrize("lengths", [[6, 4, 4, 1], [2, 6, 1, 5]], ids=["sorted", "unsorted"])
def test_variable_length_parity_with_packed_sequences(name, kw, dtype, lengths):
    _run_layer_pair(name, kw, dtype, 6, 4, 3, 5, 2, True, False, np.array(lengths), 12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name,kw", TWINS, ids=IDS)
def test_unbatched_input_parity(name, kw, dtype):
    rng = np.random.default_rng(13)
    ours = getattr(rnnkit, name)(3, 4, num_layers=2, dtype=dtype, seed=13, **kw)
    theirs = getattr(torch.nn, name)(3, 4, num_layers=2, dtype=TORCH_DTYPE[dtype], **kw)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x = rng.normal(size=(5, 3)).astype(dtype)
    out, hn = ours.forward(x)
    ot, hnt = theirs(_t(x, dtype))
    _close("out", out, ot, TOL[dtype])
    _close("h_n", hn[0] if name == "LSTM" else hn, hnt[0] if name == "LSTM" else hnt, TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name,kw", TWINS, ids=IDS)
@pytest.mark.parametrize("batched", [True, False])
def test_cell_parity(name, kw, dtype, batched):
    rng = np.random.default_rng(14)
    D, H, B = 5, 6, 3
    ours = getattr(rnnkit, name + "Cell")(D, H, dtype=dtype, seed=14, **kw)
    theirs = getattr(torch.nn, name + "Cell")(D, H, dtype=TORCH_DTYPE[dtype], **kw)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    shape = (B, H) if batched else (H,)
    x = rng.normal(size=(B, D) if batched else (D,)).astype(dtype)
    h = rng.normal(size=shape).astype(dtype)
    c = rng.normal(size=shape).astype(dtype)
    P, Q = rng.normal(size=shape).astype(dtype), rng.normal(size=shape).astype(dtype)
    xt, ht, ct = _t(x, dtype, True), _t(h, dtype, True), _t(c, dtype, True)
    tol = TOL[dtype]
    if name == "LSTM":
        h1, c1 = ours.forward(x, (h, c))
        h1t, c1t = theirs(xt, (ht, ct))
        _close("h'", h1, h1t, tol)
        _close("c'", c1, c1t, tol)
        ((h1t * _t(P, dtype)).sum() + (c1t * _t(Q, dtype)).sum()).backward()
        dx, (dh, dc) = ours.backward(P, Q)
        _close("dc", dc, ct.grad, tol)
    else:
        h1 = ours.forward(x, h)
        h1t = theirs(xt, ht)
        _close("h'", h1, h1t, tol)
        (h1t * _t(P, dtype)).sum().backward()
        dx, dh = ours.backward(P)
    _close("dx", dx, xt.grad, tol)
    _close("dh", dh, ht.grad, tol)
    for k, p in theirs.named_parameters():
        _close(f"grad {k}", ours.grads[k], p.grad, tol)


# -- variants without a torch twin: a plain autograd reference, written from the equations ---------


def _reference_step(kind, x, h, w_ih, w_hh, b_ih, b_hh):
    H = h.shape[-1]
    xw = x @ w_ih.T + b_ih
    if kind == "gru_reset_before":  # Cho et al. 2014
        r = torch.sigmoid(xw[:, :H] + h @ w_hh[:H].T + b_hh[:H])
        z = torch.sigmoid(xw[:, H : 2 * H] + h @ w_hh[H : 2 * H].T + b_hh[H : 2 * H])
        n = torch.tanh(xw[:, 2 * H :] + (r * h) @ w_hh[2 * H :].T + b_hh[2 * H :])
        return (1 - z) * n + z * h
    if kind == "gru_update_only":  # course notes' simplified GRU
        z = torch.sigmoid(xw[:, :H] + h @ w_hh[:H].T + b_hh[:H])
        n = torch.tanh(xw[:, H:] + h @ w_hh[H:].T + b_hh[H:])
        return (1 - z) * n + z * h
    if kind == "mgu":  # Zhou et al. 2016
        f = torch.sigmoid(xw[:, :H] + h @ w_hh[:H].T + b_hh[:H])
        n = torch.tanh(xw[:, H:] + (f * h) @ w_hh[H:].T + b_hh[H:])
        return (1 - f) * h + f * n
    raise ValueError(kind)


REFERENCE_VARIANTS = [
    ("GRU", {"reset_after": False}, "gru_reset_before"),
    ("GRU", {"reset_gate": False}, "gru_update_only"),
    ("MGU", {}, "mgu"),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name,kw,kind", REFERENCE_VARIANTS, ids=[v[2] for v in REFERENCE_VARIANTS])
def test_variants_match_autograd_reference(name, kw, kind, dtype):
    rng = np.random.default_rng(15)
    T, B, D, H = 6, 3, 4, 5
    layer = getattr(rnnkit, name)(D, H, dtype=dtype, seed=15, **kw)
    x = rng.normal(size=(T, B, D)).astype(dtype)
    h0 = rng.normal(size=(1, B, H)).astype(dtype)
    out, hn = layer.forward(x, h0)
    P = rng.normal(size=out.shape).astype(dtype)
    Q = rng.normal(size=hn.shape).astype(dtype)
    dx, dh0 = layer.backward(P, Q)

    w = {k: _t(v, dtype, True) for k, v in layer.state_dict().items()}
    xt, h0t = _t(x, dtype, True), _t(h0, dtype, True)
    h, outs = h0t[0], []
    for t in range(T):
        h = _reference_step(kind, xt[t], h, w["weight_ih_l0"], w["weight_hh_l0"], w["bias_ih_l0"], w["bias_hh_l0"])
        outs.append(h)
    ot = torch.stack(outs)
    tol = TOL[dtype]
    _close("out", out, ot, tol)
    _close("h_n", hn[0], h, tol)
    ((ot * _t(P, dtype)).sum() + (h * _t(Q[0], dtype)).sum()).backward()
    _close("dx", dx, xt.grad, tol)
    _close("dh0", dh0, h0t.grad, tol)
    for k, p in w.items():
        _close(f"grad {k}", layer.grads[k], p.grad, tol)


def test_weights_move_both_ways():
    """torch -> rnnkit -> torch round trip keeps every tensor bit-identical."""
    theirs = torch.nn.LSTM(4, 6, num_layers=2, bidirectional=True)
    ours = rnnkit.LSTM(4, 6, num_layers=2, bidirectional=True, seed=0)
    ours.load_state_dict(theirs.state_dict())
    back = torch.nn.LSTM(4, 6, num_layers=2, bidirectional=True)
    back.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    for k, v in theirs.state_dict().items():
        assert torch.equal(v, back.state_dict()[k]), k
