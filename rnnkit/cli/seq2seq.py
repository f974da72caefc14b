"""``rnnkit seq2seq train|translate|eval``: encoder-decoders on built-in tasks or TSV pairs.

``train``'s flags are generated from :class:`rnnkit.runs.seq2seq.Seq2SeqRunConfig`
(:func:`rnnkit.cli.common.add_config_flags`: one flag per field, ``--hidden-size``
for ``hidden_size``, its help sentence, choices and shown default in the
field's metadata); ``--out DIR`` names the run directory to create (refused if
it holds a run, unless ``--overwrite``; ``--resume`` continues it); under an
MPI launcher (``mpirun -n 4 rnnkit seq2seq train ...``) training is
data-parallel and rank 0 alone prints.
``translate`` and ``eval`` read the run directory named by ``--run``. This
module only parses flags and calls :mod:`rnnkit.runs.seq2seq`.
"""

from __future__ import annotations

import argparse
import sys
import typing

from rnnkit.cli.common import UsageError, add_aliases, add_config_flags, config_from_args, require
from rnnkit.runs import seq2seq as runs
from rnnkit.runs.directory import save_figure

# Spellings of earlier versions, accepted but not shown in --help.
TRAIN_ALIASES = {"--clip": "clip_norm", "--minutes": "max_minutes"}
RUN_HELP = "Run directory of 'rnnkit seq2seq train'. (required)"


def register(sub: typing.Any) -> None:
    """Add ``rnnkit seq2seq`` and its sub-commands to ``sub``."""
    s2s = sub.add_parser("seq2seq", help="encoder-decoders: train, translate, eval")
    cmds = s2s.add_subparsers(dest="seq2seq_command", metavar="{train,translate,eval}", parser_class=type(s2s))

    t = cmds.add_parser("train", help="train an encoder-decoder on a built-in task or a TSV file")
    add_config_flags(t, runs.Seq2SeqRunConfig)
    add_aliases(t, TRAIN_ALIASES, typing.get_type_hints(runs.Seq2SeqRunConfig))
    t.add_argument(
        "--out", default="runs/seq2seq", metavar="DIR", help="Run directory to create. (default: runs/seq2seq)"
    )
    t.add_argument("--overwrite", action="store_true", help="Replace the run already in --out, if any.")
    t.add_argument("--resume", action="store_true", help="Continue the run in --out from its last checkpoint.")
    t.add_argument("--no-progress", action="store_true", help="Show no progress bar.")
    t.set_defaults(func=_train)

    r = cmds.add_parser("translate", help="translate sources given as arguments, or lines of stdin")
    r.add_argument("sources", nargs="*", help="Source texts. (default: one per line of stdin)")
    r.add_argument("--run", metavar="DIR", help=RUN_HELP)
    r.add_argument("--beam", type=int, default=1, metavar="N", help="Beam size; 1 decodes greedily. (default: 1)")
    r.add_argument("--nbest", type=int, default=1, metavar="N", help="Outputs printed per source. (default: 1)")
    r.add_argument("--plot", default=None, metavar="PNG", help="Write the first source's attention heatmap here.")
    r.set_defaults(func=_translate)

    e = cmds.add_parser("eval", help="exact match, token accuracy and BLEU on a TSV file")
    e.add_argument("--run", metavar="DIR", help=RUN_HELP)
    e.add_argument("--data", required=True, metavar="FILE", help="TSV file of source<TAB>target lines.")
    e.add_argument("--beam", type=int, default=1, metavar="N", help="Beam size; 1 decodes greedily. (default: 1)")
    e.set_defaults(func=_eval)
    s2s.set_defaults(func=_missing)


def _missing(args: argparse.Namespace) -> int:
    raise UsageError("rnnkit seq2seq: a command is required (train, translate or eval)")


def _train(args: argparse.Namespace) -> int:
    if args.resume and args.overwrite:
        raise UsageError("rnnkit seq2seq train: --resume and --overwrite exclude each other")
    cfg = config_from_args(runs.Seq2SeqRunConfig, args)
    progress = not args.no_progress and sys.stderr.isatty()
    scores = runs.train(cfg, args.out, overwrite=args.overwrite, resume=args.resume, progress=progress)
    if scores.get("rank", 0) == 0:  # a data-parallel run: rank 0 alone reports
        print(f"--- run directory: {args.out} ---")
    return 0


def _translate(args: argparse.Namespace) -> int:
    if args.beam < 1 or args.nbest < 1 or args.nbest > args.beam:
        raise UsageError(f"rnnkit seq2seq translate: need 1 <= --nbest <= --beam, got {args.nbest} and {args.beam}")
    run = runs.load_run(require(args, "run", "rnnkit seq2seq translate"))
    sources = args.sources or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not sources:
        raise UsageError("rnnkit seq2seq translate: no source given (as arguments or on stdin)")
    results = runs.translate(run, sources, beam=args.beam, nbest=args.nbest)
    for per in results:
        if args.nbest == 1:
            print(per[0].text)
        else:
            for rank, tr in enumerate(per, start=1):
                print(f"{rank}\t{tr.score:.4f}\t{tr.text}")
    if args.plot:
        best = results[0][0]
        if best.attention is None:
            raise UsageError(f"rnnkit seq2seq translate: --plot needs a model with attention; {args.run} has none")
        from rnnkit.analysis.attention_plot import plot_attention

        outputs = best.tokens + (["</s>"] if best.finished else [])
        fig = plot_attention(best.attention, best.source_tokens, outputs, title=sources[0])
        save_figure(fig, args.plot)
        print(f"attention heatmap: {args.plot}", file=sys.stderr)
    return 0


def _eval(args: argparse.Namespace) -> int:
    if args.beam < 1:
        raise UsageError(f"rnnkit seq2seq eval: --beam must be >= 1, got {args.beam}")
    run = runs.load_run(require(args, "run", "rnnkit seq2seq eval"))
    s = runs.evaluate(run, args.data, beam=args.beam)
    print(
        f"exact-match {s['exact_match']:.4f}  token-accuracy {s['token_accuracy']:.4f}  "
        f"BLEU {s['bleu']:.2f}  ({s['count']} pairs)"
    )
    return 0
