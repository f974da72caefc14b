"""``rnnkit demo``: train a small LSTM on the adding problem and watch its loss fall (:mod:`rnnkit.runs.demo`)."""

from __future__ import annotations

import argparse
import typing

from rnnkit.cli.common import positive
from rnnkit.runs.demo import run

__all__ = ["register", "run"]


def register(sub: typing.Any) -> None:
    """Add ``rnnkit demo`` to ``sub``."""
    p = sub.add_parser("demo", help="train a small LSTM on the adding problem (generated data)")
    p.add_argument("--length", type=int, default=50, metavar="T", help="Sequence length T. (default: 50)")
    p.add_argument("--steps", type=int, default=1000, metavar="N", help="Training updates. (default: 1000)")
    p.add_argument("--seed", type=int, default=0, help="Seed of the weights and the data. (default: 0)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    positive("rnnkit demo", "length", args.length, 2)
    positive("rnnkit demo", "steps", args.steps)
    run(length=args.length, steps=args.steps, seed=args.seed)
    return 0
