"""What every sub-command of the ``rnnkit`` command line shares: the error type, the parser, flags from configs.

Flags are spelled like the fields they set (``--num-layers`` sets
``num_layers``). :func:`add_config_flags` builds one flag per field of a
frozen config dataclass: the help sentence and the choices come from the
field's ``metadata`` (``{"help": ..., "choices": ..., "metavar": ...,
"default_text": ...}``), the default is the field's default and is shown
once; a bool field becomes ``--name/--no-name``.
:func:`config_from_args` builds the config back from the parsed arguments, so
the CLI and the library cannot drift apart.

Example
-------
>>> from dataclasses import dataclass, field
>>> @dataclass(frozen=True)
... class Config:
...     hidden_size: int = field(default=32, metadata={"help": "Units per layer."})
...     cell: str = field(default="lstm", metadata={"help": "Recurrent cell.", "choices": ("gru", "lstm")})
>>> parser = Parser(prog="demo")
>>> add_config_flags(parser, Config)
>>> config_from_args(Config, parser.parse_args(["--hidden-size", "8"]))
Config(hidden_size=8, cell='lstm')
>>> "Units per layer. (default: 32)" in " ".join(parser.format_help().split())
True
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import shlex
import tempfile
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "UsageError",
    "Parser",
    "flag_name",
    "add_config_flags",
    "add_aliases",
    "config_from_args",
    "require",
    "positive",
    "integer",
    "finite_float",
    "flagged",
    "finish_help",
    "add_run_flags",
    "run_control_from_args",
    "resumed_config",
    "resume_command",
    "add_preset_flag",
    "apply_preset_args",
    "command_line",
    "check_output_file",
    "check_output_dir",
    "check_in_range",
    "check_sampling",
    "add_sampling_flags",
]

MAX_INT = 2**63 - 1  # every integer flag: larger values are refused when parsed
_UNSET = object()  # a default that says "not typed", for Parser.parse_known_args


class UsageError(Exception):
    """A problem with what the user asked for; printed as one line, exit status 2."""


def integer(text: str) -> int:
    """An int flag's value: a whole number of at most 19 digits (what a 64-bit integer holds)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if abs(value) > MAX_INT:
        raise argparse.ArgumentTypeError(f"must be an integer between -(2**63 - 1) and 2**63 - 1, got {text}")
    return value


def finite_float(text: str) -> float:
    """A float flag's value: a finite number (nan and inf are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are :class:`UsageError` (one line), not the usage text and exit.

    ``type=int`` and ``type=float`` flags parse with :func:`integer` and
    :func:`finite_float`, so no flag takes nan, inf or a number too large for
    the arrays it sizes.
    """

    def error(self, message: str) -> typing.NoReturn:  # argparse's default prints the whole usage first
        raise UsageError(f"{self.prog}: {' '.join(message.split())}")

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list]:
        """Parse as argparse does, and record in ``namespace._given`` the destinations the user typed a flag
        for (found by parsing once with every default unset), so that ``--resume`` can take the rest from the
        run it continues (:func:`resumed_config`)."""
        given = None
        if namespace is None and args is not None:
            kinds = (argparse._StoreAction, argparse._StoreConstAction, argparse.BooleanOptionalAction)
            saved = [(a, a.default) for a in self._actions if isinstance(a, kinds)]  # not append: it needs a list
            try:
                for a, _ in saved:
                    a.default = _UNSET
                probe, _ = super().parse_known_args(list(args), None)
            finally:
                for a, default in saved:
                    a.default = default
            given = {k for k, v in vars(probe).items() if v is not _UNSET and k != "_given"}
        ns, rest = super().parse_known_args(args, namespace)
        if given is not None and not hasattr(ns, "_given"):
            ns._given = given
        return ns, rest

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        kind = kwargs.get("type")
        if kind is int:
            kwargs["type"] = integer
        elif kind is float:
            kwargs["type"] = finite_float
        return super().add_argument(*args, **kwargs)


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found.append(sub)
                found.extend(_subparsers(sub))
    return found


def finish_help(parser: argparse.ArgumentParser) -> None:
    """Give every shown flag of ``parser`` and its sub-commands its default, once, at the end of its help.

    A help that already says ``(default: ...)`` or ``(required)`` is left as
    it is; a switch says ``(default: off)``; a flag without a value says
    ``(default: none)``.
    """
    for p in [parser, *_subparsers(parser)]:
        for a in p._actions:
            if a.help in (None, argparse.SUPPRESS) or isinstance(a, (argparse._HelpAction, argparse._VersionAction)):
                continue
            if isinstance(a, argparse._SubParsersAction) or "(default" in a.help or "(required)" in a.help:
                continue
            if a.required:
                a.help += " (required)"
            elif isinstance(a, argparse._StoreTrueAction):
                a.help += " (default: off)"
            else:
                a.help += f" (default: {'none' if a.default is None else a.default})"


