"""``rnnkit ngram train|eval|sample|export|import``: count-based n-gram language models on text.

A model directory holds::

    OUT/
        run.json             the resolved NGramTrainConfig (level, order, smoothing, data, ...)
        ngram.safetensors    the counts, config and vocabulary (rnnkit.lm.NGramLM.save)

Text is split into lines; a line is a sentence of whitespace-separated words
(``--level word``) or of characters (``--level char``), and the model adds
``<s>`` padding and one ``</s>`` per line. ``eval`` reports the perplexity in
SRILM's convention: exp of the mean negative log-probability over every word
(or character) and one ``</s>`` per line. ``sample`` draws sentences one
after another (each starts after ``<s>``) until ``--length`` tokens, or, with
``--beam``, returns the best single sentence of a beam search.

``export`` writes a model directory's model as an ARPA file (the exchange format of SRILM, KenLM
and speech decoders; interpolated models become exact backoff models); ``import`` reads an ARPA
file into a model directory that ``eval`` and ``sample`` use like a trained one. See
:mod:`rnnkit.lm.arpa`.

``train``'s flags are generated from :class:`NGramTrainConfig`, one per field.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
import typing
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rnnkit._validate import check_choice, check_positive_int
from rnnkit.io import CheckpointError, atomic_write

RUN_FILE = "run.json"
LEVELS = ("word", "char")


@dataclass(frozen=True)
class NGramTrainConfig:
    """Everything ``rnnkit ngram train`` can be told; saved as run.json beside the model."""

    data: str | None = None  # plain UTF-8 text, one sentence per line; None: the built-in corpus
    valid: str | None = None  # text to report the perplexity on after counting (optional)
    level: str = "word"  # word | char
    order: int = 5  # N: predict from the N-1 previous tokens
    smoothing: str = "kneser-ney"  # mle | lidstone | laplace | witten-bell | kneser-ney | absolute | stupid-backoff
    delta: float | None = None  # lidstone's added count, the fixed discount of absolute / kneser-ney, or alpha
    min_count: int = 1  # rarer training tokens become <unk>
    builtin_chars: int = 2_000_000  # size of the built-in corpus (stdlib sources)

    def __post_init__(self):
        from rnnkit.lm.ngram import NGramLM

        w = "NGramTrainConfig"
        check_choice(w, "level", self.level, LEVELS)
        check_positive_int(w, "builtin_chars", self.builtin_chars)
        # the model's own checks: order >= 1, a known smoothing, a delta that fits it, min_count >= 1
        NGramLM(self.order, self.smoothing, self.delta, min_count=self.min_count)


_HELP = {
    "data": "plain UTF-8 text to count, one sentence per line (default: the built-in corpus, this Python's "
    "standard-library sources)",
    "valid": "UTF-8 text to report the perplexity on after training",
    "level": "word or char tokens",
    "smoothing": "mle, lidstone, laplace, witten-bell, kneser-ney (interpolated modified), absolute or "
    "stupid-backoff (scores, not probabilities: no perplexity)",
    "delta": "lidstone's added count, the one discount D of absolute or kneser-ney, or stupid-backoff's alpha",
    "min_count": "training tokens seen fewer times become <unk>",
    "order": "n: each token is predicted from the n-1 before it",
    "builtin_chars": "characters of the built-in corpus to use",
}


def _flag_type(name: str):
    hint = typing.get_type_hints(NGramTrainConfig)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args else hint
    if type(None) in typing.get_args(hint):
        return lambda s, b=base: None if s.lower() == "none" else b(s)
    return base


def register(sub) -> None:
    ng = sub.add_parser("ngram", help="n-gram language models: train, eval, sample, export, import")
    cmds = ng.add_subparsers(dest="ngram_command", metavar="{train,eval,sample,export,import}", parser_class=type(ng))

    t = cmds.add_parser("train", help="count an n-gram model (default: on the built-in corpus)")
    for f in dataclasses.fields(NGramTrainConfig):
        helptext = _HELP.get(f.name, f.name.replace("_", " ")) + f" (default {f.default})"
        t.add_argument("--" + f.name.replace("_", "-"), type=_flag_type(f.name), default=f.default, help=helptext)
    t.add_argument("--out", default="runs/ngram", help="model directory (default runs/ngram)")
    t.set_defaults(func=_train)

    e = cmds.add_parser("eval", help="perplexity of a text (SRILM convention)")
    e.add_argument("--model", required=True, help="model directory of 'rnnkit ngram train'")
    e.add_argument("--data", required=True, help="UTF-8 text to score, one sentence per line")
    e.set_defaults(func=_eval)

    s = cmds.add_parser("sample", help="generate text from a trained model")
    s.add_argument("--model", required=True, help="model directory of 'rnnkit ngram train'")
    s.add_argument("--prompt", default="", help="start of the first sentence")
    s.add_argument("--length", type=int, default=None, help="tokens to generate (default 50 words or 300 characters)")
    s.add_argument("--temperature", type=float, default=1.0)
    s.add_argument("--top-k", type=int, default=None)
    s.add_argument("--top-p", type=float, default=None)
    s.add_argument("--beam", type=int, default=0, help="beam search with this beam size: one best sentence")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=_sample)
    register_arpa(cmds)
    ng.set_defaults(func=_missing)


def register_arpa(cmds) -> None:
    """The ``export`` and ``import`` subcommands (ARPA files)."""
    x = cmds.add_parser("export", help="write a model directory's model as an ARPA file")
    x.add_argument("--model", required=True, help="model directory of 'rnnkit ngram train' or 'import'")
    x.add_argument("--out", required=True, help="the ARPA file to write (atomically)")
    x.set_defaults(func=_export)
    i = cmds.add_parser("import", help="read an ARPA file into a model directory")
    i.add_argument("--arpa", required=True, help="the ARPA file (SRILM, KenLM, rnnkit ngram export)")
    i.add_argument("--out", required=True, help="model directory to write")
    i.add_argument("--level", default="word", help="word or char tokens (default word)")
    i.set_defaults(func=_import)


def _missing(args):
    from rnnkit.cli import UsageError

    raise UsageError("rnnkit ngram: a command is required (train, eval, sample, export or import)")


# -- text and model directories ------------------------------------------------------------------
def sentences(text: str, level: str) -> list[list[str]]:
    from rnnkit.lm.data import char_sentences, word_sentences

    return char_sentences(text) if level == "char" else word_sentences(text)


def train(cfg: NGramTrainConfig, out_dir, *, log_fn=print):
    """Count the model ``cfg`` describes and write the model directory ``out_dir``; return the model."""
    from rnnkit.lm.corpus import builtin_corpus
    from rnnkit.lm.ngram import NGramLM
    from rnnkit.lm.train import read_text

    text = read_text(cfg.data) if cfg.data else builtin_corpus(cfg.builtin_chars)
    valid_text = read_text(cfg.valid, "valid") if cfg.valid else None
    sents = sentences(text, cfg.level)
    t0 = time.perf_counter()
    lm = NGramLM(cfg.order, cfg.smoothing, cfg.delta, min_count=cfg.min_count).fit(sents)
    seconds = time.perf_counter() - t0
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lm.save(out)
    atomic_write(out / RUN_FILE, [json.dumps(asdict(cfg), indent=2).encode("utf-8")])
    kinds = ", ".join(f"{lv.codes.size:,} {m + 1}-grams" for m, lv in enumerate(lm._levels))
    log_fn(
        f"{cfg.level}-level {cfg.order}-gram {cfg.smoothing}: vocabulary {len(lm.vocab):,}, "
        f"{sum(len(s) + 1 for s in sents):,} training tokens in {len(sents):,} lines; {kinds}; "
        f"counted in {seconds:.2f} s"
    )
    if valid_text is not None:
        log_fn(_score_line(lm, valid_text, cfg.level))
    return lm


def load_model(model_dir):
    """(model, level) of a model directory written by :func:`train`."""
    from rnnkit.lm.ngram import MODEL_FILE, NGramLM

    d = Path(model_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"--model: no such directory: {d}")
    for name in (RUN_FILE, MODEL_FILE):
        if not (d / name).is_file():
            raise CheckpointError(f"{d}: not a model directory of 'rnnkit ngram train' ({name} is missing)")
    try:
        raw = json.loads((d / RUN_FILE).read_text(encoding="utf-8"))
        level = raw["level"]
        check_choice(str(d / RUN_FILE), "level", level, LEVELS)
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"{d / RUN_FILE}: unreadable run file: {e}") from None
    return NGramLM.load(d), level


def _score_line(lm, text: str, level: str) -> str:
    sents = sentences(text, level)
    total, m = lm.total_logprob(sents)
    ppl = math.exp(-total / m) if math.isfinite(total) else math.inf
    unk = sum(1 for s in sents for w in s if w not in lm.vocab or w == lm.vocab.unk_token)
    unit = "character" if level == "char" else "word"
    bits = -total / m / math.log(2)
    note = "" if math.isfinite(ppl) else " (a token has probability 0 under this smoothing)"
    return (
        f"ppl {ppl:.4f}{note} over {m:,} predictions ({m - len(sents):,} {unit}s + one </s> for each of "
        f"{len(sents):,} lines; {unk:,} scored as <unk>); {bits:.4f} bits per token"
    )


def generate(
    lm,
    level: str,
    prompt: str = "",
    *,
    length: int | None = None,
    temperature: float = 1.0,
    top_k=None,
    top_p=None,
    beam: int = 0,
    seed=0,
) -> str:
    """Continue ``prompt``: sentences drawn one after another up to ``length`` tokens, or with
    ``beam`` > 0 the best single sentence of a beam search."""
    from rnnkit.decoding import beam_search, sample

    length = (300 if level == "char" else 50) if length is None else length
    check_positive_int("rnnkit ngram sample", "length", length)
    check_positive_int("rnnkit ngram sample", "beam", beam, minimum=0)
    v = lm.vocab
    start = [v.bos_id] * max(lm.order - 1, 1)
    first = [v.index(t) for t in (list(prompt) if level == "char" else prompt.split())]
    if beam:
        ids = beam_search(lm, start + first, length, beam_size=beam, stop_ids=(v.eos_id,))
        lines = [first + [i for i in ids.tolist() if i != v.eos_id]]
    else:
        rng = np.random.default_rng(seed) if not isinstance(seed, np.random.Generator) else seed
        lines, left, head = [], length, first
        while left > 0:
            ids = sample(
                lm,
                start + head,
                left,
                temperature=temperature,
                top_k=top_k,
                top_p=top_p,
                seed=rng,
                stop_ids=(v.eos_id,),
            ).tolist()
            left -= len(ids)
            lines.append(head + [i for i in ids if i != v.eos_id])
            head = []
    sep = "" if level == "char" else " "
    return "\n".join(sep.join(v.decode(line)) for line in lines)


# -- the commands -----------------------------------------------------------------------------------
def _train(args) -> int:
    names = {f.name for f in dataclasses.fields(NGramTrainConfig)}
    cfg = NGramTrainConfig(**{k: v for k, v in vars(args).items() if k in names})
    lm = train(cfg, args.out)
    print("--- sample ---")
    print(generate(lm, cfg.level, length=200 if cfg.level == "char" else 30, seed=0))
    print(f"--- model directory: {args.out} ---")
    return 0


def _eval(args) -> int:
    from rnnkit.lm.train import read_text

    lm, level = load_model(args.model)
    print(_score_line(lm, read_text(args.data), level))
    return 0


def _sample(args) -> int:
    lm, level = load_model(args.model)
    print(
        generate(
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
    )
    return 0


def export_arpa(model_dir, out) -> Path:
    """Write the model of ``model_dir`` to the ARPA file ``out``; returns the path."""
    lm, _ = load_model(model_dir)
    return lm.to_arpa(out)


def import_arpa(arpa_path, out_dir, level: str = "word"):
    """Read the ARPA file into the model directory ``out_dir`` (run.json + ngram.safetensors); return the model."""
    from rnnkit.lm.ngram import NGramLM

    check_choice("rnnkit ngram import", "level", level, LEVELS)
    lm = NGramLM.from_arpa(arpa_path)  # ValueError "FILE:LINE: expected ..." for a malformed file
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lm.save(out)
    run = {"level": level, "order": lm.order, "smoothing": "arpa", "arpa": str(arpa_path)}
    atomic_write(out / RUN_FILE, [json.dumps(run, indent=2).encode("utf-8")])
    return lm


def _export(args) -> int:
    path = export_arpa(args.model, args.out)
    print(f"wrote {path}")
    return 0


def _import(args) -> int:
    lm = import_arpa(args.arpa, args.out, args.level)
    sizes = ", ".join(f"{lv.codes.size:,} {m + 1}-grams" for m, lv in enumerate(lm._levels))
    print(f"{args.arpa}: order {lm.order}, vocabulary {len(lm.vocab):,}; {sizes}")
    print(f"--- model directory: {args.out} ---")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from rnnkit.cli import main

    sys.exit(main(["ngram", *sys.argv[1:]]))
