"""The ``rnnkit`` command line.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a
function ``(args) -> int``. A sub-command module only parses flags (built from
the run's config dataclass, :mod:`rnnkit.cli.common`) and calls the run layer
(:mod:`rnnkit.runs`) or the library; it imports :mod:`rnnkit.cli.common`,
never this package, so there is no import cycle. Errors a user can act on (bad flag values,
missing or unreadable files, bad checkpoints) are printed as one line,
``rnnkit: error: ...``, with exit status 2; set ``RNNKIT_DEBUG=1`` to see the
traceback instead. Training that stops on a non-finite value is such an error
too. A training run stopped by Ctrl-C or SIGTERM checkpoints, prints the
command that resumes it and exits with status 130. Output to a closed pipe
(``rnnkit lm sample ... | head``) ends quietly. Anything else (a bug) is one
line too, ``rnnkit: internal error: ...``, with exit status 1.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from rnnkit import __version__
from rnnkit.cli import analyze, demo, lm, longrange, ngram, seq2seq
from rnnkit.cli.common import Parser, UsageError, finish_help, resume_command

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
    finish_help(parser)
    return parser


def _one_line(exc: BaseException) -> str:
    msg = " ".join(str(exc).split()) or type(exc).__name__
    return msg if msg.startswith("rnnkit") else f"rnnkit: error: {msg}"


def _quiet_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null so the flush at exit raises nothing (Python's docs)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    from rnnkit.runs.control import RunInterrupted, TrainingError

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    debug = os.environ.get("RNNKIT_DEBUG") == "1"
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        args._argv = argv  # the command line, recorded by the commands that write a run directory
        if not getattr(args, "func", None):
            raise UsageError("rnnkit: a command is required (one of: " + ", ".join(COMMANDS) + "); see rnnkit --help")
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the flush at exit
        return status
    except RunInterrupted as exc:
        print(
            f"rnnkit: interrupted after update {exc.step}, checkpoint saved in {exc.run.path}; "
            f"resume with: {resume_command(argv)}",
            file=sys.stderr,
        )
        return 130
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 1
    except TrainingError as exc:
        if debug:
            raise
        msg = str(exc).replace("TrainerConfig(on_nonfinite='skip')", "--on-nonfinite skip")
        print(_one_line(f"training stopped: {msg}"), file=sys.stderr)
        return 2
    except MemoryError:
        if debug:
            raise
        print("rnnkit: error: out of memory; choose smaller sizes or lengths", file=sys.stderr)
        return 2
    except (UsageError, ValueError, TypeError, KeyError, OSError, UnicodeDecodeError, OverflowError) as exc:
        if debug:
            raise
        print(_one_line(exc), file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: still one line, and a way to see more
        if debug:
            raise
        msg = " ".join(str(exc).split())
        print(
            f"rnnkit: internal error: {type(exc).__name__}: {msg} (set RNNKIT_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
