"""Bengio et al.'s window-based neural LM on the Penn Treebank: validation perplexity, speed, wall time.

The defaults follow the feed-forward setups of Bengio et al. (2003) and
Mikolov et al. (2011): n = 5 (four words of context), embeddings of 100,
a tanh hidden layer of 200 and direct connections from the embeddings to the
output, trained on every position of the training stream (the start padded
with ``<eos>``), the gradient being that of the mean loss per token. The
optimiser is Adam, lr 2e-3, minibatches of 256: in a quick test on this
machine (150 s each, one BLAS thread) it reached a lower validation perplexity
than Adam at 1e-3 and plain SGD at lr 1.0 (batch 256) or 0.3 (batch 128), SGD
being a third faster per token but no better per second. The learning rate
halves at every evaluation that does not improve on the best validation
perplexity. Perplexity is exp of the mean negative log-likelihood over every
word and one ``<eos>`` per line, the usual PTB convention (bench_ngram.py's
SRILM figure counts the same 73,760 validation predictions).

Reference point: Mikolov et al. (2011, "Empirical evaluation and combination of
advanced language modeling techniques") report a TEST perplexity of 140.2 for
a feed-forward NNLM on this corpus, after training to convergence. A run
bounded by ``--minutes`` (default 16 of training, under 20 minutes with the
evaluations on a loaded 2-core machine) sees about 1.3 epochs and stays above
that figure: its best validation perplexity comes at the end of epoch 1, and in
the second epoch the model starts to memorise the training windows (train
perplexity near 90 while the validation perplexity rises), so longer runs want
``--dropout`` and early stopping.

    python benchmarks/bench_nnlm.py --train ../shared/data/ptb/ptb.train.txt \\
        --valid ../shared/data/ptb/ptb.valid.txt

Prints the validation perplexity after every epoch (and every
``--evals-per-epoch`` fraction of one, and where the time budget stops the
run), training tokens per second and the wall time, and appends a dated entry
to ``--results`` (default: benchmarks/RESULTS.md beside this script).
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.release()} {platform.machine()}, {cpu}, {os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", required=True, help="training text, one sentence per line")
    p.add_argument("--valid", required=True, help="validation text, one sentence per line")
    p.add_argument("--order", type=int, default=5, help="n: predict from the n-1 previous words")
    p.add_argument("--embedding-size", type=int, default=100)
    p.add_argument("--hidden-size", type=int, default=200)
    p.add_argument("--no-direct", action="store_true", help="without the W3 x direct connections")
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--embedding-std", type=float, default=0.1, help="embeddings ~ N(0, std^2) at the start")
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    p.add_argument("--lr", type=float, default=None, help="default 2e-3 for adam, 1.0 for sgd")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--minutes", type=float, default=16.0, help="training time budget (0: none)")
    p.add_argument("--evals-per-epoch", type=int, default=2, help="validation evaluations per epoch")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS threads, set before NumPy loads (on a loaded 2-core machine 1 thread ran 2.5-4x faster than 2)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results", default=str(HERE / "RESULTS.md"))
    args = p.parse_args(argv)
    if "numpy" not in sys.modules:  # OpenBLAS reads its thread count when it is first loaded
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "BLAS default")

    from rnnkit.batches import ArrayBatches
    from rnnkit.lm.nnlm import NNLM, NNLMConfig, ngram_windows
    from rnnkit.optim import SGD, Adam
    from rnnkit.text.data import word_tokens
    from rnnkit.text.vocab import Vocabulary
    from rnnkit.trainer import Trainer, TrainerConfig

    start = time.perf_counter()
    train_tokens = word_tokens(Path(args.train).read_text(encoding="utf-8"))
    valid_tokens = word_tokens(Path(args.valid).read_text(encoding="utf-8"))
    vocab = Vocabulary.from_tokens(train_tokens)
    n = args.order
    train_x, train_y = ngram_windows(vocab.encode(train_tokens), n, vocab.eos_id)
    valid_x, valid_y = ngram_windows(vocab.encode(valid_tokens), n, vocab.eos_id)
    cfg = NNLMConfig(
        vocab_size=len(vocab),
        context=n - 1,
        embedding_size=args.embedding_size,
        hidden_size=args.hidden_size,
        direct=not args.no_direct,
        dropout=args.dropout,
        embedding_std=args.embedding_std,
        bos_id=vocab.eos_id,
        seed=args.seed,
    )
    model = NNLM(cfg)
    lr = args.lr if args.lr is not None else (2e-3 if args.optimizer == "adam" else 1.0)
    opt = (Adam if args.optimizer == "adam" else SGD)(model.params, model.grads, lr=lr)
    train_src = ArrayBatches(train_x, train_y, batch_size=args.batch_size, seed=args.seed)
    valid_src = ArrayBatches(valid_x, valid_y, batch_size=4096, shuffle=False)
    steps_per_epoch = len(train_src)
    print(
        f"PTB: vocabulary {len(vocab)}, {len(train_y):,} training and {len(valid_y):,} validation predictions; "
        f"NNLM n={n} E={cfg.embedding_size} H={cfg.hidden_size} direct={cfg.direct}, "
        f"{model.num_parameters():,} parameters; {args.optimizer} lr {lr}, batch {args.batch_size}, "
        f"{steps_per_epoch} steps per epoch",
        flush=True,
    )

    evaluator = Trainer(model, None, TrainerConfig(progress=False))  # evaluation only: eval mode, no_grad
    eval_at = sorted(
        {
            max(1, round(k * steps_per_epoch / max(1, args.evals_per_epoch)))
            for k in range(1, max(1, args.evals_per_epoch) + 1)
        }
    )
    deadline = time.perf_counter() + 60 * args.minutes if args.minutes else math.inf
    rows, step, tokens, train_seconds, eval_seconds, stop = [], 0, 0, 0.0, 0.0, False
    for epoch in range(args.epochs):
        loss_sum, count, t_start = 0.0, 0, time.perf_counter()
        for index in range(steps_per_epoch):
            model.zero_grad()
            res = model.train_step(train_src.batch(epoch, index), None)
            opt.step()
            step, tokens = step + 1, tokens + res.count
            loss_sum, count = loss_sum + res.loss_sum, count + res.count
            stop = time.perf_counter() > deadline
            if index + 1 in eval_at or stop:
                train_seconds += time.perf_counter() - t_start
                t_eval = time.perf_counter()
                valid_ppl = evaluator.evaluate(valid_src)["ppl"]
                eval_seconds += time.perf_counter() - t_eval
                if rows and valid_ppl > min(r[3] for r in rows):
                    opt.lr *= 0.5  # halve the step when validation stops improving
                rows.append((epoch + (index + 1) / steps_per_epoch, step, math.exp(loss_sum / count), valid_ppl))
                print(
                    f"epoch {rows[-1][0]:5.2f}  step {step:6d}  train ppl {rows[-1][2]:8.2f}  "
                    f"valid ppl {valid_ppl:8.2f}  {tokens / train_seconds:7,.0f} tok/s",
                    flush=True,
                )
                loss_sum, count, t_start = 0.0, 0, time.perf_counter()
            if stop:
                break
        if stop:
            break
    tokens_per_s = tokens / max(train_seconds, 1e-9)
    wall = time.perf_counter() - start
    best = min(r[3] for r in rows)
    summary = (
        f"final valid perplexity {rows[-1][3]:.2f} (best {best:.2f}) after {rows[-1][0]:.2f} epochs "
        f"({step} updates); {tokens_per_s:,.0f} training tokens/s; training {train_seconds:.0f} s, "
        f"evaluation {eval_seconds:.0f} s, wall time {wall:.0f} s"
    )
    print(summary, flush=True)

    command = "python benchmarks/bench_nnlm.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    table = "\n".join(f"| {e:.2f} | {s} | {tp:.2f} | {vp:.2f} |" for e, s, tp, vp in rows)
    entry = (
        f"\n## {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC bench_nnlm.py\n\n"
        f"- command: `{command}`\n"
        f"- machine: {machine()}; Python {platform.python_version()}; BLAS threads: {threads}; "
        f"load average at the end: {load:.2f}\n"
        f"- model: NNLM n={n}, E={cfg.embedding_size}, H={cfg.hidden_size}, direct={cfg.direct}, "
        f"dropout={cfg.dropout}, embedding_std={cfg.embedding_std}, {model.num_parameters():,} parameters, "
        f"float32; {args.optimizer} lr {lr}, "
        f"batch {args.batch_size}, lr halved at evaluations without improvement (final lr {opt.lr:g}), "
        f"budget {args.minutes} min\n"
        f"- {summary}\n\n"
        "| epoch | updates | train ppl (since last row) | valid ppl |\n|---|---|---|---|\n" + table + "\n"
    )
    results = Path(args.results)
    prefix = "" if results.exists() and results.stat().st_size else "# Benchmark results\n"
    with results.open("a", encoding="utf-8") as f:  # opened only now, to append: other runs write here too
        f.write(prefix + entry)
    return {
        "valid_ppl": rows[-1][3],
        "best_valid_ppl": best,
        "epochs": rows[-1][0],
        "tokens_per_s": tokens_per_s,
        "wall_s": wall,
        "rows": rows,
    }


if __name__ == "__main__":
    main()
