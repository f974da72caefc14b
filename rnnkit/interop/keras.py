"""Convert rnnkit recurrent weights to and from Keras 3 (``LSTM``, ``GRU``, ``SimpleRNN`` and their cells).

Keras stores each weight transposed with respect to PyTorch (and rnnkit),
orders the GRU's gates differently, and keeps fewer biases. For one layer
and one direction, with H = hidden_size (Keras' ``units``) and D = input size:

    ===========================  ==================================  ==============================
    rnnkit (PyTorch layout)      Keras 3 ``get_weights()``           bias
    ===========================  ==================================  ==============================
    LSTM  rows i, f, g, o        kernel (D, 4H), recurrent_kernel    bias (4H,) = b_ih + b_hh
                                 (H, 4H), columns i, f, c, o
    GRU(reset_after=True)        kernel (D, 3H), recurrent_kernel    bias (2, 3H): row 0 = b_ih,
          rows r, z, n           (H, 3H), columns z, r, h            row 1 = b_hh (both z, r, h)
    GRU(reset_after=False)       as above                            bias (3H,) = b_ih + b_hh
    RNN (tanh or relu)           SimpleRNN: kernel (D, H),           bias (H,) = b_ih + b_hh
                                 recurrent_kernel (H, H)
    ===========================  ==================================  ==============================

    kernel = W_ih[perm].T    recurrent_kernel = W_hh[perm].T    (perm reorders gate blocks;
                                                                 GRU: r, z, n -> z, r, h)

Where Keras has one bias, rnnkit's two add up to it: b_ih + b_hh enters
every pre-activation it touches as one sum (for GRU with reset_after=False
b_hn stays outside r * (.)), so the map is exact. Going back, the Keras bias
becomes ``bias_ih`` and ``bias_hh`` is set to zero: the function is the same,
the split between the two is not recoverable. GRU(reset_after=True) keeps
both biases, because b_hn sits inside r * (h W_hn^T + b_hn) there.

Both libraries then compute the same thing: Keras' GRU
``h = z * h_prev + (1 - z) * hh`` is rnnkit's ``h' = (1 - z) * n + z * h``.
Assumed, and checked when a Keras layer object is given: the layer's
activations (Keras's ``activation`` is rnnkit's ``activation``, or for
SimpleRNN its ``nonlinearity``; ``recurrent_activation`` the same name in
both; defaults tanh and sigmoid), ``use_bias`` equal to rnnkit's ``bias``, ``units``
equal to ``hidden_size``, and for GRU the same ``reset_after``. No Keras
layer has the layout of GRU(reset_gate=False), MGU, LSTM(proj_size > 0) or
LSTM(peephole=True): these raise ValueError. Layers with zoneout or clamped
gates compute another function than Keras' even in eval mode: refused too,
unless ``allow_variants=True`` (the weights themselves map as above). The
train-time dropouts change nothing in eval mode; :func:`keras_layer` and
:func:`keras_options` / :func:`from_keras` carry their settings (rates, one
mask per sequence, per-gate masks), not the random masks themselves.

Layers and directions. Keras stacks layers as separate layer objects, so a
stacked rnnkit layer converts one level at a time: pass ``layer_index=k``
(required when num_layers > 1). A bidirectional rnnkit layer corresponds to
``keras.layers.Bidirectional`` (merge_mode "concat"): its ``get_weights()`` is
the forward layer's list followed by the backward layer's, 6 arrays (4
without bias). Keras is batch-major, (B, T, D): give rnnkit the same array
with ``batch_first=True`` or transpose it.

Keras is imported only by :func:`keras_layer`; the conversions work on
plain arrays.

Example
-------
>>> import numpy as np, rnnkit
>>> from rnnkit.interop.keras import to_keras_weights, from_keras_weights
>>> gru = rnnkit.GRU(3, 4, seed=0)
>>> kernel, recurrent_kernel, bias = to_keras_weights(gru)
>>> kernel.shape, recurrent_kernel.shape, bias.shape
((3, 12), (4, 12), (2, 12))
>>> twin = rnnkit.GRU(3, 4, seed=1)
>>> from_keras_weights(twin, [kernel, recurrent_kernel, bias])
>>> bool(np.array_equal(twin.params["weight_hh_l0"], gru.params["weight_hh_l0"]))
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from rnnkit.cells.registry import ACTIVATION_CHOICES, GATE_ACTIVATION_CHOICES
from rnnkit.layers.cell import StepCell as _Cell
from rnnkit.layers.recurrent import RecurrentLayer

__all__ = ["to_keras_weights", "from_keras_weights", "keras_layer", "keras_class_name", "keras_options", "from_keras"]

# Keras gate block j holds rnnkit gate block _PERM[kind][j].
_PERM = {
    "SimpleRNN": [0],
    "LSTM": [0, 1, 2, 3],  # i, f, c, o  =  i, f, g, o
    "GRU": [1, 0, 2],  # z, r, h     <- r, z, n
}


# -- what the rnnkit layer corresponds to --------------------------------------------------------
def _check_layer(where: str, layer) -> None:
    if not isinstance(layer, (RecurrentLayer, _Cell)):
        raise TypeError(f"{where}: layer must be an rnnkit RNN, GRU or LSTM layer or cell, got {type(layer).__name__}")


def _kind(where: str, layer, allow_variants: bool = False) -> str:
    """'LSTM', 'GRU' or 'SimpleRNN': the Keras family that computes what ``layer`` computes."""
    if getattr(layer, "proj_size", 0):
        raise ValueError(f"{where}: layer.proj_size must be 0: Keras' LSTM has no projection, got {layer.proj_size}")
    if getattr(layer, "peephole", False):
        raise ValueError(f"{where}: layer.peephole must be False: Keras' LSTM has no peephole connections, got True")
    if not allow_variants:
        if any(getattr(layer, "zoneout", ())):
            raise ValueError(
                f"{where}: layer.zoneout must be 0 (zoneout mixes in the previous state even in eval "
                f"mode; Keras has none), got {layer.zoneout}; pass allow_variants=True to convert anyway"
            )
        if getattr(layer, "clamped_gates", None):
            raise ValueError(
                f"{where}: layer must have no clamped gates (Keras cannot clamp gates), got "
                f"{layer.clamped_gates}; pass allow_variants=True to convert anyway"
            )
    family = layer.family
    if family.keras_twin is None:
        raise ValueError(f"{where}: layer must be an RNN, GRU or LSTM; Keras has no {type(layer).__name__}")
    if family.gates(layer.variant) != family.gates():
        raise ValueError(
            f"{where}: layer must have Keras' gate blocks {family.gates()}; Keras has no {type(layer).__name__} "
            f"with {', '.join(f'{k}={v!r}' for k, v in layer.variant.items() if v != family.defaults()[k])} "
            f"({family.num_gates(layer.variant)} gate blocks)"
        )
    return family.keras_twin


def keras_class_name(layer: RecurrentLayer | _Cell) -> str:
    """Name of the Keras 3 class equivalent to ``layer``: 'LSTM', 'GRU', 'SimpleRNN' or their '...Cell'.

    >>> import rnnkit
    >>> keras_class_name(rnnkit.RNN(2, 3)), keras_class_name(rnnkit.GRUCell(2, 3))
    ('SimpleRNN', 'GRUCell')
    """
    where = "keras_class_name"
    _check_layer(where, layer)
    return _kind(where, layer) + ("Cell" if isinstance(layer, _Cell) else "")


def _two_biases(layer) -> bool:
    """Keras keeps b_ih and b_hh apart only for GRU(reset_after=True)."""
    return layer.bias and layer.variant.get("reset_after", False) is True


def _resolve_index(where: str, layer, layer_index) -> int | None:
    """The stacked level to convert; None for a cell."""
    if isinstance(layer, _Cell):
        if layer_index is not None:
            raise ValueError(f"{where}: layer_index must be None for a cell, got {layer_index!r}")
        return None
    L = layer.num_layers
    if layer_index is None:
        if L > 1:
            raise ValueError(
                f"{where}: layer_index must be given for a layer with num_layers={L}: Keras stacks "
                f"one layer object per level, so convert each with layer_index=0..{L - 1}"
            )
        return 0
    if isinstance(layer_index, bool) or not isinstance(layer_index, (int, np.integer)):
        raise TypeError(f"{where}: layer_index must be an int or None, got {type(layer_index).__name__}")
    if not 0 <= layer_index < L:
        raise ValueError(f"{where}: layer_index must be in [0, {L - 1}] for num_layers={L}, got {layer_index}")
    return int(layer_index)


def _names(layer, index: int | None) -> list[dict]:
    """Per direction, rnnkit's parameter names for the four roles."""
    roles = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    if index is None:
        return [{r: r for r in roles}]
    return [{r: f"{r}_l{index}{s}" for r in roles} for s in layer._suffixes()]


