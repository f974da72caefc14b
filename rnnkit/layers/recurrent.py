"""Sequence layers: ``RNN``, ``GRU``, ``LSTM``, ``MGU``, with PyTorch's constructors and names.

A layer runs a cell family (``rnnkit.cells``) over whole sequences, stacked
``num_layers`` deep and optionally in both directions, and keeps what its
backward pass needs. Parameters are PyTorch's, by name, shape and gate
order: for layer k and direction suffix s ('' or '_reverse')

    weight_ih_l{k}{s}  (G*H, D)       D = input_size for k = 0, else layer_output_size
    weight_hh_l{k}{s}  (G*H, H_out)
    bias_ih_l{k}{s}    (G*H,)         (absent with bias=False)
    bias_hh_l{k}{s}    (G*H,)
    weight_hr_l{k}{s}  (P, H)         LSTM with proj_size=P > 0 only; then H_out = P, else H_out = H
    weight_c{i,f,o}_l{k}{s}  (H,)     LSTM with peephole=True only (rnnkit's names; PyTorch has none)

with G = 1 (RNN), 3 (GRU: r, z, n), 2 (GRU without reset gate: z, n),
4 (LSTM: i, f, g, o), 2 (MGU: f, n). All are initialised uniform in
+/- 1/sqrt(hidden_size), PyTorch's default, from ``seed``.

Shapes: x (T, B, D) or, with ``batch_first``, (B, T, D), or unbatched (T, D);
out (T, B, layer_output_size): H_out * num_directions, or H_out with a merge_mode other than
"concat"; hx and h_n (num_layers * num_directions, B, H_out), layer-major with directions
interleaved (PyTorch's order); for LSTM both states, as a tuple (h, c), c being (..., B, H).

Regularisers, all off by default and active in training mode only (``eval()``
turns them off; zoneout then uses its expectation). Masks come from the
layer's own generator (``seed``); backward reuses the forward's masks.

- ``dropout``: PyTorch's meaning, on the outputs of every layer but the last.
- ``input_dropout``: on the input x of the first layer.
- ``recurrent_dropout``: on h_{t-1} where it enters the recurrent product
  (the carried state is untouched).
- ``variational``: the three dropouts above draw one mask per sequence and
  reuse it at every step (Gal and Ghahramani 2016); otherwise a new mask is
  drawn at every step (standard dropout).
- ``dropout_masks``: "shared" (default): one input-dropout and one recurrent-dropout mask
  for all gates; "per_gate": one for each gate block, as Keras draws them (its
  ``implementation=1``: ``x * B_W[k]``, ``h_tm1 * B_U[k]``), each direction its own. The
  per-gate form runs the NumPy maths (the compiled loops take one mask) and is offered
  by the families whose registry entry says ``per_gate_masks`` (RNN, where it is the
  shared form with G = 1; GRU in PyTorch's form; LSTM).
- ``weight_drop``: DropConnect on every W_hh, one mask per forward pass (AWD-LSTM, Merity et al. 2017).
- ``zoneout``: each unit keeps its previous value with probability z
  (Krueger et al. 2016); for LSTM a float or a pair (z_h, z_c).

All dropouts are "inverted": kept values are scaled by 1/(1-p), so eval needs no rescaling.
Each of the five may be reassigned after construction (``layer.dropout = 0.3``); an
assignment is validated exactly as the constructor's argument is.

Keras's conventions, as options:

- ``forward(x, mask=...)``: a boolean step mask (T, B) ((B, T) with ``batch_first``, (T,)
  unbatched). A step with False keeps the previous states (h and, for LSTM, c) and emits zeros,
  or with ``masked_output="previous"`` the last output (Keras's default
  ``zero_output_for_mask=False``: zeros before the first kept step). Left padding and holes are
  allowed, in both loop backends (the mask is an update and an output step mask,
  ``rnnkit.cells.common.StepMasks``). The reverse direction reads the sequence and its mask
  reversed together, ``x[::-1]`` and ``mask[::-1]``, as Keras's ``Bidirectional`` does; with
  ``lengths`` it reverses each sequence within its length (PyTorch's packed sequences). The two
  agree on right padding. ``lengths`` and ``mask`` are exclusive (the error says which to drop).
- ``go_backwards=True`` (unidirectional layers): the stack reads ``x[::-1]`` (and ``mask[::-1]``;
  ``lengths`` become the mask t < lengths[b] first) and returns its outputs in that reversed
  order, as Keras's ``go_backwards``.
- ``merge_mode``: how a bidirectional layer joins its directions' outputs, at every layer of the
  stack: "concat" (default, PyTorch's; width 2 H_out), "sum", "mul", "ave" (width H_out, so the
  next layer's D is H_out), Keras's ``Bidirectional`` modes. ``layer_output_size`` gives the width.

A batch of size B = 0 gives empty outputs and states and adds nothing to the
gradients, as PyTorch does; T must be at least 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from rnnkit import _kernels
from rnnkit._validate import (
    as_float_array,
    check_choice,
    check_positive_int,
    check_probability,
    fmt_shape,
    make_rng,
    resolve_dtype,
)
from rnnkit.cells import registry
from rnnkit.cells.common import StepMasks
from rnnkit.cells.registry import CellFamily
from rnnkit.grad_mode import is_grad_enabled
from rnnkit.module import Module

MASKED_OUTPUTS = ("zeros", "previous")  # what a masked step emits (Keras: zero_output_for_mask True / False)
MERGE_MODES = ("concat", "sum", "mul", "ave")  # how a bidirectional layer joins its two directions
DROPOUT_MASKS = ("shared", "per_gate")  # one input/recurrent dropout mask for all gates, or one per gate (Keras)


def output_mask(m: np.ndarray, masked_output: str) -> np.ndarray:
    """The output mask of a step mask m (T, B, 1): m itself ("zeros"), or 1 from the first kept step on
    ("previous": a masked step repeats the last output, which is the carried state h_t; before any
    kept step Keras emits zeros, not h0)."""
    return m if masked_output == "zeros" else np.maximum.accumulate(m, axis=0)


def reverse_padded(x: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """Reverse each sequence of x (T, B, ...) within its own length; padding stays in place.

    Without lengths this is ``x[::-1]``. The map is its own inverse, so the
    same call turns the reverse direction's outputs back into time order.
    """
    if lengths is None:
        return x[::-1]
    T, B = x.shape[:2]
    t = np.arange(T)[:, None]
    idx = np.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)  # (T, B)
    return x[idx, np.arange(B)[None, :]]


def _reverse(x: np.ndarray, lengths: np.ndarray | None, mask: np.ndarray | None) -> np.ndarray:
    """The reverse direction's view of x (T, B, ...): with a step mask the whole sequence reversed (Keras's
    Bidirectional reverses the sequence and the mask together), else within each length. Its own inverse."""
    return x[::-1] if mask is not None else reverse_padded(x, lengths)


def _merge(outs: list, mode: str) -> np.ndarray:
    """Join the directions' outputs (T, B, H_out) each: Keras's merge modes."""
    if len(outs) == 1:
        return outs[0]
    f, b = outs
    if mode == "concat":
        return np.concatenate(outs, axis=-1)
    if mode == "sum":
        return f + b
    if mode == "ave":
        return (f + b) * f.dtype.type(0.5)
    return f * b  # "mul"


def _merge_backward(dout, mode: str, num_directions: int, Ho: int, merged) -> list:
    """Gradients of ``_merge`` for each direction: concat splits dout; sum passes it to both; ave halves it;
    mul: d(f * b) = (dout * b, dout * f)."""
    if dout is None:
        return [None] * num_directions
    if num_directions == 1:
        return [dout]
    if mode == "concat":
        return [dout[..., :Ho], dout[..., Ho:]]
    if mode == "sum":
        return [dout, dout]
    if mode == "ave":
        half = dout * dout.dtype.type(0.5)
        return [half, half]
    f, b = merged
    return [dout * b, dout * f]


@dataclass
class _LayerCache:
    """What backward needs from one forward pass."""

    cells: list = field(default_factory=list)  # [layer][direction] cell caches
    dropout_masks: list = field(default_factory=list)  # [layer] mask applied to its output, or None
    weight_masks: list = field(default_factory=list)  # [layer][direction] DropConnect mask of W_hh, or None
    step_masks: list = field(default_factory=list)  # [layer][direction] StepMasks the cells used, or None
    input_mask: np.ndarray | None = None  # input dropout mask, or None
    zoneout: tuple = (0.0, 0.0)  # the zoneout probabilities (h, c) the forward used
    lengths: np.ndarray | None = None
    mask: np.ndarray | None = None  # (T, B) bool, in the order the layer ran (after go_backwards)
    merged: list = field(default_factory=list)  # [layer] the two directions' outputs (merge_mode="mul"), or None
    go_backwards: bool = False
    batch_first: bool = False
    unbatched: bool = False
    out_shape: tuple = ()


@dataclass(frozen=True)
class DropoutMasks:
    """The random masks a recurrent layer drew and applied in its last forward pass.

    Returned by ``RecurrentLayer.last_dropout_masks()``; each is None where that
    regulariser is off (or in eval mode, where dropout draws nothing). Dropout
    masks are inverted: 0 where dropped, 1/(1-p) where kept. Per-layer entries
    are tuples indexed [layer], per-direction ones [layer][direction]:

        input       (T|1, B, D)        dropout of the layer's input
        output      [layer] (T|1, B, H * dirs)  dropout of each layer's output (None for the last)
        recurrent   [layer][dir] (T|1, B, H)    multiplier of h_{t-1} in h_{t-1} @ W_hh.T
        zoneout     [layer][dir] (T, B, H)      1: the unit takes its new value, 0: keeps h_{t-1}
        zoneout_c   [layer][dir] (T, B, H)      the same for the LSTM cell state
        weight_hh   [layer][dir] W_hh's shape   DropConnect mask of W_hh (weight drop)

    The shapes with T|1 have 1 when ``variational=True`` (one mask per
    sequence). In eval mode zoneout is not drawn: its entry is the
    expectation 1 - z, shape (T, 1, 1). With ``lengths``, the zoneout masks
    are multiplied by the length mask (0 after a sequence ends), as the cells
    use them. The arrays are copies: changing them does not change what
    ``backward`` uses.
    """

    input: np.ndarray | None
    output: tuple
    recurrent: tuple
    zoneout: tuple
    zoneout_c: tuple
    weight_hh: tuple


_check_bool = registry.check_bool

# family name -> the named layer class bound to it (filled by the class statements below, not by hand)
_NAMED_LAYERS: dict[str, type] = {}


class RecurrentLayer(Module):
    """Sequence layer of any registered cell family; RNN, GRU, LSTM, MGU, ... are it bound to their family.

    ``family`` (a name in ``rnnkit.cells.registry`` or a ``CellFamily``) is needed only when
    building this class directly, as ``recurrent_layer`` does for a family without a named class;
    ``variant`` holds the family's own options (``CellFamily.options``).

    The named classes spell out every keyword of this ``__init__`` in their own, rather than take
    ``**kwargs``, so that ``help()``, editors and type checkers show each option with its default
    (PyTorch's layers do the same); tests/layers/test_layer_signatures.py keeps those lists equal
    to this one and checks that each keyword is passed on.
    """

    _family_name: str | None = None  # set by ``class X(RecurrentLayer, family="...")``

    def __init_subclass__(cls, family: str | None = None, **kw):
        super().__init_subclass__(**kw)
        if family is not None:
            cls._family_name = family
            _NAMED_LAYERS.setdefault(family, cls)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        input_dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        variational: bool = False,
        weight_drop: float = 0.0,
        zoneout: float | tuple[float, float] = 0.0,
        proj_size: int = 0,
        peephole: bool = False,
        masked_output: str = "zeros",
        go_backwards: bool = False,
        merge_mode: str = "concat",
        dropout_masks: str = "shared",
        dtype: DTypeLike = np.float32,
        seed: int | np.random.Generator | None = None,
        variant: dict | None = None,
        family: str | CellFamily | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if family is None and self._family_name is None:
            raise TypeError(f"{name}: family must name a registered cell family, got None")
        self._family: CellFamily = registry.get(self._family_name if family is None else family)
        self._has_cell_state = self._family.state_arity == 2
        self.variant = self._family.resolve(name, variant)  # the cell family's own options
        self.input_size = check_positive_int(name, "input_size", input_size)
        self.hidden_size = check_positive_int(name, "hidden_size", hidden_size)
        self.num_layers = check_positive_int(name, "num_layers", num_layers)
        self.bias = _check_bool(name, "bias", bias)
        self.batch_first = _check_bool(name, "batch_first", batch_first)
        self.bidirectional = _check_bool(name, "bidirectional", bidirectional)
        self.variational = _check_bool(name, "variational", variational)
        self.peephole = _check_bool(name, "peephole", peephole)
        self.masked_output = check_choice(name, "masked_output", masked_output, MASKED_OUTPUTS)
        self.go_backwards = _check_bool(name, "go_backwards", go_backwards)
        self.merge_mode = check_choice(name, "merge_mode", merge_mode, MERGE_MODES)
        self.dropout_masks = check_choice(name, "dropout_masks", dropout_masks, DROPOUT_MASKS)
        if self.dropout_masks == "per_gate" and not self._family.takes_per_gate_masks(self.variant):
            raise ValueError(
                f"{name}: dropout_masks must be 'shared' for cell {self._family.name!r} with "
                f"{self.variant} (its maths take one mask for all gates), got 'per_gate'"
            )
        if self.go_backwards and self.bidirectional:
            raise ValueError(
                f"{name}: go_backwards must be False for a bidirectional layer (its reverse direction "
                "already reads the sequence backwards), got True"
            )
        # The regularisers are properties: assigning one later is validated exactly as here.
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.recurrent_dropout = recurrent_dropout
        self.weight_drop = weight_drop
        self.zoneout = zoneout
        self.proj_size = check_positive_int(name, "proj_size", proj_size, minimum=0)
        if self.proj_size >= self.hidden_size:
            raise ValueError(
                f"{name}: proj_size must be smaller than hidden_size = {self.hidden_size}, got {self.proj_size}"
            )
        for feature, value in (("proj_size", self.proj_size), ("peephole", self.peephole)):
            if value and feature not in self._family.features:
                raise ValueError(f"{name}: {feature} is not supported by cell {self._family.name!r}, got {value!r}")
        self.dtype = resolve_dtype(name, dtype)
        self.gates = self._family.num_gates(self.variant)
        self.num_directions = 2 if self.bidirectional else 1
        self.output_size = self.proj_size or self.hidden_size  # H_out: size of h and of each output
        self._clamp: dict = {}
        self._rng = make_rng(name, seed)
        self._cache: _LayerCache | None = None
        self._forward_ran = False
        self._init_params()

    # -- regularisers: validated on every assignment, not only in the constructor ------------------
    @property
    def dropout(self) -> float:
        """Dropout probability on the outputs of every layer but the last, in [0, 1)."""
        return self._dropout

    @dropout.setter
    def dropout(self, p: float) -> None:
        self._dropout = check_probability(type(self).__name__, "dropout", p)

    @property
    def input_dropout(self) -> float:
        """Dropout probability on the first layer's input, in [0, 1)."""
        return self._input_dropout

    @input_dropout.setter
    def input_dropout(self, p: float) -> None:
        self._input_dropout = check_probability(type(self).__name__, "input_dropout", p)

    @property
    def recurrent_dropout(self) -> float:
        """Dropout probability on h_{t-1} where it enters the recurrent product, in [0, 1)."""
        return self._recurrent_dropout

    @recurrent_dropout.setter
    def recurrent_dropout(self, p: float) -> None:
        self._recurrent_dropout = check_probability(type(self).__name__, "recurrent_dropout", p)

    @property
    def weight_drop(self) -> float:
        """DropConnect probability on every W_hh, in [0, 1)."""
        return self._weight_drop

    @weight_drop.setter
    def weight_drop(self, p: float) -> None:
        self._weight_drop = check_probability(type(self).__name__, "weight_drop", p)

    @property
    def zoneout(self) -> tuple[float, float]:
        """Zoneout probabilities (z_h, z_c); assign a float, or for LSTM-like layers a pair (z_h, z_c).

        A layer without a cell state reads (z, 0.0)."""
        return self._zoneout

    @zoneout.setter
    def zoneout(self, zoneout: float | tuple[float, float]) -> None:
        name = type(self).__name__
        if self._has_cell_state and isinstance(zoneout, (tuple, list)):
            if len(zoneout) != 2:
                raise ValueError(f"{name}: zoneout must be a float or a pair (z_h, z_c), got {zoneout!r}")
            self._zoneout = tuple(check_probability(name, "zoneout", z) for z in zoneout)
        else:
            z = check_probability(name, "zoneout", zoneout)
            self._zoneout = (z, z) if self._has_cell_state else (z, 0.0)

    # -- parameters -----------------------------------------------------------------------------
    @property
    def family(self) -> CellFamily:
        """The cell family this layer runs (its registry entry)."""
        return self._family

    @property
    def layer_output_size(self) -> int:
        """Features of each output step: H_out * num_directions with merge_mode="concat", else H_out."""
        return self.output_size * (self.num_directions if self.merge_mode == "concat" else 1)

    def _num_gates(self) -> int:
        return self.gates

    def _suffixes(self):
        return ("", "_reverse")[: self.num_directions]

    def _param_spec(self, layer: int) -> dict:
        """name -> (shape, initialiser) of one direction of layer ``layer``, from the family's layout."""
        d_in = self.input_size if layer == 0 else self.layer_output_size
        return self._family.parameter_spec(
            d_in,
            self.hidden_size,
            bias=self.bias,
            proj_size=self.proj_size,
            peephole=self.peephole,
            variant=self.variant,
        )

    def _param_shapes(self, layer: int) -> dict:
        return {n: shape for n, (shape, _) in self._param_spec(layer).items()}

    def _init_params(self) -> None:
        """Weights uniform in +/- 1/sqrt(hidden_size), PyTorch's default; LN gains 1 and shifts 0."""
        k = 1.0 / np.sqrt(self.hidden_size)
        for layer in range(self.num_layers):
            for s in self._suffixes():
                for base, (shape, init) in self._param_spec(layer).items():
                    if init == "ones":
                        w = np.ones(shape, dtype=self.dtype)
                    elif init == "zeros":
                        w = np.zeros(shape, dtype=self.dtype)
                    else:
                        w = self._rng.uniform(-k, k, size=shape).astype(self.dtype)
                    self.register_parameter(f"{base}_l{layer}{s}", w)

    def _cell_params(self, layer: int, suffix: str) -> dict:
        """The live arrays of one layer and direction under the cell functions' names (do not modify).

        Built once: parameters are updated in place, never rebound (the Module contract); the
        identity check rebuilds the dict should one ever be."""
        own = self._own_params
        cached = self.__dict__.setdefault("_cell_params_cache", {}).get((layer, suffix))
        if cached is None or cached["weight_hh"] is not own.get(f"weight_hh_l{layer}{suffix}"):
            cached = {n: own[f"{n}_l{layer}{suffix}"] for n in self._param_shapes(layer)}
            self._cell_params_cache[(layer, suffix)] = cached
        return cached

    # -- gate clamping --------------------------------------------------------------------------
    def clamp_gates(self, **gates: float) -> RecurrentLayer:
        """Fix gates to constants in forward and backward, e.g. ``lstm.clamp_gates(i=1, f=0, o=1)``.

        Clamped gates pass no gradient to their weights. With every gate of the
        notes' "binary" view clamped, a GRU (r=1, z=0) computes a plain tanh RNN
        with the candidate's weights, and an LSTM (i=1, f=0, o=1) has a cell state
        c_t = tanh(W x_t + U tanh(c_{t-1}) + b). Call with no argument to unclamp.
        """
        where = f"{type(self).__name__}.clamp_gates"
        allowed = self._gate_blocks()
        if not allowed:
            raise ValueError(f"{where}: {type(self).__name__} has no gates to clamp")
        clamp = {}
        for gate, value in gates.items():
            if gate not in allowed:
                raise ValueError(f"{where}: gate must be one of {', '.join(allowed)}, got {gate!r}")
            clamp[gate] = check_probability(where, gate, value, allow_one=True)
        self._clamp = clamp
        return self

    def _gate_blocks(self) -> dict:
        return self._family.gate_blocks(self.variant)

    @property
    def rng(self) -> np.random.Generator:
        """The generator of this layer's dropout and zoneout masks (settable, to fix the masks)."""
        return self._rng

    @rng.setter
    def rng(self, generator: np.random.Generator) -> None:
        if not isinstance(generator, np.random.Generator):
            raise TypeError(
                f"{type(self).__name__}.rng must be a numpy.random.Generator, got {type(generator).__name__}"
            )
        self._rng = generator

    @property
    def clamped_gates(self) -> dict:
        return dict(self._clamp)

    def _family_kwargs(self) -> dict:
        return dict(self.variant, clamp=self._clamp) if self._clamp else self.variant

    # -- input checks ---------------------------------------------------------------------------
    def _state_shape(self, B, cell=False):
        width = self.hidden_size if cell else self.output_size
        return (self.num_layers * self.num_directions, B, width)

    def _parse_x(self, where, x):
        x = as_float_array(where, "x", x, self.dtype)
        D = self.input_size
        if x.ndim == 2:
            if x.shape[1] != D:
                raise ValueError(f"{where}: x must have shape (T, {D}) when unbatched, got {fmt_shape(x.shape)}")
            if x.shape[0] == 0:
                raise ValueError(f"{where}: x must have T >= 1, got shape {fmt_shape(x.shape)}")
            return x[:, None, :], True
        if x.ndim != 3 or x.shape[2] != D:
            want = f"(B, T, {D})" if self.batch_first else f"(T, B, {D})"
            raise ValueError(f"{where}: x must have shape {want}, got {fmt_shape(x.shape)}")
        T = x.shape[1] if self.batch_first else x.shape[0]
        if T == 0:  # B = 0 is allowed, as in PyTorch: empty outputs, no gradient contributions
            raise ValueError(f"{where}: x must have T >= 1, got shape {fmt_shape(x.shape)}")
        if self.batch_first:
            x = np.ascontiguousarray(x.transpose(1, 0, 2))
        return x, False

    def _parse_state(self, where, name, s, B, unbatched, cell=False):
        want = self._state_shape(B, cell)
        if s is None:
            return np.zeros(want, dtype=self.dtype)
        s = as_float_array(where, name, s, self.dtype)
        if unbatched:
            if s.shape != (want[0], want[2]):
                raise ValueError(
                    f"{where}: {name} must have shape {fmt_shape((want[0], want[2]))} "
                    f"for unbatched input, got {fmt_shape(s.shape)}"
                )
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

    # -- masks ----------------------------------------------------------------------------------
    def _dropout_mask(self, p: float, T: int, B: int, F: int) -> np.ndarray:
        """Inverted-dropout mask, (1, B, F) if variational else (T, B, F): 0 or 1/(1-p)."""
        keep = 1.0 - p
        shape = (1, B, F) if self.variational else (T, B, F)
        return (self._rng.random(shape) < keep).astype(self.dtype) / self.dtype.type(keep)

    def _parse_mask(self, where, mask, T, B, unbatched, lengths):
        """The step mask as (T, B) bool, or None; (B, T) with batch_first, (T,) unbatched."""
        if mask is None:
            return None
        if lengths is not None:
            raise ValueError(
                f"{where}: mask must be None when lengths is given (pass one of them: lengths [t < lengths[b]] "
                f"is the mask of right-padded sequences), got a mask and lengths {lengths!r}"
            )
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            raise TypeError(f"{where}: mask must be a boolean array (True = a step to process), got dtype {mask.dtype}")
        if unbatched:
            want = (T,)
        else:
            want = (B, T) if self.batch_first else (T, B)
        if mask.shape != want:
            raise ValueError(f"{where}: mask must have shape {fmt_shape(want)}, got {fmt_shape(mask.shape)}")
        if unbatched:
            return mask[:, None]
        return np.ascontiguousarray(mask.T) if self.batch_first else mask

    def _gate_dropout_mask(self, p: float, T: int, B: int, F: int) -> np.ndarray:
        """Per-gate inverted-dropout masks, (1 or T, B, G, F): one mask for each gate block."""
        keep = 1.0 - p
        shape = (1 if self.variational else T, B, self.gates, F)
        return (self._rng.random(shape) < keep).astype(self.dtype) / self.dtype.type(keep)

    def _step_masks(self, T: int, B: int, lengths, mask=None, first_layer=False) -> StepMasks | None:
        """Masks for one direction of one layer: lengths or a step mask (T, B) bool, zoneout, recurrent
        dropout, and with per-gate dropout masks the first layer's input dropout."""
        z_h, z_c = self.zoneout
        rec_p = self.recurrent_dropout if self.training else 0.0
        per_gate = self.dropout_masks == "per_gate"
        in_p = self.input_dropout if (self.training and per_gate and first_layer) else 0.0
        if lengths is None and mask is None and not (z_h or z_c or rec_p or in_p):
            return None
        if mask is not None:  # Keras: a masked step keeps both states and emits zeros (or the last output)
            m = mask.astype(self.dtype)[:, :, None]
            mk = StepMasks(update=m, update_c=m, out=output_mask(m, self.masked_output))
        elif lengths is not None:
            mk = StepMasks.from_lengths(lengths, T, self.dtype)
        else:
            mk = StepMasks()
        for z, attr, width in ((z_h, "update", self.output_size), (z_c, "update_c", self.hidden_size)):
            if z:
                if self.training:  # 1 = take the new value, with probability 1 - z
                    u = (self._rng.random((T, B, width)) >= z).astype(self.dtype)
                else:  # the expectation
                    u = np.full((T, 1, 1), 1.0 - z, dtype=self.dtype)
                prev = getattr(mk, attr)
                setattr(mk, attr, u if prev is None else u * prev)
        if rec_p:
            if per_gate:
                mk.recurrent = self._gate_dropout_mask(rec_p, T, B, self.output_size)
            else:
                mk.recurrent = self._dropout_mask(rec_p, T, B, self.output_size)
        if in_p:  # drawn for each direction, as Keras's two layers of a Bidirectional do
            mk.input = self._gate_dropout_mask(in_p, T, B, self.input_size)
        return mk

    def state_at(self, k: int) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """The state after the first k steps of the last forward pass, shaped like h_n (LSTM: (h, c)).

        Read from the forward's cache, so it is exactly the state the forward
        passed through (dropout masks and all): truncated BPTT with
        overlapping windows hands it to the next window. Unidirectional layers
        only (a reverse direction's state after k steps depends on the future).
        """
        where = f"{type(self).__name__}.state_at"
        if self.bidirectional:
            raise ValueError(f"{where}: needs a unidirectional layer, got bidirectional=True")
        cache = self._cache
        if cache is None:
            raise RuntimeError(f"{where}: no cache; run forward (with gradients enabled) first")
        T = cache.out_shape[0]
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= T:
            raise ValueError(f"{where}: k must be an int in [0, {T}], got {k!r}")
        h = np.stack([cc.h[k] for (cc,) in cache.cells])
        if cache.unbatched:
            h = h[:, 0]
        if not self._has_cell_state:
            return h
        c = np.stack([cc.c[k] for (cc,) in cache.cells])
        return h, (c[:, 0] if cache.unbatched else c)

    def last_dropout_masks(self) -> DropoutMasks:
        """The random masks of the last forward pass (dropout, recurrent dropout, zoneout, weight drop).

        Read from the forward's cache, so they are the masks the forward
        applied and the backward reuses; see ``DropoutMasks`` for their
        shapes. Needs a forward with gradients enabled.
        """
        cache = self._cache
        if cache is None:
            raise RuntimeError(
                f"{type(self).__name__}.last_dropout_masks: no cache; run forward (with gradients enabled) first"
            )

        def copy(a):
            return None if a is None else np.array(a, copy=True)

        def per_step(attr):
            return tuple(tuple(copy(getattr(m, attr, None)) for m in layer) for layer in cache.step_masks)

        z_h, z_c = cache.zoneout
        none = tuple((None,) * len(layer) for layer in cache.step_masks)
        return DropoutMasks(
            input=copy(cache.input_mask),
            output=tuple(copy(m) for m in cache.dropout_masks),
            recurrent=per_step("recurrent"),
            zoneout=per_step("update") if z_h else none,
            zoneout_c=per_step("update_c") if z_c else none,
            weight_hh=tuple(tuple(copy(m) for m in layer) for layer in cache.weight_masks),
        )

    # -- forward / backward ---------------------------------------------------------------------
    def forward(
        self,
        x: ArrayLike,
        hx: ArrayLike | tuple[ArrayLike, ArrayLike] | None = None,
        lengths: ArrayLike | None = None,
        mask: ArrayLike | None = None,
    ) -> tuple[np.ndarray, np.ndarray | tuple[np.ndarray, np.ndarray]]:
        """Run the stacked, possibly bidirectional recurrence. Returns (out, h_n); LSTM: (out, (h_n, c_n)).

        ``lengths`` (B,) ints: right-padded sequences (PyTorch's packed sequences).
        ``mask`` (T, B) bool, (B, T) with batch_first, (T,) unbatched: Keras's step mask; a step with
        False keeps the previous states (h and c) and emits zeros, or with ``masked_output="previous"``
        the last output (zeros before the first kept step), so left padding and holes work. The
        reverse direction reads the sequence and the mask reversed together (``x[::-1]``,
        ``mask[::-1]``), as Keras's Bidirectional does. Pass ``lengths`` or ``mask``, not both.
        """
        where = f"{type(self).__name__}.forward"
        x, unbatched = self._parse_x(where, x)
        T, B, _ = x.shape
        if self._has_cell_state:
            if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
                raise TypeError(f"{where}: hx must be a tuple (h0, c0), got {type(hx).__name__}")
            h0 = self._parse_state(where, "hx[0]", None if hx is None else hx[0], B, unbatched)
            c0 = self._parse_state(where, "hx[1]", None if hx is None else hx[1], B, unbatched, cell=True)
        else:
            h0 = self._parse_state(where, "hx", hx, B, unbatched)
        if unbatched and lengths is not None:
            raise ValueError(f"{where}: lengths must be None for unbatched input, got {lengths!r}")
        lengths = self._parse_lengths(where, lengths, T, B)
        mask = self._parse_mask(where, mask, T, B, unbatched, lengths)
        if self.go_backwards:  # Keras: read the sequence (and its mask) reversed, return outputs in that order
            if lengths is not None:
                mask, lengths = np.arange(T)[:, None] < lengths[None, :], None
            x = x[::-1]
            mask = None if mask is None else mask[::-1]

        need_cache = is_grad_enabled()
        self._cache = None  # free the last forward's cache before building this one
        train = self.training
        cache = _LayerCache(
            lengths=lengths,
            mask=mask,
            go_backwards=self.go_backwards,
            batch_first=self.batch_first,
            unbatched=unbatched,
            zoneout=self.zoneout,
        )
        h_n = np.empty_like(h0)
        c_n = np.empty_like(c0) if self._has_cell_state else None
        kwargs = self._family_kwargs()
        if train and self.input_dropout and self.dropout_masks == "shared":  # per gate: in the step masks
            cache.input_mask = self._dropout_mask(self.input_dropout, T, B, self.input_size)
            x = x * cache.input_mask
        layer_in = x
        for layer in range(self.num_layers):
            outs, layer_caches, wmasks, smasks = [], [], [], []
            for d, suffix in enumerate(self._suffixes()):
                idx = layer * self.num_directions + d
                params = self._cell_params(layer, suffix)
                wmask = None
                if train and self.weight_drop:
                    keep = 1.0 - self.weight_drop
                    w = params["weight_hh"]
                    wmask = (self._rng.random(w.shape) < keep).astype(self.dtype) / self.dtype.type(keep)
                    params = dict(params, weight_hh=w * wmask)
                state = (h0[idx], c0[idx]) if self._has_cell_state else h0[idx]
                xin = layer_in if d == 0 else _reverse(layer_in, lengths, mask)
                dmask = None if mask is None else (mask if d == 0 else mask[::-1])
                step_masks = self._step_masks(T, B, lengths, dmask, first_layer=layer == 0)
                out, state_T, cc = _kernels.forward(
                    self._family,
                    params,
                    np.ascontiguousarray(xin),
                    state,
                    masks=step_masks,
                    lengths=lengths,
                    need_cache=need_cache,
                    **kwargs,
                )
                outs.append(out if d == 0 else _reverse(out, lengths, mask))
                layer_caches.append(cc)
                wmasks.append(wmask)
                smasks.append(step_masks)
                if self._has_cell_state:
                    h_n[idx], c_n[idx] = state_T
                else:
                    h_n[idx] = state_T
            out = _merge(outs, self.merge_mode)
            cache.merged.append(tuple(outs) if self.merge_mode == "mul" and need_cache else None)
            drop = None
            if train and self.dropout > 0 and layer < self.num_layers - 1:
                drop = self._dropout_mask(self.dropout, T, B, out.shape[-1])
                out = out * drop
            cache.cells.append(layer_caches)
            cache.weight_masks.append(wmasks)
            cache.step_masks.append(smasks)
            cache.dropout_masks.append(drop)
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

    def backward(
        self, dout: ArrayLike | None, dh_n: ArrayLike | tuple[ArrayLike | None, ArrayLike | None] | None = None
    ) -> tuple[np.ndarray, np.ndarray | tuple[np.ndarray, np.ndarray]]:
        """Backpropagate the gradient of out (and of h_n) to the input and the initial state.

        Adds every parameter's gradient into ``self.grads``. Returns (dx, dhx)
        with dx shaped like x and dhx like hx; LSTM: (dx, (dh0, dc0)), and
        ``dh_n`` is the tuple (dh_n, dc_n), either part may be None.
        """
        where = f"{type(self).__name__}.backward"
        cache = self._cache
        if cache is None:
            if self._forward_ran:
                raise RuntimeError(
                    f"{where}: the last forward ran under no_grad(), so it kept no cache; "
                    "run forward again with gradients enabled"
                )
            raise RuntimeError(f"{where}: backward called before forward")
        T, B, _ = cache.out_shape
        dout = self._parse_dout(where, dout, cache)
        dh_T, dc_T = self._parse_dstate(where, dh_n, cache, B)
        Ho = self.output_size
        dh0 = np.zeros(self._state_shape(B), dtype=self.dtype)
        dc0 = np.zeros(self._state_shape(B, cell=True), dtype=self.dtype) if self._has_cell_state else None
        grads = self._own_grads
        lengths = cache.lengths
        d_layer_out = dout
        for layer in reversed(range(self.num_layers)):
            mask = cache.dropout_masks[layer]
            if mask is not None and d_layer_out is not None:
                d_layer_out = d_layer_out * mask
            d_in = None
            dparts = _merge_backward(d_layer_out, self.merge_mode, self.num_directions, Ho, cache.merged[layer])
            for d, suffix in enumerate(self._suffixes()):
                idx = layer * self.num_directions + d
                dpart = dparts[d]
                if dpart is not None and d == 1:
                    dpart = np.ascontiguousarray(_reverse(dpart, lengths, cache.mask))
                if self._has_cell_state:
                    dstate = (None if dh_T is None else dh_T[idx], None if dc_T is None else dc_T[idx])
                else:
                    dstate = None if dh_T is None else dh_T[idx]
                params = self._cell_params(layer, suffix)
                wmask = cache.weight_masks[layer][d]
                if wmask is None and self._family.adds_into_grads:
                    into = {name: grads[f"{name}_l{layer}{suffix}"] for name in params}  # added in place
                    _, dx, ds0 = _kernels.backward(
                        self._family, params, cache.cells[layer][d], dpart, dstate, grads_out=into
                    )
                else:
                    if wmask is not None:
                        params = dict(params, weight_hh=params["weight_hh"] * wmask)
                    g, dx, ds0 = _kernels.backward(self._family, params, cache.cells[layer][d], dpart, dstate)
                    if wmask is not None:  # W_eff = W_hh * mask
                        g["weight_hh"] *= wmask
                    for name, val in g.items():
                        grads[f"{name}_l{layer}{suffix}"] += val
                if d == 1:
                    dx = _reverse(dx, lengths, cache.mask)
                d_in = dx if d_in is None else d_in + dx
                if self._has_cell_state:
                    dh0[idx], dc0[idx] = ds0
                else:
                    dh0[idx] = ds0
            d_layer_out = d_in
        dx = d_layer_out
        if cache.input_mask is not None:
            dx = dx * cache.input_mask
        if cache.go_backwards:
            dx = dx[::-1]
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
            return tuple(
                None if s is None else self._parse_state(where, n, s, B, cache.unbatched, cell=c)
                for n, s, c in zip(("dh_n[0]", "dh_n[1]"), dh_n, (False, True))
            )
        return self._parse_state(where, "dh_n", dh_n, B, cache.unbatched), None

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        family_defaults = self._family.defaults()
        for k, v in self.variant.items():
            if k in ("activation", "recurrent_activation") and v == family_defaults[k]:
                continue  # Keras's options: shown only when set
            s += f", {k}={v!r}"
        defaults = {
            "bias": True,
            "batch_first": False,
            "dropout": 0.0,
            "bidirectional": False,
            "input_dropout": 0.0,
            "recurrent_dropout": 0.0,
            "variational": False,
            "weight_drop": 0.0,
            "proj_size": 0,
            "peephole": False,
            "masked_output": "zeros",
            "go_backwards": False,
            "merge_mode": "concat",
            "dropout_masks": "shared",
        }
        for k, default in defaults.items():
            if getattr(self, k) != default:
                s += f", {k}={getattr(self, k)!r}"
        if any(self.zoneout):
            s += f", zoneout={self.zoneout if self._has_cell_state else self.zoneout[0]!r}"
        if self.dtype != np.float32:
            s += f", dtype={self.dtype}"
        return s


class RNN(RecurrentLayer, family="rnn"):
    """Elman RNN layer, h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu).

    Constructor and parameters as ``torch.nn.RNN``; the keyword-only
    regularisers are described in this module's docstring; the maths is in
    ``rnnkit.cells.rnn``.

    Example
    -------
    >>> import numpy as np, rnnkit
    >>> layer = rnnkit.RNN(8, 16, nonlinearity="relu", seed=0)
    >>> out, h_n = layer.forward(np.ones((5, 3, 8), np.float32))
    >>> out.shape, h_n.shape
    ((5, 3, 16), (1, 3, 16))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        input_dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        variational: bool = False,
        weight_drop: float = 0.0,
        zoneout: float | tuple[float, float] = 0.0,
        masked_output: str = "zeros",
        go_backwards: bool = False,
        merge_mode: str = "concat",
        dropout_masks: str = "shared",
        dtype: DTypeLike = np.float32,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            input_dropout=input_dropout,
            recurrent_dropout=recurrent_dropout,
            variational=variational,
            weight_drop=weight_drop,
            zoneout=zoneout,
            masked_output=masked_output,
            go_backwards=go_backwards,
            merge_mode=merge_mode,
            dropout_masks=dropout_masks,
            dtype=dtype,
            seed=seed,
            variant={"nonlinearity": nonlinearity},
        )

    @property
    def nonlinearity(self) -> str:
        return self.variant["nonlinearity"]


class GRU(RecurrentLayer, family="gru"):
    """Gated recurrent unit layer; ``torch.nn.GRU`` by default, with the classic variants as options.

    ``reset_after=True``: r multiplies (h W_hn^T + b_hn), PyTorch's and cuDNN's
    convention. ``reset_after=False``: r multiplies h before W_hn, as in Cho et
    al. 2014 and CS224N. ``reset_gate=False``: the simplified GRU with the
    update gate only (course notes); then G = 2 and rows are stacked z, n.
    ``activation`` (the candidate's, tanh) and ``recurrent_activation`` (r and z's,
    sigmoid) take Keras's choices: sigmoid, hard_sigmoid (Keras 3's relu6(x + 3) / 6),
    tanh, relu, linear. Equations and backward: ``rnnkit.cells.gru``.

    Example
    -------
    >>> import numpy as np, rnnkit
    >>> layer = rnnkit.GRU(8, 16, reset_after=False, seed=0)
    >>> out, h_n = layer.forward(np.ones((5, 3, 8), np.float32))
    >>> layer.params["weight_hh_l0"].shape
    (48, 16)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        reset_after: bool = True,
        reset_gate: bool = True,
        activation: str = "tanh",
        recurrent_activation: str = "sigmoid",
        input_dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        variational: bool = False,
        weight_drop: float = 0.0,
        zoneout: float | tuple[float, float] = 0.0,
        masked_output: str = "zeros",
        go_backwards: bool = False,
        merge_mode: str = "concat",
        dropout_masks: str = "shared",
        dtype: DTypeLike = np.float32,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        variant = {
            "reset_after": reset_after,
            "reset_gate": reset_gate,
            "activation": activation,
            "recurrent_activation": recurrent_activation,
        }
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            input_dropout=input_dropout,
            recurrent_dropout=recurrent_dropout,
            variational=variational,
            weight_drop=weight_drop,
            zoneout=zoneout,
            masked_output=masked_output,
            go_backwards=go_backwards,
            merge_mode=merge_mode,
            dropout_masks=dropout_masks,
            dtype=dtype,
            seed=seed,
            variant=variant,
        )


