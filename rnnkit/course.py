"""The Sequence Models course notation, as a thin translation layer over rnnkit's cells.

Many people learn recurrent networks from the Sequence Models course of
Andrew Ng (deeplearning.ai, 2018), and study notes of it. Its arrays are column-major, one
example per column; its parameters live in a dict; every step returns a cache
tuple. This module speaks that notation so that a derivation done by hand can
be checked number for number, then carried over to the rnnkit layers. It holds
no recurrence maths of its own: every function transposes its arrays,
concatenates the course's weights into PyTorch's layout and calls
``rnnkit.cells.rnn`` / ``lstm`` / ``gru`` (with T = 1 for the ``*_cell_*``
functions, once over all T for the sequence functions). Backward functions
rebuild the rnnkit cache from the course cache and call the cell's backward.

Legend (the course's letters): n_x input features, n_a hidden units, n_y
outputs, m examples, T_x time steps. xt (n_x, m), x (n_x, m, T_x), a (n_a, m),
y (n_y, m). All arrays are computed in float64, the course's (and NumPy's) dtype.

Translation to rnnkit (time-major rows, x_rnnkit = x.transpose(2, 1, 0), h0 = a0.T):

    RNN   Wax -> weight_ih, Waa -> weight_hh, ba[:, 0] -> bias_ih, bias_hh = 0
    LSTM  W_g acts on [a_prev; xt], so W_g[:, :n_a] -> weight_hh and W_g[:, n_a:] -> weight_ih,
          row blocks stacked in rnnkit's order i, f, g, o = (Wi, Wf, Wc, Wo); b_g -> bias_ih
    GRU   rnnkit.GRU(reset_after=False), rows r, z, n = (Wr, -Wu, Wc), biases (br, -bu, bc), each W
          split into its [c_prev | xt] blocks as above. The course writes c = Gu * c~ + (1 - Gu) * c_prev,
          rnnkit h' = z * h + (1 - z) * n, so z = 1 - Gu; as 1 - sigmoid(s) = sigmoid(-s), the update
          gate's weights and bias enter rnnkit negated. Without Wr and br (the notes' simplified GRU)
          it is rnnkit.GRU(reset_gate=False), rows z, n = (-Wu, Wc).

``rnn_state_dict``, ``lstm_state_dict`` and ``gru_state_dict`` return those
translated weights under the layers' names, ready for ``load_state_dict``.

The readout y = softmax(Wya a + by), column by column, is the course's own
output layer, not part of the recurrent cell; it is computed here, and
``optimize`` backpropagates it in two lines (dWya = dz a^T, da = Wya^T dz).

Randomness never touches NumPy's global state: ``sample`` and ``model`` draw
from ``np.random.default_rng(seed)``. The course seeds ``np.random.seed``, so
the same seed gives other (but, run to run, always the same) draws here.

Example
-------
>>> import numpy as np
>>> from rnnkit import course
>>> rng = np.random.default_rng(0)
>>> parameters = course.initialize_parameters(n_a=5, n_x=3, n_y=2)
>>> x, a0 = rng.normal(size=(3, 10, 4)), np.zeros((5, 10))
>>> a, y_pred, caches = course.rnn_forward(x, a0, parameters)
>>> gradients = course.rnn_backward(np.ones_like(a), caches)
>>> a.shape, y_pred.shape, gradients["dWax"].shape
((5, 10, 4), (2, 10, 4), (5, 3))
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from rnnkit import activations
from rnnkit._validate import as_float_array, check_positive_int, fmt_shape
from rnnkit.cells import gru, lstm, rnn
from rnnkit.cells.common import StepMasks

__all__ = [
    "softmax",
    "sigmoid",
    "rnn_cell_forward",
    "rnn_forward",
    "rnn_cell_backward",
    "rnn_backward",
    "lstm_cell_forward",
    "lstm_forward",
    "lstm_cell_backward",
    "lstm_backward",
    "gru_cell_forward",
    "gru_cell_backward",
    "rnn_state_dict",
    "lstm_state_dict",
    "gru_state_dict",
    "clip",
    "initialize_parameters",
    "sample",
    "optimize",
    "model",
    "generate_names",
    "build_vocab",
]

MAX_SAMPLE_LENGTH = 50  # the course's cap on a sampled name
CLIP_VALUE = 5.0  # optimize clips every gradient entry to [-5, 5], as the course does

# Parameter shapes in the course's letters, in the order they are checked (the first binds the letters).
_RNN = {"Wax": ("n_a", "n_x"), "Waa": ("n_a", "n_a"), "Wya": ("n_y", "n_a"), "ba": ("n_a", 1), "by": ("n_y", 1)}
_LSTM_GATES = "fico"  # the course's order of its four gates
_RNNKIT_LSTM_ORDER = "ifco"  # rnnkit / PyTorch stack them i, f, g (= c~), o
_GATE_W, _GATE_B = ("n_a", "n_a + n_x"), ("n_a", 1)  # a gate's W acts on [a_prev; xt]
_READOUT = {"Wy": ("n_y", "n_a"), "by": ("n_y", 1)}
_LSTM = {
    "Wf": _GATE_W,
    "bf": _GATE_B,
    "Wi": _GATE_W,
    "bi": _GATE_B,
    "Wc": _GATE_W,
    "bc": _GATE_B,
    "Wo": _GATE_W,
    "bo": _GATE_B,
    **_READOUT,
}
_GRU_GATES = {True: "ruc", False: "uc"}  # full GRU / simplified GRU, in rnnkit's row order r, z, n


# -- activations --------------------------------------------------------------------------------
def softmax(x: np.ndarray) -> np.ndarray:
    """Column-wise softmax, y[:, j] = exp(x[:, j]) / sum_i exp(x[i, j]); stable for any finite x.

    The course's output layer: x (n_y, m) of scores gives (n_y, m) columns that
    sum to 1. A vector (n_y,) is one column. Shifting by each column's maximum
    first means no exp can overflow.
    """
    return activations.softmax(x, axis=0)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function 1 / (1 + exp(-x)), element-wise, as 0.5 * (1 + tanh(x / 2)) so it never overflows."""
    return activations.sigmoid(x)


