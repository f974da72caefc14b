"""``rnnkit seq2seq train|translate|eval``: encoder-decoders on built-in tasks or TSV pairs.

``train``'s flags are generated from :class:`rnnkit.runs.seq2seq.Seq2SeqRunConfig`
(one flag per field, ``--hidden-size`` for ``hidden_size``); this module only
parses flags and calls :mod:`rnnkit.runs.seq2seq`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing

from rnnkit.runs import seq2seq as runs

_HELP = {
    "task": "built-in task to train on",
    "data": "TSV file of source<TAB>target lines to train on, instead of a task",
    "valid": "TSV file of validation pairs",
    "valid_fraction": "fraction of --data held out for validation when --valid is not given",
    "level": "tokens of a --data run: characters or whitespace-separated words",
    "train_size": "number of training pairs drawn for a task",
    "valid_size": "number of validation pairs drawn for a task (with seed + 1)",
    "max_source_length": "longest source accepted, in tokens",
    "max_target_length": "longest target accepted, in tokens",
    "min_count": "tokens seen fewer times in training become <unk>",
    "max_vocab": "largest vocabulary size, special tokens included",
    "cell": "recurrent cell of the encoder and the decoder",
    "embedding_size": "size of the token embeddings",
    "hidden_size": "hidden units per encoder layer and direction",
    "encoder_layers": "stacked recurrent layers in the encoder",
    "decoder_layers": "stacked recurrent layers in the decoder",
    "decoder_hidden_size": "hidden units per decoder layer (none: hidden size times the encoder's directions)",
    "bridge": "how the encoder's final states start the decoder: a learned projection, concatenation, or zeros",
    "attention_size": "size of the additive and concat attention scores (none: the decoder's hidden size)",
    "recurrent_dropout": "dropout on the decoder's previous state in its recurrent product",
    "variational": "one decoder dropout mask per sequence instead of one per step",
    "zoneout": "probability that a decoder unit keeps its previous value",
    "bidirectional": "read the source in both directions",
    "encoder": "flat RNN over the source, or hierarchical (word-level per sentence, then sentence-level)",
    "attention": "attention over the source: none (a fixed context vector), additive, or dot/general/concat",
    "input_feeding": "feed the previous attentional vector into the next decoder step",
    "copy": "pointer-generator: let the decoder copy source tokens, even ones outside the target vocabulary",
    "coverage": "coverage vector in the attention scores, plus the coverage loss",
    "coverage_loss_weight": "weight of the coverage loss",
    "dropout": "dropout between stacked layers",
    "scheduled_sampling": "probability of feeding the model's own prediction instead of the reference",
    "batch_size": "pairs per update",
    "optimizer": "update rule",
    "lr": "learning rate",
    "clip": "global gradient-norm clipping threshold (0: none)",
    "epochs": "passes over the training pairs",
    "minutes": "wall-clock budget for training (0: none)",
    "checkpoint_every": "updates between checkpoints",
    "eval_every": "updates between validation losses",
    "log_every": "updates between log records",
    "max_output_length": "most tokens a decoded output may have",
    "seed": "seed of the data, the initial weights and the batch order",
}
_SHOWN_DEFAULT = {
    "task": "dates, unless --data is given",
    "valid": "the last --valid-fraction of --data",
    "coverage_loss_weight": "1 with --coverage",
}
_CHOICES = {
    "task": tuple(runs.TASKS),
    "level": runs.LEVELS,
    "cell": runs.CELLS,
    "encoder": runs.ENCODERS,
    "bridge": runs.BRIDGES,
    "attention": runs.ATTENTIONS,
    "optimizer": ("adam", "sgd"),
}


def _flag_type(field):
    hint = typing.get_type_hints(runs.Seq2SeqRunConfig)[field.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args else hint
    if base is bool:
        return None
    return base


def _add_config_flags(parser) -> None:
    for f in dataclasses.fields(runs.Seq2SeqRunConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = _flag_type(f)
        shown = _SHOWN_DEFAULT.get(f.name, "none" if f.default is None else f.default)
        text = f"{_HELP[f.name]} (default: {shown})".replace("%", "%%")
        if kind is None:
            action = parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            default = None if f.name == "task" else f.default  # --task is resolved against --data in _config
            action = parser.add_argument(flag, type=kind, default=default, choices=_CHOICES.get(f.name))
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
    from rnnkit.cli import UsageError

    if args.task is not None and args.data is not None:
        raise UsageError("rnnkit seq2seq train: give --task or --data, not both")
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(runs.Seq2SeqRunConfig)}
    if values["task"] is None and values["data"] is None:
        values["task"] = runs.Seq2SeqRunConfig.task  # the default task
    return runs.Seq2SeqRunConfig(**values)


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