def flag_name(field_name: str) -> str:
    """The flag that sets a config field: ``num_layers`` -> ``--num-layers``."""
    return "--" + field_name.replace("_", "-")


def _converter(hint: Any) -> Callable[[str], Any] | None:
    """str -> value for a field's type hint; None for a bool (a --flag/--no-flag pair)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args else hint
    if base is bool:
        return None
    base = {int: integer, float: finite_float}.get(base, base)
    if type(None) in typing.get_args(hint):

        def optional(text: str, base: Callable = base) -> Any:
            return None if text.lower() == "none" else base(text)

        optional.__name__ = getattr(base, "__name__", "value")
        return optional
    return base


def _metavar(f: dataclasses.Field, hint: Any) -> str:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args else hint
    return {int: "N", float: "X"}.get(base, f.name.split("_")[-1].upper())


def add_config_flags(parser: argparse.ArgumentParser, config_cls: type, *, skip: tuple[str, ...] = ()) -> None:
    """Add one flag per field of the dataclass ``config_cls`` (except ``skip``) to ``parser``.

    The help is the field's ``metadata["help"]`` (a sentence) followed by its
    default, once; ``metadata["choices"]`` become argparse choices. Optional
    fields (``X | None``) accept the word ``none``.
    """
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        if f.name in skip:
            continue
        text = f.metadata.get("help", f.name.replace("_", " ").capitalize() + ".")
        shown = f.metadata.get("default_text", "none" if f.default is None else f.default)
        helptext = f"{text} (default: {shown})"
        kind = _converter(hints[f.name])
        if kind is None:
            parser.add_argument(
                flag_name(f.name), action=argparse.BooleanOptionalAction, default=f.default, help=helptext
            )
            continue
        choices = f.metadata.get("choices")
        parser.add_argument(
            flag_name(f.name),
            type=kind,
            default=f.default,
            choices=tuple(choices) if choices is not None else None,
            metavar=None if choices is not None else f.metadata.get("metavar", _metavar(f, hints[f.name])),
            help=helptext,
        )


def add_aliases(parser: argparse.ArgumentParser, aliases: Mapping[str, str], types: Mapping[str, Any]) -> None:
    """Old spellings of flags, kept working but hidden from ``--help``: ``{"--layers": "num_layers"}``.

    An alias sets the same destination as the flag it stands for and never
    overrides that flag's default; ``types`` maps each destination to its type
    hint (a config's ``typing.get_type_hints``, or ``{"run": str}``); a bool
    gets its ``--no-`` twin.
    """
    for old, dest in aliases.items():
        kind = _converter(types[dest])
        if kind is None:
            parser.add_argument(
                old, dest=dest, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=argparse.SUPPRESS
            )
        else:
            parser.add_argument(old, dest=dest, type=kind, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def config_from_args(config_cls: type, args: argparse.Namespace, prog: str = "rnnkit") -> Any:
    """The config ``config_cls`` built from the parsed arguments that name its fields.

    The config's own check errors come back as a :class:`UsageError` naming the
    flag (``--hidden-size must be >= 1, got 0``), not the field.
    """
    names = [f.name for f in dataclasses.fields(config_cls)]
    try:
        return config_cls(**{k: v for k, v in vars(args).items() if k in names})
    except (ValueError, TypeError) as e:
        raise UsageError(f"{prog}: {flagged(str(e), names)}") from None


def flagged(message: str, names: typing.Iterable[str]) -> str:
    """``message`` of a config check with the field names spelled as the flags that set them.

    The ``Owner.method: `` prefix goes; the subject that follows it, and every
    field name with an underscore, become ``--flag-name``.

    >>> flagged("LMTrainConfig: hidden_size must be >= 1, got 0", ["hidden_size"])
    '--hidden-size must be >= 1, got 0'
    >>> flagged("NGramLM: order must be >= 1, got 0", ["order", "data"])
    '--order must be >= 1, got 0'
    """
    names = sorted(set(names), key=len, reverse=True)
    m = re.match(r"^(?:[A-Za-z_][\w.]*: )+", message)
    body = message[m.end() :] if m else message
    first = re.match(r"(\w+)", body)
    if first and first.group(1) in names:
        body = flag_name(first.group(1)) + body[first.end() :]
    for name in names:
        if "_" in name:
            body = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", flag_name(name), body)
    return body


def check_in_range(
    prog: str,
    flag: str,
    value: float | None,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
) -> None:
    """UsageError naming ``flag`` unless ``value`` (None passes) lies in [low, high] ((low, high] with low_open)."""
    if value is None:
        return
    if (low is not None and (value <= low if low_open else value < low)) or (high is not None and value > high):
        lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high is None else f"<= {high:g}"
        raise UsageError(f"{prog}: {flag} must be {' and '.join(x for x in (lo, hi) if x)}, got {value:g}")


def add_sampling_flags(
    parser: argparse.ArgumentParser, *, length: int | None, length_help: str, temperature: float, beam_help: str
) -> None:
    """The flags of a ``sample`` command (--length, --temperature, --top-k, --top-p, --beam, --seed), the ones
    :func:`check_sampling` checks; a command chooses its defaults and how it words --length and --beam."""
    parser.add_argument("--length", type=int, default=length, metavar="N", help=length_help)
    parser.add_argument(
        "--temperature",
        type=float,
        default=temperature,
        metavar="X",
        help="Divide the log-probabilities by X before sampling; 0 takes the likeliest token (greedy).",
    )
    parser.add_argument(
        "--top-k", type=int, default=None, metavar="N", help="Sample among the N likeliest tokens only (N >= 1)."
    )
    parser.add_argument(
        "--top-p",
        type=float,
        default=None,
        metavar="X",
        help="Sample from the smallest set of likeliest tokens whose probability reaches X, 0 < X <= 1.",
    )
    parser.add_argument("--beam", type=int, default=0, metavar="N", help=beam_help)
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="Seed of the sampling (>= 0).")


def check_sampling(prog: str, args: argparse.Namespace, max_length: int) -> None:
    """UsageError naming the flag for a sampling flag out of range (--length, --temperature, --top-k, --top-p,
    --beam, --seed), before the model is read."""
    if args.length is not None:
        positive(prog, "length", args.length)
        check_in_range(prog, "--length", args.length, high=max_length)
    check_in_range(prog, "--temperature", args.temperature, 0.0)
    if args.top_k is not None:
        positive(prog, "top_k", args.top_k)
    check_in_range(prog, "--top-p", args.top_p, 0.0, 1.0, low_open=True)
    positive(prog, "beam", args.beam, 0)
    check_in_range(prog, "--beam", args.beam, high=1000)
    positive(prog, "seed", args.seed, 0)


def _can_write_in(directory: Path) -> bool:
    """Whether a file can be created in ``directory``: tried, not guessed (os.access says yes to root even
    where the file system refuses, as in /proc)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".rnnkit-probe-", dir=directory)
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


