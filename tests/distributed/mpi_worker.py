"""One data-parallel (or one-process) training run of a small RNN LM, for the tests under tests/distributed.

Run as ``mpirun -n 2 python mpi_worker.py --out DIR ...`` (or plainly, for one
process). Rank 0 writes the final weights to DIR/weights.npz and a JSON
summary to DIR/summary.json. Fault injection for the tests: ``--kill-rank R
--kill-at-step K`` sends SIGKILL to rank R when it starts update K;
``--raise-rank``/``--raise-at-step`` raises an exception there instead;
``--perturb-rank``/``--perturb-at-step`` changes one weight on that rank (the
checksum must catch it); ``--nan-rank``/``--nan-at-step`` makes that rank's
gradient non-finite for one update (every rank must skip it).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np

from rnnkit import distributed
from rnnkit.batches import StreamBatches
from rnnkit.io import atomic_write
from rnnkit.lm.rnnlm import RNNLM, RNNLMConfig
from rnnkit.optim import Adam
from rnnkit.text.data import batchify
from rnnkit.trainer import TrainerConfig

V = 17


def corpus(n: int = 4000, seed: int = 5) -> np.ndarray:
    """A token stream with structure to learn: a noisy walk over V symbols."""
    rng = np.random.default_rng(seed)
    steps = rng.choice([1, 2, -1], size=n, p=[0.6, 0.3, 0.1])
    return np.cumsum(steps) % V


def build(args):
    model = RNNLM(
        RNNLMConfig(
            vocab_size=V,
            cell=args.cell,
            embedding_size=12,
            hidden_size=16,
            num_layers=2,
            dropout=args.dropout,
            recurrent_dropout=args.dropout,
            weight_drop=args.dropout,
            dtype=args.dtype,
            seed=3,
        )
    )
    opt = Adam(model.params, model.grads, lr=3e-3)
    data = StreamBatches(batchify(corpus(), args.batch), k1=args.bptt)
    valid = StreamBatches(batchify(corpus(600, seed=9), args.batch), k1=args.bptt)
    return model, opt, data, valid


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--dtype", default="float64")
    p.add_argument("--cell", default="lstm")
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--bptt", type=int, default=7)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--checkpoint-every", type=int, default=None)
    p.add_argument("--eval-every", type=int, default=None)
    p.add_argument("--masks", default="global")
    p.add_argument("--bucket-bytes", type=int, default=2048)
    p.add_argument("--overlap", action="store_true")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--on-nonfinite", default="raise")
    p.add_argument("--max-minutes", type=float, default=None)
    for what in ("kill", "raise", "perturb", "nan"):
        p.add_argument(f"--{what}-rank", type=int, default=None)
        p.add_argument(f"--{what}-at-step", type=int, default=None)
    args = p.parse_args(argv)

    comm = distributed.init()
    rank = 0 if comm is None else comm.rank
    model, opt, data, valid = build(args)
    cfg = TrainerConfig(
        epochs=args.epochs,
        max_steps=args.steps,
        checkpoint_every=args.checkpoint_every,
        eval_every=args.eval_every,
        on_nonfinite=args.on_nonfinite,
        max_minutes=args.max_minutes,
        log_every=2,
        progress=False,
    )
    extra = {}
    if comm is not None:
        extra = {"masks": args.masks, "bucket_bytes": args.bucket_bytes, "overlap": args.overlap, "check_every": 1}
    trainer = distributed.make_trainer(model, opt, cfg, comm=comm, out_dir=args.out, **extra)

    calls = {"n": 0}
    step_fn = model.train_step

    def train_step(batch, state):  # fault injection, counted in calls of this process's train_step
        calls["n"] += 1
        n = calls["n"]
        if args.kill_rank == rank and args.kill_at_step == n:
            os.kill(os.getpid(), signal.SIGKILL)
        if args.raise_rank == rank and args.raise_at_step == n:
            raise RuntimeError(f"injected failure at update {n}")
        if args.perturb_rank == rank and args.perturb_at_step == n:
            next(iter(model.params.values())).flat[0] += 1e-3
        res = step_fn(batch, state)
        if args.nan_rank == rank and args.nan_at_step == n:
            next(iter(model.grads.values())).flat[0] = np.nan
        return res

    model.train_step = train_step
    result = trainer.fit(
        distributed.shard_source(trainer, data), distributed.shard_source(trainer, valid), resume=args.resume
    )
    final = trainer.evaluate(distributed.shard_source(trainer, valid))
    if rank == 0:
        out = Path(args.out)
        np.savez(out / "weights.npz", **model.params)
        summary = {
            "steps": result.steps,
            "skipped": result.skipped_steps,
            "valid_loss": final["loss"],
            "valid_count": final["count"],
            "history": result.history,
            "mpi4py_imported": "mpi4py" in sys.modules,
            "overlap_on": getattr(trainer, "_overlap_on", None),
            "buckets": len(trainer.buckets.buckets) if comm is not None else 0,
        }
        atomic_write(out / "summary.json", [json.dumps(summary).encode()])
    return 0


if __name__ == "__main__":
    sys.exit(main())