def _input_size(layer, index: int | None) -> int:
    if index is None or index == 0:
        return layer.input_size
    return layer.layer_output_size


def _blocks(a: np.ndarray, order, H: int) -> np.ndarray:
    """Reorder the gate blocks (H rows each) along axis 0 of ``a``."""
    return np.concatenate([a[g * H : (g + 1) * H] for g in order], axis=0)


# -- rnnkit -> Keras ------------------------------------------------------------------------------
def to_keras_weights(
    layer: RecurrentLayer | _Cell, *, layer_index: int | None = None, allow_variants: bool = False
) -> list[np.ndarray]:
    """Return ``layer``'s weights as the list a Keras 3 layer's ``set_weights`` takes.

    [kernel (D, G*H), recurrent_kernel (H, G*H), bias], the bias shaped as in
    the module table ((2, 3H) for GRU(reset_after=True), else (G*H,)) and
    left out when ``bias=False``; for a bidirectional layer the forward list
    then the backward one (``keras.layers.Bidirectional``). Stacked layers:
    one level per call, ``layer_index=k``. Arrays are new, in the layer's
    dtype. ``allow_variants``: see the module docstring (zoneout, clamped gates).

    >>> import rnnkit
    >>> [w.shape for w in to_keras_weights(rnnkit.LSTM(3, 2, bidirectional=True))]
    [(3, 8), (2, 8), (8,), (3, 8), (2, 8), (8,)]
    """
    where = "to_keras_weights"
    _check_layer(where, layer)
    kind = _kind(where, layer, allow_variants)
    index = _resolve_index(where, layer, layer_index)
    perm, H, params = _PERM[kind], layer.hidden_size, layer.params
    out = []
    for n in _names(layer, index):
        out.append(np.ascontiguousarray(_blocks(params[n["weight_ih"]], perm, H).T))  # (D, G*H)
        out.append(np.ascontiguousarray(_blocks(params[n["weight_hh"]], perm, H).T))  # (H, G*H)
        if layer.bias:
            b_ih, b_hh = params[n["bias_ih"]], params[n["bias_hh"]]
            if _two_biases(layer):
                out.append(np.stack([_blocks(b_ih, perm, H), _blocks(b_hh, perm, H)]))  # (2, 3H)
            else:
                out.append(_blocks(b_ih + b_hh, perm, H))  # (G*H,)
    return out


