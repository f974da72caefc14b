"""The Penn Treebank table "from n-grams to LSTMs": one row per run directory, plus published results.

Reads each run directory written by ``rnnkit lm train`` or ``rnnkit ngram train``
and writes a Markdown table and one learning-curve figure::

    python benchmarks/lm_table.py runs/ptb-kn5 runs/ptb-nnlm runs/ptb-small-lstm \\
        --markdown docs/language-models-table.md --figure docs/figures/ptb-learning-curves.png

Every number comes from the files of the runs, never from this script:

- neural runs (log.jsonl): the best validation perplexity is the lowest ``ppl`` of
  the log's ``eval`` records and of the final evaluation that result.json
  records (``valid_loss``, after the last update); the training time is the sum of the ``seconds`` of
  its ``train`` records (evaluations excluded); the epochs are the updates of the
  last record over the updates per epoch of result.json; the parameter count and
  the command line are those result.json recorded;
- n-gram runs (result.json of ``rnnkit ngram train --valid``): the perplexity on
  ``--valid``, the counting time, the number of distinct n-grams as the size of
  the model, and the command line.

The model's description comes from run.json. The published results are
separate rows, labelled with their source: they were measured by their authors
(on the test set, except Zaremba et al.'s validation figure), not by these runs.
The figure plots the validation perplexity of each neural run against epochs
(left) and training time (right).

``--budget-minutes M`` adds the comparison at equal budget: for every neural run,
the best validation perplexity among the evaluations made within its first M
minutes of training time (the same clock as the table's), and a line at M in the
figure. A run that trained for less than M minutes shows its whole run, and says so.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

# Published perplexities on the Penn Treebank (Mikolov's 10k-word version), each labelled with its source.
PUBLISHED = (
    (
        'Mikolov et al. 2011, "Empirical evaluation and combination of advanced language modeling techniques"',
        "KN5 (interpolated modified Kneser-Ney 5-gram)",
        None,
        141.2,
    ),
    (
        'Mikolov et al. 2011, "Empirical evaluation and combination of advanced language modeling techniques"',
        "feed-forward NNLM",
        None,
        140.2,
    ),
    (
        'Mikolov et al. 2011, "Empirical evaluation and combination of advanced language modeling techniques"',
        "RNN LM",
        None,
        124.7,
    ),
    ('Zaremba et al. 2014, "Recurrent neural network regularization"', "small LSTM, 2 x 200, no dropout", 120.7, 114.5),
)

COLUMNS = ("run", "model", "preset", "parameters", "training time", "best valid ppl", "epochs", "command")


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def read_log(path: Path) -> list[dict]:
    """The records of a log.jsonl that parse (a torn last line is skipped)."""
    records = []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return records
    for line in lines:
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if isinstance(r, dict) and r.get("kind") in ("train", "eval"):
            records.append(r)
    return records


def describe_model(cfg: dict) -> str:
    """A short name of the model run.json describes."""
    if "smoothing" in cfg:
        return f"{cfg.get('order')}-gram {cfg.get('smoothing')}"
    if cfg.get("architecture") == "nnlm":
        return f"NNLM n={cfg.get('context', 0) + 1}, E={cfg.get('embedding_size')}, H={cfg.get('hidden_size')}" + (
            ", direct" if cfg.get("direct", True) else ""
        )
    return f"{str(cfg.get('cell', '?')).upper()} {cfg.get('num_layers')} x {cfg.get('hidden_size')}"


def read_run(path: str | Path) -> dict:
    """One row of the table (and the curve of a neural run) from the files of the run directory ``path``."""
    d = Path(path)
    cfg = _read_json(d / "run.json")
    if cfg is None:
        raise ValueError(f"{d}: no readable run.json; not a run directory of 'rnnkit lm train' or 'rnnkit ngram train'")
    result = _read_json(d / "result.json") or {}
    row = {
        "run": d.name,
        "model": describe_model(cfg),
        "preset": result.get("preset"),
        "parameters": result.get("parameters"),
        "command": result.get("command"),
        "curve": [],
    }
    if "smoothing" in cfg:  # an n-gram run
        valid = result.get("valid") or {}
        row.update(kind="ngram", seconds=result.get("seconds"), best_ppl=valid.get("ppl"), epochs=None)
        return row
    records = read_log(d / "log.jsonl")
    per_epoch = result.get("steps_per_epoch")
    seconds, clock = 0.0, []
    for r in sorted(records, key=lambda r: (r.get("step", 0), r["kind"] == "eval")):
        if r["kind"] == "train":
            seconds += float(r.get("seconds") or 0.0)
        elif isinstance(r.get("ppl"), (int, float)) and math.isfinite(r["ppl"]):
            epoch = r["step"] / per_epoch if per_epoch else r.get("epoch", 0) + 1
            clock.append((epoch, seconds, float(r["ppl"])))
    last = max((r.get("step", 0) for r in records), default=0)
    final = result.get("valid_loss")  # the run's last evaluation, after its last update (result.json)
    if result.get("finished") and isinstance(final, (int, float)) and final < 700:
        steps = result.get("steps", last)
        if not any(r["kind"] == "eval" and r.get("step") == steps for r in records):
            clock.append((steps / per_epoch if per_epoch else clock[-1][0] if clock else 0.0, seconds, math.exp(final)))
        last = max(last, steps)
    row.update(
        kind="neural",
        seconds=seconds if records else None,
        best_ppl=min((p for _, _, p in clock), default=None),
        epochs=(last / per_epoch) if per_epoch else (max((r.get("epoch", 0) for r in records), default=-1) + 1),
        curve=clock,
    )
    return row


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _cell(value) -> str:
    return str(value).replace("|", "\\|")


def markdown(rows: list[dict]) -> str:
    """The measured table, then the published results as separate labelled rows."""
    out = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for r in rows:
        params = "n/a" if r["parameters"] is None else f"{r['parameters']:,}"
        if r["kind"] == "ngram" and r["parameters"] is not None:
            params += " n-grams"
        ppl = "n/a" if r["best_ppl"] is None else f"{r['best_ppl']:.2f}"
        epochs = "-" if r["epochs"] is None else f"{r['epochs']:.2f}"
        command = f"`{r['command']}`" if r["command"] else "not recorded"
        cells = [r["run"], r["model"], r["preset"] or "-", params, _duration(r["seconds"]), ppl, epochs, command]
        out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    out += [
        "",
        "Published results on the same corpus (measured by their authors, not by the runs above):",
        "",
        "| source | model | valid ppl | test ppl |",
        "|---|---|---|---|",
    ]
    for source, model, valid, test in PUBLISHED:
        out.append(f"| {source} | {model} | {'-' if valid is None else valid} | {test} |")
    return "\n".join(out) + "\n"


def best_within(row: dict, minutes: float) -> tuple[float | None, float]:
    """(the lowest validation perplexity evaluated within the first ``minutes`` of training time, the minutes
    the run actually trained, capped at ``minutes``) for a neural row."""
    within = [(s, p) for _, s, p in row["curve"] if s <= 60 * minutes]
    trained = min(minutes, (row["seconds"] or 0.0) / 60)
    return min((p for _, p in within), default=None), trained


def budget_markdown(rows: list[dict], minutes: float) -> str:
    """The neural runs at an equal training-time budget: one row each."""
    out = [
        f"At an equal budget: the best validation perplexity within the first {minutes:g} minutes of training "
        "(evaluations excluded), from the same logs:",
        "",
        f"| run | model | parameters | best valid ppl within {minutes:g} min | note |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        if r["kind"] != "neural" or not r["curve"]:
            continue
        best, trained = best_within(r, minutes)
        ppl = "n/a" if best is None else f"{best:.2f}"
        note = "" if trained >= minutes else f"the whole run: it stopped after {trained:.1f} min"
        params = "n/a" if r["parameters"] is None else f"{r['parameters']:,}"
        out.append(f"| {r['run']} | {r['model']} | {params} | {ppl} | {note} |")
    return "\n".join(out) + "\n"


def figure(rows: list[dict], path: str | Path, budget_minutes: float | None = None) -> Path | None:
    """Validation perplexity against epochs and training time, one line per neural run; None without any."""
    neural = [r for r in rows if r["curve"]]
    if not neural:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rnnkit.runs.directory import save_figure

    fig, (by_epoch, by_time) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for r in neural:
        epochs, seconds, ppl = zip(*r["curve"])
        label = r["run"] if r["preset"] in (None, r["run"]) else f"{r['run']} ({r['preset']})"
        by_epoch.plot(epochs, ppl, "o-", markersize=3, label=label)
        by_time.plot([s / 60 for s in seconds], ppl, "o-", markersize=3, label=label)
    if budget_minutes is not None:
        by_time.axvline(budget_minutes, color="grey", linestyle="--", linewidth=1)
    by_epoch.set_xlabel("epochs")
    by_time.set_xlabel("training time (minutes, evaluations excluded)")
    by_epoch.set_ylabel("validation perplexity")
    by_epoch.set_yscale("log")
    by_epoch.legend()
    fig.suptitle("Penn Treebank: validation perplexity during training")
    fig.tight_layout()
    try:
        return save_figure(fig, path)
    finally:
        plt.close(fig)


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories of rnnkit lm/ngram train")
    p.add_argument("--markdown", metavar="FILE", help="write the table here (default: print it)")
    p.add_argument("--figure", metavar="FILE", help="write the learning curves here (PNG)")
    p.add_argument(
        "--budget-minutes",
        type=float,
        metavar="M",
        help="add the neural runs' best validation perplexity within their first M minutes of training",
    )
    args = p.parse_args(argv)
    if args.budget_minutes is not None and not args.budget_minutes > 0:
        p.error(f"--budget-minutes must be > 0, got {args.budget_minutes}")
    rows = []
    for run in args.runs:
        try:
            rows.append(read_run(run))
        except ValueError as e:
            p.error(str(e))
    text = markdown(rows)
    if args.budget_minutes is not None:
        text += "\n" + budget_markdown(rows, args.budget_minutes)
    if args.markdown:
        from rnnkit.io import atomic_write

        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(args.markdown, [text.encode("utf-8")])
        print(f"wrote {args.markdown}")
    else:
        sys.stdout.write(text)
    if args.figure:
        written = figure(rows, args.figure, args.budget_minutes)
        print(f"wrote {written}" if written else "no neural run: no figure")
    return rows


if __name__ == "__main__":
    main()
