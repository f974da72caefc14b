"""``rnnkit analyze``: gradient flow, recurrent spectra and gate statistics, printed and plotted.

    rnnkit analyze gradflow --cells rnn,gru,lstm,mgu --length 100 --out gradflow.png
    rnnkit analyze gradflow --run runs/adding-lstm-T100 --run runs/adding-rnn-T100 --out trained.png
    rnnkit analyze spectrum --run DIR [--out spectrum.png]
    rnnkit analyze gates --run DIR [--data FILE] [--out gates.png]

``--run`` takes a run directory (holding ``checkpoints/``), a
checkpoint directory (holding ``latest``) or one ``ckpt-<n>``
(:func:`rnnkit.runs.models.load_trained_model`). Models: the
task models of ``rnnkit longrange`` (kinds "sequence_regressor",
"sequence_classifier") and the language models (kind "rnnlm"). For ``gates``
on a language model, ``--data`` is a text file, encoded with the ``vocab.json``
found beside the checkpoints; for a task model it is an ``.npy`` array of
inputs (T, B, D), or, if omitted, a fresh batch of the task it was trained on.
"""

from __future__ import annotations

import argparse
import typing
from pathlib import Path

import numpy as np

from rnnkit.cells import registry
from rnnkit.cli.common import UsageError, add_aliases, check_output_file, positive, require
from rnnkit.runs.control import check_memory, sequence_memory
from rnnkit.runs.directory import save_figure
from rnnkit.runs.models import load_trained_model, task_inputs, text_inputs

_ALL_CELLS = ",".join(registry.names(model_choice=True))

# Spellings of earlier versions (--checkpoint, --hidden, --batch) are accepted but not shown in --help.


def register(sub: typing.Any) -> None:
    """Add ``rnnkit analyze`` and its analyses to ``sub``."""
    p = sub.add_parser("analyze", help="gradient flow, singular values and gate statistics of recurrent layers")
    kinds = p.add_subparsers(dest="analysis", metavar="ANALYSIS", parser_class=type(p))

    g = kinds.add_parser("gradflow", help="norm of dL_T/ds_t against t, one line per cell (log scale)")
    g.add_argument(
        "--cells",
        default=_ALL_CELLS,
        help=f"Comma-separated cells to compare, from {', '.join(_ALL_CELLS.split(','))}. (default: {_ALL_CELLS})",
    )
    g.add_argument("--length", type=int, default=100, metavar="T", help="Sequence length T, at least 2. (default: 100)")
    g.add_argument("--hidden-size", type=int, default=32, metavar="N", help="Hidden size of fresh cells. (default: 32)")
    g.add_argument("--batch-size", type=int, default=8, metavar="N", help="Sequences averaged over. (default: 8)")
    g.add_argument(
        "--seed", type=int, default=0, metavar="N", help="Seed of the weights and inputs (>= 0). (default: 0)"
    )
    g.add_argument(
        "--run",
        action="append",
        default=None,
        metavar="DIR",
        help="Analyse this trained task model (a run or checkpoint directory) instead of fresh cells; repeatable.",
    )
    g.add_argument("--jacobians", action="store_true", help="Also measure the norms of ds_T/ds_t (slower).")
    g.add_argument("--out", default=None, metavar="FILE.png", help="Write the plot here (needs matplotlib).")
    g.add_argument("--checkpoint", dest="run", action="append", help=argparse.SUPPRESS)
    add_aliases(g, {"--hidden": "hidden_size", "--batch": "batch_size"}, {"hidden_size": int, "batch_size": int})
    g.set_defaults(func=_gradflow)

    s = kinds.add_parser("spectrum", help="singular values of every recurrent weight matrix, per gate")
    s.add_argument("--run", metavar="DIR", help="Run or checkpoint directory. (required)")
    s.add_argument("--out", default=None, metavar="FILE.png", help="Write the plot here (needs matplotlib).")
    add_aliases(s, {"--checkpoint": "run"}, {"run": str})
    s.set_defaults(func=_spectrum)

    a = kinds.add_parser("gates", help="mean gate activations and saturation over a batch")
    a.add_argument("--run", metavar="DIR", help="Run or checkpoint directory. (required)")
    a.add_argument(
        "--data",
        default=None,
        metavar="FILE",
        help="Text (language models) or .npy inputs (T, B, D) (task models). (default: fresh data of the task)",
    )
    a.add_argument(
        "--length",
        type=int,
        default=200,
        metavar="T",
        help="Steps per sequence cut from a text, at least 2. (default: 200)",
    )
    a.add_argument(
        "--batch-size",
        type=int,
        default=16,
        metavar="N",
        help="Sequences: text columns or fresh task sequences. (default: 16)",
    )
    a.add_argument("--out", default=None, metavar="FILE.png", help="Write the heatmaps here (needs matplotlib).")
    add_aliases(a, {"--checkpoint": "run", "--batch": "batch_size"}, {"run": str, "batch_size": int})
    a.set_defaults(func=_gates)
    p.set_defaults(func=_need_analysis)


