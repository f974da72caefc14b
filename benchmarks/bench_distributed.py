"""Data-parallel throughput on the Penn Treebank small LSTM: 1, 2, ... MPI processes, the same global batch.

The model is Zaremba et al. (2014)'s "small" LSTM (2 x 200, embeddings 200,
20 unrolled steps, SGD lr 1, clipping at 5, the batch-mean objective). The
global batch (``--batch``, default 20) is split over the processes (strong
scaling), so it must be divisible by each process count. For each count
the driver launches ``mpirun -n P`` on this file in worker mode and reports:

    tokens/s          global tokens per second, after ``--warmup`` updates
    step ms           mean wall time per update
    comm ms           mean time per update spent in the gradient allreduce (waiting included)
    MB/step           gradient bytes each rank contributes per update (the flat buffer)
    ring MB/step      bytes each rank sends per update in a ring allreduce: 2 (P - 1) / P x the buffer
    threads           BLAS threads and compiled-loop threads per process

Run (paths to the PTB files, never copied into the repository)::

    python benchmarks/bench_distributed.py --train ../shared/data/ptb/ptb.train.txt --procs 1 2
    python benchmarks/bench_distributed.py --train ... --procs 1 2 4 8 16 --batch 32 --threads 1

``--threads`` sets each process's BLAS and loop threads (default: the
machine's cores divided by P). ``--results FILE`` appends a dated entry.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _package_parent() -> str:
    """The folder holding the rnnkit to measure: the installed one, else this checkout's source tree."""
    spec = importlib.util.find_spec("rnnkit")
    return str(Path(spec.origin).resolve().parent.parent) if spec is not None else str(ROOT)


def _thread_env(threads: int) -> dict:
    return {
        k: str(threads) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "RNNKIT_NUM_THREADS")
    }


# -- worker: one process of the measured run -------------------------------------------------------------
def worker(args) -> int:
    if importlib.util.find_spec("rnnkit") is None:
        sys.path.insert(0, str(ROOT))
    from rnnkit import _kernels, distributed
    from rnnkit.lm.rnnlm import RNNLM, RNNLMConfig
    from rnnkit.optim import SGD
    from rnnkit.runs.lm import read_text, stream_source, tokenize
    from rnnkit.text.vocab import Vocabulary
    from rnnkit.trainer import TrainerConfig

    comm = distributed.init()
    tokens = tokenize(read_text(args.train), "word")
    vocab = Vocabulary.from_tokens(tokens)
    ids = vocab.encode(tokens)
    model = RNNLM(
        RNNLMConfig(
            vocab_size=len(vocab),
            cell="lstm",
            embedding_size=args.hidden,
            hidden_size=args.hidden,
            num_layers=2,
            dropout=args.dropout,
            init_range=0.1,
            objective="batch_mean",
            dtype="float32",
            seed=0,
        )
    )
    opt = SGD(model.params, model.grads, lr=1.0)
    total = args.warmup + args.steps
    cfg = TrainerConfig(max_steps=total, clip_norm=5.0, log_every=10**9, progress=False)
    extra = {} if comm is None else {"check_every": None, "bucket_bytes": args.bucket_kb << 10, "overlap": args.overlap}
    trainer = distributed.make_trainer(model, opt, cfg, comm=comm, **extra)
    train = distributed.shard_source(trainer, stream_source(ids, args.batch, args.bptt, "train"))

    marks = {}
    step_fn = model.train_step

    def timed_step(batch, state):
        marks.setdefault("calls", 0)
        marks["calls"] += 1
        if marks["calls"] == args.warmup + 1:  # the clock starts after the warm-up updates
            marks["t0"] = time.perf_counter()
            marks["comm0"] = getattr(trainer, "comm_seconds", 0.0)
        return step_fn(batch, state)

    model.train_step = timed_step
    trainer.fit(train)
    seconds = time.perf_counter() - marks["t0"]
    comm_seconds = getattr(trainer, "comm_seconds", 0.0) - marks["comm0"]
    P = 1 if comm is None else comm.size
    payload = trainer.buckets.nbytes if comm is not None else sum(g.nbytes for g in model.grads.values())
    if comm is None or comm.rank == 0:
        result = {
            "procs": P,
            "tokens_per_s": args.steps * args.batch * args.bptt / seconds,
            "step_ms": 1e3 * seconds / args.steps,
            "comm_ms": 1e3 * comm_seconds / args.steps,
            "mb_per_step": payload / 1e6 if P > 1 else 0.0,
            "ring_mb_per_step": 2 * (P - 1) / P * payload / 1e6,
            "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "?"),
            "loop_threads": _kernels.configure()["threads"],
            "parameters": int(model.num_parameters()),
            "buckets": len(trainer.buckets.buckets) if comm is not None else 0,
        }
        Path(args.worker_out).write_text(json.dumps(result))
    return 0


