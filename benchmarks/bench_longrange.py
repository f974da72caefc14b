"""The adding problem at several lengths for every cell, with a fixed budget of updates; and gradient flow at T = 100.

For each length T and cell (rnn, gru, lstm, mgu) a model is trained from
scratch (``rnnkit.analysis.experiments.train_task``: Adam, global-norm
clipping, fresh batches) and scored by its test MSE against the baseline of
always predicting 1.0 (MSE 1/6 = 0.1667). Then the gradient of the last-step
loss is measured (``rnnkit.analysis.gradient_flow``) for the models of length
``--gradflow-length`` before and after training.

    python benchmarks/bench_longrange.py --lengths 50,100,200 --steps 2000 --save /tmp/rnnkit-longrange

Writes ``longrange_adding.png`` and ``gradflow_trained.png`` to ``--figures``
(default docs/figures), prints the table and appends a dated entry (command,
machine, settings, table) to ``--results`` (default benchmarks/RESULTS.md).
``--save DIR`` keeps every run's checkpoint for ``rnnkit analyze``; ``--reuse DIR`` skips
training and redoes only the gradient-flow part from the checkpoints an earlier ``--save DIR`` kept
(printed and plotted, not appended to the results).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from rnnkit.analysis import gradient_flow
from rnnkit.analysis.experiments import TaskRun, build_task_model, format_table, task_data, train_task
from rnnkit.checkpoint import load_checkpoint
from rnnkit.tasks.models import task_model_from_config

HERE = Path(__file__).resolve().parent


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _uname() -> str:
    try:
        return subprocess.run(["uname", "-a"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return " ".join(platform.uname())


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def _flow_summary(flows: dict) -> list[str]:
    lines = []
    for label, f in flows.items():
        c = f.grad_curve
        lines.append(
            f"{label}: |dL/ds_0| / |dL/ds_T| = {c[0] / c[-1]:.2e}, fitted decay per step {f.decay_per_step():.3f}"
        )
    return lines


def _gradient_flow_part(trained: dict, args, steps: int, figures: Path) -> list[str]:
    """Gradient flow at T = gradflow_length of the trained models and of the same models at initialisation.

    Measured on float64 copies: a float32 gradient that shrinks by 1e-2 per step underflows to 0 within T = 100.
    """
    T = args.gradflow_length
    x, y = task_data("adding", args.gradflow_batch, T, np.random.default_rng([args.seed, 7]))
    x = x.astype(np.float64)
    before, after = {}, {}
    for cell, model in trained.items():
        fresh = build_task_model(model.cfg).copy("float64")
        before[cell] = gradient_flow(fresh, x, y, jacobians=False)
        after[cell] = gradient_flow(model.copy("float64"), x, y, jacobians=False)
    from rnnkit.analysis import plots

    fig = plots.plot_gradient_flow_panels(
        {
            "at initialisation": {c: f.grad_curve for c, f in before.items()},
            f"after {steps} updates": {c: f.grad_curve for c, f in after.items()},
        },
        title=f"Gradient of the adding problem's loss, T = {T} (median over {args.gradflow_batch} sequences)",
    )
    fig.savefig(figures / "gradflow_trained.png", dpi=90)
    return [f"untrained {s}" for s in _flow_summary(before)] + [f"trained {s}" for s in _flow_summary(after)]


def main(argv: list[str] | None = None) -> list:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", default="50,100,200")
    ap.add_argument("--cells", default="rnn,gru,lstm,mgu")
    ap.add_argument("--steps", type=int, default=2000, help="updates per run")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--remember-bias", type=float, default=0.0)
    ap.add_argument("--test-size", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gradflow-length", type=int, default=100, help="one of --lengths")
    ap.add_argument("--gradflow-batch", type=int, default=16)
    ap.add_argument("--figures", default=str(HERE.parent / "docs" / "figures"))
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--save", default=None, help="keep each run's checkpoint in SAVE/adding-CELL-TLENGTH")
    ap.add_argument("--reuse", default=None, help="no training: gradient flow of the checkpoints in REUSE")
    args = ap.parse_args(argv)
    lengths, cells = _ints(args.lengths), [c.strip() for c in args.cells.split(",") if c.strip()]
    if args.gradflow_length not in lengths:
        ap.error(f"--gradflow-length must be one of --lengths {lengths}, got {args.gradflow_length}")
    figures = Path(args.figures)
    figures.mkdir(parents=True, exist_ok=True)
    if args.reuse:
        trained, steps = {}, 0
        for cell in cells:
            ckpt = load_checkpoint(Path(args.reuse) / f"adding-{cell}-T{args.gradflow_length}" / "checkpoints")
            trained[cell] = task_model_from_config(ckpt.config)
            ckpt.load_into(trained[cell])
            steps = ckpt.trainer_state["step"]
        for line in _gradient_flow_part(trained, args, steps, figures):
            print(line)
        return []

    settings = dict(
        hidden_size=args.hidden,
        steps=args.steps,
        batch_size=args.batch,
        lr=args.lr,
        clip_norm=args.clip or None,
        remember_bias=args.remember_bias,
        test_size=args.test_size,
        seed=args.seed,
    )
    t_start = time.perf_counter()
    rows, trained = [], {}
    for T in lengths:
        for cell in cells:
            run = TaskRun(task="adding", cell=cell, length=T, **settings)
            out_dir = None if args.save is None else Path(args.save) / f"adding-{cell}-T{T}"
            model, row = train_task(run, out_dir=out_dir)
            rows.append(row)
            print(
                f"T={T:<4} {cell:<5} test MSE {row['value']:.4f} (baseline {row['baseline']:.4f}), "
                f"{row['seconds']:.0f} s",
                flush=True,
            )
            if T == args.gradflow_length:
                trained[cell] = model
    table = format_table(rows)
    print(table)

    flow_lines = _gradient_flow_part(trained, args, args.steps, figures)
    for line in flow_lines:
        print(line)
    total = time.perf_counter() - t_start
    from rnnkit.analysis import plots

    fig = plots.plot_length_sweep(
        rows,
        baseline=rows[0]["baseline"],
        ylabel="test MSE (log scale)",
        log=True,
        title=f"Adding problem: {args.steps} updates of {args.batch} sequences per run",
    )
    fig.savefig(figures / "longrange_adding.png", dpi=90)

    command = "python benchmarks/bench_longrange.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    entry = "\n".join(
        [
            f"## {datetime.date.today().isoformat()} bench_longrange.py: the adding problem per cell and length",
            "",
            f"- command: `{command}`",
            f"- machine: `{_uname()}`; CPU: {_cpu_model()}; Python {platform.python_version()}; "
            f"total {total / 60:.1f} min",
            f"- settings: hidden {args.hidden}, Adam lr {args.lr:g}, clip {args.clip:g}, remember_bias "
            f"{args.remember_bias:g}, {args.steps} updates of {args.batch} fresh sequences, test on {args.test_size} "
            f"sequences, seed {args.seed}; baseline (always predict 1.0) MSE 0.1667",
            "",
            table,
            "",
            f"Gradient flow at T = {args.gradflow_length} (float64 copies of the models; median over "
            f"{args.gradflow_batch} sequences; loss at the last step):",
            "",
            *[f"- {line}" for line in flow_lines],
            "",
        ]
    )
    results = Path(args.results)
    prefix = "" if results.exists() and results.stat().st_size else "# Benchmark results\n\n"
    with results.open("a", encoding="utf-8") as f:
        f.write(prefix + entry + "\n")
    return rows


if __name__ == "__main__":
    main()