# -- Keras -> rnnkit ------------------------------------------------------------------------------
def _config_of(where: str, obj, layer, kind: str) -> None:
    """Check that the Keras layer (or cell) ``obj`` computes what ``layer`` computes."""
    name = type(obj).__name__
    want = kind + ("Cell" if isinstance(layer, _Cell) else "")
    if name != want:
        raise ValueError(
            f"{where}: the Keras layer must be a {want} to match rnnkit {type(layer).__name__}, got {name}"
        )
    cfg = obj.get_config()
    act = layer.variant.get("nonlinearity", layer.variant.get("activation", "tanh"))
    expected = {"units": layer.hidden_size, "activation": act, "use_bias": layer.bias}
    if kind != "SimpleRNN":
        expected["recurrent_activation"] = layer.variant.get("recurrent_activation", "sigmoid")
    if kind == "GRU":
        expected["reset_after"] = layer.variant["reset_after"]
    for key, val in expected.items():
        if cfg.get(key) != val:
            raise ValueError(
                f"{where}: the Keras {name}'s {key} must be {val!r} to match rnnkit "
                f"{type(layer).__name__}, got {cfg.get(key)!r}"
            )


def _keras_arrays(where: str, weights, layer, kind: str) -> list:
    """Accept a Keras layer object (checked, then ``get_weights()``) or a sequence of arrays."""
    if hasattr(weights, "get_weights") and hasattr(weights, "get_config"):
        obj = weights
        if type(obj).__name__ == "Bidirectional":
            if not getattr(layer, "bidirectional", False):
                raise ValueError(
                    f"{where}: a Keras Bidirectional layer needs a layer built with "
                    f"bidirectional=True, got bidirectional=False"
                )
            for part in (obj.forward_layer, obj.backward_layer):
                _config_of(where, part, layer, kind)
        else:
            if getattr(layer, "bidirectional", False):
                raise ValueError(
                    f"{where}: a bidirectional layer needs a keras.layers.Bidirectional, got a {type(obj).__name__}"
                )
            _config_of(where, obj, layer, kind)
        weights = obj.get_weights()
        if not weights:
            raise ValueError(
                f"{where}: the Keras {type(obj).__name__} has no weights yet; build it "
                f"(layer.build((None, None, D))) or call it once first"
            )
    if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence):
        raise TypeError(f"{where}: weights must be a list of arrays or a Keras layer, got {type(weights).__name__}")
    arrays = []
    for i, w in enumerate(weights):
        if hasattr(w, "detach"):
            w = w.detach().cpu().numpy()
        w = np.asarray(w)
        if w.dtype.kind not in "fiu":
            raise TypeError(f"{where}: weights[{i}] must hold real numbers, got dtype {w.dtype}")
        arrays.append(w)
    return arrays


