"""Move weights between rnnkit and PyTorch: state_dicts, safetensors files, ``torch.nn`` modules.

rnnkit's recurrent layers and cells already use PyTorch's parameter names,
shapes and gate orders, so for the variants PyTorch has the conversion is the
identity on the arrays:

    ==================  ======================  =========================================
    rnnkit              torch.nn                rows of weight_ih / weight_hh / bias_*
    ==================  ======================  =========================================
    RNN, RNNCell        RNN, RNNCell            h                     (G = 1)
    GRU, GRUCell        GRU, GRUCell            r, z, n               (G = 3)
    LSTM, LSTMCell      LSTM, LSTMCell          i, f, g, o            (G = 4)
    ==================  ======================  =========================================

    weight_ih_l{k}{s} (G*H, D)   weight_hh_l{k}{s} (G*H, H_out)   bias_ih_l{k}{s}, bias_hh_l{k}{s} (G*H,)
    weight_hr_l{k}{s} (P, H)     LSTM with proj_size = P > 0, as torch.nn.LSTM(proj_size=P); H_out = P
    k = layer, s = '' or '_reverse'; cells drop the '_l{k}{s}' suffix.

What this module adds is the checking. Some rnnkit layers have weights of
the *same* names and shapes as a PyTorch module but compute a different
function, so a plain copy would run without error and give wrong numbers:

    GRU(reset_after=False)   n = tanh(x W_in^T + b_in + (r * h) W_hn^T + b_hn)
                             torch.nn.GRU computes  tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))
    zoneout > 0              h = z h_prev + (1 - z) h_new even in eval mode; PyTorch has no zoneout
    clamp_gates(...)         gates fixed to constants; PyTorch cannot clamp gates

and some have no PyTorch module at all: GRU(reset_gate=False) (2 gate
blocks, z, n), LSTM(peephole=True) (extra weights weight_c{i,f,o}), MGU.
Every function here refuses all of these unless ``allow_variants=True``
(for your own PyTorch code that implements them), and ``torch_module``
refuses them always. The train-time regularisers input_dropout,
recurrent_dropout and weight_drop change nothing in eval mode; torch.nn has
no counterpart, so ``torch_module`` drops them (and logs a warning).

Files written by :func:`save_torch_safetensors` record each recurrent
layer's configuration in the metadata key ``rnnkit_layers``, and
:func:`load_torch_safetensors` checks it, so a ``reset_after=False`` file
cannot be loaded into a ``reset_after=True`` layer by mistake.

torch is imported only inside the functions that need it; the rest works on
NumPy arrays and accepts anything with ``.detach()`` (a tensor) or
``__array__``.

Example
-------
>>> import numpy as np, rnnkit
>>> from rnnkit.interop.torch import to_torch_state_dict, from_torch_state_dict
>>> lstm = rnnkit.LSTM(3, 4, num_layers=2, seed=0)
>>> sd = to_torch_state_dict(lstm)                    # numpy arrays under torch names
>>> sd["weight_ih_l1"].shape
(16, 4)
>>> twin = rnnkit.LSTM(3, 4, num_layers=2, seed=1)
>>> from_torch_state_dict(twin, sd)
>>> bool(np.array_equal(twin.params["bias_hh_l0"], lstm.params["bias_hh_l0"]))
True
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from rnnkit.cells import registry
from rnnkit.layers.cell import StepCell as _Cell
from rnnkit.layers.cell import step_cell
from rnnkit.layers.recurrent import RecurrentLayer, recurrent_layer
from rnnkit.module import Module

log = logging.getLogger(__name__)

METADATA_KEY = "rnnkit_layers"  # JSON: module path ('' for the root) -> layer configuration

__all__ = [
    "to_torch_state_dict",
    "from_torch_state_dict",
    "save_torch_safetensors",
    "load_torch_safetensors",
    "torch_module",
    "from_torch_module",
    "layer_config",
]


# -- configuration and the variant check ------------------------------------------------------------
def _is_recurrent(m) -> bool:
    return isinstance(m, (RecurrentLayer, _Cell))


def layer_config(layer: RecurrentLayer | _Cell) -> dict:
    """The configuration that decides what a recurrent layer's weights mean, as a JSON-ready dict.

    Keys: class, input_size, hidden_size, bias, the variant options
    (nonlinearity / reset_after / reset_gate) and, for sequence layers,
    num_layers, bidirectional, proj_size and peephole. Run-time and training
    options (batch_first, the dropouts, zoneout, clamped gates, dtype) are
    left out: the same weights can be used with other settings of these.

    >>> import rnnkit
    >>> layer_config(rnnkit.GRU(3, 4, reset_after=False))["reset_after"]
    False
    """
    if not _is_recurrent(layer):
        raise TypeError(f"layer_config: layer must be an rnnkit recurrent layer or cell, got {type(layer).__name__}")
    cfg = {
        "class": type(layer).__name__,
        "input_size": layer.input_size,
        "hidden_size": layer.hidden_size,
        "bias": layer.bias,
    }
    if isinstance(layer, RecurrentLayer):
        cfg.update(
            num_layers=layer.num_layers,
            bidirectional=layer.bidirectional,
            proj_size=getattr(layer, "proj_size", 0),
            peephole=getattr(layer, "peephole", False),
        )
    cfg.update(layer.variant)
    return cfg


def _describe(layer) -> str:
    """'GRU(reset_after=False)': the class and any option that differs from PyTorch's module."""
    odd = {k: v for k, v in layer.variant.items() if k in ("reset_after", "reset_gate") and v is False}
    return type(layer).__name__ + ("(" + ", ".join(f"{k}={v}" for k, v in odd.items()) + ")" if odd else "")


