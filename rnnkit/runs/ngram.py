"""Count, evaluate and sample n-gram language models on text: what ``rnnkit ngram`` runs.

A run directory (:class:`rnnkit.runs.RunDir`) holds::

    RUN/
        run.json             the resolved NGramTrainConfig (level, order, smoothing, data, ...)
        ngram.safetensors    the counts, config and vocabulary (rnnkit.lm.NGramLM.save)
        manifest.json        SHA-256 of run.json and ngram.safetensors, checked when the run is read
        result.json          n-gram counts, counting time, the --valid score, the command that made the run

Text is split into lines; a line is a sentence of whitespace-separated words
(``--level word``) or of characters (``--level char``), and the model adds
``<s>`` padding and one ``</s>`` per line. ``eval`` reports the perplexity in
SRILM's convention: exp of the mean negative log-probability over every word
(or character) and one ``</s>`` per line. ``sample`` draws sentences one
after another (each starts after ``<s>``) until ``--length`` tokens, or, with
``--beam``, returns the best single sentence of a beam search.

The fields of :class:`NGramTrainConfig` are the flags of ``rnnkit ngram train``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit._validate import check_choice, check_positive_int
from rnnkit.decoding import beam_search, greedy, sample
from rnnkit.io import CheckpointError
from rnnkit.lm.ngram import MODEL_FILE, SMOOTHINGS, NGramLM
from rnnkit.runs.directory import CONFIG_FILE, RESULT_FILE, RunDir
from rnnkit.runs.textscore import format_text_score
from rnnkit.text.corpus import builtin_corpus, read_text
from rnnkit.text.data import sentences

__all__ = ["NGramTrainConfig", "LEVELS", "train", "load_run", "evaluate_text", "format_score", "generate"]

LEVELS = ("word", "char")
MAX_SAMPLE_LENGTH = 1_000_000  # tokens one sample may ask for


@dataclass(frozen=True)
class NGramTrainConfig:
    """Everything ``rnnkit ngram train`` can be told; saved as run.json beside the model."""

    data: str | None = field(
        default=None,
        metadata={
            "help": "Plain UTF-8 text to count, one sentence per line.",
            "default_text": "the built-in corpus, this Python's standard-library sources",
            "metavar": "FILE",
        },
    )
    valid: str | None = field(
        default=None,
        metadata={
            "help": "UTF-8 text to report the perplexity on after training.",
            "default_text": "none",
            "metavar": "FILE",
        },
    )
    level: str = field(default="word", metadata={"help": "Tokens: words or characters.", "choices": LEVELS})
    order: int = field(default=5, metadata={"help": "N: each token is predicted from the N-1 tokens before it."})
    smoothing: str = field(
        default="kneser-ney",
        metadata={
            "help": "Smoothing (kneser-ney is interpolated modified Kneser-Ney; stupid-backoff gives scores, "
            "not probabilities, so no perplexity).",
            "choices": SMOOTHINGS,
        },
    )
    delta: float | None = field(
        default=None,
        metadata={
            "help": "Lidstone's added count, the one fixed discount D of absolute or kneser-ney, "
            "or stupid-backoff's alpha."
        },
    )
    min_count: int = field(default=1, metadata={"help": "Training tokens seen fewer times become <unk>."})
    builtin_chars: int = field(default=2_000_000, metadata={"help": "Characters of the built-in corpus to use."})

    def __post_init__(self):
        w = "NGramTrainConfig"
        check_choice(w, "level", self.level, LEVELS)
        check_positive_int(w, "builtin_chars", self.builtin_chars)
        # the model's own checks: order >= 1, a known smoothing, a delta that fits it, min_count >= 1
        NGramLM(self.order, self.smoothing, self.delta, min_count=self.min_count)


def train(
    cfg: NGramTrainConfig,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    log_fn: Any = print,
    command: str | None = None,
    preset: str | None = None,
) -> NGramLM:
    """Count the model ``cfg`` describes and write the run directory ``out_dir``; return the model.

    ``out_dir`` must not hold a run already unless ``overwrite``; bad input
    fails before anything is written. The run's result.json records the
    n-gram counts, the counting time, the score on ``cfg.valid`` (if given;
    the keys of :func:`evaluate_text`), ``command`` and ``preset``.
    """
    text = read_text(cfg.data) if cfg.data else builtin_corpus(cfg.builtin_chars)
    valid_text = read_text(cfg.valid, "valid") if cfg.valid else None
    sents = sentences(text, cfg.level)
    run = RunDir.create(out_dir, overwrite=overwrite)
    t0 = time.perf_counter()
    lm = NGramLM(cfg.order, cfg.smoothing, cfg.delta, min_count=cfg.min_count).fit(sents)
    seconds = time.perf_counter() - t0
    lm.save(run.path)
    run.record(MODEL_FILE)
    run.write_config(cfg)
    kinds = ", ".join(f"{n:,} {m + 1}-grams" for m, n in enumerate(lm.ngram_counts()))
    log_fn(
        f"{cfg.level}-level {cfg.order}-gram {cfg.smoothing}: vocabulary {len(lm.vocab):,}, "
        f"{sum(len(s) + 1 for s in sents):,} training tokens in {len(sents):,} lines; {kinds}; "
        f"counted in {seconds:.2f} s"
    )
    valid = None
    if valid_text is not None:
        if cfg.smoothing == "stupid-backoff":
            log_fn("no perplexity on --valid: stupid-backoff gives scores, not probabilities")
        else:
            valid = evaluate_text(lm, valid_text, cfg.level)
            log_fn(format_score(valid, cfg.level))
    run.write_json(
        RESULT_FILE,
        {
            "model": f"{cfg.order}-gram {cfg.smoothing}",
            "ngrams": [int(n) for n in lm.ngram_counts()],
            "parameters": int(sum(lm.ngram_counts())),
            "seconds": seconds,
            "valid": None if valid is None else {k: _finite(v) for k, v in valid.items()},
            "command": command,
            "preset": preset,
            "finished": True,
        },
    )
    return lm


def _finite(v: Any) -> Any:
    """A score for JSON: an infinite perplexity becomes None (JSON has no infinity)."""
    return None if isinstance(v, float) and not math.isfinite(v) else v


def export_arpa(run_dir: str | Path, out: str | Path) -> Path:
    """Write the model of the run directory ``run_dir`` to the ARPA file ``out``; returns the path."""
    lm, _ = load_run(run_dir)
    return lm.to_arpa(out)


def import_arpa(arpa_path: str | Path, out_dir: str | Path, level: str = "word", *, overwrite: bool = False) -> NGramLM:
    """Read an ARPA file into the run directory ``out_dir`` (run.json + the model); return the model.

    A malformed file raises ValueError "FILE:LINE: expected ..." before anything is written."""
    check_choice("rnnkit ngram import", "level", level, LEVELS)
    lm = NGramLM.from_arpa(arpa_path)
    run = RunDir.create(out_dir, overwrite=overwrite)
    lm.save(run.path)
    run.record(MODEL_FILE)
    run.write_config({"level": level, "order": lm.order, "smoothing": "arpa", "arpa": str(arpa_path)})
    return lm


def load_run(run_dir: str | Path) -> tuple[NGramLM, str]:
    """(model, level) of a run directory written by :func:`train`."""
    run = RunDir.open(run_dir, needs=(CONFIG_FILE, MODEL_FILE), what="'rnnkit ngram train'")
    raw = run.read_raw_config()
    try:
        level = raw["level"]
        check_choice(str(run.config_path), "level", level, LEVELS)
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"{run.config_path}: unreadable run file: {e}") from None
    run.read_checked(MODEL_FILE)  # the model file as the run wrote it (its manifest), before it is parsed
    return NGramLM.load(run.path), level


def evaluate_text(lm: NGramLM, text: str, level: str) -> dict:
    """Perplexity of ``text`` in SRILM's convention, and what it was computed over.

    Returns {"tokens", "oov", "sentences", "loss", "bits", "ppl"} (the keys of
    :func:`rnnkit.runs.lm.evaluate_text`): ``ppl`` is exp of the mean negative
    log-probability ``loss`` (nats) over every token and one ``</s>`` per line
    (``tokens`` in all), ``bits`` the same in bits per token, ``oov`` the tokens
    scored as ``<unk>``. The earlier names stay: "predictions" (= tokens),
    "lines" (= sentences), "unk" (= oov).
    """
    sents = sentences(text, level)
    total, m = lm.total_logprob(sents)
    loss = -total / m if math.isfinite(total) else math.inf
    ppl = math.exp(loss) if loss < 700 else math.inf
    unk = sum(1 for s in sents for w in s if w not in lm.vocab or w == lm.vocab.unk_token)
    return {
        "tokens": m,
        "oov": unk,
        "sentences": len(sents),
        "loss": loss,
        "bits": loss / math.log(2),
        "ppl": ppl,
        "predictions": m,
        "lines": len(sents),
        "unk": unk,
    }


def format_score(score: dict, level: str = "word") -> str:
    """One line for :func:`evaluate_text`'s result, as ``rnnkit ngram eval`` (and ``rnnkit lm eval``) prints it."""
    return format_text_score(score)


def generate(
    lm: NGramLM,
    level: str,
    prompt: str = "",
    *,
    length: int | None = None,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    beam: int = 0,
    seed: int | np.random.Generator = 0,
) -> str:
    """Continue ``prompt``: sentences drawn one after another up to ``length`` tokens, or with
    ``beam`` > 0 the best single sentence of a beam search."""
    length = (300 if level == "char" else 50) if length is None else length
    if isinstance(length, int) and length > MAX_SAMPLE_LENGTH:
        raise ValueError(f"rnnkit ngram sample: length must be <= {MAX_SAMPLE_LENGTH:,}, got {length}")
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
            if temperature == 0:  # the likeliest token at each step
                ids = greedy(lm, start + head, left, stop_ids=(v.eos_id,)).tolist()
            else:
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