# -- shape checks in the course's letters -------------------------------------------------------
class _Shapes:
    """Checks arrays against shapes written in letters ("n_a", "n_a + n_x"), binding each letter once.

    Errors read ``"rnn_cell_forward: xt must have shape (n_x, m) = (3, 10), got (4, 10)"``.
    """

    def __init__(self, where: str) -> None:
        self.where = where
        self.size: dict[str, int] = {}

    def array(self, name: str, value: ArrayLike, spec: Sequence[int | str], *, peek_m: int | None = None) -> np.ndarray:
        """Convert ``value`` to float64 and check it; ``peek_m`` takes m from that axis when the rank fits."""
        arr = as_float_array(self.where, name, value, np.float64)
        if peek_m is not None and "m" not in self.size and arr.ndim == len(spec) and arr.shape[peek_m] >= 1:
            self.size["m"] = arr.shape[peek_m]
        self.check(name, arr, spec)
        return arr

    def check(self, name: str, arr: np.ndarray, spec: Sequence[int | str]) -> None:
        new: dict[str, int] = {}
        ok = arr.ndim == len(spec)
        for want, got in zip(spec, arr.shape) if ok else ():
            if isinstance(want, int):
                ok = ok and got == want
                continue
            terms = [t.strip() for t in want.split("+")]
            unknown = [t for t in terms if t not in self.size and t not in new]
            known = sum(self.size.get(t, new.get(t, 0)) for t in terms if t not in unknown)
            if len(unknown) == 1 and got - known >= 1:
                new[unknown[0]] = got - known
            elif not unknown:
                ok = ok and got == known
            else:
                ok = False
        if not ok:
            raise ValueError(f"{self.where}: {name} must have shape {self._render(spec)}, got {fmt_shape(arr.shape)}")
        self.size.update(new)

    def _render(self, spec) -> str:
        letters = fmt_shape(spec)
        if all(isinstance(s, int) for s in spec):
            return letters
        sizes = []
        for s in spec:
            terms = [] if isinstance(s, int) else [t.strip() for t in s.split("+")]
            sizes.append(
                s
                if isinstance(s, int)
                else sum(self.size[t] for t in terms)
                if all(t in self.size for t in terms)
                else s
            )
        return f"{letters} = {fmt_shape(sizes)}"

    def params(self, parameters: dict, shapes: Mapping) -> dict:
        """Check the dict of course parameters; returns float64 arrays under the same keys."""
        if not isinstance(parameters, Mapping):
            raise TypeError(f"{self.where}: parameters must be a dict, got {type(parameters).__name__}")
        missing = [k for k in shapes if k not in parameters]
        if missing:
            raise ValueError(f"{self.where}: parameters must contain {', '.join(shapes)}; missing {', '.join(missing)}")
        return {k: self.array(f"parameters['{k}']", parameters[k], spec) for k, spec in shapes.items()}

    def cache(self, name: str, cache: Any, fields: Sequence[str]) -> tuple:
        if not isinstance(cache, (tuple, list)) or len(cache) != len(fields):
            got = (
                f"a {type(cache).__name__} of length {len(cache)}"
                if isinstance(cache, (tuple, list))
                else type(cache).__name__
            )
            raise TypeError(
                f"{self.where}: {name} must be the tuple ({', '.join(fields)}) from the forward function, got {got}"
            )
        return tuple(cache)


def _step_caches(s: _Shapes, caches, fields) -> tuple[list, np.ndarray]:
    """Unpack ``caches = (list of step caches, x)`` into the list of step tuples and x."""
    step_list, x = s.cache("caches", caches, ("list of step caches", "x"))
    if not isinstance(step_list, (list, tuple)) or not step_list:
        raise TypeError(f"{s.where}: caches[0] must be the non-empty list of step caches, got {step_list!r:.60}")
    return [s.cache(f"caches[0][{t}]", c, fields) for t, c in enumerate(step_list)], x


# -- parameter translation ----------------------------------------------------------------------
def _split(W: np.ndarray, n_a: int):
    """A course W acting on [a_prev; xt] -> (recurrent block W[:, :n_a], input block W[:, n_a:])."""
    return W[:, :n_a], W[:, n_a:]


def _rnn_cell_params(P: dict) -> dict:
    return {
        "weight_ih": P["Wax"],
        "weight_hh": P["Waa"],
        "bias_ih": P["ba"][:, 0],
        "bias_hh": np.zeros(P["Waa"].shape[0]),
    }


def _gated_cell_params(P: dict, blocks, n_a: int) -> dict:
    """Stack the course's (sign, W, b) gate blocks, in rnnkit's row order, into rnnkit cell params."""
    hh, ih, b = [], [], []
    for sign, W, bias in blocks:
        w_hh, w_ih = _split(W, n_a)
        hh.append(sign * w_hh)
        ih.append(sign * w_ih)
        b.append(sign * bias[:, 0])
    return {
        "weight_ih": np.concatenate(ih),
        "weight_hh": np.concatenate(hh),
        "bias_ih": np.concatenate(b),
        "bias_hh": np.zeros(len(blocks) * n_a),
    }


def _lstm_cell_params(P: dict, n_a: int) -> dict:
    return _gated_cell_params(P, [(1.0, P[f"W{g}"], P[f"b{g}"]) for g in _RNNKIT_LSTM_ORDER], n_a)


def _gru_sign(g: str) -> float:
    return -1.0 if g == "u" else 1.0  # z = 1 - Gu = sigmoid(-(Wu [c_prev; xt] + bu))


def _gru_cell_params(P: dict, n_a: int, full: bool) -> dict:
    return _gated_cell_params(P, [(_gru_sign(g), P[f"W{g}"], P[f"b{g}"]) for g in _GRU_GATES[full]], n_a)


def _gated_grads(g: dict, gates: str, signs, n_a: int) -> dict:
    """rnnkit grads (row blocks in ``gates`` order) -> the course's dW_g (n_a, n_a + n_x) then db_g (n_a, 1)."""
    dW, db = {}, {}
    for k, (gate, sign) in enumerate(zip(gates, signs)):
        rows = slice(k * n_a, (k + 1) * n_a)
        dW[f"dW{gate}"] = sign * np.concatenate([g["weight_hh"][rows], g["weight_ih"][rows]], axis=1)
        db[f"db{gate}"] = sign * g["bias_ih"][rows, None]
    return {**dW, **db}


def _state_dict(cell_params: dict) -> dict:
    return {f"{k}_l0": np.array(v, dtype=np.float64) for k, v in cell_params.items()}


def _no_masks() -> StepMasks:
    """The course's recurrences have no lengths, dropout or zoneout: empty step masks."""
    return StepMasks()


def rnn_state_dict(parameters: dict) -> dict:
    """The weights of ``rnnkit.RNN(n_x, n_a)`` that compute the course RNN ``parameters`` (Wax, Waa, ba).

    weight_ih_l0 = Wax (n_a, n_x), weight_hh_l0 = Waa (n_a, n_a), bias_ih_l0 = ba[:, 0], bias_hh_l0 = 0.
    Wya and by (the readout) have no place in the layer and are ignored.
    """
    s = _Shapes("rnn_state_dict")
    return _state_dict(_rnn_cell_params(s.params(parameters, _RNN)))