def _bias_hint(kind: str, got: tuple, H: int) -> str:
    if kind == "GRU" and got == (3 * H,):
        return " (a bias of shape (3H,) is Keras GRU(reset_after=False): build the rnnkit GRU with reset_after=False)"
    if kind == "GRU" and got == (2, 3 * H):
        return " (a bias of shape (2, 3H) is Keras GRU(reset_after=True): build the rnnkit GRU with reset_after=True)"
    return ""


def from_keras_weights(
    layer: RecurrentLayer | _Cell, weights: Any, *, layer_index: int | None = None, allow_variants: bool = False
) -> None:
    """Copy Keras 3 weights into ``layer`` in place: the inverse of :func:`to_keras_weights`.

    ``weights`` is the list from a Keras layer's ``get_weights()`` or the
    Keras layer (or ``Bidirectional``, or cell) itself, whose configuration is
    then checked too (units, activation, recurrent_activation, use_bias,
    reset_after). Where Keras has one bias, it becomes ``bias_ih`` and
    ``bias_hh`` is zeroed. Shapes are checked before anything is written;
    errors name the array, the expected shape and the shape received.
    ``allow_variants``: see the module docstring (zoneout, clamped gates).

    >>> import numpy as np, rnnkit
    >>> rng = np.random.default_rng(0)
    >>> rnn = rnnkit.RNN(3, 2)
    >>> from_keras_weights(rnn, [rng.normal(size=(3, 2)), rng.normal(size=(2, 2)), np.ones(2)])
    >>> rnn.params["bias_ih_l0"], rnn.params["bias_hh_l0"]
    (array([1., 1.], dtype=float32), array([0., 0.], dtype=float32))
    """
    where = "from_keras_weights"
    _check_layer(where, layer)
    kind = _kind(where, layer, allow_variants)
    index = _resolve_index(where, layer, layer_index)
    arrays = _keras_arrays(where, weights, layer, kind)
    perm, H, G, D = _PERM[kind], layer.hidden_size, layer._num_gates(), _input_size(layer, index)
    inverse = np.argsort(perm)  # rnnkit block i = Keras block inverse[i]
    names = _names(layer, index)
    roles = [("kernel", (D, G * H)), ("recurrent_kernel", (H, G * H))]
    if layer.bias:
        roles.append(("bias", (2, G * H) if _two_biases(layer) else (G * H,)))
    if len(arrays) != len(roles) * len(names):
        parts = [r for r, _ in roles]
        if len(names) == 2:
            parts = [f"{r} ({d})" for d in ("forward", "backward") for r in parts]
        raise ValueError(
            f"{where}: weights must have {len(parts)} arrays for {type(layer).__name__}"
            f"(bias={layer.bias}{', bidirectional' if len(names) == 2 else ''}): "
            f"{', '.join(parts)}; got {len(arrays)}"
        )
    state = {}
    for d, n in enumerate(names):
        chunk = arrays[d * len(roles) : (d + 1) * len(roles)]
        for i, ((role, shape), a) in enumerate(zip(roles, chunk)):
            if a.shape != shape:
                hint = _bias_hint(kind, a.shape, H) if role == "bias" else ""
                if not hint and a.shape == shape[::-1]:
                    hint = " (it looks transposed: PyTorch layout? use rnnkit.interop.torch)"
                label = f"weights[{d * len(roles) + i}] ({role}{', backward' if d else ''})"
                raise ValueError(f"{where}: {label} must have shape {shape}, got {a.shape}{hint}")
        state[n["weight_ih"]] = _blocks(chunk[0].T, inverse, H)
        state[n["weight_hh"]] = _blocks(chunk[1].T, inverse, H)
        if layer.bias:
            b = chunk[2]
            if _two_biases(layer):
                state[n["bias_ih"]], state[n["bias_hh"]] = _blocks(b[0], inverse, H), _blocks(b[1], inverse, H)
            else:
                state[n["bias_ih"]], state[n["bias_hh"]] = _blocks(b, inverse, H), np.zeros_like(b)
    layer.load_state_dict(state, strict=False)  # checks finiteness, copies in place, casts to the layer's dtype


