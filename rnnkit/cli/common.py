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
import typing
from collections.abc import Callable, Mapping
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
]


class UsageError(Exception):
    """A problem with what the user asked for; printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are :class:`UsageError` (one line), not the usage text and exit."""

    def error(self, message: str) -> typing.NoReturn:  # argparse's default prints the whole usage first
        raise UsageError(f"{self.prog}: {message}")


def flag_name(field_name: str) -> str:
    """The flag that sets a config field: ``num_layers`` -> ``--num-layers``."""
    return "--" + field_name.replace("_", "-")


def _converter(hint: Any) -> Callable[[str], Any] | None:
    """str -> value for a field's type hint; None for a bool (a --flag/--no-flag pair)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args else hint
    if base is bool:
        return None
    if type(None) in typing.get_args(hint):
        return lambda s, b=base: None if s.lower() == "none" else b(s)
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


def config_from_args(config_cls: type, args: argparse.Namespace) -> Any:
    """The config ``config_cls`` built from the parsed arguments that name its fields."""
    names = {f.name for f in dataclasses.fields(config_cls)}
    return config_cls(**{k: v for k, v in vars(args).items() if k in names})


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
