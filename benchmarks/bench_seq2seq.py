"""Encoder-decoders on the built-in tasks: what attention, bidirectional encoders, copy, coverage and beam search buy.

Modes (``--mode``, comma-separated, default all):

- ``dates``: exact match on ``--test-size`` held-out dates (drawn with another
  seed, so many of their format combinations never occur in training; the
  exact match on those is reported apart) after ``--minutes`` of training, for
  the attentional model and the plain encoder-decoder (a fixed context vector).
- ``reversal``: the information-loss curve, exact match against source length
  (5, 10, .., 60 digits) for no attention, attention, and a bidirectional
  encoder with attention, all trained on lengths 5..60; one figure (``--figure``).
- ``copy``: the name-reordering task, whose targets are made of words outside
  the target vocabulary, with and without the pointer-generator.
- ``coverage``: the repeated-attention rate (the share of output steps whose
  most-attended source position was already the most attended at an earlier
  step) with and without coverage, on digit reversal.
- ``beam``: the model's own log-probability of the beam-search output against
  the greedy one, per source (beam search should never score below greedy).
- ``speed``: one training step (forward, backward, Adam) of the dates model
  against the same model written in PyTorch below (same shapes, batch and
  thread count), median of ``--repeats``.

Training goes through the run layer (``rnnkit.runs.seq2seq.train``), as
``rnnkit seq2seq train`` does, in a temporary run directory.

    python benchmarks/bench_seq2seq.py --mode dates --minutes 8
    python benchmarks/bench_seq2seq.py --mode reversal,copy,coverage,beam --minutes 3
    python benchmarks/bench_seq2seq.py --mode speed --threads 2

Each mode prints a table and appends it, with the command, the machine, the
date and the load, to ``--results`` (default: benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

MODES = ("dates", "reversal", "copy", "coverage", "beam", "speed")


def _configure_threads(threads: int) -> None:
    """Same thread count for BLAS, torch and rnnkit; the BLAS part only before numpy is imported."""
    if "numpy" not in sys.modules:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "RNNKIT_NUM_THREADS"):
            os.environ[var] = str(threads)


# -- training and scoring through the run layer ------------------------------------------------------
def _train(args, out: Path, *, task=None, pairs=None, valid=None, level="char", **model):
    """Train one model into ``out``; return (loaded run, minutes spent, updates)."""
    from rnnkit.runs import seq2seq as runs
    from rnnkit.tasks.tsv import write_tsv

    data = {}
    if pairs is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_tsv(out.parent / f"{out.name}-train.tsv", pairs)
        write_tsv(out.parent / f"{out.name}-valid.tsv", valid)
        data = {
            "task": None,
            "data": str(out.parent / f"{out.name}-train.tsv"),
            "valid": str(out.parent / f"{out.name}-valid.tsv"),
            "level": level,
        }
    else:
        data = {"task": task, "train_size": args.train_size, "valid_size": args.valid_size}
    cfg = runs.Seq2SeqRunConfig(
        **data,
        embedding_size=args.embedding_size,
        hidden_size=args.hidden_size,
        batch_size=args.batch_size,
        lr=args.lr,
        epochs=args.epochs,
        max_minutes=args.minutes,
        checkpoint_every=10**6,
        eval_every=10**6,
        seed=args.seed,
        **model,
    )
    t0 = time.perf_counter()
    scores = runs.train(cfg, out, progress=False, log_fn=lambda *a: None)
    minutes = (time.perf_counter() - t0) / 60
    return runs.load_run(out), minutes, scores["steps"]


def _decode(run, sources, beam=1):
    from rnnkit.runs import seq2seq as runs

    return [per[0] for per in runs.translate(run, sources, beam=beam, nbest=1)]


def _exact(outputs, targets) -> float:
    return sum(o.text == t for o, t in zip(outputs, targets)) / max(len(targets), 1)


def _describe(model: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in model.items()) or "defaults"


# -- modes --------------------------------------------------------------------------------------------
def mode_dates(args, tmp: Path) -> dict:
    from rnnkit.tasks.dates import date_pairs

    train_formats = {f for *_, f in date_pairs(args.train_size, seed=args.seed, with_formats=True)}
    test = date_pairs(args.test_size, seed=args.seed + 1000, with_formats=True)
    unseen = [i for i, (*_, f) in enumerate(test) if f not in train_formats]
    rows = []
    for name, model in (("attention (additive)", {"attention": "additive"}), ("plain", {"attention": "none"})):
        run, minutes, steps = _train(args, tmp / f"dates-{model['attention']}", task="dates", **model)
        outputs = _decode(run, [s for s, _, _ in test])
        targets = [t for _, t, _ in test]
        rows.append(
            {
                "model": name,
                "exact": _exact(outputs, targets),
                "exact_unseen": _exact([outputs[i] for i in unseen], [targets[i] for i in unseen]),
                "minutes": minutes,
                "steps": steps,
            }
        )
    lines = [
        f"{len(test)} held-out dates (seed {args.seed + 1000}); {len(unseen)} of them in a format combination "
        f"absent from the {args.train_size} training dates",
        "",
        "| model | exact match | exact match, unseen formats | training minutes | updates |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['model']} | {100 * r['exact']:.2f}% | {100 * r['exact_unseen']:.2f}% | {r['minutes']:.1f} "
        f"| {r['steps']} |"
        for r in rows
    ]
    return {"title": "dates", "rows": rows, "lines": lines}


def mode_reversal(args, tmp: Path) -> dict:
    from rnnkit.tasks.digits import reversal_pairs

    lengths = list(range(5, 61, 5))
    train = reversal_pairs(args.train_size, seed=args.seed, min_length=5, max_length=60)
    valid = reversal_pairs(args.valid_size, seed=args.seed + 1, min_length=5, max_length=60)
    variants = (
        ("no attention", {"attention": "none"}),
        ("attention", {"attention": "additive"}),
        ("bidirectional + attention", {"attention": "additive", "bidirectional": True}),
    )
    curves = {}
    for name, model in variants:
        run, _, _ = _train(args, tmp / f"reverse-{len(curves)}", pairs=train, valid=valid, level="char", **model)
        curve = []
        for L in lengths:
            test = reversal_pairs(args.test_per_length, seed=args.seed + 2000 + L, min_length=L, max_length=L)
            curve.append(_exact(_decode(run, [s for s, _ in test]), [t for _, t in test]))
        curves[name] = curve
    figure = _plot_reversal(lengths, curves, Path(args.figure)) if args.figure else None
    lines = ["| source length | " + " | ".join(curves) + " |", "|---:|" + "---:|" * len(curves)]
    for i, L in enumerate(lengths):
        lines.append(f"| {L} | " + " | ".join(f"{100 * c[i]:.1f}%" for c in curves.values()) + " |")
    if figure:
        lines += ["", f"Figure: {figure}"]
    return {"title": "reversal: exact match against source length", "curves": curves, "lines": lines}


def _plot_reversal(lengths, curves, path: Path):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.subplots()
    for name, curve in curves.items():
        ax.plot(lengths, [100 * c for c in curve], "o-", label=name)
    ax.set_xlabel("source length (digits)")
    ax.set_ylabel("exact match (%)")
    ax.set_ylim(-2, 102)
    ax.set_title("Reversing digit strings: the fixed context vector loses information")
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def mode_copy(args, tmp: Path) -> dict:
    from rnnkit.tasks.names import name_pairs

    test = name_pairs(args.test_size, seed=args.seed + 1000)
    rows = []
    for name, model in (("copy", {"copy": True}), ("no copy", {"copy": False})):
        run, minutes, steps = _train(args, tmp / f"copy-{model['copy']}", task="copy", **model)
        outside = sum(any(w not in run.target_vocab for w in t.split()) for _, t in test) / len(test)
        outputs = _decode(run, [s for s, _ in test])
        rows.append({"model": name, "exact": _exact(outputs, [t for _, t in test]), "outside": outside})
    lines = [
        "| model | exact match | test targets with words outside the target vocabulary |",
        "|---|---:|---:|",
    ]
    lines += [f"| {r['model']} | {100 * r['exact']:.2f}% | {100 * r['outside']:.0f}% |" for r in rows]
    return {"title": "copy: targets with unseen words", "rows": rows, "lines": lines}


def repeated_attention_rate(attentions) -> float:
    """Share of output steps whose argmax source position was the argmax of an earlier step of the same output."""
    import numpy as np

    repeated = total = 0
    for a in attentions:
        if a is None or len(a) == 0:
            continue
        top = np.asarray(a).argmax(axis=1)
        seen = set()
        for i in top.tolist():
            repeated += i in seen
            seen.add(i)
            total += 1
    return repeated / max(total, 1)


def mode_coverage(args, tmp: Path) -> dict:
    from rnnkit.tasks.digits import reversal_pairs

    test = reversal_pairs(args.test_size, seed=args.seed + 1000)
    rows = []
    for name, model in (("coverage", {"coverage": True}), ("no coverage", {"coverage": False})):
        run, _, _ = _train(args, tmp / f"coverage-{model['coverage']}", task="reverse", **model)
        outputs = _decode(run, [s for s, _ in test])
        # the last row is the step that emits </s>; only the digits' steps count
        rate = repeated_attention_rate([o.attention[: len(o.tokens)] for o in outputs])
        rows.append({"model": name, "rate": rate, "exact": _exact(outputs, [t for _, t in test])})
    lines = ["| model | repeated-attention rate | exact match |", "|---|---:|---:|"]
    lines += [f"| {r['model']} | {100 * r['rate']:.2f}% | {100 * r['exact']:.2f}% |" for r in rows]
    return {"title": "coverage: repeated attention on digit reversal", "rows": rows, "lines": lines}


def mode_beam(args, tmp: Path) -> dict:
    from rnnkit.tasks.dates import date_pairs

    run, _, _ = _train(args, tmp / "beam-dates", task="dates", attention="additive")
    test = date_pairs(args.test_size, seed=args.seed + 1000)
    sources, targets = [s for s, _ in test], [t for _, t in test]
    greedy = _decode(run, sources, beam=1)
    beam = _decode(run, sources, beam=args.beam)
    gains = [b.score - g.score for b, g in zip(beam, greedy)]
    # float32 scores of the same output differ in the last digits between the two decoders
    below = sum(b.score - g.score < -1e-5 * max(1.0, abs(g.score)) for b, g in zip(beam, greedy))
    row = {
        "beam": args.beam,
        "below": below,
        "mean_gain": sum(gains) / len(gains),
        "exact_greedy": _exact(greedy, targets),
        "exact_beam": _exact(beam, targets),
    }
    lines = [
        "| beam size | sources where beam < greedy (log P) | mean log P gain | exact match greedy | exact match beam |",
        "|---:|---:|---:|---:|---:|",
        f"| {row['beam']} | {below} of {len(test)} | {row['mean_gain']:.4f} | {100 * row['exact_greedy']:.2f}% "
        f"| {100 * row['exact_beam']:.2f}% |",
    ]
    return {"title": "beam search against greedy on the model's log-probability", "rows": [row], "lines": lines}


# -- speed: one training step against PyTorch ------------------------------------------------------------
def _torch_dates_model(torch, V_src, V_tgt, E, H):
    """The dates model of rnnkit.seq2seq in PyTorch: LSTM encoder, projection bridge, additive attention,
    Luong's combine (ht = tanh(W_c [c; s])) and output layer, teacher forcing."""
    nn = torch.nn

    class Dates(nn.Module):
        def __init__(self):
            super().__init__()
            self.src_emb, self.tgt_emb = nn.Embedding(V_src, E), nn.Embedding(V_tgt, E)
            self.encoder = nn.LSTM(E, H)
            self.bridge_h, self.bridge_c = nn.Linear(H, H), nn.Linear(H, H)
            self.cell = nn.LSTMCell(E, H)
            self.att_h, self.att_s = nn.Linear(H, H, bias=False), nn.Linear(H, H)
            self.att_v = nn.Parameter(torch.empty(H).uniform_(-0.1, 0.1))
            self.combine, self.out = nn.Linear(2 * H, H), nn.Linear(H, V_tgt)

        def forward(self, src, src_lengths, tgt_in, tgt_out, tgt_lengths):
            S, B = src.shape
            packed = nn.utils.rnn.pack_padded_sequence(self.src_emb(src), src_lengths, enforce_sorted=False)
            M, (h, c) = self.encoder(packed)
            M, _ = nn.utils.rnn.pad_packed_sequence(M, total_length=S)  # (S, B, H)
            M = M.transpose(0, 1)  # (B, S, H)
            s, cs = torch.tanh(self.bridge_h(h[-1])), torch.tanh(self.bridge_c(c[-1]))
            keys = self.att_h(M)  # (B, S, H)
            pad = torch.arange(S)[None, :] >= src_lengths[:, None]  # (B, S)
            x = self.tgt_emb(tgt_in)  # (T, B, E)
            logits = []
            for t in range(tgt_in.shape[0]):
                s, cs = self.cell(x[t], (s, cs))
                e = torch.tanh(keys + self.att_s(s)[:, None, :]) @ self.att_v  # (B, S)
                a = torch.softmax(e.masked_fill(pad, float("-inf")), dim=1)
                ctx = (a[:, :, None] * M).sum(1)
                logits.append(self.out(torch.tanh(self.combine(torch.cat([ctx, s], 1)))))
            z = torch.stack(logits)  # (T, B, V)
            real = torch.arange(tgt_in.shape[0])[:, None] < tgt_lengths[None, :]
            nll = nn.functional.cross_entropy(z.reshape(-1, V_tgt), tgt_out.reshape(-1), reduction="none")
            return (nll * real.reshape(-1)).sum() / real.sum()

    return Dates()


