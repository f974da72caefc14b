"""``rnnkit lm train|sample|eval|prepare``: recurrent language models on text.

``train``'s flags are generated from :class:`rnnkit.runs.lm.LMTrainConfig`
(one flag per field, spelled like it: ``--num-layers`` for ``num_layers``), so
the CLI and the library cannot drift; the resolved config is saved as run.json.
The run flags (``--out``, ``--resume``, ``--overwrite``, ``--init-from``,
``--checkpoint-every``, ``--on-nonfinite``) come from
:class:`rnnkit.runs.control.RunControl`. ``sample`` and ``eval`` read the run
directory named by ``--run``. ``prepare``'s flags come from
:class:`rnnkit.runs.prepare.PrepareConfig`; it writes a memory-mapped corpus
that ``train --data DIR`` reads. Under an MPI launcher ``train`` is
data-parallel and rank 0 alone prints. Everything else happens in
:mod:`rnnkit.runs.lm` and :mod:`rnnkit.runs.prepare`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing

from rnnkit.cli.common import (
    UsageError,
    add_aliases,
    add_config_flags,
    add_preset_flag,
    add_run_flags,
    add_sampling_flags,
    apply_preset_args,
    check_sampling,
    command_line,
    config_from_args,
    require,
    resumed_config,
    run_control_from_args,
)
from rnnkit.runs import lm as lmrun
from rnnkit.runs import prepare as preprun
from rnnkit.runs.presets import LM_PRESETS, describe
from rnnkit.runs.textscore import format_text_score

# Spellings of earlier versions, accepted but not shown in --help.
TRAIN_ALIASES = {"--layers": "num_layers", "--tie": "tie_weights", "--clip": "clip_norm", "--minutes": "max_minutes"}
RUN_ALIASES = {"--checkpoint": "run"}
RUN_HELP = "Run directory written by 'rnnkit lm train'. (required)"


def register(sub: typing.Any) -> None:
    """Add ``rnnkit lm`` and its sub-commands to ``sub``."""
    lm = sub.add_parser("lm", help="recurrent language models: train, sample, eval, prepare")
    cmds = lm.add_subparsers(dest="lm_command", metavar="{train,sample,eval,prepare}", parser_class=type(lm))

    t = cmds.add_parser("train", help="train a language model (default: on the built-in corpus)")
    add_config_flags(t, lmrun.LMTrainConfig)
    add_aliases(t, TRAIN_ALIASES, typing.get_type_hints(lmrun.LMTrainConfig))
    add_run_flags(t, "runs/lm")
    add_preset_flag(t, LM_PRESETS)
    t.add_argument(
        "--prompt",
        default=None,
        help="Start of the sample printed at the end. (default: 'def ' on the built-in corpus)",
    )
    t.add_argument("--no-progress", action="store_true", help="Show no progress bar.")
    t.set_defaults(func=_train)

    s = cmds.add_parser("sample", help="continue a prompt with a trained model")
    s.add_argument("--run", metavar="DIR", help=RUN_HELP)
    s.add_argument("--prompt", default="", help="Text to continue. (default: none, start as after a line's end)")
    add_sampling_flags(
        s,
        length=300,
        length_help="Tokens to generate, at least 1.",
        temperature=0.8,
        beam_help="Beam search with N beams instead of sampling (0: sample).",
    )
    add_aliases(s, RUN_ALIASES, {"run": str})
    s.set_defaults(func=_sample)

    e = cmds.add_parser(
        "eval", help="tokens, out-of-vocabulary tokens, sentences, cross-entropy and perplexity of a text"
    )
    e.add_argument("--run", metavar="DIR", help=RUN_HELP)
    e.add_argument("--data", required=True, metavar="FILE", help="UTF-8 text to score.")
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
    prog = "rnnkit lm train"
    if args.preset == "list":
        print(describe(LM_PRESETS))
        return 0
    preset = apply_preset_args(args, LM_PRESETS, prog)
    cfg = resumed_config(lmrun.LMTrainConfig, args, prog, renamed=lmrun.RENAMED_FIELDS)
    control = run_control_from_args(args, prog)
    summary = lmrun.train(
        cfg,
        args.out,
        control=control,
        progress=not args.no_progress and sys.stderr.isatty(),
        command=command_line(args),
        preset=preset,
    )
    if summary.get("rank", 0) != 0:  # a data-parallel run: rank 0 alone prints the sample
        return 0
    model, vocab, _ = lmrun.load_run(args.out, flag="--out")
    prompt = args.prompt if args.prompt is not None else ("def " if cfg.level == "char" and not cfg.data else "")
    print("--- sample ---")
    print(lmrun.generate(model, vocab, prompt, cfg.level, length=400 if cfg.level == "char" else 60), end="")
    print(f"--- run directory: {args.out} ---")
    return 0 if summary else 1


def _sample(args: argparse.Namespace) -> int:
    check_sampling("rnnkit lm sample", args, lmrun.MAX_SAMPLE_LENGTH)
    model, vocab, cfg = lmrun.load_run(require(args, "run", "rnnkit lm sample"))
    text = lmrun.generate(
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
    sys.stdout.write(text)
    return 0


def _eval(args: argparse.Namespace) -> int:
    model, vocab, cfg = lmrun.load_run(require(args, "run", "rnnkit lm eval"))
    result = lmrun.evaluate_text(model, vocab, lmrun.read_text(args.data), cfg.level, cfg.bptt)
    print(format_text_score(result))
    return 0


def _prepare(args: argparse.Namespace) -> int:
    preprun.prepare(
        config_from_args(preprun.PrepareConfig, args, "rnnkit lm prepare"), args.out, overwrite=args.overwrite
    )
    return 0