def _torch_name(layer) -> str:
    """The torch.nn class of the layer's family twin: 'GRU', or 'GRUCell' for a cell."""
    return layer.family.torch_twin + ("Cell" if isinstance(layer, _Cell) else "")


def _why_no_torch(layer) -> str | None:
    """Why no torch.nn module computes what ``layer`` computes; None when one does."""
    name = type(layer).__name__
    family = layer.family
    if family.torch_twin is None:
        return f"{name} has no torch.nn equivalent"
    gap = family.torch_gap(layer.variant) if family.torch_gap is not None else None
    if gap:
        return f"{_describe(layer)} {gap.format(twin='torch.nn.' + _torch_name(layer))}"
    if getattr(layer, "peephole", False):
        return f"{name}(peephole=True) has peephole weights weight_c{{i,f,o}}; torch.nn.{name} has none"
    if getattr(layer, "clamped_gates", None):
        return (
            f"{name} has gates clamped to {layer.clamped_gates}; torch.nn.{name} cannot clamp gates "
            f"(call clamp_gates() with no argument to unclamp)"
        )
    if any(getattr(layer, "zoneout", ())):
        return (
            f"{name} with zoneout={layer.zoneout} mixes in the previous state even in eval mode; "
            f"torch.nn.{name} has no zoneout and would give other outputs"
        )
    return None


def _check_variants(where: str, module, allow_variants: bool) -> None:
    if allow_variants:
        return
    for path, m in module.named_modules():
        reason = _why_no_torch(m) if _is_recurrent(m) else None
        if reason:
            at = f" (submodule {path[:-1]!r})" if path else ""
            raise ValueError(
                f"{where}: {reason}{at}; pass allow_variants=True to move the weights "
                f"anyway, for PyTorch code of your own that computes this variant"
            )


def _check_module(where: str, module) -> None:
    if not isinstance(module, Module):
        raise TypeError(f"{where}: layer must be an rnnkit Module (rnnkit.LSTM, ...), got {type(module).__name__}")


def _import_torch(where: str):
    try:
        import torch
    except ImportError:
        raise ModuleNotFoundError(
            f"{where}: needs PyTorch, which is not installed; "
            f"`pip install torch`, or leave as_tensors False for NumPy arrays"
        ) from None
    return torch