# -- building the Keras layer ---------------------------------------------------------------------
_RESERVED = ("units", "activation", "recurrent_activation", "use_bias", "reset_after", "go_backwards")


def keras_layer(layer: RecurrentLayer | _Cell, *, layer_index: int | None = None, **kwargs: Any) -> Any:
    """Build the Keras 3 layer equivalent to ``layer`` (one level of it), with the weights set.

    An rnnkit RNN/GRU/LSTM becomes ``keras.layers.SimpleRNN/GRU/LSTM`` with
    ``return_sequences=True, return_state=True`` (rnnkit returns both);
    bidirectional ones are wrapped in ``keras.layers.Bidirectional``; cells
    become Keras cells. The dtype is the layer's. ``kwargs`` go to the Keras
    constructor (``return_state=False``, ``name=...``), except those that
    decide the maths (units, activation, recurrent_activation, use_bias,
    reset_after). Stacked layers: one level per call, ``layer_index=k``.
    Layers with zoneout or clamped gates are refused: Keras computes otherwise.
    Imports keras (set KERAS_BACKEND before the first import).

    >>> import rnnkit
    >>> k = keras_layer(rnnkit.GRU(3, 4, reset_after=False))
    >>> type(k).__name__, k.reset_after, [w.shape for w in k.get_weights()]
    ('GRU', False, [(3, 12), (4, 12), (12,)])
    """
    where = "keras_layer"
    _check_layer(where, layer)
    kind = _kind(where, layer)
    index = _resolve_index(where, layer, layer_index)
    bad = sorted(set(kwargs) & set(_RESERVED))
    if bad:
        raise TypeError(
            f"{where}: {bad} follow from the rnnkit layer and cannot be passed; "
            f"got {', '.join(f'{k}={kwargs[k]!r}' for k in bad)}"
        )
    weights = to_keras_weights(layer, layer_index=index)
    import keras

    is_cell = isinstance(layer, _Cell)
    dtype = kwargs.pop("dtype", layer.dtype.name)
    kw = {
        "units": layer.hidden_size,
        "use_bias": layer.bias,
        "dtype": dtype,
        "activation": layer.variant.get("nonlinearity", layer.variant.get("activation", "tanh")),
    }
    if kind != "SimpleRNN":
        kw["recurrent_activation"] = layer.variant.get("recurrent_activation", "sigmoid")
    if kind == "GRU":
        kw["reset_after"] = layer.variant["reset_after"]
    if not is_cell:
        kw.update(return_sequences=True, return_state=True)
        # a masked step emits zeros ("zeros") or repeats the last output ("previous")
        kw.update(go_backwards=layer.go_backwards, zero_output_for_mask=layer.masked_output == "zeros")
        # train-time dropouts: Keras draws one mask per sequence (rnnkit's variational form); with a
        # recurrent dropout, or implementation=1, one mask per gate
        kw.update(dropout=layer.input_dropout, recurrent_dropout=layer.recurrent_dropout)
        if kind != "SimpleRNN" and layer.dropout_masks == "per_gate":
            kw["implementation"] = 1
    kw.update(kwargs)
    built = getattr(keras.layers, kind + ("Cell" if is_cell else ""))(**kw)
    if getattr(layer, "bidirectional", False):
        built = keras.layers.Bidirectional(built, merge_mode=layer.merge_mode, dtype=dtype)
    D = _input_size(layer, index)
    built.build((None, D) if is_cell else (None, None, D))
    built.set_weights(weights)
    return built