def check_output_file(path: str | os.PathLike | None, flag: str, prog: str = "rnnkit") -> None:
    """UsageError now, before any work, if a file could not be written at ``path`` later."""
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{prog}: {flag} {p} is a directory; give a file name")
    parent = next((q for q in (p.parent, *p.parent.parents) if q.exists()), Path("."))
    if not parent.is_dir():
        raise UsageError(f"{prog}: {flag} {p}: {parent} is a file, not a directory")
    if not _can_write_in(parent) or (p.exists() and not os.access(p, os.W_OK)):
        raise UsageError(f"{prog}: {flag} {p}: {parent} is not writable")


def check_output_dir(path: str | os.PathLike | None, flag: str, prog: str = "rnnkit") -> None:
    """UsageError now, before any work, if a directory could not be created or written at ``path`` later."""
    if path is None:
        return
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UsageError(f"{prog}: {flag} {p} is a file, not a directory")
    parent = next((q for q in (p, *p.parents) if q.exists()), Path("."))
    if not parent.is_dir():
        raise UsageError(f"{prog}: {flag} {p}: {parent} is a file, not a directory")
    if not _can_write_in(parent):
        raise UsageError(f"{prog}: {flag} {p}: {parent} is not writable")


# -- the flags every training command shares -----------------------------------------------------------------
def add_run_flags(parser: argparse.ArgumentParser, default_out: str) -> None:
    """``--out DIR`` and the flags of :class:`rnnkit.runs.control.RunControl` (--resume, --overwrite,
    --init-from, --checkpoint-every, --on-nonfinite), for a command that trains into a run directory."""
    from rnnkit.runs.control import RunControl

    parser.add_argument(
        "--out", default=default_out, metavar="DIR", help=f"Run directory to write. (default: {default_out})"
    )
    for f in dataclasses.fields(RunControl):
        meta = f.metadata
        helptext = f"{meta['help']} (default: {meta.get('default_text', 'off' if f.default is False else f.default)})"
        if f.type in (bool, "bool"):
            parser.add_argument(flag_name(f.name), action="store_true", help=helptext)
        else:
            parser.add_argument(
                flag_name(f.name),
                default=f.default,
                choices=meta.get("choices"),
                metavar=None if meta.get("choices") else meta.get("metavar"),
                help=helptext,
            )