# -- state_dicts ------------------------------------------------------------------------------------
def to_torch_state_dict(
    layer: RecurrentLayer | _Cell, *, as_tensors: bool = False, allow_variants: bool = False
) -> dict:
    """Return ``layer``'s weights as a PyTorch state_dict: copies, under PyTorch's names and layout.

    NumPy arrays by default; torch tensors (CPU, the layer's dtype) with
    ``as_tensors=True``, which imports torch. Works for any rnnkit Module;
    a recurrent layer (or submodule) that no torch.nn module computes (MGU,
    GRU with reset_after=False or reset_gate=False, peepholes, zoneout,
    clamped gates) raises ValueError unless ``allow_variants=True``.

    >>> import rnnkit
    >>> sorted(to_torch_state_dict(rnnkit.RNN(2, 3)))
    ['bias_hh_l0', 'bias_ih_l0', 'weight_hh_l0', 'weight_ih_l0']
    """
    where = "to_torch_state_dict"
    _check_module(where, layer)
    _check_variants(where, layer, allow_variants)
    state = layer.state_dict()
    if as_tensors:
        torch = _import_torch(where)
        return {k: torch.from_numpy(v) for k, v in state.items()}
    return state


def _shape_of(value) -> tuple:
    return tuple(int(s) for s in value.shape)


def _to_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor; NumPy has no bfloat16, so widen that first
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":
            value = value.float()
        return value.numpy()
    return np.asarray(value)


def _gate_hint(shape, expected, layer) -> str:
    """A guess at why a weight has the wrong shape, for the error message."""
    if len(shape) == 2 and tuple(shape[::-1]) == tuple(expected) and shape[0] != shape[1]:
        return " (it looks transposed: Keras stores kernels as (D, G*H); use rnnkit.interop.keras)"
    H = getattr(layer, "hidden_size", None)
    if H and shape and expected and shape[0] != expected[0] and shape[0] % H == 0 and shape[1:] == expected[1:]:
        g = shape[0] // H
        kinds = [f.torch_twin or f.name.upper() for f in registry.families() if f.num_gates() == g]
        if kinds:
            which = " or ".join(("an " if k[0] in "AEFHILMNORSX" else "a ") + k for k in kinds)
            return f" ({g} gate blocks of hidden_size {H}: {which}'s weight?)"
    return ""


def _name_hints(missing, unexpected) -> str:
    hints = []
    if any(k.startswith("weight_hr") for k in unexpected):
        hints.append("weight_hr_* belong to an LSTM with proj_size > 0: build the layer with the same proj_size")
    elif any(k.startswith("weight_hr") for k in missing):
        hints.append("the state_dict has no weight_hr_*: it is of an LSTM with proj_size=0")
    if any(k.startswith(("weight_ci", "weight_cf", "weight_co")) for k in missing):
        hints.append("weight_c{i,f,o}_* are rnnkit's peephole weights, which torch.nn.LSTM does not have")
    if any(k.startswith("bias_") for k in missing) and not any(k.startswith("bias_") for k in unexpected):
        hints.append("the state_dict has no biases: build the layer with bias=False")
    if any(k.endswith("_reverse") for k in unexpected):
        hints.append("the state_dict has _reverse weights: build the layer with bidirectional=True")
    elif any(k.endswith("_reverse") for k in missing):
        hints.append("the state_dict has no _reverse weights: build the layer with bidirectional=False")
    if missing and unexpected:
        # a whole model's state_dict: 'rnn.weight_ih_l0' where 'weight_ih_l0' is wanted
        tails = {m: [u for u in unexpected if u.endswith("." + m)] for m in missing}
        if all(tails.values()):
            prefixes = {u[: -len(m)] for m, us in tails.items() for u in us}
            if len(prefixes) == 1:
                hints.append(f"pass prefix={prefixes.pop()!r} to take the layer's entries from a larger state_dict")
    return ("; " + "; ".join(hints)) if hints else ""


