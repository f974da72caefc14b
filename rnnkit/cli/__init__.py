"""The ``rnnkit`` command line.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a
function ``(args) -> int``. Errors a user can act on (bad flag values,
missing or unreadable files, bad checkpoints) are printed as one line,
``rnnkit: error: ...``, with exit status 2; set ``RNNKIT_DEBUG=1`` to see the
traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

COMMANDS = [
    "demo",
    "lm",
    "ngram",
    "analyze",
    "longrange",
    "seq2seq",
]  # modules of rnnkit.cli, each adding one sub-command


class UsageError(Exception):
    """A problem with what the user asked for; printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's default prints the whole usage first
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rnnkit", description="Recurrent sequence models with hand-derived BPTT.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"rnnkit.cli.{name}").register(sub)
    return parser


def _version() -> str:
    from rnnkit import __version__

    return f"rnnkit {__version__}"


def main(argv=None) -> int:
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
