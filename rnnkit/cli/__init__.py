"""The ``rnnkit`` command line.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a
function ``(args) -> int``. A sub-command module only parses flags (built from
the run's config dataclass, :mod:`rnnkit.cli.common`) and calls the run layer
(:mod:`rnnkit.runs`) or the library; it imports :mod:`rnnkit.cli.common`,
never this package, so there is no import cycle. Errors a user can act on (bad flag values,
missing or unreadable files, bad checkpoints) are printed as one line,
``rnnkit: error: ...``, with exit status 2; set ``RNNKIT_DEBUG=1`` to see the
traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from rnnkit import __version__
from rnnkit.cli import analyze, demo, lm, longrange, ngram, seq2seq
from rnnkit.cli.common import Parser, UsageError

__all__ = ["main", "build_parser", "UsageError", "COMMANDS"]

# the modules of rnnkit.cli, each adding one sub-command
COMMANDS = {
    "demo": demo,
    "lm": lm,
    "ngram": ngram,
    "analyze": analyze,
    "longrange": longrange,
    "seq2seq": seq2seq,
}


def build_parser() -> argparse.ArgumentParser:
    """The ``rnnkit`` parser with every sub-command."""
    parser = Parser(prog="rnnkit", description="Recurrent sequence models with hand-derived BPTT.")
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in COMMANDS.values():
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    debug = os.environ.get("RNNKIT_DEBUG") == "1"
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            raise UsageError("rnnkit: a command is required (one of: " + ", ".join(COMMANDS) + "); see rnnkit --help")
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return 130
    except (UsageError, ValueError, TypeError, KeyError, OSError, UnicodeDecodeError) as exc:
        if debug:
            raise
        msg = " ".join(str(exc).split()) or type(exc).__name__
        if not msg.startswith("rnnkit"):
            msg = f"rnnkit: error: {msg}"
        print(msg, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