def twin_parameter_names() -> dict:
    """PyTorch twin parameter name -> rnnkit dates model state_dict name."""
    names = {
        "src_emb.weight": "encoder.embedding.weight",
        "tgt_emb.weight": "decoder.embedding.weight",
        "bridge_h.weight": "bridge.weight",
        "bridge_h.bias": "bridge.bias",
        "bridge_c.weight": "bridge.weight_c",
        "bridge_c.bias": "bridge.bias_c",
        "att_h.weight": "decoder.attention.weight_h",
        "att_s.weight": "decoder.attention.weight_s",
        "att_s.bias": "decoder.attention.bias",
        "att_v": "decoder.attention.v",
        "combine.weight": "decoder.combine.weight",
        "combine.bias": "decoder.combine.bias",
        "out.weight": "decoder.out.weight",
        "out.bias": "decoder.out.bias",
    }
    for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        names[f"encoder.{kind}_l0"] = f"encoder.rnn.{kind}_l0"
        names[f"cell.{kind}"] = f"decoder.rnn.{kind}_l0"
    return names


def load_rnnkit_weights(torch, net, state: dict) -> None:
    """Copy the rnnkit dates model's weights (its state_dict) into the PyTorch twin."""
    names = twin_parameter_names()
    own = dict(net.named_parameters())
    if set(own) != set(names):
        raise ValueError(f"load_rnnkit_weights: the twin's parameters changed: {sorted(set(own) ^ set(names))}")
    with torch.no_grad():
        for mine, theirs in names.items():
            own[mine].copy_(torch.from_numpy(state[theirs].copy()).to(own[mine].dtype))


