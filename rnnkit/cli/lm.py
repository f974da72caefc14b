"""``rnnkit lm train|sample|eval``: recurrent language models on text.

``train``'s flags are generated from :class:`rnnkit.lm.train.LMTrainConfig`
(one flag per field, ``--hidden-size`` for ``hidden_size``), so the CLI and
the library cannot drift; the resolved config is saved as run.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing

from rnnkit.lm import train as lmtrain

_HELP = {
    "data": "plain UTF-8 text to train on (default: the built-in corpus, this Python's standard-library sources)",
    "valid": "validation text (default: the last --valid-fraction of the training lines)",
    "level": "char or word tokens",
    "cell": "rnn, gru, lstm or mgu",
    "minutes": "time budget (0: none)",
    "clip": "global gradient-norm clipping (0: none)",
    "tie": "tie input and output embeddings",
    "variational": "one dropout mask per sequence (Gal and Ghahramani)",
    "lr_decay": "multiply the learning rate by this each epoch after --decay-start",
}


def _flag_type(field):
    hint = typing.get_type_hints(lmtrain.LMTrainConfig)[field.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args else hint
    if base is bool:
        return None
    if type(None) in typing.get_args(hint):
        return lambda s, b=base: None if s.lower() == "none" else b(s)
    return base


def register(sub) -> None:
    lm = sub.add_parser("lm", help="recurrent language models: train, sample, eval, prepare")
    cmds = lm.add_subparsers(dest="lm_command", metavar="{train,sample,eval,prepare}", parser_class=type(lm))

    t = cmds.add_parser("train", help="train a language model (default: on the built-in corpus)")
    for f in dataclasses.fields(lmtrain.LMTrainConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = _flag_type(f)
        helptext = _HELP.get(f.name, f.name.replace("_", " ")) + f" (default {f.default})"
        if kind is None:
            t.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=helptext)
        else:
            t.add_argument(flag, type=kind, default=f.default, help=helptext)
    t.add_argument("--out", default="runs/lm", help="run directory (default runs/lm)")
    t.add_argument("--prompt", default=None, help="start of the sample printed at the end")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(func=_train)

    s = cmds.add_parser("sample", help="continue a prompt with a trained model")
    s.add_argument("--checkpoint", required=True, help="run directory of 'rnnkit lm train'")
    s.add_argument("--prompt", default="", help="text to continue")
    s.add_argument("--length", type=int, default=300, help="tokens to generate (default 300)")
    s.add_argument("--temperature", type=float, default=0.8)
    s.add_argument("--top-k", type=int, default=None)
    s.add_argument("--top-p", type=float, default=None)
    s.add_argument("--beam", type=int, default=0, help="beam search with this beam size instead of sampling")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=_sample)

    e = cmds.add_parser("eval", help="perplexity (words) or bits per character of a text")
    e.add_argument("--checkpoint", required=True, help="run directory of 'rnnkit lm train'")
    e.add_argument("--data", required=True, help="UTF-8 text to score")
    e.set_defaults(func=_eval)
    _register_prepare(cmds)
    lm.set_defaults(func=lambda args: _missing(lm))


def _missing(parser):
    from rnnkit.cli import UsageError

    raise UsageError("rnnkit lm: a command is required (train, sample or eval)")


def _train(args) -> int:
    names = {f.name for f in dataclasses.fields(lmtrain.LMTrainConfig)}
    cfg = lmtrain.LMTrainConfig(**{k: v for k, v in vars(args).items() if k in names})
    summary = lmtrain.train(cfg, args.out, progress=not args.no_progress and sys.stderr.isatty())
    if summary.get("rank", 0) != 0:  # a data-parallel run: rank 0 prints the sample
        return 0
    model, vocab, _ = lmtrain.load_run(args.out)
    prompt = args.prompt if args.prompt is not None else ("def " if cfg.level == "char" and not cfg.data else "")
    print("--- sample ---")
    print(lmtrain.generate(model, vocab, prompt, cfg.level, length=400 if cfg.level == "char" else 60))
    print(f"--- run directory: {args.out} ---")
    return 0 if summary else 1


def _sample(args) -> int:
    model, vocab, cfg = lmtrain.load_run(args.checkpoint)
    print(
        lmtrain.generate(
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


def _eval(args) -> int:
    model, vocab, cfg = lmtrain.load_run(args.checkpoint)
    result = lmtrain.evaluate_text(model, vocab, lmtrain.read_text(args.data), cfg.level, cfg.bptt)
    name = "bpc" if cfg.level == "char" else "ppl"
    print(f"{name} {result[name]:.4f} over {result['tokens']:,} tokens (mean loss {result['loss']:.4f} nats)")
    return 0


# -- rnnkit lm prepare: a corpus larger than memory, tokenised once into memory-mapped ids ----------------
def _register_prepare(cmds) -> None:
    p = cmds.add_parser("prepare", help="tokenise a large text once into memory-mapped ids (train with --data DIR)")
    p.add_argument("--data", required=True, help="plain UTF-8 training text, read line by line")
    p.add_argument("--valid", default=None, help="validation text, encoded with the training vocabulary")
    p.add_argument("--out", required=True, help="directory for vocab.json, train.npy, valid.npy, corpus.json")
    p.add_argument("--level", default="word", choices=("char", "word"), help="char or word tokens (default word)")
    p.add_argument("--min-count", type=int, default=1, help="rarer tokens become <unk> (default 1)")
    p.add_argument("--max-vocab", type=int, default=None, help="cap on the vocabulary size, specials included")
    p.set_defaults(func=_prepare)


def _prepare(args) -> int:
    from rnnkit.lm.mmap_corpus import prepare

    meta = prepare(
        args.data, args.out, valid=args.valid, level=args.level, min_count=args.min_count, max_vocab=args.max_vocab
    )
    counts = ", ".join(f"{n:,} {split}" for split, n in meta["tokens"].items())
    print(f"{args.out}: {meta['level']}-level corpus, vocabulary {meta['vocab_size']:,}, tokens: {counts}")
    return 0