class LSTM(RecurrentLayer, family="lstm"):
    """Long short-term memory layer, as ``torch.nn.LSTM`` (gate order i, f, g, o), ``proj_size`` included.

    ``hx`` and the returned state are tuples (h, c). ``peephole=True`` adds
    Gers and Schmidhuber's peephole connections. ``activation`` (of g and of c_t, tanh)
    and ``recurrent_activation`` (of i, f, o, sigmoid) take Keras's choices: sigmoid,
    hard_sigmoid (Keras 3's relu6(x + 3) / 6), tanh, relu, linear. Equations and backward:
    ``rnnkit.cells.lstm``.

    Example
    -------
    >>> import numpy as np, rnnkit
    >>> layer = rnnkit.LSTM(8, 16, num_layers=2, proj_size=4, seed=0)
    >>> out, (h_n, c_n) = layer.forward(np.ones((5, 3, 8), np.float32))
    >>> dx, (dh0, dc0) = layer.backward(np.ones_like(out))
    >>> out.shape, h_n.shape, c_n.shape
    ((5, 3, 4), (2, 3, 4), (2, 3, 16))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        *,
        peephole: bool = False,
        activation: str = "tanh",
        recurrent_activation: str = "sigmoid",
        input_dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        variational: bool = False,
        weight_drop: float = 0.0,
        zoneout: float | tuple[float, float] = 0.0,
        masked_output: str = "zeros",
        go_backwards: bool = False,
        merge_mode: str = "concat",
        dropout_masks: str = "shared",
        dtype: DTypeLike = np.float32,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            input_dropout=input_dropout,
            recurrent_dropout=recurrent_dropout,
            variational=variational,
            weight_drop=weight_drop,
            zoneout=zoneout,
            proj_size=proj_size,
            peephole=peephole,
            masked_output=masked_output,
            go_backwards=go_backwards,
            merge_mode=merge_mode,
            dropout_masks=dropout_masks,
            dtype=dtype,
            seed=seed,
            variant={"activation": activation, "recurrent_activation": recurrent_activation},
        )


class MGU(RecurrentLayer, family="mgu"):
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

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        input_dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        variational: bool = False,
        weight_drop: float = 0.0,
        zoneout: float | tuple[float, float] = 0.0,
        masked_output: str = "zeros",
        go_backwards: bool = False,
        merge_mode: str = "concat",
        dropout_masks: str = "shared",
        dtype: DTypeLike = np.float32,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            input_dropout=input_dropout,
            recurrent_dropout=recurrent_dropout,
            variational=variational,
            weight_drop=weight_drop,
            zoneout=zoneout,
            masked_output=masked_output,
            go_backwards=go_backwards,
            merge_mode=merge_mode,
            dropout_masks=dropout_masks,
            dtype=dtype,
            seed=seed,
        )


def recurrent_layer(name: str | CellFamily, input_size: int, hidden_size: int, **kw: Any) -> RecurrentLayer:
    """The sequence layer of the registered cell family ``name``, e.g. ``recurrent_layer("gru", 8, 16)``.

    A family with a named class (RNN, GRU, LSTM, MGU, LayerNormLSTM, LayerNormGRU) gets an
    instance of it; any other registered family a ``RecurrentLayer`` bound to it. ``kw`` are the
    layer's keyword arguments (num_layers, bidirectional, dropout, ...) and the family's own
    options (``CellFamily.options``, e.g. nonlinearity="relu").

    >>> import numpy as np
    >>> layer = recurrent_layer("gru", 3, 4, num_layers=2, reset_after=False, seed=0)
    >>> type(layer).__name__, layer.gates, layer.forward(np.ones((5, 2, 3), np.float32))[0].shape
    ('GRU', 3, (5, 2, 4))
    """
    family = registry.get(name)
    cls = _NAMED_LAYERS.get(family.name)
    if cls is not None:
        return cls(input_size, hidden_size, **kw)
    variant = {o.name: kw.pop(o.name) for o in family.options if o.name in kw}
    return RecurrentLayer(input_size, hidden_size, family=family, variant=variant, **kw)