def lstm_state_dict(parameters: dict) -> dict:
    """The weights of ``rnnkit.LSTM(n_x, n_a)`` that compute the course LSTM ``parameters``.

    Each W_g (n_a, n_a + n_x) acts on [a_prev; xt]: W_g[:, :n_a] goes to weight_hh_l0,
    W_g[:, n_a:] to weight_ih_l0, stacked i, f, g, o = (Wi, Wf, Wc, Wo); biases to bias_ih_l0.
    """
    s = _Shapes("lstm_state_dict")
    P = s.params(parameters, _LSTM)
    return _state_dict(_lstm_cell_params(P, s.size["n_a"]))


def gru_state_dict(parameters: dict) -> dict:
    """The weights of the rnnkit GRU that computes the course GRU ``parameters``.

    Full GRU (Wr, br present): ``rnnkit.GRU(n_x, n_a, reset_after=False)``, rows r, z, n =
    (Wr, -Wu, Wc), biases (br, -bu, bc). Simplified GRU: ``rnnkit.GRU(n_x, n_a, reset_gate=False)``,
    rows z, n = (-Wu, Wc). Each W is split into its [c_prev | xt] blocks as for the LSTM.
    """
    s = _Shapes("gru_state_dict")
    P, full = _gru_params(s, parameters)
    return _state_dict(_gru_cell_params(P, s.size["n_a"], full))


