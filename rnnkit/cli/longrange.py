"""``rnnkit longrange``: train each cell on a long-range task at several lengths; print a table, write a plot.

    rnnkit longrange --task adding --lengths 50,100,200,400 --cells rnn,gru,lstm,mgu

Tasks (generated, see ``rnnkit.tasks``): ``adding`` (test MSE against 0.167,
always predicting 1.0), ``copy`` (recall accuracy against 1/8) and ``parity``
(accuracy against 1/2). Every run has the same budget of updates (Adam,
global-norm clipping, fresh batches each update). With the defaults the
whole command takes a few minutes on two cores.
"""

from __future__ import annotations

import logging

from rnnkit.cells import registry
from rnnkit.cli import UsageError

_ALL_CELLS = ",".join(registry.names(model_choice=True))

TASK_NAMES = ("adding", "copy", "parity")


def register(sub) -> None:
    p = sub.add_parser("longrange", help="train every cell on a long-range task at several lengths")
    p.add_argument("--task", default="adding", help="adding | copy | parity (default adding)")
    p.add_argument("--lengths", default="50,100", help="comma-separated sequence lengths T (default 50,100)")
    p.add_argument("--cells", default=_ALL_CELLS, help=f"comma-separated cells (default {_ALL_CELLS})")
    p.add_argument("--steps", type=int, default=800, help="updates per run (default 800)")
    p.add_argument("--batch", type=int, default=32, help="sequences per update (default 32)")
    p.add_argument("--hidden", type=int, default=32, help="hidden size (default 32)")
    p.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (default 0.01)")
    p.add_argument("--clip", type=float, default=1.0, help="global-norm clipping threshold; 0 for none (default 1)")
    p.add_argument(
        "--remember-bias",
        type=float,
        default=0.0,
        help="initial bias of the gate that keeps the state: LSTM f, GRU z, MGU -f (default 0)",
    )
    p.add_argument("--test-size", type=int, default=1000, help="test sequences (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, training and test data (default 0)")
    p.add_argument(
        "--out",
        default=None,
        metavar="FILE.png",
        help="plot of the score against T (default longrange-TASK.png; needs matplotlib)",
    )
    p.add_argument(
        "--save",
        default=None,
        metavar="DIR",
        help="keep each run's log and checkpoint in DIR/TASK-CELL-TLENGTH (for rnnkit analyze)",
    )
    p.add_argument("--progress", action="store_true", help="show a progress bar per run")
    p.set_defaults(func=_main)


def _list(flag: str, text: str, allowed=None, kind=str) -> list:
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


def _main(args) -> int:
    from rnnkit.analysis.experiments import format_table, length_sweep

    task = args.task.strip().lower()
    if task not in TASK_NAMES:
        raise UsageError(f"rnnkit longrange: --task must be one of {', '.join(TASK_NAMES)}, got {args.task!r}")
    lengths = _list("lengths", args.lengths, kind=int)
    low = 2 if task == "adding" else 1
    if min(lengths) < low:
        raise UsageError(f"rnnkit longrange: --lengths must all be >= {low}, got {args.lengths!r}")
    cells = _list("cells", args.cells, registry.names(model_choice=True))
    for flag in ("steps", "batch", "hidden", "test_size"):
        if getattr(args, flag) < 1:
            raise UsageError(f"rnnkit longrange: --{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    if not args.lr > 0:
        raise UsageError(f"rnnkit longrange: --lr must be > 0, got {args.lr}")
    if args.clip < 0:
        raise UsageError(f"rnnkit longrange: --clip must be >= 0, got {args.clip}")
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

    logging.getLogger("rnnkit.analysis.experiments").setLevel(logging.INFO)
    print(
        f"{task}: cells {', '.join(cells)} at T = {', '.join(map(str, lengths))}; {args.steps} updates of "
        f"{args.batch} sequences each, hidden {args.hidden}, Adam lr {args.lr:g}, clip {args.clip:g}"
    )
    rows = length_sweep(
        task,
        cells,
        lengths,
        out_dir=args.save,
        progress=args.progress,
        hidden_size=args.hidden,
        steps=args.steps,
        batch_size=args.batch,
        lr=args.lr,
        clip_norm=args.clip or None,
        remember_bias=args.remember_bias,
        test_size=args.test_size,
        seed=args.seed,
    )
    print(format_table(rows))
    if plots is not None:
        from pathlib import Path

        r0 = rows[0]
        fig = plots.plot_length_sweep(
            rows,
            baseline=r0["baseline"],
            ylabel=f"test {r0['metric']}",
            title=f"{task}: {args.steps} updates per run",
            log=task == "adding",
        )
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=100)
        print(f"wrote {out}")
    return 0
