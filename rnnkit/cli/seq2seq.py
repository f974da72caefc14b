"""``rnnkit seq2seq train|translate|eval``: encoder-decoders on built-in tasks or TSV pairs.

``train``'s flags are generated from :class:`rnnkit.runs.seq2seq.Seq2SeqRunConfig`
(one flag per field, ``--hidden-size`` for ``hidden_size``, its help sentence,
choices and shown default in the field's metadata); this module only parses
flags and calls :mod:`rnnkit.runs.seq2seq`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing

from rnnkit.runs import seq2seq as runs


def _converter(field):
    """str -> value for a field's type (None for a bool: a --flag/--no-flag pair); optional fields take 'none'."""
    hint = typing.get_type_hints(runs.Seq2SeqRunConfig)[field.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args else hint
    if base is bool:
        return None
    if type(None) in typing.get_args(hint):
        return lambda s, b=base: None if s.lower() == "none" else b(s)
    return base


def _add_config_flags(parser) -> None:
    """One flag per config field: its help sentence, choices and shown default come from the field's metadata."""
    for f in dataclasses.fields(runs.Seq2SeqRunConfig):
        flag = "--" + f.name.replace("_", "-")
        shown = f.metadata.get("default_text", "none" if f.default is None else f.default)
        text = f"{f.metadata['help']} (default: {shown})".replace("%", "%%")
        kind = _converter(f)
        if kind is None:
            action = parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            action = parser.add_argument(flag, type=kind, default=f.default, choices=f.metadata.get("choices"))
        action.help = text  # set after construction: some Pythons append the default to a boolean flag's help


def register(sub) -> None:
    s2s = sub.add_parser("seq2seq", help="encoder-decoders: train, translate, eval")
    cmds = s2s.add_subparsers(dest="seq2seq_command", metavar="{train,translate,eval}", parser_class=type(s2s))

    t = cmds.add_parser("train", help="train an encoder-decoder on a built-in task or a TSV file")
    _add_config_flags(t)
    t.add_argument("--out", default="runs/seq2seq", help="run directory to write (default: runs/seq2seq)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(func=_train)

    r = cmds.add_parser("translate", help="translate sources given as arguments, or lines of stdin")
    r.add_argument("sources", nargs="*", help="source texts (default: one per line of stdin)")
    r.add_argument("--run", required=True, help="run directory of 'rnnkit seq2seq train'")
    r.add_argument("--beam", type=int, default=1, help="beam size; 1 decodes greedily (default: 1)")
    r.add_argument("--nbest", type=int, default=1, help="outputs printed per source, best first (default: 1)")
    r.add_argument("--plot", default=None, help="write the attention heatmap of the first source to this PNG")
    r.set_defaults(func=_translate)

    e = cmds.add_parser("eval", help="exact match, token accuracy and BLEU on a TSV file")
    e.add_argument("--run", required=True, help="run directory of 'rnnkit seq2seq train'")
    e.add_argument("--data", required=True, help="TSV file of source<TAB>target lines")
    e.add_argument("--beam", type=int, default=1, help="beam size; 1 decodes greedily (default: 1)")
    e.set_defaults(func=_eval)
    s2s.set_defaults(func=lambda args: _missing())


def _missing():
    from rnnkit.cli import UsageError

    raise UsageError("rnnkit seq2seq: a command is required (train, translate or eval)")


def _config(args) -> runs.Seq2SeqRunConfig:
    return runs.Seq2SeqRunConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(runs.Seq2SeqRunConfig)})


def _train(args) -> int:
    cfg = _config(args)
    runs.train(cfg, args.out, resume=args.resume, progress=not args.no_progress and sys.stderr.isatty())
    print(f"run directory: {args.out}")
    return 0


def _translate(args) -> int:
    from rnnkit.cli import UsageError

    if args.beam < 1 or args.nbest < 1 or args.nbest > args.beam:
        raise UsageError(f"rnnkit seq2seq translate: need 1 <= --nbest <= --beam, got {args.nbest} and {args.beam}")
    run = runs.load_run(args.run)
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
        import io

        from rnnkit.io import atomic_write

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120)
        atomic_write(args.plot, [buf.getvalue()])
        print(f"attention heatmap: {args.plot}", file=sys.stderr)
    return 0


def _eval(args) -> int:
    from rnnkit.cli import UsageError

    if args.beam < 1:
        raise UsageError(f"rnnkit seq2seq eval: --beam must be >= 1, got {args.beam}")
    run = runs.load_run(args.run)
    s = runs.evaluate(run, args.data, beam=args.beam)
    print(
        f"exact-match {s['exact_match']:.4f}  token-accuracy {s['token_accuracy']:.4f}  "
        f"BLEU {s['bleu']:.2f}  ({s['count']} pairs)"
    )
    return 0