# -- readout ------------------------------------------------------------------------------------
def _scores(W: np.ndarray, b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """z = W a + b for a (n_a, m) or (n_a, m, T_x): the readout's scores before the softmax."""
    z = np.tensordot(W, a, axes=(1, 0))
    return z + (b if a.ndim == 2 else b[:, :, None])


# -- RNN ----------------------------------------------------------------------------------------
def rnn_cell_forward(xt: ArrayLike, a_prev: ArrayLike, parameters: dict) -> tuple[np.ndarray, np.ndarray, tuple]:
    """One step of the course RNN. Returns (a_next, yt_pred, cache).

        a_next  = tanh(Wax xt + Waa a_prev + ba)          (n_a, m)
        yt_pred = softmax(Wya a_next + by)                (n_y, m), column-wise

    Shapes: xt (n_x, m), a_prev (n_a, m); parameters Wax (n_a, n_x), Waa (n_a, n_a),
    Wya (n_y, n_a), ba (n_a, 1), by (n_y, 1).
    cache = (a_next, a_prev, xt, parameters), for ``rnn_cell_backward``.
    Computed by ``rnnkit.cells.rnn.forward`` with T = 1 on (xt.T, a_prev.T).
    """
    s = _Shapes("rnn_cell_forward")
    P = s.params(parameters, _RNN)
    xt = s.array("xt", xt, ("n_x", "m"), peek_m=1)
    a_prev = s.array("a_prev", a_prev, ("n_a", "m"))
    _, h, _ = rnn.forward(_rnn_cell_params(P), np.ascontiguousarray(xt.T)[None], a_prev.T, need_cache=False)
    a_next = np.ascontiguousarray(h.T)  # (n_a, m)
    yt_pred = softmax(_scores(P["Wya"], P["by"], a_next))  # (n_y, m)
    return a_next, yt_pred, (a_next, a_prev, xt, parameters)


def _rnn_sequence(where: str, x, a0, parameters):
    """rnn_forward without the softmax: returns (a, scores z = Wya a + by, caches)."""
    s = _Shapes(where)
    P = s.params(parameters, _RNN)
    x = s.array("x", x, ("n_x", "m", "T_x"), peek_m=1)
    a0 = s.array("a0", a0, ("n_a", "m"))
    out, _, _ = rnn.forward(
        _rnn_cell_params(P), np.ascontiguousarray(x.transpose(2, 1, 0)), a0.T, need_cache=False
    )  # (T_x, m, n_a)
    a = np.ascontiguousarray(out.transpose(2, 1, 0))  # (n_a, m, T_x)
    steps, a_prev = [], a0
    for t in range(x.shape[2]):
        a_next = out[t].T  # (n_a, m)
        steps.append((a_next, a_prev, x[:, :, t], parameters))
        a_prev = a_next
    return a, _scores(P["Wya"], P["by"], a), (steps, x)


def rnn_forward(x: ArrayLike, a0: ArrayLike, parameters: dict) -> tuple[np.ndarray, np.ndarray, tuple]:
    """The course RNN over all time steps. Returns (a, y_pred, caches).

        a<t>      = tanh(Wax x<t> + Waa a<t-1> + ba),   a<0> = a0
        y_pred<t> = softmax(Wya a<t> + by)

    Shapes: x (n_x, m, T_x), a0 (n_a, m) -> a (n_a, m, T_x), y_pred (n_y, m, T_x);
    parameters as in ``rnn_cell_forward``. caches = (list of the T_x step caches
    (a<t>, a<t-1>, x<t>, parameters), x). One call of ``rnnkit.cells.rnn.forward``
    on x.transpose(2, 1, 0).
    """
    a, z, caches = _rnn_sequence("rnn_forward", x, a0, parameters)
    return a, softmax(z), caches


def rnn_cell_backward(da_next: ArrayLike, cache: tuple) -> dict[str, np.ndarray]:
    """Gradients of one RNN step, given da_next = dJ/da_next (n_a, m) and that step's cache.

        dtanh   = (1 - a_next**2) * da_next
        dxt     = Wax^T dtanh         (n_x, m)      da_prev = Waa^T dtanh     (n_a, m)
        dWax    = dtanh xt^T          (n_a, n_x)    dWaa    = dtanh a_prev^T  (n_a, n_a)
        dba     = sum over the m columns of dtanh   (n_a, 1)

    Returns the dict {dxt, da_prev, dWax, dWaa, dba}. The readout (Wya, by) is not
    part of the cell: add its gradient Wya^T dz into da_next first.
    Computed by ``rnnkit.cells.rnn.backward`` on a cache rebuilt from ``cache``.
    """
    s = _Shapes("rnn_cell_backward")
    a_next, a_prev, xt, parameters = s.cache("cache", cache, ("a_next", "a_prev", "xt", "parameters"))
    P = s.params(parameters, _RNN)
    xt = s.array("cache[2] (xt)", xt, ("n_x", "m"), peek_m=1)
    a_prev = s.array("cache[1] (a_prev)", a_prev, ("n_a", "m"))
    a_next = s.array("cache[0] (a_next)", a_next, ("n_a", "m"))
    da_next = s.array("da_next", da_next, ("n_a", "m"))
    p = _rnn_cell_params(P)
    c = _rnn_cache(p, np.ascontiguousarray(xt.T)[None], np.stack([a_prev.T, a_next.T]))
    g, dx, dh0 = rnn.backward(p, c, None, da_next.T)
    return {"dxt": np.ascontiguousarray(dx[0].T), "da_prev": np.ascontiguousarray(dh0.T), **_rnn_grads(g)}


def _rnn_cache(p: dict, x: np.ndarray, h: np.ndarray):
    """rnnkit's RNNCache from x (T, m, n_x) and the states h (T+1, m, n_a), h[0] = a0; f(a_t) = h_t (no masks)."""
    return rnn.RNNCache(x=x, h=h, f=h[1:], masks=_no_masks(), nonlinearity="tanh")


def _rnn_grads(g: dict) -> dict:
    return {"dWax": g["weight_ih"], "dWaa": g["weight_hh"], "dba": g["bias_ih"][:, None]}


def rnn_backward(da: ArrayLike, caches: tuple) -> dict[str, np.ndarray]:
    """Backpropagation through time for ``rnn_forward``.

    ``da`` (n_a, m, T_x) is the upstream gradient of every hidden state a<t> (from
    the loss at that step, not through later steps). Going back from t = T_x, each
    step receives da<t> + da_prev from step t + 1 and applies ``rnn_cell_backward``;
    the parameter gradients are summed over t. Returns the dict {dx (n_x, m, T_x),
    da0 (n_a, m), dWax (n_a, n_x), dWaa (n_a, n_a), dba (n_a, 1)}.
    One call of ``rnnkit.cells.rnn.backward`` with dout = da.transpose(2, 1, 0).
    """
    s = _Shapes("rnn_backward")
    steps, x = _step_caches(s, caches, ("a_next", "a_prev", "xt", "parameters"))
    P = s.params(steps[0][3], _RNN)
    x = s.array("caches[1] (x)", x, ("n_x", "m", "T_x"), peek_m=1)
    if len(steps) != x.shape[2]:
        raise ValueError(
            f"rnn_backward: caches must hold one step cache per time step, T_x = {x.shape[2]}, got {len(steps)}"
        )
    da = s.array("da", da, ("n_a", "m", "T_x"))
    h = np.empty((len(steps) + 1, x.shape[1], P["Waa"].shape[0]))  # (T_x + 1, m, n_a)
    h[0] = s.array("caches[0][0][1] (a0)", steps[0][1], ("n_a", "m")).T
    for t, step in enumerate(steps):
        h[t + 1] = s.array(f"caches[0][{t}][0] (a_next)", step[0], ("n_a", "m")).T
    p = _rnn_cell_params(P)
    c = _rnn_cache(p, np.ascontiguousarray(x.transpose(2, 1, 0)), h)
    g, dx, dh0 = rnn.backward(p, c, np.ascontiguousarray(da.transpose(2, 1, 0)), None)
    return {"dx": np.ascontiguousarray(dx.transpose(2, 1, 0)), "da0": np.ascontiguousarray(dh0.T), **_rnn_grads(g)}


# -- LSTM ---------------------------------------------------------------------------------------
_LSTM_CACHE = ("a_next", "c_next", "a_prev", "c_prev", "ft", "it", "cct", "ot", "xt", "parameters")


def _gate_columns(gates: np.ndarray, n_a: int) -> dict:
    """rnnkit's activated gates (m, 4 n_a), stacked i, f, g, o -> the course's ft, it, cct, ot, each (n_a, m)."""
    cols = {g: np.ascontiguousarray(gates[:, k * n_a : (k + 1) * n_a].T) for k, g in enumerate(_RNNKIT_LSTM_ORDER)}
    return {"ft": cols["f"], "it": cols["i"], "cct": cols["c"], "ot": cols["o"]}


def lstm_cell_forward(
    xt: ArrayLike, a_prev: ArrayLike, c_prev: ArrayLike, parameters: dict
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    """One step of the course LSTM. Returns (a_next, c_next, yt_pred, cache).

        concat = [a_prev; xt]                            (n_a + n_x, m)
        ft  = sigmoid(Wf concat + bf)      forget gate
        it  = sigmoid(Wi concat + bi)      update gate
        cct = tanh(Wc concat + bc)         candidate c~
        ot  = sigmoid(Wo concat + bo)      output gate
        c_next  = ft * c_prev + it * cct                 (n_a, m)
        a_next  = ot * tanh(c_next)                      (n_a, m)
        yt_pred = softmax(Wy a_next + by)                (n_y, m)

    Shapes: xt (n_x, m), a_prev and c_prev (n_a, m); parameters Wf, Wi, Wc, Wo
    (n_a, n_a + n_x), bf, bi, bc, bo (n_a, 1), Wy (n_y, n_a), by (n_y, 1).
    cache = (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters).
    Computed by ``rnnkit.cells.lstm.forward`` with T = 1 (see ``lstm_state_dict``).
    """
    s = _Shapes("lstm_cell_forward")
    P = s.params(parameters, _LSTM)
    n_a = s.size["n_a"]
    xt = s.array("xt", xt, ("n_x", "m"), peek_m=1)
    a_prev = s.array("a_prev", a_prev, ("n_a", "m"))
    c_prev = s.array("c_prev", c_prev, ("n_a", "m"))
    _, (h, c), cc = lstm.forward(_lstm_cell_params(P, n_a), np.ascontiguousarray(xt.T)[None], (a_prev.T, c_prev.T))
    a_next, c_next = np.ascontiguousarray(h.T), np.ascontiguousarray(c.T)
    g = _gate_columns(cc.gates[0], n_a)
    yt_pred = softmax(_scores(P["Wy"], P["by"], a_next))
    cache = (a_next, c_next, a_prev, c_prev, g["ft"], g["it"], g["cct"], g["ot"], xt, parameters)
    return a_next, c_next, yt_pred, cache


def lstm_forward(x: ArrayLike, a0: ArrayLike, parameters: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    """The course LSTM over all time steps, from a<0> = a0 and c<0> = 0. Returns (a, y, c, caches).

    Each step as in ``lstm_cell_forward``. Shapes: x (n_x, m, T_x), a0 (n_a, m) ->
    a and c (n_a, m, T_x), y (n_y, m, T_x). caches = (list of the T_x step caches, x).
    One call of ``rnnkit.cells.lstm.forward`` on x.transpose(2, 1, 0).
    """
    s = _Shapes("lstm_forward")
    P = s.params(parameters, _LSTM)
    n_a = s.size["n_a"]
    x = s.array("x", x, ("n_x", "m", "T_x"), peek_m=1)
    a0 = s.array("a0", a0, ("n_a", "m"))
    c0 = np.zeros_like(a0)
    _, _, cc = lstm.forward(_lstm_cell_params(P, n_a), np.ascontiguousarray(x.transpose(2, 1, 0)), (a0.T, c0.T))
    a = np.ascontiguousarray(cc.h[1:].transpose(2, 1, 0))  # (n_a, m, T_x)
    c = np.ascontiguousarray(cc.c[1:].transpose(2, 1, 0))
    steps = []
    for t in range(x.shape[2]):
        g = _gate_columns(cc.gates[t], n_a)
        steps.append(
            (
                cc.h[t + 1].T,
                cc.c[t + 1].T,
                cc.h[t].T,
                cc.c[t].T,
                g["ft"],
                g["it"],
                g["cct"],
                g["ot"],
                x[:, :, t],
                parameters,
            )
        )
    return a, softmax(_scores(P["Wy"], P["by"], a)), c, (steps, x)


def _lstm_cache(s: _Shapes, params: dict, steps: list, x: np.ndarray, label: Callable[[int], str]):
    """Rebuild rnnkit's LSTMCache from the course step caches and x (n_x, m, T_x); label(t) names step t's cache."""
    T, m, n_a = len(steps), x.shape[1], s.size["n_a"]
    h, c = np.empty((T + 1, m, n_a)), np.empty((T + 1, m, n_a))
    gates = np.empty((T, m, 4 * n_a))

    def entry(t, name):
        k = _LSTM_CACHE.index(name)
        return s.array(f"{label(t)}[{k}] ({name})", steps[t][k], ("n_a", "m")).T

    h[0], c[0] = entry(0, "a_prev"), entry(0, "c_prev")
    for t in range(T):
        h[t + 1], c[t + 1] = entry(t, "a_next"), entry(t, "c_next")
        for k, name in enumerate(("it", "ft", "cct", "ot")):  # rnnkit's order i, f, g, o
            gates[t, :, k * n_a : (k + 1) * n_a] = entry(t, name)
    return lstm.LSTMCache(
        x=np.ascontiguousarray(x.transpose(2, 1, 0)),
        h=h,
        c=c,
        c_new=c[1:],
        gates=gates,
        tanh_c=np.tanh(c[1:]),
        m=None,
        masks=_no_masks(),
        clamp={},
    )


def _lstm_grads(g: dict, n_a: int) -> dict:
    course = _gated_grads(g, _RNNKIT_LSTM_ORDER, (1.0,) * 4, n_a)
    return {k: course[k] for k in [f"dW{q}" for q in _LSTM_GATES] + [f"db{q}" for q in _LSTM_GATES]}


def lstm_cell_backward(da_next: ArrayLike, dc_next: ArrayLike, cache: tuple) -> dict[str, np.ndarray]:
    """Gradients of one LSTM step, given da_next, dc_next (n_a, m) and that step's cache.

        dc   = dc_next + da_next * ot * (1 - tanh(c_next)**2)
        dot  = da_next * tanh(c_next) * ot * (1 - ot)
        dcct = dc * it * (1 - cct**2)
        dit  = dc * cct * it * (1 - it)
        dft  = dc * c_prev * ft * (1 - ft)
        dW_g = d_g concat^T,  db_g = sum over columns of d_g    for g in f, i, c, o
        [da_prev; dxt] = sum_g W_g^T d_g,   dc_prev = dc * ft

    Returns the dict {dxt (n_x, m), da_prev (n_a, m), dc_prev (n_a, m), dWf, dWi, dWc,
    dWo (n_a, n_a + n_x), dbf, dbi, dbc, dbo (n_a, 1)}. The readout (Wy, by) is not
    included. Computed by ``rnnkit.cells.lstm.backward`` on a cache rebuilt from ``cache``.
    """
    s = _Shapes("lstm_cell_backward")
    step = s.cache("cache", cache, _LSTM_CACHE)
    P = s.params(step[-1], _LSTM)
    n_a = s.size["n_a"]
    xt = s.array("cache[8] (xt)", step[8], ("n_x", "m"), peek_m=1)
    da_next = s.array("da_next", da_next, ("n_a", "m"))
    dc_next = s.array("dc_next", dc_next, ("n_a", "m"))
    p = _lstm_cell_params(P, n_a)
    c = _lstm_cache(s, p, [step], xt[:, :, None], lambda t: "cache")
    g, dx, (dh0, dc0) = lstm.backward(p, c, None, (da_next.T, dc_next.T))
    return {
        "dxt": np.ascontiguousarray(dx[0].T),
        "da_prev": np.ascontiguousarray(dh0.T),
        "dc_prev": np.ascontiguousarray(dc0.T),
        **_lstm_grads(g, n_a),
    }


def lstm_backward(da: ArrayLike, caches: tuple) -> dict[str, np.ndarray]:
    """Backpropagation through time for ``lstm_forward``.

    ``da`` (n_a, m, T_x) is the upstream gradient of every hidden state a<t>; the
    cell state gets no gradient from outside (dc<T_x> = 0). Going back, each step
    applies ``lstm_cell_backward`` to (da<t> + da_prev, dc_prev) from step t + 1 and
    the parameter gradients are summed over t. Returns the dict {dx (n_x, m, T_x),
    da0 (n_a, m), dWf, dWi, dWc, dWo (n_a, n_a + n_x), dbf, dbi, dbc, dbo (n_a, 1)}.
    One call of ``rnnkit.cells.lstm.backward`` with dout = da.transpose(2, 1, 0).
    """
    s = _Shapes("lstm_backward")
    steps, x = _step_caches(s, caches, _LSTM_CACHE)
    P = s.params(steps[0][-1], _LSTM)
    n_a = s.size["n_a"]
    x = s.array("caches[1] (x)", x, ("n_x", "m", "T_x"), peek_m=1)
    if len(steps) != x.shape[2]:
        raise ValueError(
            f"lstm_backward: caches must hold one step cache per time step, T_x = {x.shape[2]}, got {len(steps)}"
        )
    da = s.array("da", da, ("n_a", "m", "T_x"))
    p = _lstm_cell_params(P, n_a)
    c = _lstm_cache(s, p, steps, x, lambda t: f"caches[0][{t}]")
    g, dx, (dh0, _) = lstm.backward(p, c, np.ascontiguousarray(da.transpose(2, 1, 0)), None)
    return {
        "dx": np.ascontiguousarray(dx.transpose(2, 1, 0)),
        "da0": np.ascontiguousarray(dh0.T),
        **_lstm_grads(g, n_a),
    }


# -- GRU ----------------------------------------------------------------------------------------
_GRU_CACHE = ("c_next", "c_prev", "gamma_u", "gamma_r", "cct", "xt", "parameters")


def _gru_params(s: _Shapes, parameters) -> tuple[dict, bool]:
    """Check GRU parameters; the full GRU when Wr or br is present, else the simplified one."""
    if not isinstance(parameters, Mapping):
        raise TypeError(f"{s.where}: parameters must be a dict, got {type(parameters).__name__}")
    full = "Wr" in parameters or "br" in parameters
    shapes = {}
    for g in _GRU_GATES[full][::-1]:  # Wc first: it binds n_a and n_x
        shapes.update({f"W{g}": _GATE_W, f"b{g}": _GATE_B})
    if "Wy" in parameters or "by" in parameters:
        shapes.update(_READOUT)
    return s.params(parameters, shapes), full


def gru_cell_forward(xt: ArrayLike, c_prev: ArrayLike, parameters: dict) -> tuple[np.ndarray, np.ndarray, tuple]:
    """One step of the course GRU (the notes' notation, a<t> = c<t>). Returns (c_next, yt_pred, cache).

    Full GRU, with the relevance gate Gr (parameters Wr, br present):

        Gr  = sigmoid(Wr [c_prev; xt] + br)              relevance gate
        Gu  = sigmoid(Wu [c_prev; xt] + bu)              update gate
        cct = tanh(Wc [Gr * c_prev; xt] + bc)            candidate c~
        c_next = Gu * cct + (1 - Gu) * c_prev            (n_a, m)

    Simplified GRU (no Wr, br): Gr = 1, i.e. cct = tanh(Wc [c_prev; xt] + bc).
    With Wy (n_y, n_a) and by (n_y, 1) in ``parameters``, yt_pred = softmax(Wy c_next + by)
    (n_y, m); without them yt_pred is None.

    Shapes: xt (n_x, m), c_prev (n_a, m); Wr, Wu, Wc (n_a, n_a + n_x), br, bu, bc (n_a, 1).
    cache = (c_next, c_prev, gamma_u, gamma_r, cct, xt, parameters), gamma_r None when simplified.
    Computed by ``rnnkit.cells.gru.forward`` with T = 1, ``reset_after=False`` (or
    ``reset_gate=False``) and z = 1 - Gu: the update gate enters negated (see ``gru_state_dict``).
    """
    s = _Shapes("gru_cell_forward")
    P, full = _gru_params(s, parameters)
    n_a = s.size["n_a"]
    xt = s.array("xt", xt, ("n_x", "m"), peek_m=1)
    c_prev = s.array("c_prev", c_prev, ("n_a", "m"))
    _, h, cc = gru.forward(
        _gru_cell_params(P, n_a, full), np.ascontiguousarray(xt.T)[None], c_prev.T, reset_after=False, reset_gate=full
    )
    act = cc.act[0]  # (m, G n_a): [r,] z, n
    blocks = [np.ascontiguousarray(act[:, k * n_a : (k + 1) * n_a].T) for k in range(act.shape[1] // n_a)]
    gamma_r = blocks[0] if full else None
    gamma_u = 1.0 - blocks[-2]  # Gu = 1 - z
    cct = blocks[-1]
    c_next = np.ascontiguousarray(h.T)
    yt_pred = softmax(_scores(P["Wy"], P["by"], c_next)) if "Wy" in P else None
    return c_next, yt_pred, (c_next, c_prev, gamma_u, gamma_r, cct, xt, parameters)


def gru_cell_backward(dc_next: ArrayLike, cache: tuple) -> dict[str, np.ndarray]:
    """Gradients of one GRU step, given dc_next = dJ/dc_next (n_a, m) and that step's cache.

    With dcct, du, dr the gradients of the pre-activations of cct, Gu, Gr:

        dcct = dc_next * Gu * (1 - cct**2)
        du   = dc_next * (cct - c_prev) * Gu * (1 - Gu)
        [drc; dxc] = Wc^T dcct                           drc: gradient of Gr * c_prev
        dr   = drc * c_prev * Gr * (1 - Gr)
        dWc = dcct [Gr * c_prev; xt]^T,   dWu = du [c_prev; xt]^T,   dWr = dr [c_prev; xt]^T
        dbc, dbu, dbr = sums over the m columns of dcct, du, dr
        [dc_prev; dxt] = [dc_next * (1 - Gu) + drc * Gr; dxc] + Wu^T du + Wr^T dr

    (simplified GRU: Gr = 1 and no dr). Returns the dict {dxt (n_x, m), dc_prev (n_a, m),
    dWc, dWu[, dWr] (n_a, n_a + n_x), dbc, dbu[, dbr] (n_a, 1)}; dWr and dbr only for the
    full GRU. The readout (Wy, by) is not included. Computed by ``rnnkit.cells.gru.backward``
    on a cache rebuilt from ``cache``, with z = 1 - Gu.
    """
    s = _Shapes("gru_cell_backward")
    c_next, c_prev, gamma_u, gamma_r, cct, xt, parameters = s.cache("cache", cache, _GRU_CACHE)
    P, full = _gru_params(s, parameters)
    n_a = s.size["n_a"]
    xt = s.array("cache[5] (xt)", xt, ("n_x", "m"), peek_m=1)
    named = {"c_next": c_next, "c_prev": c_prev, "gamma_u": gamma_u, "cct": cct}
    if full:
        named["gamma_r"] = gamma_r
    arr = {k: s.array(f"cache[{_GRU_CACHE.index(k)}] ({k})", v, ("n_a", "m")).T for k, v in named.items()}
    dc_next = s.array("dc_next", dc_next, ("n_a", "m"))
    act = [arr["gamma_r"]] if full else []
    act += [1.0 - arr["gamma_u"], arr["cct"]]  # z = 1 - Gu
    p = _gru_cell_params(P, n_a, full)
    c = gru.GRUCache(
        x=np.ascontiguousarray(xt.T)[None],
        h=np.stack([arr["c_prev"], arr["c_next"]]),
        act=np.concatenate(act, axis=1)[None],
        extra=(arr["gamma_r"] * arr["c_prev"])[None] if full else None,  # r * c_prev
        masks=_no_masks(),
        reset_after=False,
        reset_gate=full,
        clamp={},
    )
    g, dx, dh0 = gru.backward(p, c, None, dc_next.T)
    gates = _GRU_GATES[full]
    course = _gated_grads(g, gates, [_gru_sign(q) for q in gates], n_a)
    order = [f"dW{q}" for q in "cur" if q in gates] + [f"db{q}" for q in "cur" if q in gates]
    return {
        "dxt": np.ascontiguousarray(dx[0].T),
        "dc_prev": np.ascontiguousarray(dh0.T),
        **{k: course[k] for k in order},
    }


# -- clipping -----------------------------------------------------------------------------------
def clip(gradients: dict, maxValue: float) -> dict:
    """Clip every entry of every array in ``gradients`` to [-maxValue, maxValue], in place; returns the dict.

    Element-wise, as the course does against exploding gradients (it changes the
    gradient's direction; clipping by the global norm would not). NaN entries stay NaN.
    """
    if not isinstance(gradients, Mapping):
        raise TypeError(f"clip: gradients must be a dict of arrays, got {type(gradients).__name__}")
    if isinstance(maxValue, bool) or not isinstance(maxValue, numbers.Real):
        raise TypeError(f"clip: maxValue must be a positive number, got {type(maxValue).__name__} {maxValue!r}")
    if not maxValue > 0:
        raise ValueError(f"clip: maxValue must be > 0, got {maxValue}")
    for name, g in gradients.items():
        if not isinstance(g, np.ndarray) or g.dtype.kind != "f":
            got = f"dtype {g.dtype}" if isinstance(g, np.ndarray) else type(g).__name__
            raise TypeError(f"clip: gradients['{name}'] must be a float numpy array, got {got}")
    for g in gradients.values():
        np.clip(g, -maxValue, maxValue, out=g)
    return gradients


# -- character-level language model -------------------------------------------------------------
def initialize_parameters(n_a: int, n_x: int, n_y: int, *, seed: int = 1) -> dict:
    """Small random RNN parameters for the language model: W* ~ N(0, 0.01^2), biases 0.

    Returns {Wax (n_a, n_x), Waa (n_a, n_a), Wya (n_y, n_a), ba (n_a, 1), by (n_y, 1)}.
    ``seed`` (int, SeedSequence or Generator) feeds ``np.random.default_rng``.
    """
    n_a = check_positive_int("initialize_parameters", "n_a", n_a)
    n_x = check_positive_int("initialize_parameters", "n_x", n_x)
    n_y = check_positive_int("initialize_parameters", "n_y", n_y)
    rng = np.random.default_rng(seed)
    return {
        "Wax": 0.01 * rng.standard_normal((n_a, n_x)),
        "Waa": 0.01 * rng.standard_normal((n_a, n_a)),
        "Wya": 0.01 * rng.standard_normal((n_y, n_a)),
        "ba": np.zeros((n_a, 1)),
        "by": np.zeros((n_y, 1)),
    }


def _newline(where: str, char_to_ix, n_y: int) -> int:
    if not isinstance(char_to_ix, Mapping) or "\n" not in char_to_ix:
        raise ValueError(f"{where}: char_to_ix must be a dict holding '\\n' (the end of a name)")
    nl = char_to_ix["\n"]
    if not isinstance(nl, numbers.Integral) or not 0 <= nl < n_y:
        raise ValueError(f"{where}: char_to_ix['\\n'] must be an index in [0, {n_y}), got {nl!r}")
    return int(nl)


def sample(parameters: dict, char_to_ix: Mapping[str, int], seed: int) -> list[int]:
    """Draw one name from the language model, character by character. Returns the list of indices.

    Starting from x<1> = 0 and a<0> = 0, each step runs ``rnn_cell_forward``, draws
    the next index from yt_pred and feeds it back one-hot. It stops after drawing
    the newline, or after MAX_SAMPLE_LENGTH = 50 characters, in which case a newline
    index is appended: the list always ends with char_to_ix['\\n'].

    ``seed`` feeds ``np.random.default_rng``: an int repeats the same name; a
    Generator continues its stream. (The course seeds NumPy's global generator
    instead, so its names for a given seed differ from these.)
    """
    s = _Shapes("sample")
    P = s.params(parameters, _RNN)
    n_x, n_a, n_y = s.size["n_x"], s.size["n_a"], s.size["n_y"]
    if n_x != n_y:
        raise ValueError(f"sample: the model must read and predict the same vocabulary, got n_x = {n_x}, n_y = {n_y}")
    newline = _newline("sample", char_to_ix, n_y)
    rng = np.random.default_rng(seed)
    x, a_prev = np.zeros((n_x, 1)), np.zeros((n_a, 1))
    indices: list[int] = []
    while len(indices) < MAX_SAMPLE_LENGTH and (not indices or indices[-1] != newline):
        a_prev, y, _ = rnn_cell_forward(x, a_prev, P)
        p = y[:, 0]
        idx = int(rng.choice(n_y, p=p / p.sum()))
        indices.append(idx)
        x = np.zeros((n_x, 1))
        x[idx] = 1.0
    if indices[-1] != newline:
        indices.append(newline)
    return indices


def _indices(where: str, name: str, seq, size: int, allow_none: bool) -> list:
    if isinstance(seq, (str, bytes)) or not isinstance(seq, Sequence):
        raise TypeError(f"{where}: {name} must be a list of indices, got {type(seq).__name__}")
    for t, i in enumerate(seq):
        if i is None and allow_none:
            continue
        if isinstance(i, bool) or not isinstance(i, numbers.Integral) or not 0 <= i < size:
            raise ValueError(
                f"{where}: {name}[{t}] must be an index in [0, {size}){' or None' if allow_none else ''}, got {i!r}"
            )
    return list(seq)


def optimize(
    X: Sequence[int], Y: Sequence[int], a_prev: ArrayLike, parameters: dict, learning_rate: float = 0.01
) -> tuple[float, dict, np.ndarray]:
    """One training step of the language model on one name. Returns (loss, gradients, a_last).

    X, Y are lists of T_x indices (X[t] None for the zero input that starts a name;
    Y is X shifted by one and ended by the newline). With m = 1:

        a, y_hat = rnn_forward(one_hot(X), a_prev)
        loss     = -sum_t log y_hat<t>[Y<t>]                       (summed over t, as the course)
        dz<t>    = y_hat<t> - one_hot(Y<t>),  dWya = sum_t dz<t> a<t>^T,  dby = sum_t dz<t>
        da<t>    = Wya^T dz<t>   ->   rnn_backward(da) gives dWax, dWaa, dba
        clip(gradients, 5);   W -= learning_rate * dW   for W in Wax, Waa, Wya, ba, by

    The arrays of ``parameters`` are updated in place. ``gradients`` (clipped) has keys
    dWax, dWaa, dWya, dba, dby; ``a_last`` (n_a, 1) is the last hidden state, to carry
    into the next name. The loss comes from log-softmax of the scores, so it stays finite.
    """
    where = "optimize"
    s = _Shapes(where)
    P = s.params(parameters, _RNN)
    n_x, n_y = s.size["n_x"], s.size["n_y"]
    X = _indices(where, "X", X, n_x, allow_none=True)
    Y = _indices(where, "Y", Y, n_y, allow_none=False)
    if len(X) != len(Y) or not X:
        raise ValueError(f"{where}: X and Y must be non-empty and of the same length, got {len(X)} and {len(Y)}")
    if (
        isinstance(learning_rate, bool)
        or not isinstance(learning_rate, numbers.Real)
        or not (learning_rate >= 0 and math.isfinite(learning_rate))
    ):
        raise ValueError(f"{where}: learning_rate must be a finite number >= 0, got {learning_rate!r}")
    T = len(X)
    x = np.zeros((n_x, 1, T))
    for t, i in enumerate(X):
        if i is not None:
            x[i, 0, t] = 1.0
    a_prev = s.array("a_prev", a_prev, ("n_a", 1))
    a, z, caches = _rnn_sequence(where, x, a_prev, P)  # z (n_y, 1, T)
    logp = activations.log_softmax(z, axis=0)
    ts = np.arange(T)
    loss = -float(logp[Y, 0, ts].sum())
    dz = np.exp(logp)  # y_hat - one_hot(Y): readout backward
    dz[Y, 0, ts] -= 1.0
    grads = rnn_backward(np.tensordot(P["Wya"].T, dz, axes=(1, 0)), caches)
    gradients = {
        "dWax": grads["dWax"],
        "dWaa": grads["dWaa"],
        "dWya": np.tensordot(dz, a, axes=([1, 2], [1, 2])),
        "dba": grads["dba"],
        "dby": dz.sum(axis=(1, 2))[:, None],
    }
    clip(gradients, CLIP_VALUE)
    for k in _RNN:
        step = learning_rate * gradients["d" + k]
        if isinstance(parameters[k], np.ndarray) and parameters[k].dtype.kind == "f" and parameters[k].flags.writeable:
            parameters[k] -= step
        else:
            parameters[k] = P[k] - step
    return loss, gradients, np.ascontiguousarray(a[:, :, -1])


def _as_name(indices: list[int], ix_to_char) -> str:
    txt = "".join(ix_to_char[i] for i in indices).rstrip("\n")
    return txt[:1].upper() + txt[1:]


def model(
    data: str | Sequence[str],
    ix_to_char: Mapping[int, str],
    char_to_ix: Mapping[str, int],
    num_iterations: int = 35000,
    n_a: int = 50,
    names_to_sample: int = 7,
    *,
    learning_rate: float = 0.01,
    seed: int = 0,
    print_every: int = 2000,
    verbose: bool = True,
    print_fn: Callable[[str], None] = print,
) -> dict:
    """Train the character-level name model with ``optimize``, one name per iteration. Returns parameters.

    ``data`` is a list of names (or one string, one name per line); names are
    stripped and lower-cased and every character must be in ``char_to_ix``, which
    must also hold '\\n'. Vocabulary size V = len(ix_to_char) = n_x = n_y. The names
    are shuffled once; iteration j trains on name j mod len(names), carrying the
    hidden state a_last from one name into the next, as the course does.

    Every ``print_every`` iterations (when ``verbose``) it hands ``print_fn`` a line
    "Iteration: j, Loss: L" with the smoothed loss (0.999 L + 0.001 loss, started
    at the loss of a uniform guess over an average name) and ``names_to_sample``
    names drawn with ``sample``. This mirrors the course's notebook function, which
    prints; pass ``print_fn=logging.getLogger(...).info`` to log instead.
    ``seed`` (int or None) makes the initial weights, the shuffle and the samples repeat.
    """
    where = "model"
    num_iterations = check_positive_int(where, "num_iterations", num_iterations, minimum=0)
    n_a = check_positive_int(where, "n_a", n_a)
    names_to_sample = check_positive_int(where, "names_to_sample", names_to_sample, minimum=0)
    print_every = check_positive_int(where, "print_every", print_every)
    if not isinstance(ix_to_char, Mapping):
        raise TypeError(f"{where}: ix_to_char must be a dict index -> character, got {type(ix_to_char).__name__}")
    V = len(ix_to_char)
    _newline(where, char_to_ix, V)
    for ch, i in char_to_ix.items():
        if ix_to_char.get(i) != ch:
            raise ValueError(
                f"{where}: char_to_ix and ix_to_char disagree on {ch!r}: "
                f"char_to_ix gives {i!r}, ix_to_char[{i!r}] is {ix_to_char.get(i)!r}"
            )
    names = data.split("\n") if isinstance(data, str) else list(data)
    names = [str(n).strip().lower() for n in names]
    names = [n for n in names if n]
    if not names:
        raise ValueError(f"{where}: data must hold at least one non-empty name")
    for n in names:
        for ch in n:
            if ch not in char_to_ix:
                raise ValueError(f"{where}: name {n!r} has the character {ch!r}, which char_to_ix lacks")

    init_seed, order_seed, sample_seed = np.random.SeedSequence(seed).spawn(3)
    parameters = initialize_parameters(n_a, V, V, seed=init_seed)
    order = np.random.default_rng(order_seed).permutation(len(names))
    newline = char_to_ix["\n"]
    examples = []
    for k in order:
        X = [None] + [char_to_ix[ch] for ch in names[k]]
        examples.append((X, X[1:] + [newline]))
    sample_rng = np.random.default_rng(sample_seed)
    loss = math.log(V) * float(np.mean([len(n) + 1 for n in names]))
    a_prev = np.zeros((n_a, 1))
    for j in range(num_iterations):
        X, Y = examples[j % len(examples)]
        cur, _, a_prev = optimize(X, Y, a_prev, parameters, learning_rate)
        loss = 0.999 * loss + 0.001 * cur
        if verbose and j % print_every == 0:
            print_fn(f"Iteration: {j}, Loss: {loss:.6f}")
            for _ in range(names_to_sample):
                print_fn(_as_name(sample(parameters, char_to_ix, sample_rng), ix_to_char))
    return parameters


# -- names to learn from ------------------------------------------------------------------------
_ONSETS = (
    "b",
    "br",
    "c",
    "ch",
    "d",
    "dr",
    "g",
    "gr",
    "k",
    "l",
    "m",
    "n",
    "p",
    "pr",
    "r",
    "s",
    "st",
    "t",
    "th",
    "tr",
    "v",
    "x",
    "z",
    "",
)
_VOWELS = ("a", "e", "i", "o", "u", "y", "ae", "io", "ea")
_CODAS = ("", "", "", "n", "r", "s", "l", "x", "nt", "rd")
_ENDINGS = ("saurus", "don", "raptor", "ops", "ceratops", "mimus", "venator", "titan", "ia", "us", "ix", "")


def generate_names(count: int, *, seed: int = 0) -> list[str]:
    """``count`` made-up, dinosaur-flavoured lower-case names from random syllables; the same seed, the same list.

    A name is 1 to 3 syllables (onset, vowel, coda) and an ending such as
    "saurus" or "don": enough structure for a small character model to learn.
    """
    count = check_positive_int("generate_names", "count", count, minimum=0)
    rng = np.random.default_rng(seed)
    names = []
    for _ in range(count):
        parts = [
            _ONSETS[rng.integers(len(_ONSETS))]
            + _VOWELS[rng.integers(len(_VOWELS))]
            + _CODAS[rng.integers(len(_CODAS))]
            for _ in range(int(rng.integers(1, 4)))
        ]
        names.append("".join(parts) + _ENDINGS[rng.integers(len(_ENDINGS))])
    return names


def build_vocab(names: Sequence[str]) -> tuple[dict, dict]:
    """(char_to_ix, ix_to_char) over the sorted characters of ``names`` plus '\\n', which ends every name."""
    chars = sorted(set("".join(names)) | {"\n"})
    return {ch: i for i, ch in enumerate(chars)}, dict(enumerate(chars))