def _median(fn, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def mode_speed(args, tmp: Path) -> dict:
    from rnnkit.optim import Adam
    from rnnkit.runs import seq2seq as runs
    from rnnkit.tasks.seq2seq_data import PairBatches, build_vocabularies, get_task

    cfg = runs.Seq2SeqRunConfig(
        task="dates", embedding_size=args.embedding_size, hidden_size=args.hidden_size, batch_size=args.batch_size
    )
    pairs = get_task("dates").pairs(max(args.batch_size, 8), seed=args.seed)
    sv, tv = build_vocabularies(pairs, "char")
    data = PairBatches(pairs, sv, tv, "char", batch_size=args.batch_size, shuffle=False).batch(0, 0)
    batch = runs.to_model_batch(data, cfg)
    model = runs.build_model(cfg, sv, tv)
    opt = Adam(model.params, model.grads, lr=cfg.lr)

    def rnnkit_step():
        model.zero_grad()
        model.train_step(batch, None)
        opt.step()

    row = {
        "shape": f"B={data.src.shape[1]}, S={data.src.shape[0]}, T={data.tgt_in.shape[0]}, "
        f"E={args.embedding_size}, H={args.hidden_size}",
        "rnnkit_ms": 1000 * _median(rnnkit_step, args.repeats, args.warmup),
        "torch_ms": None,
    }
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(args.threads)
        torch.manual_seed(args.seed)
        net = _torch_dates_model(torch, len(sv), len(tv), args.embedding_size, args.hidden_size)
        load_rnnkit_weights(torch, net, model.state_dict())  # the same weights (one rnnkit step later)
        topt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
        tensors = [
            torch.from_numpy(a) for a in (data.src, data.src_lengths, data.tgt_in, data.tgt_out, data.tgt_lengths)
        ]

        def torch_step():
            topt.zero_grad()
            net(*tensors).backward()
            topt.step()

        row["torch_ms"] = 1000 * _median(torch_step, args.repeats, args.warmup)
    ratio = f"{row['torch_ms'] / row['rnnkit_ms']:.2f}" if row["torch_ms"] else "n/a"
    torch_ms = "n/a" if row["torch_ms"] is None else f"{row['torch_ms']:.1f}"
    lines = [
        f"threads: {args.threads}; float32; median of {args.repeats} after {args.warmup} warm-up",
        "",
        "| shape | rnnkit ms | torch ms | torch / rnnkit |",
        "|---|---:|---:|---:|",
        f"| {row['shape']} | {row['rnnkit_ms']:.1f} | {torch_ms} | {ratio} |",
    ]
    return {"title": "speed: one training step of the dates model", "rows": [row], "lines": lines}


# -- the report ---------------------------------------------------------------------------------------
def _machine() -> str:
    import numpy as np

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu}, {cores} cores; Python {platform.python_version()}, NumPy {np.__version__}"