def _need_analysis(args: argparse.Namespace) -> int:
    raise UsageError(
        "rnnkit analyze: an analysis is required (one of: gradflow, spectrum, gates); see rnnkit analyze --help"
    )


# -- helpers ---------------------------------------------------------------------------------------
def load_model(path: str) -> tuple:
    """(model, config, directory) of the checkpoint under ``path`` (:func:`rnnkit.runs.models.load_trained_model`)."""
    return load_trained_model(path, "--run")


def _check(args: argparse.Namespace) -> None:
    """Bounds of the flags every analysis shares, and the output path, checked before any work."""
    for name, low in (("length", 2), ("hidden_size", 1), ("batch_size", 1), ("seed", 0)):
        if hasattr(args, name):
            _positive(name, getattr(args, name), low)
    check_output_file(args.out, "--out", "rnnkit analyze")
    T, B, H = getattr(args, "length", 2), getattr(args, "batch_size", 1), getattr(args, "hidden_size", 1)
    check_memory(sequence_memory(T, B, 2, H), f"sequences of {T} steps", "--length, --batch-size, --hidden-size")


def _save(fig: typing.Any, out: str | None) -> None:
    if out:
        save_figure(fig, out)
        print(f"wrote {out}")


def _plots():
    try:
        import matplotlib  # noqa: F401  (rnnkit.analysis.plots imports it only when drawing)
    except ImportError:
        raise UsageError('rnnkit analyze: --out needs matplotlib; install it with: pip install "rnnkit[cli]"') from None
    from rnnkit.analysis import plots

    return plots


def _parse_cells(text: str) -> list[str]:
    cells = [c.strip().lower() for c in text.split(",") if c.strip()]
    known = registry.names(model_choice=True)
    bad = [c for c in cells if c not in known]
    if not cells or bad:
        raise UsageError(f"rnnkit analyze: --cells must be a comma-separated list of {', '.join(known)}, got {text!r}")
    return cells


def _positive(name: str, value: int, minimum: int = 1) -> int:
    return positive("rnnkit analyze", name, value, minimum)


# -- gradflow --------------------------------------------------------------------------------------
def _gradflow(args: argparse.Namespace) -> int:
    from rnnkit.analysis.experiments import task_data
    from rnnkit.analysis.gradflow import gradient_flow
    from rnnkit.layers import recurrent_layer

    _check(args)
    cells = _parse_cells(args.cells)
    plots = _plots() if args.out else None
    flows = {}
    if args.run:
        for path in args.run:
            model, cfg, _ = load_model(path)
            if cfg.get("kind") == "rnnlm" or cfg.get("per_step") or not cfg.get("task"):
                raise UsageError(
                    f"rnnkit analyze gradflow: {path}: needs a task model with a last-step loss "
                    "(adding or parity, as rnnkit longrange saves them)"
                )
            x, y = task_data(cfg["task"], args.batch_size, args.length, np.random.default_rng(args.seed))
            label = f"{cfg['cell']} ({Path(path).name})"
            # in float64: a float32 gradient underflows to 0 after a few dozen steps of a forgetting RNN
            flows[label] = gradient_flow(model.copy("float64"), x.astype(np.float64), y, jacobians=args.jacobians)
    else:
        x, _ = task_data("adding", args.batch_size, args.length, np.random.default_rng(args.seed))
        for cell in cells:
            layer = recurrent_layer(cell, 2, args.hidden_size, dtype=np.float64, seed=args.seed)
            flows[cell] = gradient_flow(layer, x.astype(np.float64), jacobians=args.jacobians, seed=args.seed)
    T = args.length
    head = f"{'model':<28} {'|dL/ds_0| / |dL/ds_T|':>22} {'decay per step':>15}"
    if args.jacobians:
        head += f" {'|ds_T/ds_0|':>12}"
    print(f"gradient of the last-step loss, T = {T}, median over {args.batch_size} sequences")
    print(head)
    for label, f in flows.items():
        c = f.grad_curve
        ratio = c[0] / c[-1] if c[-1] > 0 else float("nan")
        line = f"{label:<28} {ratio:>22.3e} {f.decay_per_step():>15.4f}"
        if args.jacobians:
            line += f" {f.jacobian_curve[0]:>12.3e}"
        print(line)
    if plots:
        title = f"Gradient of the last-step loss, T = {T} " + ("(trained)" if args.run else "(untrained)")
        _save(plots.plot_gradient_flow({k: f.grad_curve for k, f in flows.items()}, title=title), args.out)
    return 0


