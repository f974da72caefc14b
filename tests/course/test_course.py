"""rnnkit.course: the Sequence Models course notation, checked against the rnnkit layers and finite differences.

The weight translations used for the layers are written out here again, by
hand, rather than taken from ``course.*_state_dict``: a wrong translation in
the module then shows up as a disagreement.
"""

import os
import re
from pathlib import Path

import numpy as np
import pytest

import rnnkit
from rnnkit import course
from rnnkit.gradcheck import assert_gradient_close, numerical_gradient

from helpers import REPO_ROOT, shared_data

TOL = 1e-12
N_X, N_A, N_Y, M, T_X = 3, 4, 2, 5, 4
DOCS = REPO_ROOT / "docs" / "course.md"
DINOS = Path(os.environ.get("RNNKIT_DINOS", shared_data("dinos", "dinos.txt")))


def close(actual, expected, what):
    np.testing.assert_allclose(actual, expected, rtol=0, atol=TOL, err_msg=what)


def np_sigmoid(s):
    return 1.0 / (1.0 + np.exp(-s))


def np_softmax(s):
    e = np.exp(s - s.max(axis=0))
    return e / e.sum(axis=0)


# -- parameters in the course's notation and their rnnkit twins ---------------------------------
def rnn_params(rng, n_x=N_X, n_a=N_A, n_y=N_Y):
    return {
        "Wax": rng.normal(size=(n_a, n_x)),
        "Waa": 0.5 * rng.normal(size=(n_a, n_a)),
        "Wya": rng.normal(size=(n_y, n_a)),
        "ba": rng.normal(size=(n_a, 1)),
        "by": rng.normal(size=(n_y, 1)),
    }


def lstm_params(rng, n_x=N_X, n_a=N_A, n_y=N_Y):
    p = {f"W{g}": 0.6 * rng.normal(size=(n_a, n_a + n_x)) for g in "fico"}
    p.update({f"b{g}": rng.normal(size=(n_a, 1)) for g in "fico"})
    p.update(Wy=rng.normal(size=(n_y, n_a)), by=rng.normal(size=(n_y, 1)))
    return p


def gru_params(rng, full, readout=False, n_x=N_X, n_a=N_A, n_y=N_Y):
    gates = "ruc" if full else "uc"
    p = {f"W{g}": 0.6 * rng.normal(size=(n_a, n_a + n_x)) for g in gates}
    p.update({f"b{g}": rng.normal(size=(n_a, 1)) for g in gates})
    if readout:
        p.update(Wy=rng.normal(size=(n_y, n_a)), by=rng.normal(size=(n_y, 1)))
    return p


def rnn_layer(p):
    n_a, n_x = p["Wax"].shape
    layer = rnnkit.RNN(n_x, n_a, dtype=np.float64)
    layer.load_state_dict(
        {"weight_ih_l0": p["Wax"], "weight_hh_l0": p["Waa"], "bias_ih_l0": p["ba"][:, 0], "bias_hh_l0": np.zeros(n_a)}
    )
    return layer


def stacked(blocks, n_a):
    """(sign, W, b) blocks acting on [a_prev; xt] -> rnnkit's weight_ih, weight_hh, bias_ih, bias_hh."""
    return {
        "weight_ih_l0": np.vstack([s * W[:, n_a:] for s, W, _ in blocks]),
        "weight_hh_l0": np.vstack([s * W[:, :n_a] for s, W, _ in blocks]),
        "bias_ih_l0": np.concatenate([s * b[:, 0] for s, _, b in blocks]),
        "bias_hh_l0": np.zeros(len(blocks) * n_a),
    }


def lstm_layer(p):
    n_a = p["Wf"].shape[0]
    layer = rnnkit.LSTM(p["Wf"].shape[1] - n_a, n_a, dtype=np.float64)
    layer.load_state_dict(stacked([(1, p[f"W{g}"], p[f"b{g}"]) for g in "ifco"], n_a))  # i, f, g, o
    return layer


def gru_layer(p):
    n_a = p["Wc"].shape[0]
    full = "Wr" in p
    blocks = ([(1, p["Wr"], p["br"])] if full else []) + [(-1, p["Wu"], p["bu"]), (1, p["Wc"], p["bc"])]
    layer = rnnkit.GRU(p["Wc"].shape[1] - n_a, n_a, reset_after=False, reset_gate=full, dtype=np.float64)
    layer.load_state_dict(stacked(blocks, n_a))
    return layer


