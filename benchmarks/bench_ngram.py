"""Time counting and evaluation of an n-gram LM on a word corpus; report the validation perplexity.

Reference point: Mikolov et al. (2011) report a test perplexity of 141.2 on the
Penn Treebank for a 5-gram modified Kneser-Ney model without count cut-offs;
the validation figure of the same model is about 148.

    python benchmarks/bench_ngram.py --train ../shared/data/ptb/ptb.train.txt \\
        --valid ../shared/data/ptb/ptb.valid.txt --order 5 --smoothing kneser-ney

Prints the figures and appends a dated entry (command, machine, figures) to
``--results`` (default: benchmarks/RESULTS.md beside this script).
"""

from __future__ import annotations

import argparse
import datetime
import math
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

from rnnkit.lm import SMOOTHINGS, NGramLM, word_sentences


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _uname() -> str:
    try:
        return subprocess.run(["uname", "-a"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return " ".join(platform.uname())


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", required=True, help="training text, one sentence per line")
    ap.add_argument("--valid", required=True, help="validation text, one sentence per line")
    ap.add_argument("--order", type=int, default=5)
    # stupid backoff gives scores, not probabilities: it has no perplexity to report
    ap.add_argument("--smoothing", default="kneser-ney", choices=[s for s in SMOOTHINGS if s != "stupid-backoff"])
    ap.add_argument("--delta", type=float, default=None, help="lidstone's delta or absolute's discount")
    ap.add_argument(
        "--no-collapse-start",
        action="store_true",
        help="keep the N-1 padded <s> as distinct context words (nltk's convention)",
    )
    ap.add_argument("--results", default=str(Path(__file__).resolve().parent / "RESULTS.md"))
    args = ap.parse_args(argv)

    train = word_sentences(Path(args.train).read_text(encoding="utf-8"))
    valid = word_sentences(Path(args.valid).read_text(encoding="utf-8"))

    t0 = time.perf_counter()
    lm = NGramLM(args.order, args.smoothing, args.delta, collapse_start=not args.no_collapse_start).fit(train)
    t_count = time.perf_counter() - t0
    t0 = time.perf_counter()
    total, n_tokens = lm.total_logprob(valid)
    ppl = math.exp(-total / n_tokens) if math.isfinite(total) else math.inf
    t_eval = time.perf_counter() - t0

    figures = {
        "train_sentences": len(train),
        "train_tokens": sum(len(s) + 1 for s in train),
        "vocab": len(lm.vocab),
        "valid_tokens": n_tokens,
        "count_s": t_count,
        "eval_s": t_eval,
        "valid_ppl": ppl,
    }
    command = "python benchmarks/bench_ngram.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    lines = [
        f"order {args.order} {args.smoothing}, collapse_start={lm.collapse_start}: "
        f"{figures['train_tokens']} training tokens ({figures['train_sentences']} sentences), "
        f"{figures['vocab'] - 1} predicted types (words, <unk>, </s>)",
        f"counting {t_count:.2f} s, evaluation {t_eval:.2f} s on {n_tokens} tokens, valid perplexity {ppl:.2f}",
    ]
    for line in lines:
        print(line)
    entry = "\n".join(
        [
            f"## {datetime.date.today().isoformat()} bench_ngram.py",
            "",
            f"- command: `{command}`",
            f"- machine: `{_uname()}`; CPU: {_cpu_model()}; Python {platform.python_version()}",
            *[f"- {line}" for line in lines],
            "",
        ]
    )
    results = Path(args.results)
    prefix = "" if results.exists() and results.stat().st_size else "# Benchmark results\n\n"
    with results.open("a", encoding="utf-8") as f:
        f.write(prefix + entry + "\n")
    return figures


if __name__ == "__main__":
    main()