# -- spectrum --------------------------------------------------------------------------------------
def _spectrum(args: argparse.Namespace) -> int:
    from rnnkit.analysis.spectrum import recurrent_spectrum

    _check(args)
    plots = _plots() if args.out else None
    model, cfg, d = load_model(require(args, "run", "rnnkit analyze spectrum"))
    spec = recurrent_spectrum(model)
    print(f"{d}: {cfg.get('kind')} with the recurrent layer {model.rnn!r}")
    print(
        "{:<22} {:<5} {:>10} {:>8} {:>8}  (gain = sigma_max * max|f'|)".format(
            "weight", "gate", "sigma_max", "max|f'|", "gain"
        )
    )
    for name, blocks in spec.singular_values.items():
        gains = spec.gains(name)
        for gate, values in blocks.items():
            print(f"{name:<22} {gate:<5} {values[0]:>10.4f} {spec.max_derivative[gate]:>8.2f} {gains[gate]:>8.4f}")
        rate = spec.rates[name]
        if rate is not None:
            print(f"{name}: a plain RNN; every k-step Jacobian product is at most {rate:.4f}^k")
    if plots:
        curves = {
            f"{name.replace('weight_hh_', '')} {g}": v
            for name, blocks in spec.singular_values.items()
            for g, v in blocks.items()
        }
        _save(
            plots.plot_spectrum(curves, title=f"Singular values of W_hh per gate ({type(model.rnn).__name__})"),
            args.out,
        )
    return 0


# -- gates -----------------------------------------------------------------------------------------
def _gates(args: argparse.Namespace) -> int:
    from rnnkit.analysis.gates import gate_statistics
    from rnnkit.text.corpus import file_kind

    _check(args)
    kind = "a file" if args.data is None else file_kind(args.data)
    if kind != "a file":
        what = "no such file" if kind == "nothing" else f"is {kind}, not a file"
        raise UsageError(f"rnnkit analyze gates: --data {args.data}: {what}")
    plots = _plots() if args.out else None
    model, cfg, d = load_model(require(args, "run", "rnnkit analyze gates"))
    if cfg.get("cell") in registry.names() and registry.get(cfg["cell"]).gates_cache is None:
        raise UsageError(f"rnnkit analyze gates: {d}: the model's cell is a plain RNN, which has no gates")
    if cfg.get("kind") == "rnnlm":
        if args.data is None:
            raise UsageError("rnnkit analyze gates: --data FILE (a text) is required for a language model")
        x = text_inputs(model, d, args.data, args.length, args.batch_size)
    else:
        x = task_inputs(cfg, args.data, args.batch_size, model.rnn.dtype)
    stats = gate_statistics(model, x)
    T, B = x.shape[:2]
    print(
        f"{d}: gates of the {type(model.rnn).__name__} over {B} sequences of {T} steps "
        f"(closed < {stats.low:g}, open > {stats.high:g})"
    )
    print(f"{'layer':<12} {'gate':<5} {'mean':>7} {'closed':>8} {'open':>8} {'saturated':>10}")
    for r, row in enumerate(stats.rows):
        for g, gate in enumerate(stats.gates):
            closed = float(np.mean(stats.closed_over_time[r, g]))
            opened = float(np.mean(stats.open_over_time[r, g]))
            print(
                f"{row:<12} {gate:<5} {float(np.mean(stats.mean_per_unit[r, g])):>7.3f} {closed:>8.3f} "
                f"{opened:>8.3f} {closed + opened:>10.3f}"
            )
    if plots:
        title = f"Gates of the {type(model.rnn).__name__} ({cfg.get('task') or cfg.get('kind')})"
        _save(plots.plot_gate_saturation(stats, title=title), args.out)
    return 0