# -- driver ----------------------------------------------------------------------------------------------
def _launch(P: int, args, out: Path) -> dict:
    threads = args.threads or max(1, (os.cpu_count() or 1) // P)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--worker-out", str(out)]
    cmd += ["--train", args.train, "--batch", str(args.batch), "--bptt", str(args.bptt), "--hidden", str(args.hidden)]
    cmd += ["--steps", str(args.steps), "--warmup", str(args.warmup), "--dropout", str(args.dropout)]
    cmd += ["--bucket-kb", str(args.bucket_kb)] + (["--overlap"] if args.overlap else [])
    if P > 1:
        if shutil.which("mpirun") is None:
            raise SystemExit("bench_distributed: mpirun not found (apt-get install openmpi-bin libopenmpi-dev)")
        version = subprocess.run(["mpirun", "--version"], capture_output=True, text=True).stdout
        flags = ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none"] if "Open MPI" in version else []
        cmd = ["mpirun", *flags, "-n", str(P)] + cmd
    env = dict(os.environ, **_thread_env(threads), PYTHONPATH=_package_parent())
    subprocess.run(cmd, check=True, env=env, timeout=args.timeout)
    return json.loads(out.read_text())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train", required=True, help="PTB training text (ptb.train.txt)")
    p.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batch", type=int, default=20, help="global batch, split over the processes")
    p.add_argument("--bptt", type=int, default=20)
    p.add_argument("--hidden", type=int, default=200)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--steps", type=int, default=50, help="timed updates")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="BLAS and loop threads per process (0: cores / P)")
    p.add_argument("--bucket-kb", type=int, default=4096)
    p.add_argument("--overlap", action="store_true", help="launch buckets as their layers' backward returns")
    p.add_argument("--timeout", type=int, default=3600)
    p.add_argument("--results", default=None, help="append a dated entry to this Markdown file")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--worker-out", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)
    for P in args.procs:
        if args.batch % P:
            p.error(f"--batch {args.batch} must be divisible by every process count, got {P}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for P in args.procs:
            rows.append(_launch(P, args, Path(tmp) / f"p{P}.json"))
    base = rows[0]["tokens_per_s"] / rows[0]["procs"]
    header = "| procs | tokens/s | speed-up | efficiency | step ms | comm ms | MB/step | ring MB/step | "
    header += "BLAS / loop threads |"
    lines = [header, "|" + "---|" * 9]
    for r in rows:
        speedup = r["tokens_per_s"] / rows[0]["tokens_per_s"]
        eff = r["tokens_per_s"] / (base * r["procs"])
        lines.append(
            f"| {r['procs']} | {r['tokens_per_s']:,.0f} | {speedup:.2f} | {eff:.2f} | {r['step_ms']:.1f} | "
            f"{r['comm_ms']:.1f} | {r['mb_per_step']:.2f} | {r['ring_mb_per_step']:.2f} | "
            f"{r['blas_threads']} / {r['loop_threads']} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.results:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        entry = (
            f"\n## bench_distributed, {datetime.date.today().isoformat()}\n\n"
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average {load:.2f}; "
            f"global batch {args.batch}, bptt {args.bptt}, hidden {args.hidden}, {args.steps} timed updates, "
            f"{rows[0]['parameters']:,} parameters\n\n{table}\n"
        )
        with open(args.results, "a", encoding="utf-8") as f:
            f.write(entry)
    return 0


if __name__ == "__main__":
    sys.exit(main())
