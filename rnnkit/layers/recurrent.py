"""Sequence layers: ``RNN``, ``GRU``, ``LSTM``, ``MGU``, with PyTorch's constructors and names.

A layer runs a cell family (``rnnkit.cells``) over whole sequences, stacked
``num_layers`` deep and optionally in both directions, and keeps what its
backward pass needs. Parameters are PyTorch's, by name, shape and gate
order: for layer k and direction suffix s ('' or '_reverse')

    weight_ih_l{k}{s}  (G*H, D)       D = input_size for k = 0, else H * num_directions
    weight_hh_l{k}{s}  (G*H, H)
    bias_ih_l{k}{s}    (G*H,)         (absent with bias=False)
    bias_hh_l{k}{s}    (G*H,)

with G = 1 (RNN), 3 (GRU: r, z, n), 2 (GRU without reset gate: z, n),
4 (LSTM: i, f, g, o), 2 (MGU: f, n). All are initialised uniform in
+/- 1/sqrt(hidden_size), PyTorch's default, from ``seed``.

Shapes: x (T, B, D) or, with ``batch_first``, (B, T, D), or unbatched (T, D);
out (T, B, H * num_directions); hx and h_n (num_layers * num_directions, B, H),
layer-major with directions interleaved (PyTorch's order); for LSTM both
states, as a tuple (h, c).

``dropout`` (PyTorch's meaning) zeroes each output of every layer but the
last with probability p, independently at every step, in training mode
only; masks come from the layer's own generator (seeded by ``seed``), and
backward reuses them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rnnkit._validate import (
    as_float_array,
    check_choice,
    check_positive_int,
    check_probability,
    fmt_shape,
    resolve_dtype,
)
from rnnkit.cells import gru, lstm, mgu, rnn
from rnnkit.grad_mode import is_grad_enabled
from rnnkit.module import Module


def reverse_padded(x: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """Reverse each sequence of x (T, B, ...) within its own length; padding stays in place.

    Without lengths this is ``x[::-1]``. The map is its own inverse, so the
    same call turns the reverse direction's outputs back into time order.
    """
    if lengths is None:
        return x[::-1]
    T, B = x.shape[:2]
    t = np.arange(T)[:, None]
    idx = np.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)   # (T, B)
    return x[idx, np.arange(B)[None, :]]


@dataclass
class _LayerCache:
    """What backward needs from one forward pass, per layer and direction."""
    cells: list = field(default_factory=list)        # [layer][direction] cell caches
    dropout_masks: list = field(default_factory=list)  # [layer] mask applied to its output, or None
    lengths: np.ndarray | None = None
    batch_first: bool = False
    unbatched: bool = False
    out_shape: tuple = ()


class RecurrentLayer(Module):
    """Common machinery of the four sequence layers; use RNN, GRU, LSTM or MGU."""

    _family = None          # the cell module
    _has_cell_state = False

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, *, dtype=np.float32, seed=None, **variant):
        super().__init__()
        name = type(self).__name__
        self.input_size = check_positive_int(name, "input_size", input_size)
        self.hidden_size = check_positive_int(name, "hidden_size", hidden_size)
        self.num_layers = check_positive_int(name, "num_layers", num_layers)
        for arg, val in (("bias", bias), ("batch_first", batch_first), ("bidirectional", bidirectional)):
            if not isinstance(val, (bool, np.bool_)):
                raise TypeError(f"{name}: {arg} must be a bool, got {type(val).__name__} {val!r}")
        self.bias, self.batch_first, self.bidirectional = bool(bias), bool(batch_first), bool(bidirectional)
        self.dropout = check_probability(name, "dropout", dropout)
        self.dtype = resolve_dtype(name, dtype)
        self.variant = variant
        self.gates = self._num_gates()
        self.num_directions = 2 if self.bidirectional else 1
        self._rng = np.random.default_rng(seed)
        self._cache: _LayerCache | None = None
        self._init_params()

    # -- parameters -----------------------------------------------------------------------------
    def _num_gates(self) -> int:
        return self._family.GATES

    def _suffixes(self):
        return ("", "_reverse")[: self.num_directions]

    def _init_params(self) -> None:
        H, G = self.hidden_size, self.gates
        k = 1.0 / np.sqrt(H)
        for layer in range(self.num_layers):
            d_in = self.input_size if layer == 0 else H * self.num_directions
            for s in self._suffixes():
                shapes = {"weight_ih": (G * H, d_in), "weight_hh": (G * H, H)}
                if self.bias:
                    shapes.update(bias_ih=(G * H,), bias_hh=(G * H,))
                for base, shape in shapes.items():
                    w = self._rng.uniform(-k, k, size=shape).astype(self.dtype)
                    self.register_parameter(f"{base}_l{layer}{s}", w)

    def _cell_params(self, layer: int, suffix: str) -> dict:
        own = self._own_params
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if self.bias else ("weight_ih", "weight_hh")
        return {n: own[f"{n}_l{layer}{suffix}"] for n in names}

    # -- input checks ---------------------------------------------------------------------------
    def _state_shape(self, B):
        return (self.num_layers * self.num_directions, B, self.hidden_size)

    def _parse_x(self, where, x):
        x = as_float_array(where, "x", x, self.dtype)
        D = self.input_size
        if x.ndim == 2:
            if x.shape[1] != D:
                raise ValueError(f"{where}: x must have shape (T, {D}) when unbatched, got {fmt_shape(x.shape)}")
            return x[:, None, :], True
        if x.ndim != 3 or x.shape[2] != D:
            want = f"(B, T, {D})" if self.batch_first else f"(T, B, {D})"
            raise ValueError(f"{where}: x must have shape {want}, got {fmt_shape(x.shape)}")
        if 0 in x.shape:
            raise ValueError(f"{where}: x must have T >= 1 and B >= 1, got shape {fmt_shape(x.shape)}")
        if self.batch_first:
            x = np.ascontiguousarray(x.transpose(1, 0, 2))
        return x, False

    def _parse_state(self, where, name, s, B, unbatched):
        want = self._state_shape(B)
        if s is None:
            return np.zeros(want, dtype=self.dtype)
        s = as_float_array(where, name, s, self.dtype)
        if unbatched:
            if s.shape != (want[0], want[2]):
                raise ValueError(f"{where}: {name} must have shape {fmt_shape((want[0], want[2]))} "
                                 f"for unbatched input, got {fmt_shape(s.shape)}")
            return s[:, None, :]
        if s.shape != want:
            raise ValueError(f"{where}: {name} must have shape {fmt_shape(want)}, got {fmt_shape(s.shape)}")
        return s

    def _parse_lengths(self, where, lengths, T, B):
        if lengths is None:
            return None
        lengths = np.asarray(lengths)
        if lengths.dtype.kind not in "iu":
            raise TypeError(f"{where}: lengths must be integers, got dtype {lengths.dtype}")
        if lengths.shape != (B,):
            raise ValueError(f"{where}: lengths must have shape ({B},), got {fmt_shape(lengths.shape)}")
        bad = np.flatnonzero((lengths < 1) | (lengths > T))
        if bad.size:
            raise ValueError(f"{where}: lengths must be in [1, {T}], got {int(lengths[bad[0]])} at index {int(bad[0])}")
        return lengths.astype(np.int64)

    # -- forward / backward ---------------------------------------------------------------------
    def forward(self, x, hx=None, lengths=None):
        """Run the stacked, possibly bidirectional recurrence. Returns (out, h_n); LSTM: (out, (h_n, c_n))."""
        where = f"{type(self).__name__}.forward"
        x, unbatched = self._parse_x(where, x)
        T, B, _ = x.shape
        if self._has_cell_state:
            if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
                raise TypeError(f"{where}: hx must be a tuple (h0, c0), got {type(hx).__name__}")
            h0 = self._parse_state(where, "hx[0]", None if hx is None else hx[0], B, unbatched)
            c0 = self._parse_state(where, "hx[1]", None if hx is None else hx[1], B, unbatched)
        else:
            h0 = self._parse_state(where, "hx", hx, B, unbatched)
        if unbatched and lengths is not None:
            raise ValueError(f"{where}: lengths must be None for unbatched input, got {lengths!r}")
        lengths = self._parse_lengths(where, lengths, T, B)

        need_cache = is_grad_enabled()
        cache = _LayerCache(lengths=lengths, batch_first=self.batch_first, unbatched=unbatched)
        h_n = np.empty_like(h0)
        c_n = np.empty_like(h0) if self._has_cell_state else None
        layer_in = x
        for layer in range(self.num_layers):
            outs, layer_caches = [], []
            for d, suffix in enumerate(self._suffixes()):
                idx = layer * self.num_directions + d
                state = (h0[idx], c0[idx]) if self._has_cell_state else h0[idx]
                xin = layer_in if d == 0 else reverse_padded(layer_in, lengths)
                out, state_T, cc = self._family.forward(
                    self._cell_params(layer, suffix), np.ascontiguousarray(xin), state,
                    lengths=lengths, need_cache=need_cache, **self.variant)
                outs.append(out if d == 0 else reverse_padded(out, lengths))
                layer_caches.append(cc)
                if self._has_cell_state:
                    h_n[idx], c_n[idx] = state_T
                else:
                    h_n[idx] = state_T
            out = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=-1)
            mask = None
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                keep = 1.0 - self.dropout
                mask = (self._rng.random(out.shape) < keep).astype(self.dtype) / self.dtype.type(keep)
                out = out * mask
            cache.cells.append(layer_caches)
            cache.dropout_masks.append(mask)
            layer_in = out
        cache.out_shape = layer_in.shape
        self._cache = cache if need_cache else None
        self._forward_ran = True

        out = layer_in
        if unbatched:
            out, h_n = out[:, 0], h_n[:, 0]
            c_n = None if c_n is None else c_n[:, 0]
        elif self.batch_first:
            out = out.transpose(1, 0, 2)
        return out, ((h_n, c_n) if self._has_cell_state else h_n)

    def backward(self, dout, dh_n=None):
        """Backpropagate the gradient of out (and of h_n) to the input and the initial state.

        Adds every parameter's gradient into ``self.grads``. Returns (dx, dhx)
        with dx shaped like x and dhx like hx; LSTM: (dx, (dh0, dc0)), and
        ``dh_n`` is the tuple (dh_n, dc_n), either part may be None.
        """
        where = f"{type(self).__name__}.backward"
        cache = self._cache
        if cache is None:
            if getattr(self, "_forward_ran", False):
                raise RuntimeError(f"{where}: the last forward ran under no_grad(), so it kept no cache; "
                                   "run forward again with gradients enabled")
            raise RuntimeError(f"{where}: backward called before forward")
        T, B, HD = cache.out_shape
        dout = self._parse_dout(where, dout, cache)
        dh_T, dc_T = self._parse_dstate(where, dh_n, cache, B)
        H = self.hidden_size
        dh0 = np.zeros((self.num_layers * self.num_directions, B, H), dtype=self.dtype)
        dc0 = np.zeros_like(dh0) if self._has_cell_state else None
        grads = self._own_grads
        lengths = cache.lengths
        d_layer_out = dout
        for layer in reversed(range(self.num_layers)):
            mask = cache.dropout_masks[layer]
            if mask is not None and d_layer_out is not None:
                d_layer_out = d_layer_out * mask
            d_in = None
            for d, suffix in enumerate(self._suffixes()):
                idx = layer * self.num_directions + d
                dpart = None if d_layer_out is None else d_layer_out[..., d * H:(d + 1) * H]
                if dpart is not None and d == 1:
                    dpart = reverse_padded(dpart, lengths)
                if self._has_cell_state:
                    dstate = (None if dh_T is None else dh_T[idx], None if dc_T is None else dc_T[idx])
                else:
                    dstate = None if dh_T is None else dh_T[idx]
                g, dx, ds0 = self._family.backward(self._cell_params(layer, suffix), cache.cells[layer][d],
                                                   dpart, dstate)
                for name, val in g.items():
                    grads[f"{name}_l{layer}{suffix}"] += val
                if d == 1:
                    dx = reverse_padded(dx, lengths)
                d_in = dx if d_in is None else d_in + dx
                if self._has_cell_state:
                    dh0[idx], dc0[idx] = ds0
                else:
                    dh0[idx] = ds0
            d_layer_out = d_in
        dx = d_layer_out
        if cache.unbatched:
            dx, dh0 = dx[:, 0], dh0[:, 0]
            dc0 = None if dc0 is None else dc0[:, 0]
        elif cache.batch_first:
            dx = dx.transpose(1, 0, 2)
        return dx, ((dh0, dc0) if self._has_cell_state else dh0)

    def _parse_dout(self, where, dout, cache):
        if dout is None:
            return None
        T, B, HD = cache.out_shape
        if cache.unbatched:
            want = (T, HD)
        else:
            want = (B, T, HD) if cache.batch_first else (T, B, HD)
        dout = as_float_array(where, "dout", dout, self.dtype)
        if dout.shape != want:
            raise ValueError(f"{where}: dout must have the shape of out {fmt_shape(want)}, got {fmt_shape(dout.shape)}")
        if cache.unbatched:
            return dout[:, None, :]
        if cache.batch_first:
            return np.ascontiguousarray(dout.transpose(1, 0, 2))
        return dout

    def _parse_dstate(self, where, dh_n, cache, B):
        if dh_n is None:
            return None, None
        if self._has_cell_state:
            if not isinstance(dh_n, (tuple, list)) or len(dh_n) != 2:
                raise TypeError(f"{where}: dh_n must be a tuple (dh_n, dc_n), got {type(dh_n).__name__}")
            parts = [None if s is None else self._parse_state(where, n, s, B, cache.unbatched)
                     for n, s in zip(("dh_n[0]", "dh_n[1]"), dh_n)]
            return parts[0], parts[1]
        return self._parse_state(where, "dh_n", dh_n, B, cache.unbatched), None

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for k, v in self.variant.items():
            s += f", {k}={v!r}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.dtype != np.float32:
            s += f", dtype={self.dtype}"
        return s


class RNN(RecurrentLayer):
    """Elman RNN layer, h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu).

    Constructor and parameters as ``torch.nn.RNN``; the maths is in ``rnnkit.cells.rnn``.

    Example
    -------
    >>> import numpy as np, rnnkit
    >>> layer = rnnkit.RNN(8, 16, nonlinearity="relu", seed=0)
    >>> out, h_n = layer.forward(np.ones((5, 3, 8), np.float32))
    >>> out.shape, h_n.shape
    ((5, 3, 16), (1, 3, 16))
    """
    _family = rnn

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, *, dtype=np.float32, seed=None):
        check_choice("RNN", "nonlinearity", nonlinearity, rnn.NONLINEARITIES)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype=dtype, seed=seed, nonlinearity=nonlinearity)

    @property
    def nonlinearity(self) -> str:
        return self.variant["nonlinearity"]


class GRU(RecurrentLayer):
    """Gated recurrent unit layer; ``torch.nn.GRU`` by default, with the classic variants as options.

    ``reset_after=True``: r multiplies (h W_hn^T + b_hn), PyTorch's and cuDNN's
    convention. ``reset_after=False``: r multiplies h before W_hn, as in Cho et
    al. 2014 and CS224N. ``reset_gate=False``: the simplified GRU with the
    update gate only (course notes); then G = 2 and rows are stacked z, n.
    Equations and backward: ``rnnkit.cells.gru``.

    Example
    -------
    >>> import numpy as np, rnnkit
    >>> layer = rnnkit.GRU(8, 16, reset_after=False, seed=0)
    >>> out, h_n = layer.forward(np.ones((5, 3, 8), np.float32))
    >>> layer.params["weight_hh_l0"].shape
    (48, 16)
    """
    _family = gru

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, *, reset_after=True, reset_gate=True, dtype=np.float32, seed=None):
        for arg, val in (("reset_after", reset_after), ("reset_gate", reset_gate)):
            if not isinstance(val, (bool, np.bool_)):
                raise TypeError(f"GRU: {arg} must be a bool, got {type(val).__name__} {val!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype=dtype, seed=seed, reset_after=bool(reset_after), reset_gate=bool(reset_gate))

    def _num_gates(self) -> int:
        return gru.gates(self.variant["reset_gate"])


class LSTM(RecurrentLayer):
    """Long short-term memory layer, as ``torch.nn.LSTM`` (gate order i, f, g, o).

    ``hx`` and the returned state are tuples (h, c). Equations and backward: ``rnnkit.cells.lstm``.

    Example
    -------
    >>> import numpy as np, rnnkit
    >>> layer = rnnkit.LSTM(8, 16, num_layers=2, seed=0)
    >>> out, (h_n, c_n) = layer.forward(np.ones((5, 3, 8), np.float32))
    >>> dx, (dh0, dc0) = layer.backward(np.ones_like(out))
    >>> dx.shape, c_n.shape
    ((5, 3, 8), (2, 3, 16))
    """
    _family = lstm
    _has_cell_state = True


class MGU(RecurrentLayer):
    """Minimal gated unit layer (Zhou et al. 2016): one forget gate f; rows stacked f, n.

    f = sigmoid(x W_if^T + b_if + h W_hf^T + b_hf), n = tanh(x W_in^T + b_in + (f h) W_hn^T + b_hn),
    h' = (1 - f) h + f n. Names follow PyTorch's pattern; see ``rnnkit.cells.mgu``.

    Example
    -------
    >>> import numpy as np, rnnkit
    >>> out, h_n = rnnkit.MGU(8, 16, seed=0).forward(np.ones((5, 3, 8), np.float32))
    >>> out.shape
    (5, 3, 16)
    """
    _family = mgu
