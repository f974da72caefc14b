"""``rnnkit ngram train|eval|sample|export|import``: count-based n-gram language models on text.

``train``'s flags are generated from :class:`rnnkit.runs.ngram.NGramTrainConfig`,
one per field; ``eval``, ``sample`` and ``export`` read the run directory named by
``--run``; ``import`` reads an ARPA file (the exchange format of SRILM, KenLM and
speech decoders) into a run directory that ``eval`` and ``sample`` use like a
trained one, and ``export`` writes one (interpolated models become exact backoff
models; see :mod:`rnnkit.lm.arpa`). Everything else happens in :mod:`rnnkit.runs.ngram`.
"""

from __future__ import annotations

import argparse
import sys
import typing

from rnnkit.cli.common import (
    UsageError,
    add_aliases,
    add_config_flags,
    add_preset_flag,
    add_sampling_flags,
    apply_preset_args,
    check_sampling,
    command_line,
    config_from_args,
    require,
)
from rnnkit.runs import ngram as ngramrun
from rnnkit.runs.presets import NGRAM_PRESETS, describe
from rnnkit.text.corpus import read_text

# Spellings of earlier versions, accepted but not shown in --help.
RUN_ALIASES = {"--model": "run"}


def register(sub: typing.Any) -> None:
    """Add ``rnnkit ngram`` and its sub-commands to ``sub``."""
    ng = sub.add_parser("ngram", help="n-gram language models: train, eval, sample, export, import")
    cmds = ng.add_subparsers(dest="ngram_command", metavar="{train,eval,sample,export,import}", parser_class=type(ng))

    t = cmds.add_parser("train", help="count an n-gram model (default: on the built-in corpus)")
    add_config_flags(t, ngramrun.NGramTrainConfig)
    t.add_argument("--out", default="runs/ngram", metavar="DIR", help="Run directory to create. (default: runs/ngram)")
    t.add_argument("--overwrite", action="store_true", help="Replace the run already in --out, if any.")
    add_preset_flag(t, NGRAM_PRESETS)
    t.set_defaults(func=_train)

    e = cmds.add_parser(
        "eval", help="tokens, out-of-vocabulary tokens, sentences, cross-entropy and perplexity of a text"
    )
    e.add_argument("--run", metavar="DIR", help="Run directory written by 'rnnkit ngram train'. (required)")
    e.add_argument("--data", required=True, metavar="FILE", help="UTF-8 text to score, one sentence per line.")
    add_aliases(e, RUN_ALIASES, {"run": str})
    e.set_defaults(func=_eval)

    s = cmds.add_parser("sample", help="generate text from a trained model")
    s.add_argument("--run", metavar="DIR", help="Run directory written by 'rnnkit ngram train'. (required)")
    s.add_argument("--prompt", default="", help="Start of the first sentence. (default: none)")
    add_sampling_flags(
        s,
        length=None,
        length_help="Tokens to generate. (default: 50 words or 300 characters)",
        temperature=1.0,
        beam_help="Beam search with this beam size: one best sentence.",
    )
    add_aliases(s, RUN_ALIASES, {"run": str})
    s.set_defaults(func=_sample)
    register_arpa(cmds)
    ng.set_defaults(func=_missing)


def register_arpa(cmds: typing.Any) -> None:
    """The ``export`` and ``import`` subcommands (ARPA files)."""
    x = cmds.add_parser("export", help="write a run directory's model as an ARPA file")
    x.add_argument("--run", metavar="DIR", help="Run directory of 'rnnkit ngram train' or 'import'. (required)")
    x.add_argument("--out", metavar="FILE", help="The ARPA file to write, atomically. (required)")
    add_aliases(x, RUN_ALIASES, {"run": str})
    x.set_defaults(func=_export)
    i = cmds.add_parser("import", help="read an ARPA file into a run directory")
    i.add_argument("--arpa", metavar="FILE", help="The ARPA file (SRILM, KenLM, rnnkit ngram export). (required)")
    i.add_argument("--out", default="runs/ngram", metavar="DIR", help="Run directory to create. (default: runs/ngram)")
    i.add_argument("--overwrite", action="store_true", help="Replace the run already in --out, if any.")
    i.add_argument(
        "--level", default="word", choices=ngramrun.LEVELS, help="Tokens: words or characters. (default: word)"
    )
    i.set_defaults(func=_import)


def _missing(args: argparse.Namespace) -> int:
    raise UsageError("rnnkit ngram: a command is required (train, eval, sample, export or import)")


def _train(args: argparse.Namespace) -> int:
    if args.preset == "list":
        print(describe(NGRAM_PRESETS))
        return 0
    preset = apply_preset_args(args, NGRAM_PRESETS, "rnnkit ngram train")
    cfg = config_from_args(ngramrun.NGramTrainConfig, args, "rnnkit ngram train")
    lm = ngramrun.train(cfg, args.out, overwrite=args.overwrite, command=command_line(args), preset=preset)
    print("--- sample ---")
    print(ngramrun.generate(lm, cfg.level, length=200 if cfg.level == "char" else 30, seed=0))
    print(f"--- run directory: {args.out} ---")
    return 0


def _eval(args: argparse.Namespace) -> int:
    lm, level = ngramrun.load_run(require(args, "run", "rnnkit ngram eval"))
    print(ngramrun.format_score(ngramrun.evaluate_text(lm, read_text(args.data), level), level))
    return 0


def _sample(args: argparse.Namespace) -> int:
    check_sampling("rnnkit ngram sample", args, ngramrun.MAX_SAMPLE_LENGTH)
    lm, level = ngramrun.load_run(require(args, "run", "rnnkit ngram sample"))
    text = ngramrun.generate(
        lm,
        level,
        args.prompt,
        length=args.length,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        beam=args.beam,
        seed=args.seed,
    )
    if args.beam and not text.strip():
        print(
            f"rnnkit ngram sample: the beam search ended at once: </s> is the likeliest continuation of "
            f"{args.prompt or '<s>'!r}, so the best sentence is empty; sample instead (no --beam) or give a --prompt",
            file=sys.stderr,
        )
    print(text)
    return 0


def _export(args: argparse.Namespace) -> int:
    path = ngramrun.export_arpa(
        require(args, "run", "rnnkit ngram export"), require(args, "out", "rnnkit ngram export")
    )
    print(f"wrote {path}")
    return 0


def _import(args: argparse.Namespace) -> int:
    arpa = require(args, "arpa", "rnnkit ngram import")
    lm = ngramrun.import_arpa(arpa, args.out, args.level, overwrite=args.overwrite)
    sizes = ", ".join(f"{n:,} {m + 1}-grams" for m, n in enumerate(lm.ngram_counts()))
    print(f"{arpa}: order {lm.order}, vocabulary {len(lm.vocab):,}; {sizes}")
    print(f"--- run directory: {args.out} ---")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from rnnkit.cli import main

    sys.exit(main(["ngram", *sys.argv[1:]]))