def resumed_config(
    config_cls: type,
    args: argparse.Namespace,
    prog: str = "rnnkit",
    *,
    renamed: typing.Mapping[str, str] | None = None,
) -> Any:
    """The config of a ``--resume``: each field the user typed a flag for, the rest from the run's run.json.

    Without --resume, or when ``--out`` holds no run.json, this is :func:`config_from_args`;
    the run layer then checks what was typed against the run (naming a flag that differs).
    """
    from rnnkit.runs.directory import CONFIG_FILE, RunDir

    run = RunDir(args.out, flag="--out")
    given = getattr(args, "_given", None)
    if not getattr(args, "resume", False) or given is None or not (run.path / CONFIG_FILE).is_file():
        return config_from_args(config_cls, args, prog)
    stored = run.read_raw_config()
    for old, new in (renamed or {}).items():
        if old in stored and new not in stored:
            stored[new] = stored.pop(old)
    merged = argparse.Namespace(**vars(args))
    for f in dataclasses.fields(config_cls):
        if f.name not in given and f.name in stored:
            setattr(merged, f.name, stored[f.name])
    return config_from_args(config_cls, merged, prog)


def run_control_from_args(args: argparse.Namespace, prog: str = "rnnkit") -> Any:
    """The :class:`rnnkit.runs.control.RunControl` the parsed flags describe (UsageError naming the flag)."""
    from rnnkit.runs.control import RunControl

    try:
        return config_from_args(RunControl, args, prog)
    except UsageError as e:
        raise UsageError(str(e).replace(f"{prog}: ", f"{prog}: ", 1)) from None


def resume_command(argv: typing.Sequence[str]) -> str:
    """The command that resumes the run ``argv`` (the arguments after ``rnnkit``) started: the same flags,
    without --overwrite or --init-from, with --resume."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("--overwrite", "--resume") or a.startswith("--init-from="):
            continue
        if a == "--init-from":
            skip = True
            continue
        out.append(a)
    return shlex.join(["rnnkit", *out, "--resume"])


def add_preset_flag(parser: argparse.ArgumentParser, presets: Mapping[str, Any]) -> None:
    """``--preset NAME``: a named recipe of :mod:`rnnkit.runs.presets` that fills the config's fields; the
    help lists every preset with its one-line summary."""
    listing = "; ".join(f"{name}: {p.summary}" for name, p in presets.items())
    parser.add_argument(
        "--preset",
        default=None,
        metavar="NAME",
        help=f"Named recipe that sets every model and training field; a flag given as well overrides the "
        f"preset's value ('--preset list' prints them). Presets: {listing}. (default: none)",
    )


def apply_preset_args(args: argparse.Namespace, presets: Mapping[str, Any], prog: str) -> str | None:
    """Fill ``args`` from the preset ``args.preset`` where no flag was typed; return its name (None without one).

    ``--preset list`` is handled by the caller before this.
    """
    from rnnkit.runs.presets import get

    if args.preset is None:
        return None
    try:
        preset = get(presets, args.preset)
    except ValueError as e:
        raise UsageError(f"{prog}: {e}") from None
    given = getattr(args, "_given", set())
    for name, value in preset.values.items():
        if name not in given:
            setattr(args, name, value)
    return preset.name


def command_line(args: argparse.Namespace) -> str | None:
    """The command that produced ``args`` (``rnnkit ...``), shell-quoted; None when not known."""
    argv = getattr(args, "_argv", None)
    return None if argv is None else shlex.join(["rnnkit", *argv])


def require(args: argparse.Namespace, dest: str, prog: str) -> Any:
    """The value of a required flag that also has a hidden alias (argparse cannot mark such a pair required)."""
    value = getattr(args, dest, None)
    if value is None:
        raise UsageError(f"{prog}: the following arguments are required: {flag_name(dest)}")
    return value


def positive(prog: str, flag: str, value: int, minimum: int = 1) -> int:
    """``value`` if it is at least ``minimum``; else a UsageError naming ``--flag``."""
    if value < minimum:
        raise UsageError(f"{prog}: {flag_name(flag)} must be >= {minimum}, got {value}")
    return value
