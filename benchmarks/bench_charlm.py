"""Character-level LSTM language model on the built-in corpus: bits per character after N minutes.

The built-in corpus is this Python's own standard-library source
(rnnkit.text.corpus); the model and recipe are ``rnnkit lm train``'s defaults
(2-layer LSTM of 256 units, embeddings of 64, dropout 0.1, batch 32 x 64
steps, Adam 3e-3, clipping at 1), trained for ``--minutes`` of wall time.

    python benchmarks/bench_charlm.py --minutes 10

Appends a dated entry to benchmarks/RESULTS.md (or ``--results``).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if importlib.util.find_spec("rnnkit") is None:  # not installed: the checkout's source tree
    sys.path.insert(0, str(HERE.parent))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--builtin-chars", type=int, default=2_000_000)
    p.add_argument("--hidden-size", type=int, default=256)
    p.add_argument("--results", default=str(HERE / "RESULTS.md"))
    p.add_argument("--out", default=None, help="run directory (default: a temporary one)")
    args = p.parse_args(argv)
    from bench_ptb import machine  # same machine description as the other benchmarks

    from rnnkit.runs.lm import LMTrainConfig, train

    cfg = LMTrainConfig(
        max_minutes=args.minutes, epochs=100, builtin_chars=args.builtin_chars, hidden_size=args.hidden_size
    )
    out = args.out or tempfile.mkdtemp(prefix="rnnkit-charlm-")
    start = time.perf_counter()
    summary = train(cfg, out, progress=False)
    wall = time.perf_counter() - start
    load = os.getloadavg()[0]
    entry = (
        f"\n## Char-level LSTM LM on the built-in corpus, {args.minutes:g} minutes\n\n"
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; machine: {machine()}; "
        f"load average at the end: {load:.2f}\n"
        f"- command: `python benchmarks/bench_charlm.py --minutes {args.minutes:g}"
        f"{f' --builtin-chars {args.builtin_chars}' if args.builtin_chars != 2_000_000 else ''}`\n"
        f"- corpus: {args.builtin_chars:,} characters of Python {sys.version.split()[0]} standard-library "
        f"source, last 5% of the lines held out; vocabulary {summary['vocab_size']}\n"
        f"- validation: **{summary['bpc']:.3f} bits per character** after {summary['steps']} updates "
        f"({wall:.0f} s wall time including data preparation and evaluation)\n"
    )
    with open(args.results, "a", encoding="utf-8") as f:
        f.write(entry)
    print(entry)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