def layer_grads_as_course(layer, gates, n_a, signs=None):
    """The layer's gradients in the course's dW_g (recurrent columns first) and db_g (n_a, 1)."""
    signs = signs or {}
    g_ih, g_hh, g_b = (layer.grads[k] for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0"))
    out = {}
    for k, g in enumerate(gates):
        rows, s = slice(k * n_a, (k + 1) * n_a), signs.get(g, 1)
        out[f"dW{g}"] = s * np.hstack([g_hh[rows], g_ih[rows]])
        out[f"db{g}"] = s * g_b[rows, None]
    return out


def test_state_dict_helpers_agree_with_the_translation_written_here():
    rng = np.random.default_rng(0)
    p = rnn_params(rng)
    for k, v in rnn_layer(p).state_dict().items():
        np.testing.assert_array_equal(course.rnn_state_dict(p)[k], v)
    p = lstm_params(rng)
    for k, v in lstm_layer(p).state_dict().items():
        np.testing.assert_array_equal(course.lstm_state_dict(p)[k], v)
    for full in (True, False):
        p = gru_params(rng, full)
        for k, v in gru_layer(p).state_dict().items():
            np.testing.assert_array_equal(course.gru_state_dict(p)[k], v)


# -- activations ----------------------------------------------------------------------------------
def test_softmax_is_column_wise_and_stable():
    s = np.array([[1.0, 1000.0, -3.0], [2.0, -1000.0, -3.0], [0.5, 999.0, -3.0]])
    y = course.softmax(s)
    close(y.sum(axis=0), np.ones(3), "columns sum to 1")
    close(y[:, 0], np.exp(s[:, 0]) / np.exp(s[:, 0]).sum(), "plain formula")
    close(y[:, 2], np.full(3, 1 / 3), "equal scores")
    assert y[1, 1] == 0.0 and np.isfinite(y).all()
    close(course.softmax(np.array([0, 0])), [0.5, 0.5], "integer vector")


def test_sigmoid_matches_the_formula_and_saturates_without_warnings():
    s = np.linspace(-30, 30, 61)
    close(course.sigmoid(s), np_sigmoid(s), "sigmoid")
    close(course.sigmoid(np.array([-800.0, 800.0])), [0.0, 1.0], "saturation")
    assert float(course.sigmoid(0.0)) == 0.5  # scalars work too


def test_update_gate_negation_identity():
    """The GRU translation rests on 1 - sigmoid(s) = sigmoid(-s): check it in float64."""
    s = np.linspace(-40, 40, 801)
    close(1.0 - course.sigmoid(s), course.sigmoid(-s), "1 - sigmoid(s) vs sigmoid(-s)")


# -- RNN ------------------------------------------------------------------------------------------
def test_rnn_cell_forward_matches_formula_and_layer():
    rng = np.random.default_rng(1)
    p = rnn_params(rng)
    xt, a_prev = rng.normal(size=(N_X, M)), rng.normal(size=(N_A, M))
    a_next, yt_pred, cache = course.rnn_cell_forward(xt, a_prev, p)
    close(a_next, np.tanh(p["Wax"] @ xt + p["Waa"] @ a_prev + p["ba"]), "a_next (formula)")
    close(yt_pred, np_softmax(p["Wya"] @ a_next + p["by"]), "yt_pred (formula)")
    _, h_n = rnn_layer(p).forward(xt.T[None], a_prev.T[None])
    close(a_next, h_n[0].T, "a_next (rnnkit.RNN)")
    assert len(cache) == 4 and cache[3] is p
    for got, want in zip(cache[:3], (a_next, a_prev, xt)):
        np.testing.assert_array_equal(got, want)


def test_rnn_forward_matches_layer_and_the_loop_of_cells():
    rng = np.random.default_rng(2)
    p = rnn_params(rng)
    x, a0 = rng.normal(size=(N_X, M, T_X)), rng.normal(size=(N_A, M))
    a, y_pred, (steps, x_cached) = course.rnn_forward(x, a0, p)
    assert a.shape == (N_A, M, T_X) and y_pred.shape == (N_Y, M, T_X)
    out, _ = rnn_layer(p).forward(x.transpose(2, 1, 0), a0.T[None])
    close(a, out.transpose(2, 1, 0), "a (rnnkit.RNN)")
    a_prev = a0
    for t in range(T_X):  # the course's own loop over rnn_cell_forward
        a_prev, yt, cache = course.rnn_cell_forward(x[:, :, t], a_prev, p)
        close(a[:, :, t], a_prev, f"a<{t}>")
        close(y_pred[:, :, t], yt, f"y_pred<{t}>")
        for k in range(3):
            close(steps[t][k], cache[k], f"cache {t}, entry {k}")
    assert len(steps) == T_X and x_cached is x


def test_rnn_cell_backward_matches_layer():
    rng = np.random.default_rng(3)
    p = rnn_params(rng)
    xt, a_prev, da_next = (rng.normal(size=s) for s in ((N_X, M), (N_A, M), (N_A, M)))
    _, _, cache = course.rnn_cell_forward(xt, a_prev, p)
    g = course.rnn_cell_backward(da_next, cache)
    assert list(g) == ["dxt", "da_prev", "dWax", "dWaa", "dba"]
    layer = rnn_layer(p)
    layer.forward(xt.T[None], a_prev.T[None])
    dx, dh0 = layer.backward(None, da_next.T[None])
    close(g["dxt"], dx[0].T, "dxt")
    close(g["da_prev"], dh0[0].T, "da_prev")
    close(g["dWax"], layer.grads["weight_ih_l0"], "dWax")
    close(g["dWaa"], layer.grads["weight_hh_l0"], "dWaa")
    close(g["dba"], layer.grads["bias_ih_l0"][:, None], "dba")


def test_rnn_backward_matches_layer_and_the_loop_of_cells():
    rng = np.random.default_rng(4)
    p = rnn_params(rng)
    x, a0, da = rng.normal(size=(N_X, M, T_X)), rng.normal(size=(N_A, M)), rng.normal(size=(N_A, M, T_X))
    _, _, caches = course.rnn_forward(x, a0, p)
    g = course.rnn_backward(da, caches)
    assert list(g) == ["dx", "da0", "dWax", "dWaa", "dba"]
    layer = rnn_layer(p)
    layer.forward(x.transpose(2, 1, 0), a0.T[None])
    dx, dh0 = layer.backward(da.transpose(2, 1, 0))
    close(g["dx"], dx.transpose(2, 1, 0), "dx")
    close(g["da0"], dh0[0].T, "da0")
    close(g["dWax"], layer.grads["weight_ih_l0"], "dWax")
    close(g["dWaa"], layer.grads["weight_hh_l0"], "dWaa")
    close(g["dba"], layer.grads["bias_ih_l0"][:, None], "dba")
    # the course's algorithm: rnn_cell_backward from the last step, carrying da_prev
    da_prev, total = np.zeros((N_A, M)), {k: 0.0 for k in ("dWax", "dWaa", "dba")}
    for t in reversed(range(T_X)):
        step = course.rnn_cell_backward(da[:, :, t] + da_prev, caches[0][t])
        close(g["dx"][:, :, t], step["dxt"], f"dx<{t}> (loop)")
        da_prev = step["da_prev"]
        total = {k: total[k] + step[k] for k in total}
    close(g["da0"], da_prev, "da0 (loop)")
    for k in total:
        close(g[k], total[k], f"{k} (loop)")


# -- LSTM -----------------------------------------------------------------------------------------
def test_lstm_cell_forward_matches_formula_and_layer():
    rng = np.random.default_rng(5)
    p = lstm_params(rng)
    xt, a_prev, c_prev = rng.normal(size=(N_X, M)), rng.normal(size=(N_A, M)), rng.normal(size=(N_A, M))
    a_next, c_next, yt_pred, cache = course.lstm_cell_forward(xt, a_prev, c_prev, p)
    concat = np.vstack([a_prev, xt])
    ft, it = np_sigmoid(p["Wf"] @ concat + p["bf"]), np_sigmoid(p["Wi"] @ concat + p["bi"])
    cct, ot = np.tanh(p["Wc"] @ concat + p["bc"]), np_sigmoid(p["Wo"] @ concat + p["bo"])
    close(c_next, ft * c_prev + it * cct, "c_next (formula)")
    close(a_next, ot * np.tanh(ft * c_prev + it * cct), "a_next (formula)")
    close(yt_pred, np_softmax(p["Wy"] @ a_next + p["by"]), "yt_pred (formula)")
    assert len(cache) == 10 and cache[9] is p
    for k, want in enumerate((a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt)):
        close(cache[k], want, f"cache[{k}]")
    _, (h_n, c_n) = lstm_layer(p).forward(xt.T[None], (a_prev.T[None], c_prev.T[None]))
    close(a_next, h_n[0].T, "a_next (rnnkit.LSTM)")
    close(c_next, c_n[0].T, "c_next (rnnkit.LSTM)")


def test_lstm_forward_matches_layer():
    rng = np.random.default_rng(6)
    p = lstm_params(rng)
    x, a0 = rng.normal(size=(N_X, M, T_X)), rng.normal(size=(N_A, M))
    a, y, c, (steps, _) = course.lstm_forward(x, a0, p)
    out, (h_n, c_n) = lstm_layer(p).forward(x.transpose(2, 1, 0), (a0.T[None], np.zeros((1, M, N_A))))
    close(a, out.transpose(2, 1, 0), "a")
    close(c[:, :, -1], c_n[0].T, "c<T_x>")
    close(y, np_softmax(np.einsum("ya,amt->ymt", p["Wy"], a) + p["by"][:, :, None]), "y")
    a_prev, c_prev = a0, np.zeros((N_A, M))
    for t in range(T_X):
        a_prev, c_prev, _, cache = course.lstm_cell_forward(x[:, :, t], a_prev, c_prev, p)
        close(c[:, :, t], c_prev, f"c<{t}>")
        for k in range(9):
            close(steps[t][k], cache[k], f"cache {t}, entry {k}")


def test_lstm_cell_backward_matches_layer():
    rng = np.random.default_rng(7)
    p = lstm_params(rng)
    xt, a_prev, c_prev, da_next, dc_next = (rng.normal(size=s) for s in ((N_X, M),) + ((N_A, M),) * 4)
    *_, cache = course.lstm_cell_forward(xt, a_prev, c_prev, p)
    g = course.lstm_cell_backward(da_next, dc_next, cache)
    assert list(g) == ["dxt", "da_prev", "dc_prev", "dWf", "dWi", "dWc", "dWo", "dbf", "dbi", "dbc", "dbo"]
    layer = lstm_layer(p)
    layer.forward(xt.T[None], (a_prev.T[None], c_prev.T[None]))
    dx, (dh0, dc0) = layer.backward(None, (da_next.T[None], dc_next.T[None]))
    close(g["dxt"], dx[0].T, "dxt")
    close(g["da_prev"], dh0[0].T, "da_prev")
    close(g["dc_prev"], dc0[0].T, "dc_prev")
    for k, v in layer_grads_as_course(layer, "ifco", N_A).items():
        close(g[k], v, k)


def test_lstm_backward_matches_layer():
    rng = np.random.default_rng(8)
    p = lstm_params(rng)
    x, a0, da = rng.normal(size=(N_X, M, T_X)), rng.normal(size=(N_A, M)), rng.normal(size=(N_A, M, T_X))
    *_, caches = course.lstm_forward(x, a0, p)
    g = course.lstm_backward(da, caches)
    assert list(g) == ["dx", "da0", "dWf", "dWi", "dWc", "dWo", "dbf", "dbi", "dbc", "dbo"]
    layer = lstm_layer(p)
    layer.forward(x.transpose(2, 1, 0), (a0.T[None], np.zeros((1, M, N_A))))
    dx, (dh0, _) = layer.backward(da.transpose(2, 1, 0))
    close(g["dx"], dx.transpose(2, 1, 0), "dx")
    close(g["da0"], dh0[0].T, "da0")
    for k, v in layer_grads_as_course(layer, "ifco", N_A).items():
        close(g[k], v, k)


# -- GRU ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("full", [True, False], ids=["full", "simplified"])
def test_gru_cell_forward_matches_the_notes_equations(full):
    rng = np.random.default_rng(9)
    p = gru_params(rng, full, readout=True)
    xt, c_prev = rng.normal(size=(N_X, M)), rng.normal(size=(N_A, M))
    c_next, yt_pred, cache = course.gru_cell_forward(xt, c_prev, p)
    cx = np.vstack([c_prev, xt])
    gr = np_sigmoid(p["Wr"] @ cx + p["br"]) if full else np.ones_like(c_prev)
    gu = np_sigmoid(p["Wu"] @ cx + p["bu"])
    cct = np.tanh(p["Wc"] @ np.vstack([gr * c_prev, xt]) + p["bc"])
    close(c_next, gu * cct + (1 - gu) * c_prev, "c_next (formula)")
    close(yt_pred, np_softmax(p["Wy"] @ c_next + p["by"]), "yt_pred (formula)")
    assert len(cache) == 7 and cache[6] is p
    close(cache[2], gu, "gamma_u")
    close(cache[4], cct, "cct")
    if full:
        close(cache[3], gr, "gamma_r")
    else:
        assert cache[3] is None
    no_readout = {k: v for k, v in p.items() if k not in ("Wy", "by")}
    assert course.gru_cell_forward(xt, c_prev, no_readout)[1] is None


@pytest.mark.parametrize("full", [True, False], ids=["full", "simplified"])
def test_gru_cells_match_the_layer_forward_and_backward(full):
    """A loop of gru_cell_forward / gru_cell_backward against rnnkit.GRU over T_x steps."""
    rng = np.random.default_rng(10)
    p = gru_params(rng, full)
    x, c0, dc = rng.normal(size=(N_X, M, T_X)), rng.normal(size=(N_A, M)), rng.normal(size=(N_A, M, T_X))
    layer = gru_layer(p)
    out, _ = layer.forward(x.transpose(2, 1, 0), c0.T[None])
    dx, dh0 = layer.backward(dc.transpose(2, 1, 0))
    c, caches = c0, []
    for t in range(T_X):
        c, _, cache = course.gru_cell_forward(x[:, :, t], c, p)
        close(c, out[t].T, f"c<{t}>")
        caches.append(cache)
    dc_prev, total = np.zeros((N_A, M)), {}
    for t in reversed(range(T_X)):
        g = course.gru_cell_backward(dc[:, :, t] + dc_prev, caches[t])
        close(g["dxt"], dx[t].T, f"dxt<{t}>")
        dc_prev = g["dc_prev"]
        for k, v in g.items():
            if k.startswith(("dW", "db")):
                total[k] = total.get(k, 0.0) + v
    close(dc_prev, dh0[0].T, "dc0")
    want = layer_grads_as_course(layer, "ruc" if full else "uc", N_A, signs={"u": -1})
    assert sorted(total) == sorted(want)
    for k, v in want.items():
        close(total[k], v, k)


# -- gradient checks (float64 finite differences, random projections) -------------------------------
def check_all(loss, analytic: dict, arrays: dict):
    for name, arr in arrays.items():
        assert_gradient_close(name, analytic[name], numerical_gradient(loss, arr))


def test_rnn_cell_backward_gradcheck():
    rng = np.random.default_rng(11)
    p = rnn_params(rng)
    xt, a_prev = rng.normal(size=(N_X, M)), rng.normal(size=(N_A, M))
    P = rng.normal(size=(N_A, M))

    def loss():
        return float(np.sum(P * course.rnn_cell_forward(xt, a_prev, p)[0]))

    g = course.rnn_cell_backward(P, course.rnn_cell_forward(xt, a_prev, p)[2])
    check_all(loss, g, {"dxt": xt, "da_prev": a_prev, **{"d" + k: p[k] for k in ("Wax", "Waa", "ba")}})


def test_rnn_backward_gradcheck():
    rng = np.random.default_rng(12)
    p = rnn_params(rng)
    x, a0 = rng.normal(size=(N_X, M, T_X)), rng.normal(size=(N_A, M))
    P = rng.normal(size=(N_A, M, T_X))

    def loss():
        return float(np.sum(P * course.rnn_forward(x, a0, p)[0]))

    g = course.rnn_backward(P, course.rnn_forward(x, a0, p)[2])
    check_all(loss, g, {"dx": x, "da0": a0, **{"d" + k: p[k] for k in ("Wax", "Waa", "ba")}})


def test_lstm_cell_backward_gradcheck():
    rng = np.random.default_rng(13)
    p = lstm_params(rng)
    xt, a_prev, c_prev = rng.normal(size=(N_X, M)), rng.normal(size=(N_A, M)), rng.normal(size=(N_A, M))
    P, Q = rng.normal(size=(N_A, M)), rng.normal(size=(N_A, M))

    def loss():
        a_next, c_next, _, _ = course.lstm_cell_forward(xt, a_prev, c_prev, p)
        return float(np.sum(P * a_next) + np.sum(Q * c_next))

    g = course.lstm_cell_backward(P, Q, course.lstm_cell_forward(xt, a_prev, c_prev, p)[3])
    params = {f"d{k}": p[k] for k in p if k not in ("Wy", "by")}
    check_all(loss, g, {"dxt": xt, "da_prev": a_prev, "dc_prev": c_prev, **params})


def test_lstm_backward_gradcheck():
    rng = np.random.default_rng(14)
    p = lstm_params(rng)
    x, a0 = rng.normal(size=(N_X, M, T_X)), rng.normal(size=(N_A, M))
    P = rng.normal(size=(N_A, M, T_X))

    def loss():
        return float(np.sum(P * course.lstm_forward(x, a0, p)[0]))

    g = course.lstm_backward(P, course.lstm_forward(x, a0, p)[3])
    check_all(loss, g, {"dx": x, "da0": a0, **{f"d{k}": p[k] for k in p if k not in ("Wy", "by")}})


@pytest.mark.parametrize("full", [True, False], ids=["full", "simplified"])
def test_gru_cell_backward_gradcheck(full):
    rng = np.random.default_rng(15)
    p = gru_params(rng, full, readout=True)
    xt, c_prev = rng.normal(size=(N_X, M)), rng.normal(size=(N_A, M))
    P = rng.normal(size=(N_A, M))

    def loss():
        return float(np.sum(P * course.gru_cell_forward(xt, c_prev, p)[0]))

    g = course.gru_cell_backward(P, course.gru_cell_forward(xt, c_prev, p)[2])
    assert ("dWr" in g) == full and "dWy" not in g
    check_all(loss, g, {"dxt": xt, "dc_prev": c_prev, **{f"d{k}": p[k] for k in p if k not in ("Wy", "by")}})


def test_optimize_gradients_gradcheck():
    """optimize with learning_rate=0 leaves the parameters alone, so its loss can be differenced."""
    rng = np.random.default_rng(16)
    V, n_a = 6, 4
    p = rnn_params(rng, n_x=V, n_a=n_a, n_y=V)
    X, Y = [None, 2, 5, 1], [2, 5, 1, 0]
    a_prev = rng.normal(size=(n_a, 1))
    before = {k: v.copy() for k, v in p.items()}
    loss, g, _ = course.optimize(X, Y, a_prev, p, learning_rate=0.0)
    assert all(np.array_equal(before[k], p[k]) for k in p)
    assert max(np.abs(v).max() for v in g.values()) < course.CLIP_VALUE  # clipping inactive
    check_all(lambda: course.optimize(X, Y, a_prev, p, 0.0)[0], g, {"d" + k: p[k] for k in p})


# -- clip -----------------------------------------------------------------------------------------
def test_clip_is_element_wise_and_in_place():
    gradients = {"dWax": np.array([[-12.0, 3.0], [5.0, 7.5]]), "dby": np.array([[0.25], [-5.5]])}
    arrays = dict(gradients)
    assert course.clip(gradients, 5) is gradients
    assert all(gradients[k] is arrays[k] for k in arrays)  # the same arrays, modified
    np.testing.assert_array_equal(gradients["dWax"], [[-5.0, 3.0], [5.0, 5.0]])
    np.testing.assert_array_equal(gradients["dby"], [[0.25], [-5.0]])
    with pytest.raises(ValueError, match=r"clip: maxValue must be > 0, got 0"):
        course.clip(gradients, 0)
    with pytest.raises(TypeError, match=r"clip: gradients\['g'\] must be a float numpy array, got list"):
        course.clip({"g": [1.0]}, 1.0)


# -- the name model -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def names():
    return course.generate_names(12, seed=3)


def test_generated_names_repeat_with_the_seed(names):
    assert names == course.generate_names(12, seed=3)
    assert names != course.generate_names(12, seed=4)
    assert all(n and n.isalpha() and n.islower() for n in names)
    char_to_ix, ix_to_char = course.build_vocab(names)
    assert char_to_ix["\n"] == 0 and all(ix_to_char[i] == ch for ch, i in char_to_ix.items())


def test_initialize_parameters_shapes_and_seed():
    p = course.initialize_parameters(7, 5, 6)
    assert {k: v.shape for k, v in p.items()} == {
        "Wax": (7, 5),
        "Waa": (7, 7),
        "Wya": (6, 7),
        "ba": (7, 1),
        "by": (6, 1),
    }
    assert np.array_equal(p["Wax"], course.initialize_parameters(7, 5, 6)["Wax"])
    assert 0 < np.abs(p["Waa"]).max() < 0.1 and not p["ba"].any()


def test_sample_repeats_with_a_seed_and_keeps_global_state(names):
    char_to_ix, _ = course.build_vocab(names)
    p = course.initialize_parameters(8, len(char_to_ix), len(char_to_ix), seed=0)
    state = np.random.get_state()[1].copy()
    draws = [course.sample(p, char_to_ix, seed) for seed in range(6)]
    assert np.array_equal(np.random.get_state()[1], state)  # NumPy's global generator untouched
    assert draws[2] == course.sample(p, char_to_ix, 2)
    assert len({tuple(d) for d in draws}) > 1
    for d in draws:
        assert d[-1] == char_to_ix["\n"] and d.count(char_to_ix["\n"]) == 1 and len(d) <= 51


def test_sample_stops_at_newline_or_after_fifty_characters(names):
    char_to_ix, _ = course.build_vocab(names)
    V, nl = len(char_to_ix), char_to_ix["\n"]
    p = course.initialize_parameters(8, V, V, seed=0)
    p["by"][nl] = 60.0  # the newline is certain
    assert course.sample(p, char_to_ix, 0) == [nl]
    p["by"][nl] = -1000.0  # the newline is impossible
    d = course.sample(p, char_to_ix, 0)
    assert len(d) == 51 and nl not in d[:50] and d[50] == nl


def examples(names, char_to_ix):
    for n in names:
        X = [None] + [char_to_ix[ch] for ch in n]
        yield X, X[1:] + [char_to_ix["\n"]]


def total_loss(p, names, char_to_ix):
    n_a = p["Waa"].shape[0]
    return sum(
        course.optimize(X, Y, np.zeros((n_a, 1)), {k: v.copy() for k, v in p.items()}, 0.0)[0]
        for X, Y in examples(names, char_to_ix)
    )


def test_optimize_decreases_the_loss_and_updates_in_place(names):
    char_to_ix, _ = course.build_vocab(names)
    V = len(char_to_ix)
    p = course.initialize_parameters(10, V, V, seed=0)
    arrays = dict(p)
    losses = [total_loss(p, names, char_to_ix)]
    for _ in range(3):
        for X, Y in examples(names, char_to_ix):
            course.optimize(X, Y, np.zeros((10, 1)), p, learning_rate=0.01)
        losses.append(total_loss(p, names, char_to_ix))
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert all(p[k] is arrays[k] for k in p)
    # one step is W -= lr * clipped dW, and a_last is the last hidden state
    X, Y = next(examples(names, char_to_ix))
    before = {k: v.copy() for k, v in p.items()}
    a0 = np.full((10, 1), 0.1)
    loss, g, a_last = course.optimize(X, Y, a0, p, learning_rate=0.5)
    for k in p:
        close(p[k], before[k] - 0.5 * g["d" + k], k)
    x = np.zeros((V, 1, len(X)))
    for t, i in enumerate(X):
        if i is not None:
            x[i, 0, t] = 1
    a, y_hat, _ = course.rnn_forward(x, a0, before)
    close(a_last, a[:, :, -1], "a_last")
    assert loss == pytest.approx(-np.log(y_hat[Y, 0, np.arange(len(Y))]).sum(), rel=1e-12)


def test_optimize_clips_to_five():
    rng = np.random.default_rng(17)
    p = rnn_params(rng, n_x=5, n_a=6, n_y=5)
    p["by"][0] = 1000.0  # always predicts index 0 ...
    loss, g, _ = course.optimize([None] + [1] * 7, [1] * 8, np.zeros((6, 1)), p, 0.0)  # ... but 1 is right
    assert np.isfinite(loss) and loss > 7000  # confident and wrong, yet finite
    np.testing.assert_array_equal(g["dby"][:2, 0], [5.0, -5.0])  # +/-8 before clipping
    assert max(np.abs(v).max() for v in g.values()) == 5.0


def test_model_quiet_returns_trained_parameters(names, capsys):
    char_to_ix, ix_to_char = course.build_vocab(names)
    V = len(char_to_ix)
    p = course.model(
        names, ix_to_char, char_to_ix, num_iterations=240, n_a=12, seed=1, learning_rate=0.05, verbose=False
    )
    assert capsys.readouterr().out == ""
    assert {k: v.shape for k, v in p.items()} == {
        "Wax": (12, V),
        "Waa": (12, 12),
        "Wya": (V, 12),
        "ba": (12, 1),
        "by": (V, 1),
    }
    untrained = course.initialize_parameters(12, V, V, seed=1)
    assert total_loss(p, names, char_to_ix) < 0.85 * total_loss(untrained, names, char_to_ix)
    again = course.model(
        names, ix_to_char, char_to_ix, num_iterations=240, n_a=12, seed=1, learning_rate=0.05, verbose=False
    )
    assert all(np.array_equal(p[k], again[k]) for k in p)  # the seed repeats the run


def test_model_reports_through_print_fn(names):
    char_to_ix, ix_to_char = course.build_vocab(names)
    lines = []
    course.model(
        "\n".join(names),
        ix_to_char,
        char_to_ix,
        num_iterations=5,
        n_a=6,
        names_to_sample=2,
        print_every=2,
        print_fn=lines.append,
    )
    heads = [ln for ln in lines if ln.startswith("Iteration: ")]
    assert [h.split(",")[0] for h in heads] == ["Iteration: 0", "Iteration: 2", "Iteration: 4"]
    assert len(lines) == 3 * (1 + 2)
    assert all(set(ln.lower()) <= set(char_to_ix) for ln in lines if ln not in heads)


@pytest.mark.skipif(not DINOS.is_file(), reason=f"{DINOS} not present")
def test_model_on_the_dinosaur_names():
    data = DINOS.read_text().lower().split()
    char_to_ix, ix_to_char = course.build_vocab(data)
    assert len(char_to_ix) == 27 and char_to_ix["\n"] == 0
    p = course.model(
        data, ix_to_char, char_to_ix, num_iterations=300, n_a=16, seed=0, learning_rate=0.05, verbose=False
    )
    subset = data[:40]
    untrained = course.initialize_parameters(16, 27, 27, seed=0)
    assert total_loss(p, subset, char_to_ix) < total_loss(untrained, subset, char_to_ix)


# -- contracts ------------------------------------------------------------------------------------
def test_shape_errors_name_the_argument():
    rng = np.random.default_rng(18)
    p = rnn_params(rng, n_x=3, n_a=5, n_y=2)
    with pytest.raises(
        ValueError, match=re.escape("rnn_cell_forward: xt must have shape (n_x, m) = (3, 10), got (4, 10)")
    ):
        course.rnn_cell_forward(np.zeros((4, 10)), np.zeros((5, 10)), p)
    with pytest.raises(
        ValueError, match=re.escape("rnn_cell_forward: a_prev must have shape (n_a, m) = (5, 10), got (6, 10)")
    ):
        course.rnn_cell_forward(np.zeros((3, 10)), np.zeros((6, 10)), p)
    with pytest.raises(ValueError, match=re.escape("rnn_forward: x must have shape (n_x, m, T_x)")):
        course.rnn_forward(np.zeros((3, 10)), np.zeros((5, 10)), p)
    with pytest.raises(
        ValueError, match=re.escape("rnn_forward: parameters['Waa'] must have shape (n_a, n_a) = (5, 5), got (5, 4)")
    ):
        course.rnn_forward(np.zeros((3, 2, 4)), np.zeros((5, 2)), {**p, "Waa": np.zeros((5, 4))})
    with pytest.raises(ValueError, match="rnn_cell_forward: parameters must contain .*; missing Wya"):
        course.rnn_cell_forward(np.zeros((3, 2)), np.zeros((5, 2)), {k: v for k, v in p.items() if k != "Wya"})
    _, _, cache = course.rnn_cell_forward(np.zeros((3, 2)), np.zeros((5, 2)), p)
    with pytest.raises(
        ValueError, match=re.escape("rnn_cell_backward: da_next must have shape (n_a, m) = (5, 2), got (2, 5)")
    ):
        course.rnn_cell_backward(np.zeros((2, 5)), cache)
    _, _, caches = course.rnn_forward(np.zeros((3, 2, 4)), np.zeros((5, 2)), p)
    with pytest.raises(
        ValueError, match=re.escape("rnn_backward: da must have shape (n_a, m, T_x) = (5, 2, 4), got (5, 2, 3)")
    ):
        course.rnn_backward(np.zeros((5, 2, 3)), caches)
    with pytest.raises(TypeError, match="rnn_cell_backward: cache must be the tuple"):
        course.rnn_cell_backward(np.zeros((5, 2)), cache[:3])

    lp = lstm_params(rng, n_x=3, n_a=5, n_y=2)
    with pytest.raises(
        ValueError, match=re.escape("lstm_cell_forward: c_prev must have shape (n_a, m) = (5, 2), got (5, 3)")
    ):
        course.lstm_cell_forward(np.zeros((3, 2)), np.zeros((5, 2)), np.zeros((5, 3)), lp)
    with pytest.raises(
        ValueError,
        match=re.escape("lstm_forward: parameters['Wi'] must have shape (n_a, n_a + n_x) = (5, 8), got (5, 7)"),
    ):
        course.lstm_forward(np.zeros((3, 2, 4)), np.zeros((5, 2)), {**lp, "Wi": np.zeros((5, 7))})
    *_, cache = course.lstm_cell_forward(np.zeros((3, 2)), np.zeros((5, 2)), np.zeros((5, 2)), lp)
    with pytest.raises(ValueError, match=re.escape("lstm_cell_backward: dc_next must have shape (n_a, m) = (5, 2)")):
        course.lstm_cell_backward(np.zeros((5, 2)), np.zeros((5,)), cache)
    *_, caches = course.lstm_forward(np.zeros((3, 2, 4)), np.zeros((5, 2)), lp)
    with pytest.raises(ValueError, match=re.escape("lstm_backward: da must have shape (n_a, m, T_x) = (5, 2, 4)")):
        course.lstm_backward(np.zeros((5, 4, 2)), caches)

    gp = gru_params(rng, True, n_x=3, n_a=5)
    with pytest.raises(
        ValueError, match=re.escape("gru_cell_forward: xt must have shape (n_x, m) = (3, 2), got (2, 2)")
    ):
        course.gru_cell_forward(np.zeros((2, 2)), np.zeros((5, 2)), gp)
    with pytest.raises(
        ValueError,
        match=re.escape("gru_cell_forward: parameters['Wr'] must have shape (n_a, n_a + n_x) = (5, 8), got (8, 5)"),
    ):
        course.gru_cell_forward(np.zeros((3, 2)), np.zeros((5, 2)), {**gp, "Wr": np.zeros((8, 5))})
    _, _, cache = course.gru_cell_forward(np.zeros((3, 2)), np.zeros((5, 2)), gp)
    with pytest.raises(ValueError, match=re.escape("gru_cell_backward: dc_next must have shape (n_a, m) = (5, 2)")):
        course.gru_cell_backward(np.zeros((5, 1)), cache)


def test_language_model_input_errors(names):
    char_to_ix, ix_to_char = course.build_vocab(names)
    V = len(char_to_ix)
    p = course.initialize_parameters(4, V, V)
    with pytest.raises(ValueError, match=rf"optimize: X\[1\] must be an index in \[0, {V}\) or None, got {V}"):
        course.optimize([None, V], [1, 0], np.zeros((4, 1)), p)
    with pytest.raises(ValueError, match="optimize: X and Y must be non-empty and of the same length, got 2 and 1"):
        course.optimize([None, 1], [0], np.zeros((4, 1)), p)
    with pytest.raises(ValueError, match=re.escape("optimize: a_prev must have shape (n_a, 1) = (4, 1), got (4, 2)")):
        course.optimize([None, 1], [1, 0], np.zeros((4, 2)), p)
    with pytest.raises(ValueError, match="sample: char_to_ix must be a dict holding"):
        course.sample(p, {k: v for k, v in char_to_ix.items() if k != "\n"}, 0)
    bad = names[0][:2] + "-"
    with pytest.raises(ValueError, match=f"model: name '{bad}' has the character '-', which char_to_ix lacks"):
        course.model([bad], ix_to_char, char_to_ix, num_iterations=1, n_a=4, verbose=False)


def test_extreme_preactivations_stay_finite():
    """Pre-activations of +/-500: finite values and gradients, no RuntimeWarning (errors under pytest)."""
    rng = np.random.default_rng(19)
    xt, a_prev, c_prev = 500 * rng.normal(size=(N_X, M)), rng.normal(size=(N_A, M)), rng.normal(size=(N_A, M))
    p = {k: 100 * v for k, v in rnn_params(rng).items()}
    a, y, cache = course.rnn_cell_forward(xt, a_prev, p)
    assert np.isfinite(y).all() and np.isfinite(list(course.rnn_cell_backward(a, cache).values())[0]).all()
    p = {k: 100 * v for k, v in lstm_params(rng).items()}
    *out, cache = course.lstm_cell_forward(xt, a_prev, c_prev, p)
    g = course.lstm_cell_backward(out[0], out[1], cache)
    assert all(np.isfinite(v).all() for v in [*out, *g.values()])
    p = {k: 100 * v for k, v in gru_params(rng, True).items()}
    c, _, cache = course.gru_cell_forward(xt, c_prev, p)
    assert all(np.isfinite(v).all() for v in [c, *course.gru_cell_backward(c, cache).values()])


def documented_shapes(fn):
    """{name: shape in letters} for every 'Name (a, b)' or 'A, B, C (a, b)' list in fn's docstring."""
    found = {}
    for group, dims in re.findall(r"((?:\b[A-Za-z]\w*,\s*)*\b[A-Za-z]\w*)\s*\(([\w\s+,]+)\)", fn.__doc__):
        for name in re.split(r",\s*", group):
            found[name] = tuple(d.strip() for d in dims.split(","))
    return found


@pytest.mark.parametrize(
    "fn, params",
    [
        (course.rnn_cell_forward, lambda rng: rnn_params(rng)),
        (course.lstm_cell_forward, lambda rng: lstm_params(rng)),
        (course.gru_cell_forward, lambda rng: gru_params(rng, True, readout=True)),
    ],
    ids=["rnn", "lstm", "gru"],
)
def test_documented_parameter_shapes_are_the_real_ones(fn, params):
    p = params(np.random.default_rng(20))
    sizes = {"n_x": N_X, "n_a": N_A, "n_y": N_Y, "m": M}
    doc = documented_shapes(fn)
    assert set(p) <= set(doc), f"undocumented parameters: {set(p) - set(doc)}"
    for name, arr in p.items():
        want = tuple(sum(int(t) if t.strip().isdigit() else sizes[t.strip()] for t in d.split("+")) for d in doc[name])
        assert arr.shape == want, f"{fn.__name__}: {name} documented as {doc[name]}"


def test_docs_page_runs():
    """Every python block of docs/course.md, run in order, with its own asserts."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    assert len(blocks) >= 5
    scope = {}
    for block in blocks:
        exec(compile(block, str(DOCS), "exec"), scope)
