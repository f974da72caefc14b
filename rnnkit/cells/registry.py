"""The one registry of recurrent cell families: what a cell *is*, written down once.

A cell family is its maths module (``forward``/``backward`` over whole
sequences, the contract of ``rnnkit.cells.common``) plus one
:class:`CellFamily` entry here. Layers, single-step cells, models, the CLI,
analysis, interop and the tests all read this registry; none of them keeps a
list of families of its own. docs/adding-a-cell.md walks through adding one.

>>> from rnnkit.cells import registry
>>> registry.names()
('rnn', 'gru', 'lstm', 'mgu', 'ln_lstm', 'ln_gru')
>>> lstm = registry.get("lstm")
>>> lstm.gates(), lstm.state_arity, lstm.gate_blocks()
(('i', 'f', 'g', 'o'), 2, {'i': 0, 'f': 1, 'o': 3})
>>> registry.get("gru").num_gates({"reset_gate": False})
2

Parameters of one layer and direction (``CellFamily.parameters``), PyTorch's
layout, G gate blocks of H rows stacked in ``gates()`` order:

    weight_ih (G*H, D), weight_hh (G*H, H_out), bias_ih, bias_hh (G*H,)   standard_parameters
    weight_hr (P, H)                     with the "proj_size" feature and proj_size = P > 0
    weight_ci, weight_cf, weight_co (H,) with the "peephole" feature and peephole=True
    ln_<x>_weight, ln_<x>_bias           layer_norm_parameters: LN gains (1) and shifts (0)
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnnkit._validate import check_choice
from rnnkit.cells import gru, ln_gru, ln_lstm, lstm, mgu, rnn
from rnnkit.functional import ACTIVATIONS

Shape = tuple[int, ...]
ParamSpec = dict[str, tuple[Shape, str]]  # name -> (shape, initialiser: "uniform" | "ones" | "zeros")
FEATURES = ("proj_size", "peephole")  # layer options that change the parameters, not the forward's keywords


def check_bool(where: str, name: str, value: Any) -> bool:
    """``value`` as a bool, or TypeError naming it."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {name} must be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def check_eps(where: str, name: str, value: Any) -> float:
    """A finite float > 0 (a variance floor), or the error naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a float, got {type(value).__name__} {value!r}")
    if not (value > 0 and np.isfinite(value)):
        raise ValueError(f"{where}: {name} must be a finite number > 0, got {value}")
    return float(value)


@dataclass(frozen=True)
class Option:
    """A variant option of a family, passed to its ``forward`` as a keyword (e.g. GRU's ``reset_after``).

    ``choices``: the values allowed (checked with the house error); ``check(where, name, value) -> value``:
    a validator for anything else (bools use ``check_bool``)."""

    name: str
    default: Any
    choices: tuple | None = None
    check: Callable[[str, str, Any], Any] | None = None

    def validate(self, where: str, value: Any) -> Any:
        if self.check is not None:
            return self.check(where, self.name, value)
        if isinstance(self.default, bool):
            return check_bool(where, self.name, value)
        if self.choices is not None:
            return check_choice(where, self.name, value, self.choices)
        return value


def standard_parameters(G: int, H: int, D: int, H_out: int, *, bias: bool, proj_size: int, peephole: bool) -> ParamSpec:
    """PyTorch's parameters of one layer and direction, all uniform in +/- 1/sqrt(H)."""
    spec: ParamSpec = {"weight_ih": ((G * H, D), "uniform"), "weight_hh": ((G * H, H_out), "uniform")}
    if bias:
        spec.update(bias_ih=((G * H,), "uniform"), bias_hh=((G * H,), "uniform"))
    if proj_size:
        spec["weight_hr"] = ((proj_size, H), "uniform")
    if peephole:
        spec.update(weight_ci=((H,), "uniform"), weight_cf=((H,), "uniform"), weight_co=((H,), "uniform"))
    return spec


def layer_norm_parameters(*norms: str) -> Callable[..., ParamSpec]:
    """Parameters of a layer-normalised family: the two products without biases, and per name in
    ``norms`` an LN gain ``<name>_weight`` (1) and, with bias, shift ``<name>_bias`` (0), G*H wide
    (H for ``ln_c``, the cell state's)."""

    def spec(G: int, H: int, D: int, H_out: int, *, bias: bool, proj_size: int, peephole: bool) -> ParamSpec:
        out: ParamSpec = {"weight_ih": ((G * H, D), "uniform"), "weight_hh": ((G * H, H_out), "uniform")}
        for ln in norms:
            width = H if ln == "ln_c" else G * H
            out[f"{ln}_weight"] = ((width,), "ones")
            if bias:
                out[f"{ln}_bias"] = ((width,), "zeros")
        return out

    return spec


def _variant_dependent(value, variant: Mapping[str, Any]):
    return value(variant) if callable(value) else value


@dataclass(frozen=True)
class CellFamily:
    """A cell family: its maths and everything the rest of the library needs to know about it.

    Fields:

    - ``name``: the registry key, lower case (``"lstm"``).
    - ``forward``, ``backward``: the NumPy maths, ``rnnkit.cells.common``'s contract.
    - ``gate_names``: the gate blocks of ``weight_ih``/``weight_hh`` in row order, or a function of
      the resolved variant options giving them (a GRU without reset gate has 2); G is their number.
    - ``state_arity``: 1 (state h) or 2 (state (h, c), the LSTMs').
    - ``clampable``: gates ``clamp_gates`` may fix (their forward takes ``clamp={gate: value}``).
    - ``activations``: gate -> "sigmoid" | "tanh" | "relu" (or a function of the variant options).
    - ``options``: the variant options its forward accepts as keywords, with defaults.
    - ``features``: the layer options in ``FEATURES`` it supports (LSTM: proj_size, peephole).
    - ``adds_into_grads``: whether ``backward(..., grads_out=)`` adds into the caller's arrays.
    - ``parameters``: the parameter layout (``standard_parameters`` or ``layer_norm_parameters(...)``).
    - ``gates_cache``: the cache field holding the activated gates (T, B, G*H), for analysis; or None.
    - ``remember``: (gate, sign): the gate whose activation keeps the old state, and the sign of a
      bias on it that keeps more (LSTM's f: +1; GRU's z: +1; MGU's f: -1); None without one.
    - ``plain_rnn_clamp``: gate values that make it a plain RNN h' = tanh(...) on its one tanh block
      (GRU r=1, z=0; MGU f=1), for analysis; None if no clamping does (an LSTM keeps the pair (h, c)).
    - ``torch_twin``, ``keras_twin``: class names of the equivalent ``torch.nn`` / ``keras.layers``
      layer for the default variant (their cells append "Cell"), or None.
    - ``torch_gap``: for a variant the torch twin does not compute, why (text after the layer's
      description; ``{twin}`` stands for the torch class), else None.
    - ``per_gate_masks``: whether its maths take per-gate dropout masks (``StepMasks.input`` and a
      per-gate ``StepMasks.recurrent``; Keras's form), or a function of the variant options saying so.
    - ``model_choice``: offered where a model or command picks its cell by name (``--cell``).
    - ``summary``: one line for listings and docs.
    """

    name: str
    forward: Callable
    backward: Callable
    gate_names: tuple[str, ...] | Callable[[Mapping[str, Any]], tuple[str, ...]]
    state_arity: int = 1
    clampable: tuple[str, ...] = ()
    activations: Mapping[str, str] | Callable[[Mapping[str, Any]], Mapping[str, str]] = field(default_factory=dict)
    options: tuple[Option, ...] = ()
    features: frozenset[str] = frozenset()
    adds_into_grads: bool = False
    parameters: Callable[..., ParamSpec] = standard_parameters
    gates_cache: str | None = None
    remember: tuple[str, float] | None = None
    plain_rnn_clamp: Mapping[str, float] | None = None
    torch_twin: str | None = None
    torch_gap: Callable[[Mapping[str, Any]], str | None] | None = None
    keras_twin: str | None = None
    per_gate_masks: bool | Callable[[Mapping[str, Any]], bool] = False
    model_choice: bool = True
    summary: str = ""

    def __post_init__(self):
        where = "CellFamily"
        if not isinstance(self.name, str) or not self.name.isidentifier() or self.name != self.name.lower():
            raise ValueError(f"{where}: name must be a lower-case identifier, got {self.name!r}")
        if self.state_arity not in (1, 2):
            raise ValueError(f"{where}: state_arity must be 1 or 2, got {self.state_arity!r}")
        if not (callable(self.forward) and callable(self.backward)):
            raise TypeError(f"{where}: forward and backward must be callables, got {self.forward!r}, {self.backward!r}")
        unknown = set(self.features) - set(FEATURES)
        if unknown:
            raise ValueError(f"{where}: features must be among {FEATURES}, got {sorted(unknown)}")
        names = [o.name for o in self.options]
        if len(set(names)) != len(names) or set(names) & {"clamp", "lengths", "masks", "need_cache"}:
            raise ValueError(f"{where}: options must have distinct names, not forward's own keywords, got {names}")

    # -- variant options --------------------------------------------------------------------------
    def defaults(self) -> dict[str, Any]:
        """The variant options at their defaults."""
        return {o.name: o.default for o in self.options}

    def resolve(self, where: str, variant: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Validated variant options, defaults filled in; the error names an unknown option."""
        variant = dict(variant or {})
        out = {}
        for o in self.options:
            out[o.name] = o.validate(where, variant.pop(o.name)) if o.name in variant else o.default
        if variant:
            known = ", ".join(o.name for o in self.options) or "none"
            raise TypeError(
                f"{where}: unexpected option {next(iter(variant))!r} for cell {self.name!r} (options: {known})"
            )
        return out

    # -- gates ------------------------------------------------------------------------------------
    def gates(self, variant: Mapping[str, Any] | None = None) -> tuple[str, ...]:
        """Gate block names in row order, for these variant options (defaults for the rest)."""
        return tuple(_variant_dependent(self.gate_names, {**self.defaults(), **(variant or {})}))

    def num_gates(self, variant: Mapping[str, Any] | None = None) -> int:
        """G, the number of stacked gate blocks."""
        return len(self.gates(variant))

    def gate_blocks(self, variant: Mapping[str, Any] | None = None) -> dict[str, int]:
        """Clampable gate -> its row block, for these variant options."""
        return {g: k for k, g in enumerate(self.gates(variant)) if g in self.clampable}

    def plain_rnn_block(self, clamp: Mapping[str, float], variant: Mapping[str, Any] | None = None) -> str | None:
        """The block whose weights drive h_{t-1} -> h_t when the family is (or, with these clamped gate
        values, is reduced to) a plain RNN; None otherwise."""
        gates = self.gates(variant)
        if len(gates) == 1:
            return gates[0]
        if self.plain_rnn_clamp is None:
            return None
        if any(clamp.get(g) != v for g, v in self.plain_rnn_clamp.items() if g in gates):
            return None
        return next(g for g in gates if g not in self.clampable)  # the candidate: the one block never clamped

    def takes_per_gate_masks(self, variant: Mapping[str, Any] | None = None) -> bool:
        """Whether this variant's maths take per-gate dropout masks (``dropout_masks="per_gate"``)."""
        return bool(_variant_dependent(self.per_gate_masks, {**self.defaults(), **(variant or {})}))

    def gate_activations(self, variant: Mapping[str, Any] | None = None) -> dict[str, str]:
        """Gate -> the activation applied to its pre-activation."""
        return dict(_variant_dependent(self.activations, {**self.defaults(), **(variant or {})}))

    # -- parameters -------------------------------------------------------------------------------
    def parameter_spec(
        self,
        input_size: int,
        hidden_size: int,
        *,
        bias: bool = True,
        proj_size: int = 0,
        peephole: bool = False,
        variant: Mapping[str, Any] | None = None,
    ) -> ParamSpec:
        """name -> (shape, initialiser) of one layer and direction (names without the ``_l{k}`` suffix)."""
        G = self.num_gates(variant)
        return self.parameters(
            G, hidden_size, input_size, proj_size or hidden_size, bias=bias, proj_size=proj_size, peephole=peephole
        )

    def parameter_names(self, **kw: Any) -> tuple[str, ...]:
        """The parameter names of one layer and direction (``parameter_spec``'s keywords; sizes 1)."""
        return tuple(self.parameter_spec(1, 2, **kw))


_REGISTRY: dict[str, CellFamily] = {}


def register(family: CellFamily) -> CellFamily:
    """Add a family; its name must be new. Returns it (so a module can keep a handle)."""
    if not isinstance(family, CellFamily):
        raise TypeError(f"registry.register: family must be a CellFamily, got {type(family).__name__}")
    if family.name in _REGISTRY:
        raise ValueError(f"registry.register: family {family.name!r} is already registered")
    _REGISTRY[family.name] = family
    return family


def unregister(name: str) -> CellFamily:
    """Remove a family (tests that register a toy one clean up with this). Returns it."""
    get(name)
    return _REGISTRY.pop(name)


def get(name: str | CellFamily) -> CellFamily:
    """The family registered as ``name`` (a CellFamily is returned as is)."""
    if isinstance(name, CellFamily):
        return name
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"registry.get: cell must be one of {', '.join(map(repr, _REGISTRY))}, got {name!r}") from None


def names(*, model_choice: bool | None = None) -> tuple[str, ...]:
    """Registered family names, in registration order; ``model_choice=True``: those a model offers by name."""
    return tuple(n for n, f in _REGISTRY.items() if model_choice is None or f.model_choice == model_choice)


def families() -> tuple[CellFamily, ...]:
    """Every registered family, in registration order."""
    return tuple(_REGISTRY.values())


# -- the built-in families ------------------------------------------------------------------------------

_SIGMOID_TANH = {
    "r": "sigmoid",
    "z": "sigmoid",
    "i": "sigmoid",
    "f": "sigmoid",
    "o": "sigmoid",
    "g": "tanh",
    "n": "tanh",
}


def _activations_of(gates: tuple[str, ...]) -> dict[str, str]:
    return {g: _SIGMOID_TANH[g] for g in gates}


def _keras_activations(gates: tuple[str, ...], variant: Mapping[str, Any]) -> dict[str, str]:
    """Gate -> activation with Keras's two options: ``recurrent_activation`` for the gates (sigmoid by
    default), ``activation`` for the candidate (tanh by default)."""
    return {
        g: variant["recurrent_activation"] if _SIGMOID_TANH[g] == "sigmoid" else variant["activation"] for g in gates
    }


# Keras accepts any function for both; rnnkit offers those of rnnkit.functional.ACTIVATIONS, and for the
# gates only the two that squash into [0, 1] (a gate outside it, e.g. linear, lets the state grow without
# bound: z h_{t-1} with z > 1).
ACTIVATION_CHOICES = tuple(ACTIVATIONS)  # sigmoid, hard_sigmoid (Keras 3's relu6(x + 3) / 6), tanh, relu, linear
GATE_ACTIVATION_CHOICES = ("sigmoid", "hard_sigmoid")
_KERAS_ACTIVATION_OPTIONS = (
    Option("activation", "tanh", choices=ACTIVATION_CHOICES),
    Option("recurrent_activation", "sigmoid", choices=GATE_ACTIVATION_CHOICES),
)


def _activation_gap(variant: Mapping[str, Any]) -> str | None:
    if (variant["activation"], variant["recurrent_activation"]) != ("tanh", "sigmoid"):
        return (
            f"uses activation={variant['activation']!r}, recurrent_activation={variant['recurrent_activation']!r}; "
            "{twin} has tanh and sigmoid only"
        )
    return None


def _rnn_torch_gap(variant: Mapping[str, Any]) -> str | None:
    if variant["nonlinearity"] not in ("tanh", "relu"):
        return f"uses nonlinearity={variant['nonlinearity']!r}; {{twin}} has tanh and relu only"
    return None


def _gru_torch_gap(variant: Mapping[str, Any]) -> str | None:
    gap = _activation_gap(variant)
    if gap:
        return gap
    if not variant["reset_gate"]:
        return "has 2 gate blocks (z, n) and no torch.nn equivalent; {twin} has 3"
    if not variant["reset_after"]:
        return (
            "applies r before W_hn, (r * h) W_hn^T + b_hn; {twin} computes r * (h W_hn^T + b_hn) "
            "and would load these weights (same names and shapes) yet give other outputs"
        )
    return None


def _gru_gates(variant: Mapping[str, Any]) -> tuple[str, ...]:
    return ("r", "z", "n") if variant["reset_gate"] else ("z", "n")


register(
    CellFamily(
        name="rnn",
        forward=rnn.forward,
        backward=rnn.backward,
        gate_names=("h",),
        activations=lambda v: {"h": v["nonlinearity"]},
        options=(Option("nonlinearity", "tanh", choices=rnn.NONLINEARITIES),),
        adds_into_grads=True,
        torch_twin="RNN",
        torch_gap=_rnn_torch_gap,
        keras_twin="SimpleRNN",
        per_gate_masks=True,
        summary="Elman RNN, h' = tanh or relu of the two affine maps (Elman 1990)",
    )
)
register(
    CellFamily(
        name="gru",
        forward=gru.forward,
        backward=gru.backward,
        gate_names=_gru_gates,
        clampable=tuple(gru.gate_blocks()),
        activations=lambda v: _keras_activations(_gru_gates(v), v),
        options=(Option("reset_after", True), Option("reset_gate", True)) + _KERAS_ACTIVATION_OPTIONS,
        adds_into_grads=True,
        gates_cache="act",
        remember=("z", 1.0),
        plain_rnn_clamp={"r": 1.0, "z": 0.0},
        torch_twin="GRU",
        torch_gap=_gru_torch_gap,
        keras_twin="GRU",
        per_gate_masks=lambda v: v["reset_gate"] and v["reset_after"],
        summary="gated recurrent unit, PyTorch's form or Cho et al. 2014's, or update gate only",
    )
)
register(
    CellFamily(
        name="lstm",
        forward=lstm.forward,
        backward=lstm.backward,
        gate_names=("i", "f", "g", "o"),
        state_arity=2,
        clampable=tuple(lstm.GATE_BLOCKS),
        activations=lambda v: _keras_activations(("i", "f", "g", "o"), v),
        options=_KERAS_ACTIVATION_OPTIONS,
        features=frozenset({"proj_size", "peephole"}),
        adds_into_grads=True,
        gates_cache="gates",
        remember=("f", 1.0),
        torch_twin="LSTM",
        torch_gap=_activation_gap,
        keras_twin="LSTM",
        per_gate_masks=True,
        summary="long short-term memory (Hochreiter and Schmidhuber 1997; forget gate of Gers et al. 2000)",
    )
)
register(
    CellFamily(
        name="mgu",
        forward=mgu.forward,
        backward=mgu.backward,
        gate_names=("f", "n"),
        clampable=tuple(mgu.GATE_BLOCKS),
        activations=_activations_of(("f", "n")),
        adds_into_grads=True,
        gates_cache="act",
        remember=("f", -1.0),
        plain_rnn_clamp={"f": 1.0},
        summary="minimal gated unit, one forget gate (Zhou et al. 2016)",
    )
)
register(
    CellFamily(
        name="ln_lstm",
        forward=ln_lstm.forward,
        backward=ln_lstm.backward,
        gate_names=("i", "f", "g", "o"),
        state_arity=2,
        clampable=tuple(ln_lstm.GATE_BLOCKS),
        activations=_activations_of(("i", "f", "g", "o")),
        options=(Option("eps", 1e-5, check=check_eps),),
        parameters=layer_norm_parameters("ln_ih", "ln_hh", "ln_c"),
        gates_cache="gates",
        remember=("f", 1.0),
        model_choice=False,
        summary="layer-normalised LSTM (Ba, Kiros and Hinton 2016)",
    )
)
register(
    CellFamily(
        name="ln_gru",
        forward=ln_gru.forward,
        backward=ln_gru.backward,
        gate_names=("r", "z", "n"),
        clampable=tuple(ln_gru.GATE_BLOCKS),
        activations=_activations_of(("r", "z", "n")),
        options=(Option("eps", 1e-5, check=check_eps),),
        parameters=layer_norm_parameters("ln_ih", "ln_hh"),
        gates_cache="act",
        remember=("z", 1.0),
        plain_rnn_clamp={"r": 1.0, "z": 0.0},
        model_choice=False,
        summary="layer-normalised GRU, PyTorch's reset-after form (after Ba et al. 2016)",
    )
)
