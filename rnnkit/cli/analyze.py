"""``rnnkit analyze``: gradient flow, recurrent spectra and gate statistics, printed and plotted.

    rnnkit analyze gradflow --cells rnn,gru,lstm,mgu --length 100 --out gradflow.png
    rnnkit analyze gradflow --checkpoint runs/adding-lstm-T100 --checkpoint runs/adding-rnn-T100 --out trained.png
    rnnkit analyze spectrum --checkpoint DIR [--out spectrum.png]
    rnnkit analyze gates --checkpoint DIR [--data FILE] [--out gates.png]

``--checkpoint`` takes a run directory (holding ``checkpoints/``), a
checkpoint directory (holding ``latest``) or one ``ckpt-<n>``. Models: the
task models of ``rnnkit longrange`` (kinds "sequence_regressor",
"sequence_classifier") and the language models (kind "rnnlm"). For ``gates``
on a language model, ``--data`` is a text file, encoded with the ``vocab.json``
found beside the checkpoints; for a task model it is an ``.npy`` array of
inputs (T, B, D), or, if omitted, a fresh batch of the task it was trained on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnnkit.cells import registry
from rnnkit.cli import UsageError

_ALL_CELLS = ",".join(registry.names(model_choice=True))


def register(sub) -> None:
    p = sub.add_parser("analyze", help="gradient flow, singular values and gate statistics of recurrent layers")
    kinds = p.add_subparsers(dest="analysis", metavar="ANALYSIS", parser_class=type(p))

    g = kinds.add_parser("gradflow", help="norm of dL_T/ds_t against t, one line per cell (log scale)")
    g.add_argument("--cells", default=_ALL_CELLS, help=f"comma-separated cells (default {_ALL_CELLS})")
    g.add_argument("--length", type=int, default=100, help="sequence length T (default 100)")
    g.add_argument("--hidden", type=int, default=32, help="hidden size of fresh cells (default 32)")
    g.add_argument("--batch", type=int, default=8, help="sequences averaged over (default 8)")
    g.add_argument("--seed", type=int, default=0, help="seed of the weights and inputs (default 0)")
    g.add_argument(
        "--checkpoint",
        action="append",
        default=None,
        metavar="DIR",
        help="analyse this trained task model instead of fresh cells (repeatable)",
    )
    g.add_argument("--jacobians", action="store_true", help="also measure the norms of ds_T/ds_t (slower)")
    g.add_argument("--out", default=None, metavar="FILE.png", help="write the plot here")
    g.set_defaults(func=_gradflow)

    s = kinds.add_parser("spectrum", help="singular values of every recurrent weight matrix, per gate")
    s.add_argument("--checkpoint", required=True, metavar="DIR", help="run or checkpoint directory")
    s.add_argument("--out", default=None, metavar="FILE.png", help="write the plot here")
    s.set_defaults(func=_spectrum)

    a = kinds.add_parser("gates", help="mean gate activations and saturation over a batch")
    a.add_argument("--checkpoint", required=True, metavar="DIR", help="run or checkpoint directory")
    a.add_argument(
        "--data",
        default=None,
        metavar="FILE",
        help="text (language models) or .npy inputs (T, B, D) (task models; default: fresh task data)",
    )
    a.add_argument("--length", type=int, default=200, help="steps per sequence cut from a text (default 200)")
    a.add_argument("--batch", type=int, default=16, help="sequences: text columns or fresh task sequences (default 16)")
    a.add_argument("--out", default=None, metavar="FILE.png", help="write the heatmaps here")
    a.set_defaults(func=_gates)
    p.set_defaults(func=_need_analysis)


def _need_analysis(args) -> int:
    raise UsageError(
        "rnnkit analyze: an analysis is required (one of: gradflow, spectrum, gates); see rnnkit analyze --help"
    )


# -- checkpoints ------------------------------------------------------------------------------------
def _checkpoint_dir(path: str) -> Path:
    p = Path(path)
    if not p.is_dir():
        raise UsageError(f"rnnkit analyze: --checkpoint {path}: no such directory")
    if not (p / "latest").exists() and (p / "checkpoints" / "latest").exists():
        return p / "checkpoints"
    return p


def load_model(path: str):
    """(model, config, directory) of the checkpoint under ``path``; weights loaded."""
    from rnnkit.checkpoint import load_checkpoint
    from rnnkit.tasks.models import KINDS, task_model_from_config

    d = _checkpoint_dir(path)
    ckpt = load_checkpoint(d)
    kind = ckpt.config.get("kind")
    if kind == "rnnlm":
        from rnnkit.lm.rnnlm import RNNLM

        model = RNNLM.from_config(ckpt.config)
    elif kind in KINDS:
        model = task_model_from_config(ckpt.config)
    else:
        raise UsageError(
            f"rnnkit analyze: {ckpt.path}: unknown model kind {kind!r}; expected rnnlm, " + ", ".join(KINDS)
        )
    ckpt.load_into(model)
    model.eval()
    return model, ckpt.config, d


def _save(fig, out: str | None) -> None:
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=100)
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
    if value < minimum:
        raise UsageError(f"rnnkit analyze: --{name} must be >= {minimum}, got {value}")
    return value


# -- gradflow --------------------------------------------------------------------------------------
def _gradflow(args) -> int:
    from rnnkit.analysis.experiments import task_data
    from rnnkit.analysis.gradflow import gradient_flow
    from rnnkit.layers import recurrent_layer

    _positive("length", args.length, 2)
    _positive("hidden", args.hidden)
    _positive("batch", args.batch)
    plots = _plots() if args.out else None
    flows = {}
    if args.checkpoint:
        for path in args.checkpoint:
            model, cfg, _ = load_model(path)
            if cfg.get("kind") == "rnnlm" or cfg.get("per_step") or not cfg.get("task"):
                raise UsageError(
                    f"rnnkit analyze gradflow: {path}: needs a task model with a last-step loss "
                    "(adding or parity, as rnnkit longrange saves them)"
                )
            x, y = task_data(cfg["task"], args.batch, args.length, np.random.default_rng(args.seed))
            label = f"{cfg['cell']} ({Path(path).name})"
            # in float64: a float32 gradient underflows to 0 after a few dozen steps of a forgetting RNN
            flows[label] = gradient_flow(model.copy("float64"), x.astype(np.float64), y, jacobians=args.jacobians)
    else:
        x, _ = task_data("adding", args.batch, args.length, np.random.default_rng(args.seed))
        for cell in _parse_cells(args.cells):
            layer = recurrent_layer(cell, 2, args.hidden, dtype=np.float64, seed=args.seed)
            flows[cell] = gradient_flow(layer, x.astype(np.float64), jacobians=args.jacobians, seed=args.seed)
    T = args.length
    head = f"{'model':<28} {'|dL/ds_0| / |dL/ds_T|':>22} {'decay per step':>15}"
    if args.jacobians:
        head += f" {'|ds_T/ds_0|':>12}"
    print(f"gradient of the last-step loss, T = {T}, median over {args.batch} sequences")
    print(head)
    for label, f in flows.items():
        c = f.grad_curve
        ratio = c[0] / c[-1] if c[-1] > 0 else float("nan")
        line = f"{label:<28} {ratio:>22.3e} {f.decay_per_step():>15.4f}"
        if args.jacobians:
            line += f" {f.jacobian_curve[0]:>12.3e}"
        print(line)
    if plots:
        title = f"Gradient of the last-step loss, T = {T} " + ("(trained)" if args.checkpoint else "(untrained)")
        _save(plots.plot_gradient_flow({k: f.grad_curve for k, f in flows.items()}, title=title), args.out)
    return 0


# -- spectrum --------------------------------------------------------------------------------------
def _spectrum(args) -> int:
    from rnnkit.analysis.spectrum import recurrent_spectrum

    plots = _plots() if args.out else None
    model, cfg, d = load_model(args.checkpoint)
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
def _find_vocab(d: Path) -> Path:
    for p in (d, d.parent, d.parent.parent):
        if (p / "vocab.json").is_file():
            return p / "vocab.json"
    raise UsageError(
        f"rnnkit analyze gates: no vocab.json beside the checkpoint {d} (looked in {d} and its "
        "two parents); the language model's vocabulary is needed to encode --data"
    )


def _lm_inputs(model, d: Path, data: str, length: int, batch: int) -> np.ndarray:
    from rnnkit.lm.data import batchify, char_tokens, word_tokens
    from rnnkit.lm.vocab import Vocabulary

    vocab = Vocabulary.from_json(_find_vocab(d).read_text(encoding="utf-8"))
    text = Path(data).read_text(encoding="utf-8")
    specials = {vocab.unk_token, vocab.eos_token, vocab.pad_token, vocab.bos_token}
    chars = all(len(t) == 1 for t in vocab.tokens if t not in specials)
    tokens = (char_tokens if chars else word_tokens)(text, eos=vocab.eos_token)
    ids = vocab.encode(tokens)[: length * batch]
    if len(ids) < 2:
        raise UsageError(f"rnnkit analyze gates: --data {data}: needs at least 2 tokens, got {len(ids)}")
    cols = max(1, min(batch, len(ids) // 2))
    grid = batchify(ids, cols)  # (N, B)
    return model.embedding.forward(grid)  # (N, B, E): what the recurrent layer reads


def _task_inputs(cfg: dict, data: str | None, batch: int, dtype) -> np.ndarray:
    from rnnkit.analysis.experiments import task_data

    if data is None:
        if not cfg.get("task") or not cfg.get("length"):
            raise UsageError("rnnkit analyze gates: --data is required: the checkpoint does not say its task")
        x, _ = task_data(cfg["task"], batch, cfg["length"], np.random.default_rng(0))
        return x.astype(dtype)
    try:
        x = np.load(data, allow_pickle=False)
    except ValueError as e:
        raise UsageError(f"rnnkit analyze gates: --data {data}: not a .npy array of numbers ({e})") from None
    if x.ndim != 3 or x.shape[2] != cfg["input_size"]:
        raise UsageError(
            f"rnnkit analyze gates: --data {data}: expected inputs of shape (T, B, "
            f"{cfg['input_size']}), got {tuple(x.shape)}"
        )
    return x


def _gates(args) -> int:
    from rnnkit.analysis.gates import gate_statistics

    _positive("length", args.length, 2)
    _positive("batch", args.batch)
    if args.data is not None and not Path(args.data).is_file():
        raise UsageError(f"rnnkit analyze gates: --data {args.data}: no such file")
    plots = _plots() if args.out else None
    model, cfg, d = load_model(args.checkpoint)
    if cfg.get("cell") in registry.names() and registry.get(cfg["cell"]).gates_cache is None:
        raise UsageError(f"rnnkit analyze gates: {d}: the model's cell is a plain RNN, which has no gates")
    if cfg.get("kind") == "rnnlm":
        if args.data is None:
            raise UsageError("rnnkit analyze gates: --data FILE (a text) is required for a language model")
        x = _lm_inputs(model, d, args.data, args.length, args.batch)
    else:
        x = _task_inputs(cfg, args.data, args.batch, model.rnn.dtype)
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