def markdown(results: list, args, load_before: float, load_after: float) -> str:
    out = [
        f"## {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')} bench_seq2seq.py",
        "",
        f"- command: `python benchmarks/bench_seq2seq.py {' '.join(shlex.quote(a) for a in args.argv)}`",
        f"- machine: {_machine()}; threads {args.threads}",
        f"- training per model: {args.train_size} pairs, up to {args.epochs} epochs and "
        f"{args.minutes or 'no'} minutes; hidden {args.hidden_size}, embedding {args.embedding_size}, "
        f"batch {args.batch_size}, lr {args.lr}",
        f"- load average (1 min) before {load_before:.2f}, after {load_after:.2f}",
        "",
    ]
    for r in results:
        out += [f"### {r['title']}", "", *r["lines"], ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", default=",".join(MODES), help=f"comma-separated, of: {', '.join(MODES)}")
    ap.add_argument("--train-size", type=int, default=20000, help="training pairs per model")
    ap.add_argument("--valid-size", type=int, default=500, help="validation pairs per model")
    ap.add_argument("--test-size", type=int, default=2000, help="held-out test pairs")
    ap.add_argument("--test-per-length", type=int, default=200, help="reversal: test pairs per source length")
    ap.add_argument("--minutes", type=float, default=8.0, help="training budget per model (0: none)")
    ap.add_argument("--epochs", type=int, default=1000, help="most epochs per model")
    ap.add_argument("--hidden-size", type=int, default=64)
    ap.add_argument("--embedding-size", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--beam", type=int, default=4, help="beam size of the beam mode")
    ap.add_argument("--repeats", type=int, default=20, help="speed: timed steps")
    ap.add_argument("--warmup", type=int, default=3, help="speed: untimed steps first")
    ap.add_argument("--threads", type=int, default=None, help="BLAS and torch threads (default: every core)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--figure",
        default=str(Path(__file__).resolve().parent.parent / "docs" / "figures" / "seq2seq_reversal.png"),
        help="reversal: where the figure goes ('' for none)",
    )
    ap.add_argument("--results", default=str(Path(__file__).resolve().parent / "RESULTS.md"))
    args = ap.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    modes = [m.strip() for m in args.mode.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad:
        ap.error(f"--mode must name modes among {', '.join(MODES)}, got {', '.join(bad)}")
    if args.threads is None:
        args.threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    _configure_threads(args.threads)
    load_before = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_seq2seq-") as tmp:
        for mode in modes:
            result = globals()[f"mode_{mode}"](args, Path(tmp))
            print(f"\n### {result['title']}\n" + "\n".join(result["lines"]), flush=True)
            results.append(result)
    text = markdown(results, args, load_before, os.getloadavg()[0])
    path = Path(args.results)
    prefix = "" if path.exists() and path.stat().st_size else "# Benchmark results\n\n"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(prefix + text + "\n")
    return {r["title"]: r for r in results}


if __name__ == "__main__":
    main()
