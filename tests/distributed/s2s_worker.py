"""One data-parallel (or one-process) training run of a small encoder-decoder, for tests/distributed.

Run as ``mpirun -n 2 python s2s_worker.py --out DIR ...`` (or plainly, for
one process). The model is a float64 two-layer LSTM encoder-decoder with
additive attention, dropout, recurrent dropout and zoneout on (``--copy``
adds the pointer-generator and coverage with a coverage loss). Its batches
are built so that target lengths vary within a batch: the two halves of a
batch hold different numbers of target tokens. ``--ragged`` adds batches of
5 and 1 examples (unequal shards, and an empty one on rank 1); ``--naive``
averages the ranks' gradients instead of weighting them by token count (the
wrong rule, which the tests show differs). Rank 0 writes DIR/weights.npz and
DIR/summary.json. ``--kill-rank R --kill-at-step K`` sends SIGKILL to rank R
when it starts its K-th training step.
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
from rnnkit.io import atomic_write
from rnnkit.optim import Adam
from rnnkit.seq2seq import Seq2Seq, Seq2SeqBatch, Seq2SeqConfig
from rnnkit.trainer import TrainerConfig

V = 12  # ids 0-3: <pad> <s> </s> <unk>; words 4..11; with copy, source words 12.. are out of vocabulary


def make_batch(rng: np.random.Generator, B: int, copy: bool) -> Seq2SeqBatch:
    """B pairs: a source of 2-6 words, its reversal cut as target (OOV words copied).

    The first B // 2 targets hold one word, the others two or more: the halves of a batch (the ranks'
    shards) hold different numbers of target tokens.
    """
    src, src_ext, tgt, tgt_ext, n_oov = [], [], [], [], 0
    for b in range(B):
        words = rng.integers(4, V + (3 if copy else 0), size=int(rng.integers(2, 7))).tolist()
        oov = sorted({w for w in words if w >= V})
        n_oov = max(n_oov, len(oov))
        ext = [V + oov.index(w) if w >= V else w for w in words]  # this example's own numbering of its OOV words
        cut = 1 if b < B // 2 else int(rng.integers(2, len(words) + 1))  # first half: 1 word; second: 2 or more
        src.append([3 if w >= V else w for w in words])
        src_ext.append(ext)
        tgt_ext.append(ext[::-1][:cut])
        tgt.append([3 if w >= V else w for w in tgt_ext[-1]])
    kw = {"src_ext": src_ext, "tgt_ext": tgt_ext, "n_oov": n_oov} if copy else {}
    return Seq2SeqBatch.from_sequences(src, tgt, bos_id=1, eos_id=2, **kw)


class Batches:
    """A stateless batch source over fixed batches (the order rotates with the epoch)."""

    stateful = False

    def __init__(self, sizes: list[int], copy: bool, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.batches = [make_batch(rng, B, copy) for B in sizes]

    def __len__(self) -> int:
        return len(self.batches)

    def batch(self, epoch: int, index: int) -> Seq2SeqBatch:
        return self.batches[(index + epoch) % len(self.batches)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--copy", action="store_true")
    p.add_argument("--ragged", action="store_true")
    p.add_argument("--naive", action="store_true")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--checkpoint-every", type=int, default=None)
    p.add_argument("--eval-every", type=int, default=None)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--kill-rank", type=int, default=None)
    p.add_argument("--kill-at-step", type=int, default=None)
    args = p.parse_args(argv)

    comm = distributed.init()
    rank = 0 if comm is None else comm.rank
    cfg = Seq2SeqConfig(
        src_vocab_size=V,
        tgt_vocab_size=V,
        embedding_size=6,
        hidden_size=8,
        encoder_layers=2,
        decoder_layers=2,
        bidirectional=True,
        decoder_hidden_size=8,
        attention="additive",
        copy=args.copy,
        coverage=args.copy,
        coverage_loss_weight=0.5 if args.copy else 0.0,
        dropout=0.3,
        recurrent_dropout=0.2,
        zoneout=0.1,
        dtype="float64",
        seed=3,
    )
    model = Seq2Seq(cfg)
    opt = Adam(model.params, model.grads, lr=1e-2)
    sizes = [4, 4, 5, 1, 4, 3] if args.ragged else [4, 4, 6, 4]
    data = Batches(sizes, args.copy, seed=5)
    valid = Batches([3, 4, 1] if args.ragged else [4, 2], args.copy, seed=9)
    tcfg = TrainerConfig(
        epochs=args.epochs,
        max_steps=args.steps,
        checkpoint_every=args.checkpoint_every,
        eval_every=args.eval_every,
        log_every=2,
        progress=False,
    )
    extra = {"check_every": 1, "weight_by_count": not args.naive} if comm is not None else {}
    trainer = distributed.make_trainer(model, opt, tcfg, comm=comm, out_dir=args.out, **extra)

    calls = {"n": 0}
    step_fn = model.train_step

    def train_step(batch, state):  # fault injection, counted in calls of this process's train_step
        calls["n"] += 1
        if args.kill_rank == rank and args.kill_at_step == calls["n"]:
            os.kill(os.getpid(), signal.SIGKILL)
        return step_fn(batch, state)

    model.train_step = train_step
    with distributed.guard(comm):
        result = trainer.fit(
            distributed.shard_source(trainer, data), distributed.shard_source(trainer, valid), resume=args.resume
        )
        final = trainer.evaluate(distributed.shard_source(trainer, valid))
    if rank == 0:
        out = Path(args.out)
        np.savez(out / "weights.npz", **model.params)
        halves = [[int(b.tgt_lengths[: len(b.tgt_lengths) // 2].sum()), int(b.tgt_lengths.sum())] for b in data.batches]
        summary = {
            "steps": result.steps,
            "valid_loss": final["loss"],
            "valid_count": final["count"],
            "history": result.history,
            "token_counts": halves,  # [first half, whole] per batch
        }
        atomic_write(out / "summary.json", [json.dumps(summary).encode()])
    return 0


if __name__ == "__main__":
    sys.exit(main())
