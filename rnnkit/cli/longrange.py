"""``rnnkit longrange``: train each cell on a long-range task at several lengths; print a table, write a plot.

    rnnkit longrange --task adding --lengths 50,100,200,400 --cells rnn,gru,lstm,mgu

Tasks (generated, see ``rnnkit.tasks``): ``adding`` (test MSE against 0.167,
always predicting 1.0), ``copy`` (recall accuracy against 1/8) and ``parity``
(accuracy against 1/2). Every run has the same budget of updates (Adam,
global-norm clipping, fresh batches each update). With the defaults the
whole command takes a few minutes on two cores.
"""

from __future__ import annotations

import argparse
import logging
import typing

from rnnkit.cells import registry
from rnnkit.cli.common import UsageError, add_aliases, check_output_dir, check_output_file
from rnnkit.runs.control import check_memory, sequence_memory
from rnnkit.runs.directory import save_figure

_ALL_CELLS = ",".join(registry.names(model_choice=True))

TASK_NAMES = ("adding", "copy", "parity")

# Spellings of earlier versions, accepted but not shown in --help.
ALIASES = {"--hidden": "hidden_size", "--batch": "batch_size", "--clip": "clip_norm"}


def register(sub: typing.Any) -> None:
    """Add ``rnnkit longrange`` to ``sub``."""
    p = sub.add_parser("longrange", help="train every cell on a long-range task at several lengths")
    p.add_argument("--task", default="adding", choices=TASK_NAMES, help="Generated task to learn. (default: adding)")
    p.add_argument(
        "--lengths",
        default="50,100",
        metavar="T,T,...",
        help="Comma-separated sequence lengths T (adding: each >= 2). (default: 50,100)",
    )
    p.add_argument(
        "--cells",
        default=_ALL_CELLS,
        metavar="CELL,...",
        help=f"Comma-separated cells to train, from {', '.join(_ALL_CELLS.split(','))}. (default: {_ALL_CELLS})",
    )
    p.add_argument("--steps", type=int, default=800, metavar="N", help="Updates per run. (default: 800)")
    p.add_argument("--batch-size", type=int, default=32, metavar="N", help="Sequences per update. (default: 32)")
    p.add_argument("--hidden-size", type=int, default=32, metavar="N", help="Hidden units H. (default: 32)")
    p.add_argument("--lr", type=float, default=1e-2, metavar="X", help="Adam learning rate. (default: 0.01)")
    p.add_argument(
        "--clip-norm",
        type=float,
        default=1.0,
        metavar="X",
        help="Clip the global gradient norm to this (0: no clipping). (default: 1.0)",
    )
    p.add_argument(
        "--remember-bias",
        type=float,
        default=0.0,
        metavar="X",
        help="Initial bias of the gate that keeps the state: LSTM f, GRU z, MGU -f. (default: 0.0)",
    )
    p.add_argument("--test-size", type=int, default=1000, metavar="N", help="Test sequences. (default: 1000)")
    p.add_argument(
        "--seed", type=int, default=0, metavar="N", help="Seed of weights, training and test data (>= 0). (default: 0)"
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="FILE.png",
        help="Plot of the score against T; needs matplotlib. (default: longrange-TASK.png)",
    )
    p.add_argument(
        "--save",
        default=None,
        metavar="DIR",
        help="Keep each run's log and checkpoint in DIR/TASK-CELL-TLENGTH, for rnnkit analyze --run.",
    )
    p.add_argument("--progress", action="store_true", help="Show a progress bar per run.")
    add_aliases(p, ALIASES, {"hidden_size": int, "batch_size": int, "clip_norm": float})
    p.set_defaults(func=_main)


def _list(flag: str, text: str, allowed: typing.Any = None, kind: typing.Any = str) -> list:
    items = [t.strip().lower() for t in text.split(",") if t.strip()]
    try:
        values = [kind(t) for t in items]
    except ValueError:
        values = []
    bad = [v for v in values if allowed is not None and v not in allowed]
    if not values or bad or len(values) != len(items):
        want = f"of {', '.join(allowed)}" if allowed else "of integers"
        raise UsageError(f"rnnkit longrange: --{flag} must be a comma-separated list {want}, got {text!r}")
    return values


def _main(args: argparse.Namespace) -> int:
    from rnnkit.analysis.experiments import format_table, length_sweep

    task = args.task
    lengths = _list("lengths", args.lengths, kind=int)
    low = 2 if task == "adding" else 1
    if min(lengths) < low:
        raise UsageError(f"rnnkit longrange: --lengths must all be >= {low}, got {args.lengths!r}")
    cells = _list("cells", args.cells, registry.names(model_choice=True))
    for flag in ("steps", "batch_size", "hidden_size", "test_size"):
        if getattr(args, flag) < 1:
            raise UsageError(f"rnnkit longrange: --{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    if not args.lr > 0:
        raise UsageError(f"rnnkit longrange: --lr must be > 0, got {args.lr}")
    if args.clip_norm < 0:
        raise UsageError(f"rnnkit longrange: --clip-norm must be >= 0, got {args.clip_norm}")
    if args.seed < 0:
        raise UsageError(f"rnnkit longrange: --seed must be >= 0, got {args.seed}")
    check_memory(
        max(sequence_memory(T + 20, max(args.batch_size, args.test_size), 10, args.hidden_size) for T in lengths),
        f"sequences of up to {max(lengths)} steps",
        "--lengths, --batch-size, --test-size, --hidden-size",
    )
    out = args.out
    plots = None
    try:
        import matplotlib  # noqa: F401

        from rnnkit.analysis import plots
    except ImportError:
        if out:
            raise UsageError(
                'rnnkit longrange: --out needs matplotlib; install it with: pip install "rnnkit[cli]"'
            ) from None
    if out is None and plots is not None:
        out = f"longrange-{task}.png"
    # the outputs are checked now, not after all the training
    check_output_file(out, "--out", "rnnkit longrange")
    check_output_dir(args.save, "--save", "rnnkit longrange")

    logging.getLogger("rnnkit.analysis.experiments").setLevel(logging.INFO)
    print(
        f"{task}: cells {', '.join(cells)} at T = {', '.join(map(str, lengths))}; {args.steps} updates of "
        f"{args.batch_size} sequences each, hidden {args.hidden_size}, Adam lr {args.lr:g}, clip {args.clip_norm:g}"
    )
    rows = length_sweep(
        task,
        cells,
        lengths,
        out_dir=args.save,
        progress=args.progress,
        hidden_size=args.hidden_size,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        clip_norm=args.clip_norm or None,
        remember_bias=args.remember_bias,
        test_size=args.test_size,
        seed=args.seed,
    )
    print(format_table(rows))
    if plots is not None:
        r0 = rows[0]
        fig = plots.plot_length_sweep(
            rows,
            baseline=r0["baseline"],
            ylabel=f"test {r0['metric']}",
            title=f"{task}: {args.steps} updates per run",
            log=task == "adding",
        )
        save_figure(fig, out)
        print(f"wrote {out}")
    return 0