def _select(where: str, state_dict, prefix: str) -> dict:
    if not isinstance(state_dict, Mapping):
        raise TypeError(
            f"{where}: state_dict must be a mapping of name -> tensor or array, got {type(state_dict).__name__}"
        )
    if not isinstance(prefix, str):
        raise TypeError(f"{where}: prefix must be a str, got {type(prefix).__name__} {prefix!r}")
    if not prefix:
        return dict(state_dict)
    picked = {k[len(prefix) :]: v for k, v in state_dict.items() if isinstance(k, str) and k.startswith(prefix)}
    if not picked:
        raise ValueError(
            f"{where}: prefix={prefix!r} matches no key of state_dict; its keys start {sorted(state_dict)[:4]}"
        )
    return picked


def from_torch_state_dict(
    layer: RecurrentLayer | _Cell,
    state_dict: Mapping[str, Any],
    *,
    prefix: str = "",
    strict: bool = True,
    allow_variants: bool = False,
) -> None:
    """Copy a PyTorch state_dict (tensors or arrays) into ``layer``, in place, checking names and shapes.

    ``prefix`` selects and strips the entries of a larger model's state_dict
    (``prefix="encoder.rnn."``). With ``strict`` every parameter must be
    present and no other key; shapes are always checked. Errors name the key,
    the expected shape and the shape received. Nothing is written unless
    everything checks. Then ``layer.load_state_dict`` copies (casting to the
    layer's dtype).

    >>> import rnnkit
    >>> src, dst = rnnkit.GRU(2, 3, seed=0), rnnkit.GRU(2, 3, seed=1)
    >>> from_torch_state_dict(dst, {"rnn." + k: v for k, v in src.state_dict().items()}, prefix="rnn.")
    >>> bool((dst.params["weight_hh_l0"] == src.params["weight_hh_l0"]).all())
    True
    """
    where = "from_torch_state_dict"
    _check_module(where, layer)
    _check_variants(where, layer, allow_variants)
    state = _select(where, state_dict, prefix)
    params = layer.params
    for k, v in state.items():
        if not isinstance(k, str):
            raise TypeError(f"{where}: state_dict keys must be str, got {type(k).__name__} {k!r}")
        if k in params and not hasattr(v, "shape"):
            raise TypeError(f"{where}: state_dict[{prefix + k!r}] must be a tensor or array, got {type(v).__name__}")
    if strict:
        missing = [k for k in params if k not in state]
        unexpected = [k for k in state if k not in params]
        if missing or unexpected:
            parts = []
            if missing:
                parts.append(
                    "missing " + ", ".join(f"{prefix + k!r} (expected shape {_shape_of(params[k])})" for k in missing)
                )
            if unexpected:
                parts.append("unexpected " + ", ".join(repr(prefix + k) for k in unexpected))
            raise ValueError(
                f"{where}: state_dict keys do not match {type(layer).__name__}: "
                f"{'; '.join(parts)}{_name_hints(missing, unexpected)}"
            )
    converted = {}
    for k, dst in params.items():
        if k not in state:
            continue
        got = _shape_of(state[k])
        if got != dst.shape:
            raise ValueError(
                f"{where}: state_dict[{prefix + k!r}] must have shape {tuple(dst.shape)}, "
                f"got {got}{_gate_hint(got, dst.shape, layer)}"
            )
        converted[k] = _to_numpy(state[k])
    layer.load_state_dict(converted, strict=strict)


# -- safetensors files -------------------------------------------------------------------------------
def _configs(module) -> dict:
    return {path[:-1]: layer_config(m) for path, m in module.named_modules() if _is_recurrent(m)}


