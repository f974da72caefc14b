"""``rnnkit demo``: train a small LSTM on the adding problem and watch its loss fall (:mod:`rnnkit.runs.demo`)."""

from __future__ import annotations

import argparse
import typing

from rnnkit.cli.common import positive
from rnnkit.runs.control import check_memory, sequence_memory
from rnnkit.runs.demo import run

__all__ = ["register", "run"]


def register(sub: typing.Any) -> None:
    """Add ``rnnkit demo`` to ``sub``."""
    p = sub.add_parser("demo", help="train a small LSTM on the adding problem (generated data)")
    p.add_argument("--length", type=int, default=50, metavar="T", help="Sequence length T, at least 2. (default: 50)")
    p.add_argument("--steps", type=int, default=1000, metavar="N", help="Training updates, at least 1. (default: 1000)")
    p.add_argument(
        "--seed", type=int, default=0, metavar="N", help="Seed of the weights and the data (>= 0). (default: 0)"
    )
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    positive("rnnkit demo", "length", args.length, 2)
    positive("rnnkit demo", "steps", args.steps)
    positive("rnnkit demo", "seed", args.seed, 0)
    # 1000 test sequences and batches of 64 through an LSTM of 32 units
    check_memory(sequence_memory(args.length, 1000, 2, 32), f"sequences of {args.length} steps", "--length")
    run(length=args.length, steps=args.steps, seed=args.seed)
    return 0
