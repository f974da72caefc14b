"""Figures for the analysis results. Each function takes arrays (or the analysis results) and returns a Figure.

matplotlib is optional (``pip install "rnnkit[cli]"``) and imported only when
a function here is called. Figures are built with ``matplotlib.figure.Figure``
directly, not through pyplot: nothing is shown, no global backend is chosen,
and ``fig.savefig("out.png")`` writes the file (the Agg renderer).

Example
-------
>>> import numpy as np
>>> fig = plot_gradient_flow({"rnn": 0.8 ** np.arange(20)[::-1], "lstm": np.ones(20)})
>>> len(fig.axes), fig.axes[0].get_yscale()
(1, 'log')
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from rnnkit.cells import registry

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from rnnkit.analysis.gates import GateStatistics

# one colour per registered cell family, in registration order (rnn red, gru blue, lstm green, mgu purple, ...)
_PALETTE = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


def _figure(width=6.4, height=4.0, ncols=1, nrows=1, **kw):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            'rnnkit.analysis.plots needs matplotlib; install it with: pip install "rnnkit[cli]"'
        ) from None
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _color(label: str):
    """The colour of the cell family named by the label's first word (None for anything else)."""
    known = registry.names()
    name = str(label).split()[0].lower() if str(label).split() else ""
    return _PALETTE[known.index(name) % len(_PALETTE)] if name in known else None


class _Styles:
    """Colour by cell name (the label's first word); a cell's second, third... line gets another dash."""

    DASHES = ("-", "--", ":", "-.")

    def __init__(self) -> None:
        self.used: dict = {}

    def __call__(self, label) -> dict:
        color = _color(label)
        n = self.used.get(color, 0)
        self.used[color] = n + 1
        return {"color": color, "ls": self.DASHES[n % len(self.DASHES)] if color else "-"}


def _positive(v) -> np.ndarray:
    """Zeros cannot sit on a log axis: mask them."""
    v = np.asarray(v, dtype=np.float64)
    return np.where(v > 0, v, np.nan)


def plot_gradient_flow(
    curves: dict, *, title: str = "Gradient of the last-step loss", ylabel: str = r"$\|\partial L_T / \partial s_t\|$"
) -> Figure:
    """One line per label: norm (log scale) against t = 0..T. ``curves``: label -> (T+1,) array.

    Typical input: ``{name: gradient_flow(layer, x).grad_curve}``. Gradients of
    the last step's loss flow from the right (t = T) to the left (t = 0).
    """
    return plot_gradient_flow_panels({title: curves}, ylabel=ylabel)


def plot_gradient_flow_panels(
    panels: dict, *, ylabel: str = r"$\|\partial L_T / \partial s_t\|$", title: str | None = None
) -> Figure:
    """Side-by-side gradient-flow plots sharing the y axis: panel title -> {label -> (T+1,) array}."""
    fig, axes = _figure(width=6.4 if len(panels) == 1 else 5.5 * len(panels), ncols=len(panels), sharey=True)
    for ax, (name, curves) in zip(axes[0], panels.items()):
        style = _Styles()
        for label, v in curves.items():
            v = _positive(v)
            ax.plot(np.arange(len(v)), v, label=str(label), lw=1.6, **style(label))
        ax.set_yscale("log")
        ax.set_xlabel("time step t (the loss is at the last step)")
        ax.set_title(name)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend()
    axes[0, 0].set_ylabel(ylabel)
    if title:
        fig.suptitle(title)
    return fig


def plot_spectrum(
    spectra: dict,
    *,
    measured: dict | None = None,
    bounds: dict | None = None,
    title: str = "Singular values of the recurrent weights",
) -> Figure:
    """Left: singular values (descending) per label; right, if given, measured k-step Jacobian norms vs bounds.

    ``spectra``: label -> (n,) singular values (e.g. ``"lstm f"`` ->
    ``spec.singular_values["weight_hh_l0"]["f"]``); a dashed line marks 1.
    ``measured``: label -> (K+1,) norms of products of k Jacobians, k = 0..K
    (``flow.jacobian_by_steps()`` reduced over the batch); ``bounds``: label -> (K+1,)
    bound (``spec.bound(K)``).
    """
    right = bool(measured) or bool(bounds)
    fig, axes = _figure(width=11.0 if right else 6.4, ncols=2 if right else 1)
    ax = axes[0, 0]
    style = _Styles()
    for label, s in spectra.items():
        s = np.asarray(s)
        ax.plot(np.arange(1, len(s) + 1), s, marker="o", ms=3, label=str(label), **style(label))
    ax.axhline(1.0, color="k", ls="--", lw=1)
    ax.set_xlabel("index i")
    ax.set_ylabel(r"$\sigma_i$")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    if right:
        ax = axes[0, 1]
        palette = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"]
        colors = {
            label: palette[i % len(palette)]
            for i, label in enumerate(dict.fromkeys([*(measured or {}), *(bounds or {})]))
        }
        for label, v in (measured or {}).items():
            ax.plot(np.arange(len(v)), _positive(v), label=f"{label} (measured)", color=colors[label], lw=1.6)
        for label, v in (bounds or {}).items():
            ax.plot(np.arange(len(v)), _positive(v), ls="--", label=f"{label} bound", color=colors[label], lw=1.2)
        ax.set_yscale("log")
        ax.set_xlabel("k (steps of the product)")
        ax.set_ylabel("norm of a product of k one-step Jacobians")
        ax.set_title(r"k-step Jacobian products vs $(\sigma_{max} \max|f'|)^k$")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    return fig


