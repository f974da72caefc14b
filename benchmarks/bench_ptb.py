"""Word-level RNN language models on the Penn Treebank, rnnkit beside PyTorch.

The default is Zaremba et al. (2014)'s "small" LSTM: 2 layers of 200 units,
embeddings of 200, 20 unrolled steps, batch 20, 13 epochs, SGD with lr 1
halved after every epoch from the fifth on, global-norm clipping at 5,
uniform init in +/-0.1, no dropout, the state carried across batches, and
the objective of the paper (per-step losses summed over time, averaged over
the batch). ``--model rnn1`` is a single-layer tanh RNN LM with the same
recipe. The same configuration is written a second time in PyTorch below,
so both frameworks train the same model on the same machine with the same
number of threads.

Run (paths to the PTB files, never copied into the repository):

    python benchmarks/bench_ptb.py --train ../shared/data/ptb/ptb.train.txt \\
        --valid ../shared/data/ptb/ptb.valid.txt --framework rnnkit
    python benchmarks/bench_ptb.py ... --framework torch

``--max-batches N`` trains only N batches per epoch (a speed measurement).
Each run appends a dated entry to benchmarks/RESULTS.md (or ``--results``).
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import sys
import time
from pathlib import Path


def _threads_from_argv(default: int = 2) -> int:
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return int(sys.argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return default


# BLAS reads its thread count when numpy is first imported: set it before that.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(_threads_from_argv())

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

MODELS = {  # name: (cell, layers, hidden = embedding)
    "small": ("lstm", 2, 200),
    "rnn1": ("rnn", 1, 200),
}


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


def load_ptb(train_path, valid_path):
    from rnnkit.text.data import batchify, word_tokens
    from rnnkit.text.vocab import Vocabulary

    train_tokens = word_tokens(Path(train_path).read_text(encoding="utf-8"))
    valid_tokens = word_tokens(Path(valid_path).read_text(encoding="utf-8"))
    vocab = Vocabulary.from_tokens(train_tokens)
    return vocab, batchify(vocab.encode(train_tokens), 20), batchify(vocab.encode(valid_tokens), 20)


def run_rnnkit(args, vocab, train, valid, log):
    import rnnkit
    from rnnkit.batches import StreamBatches
    from rnnkit.lm.rnnlm import RNNLM, RNNLMConfig
    from rnnkit.trainer import Trainer, TrainerConfig

    cell, layers, hidden = MODELS[args.model]
    model = RNNLM(
        RNNLMConfig(
            vocab_size=len(vocab),
            cell=cell,
            embedding_size=hidden,
            hidden_size=hidden,
            num_layers=layers,
            init_range=0.1,
            objective="batch_mean",
            seed=args.seed,
        )
    )
    opt = rnnkit.SGD(model.params, model.grads, lr=args.lr)
    sched = rnnkit.StepDecay(opt, step_size=1, gamma=0.5, decay_start=args.decay_start)
    src, vsrc = StreamBatches(train, 20), StreamBatches(valid, 20)
    if args.max_batches:
        src = _Truncated(src, args.max_batches)
    trainer = Trainer(model, opt, TrainerConfig(epochs=1, clip_norm=5.0, log_every=10**9, progress=False))
    epochs = []
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        result = trainer.fit(src)
        seconds = time.perf_counter() - t0
        train_ppl = math.exp(sum(r["loss"] * 1 for r in result.history[-1:]) if result.history else float("nan"))
        valid_ppl = trainer.evaluate(vsrc)["ppl"] if not args.max_batches or epoch == args.epochs - 1 else float("nan")
        tokens = len(src) * 20 * 20
        epochs.append((epoch + 1, opt.lr, train_ppl, valid_ppl, seconds, tokens / seconds))
        log(
            f"epoch {epoch + 1:2d}  lr {opt.lr:.4f}  train ppl {train_ppl:8.2f}  valid ppl {valid_ppl:8.2f}  "
            f"{seconds:7.1f} s  {tokens / seconds:8.0f} tok/s"
        )
        sched.step()
    return epochs


class _Truncated:
    def __init__(self, src, n):
        self.src, self.n, self.stateful = src, n, src.stateful

    def __len__(self):
        return min(self.n, len(self.src))

    def batch(self, epoch, index):
        return self.src.batch(epoch, index)


def run_torch(args, vocab, train, valid, log):
    import torch

    torch.manual_seed(args.seed)
    cell, layers, hidden = MODELS[args.model]
    V = len(vocab)

    class LM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(V, hidden)
            self.rnn = (torch.nn.LSTM if cell == "lstm" else torch.nn.RNN)(hidden, hidden, layers)
            self.decoder = torch.nn.Linear(hidden, V)
            for p in self.parameters():
                torch.nn.init.uniform_(p, -0.1, 0.1)

        def forward(self, x, state):
            out, state = self.rnn(self.embedding(x), state)
            return self.decoder(out), state

    model = LM()
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    train_t, valid_t = torch.from_numpy(train), torch.from_numpy(valid)

    def detach(s):
        return None if s is None else (tuple(t.detach() for t in s) if isinstance(s, tuple) else s.detach())

    def evaluate():
        model.eval()
        total, count, state = 0.0, 0, None
        with torch.no_grad():
            for i in range(0, valid_t.shape[0] - 1, 20):
                x, y = valid_t[i : i + 20], valid_t[i + 1 : i + 21]
                x = x[: y.shape[0]]
                logits, state = model(x, state)
                total += torch.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1), reduction="sum").item()
                count += y.numel()
        model.train()
        return math.exp(total / count)

    epochs, lr = [], args.lr
    n_batches = -(-(train_t.shape[0] - 1) // 20)
    if args.max_batches:
        n_batches = min(n_batches, args.max_batches)
    for epoch in range(args.epochs):
        for g in opt.param_groups:
            g["lr"] = lr
        t0, total, count, state = time.perf_counter(), 0.0, 0, None
        for b in range(n_batches):
            i = b * 20
            x, y = train_t[i : i + 20], train_t[i + 1 : i + 21]
            x = x[: y.shape[0]]
            state = detach(state)
            logits, state = model(x, state)
            loss_sum = torch.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1), reduction="sum")
            opt.zero_grad()
            (loss_sum / x.shape[1]).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            total += loss_sum.item()
            count += y.numel()
        seconds = time.perf_counter() - t0
        valid_ppl = evaluate() if not args.max_batches or epoch == args.epochs - 1 else float("nan")
        epochs.append((epoch + 1, lr, math.exp(total / count), valid_ppl, seconds, count / seconds))
        log(
            f"epoch {epoch + 1:2d}  lr {lr:.4f}  train ppl {math.exp(total / count):8.2f}  valid ppl {valid_ppl:8.2f}  "
            f"{seconds:7.1f} s  {count / seconds:8.0f} tok/s"
        )
        if epoch + 1 >= args.decay_start:
            lr *= 0.5
    return epochs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train", required=True)
    p.add_argument("--valid", required=True)
    p.add_argument("--framework", choices=["rnnkit", "torch"], default="rnnkit")
    p.add_argument("--model", choices=sorted(MODELS), default="small")
    p.add_argument("--epochs", type=int, default=13)
    p.add_argument("--max-batches", type=int, default=0, help="batches per epoch (0: all)")
    p.add_argument("--lr", type=float, default=1.0, help="initial SGD learning rate (Zaremba et al.: 1)")
    p.add_argument("--decay-start", type=int, default=4, help="halve the lr after every epoch from this one on")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results", default=str(HERE / "RESULTS.md"))
    args = p.parse_args(argv)
    if args.framework == "torch":
        import torch

        torch.set_num_threads(args.threads)
    vocab, train, valid = load_ptb(args.train, args.valid)
    print(
        f"PTB: vocabulary {len(vocab)}, train {train.size:,} tokens as {train.shape}, valid {valid.size:,}", flush=True
    )
    start = time.perf_counter()
    runner = run_rnnkit if args.framework == "rnnkit" else run_torch
    epochs = runner(args, vocab, train, valid, lambda s: print(s, flush=True))
    total = time.perf_counter() - start
    rows = "\n".join(
        f"| {e} | {lr:.4f} | {tp:.2f} | {vp:.2f} | {s:.1f} | {tps:,.0f} |" for e, lr, tp, vp, s, tps in epochs
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    entry = (
        f"\n## PTB word LM, model {args.model}, {args.framework}"
        f"{f' ({args.max_batches} batches per epoch)' if args.max_batches else ''}\n\n"
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; machine: {machine()}; "
        f"threads: {args.threads}; load average at the end: {load:.2f}\n"
        f"- command: `python benchmarks/bench_ptb.py --train PTB/ptb.train.txt --valid PTB/ptb.valid.txt "
        f"--framework {args.framework} --model {args.model} --epochs {args.epochs} --lr {args.lr:g} "
        f"--decay-start {args.decay_start}"
        f"{f' --max-batches {args.max_batches}' if args.max_batches else ''} --threads {args.threads}`\n"
        f"- final valid perplexity: {epochs[-1][3]:.2f}; wall time {total:.0f} s; "
        f"mean {np.mean([e[5] for e in epochs]):,.0f} training tokens/s\n\n"
        "| epoch | lr | train ppl | valid ppl | seconds | tokens/s |\n|---|---|---|---|---|---|\n" + rows + "\n"
    )
    with open(args.results, "a", encoding="utf-8") as f:
        f.write(entry)
    print(entry)
    return 0


if __name__ == "__main__":
    sys.exit(main())
