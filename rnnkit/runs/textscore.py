"""The one line that ``rnnkit lm eval`` and ``rnnkit ngram eval`` print for a scored text, the same for both.

Both commands predict every token of the text once: each line's words (or
characters) and one end-of-line token per line, the SRILM convention, so two
models scored on the same file report the same ``tokens``. The fields::

    tokens         tokens predicted (words + one end of line per line)
    oov            of them, out of the training vocabulary (scored as <unk>)
    sentences      lines of the text
    cross-entropy  H = -(1/N) sum_t log2 P(w_t | history), bits per token
    perplexity     2^H = exp of the mean negative log-likelihood in nats

>>> print(format_text_score({"tokens": 21, "oov": 1, "sentences": 3, "bits": 2.0, "ppl": 4.0}))
tokens 21  oov 1  sentences 3  cross-entropy 2.0000 bits/token  perplexity 4.0000
>>> parse_text_score("tokens 21  oov 1  sentences 3  cross-entropy 2.0000 bits/token  perplexity 4.0000")["ppl"]
4.0
"""

from __future__ import annotations

import math

__all__ = ["format_text_score", "parse_text_score", "FIELDS"]

FIELDS = ("tokens", "oov", "sentences", "cross-entropy", "perplexity")


def format_text_score(score: dict) -> str:
    """One line for a score dict with the keys tokens, oov, sentences, bits and ppl."""
    note = "" if math.isfinite(score["ppl"]) else " (a token has probability 0 under this model)"
    return (
        f"tokens {score['tokens']}  oov {score['oov']}  sentences {score['sentences']}  "
        f"cross-entropy {score['bits']:.4f} bits/token  perplexity {score['ppl']:.4f}{note}"
    )


def parse_text_score(line: str) -> dict:
    """The numbers of a line written by :func:`format_text_score`: {"tokens", "oov", "sentences", "bits", "ppl"}."""
    words = line.split()
    value = {w: words[i + 1] for i, w in enumerate(words[:-1]) if w in FIELDS}
    return {
        "tokens": int(value["tokens"]),
        "oov": int(value["oov"]),
        "sentences": int(value["sentences"]),
        "bits": float(value["cross-entropy"]),
        "ppl": float(value["perplexity"]),
    }