def plot_gate_saturation(stats: GateStatistics, *, row: int = 0, title: str | None = None) -> Figure:
    """Heatmaps of one row (layer/direction) of a :class:`GateStatistics`.

    Left: mean activation per gate and unit (gates x units). Right: fraction of
    saturated values (closed or open) per gate and step (gates x time).
    """
    fig, axes = _figure(width=11.0, height=1.2 + 0.7 * len(stats.gates), ncols=2)
    mean = stats.mean_per_unit[row]  # (G, H)
    sat = stats.saturated_over_time[row]  # (G, T)
    im = axes[0, 0].imshow(mean, aspect="auto", vmin=0, vmax=1, cmap="viridis", interpolation="nearest")
    axes[0, 0].set_title("mean activation per unit")
    axes[0, 0].set_xlabel("unit")
    fig.colorbar(im, ax=axes[0, 0])
    im = axes[0, 1].imshow(sat, aspect="auto", vmin=0, vmax=1, cmap="magma", interpolation="nearest")
    axes[0, 1].set_title(f"fraction saturated (< {stats.low:g} or > {stats.high:g}) per step")
    axes[0, 1].set_xlabel("time step t")
    fig.colorbar(im, ax=axes[0, 1])
    for ax in axes[0]:
        ax.set_yticks(range(len(stats.gates)), labels=list(stats.gates))
        ax.set_ylabel("gate")
    if title:
        fig.suptitle(title)
    return fig


def plot_length_sweep(
    rows: list,
    *,
    metric: str = "value",
    baseline: float | None = None,
    ylabel: str = "test MSE",
    title: str = "Long-range task",
    log: bool = False,
) -> Figure:
    """One line per cell: ``metric`` of each row against its sequence length, with the baseline dashed.

    ``rows``: dicts with at least "cell", "length" and ``metric`` (the table of
    :func:`rnnkit.analysis.experiments.length_sweep`).
    """
    fig, axes = _figure()
    ax = axes[0, 0]
    for cell in dict.fromkeys(r["cell"] for r in rows):
        pts = sorted((r["length"], r[metric]) for r in rows if r["cell"] == cell)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=cell, color=_color(cell), lw=1.6)
    if baseline is not None:
        ax.axhline(baseline, color="k", ls="--", lw=1, label="baseline")
    lengths = sorted({r["length"] for r in rows})
    ax.set_xscale("log")
    ax.set_xticks(lengths, labels=[str(n) for n in lengths])
    ax.minorticks_off()
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("sequence length T")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def plot_clipping(runs: dict, *, title: str = "Exploding gradients, with and without clipping") -> Figure:
    """Left: training loss per update; right: gradient norm before clipping (log scale).

    ``runs``: label -> {"step": (N,), "loss": (N,), "grad_norm": (N,)}, as
    returned by :func:`rnnkit.analysis.experiments.clipping_demo`.
    """
    fig, axes = _figure(width=11.0, ncols=2)
    palette = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd"]
    for i, (label, run) in enumerate(runs.items()):
        color = palette[i % len(palette)]
        axes[0, 0].plot(run["step"], run["loss"], label=label, color=color, lw=1.2)
        axes[0, 1].plot(run["step"], _positive(run["grad_norm"]), label=label, color=color, lw=1.0)
    axes[0, 0].set_yscale("log")
    axes[0, 0].set_xlabel("update")
    axes[0, 0].set_ylabel("training loss (MSE)")
    axes[0, 1].set_yscale("log")
    axes[0, 1].set_xlabel("update")
    axes[0, 1].set_ylabel("gradient norm before clipping")
    for ax in axes[0]:
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return fig