def keras_options(klayer: Any) -> dict:
    """The rnnkit layer settings of a Keras 3 ``LSTM`` / ``GRU`` / ``SimpleRNN`` (or ``Bidirectional``).

    Returns keywords for ``rnnkit.layers.recurrent_layer(name, input_size, hidden_size, **kw)`` plus
    ``"name"`` and ``"hidden_size"``: the family, ``units``, ``use_bias``, ``batch_first=True``
    (Keras is batch-major), ``go_backwards``, ``masked_output`` (``zero_output_for_mask``),
    ``bidirectional`` and ``merge_mode``, the GRU's ``reset_after`` or the SimpleRNN's activation,
    and the dropouts: Keras's ``dropout`` (on the layer's input) becomes ``input_dropout``, its
    ``recurrent_dropout`` rnnkit's, both with ``variational=True`` (Keras draws one mask per
    sequence and reuses it at every step), and ``dropout_masks="per_gate"`` where Keras draws one
    mask per gate (its ``implementation=1``, forced by any recurrent dropout), else "shared".
    Activations are carried over where rnnkit has them (sigmoid, hard_sigmoid, tanh, relu,
    linear; for the gates sigmoid and hard_sigmoid); others are refused (ValueError naming them).
    """
    where = "keras_options"
    out: dict = {"bidirectional": False}
    inner = klayer
    if type(klayer).__name__ == "Bidirectional":
        inner = klayer.forward_layer
        out.update(bidirectional=True, merge_mode=klayer.merge_mode)
        if klayer.merge_mode not in ("concat", "sum", "mul", "ave"):
            raise ValueError(
                f"{where}: the Bidirectional's merge_mode must be 'concat', 'sum', 'mul' or 'ave', "
                f"got {klayer.merge_mode!r}"
            )
    kind = type(inner).__name__
    names = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "rnn"}
    if kind not in names:
        raise TypeError(f"{where}: klayer must be a Keras LSTM, GRU, SimpleRNN or Bidirectional, got {kind}")
    cfg = inner.get_config()
    out.update(name=names[kind], hidden_size=int(cfg["units"]), bias=bool(cfg["use_bias"]), batch_first=True)
    if not out["bidirectional"]:
        out["go_backwards"] = bool(cfg.get("go_backwards", False))
    out["masked_output"] = "zeros" if cfg.get("zero_output_for_mask", False) or out["bidirectional"] else "previous"
    keys = {"activation": ACTIVATION_CHOICES}
    if kind != "SimpleRNN":
        keys["recurrent_activation"] = GATE_ACTIVATION_CHOICES
    for key, names_ok in keys.items():
        if cfg.get(key) not in names_ok:
            raise ValueError(f"{where}: the Keras {kind}'s {key} must be one of {names_ok}, got {cfg.get(key)!r}")
    if kind == "SimpleRNN":
        out["nonlinearity"] = cfg["activation"]
    else:
        out.update(activation=cfg["activation"], recurrent_activation=cfg["recurrent_activation"])
        if kind == "GRU":
            out["reset_after"] = bool(cfg["reset_after"])
    p_in, p_rec = float(cfg.get("dropout", 0.0)), float(cfg.get("recurrent_dropout", 0.0))
    out.update(input_dropout=p_in, recurrent_dropout=p_rec, variational=bool(p_in or p_rec))
    per_gate = kind != "SimpleRNN" and getattr(inner.cell, "implementation", 2) == 1
    out["dropout_masks"] = "per_gate" if per_gate else "shared"
    return out


def from_keras(klayer: Any, *, dtype: DTypeLike = np.float32) -> RecurrentLayer | _Cell:
    """The rnnkit layer equivalent to a built Keras 3 recurrent layer: its settings (``keras_options``)
    and its weights (``from_keras_weights``).

    >>> import os; os.environ.setdefault("KERAS_BACKEND", "torch")
    'torch'
    >>> import keras
    >>> k = keras.layers.LSTM(4, dropout=0.1, recurrent_dropout=0.2)
    >>> k.build((None, None, 3))
    >>> layer = from_keras(k)
    >>> type(layer).__name__, layer.input_dropout, layer.recurrent_dropout, layer.dropout_masks
    ('LSTM', 0.1, 0.2, 'per_gate')
    """
    from rnnkit.layers import recurrent_layer

    opts = keras_options(klayer)
    weights = klayer.get_weights()
    if not weights:
        raise ValueError(f"from_keras: klayer must be built (it has no weights yet), got {type(klayer).__name__}")
    name, hidden = opts.pop("name"), opts.pop("hidden_size")
    layer = recurrent_layer(name, int(weights[0].shape[0]), hidden, dtype=dtype, **opts)
    from_keras_weights(layer, klayer)
    return layer
