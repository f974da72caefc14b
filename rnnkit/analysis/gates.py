"""How gates behave on real data: mean activation per gate and unit, and how often they are shut or open.

A common simplification of gated cells treats every sigmoid gate as a
switch in {0, 1}: an LSTM with i=1, f=0, o=1 or a GRU with r=1, z=0 is then a
plain RNN, and a forget gate at 1 (LSTM) or an update gate at 1 (GRU) copies
the state unchanged. :func:`gate_statistics` measures how far a trained
network's gates actually are from that picture: the fraction of gate values
below ``low`` (closed, default 0.05) or above ``high`` (open, default 0.95),
per step and per unit.

Gates read (activated values from the forward cache, after any clamping):
LSTM i, f, o (``LSTMCache.gates``); GRU r, z, or z alone without the reset
gate (``GRUCache.act``); MGU f (``MGUCache.act``). Candidates (tanh) are not
gates and are left out. Rows are one per layer and direction, in h_n's order
(``"l0"``, ``"l0_reverse"``, ``"l1"``, ...); a reverse direction's steps are put
back in time order. With variable lengths, padded steps are left out.

Example
-------
>>> import numpy as np, rnnkit
>>> lstm = rnnkit.LSTM(3, 8, seed=0).clamp_gates(f=1)
>>> stats = gate_statistics(lstm, np.random.default_rng(0).normal(size=(20, 4, 3)))
>>> stats.gates, stats.mean_per_unit.shape, float(stats.open_over_time[0, 1].min())
(('i', 'f', 'o'), (1, 3, 8), 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from rnnkit._validate import as_float_array
from rnnkit.analysis._common import find_layer, left_as_found
from rnnkit.cells import registry
from rnnkit.grad_mode import is_grad_enabled
from rnnkit.layers.recurrent import reverse_padded
from rnnkit.module import Module


def _gate_blocks(layer) -> tuple[str, dict]:
    """(cache field of the activated gates, gate -> row block) for a gated layer, from its family's entry."""
    family = layer.family
    acts = family.gate_activations(layer.variant)
    # gates are the blocks squashed into [0, 1]: sigmoid, or Keras's hard_sigmoid
    blocks = {g: k for k, g in enumerate(family.gates(layer.variant)) if acts[g] in ("sigmoid", "hard_sigmoid")}
    if family.gates_cache is None or not blocks:
        gated = ", ".join(f.name for f in registry.families() if f.gates_cache is not None)
        raise ValueError(f"gate_statistics: {type(layer).__name__} has no gates; expected a layer of {gated}")
    return family.gates_cache, blocks


@dataclass
class GateStatistics:
    """Gate activations summarised over a batch; R rows (layer, direction), G gates, H units, T steps."""

    gates: tuple  # gate names, e.g. ("i", "f", "o")
    rows: tuple  # "l0", "l0_reverse", "l1", ...
    mean_per_unit: np.ndarray  # (R, G, H) mean over steps and sequences
    saturated_per_unit: np.ndarray  # (R, G, H) fraction of steps and sequences closed or open
    mean_over_time: np.ndarray  # (R, G, T) mean over sequences and units, per step
    closed_over_time: np.ndarray  # (R, G, T) fraction below ``low``, per step
    open_over_time: np.ndarray  # (R, G, T) fraction above ``high``, per step
    low: float
    high: float

    @property
    def saturated_over_time(self) -> np.ndarray:
        """(R, G, T) fraction closed or open, per step."""
        return self.closed_over_time + self.open_over_time

    def saturation(self) -> np.ndarray:
        """(R, G) the fraction of all gate values (steps, sequences, units) that are closed or open."""
        return self.saturated_per_unit.mean(axis=-1)


def _weighted_mean(v: np.ndarray, w: np.ndarray | None, axes) -> np.ndarray:
    if w is None:
        return v.mean(axis=axes)
    w = np.broadcast_to(w, v.shape)
    num, den = (v * w).sum(axis=axes), w.sum(axis=axes)
    return np.divide(num, den, out=np.full(num.shape, np.nan), where=den > 0)


def gate_statistics(
    model: Module,
    x: ArrayLike | None = None,
    *,
    hx: ArrayLike | tuple[ArrayLike, ArrayLike] | None = None,
    lengths: ArrayLike | None = None,
    low: float = 0.05,
    high: float = 0.95,
) -> GateStatistics:
    """Gate statistics of a gated layer over a batch, from its forward cache.

    ``model`` is a GRU, LSTM or MGU layer, or a model holding one as ``.rnn``.
    With ``x`` (and optionally ``hx``, ``lengths``) a forward pass is run here
    (eval mode, the model left as found); without it, the cache of the layer's
    last forward pass is read, which must have run with gradients enabled.
    """
    where = "gate_statistics"
    layer = find_layer(where, model)
    field, blocks = _gate_blocks(layer)
    for name, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise ValueError(f"{where}: {name} must be a number in [0, 1], got {v!r}")
    if not low < high:
        raise ValueError(f"{where}: low must be below high, got low={low}, high={high}")
    if x is not None:
        if not is_grad_enabled():
            raise RuntimeError(
                f"{where}: gradients are disabled (inside rnnkit.no_grad()), so the forward "
                "keeps no cache; call it outside"
            )
        x = as_float_array(where, "x", x, layer.dtype)
        with left_as_found(model, layer):
            layer.forward(x, hx, lengths=lengths)
            cache = layer._cache
    else:
        if hx is not None or lengths is not None:
            raise ValueError(f"{where}: hx and lengths need x; without x the last forward's cache is read")
        cache = layer._cache
        if cache is None:
            raise RuntimeError(
                f"{where}: {type(layer).__name__} has no forward cache; pass x, or run forward "
                "with gradients enabled first"
            )
    H = layer.hidden_size
    lens = cache.lengths
    rows, per_unit, sat_unit, over_t, closed_t, open_t = [], [], [], [], [], []
    for k, per_dir in enumerate(cache.cells):
        for d, cc in enumerate(per_dir):
            rows.append(f"l{k}" + ("_reverse" if d else ""))
            act = getattr(cc, field)  # (T, B, G*H)
            T, B = act.shape[:2]
            w = None if lens is None else (np.arange(T)[:, None] < lens[None, :]).astype(np.float64)[..., None]
            stats = [], [], [], [], []
            for j in blocks.values():
                a = act[..., j * H : (j + 1) * H].astype(np.float64)  # (T, B, H)
                if d:
                    a = reverse_padded(a, lens)  # back to time order
                closed, opened = (a < low).astype(np.float64), (a > high).astype(np.float64)
                stats[0].append(_weighted_mean(a, w, (0, 1)))
                stats[1].append(_weighted_mean(closed + opened, w, (0, 1)))
                stats[2].append(_weighted_mean(a, w, (1, 2)))
                stats[3].append(_weighted_mean(closed, w, (1, 2)))
                stats[4].append(_weighted_mean(opened, w, (1, 2)))
            for dst, src in zip((per_unit, sat_unit, over_t, closed_t, open_t), stats):
                dst.append(np.stack(src))
    return GateStatistics(
        tuple(blocks),
        tuple(rows),
        np.stack(per_unit),
        np.stack(sat_unit),
        np.stack(over_t),
        np.stack(closed_t),
        np.stack(open_t),
        float(low),
        float(high),
    )