def save_torch_safetensors(
    layer: RecurrentLayer | _Cell,
    path: str | os.PathLike,
    *,
    metadata: Mapping[str, str] | None = None,
    allow_variants: bool = False,
) -> str:
    """Write ``layer``'s state_dict to a safetensors file that PyTorch loads directly; return its SHA-256.

    ``safetensors.torch.load_file(path)`` gives tensors that
    ``torch.nn.LSTM(...).load_state_dict`` takes as they are. The metadata
    holds ``format: pt`` and, under ``rnnkit_layers``, the JSON configuration
    of every recurrent layer (checked by :func:`load_torch_safetensors`), plus
    your own str -> str ``metadata``. The write is atomic.

    >>> import os, tempfile, rnnkit
    >>> p = os.path.join(tempfile.mkdtemp(), "lstm.safetensors")
    >>> len(save_torch_safetensors(rnnkit.LSTM(2, 3), p))
    64
    """
    from rnnkit.io import save_file

    where = "save_torch_safetensors"
    state = to_torch_state_dict(layer, allow_variants=allow_variants)
    meta = {"format": "pt", METADATA_KEY: json.dumps(_configs(layer), sort_keys=True)}
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise TypeError(f"{where}: metadata must be a dict of str -> str or None, got {type(metadata).__name__}")
        clash = sorted(set(metadata) & set(meta))
        if clash:
            raise ValueError(f"{where}: metadata must not set the reserved keys {sorted(meta)}, got {clash}")
        meta.update(metadata)
    return save_file(state, os.fspath(path), meta)


def _check_saved_configs(where: str, source: str, saved_json: str, layer, prefix: str) -> None:
    try:
        saved = json.loads(saved_json)
    except ValueError:
        raise ValueError(f"{where}: {source}: metadata {METADATA_KEY!r} is not valid JSON") from None
    if not isinstance(saved, dict):
        return
    base = prefix[:-1] if prefix.endswith(".") else prefix
    for path, cfg in _configs(layer).items():
        key = ".".join(p for p in (base, path) if p)
        theirs = saved.get(key)
        if not isinstance(theirs, dict):
            continue
        diff = [f"{k}={theirs.get(k)!r} in the file, {v!r} here" for k, v in cfg.items() if theirs.get(k, v) != v]
        if diff:
            at = f" (submodule {path!r})" if path else ""
            raise ValueError(f"{where}: {source} was saved from a different layer{at}: " + "; ".join(diff))


def load_torch_safetensors(
    layer: RecurrentLayer | _Cell,
    path: str | os.PathLike,
    *,
    prefix: str = "",
    strict: bool = True,
    allow_variants: bool = False,
) -> None:
    """Load a safetensors file of PyTorch weights (``safetensors.torch.save_file``, or ours) into ``layer``.

    Read with NumPy alone (``rnnkit.io.load_file``), then checked and copied
    as :func:`from_torch_state_dict` does. If the file was written by
    :func:`save_torch_safetensors`, its recorded configuration must match the
    layer's (class, sizes, bias, reset_after, ...), so weights of a variant
    cannot land in another variant with the same shapes.

    >>> import os, tempfile, rnnkit
    >>> p = os.path.join(tempfile.mkdtemp(), "rnn.safetensors")
    >>> _ = save_torch_safetensors(rnnkit.RNN(2, 3, seed=0), p)
    >>> load_torch_safetensors(rnnkit.RNN(2, 3, seed=1), p)
    """
    from rnnkit.io import load_file, load_metadata

    where = "load_torch_safetensors"
    _check_module(where, layer)
    source = os.fspath(path)
    meta = load_metadata(source)
    if METADATA_KEY in meta:
        _check_saved_configs(where, source, meta[METADATA_KEY], layer, prefix)
    from_torch_state_dict(layer, load_file(source), prefix=prefix, strict=strict, allow_variants=allow_variants)


