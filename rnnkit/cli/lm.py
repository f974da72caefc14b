"""``rnnkit lm train|sample|eval|prepare``: recurrent language models on text.

``train``'s flags are generated from :class:`rnnkit.runs.lm.LMTrainConfig`
(one flag per field, spelled like it: ``--num-layers`` for ``num_layers``), so
the CLI and the library cannot drift; the resolved config is saved as run.json.
``sample`` and ``eval`` read the run directory named by ``--run``.
``prepare``'s flags come from :class:`rnnkit.runs.prepare.PrepareConfig`; it
writes a memory-mapped corpus that ``train --data DIR`` reads. Under an MPI
launcher ``train`` is data-parallel and rank 0 alone prints. Everything else
happens in :mod:`rnnkit.runs.lm` and :mod:`rnnkit.runs.prepare`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing

from rnnkit.cli.common import UsageError, add_aliases, add_config_flags, config_from_args, require
from rnnkit.runs import lm as lmrun
from rnnkit.runs import prepare as preprun

# Spellings of earlier versions, accepted but not shown in --help.
TRAIN_ALIASES = {"--layers": "num_layers", "--tie": "tie_weights", "--clip": "clip_norm", "--minutes": "max_minutes"}
RUN_ALIASES = {"--checkpoint": "run"}


def register(sub: typing.Any) -> None:
    """Add ``rnnkit lm`` and its sub-commands to ``sub``."""
    lm = sub.add_parser("lm", help="recurrent language models: train, sample, eval, prepare")
    cmds = lm.add_subparsers(dest="lm_command", metavar="{train,sample,eval,prepare}", parser_class=type(lm))

    t = cmds.add_parser("train", help="train a language model (default: on the built-in corpus)")
    add_config_flags(t, lmrun.LMTrainConfig)
    add_aliases(t, TRAIN_ALIASES, typing.get_type_hints(lmrun.LMTrainConfig))
    t.add_argument("--out", default="runs/lm", metavar="DIR", help="Run directory to create. (default: runs/lm)")
    t.add_argument("--overwrite", action="store_true", help="Replace the run already in --out, if any.")
    t.add_argument("--prompt", default=None, help="Start of the sample printed at the end.")
    t.add_argument("--no-progress", action="store_true", help="Show no progress bar.")
    t.set_defaults(func=_train)

    s = cmds.add_parser("sample", help="continue a prompt with a trained model")
    s.add_argument("--run", metavar="DIR", help="Run directory of 'rnnkit lm train'. (required)")
    s.add_argument("--prompt", default="", help="Text to continue. (default: none)")
    s.add_argument("--length", type=int, default=300, metavar="N", help="Tokens to generate. (default: 300)")
    s.add_argument("--temperature", type=float, default=0.8, metavar="X", help="Softmax temperature. (default: 0.8)")
    s.add_argument("--top-k", type=int, default=None, metavar="N", help="Sample among the k likeliest tokens only.")
    s.add_argument("--top-p", type=float, default=None, metavar="X", help="Sample from the smallest top-p mass only.")
    s.add_argument(
        "--beam", type=int, default=0, metavar="N", help="Beam search with this beam size. (default: 0, off)"
    )
    s.add_argument("--seed", type=int, default=0, help="Seed of the sampling. (default: 0)")
    add_aliases(s, RUN_ALIASES, {"run": str})
    s.set_defaults(func=_sample)

    e = cmds.add_parser("eval", help="perplexity (words) or bits per character of a text")
    e.add_argument("--run", metavar="DIR", help="Run directory of 'rnnkit lm train'. (required)")
    e.add_argument("--data", required=True, help="UTF-8 text to score.")
    add_aliases(e, RUN_ALIASES, {"run": str})
    e.set_defaults(func=_eval)

    p = cmds.add_parser("prepare", help="tokenise a large text once into memory-mapped ids (train with --data DIR)")
    data_help = next(f for f in dataclasses.fields(preprun.PrepareConfig) if f.name == "data").metadata["help"]
    p.add_argument("--data", required=True, metavar="FILE", help=data_help)
    add_config_flags(p, preprun.PrepareConfig, skip=("data",))
    p.add_argument("--out", required=True, metavar="DIR", help="Corpus directory to create.")
    p.add_argument("--overwrite", action="store_true", help="Replace the prepared corpus already in --out, if any.")
    p.set_defaults(func=_prepare)
    lm.set_defaults(func=_missing)


def _missing(args: argparse.Namespace) -> int:
    raise UsageError("rnnkit lm: a command is required (train, sample, eval or prepare)")


def _train(args: argparse.Namespace) -> int:
    cfg = config_from_args(lmrun.LMTrainConfig, args)
    summary = lmrun.train(
        cfg, args.out, overwrite=args.overwrite, progress=not args.no_progress and sys.stderr.isatty()
    )
    if summary.get("rank", 0) != 0:  # a data-parallel run: rank 0 alone prints the sample
        return 0
    model, vocab, _ = lmrun.load_run(args.out)
    prompt = args.prompt if args.prompt is not None else ("def " if cfg.level == "char" and not cfg.data else "")
    print("--- sample ---")
    print(lmrun.generate(model, vocab, prompt, cfg.level, length=400 if cfg.level == "char" else 60))
    print(f"--- run directory: {args.out} ---")
    return 0 if summary else 1


def _sample(args: argparse.Namespace) -> int:
    model, vocab, cfg = lmrun.load_run(require(args, "run", "rnnkit lm sample"))
    print(
        lmrun.generate(
            model,
            vocab,
            args.prompt,
            cfg.level,
            length=args.length,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            beam=args.beam,
            seed=args.seed,
        )
    )
    return 0


def _eval(args: argparse.Namespace) -> int:
    model, vocab, cfg = lmrun.load_run(require(args, "run", "rnnkit lm eval"))
    result = lmrun.evaluate_text(model, vocab, lmrun.read_text(args.data), cfg.level, cfg.bptt)
    name = "bpc" if cfg.level == "char" else "ppl"
    print(f"{name} {result[name]:.4f} over {result['tokens']:,} tokens (mean loss {result['loss']:.4f} nats)")
    return 0


def _prepare(args: argparse.Namespace) -> int:
    preprun.prepare(config_from_args(preprun.PrepareConfig, args), args.out, overwrite=args.overwrite)
    return 0