# -- torch.nn modules --------------------------------------------------------------------------------
def torch_module(layer: RecurrentLayer | _Cell) -> Any:
    """Build the ``torch.nn`` module that computes what ``layer`` computes, with its weights loaded.

    RNN/GRU/LSTM -> torch.nn.RNN/GRU/LSTM (num_layers, bidirectional,
    batch_first, dropout, bias, nonlinearity, proj_size copied), cells ->
    torch.nn.*Cell; same dtype; train/eval mode copied. Layers PyTorch cannot
    express (MGU, GRU with reset_after=False or reset_gate=False, peepholes,
    zoneout, clamped gates) raise ValueError. input_dropout,
    recurrent_dropout and weight_drop act in training only and have no
    torch.nn counterpart: they are dropped, with a logged warning.

    >>> import rnnkit
    >>> m = torch_module(rnnkit.LSTM(2, 3, bidirectional=True))
    >>> type(m).__name__, m.bidirectional
    ('LSTM', True)
    """
    where = "torch_module"
    if not _is_recurrent(layer):
        raise TypeError(
            f"{where}: layer must be an rnnkit RNN, GRU, LSTM or one of their cells, got {type(layer).__name__}"
        )
    reason = _why_no_torch(layer)
    if reason:
        raise ValueError(f"{where}: cannot build a torch.nn module for {_describe(layer)}: {reason}")
    name = type(layer).__name__
    dropped = {
        k: getattr(layer, k) for k in ("input_dropout", "recurrent_dropout", "weight_drop") if getattr(layer, k, 0.0)
    }
    if dropped:
        log.warning(
            "%s: torch.nn.%s has no %s; the module is built without them (eval outputs are unchanged)",
            where,
            name,
            ", ".join(f"{k}={v}" for k, v in dropped.items()),
        )
    torch = _import_torch(where)
    dtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[layer.dtype]
    kw = {"bias": layer.bias, "dtype": dtype}
    if "nonlinearity" in layer.variant:
        kw["nonlinearity"] = layer.variant["nonlinearity"]
    if isinstance(layer, RecurrentLayer):
        kw.update(
            num_layers=layer.num_layers,
            batch_first=layer.batch_first,
            dropout=layer.dropout,
            bidirectional=layer.bidirectional,
        )
        if getattr(layer, "proj_size", 0):
            kw["proj_size"] = layer.proj_size
    module = getattr(torch.nn, _torch_name(layer))(layer.input_size, layer.hidden_size, **kw)
    with torch.no_grad():
        module.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    module.train(layer.training)
    return module


def from_torch_module(module: Any, *, dtype: DTypeLike = None) -> RecurrentLayer | _Cell:
    """Build the rnnkit layer or cell equivalent to a ``torch.nn`` RNN/GRU/LSTM (or cell), weights copied.

    ``dtype`` defaults to the module's (float32 or float64); ``proj_size``
    of an LSTM carries over.

    >>> import torch
    >>> from_torch_module(torch.nn.GRU(2, 3, num_layers=2))
    GRU(2, 3, num_layers=2, reset_after=True, reset_gate=True)
    """

    where = "from_torch_module"
    cls = type(module).__name__
    twins = {f.torch_twin: f for f in registry.families() if f.torch_twin}
    twins.update({name + "Cell": f for name, f in list(twins.items())})
    known = tuple(twins)
    if cls not in known or not hasattr(module, "state_dict"):
        raise TypeError(f"{where}: module must be a torch.nn {', '.join(known)}, got {cls}")
    if dtype is None:
        first = next(iter(module.state_dict().values()))
        dtype = {"torch.float32": np.float32, "torch.float64": np.float64}.get(str(first.dtype))
        if dtype is None:
            raise TypeError(
                f"{where}: the module's dtype must be float32 or float64 (or pass dtype=), got {first.dtype}"
            )
    kw = {"bias": module.bias, "dtype": dtype}
    family = twins[cls]
    kw.update({o.name: getattr(module, o.name) for o in family.options if hasattr(module, o.name)})
    if not cls.endswith("Cell"):
        kw.update(
            num_layers=module.num_layers,
            batch_first=module.batch_first,
            dropout=module.dropout,
            bidirectional=module.bidirectional,
        )
        if getattr(module, "proj_size", 0):
            kw["proj_size"] = module.proj_size
    build = step_cell if cls.endswith("Cell") else recurrent_layer
    layer = build(family.name, module.input_size, module.hidden_size, **kw)
    from_torch_state_dict(layer, module.state_dict())
    layer.train(module.training)
    return layer
