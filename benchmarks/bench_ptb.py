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

The output layer: rnnkit runs its fused softmax path by default (``--output-path
reference`` runs the unfused one, the same numbers); ``--adaptive-cutoffs 2000,6000``
(with ``--div-value``) gives both frameworks an adaptive softmax (Grave et al. 2017;
``torch.nn.AdaptiveLogSoftmaxWithLoss`` on the PyTorch side), the same model again.

``--memory`` adds the peak memory of one training step of the same model, measured
in a fresh process per framework after one warm-up step (Linux): the peak resident
set (VmHWM, reset through /proc/self/clear_refs) above the resident set just before
the step, and what the process holds between steps beyond the model and the data
(the RSS before the measured step above the RSS before the warm-up: gradients, kept
buffers). For rnnkit also NumPy's own figure: the tracemalloc peak during the step
above the bytes traced before it (NumPy reports its arrays to tracemalloc; PyTorch
does not, so torch has only the resident figures). glibc is asked to return freed
blocks at once (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_), as in bench_layers.py.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import math
import os
import platform
import subprocess
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
if importlib.util.find_spec("rnnkit") is None:  # not installed: the checkout's source tree
    sys.path.insert(0, str(HERE.parent))
# the folder holding the rnnkit this process uses; the memory child imports the same one
PACKAGE_PARENT = str(Path(importlib.util.find_spec("rnnkit").origin).resolve().parent.parent)

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


def parse_cutoffs(text: str) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        return tuple(int(c) for c in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--adaptive-cutoffs must be comma-separated ints, got {text!r}") from None


def build_rnnkit(args, V: int):
    from rnnkit.lm.rnnlm import RNNLM, RNNLMConfig

    cell, layers, hidden = MODELS[args.model]
    model = RNNLM(
        RNNLMConfig(
            vocab_size=V,
            cell=cell,
            embedding_size=hidden,
            hidden_size=hidden,
            num_layers=layers,
            init_range=0.1,
            objective="batch_mean",
            adaptive_cutoffs=args.adaptive_cutoffs,
            div_value=args.div_value,
            seed=args.seed,
        )
    )
    model.output_path = args.output_path
    return model


def run_rnnkit(args, vocab, train, valid, log):
    import rnnkit
    from rnnkit.batches import StreamBatches
    from rnnkit.trainer import Trainer, TrainerConfig

    model = build_rnnkit(args, len(vocab))
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


def build_torch(args, V: int):
    """The same model in PyTorch: ``model(x, y, state) -> (loss summed over the targets, state)``."""
    import torch

    torch.manual_seed(args.seed)
    cell, layers, hidden = MODELS[args.model]

    class LM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(V, hidden)
            self.rnn = (torch.nn.LSTM if cell == "lstm" else torch.nn.RNN)(hidden, hidden, layers)
            if args.adaptive_cutoffs:
                self.decoder = torch.nn.AdaptiveLogSoftmaxWithLoss(
                    hidden, V, list(args.adaptive_cutoffs), div_value=args.div_value, head_bias=True
                )
            else:
                self.decoder = torch.nn.Linear(hidden, V)
            for p in self.parameters():
                torch.nn.init.uniform_(p, -0.1, 0.1)

        def forward(self, x, y, state):
            out, state = self.rnn(self.embedding(x), state)
            out = out.reshape(-1, hidden)
            if args.adaptive_cutoffs:
                return -self.decoder(out, y.reshape(-1)).output.sum(), state
            return torch.nn.functional.cross_entropy(self.decoder(out), y.reshape(-1), reduction="sum"), state

    return LM()


def run_torch(args, vocab, train, valid, log):
    import torch

    V = len(vocab)
    model = build_torch(args, V)
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
                loss_sum, state = model(x, y, state)
                total += loss_sum.item()
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
            loss_sum, state = model(x, y, state)
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


# -- memory: one training step of the same model, a fresh process per framework ----------------------


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def memory_child(args) -> dict:
    """Bytes of one training step (batch 2, after a warm-up on batch 1), measured in this process."""
    import tracemalloc

    vocab, train, _ = load_ptb(args.train, args.valid)
    traced = args.framework == "rnnkit"
    if traced:
        tracemalloc.start()  # before the model: every NumPy array is traced, frees included
    if args.framework == "rnnkit":
        import rnnkit
        from rnnkit.batches import StreamBatches
        from rnnkit.clip import clip_grad_norm

        model = build_rnnkit(args, len(vocab))
        opt = rnnkit.SGD(model.params, model.grads, lr=args.lr)
        src = StreamBatches(train, 20)

        def step(i, state):
            model.zero_grad()
            res = model.train_step(src.batch(0, i), state)
            clip_grad_norm(model.grads, 5.0)
            opt.step()
            return res.state

    else:
        import torch

        torch.set_num_threads(args.threads)
        model = build_torch(args, len(vocab))
        opt = torch.optim.SGD(model.parameters(), lr=args.lr)
        data = torch.from_numpy(train)

        def step(i, state):
            x, y = data[i * 20 : i * 20 + 20], data[i * 20 + 1 : i * 20 + 21]
            if state is not None:
                state = tuple(t.detach() for t in state) if isinstance(state, tuple) else state.detach()
            loss_sum, state = model(x[: y.shape[0]], y, state)
            opt.zero_grad()
            (loss_sum / x.shape[1]).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            return state

    rss_model = _rss_kib("VmRSS")
    state = step(0, None)  # warm-up: allocates what every later step reuses (torch's .grad, kept buffers)
    rss_before = _rss_kib("VmRSS")
    traced_before = tracemalloc.get_traced_memory()[0] if traced else 0
    if traced:
        tracemalloc.reset_peak()
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset the peak (VmHWM) to the current RSS
    step(1, state)
    return {
        "resident_step": (_rss_kib("VmHWM") - rss_before) * 1024,
        "resident_held": (rss_before - rss_model) * 1024,
        "traced_step": tracemalloc.get_traced_memory()[1] - traced_before if traced else None,
    }


def measure_memory(args, argv) -> dict | None:
    """Run :func:`memory_child` in a fresh process (same arguments); its figures, or None where it failed."""
    if not Path("/proc/self/clear_refs").exists():
        print("bench_ptb: --memory needs Linux's /proc/self/clear_refs; skipped", file=sys.stderr)
        return None
    threads = str(args.threads)
    env = dict(
        os.environ,
        MALLOC_MMAP_THRESHOLD_="65536",
        MALLOC_TRIM_THRESHOLD_="0",
        OPENBLAS_NUM_THREADS=threads,
        OMP_NUM_THREADS=threads,
        MKL_NUM_THREADS=threads,
        RNNKIT_NUM_THREADS=threads,
        PYTHONPATH=os.pathsep.join([PACKAGE_PARENT, os.environ.get("PYTHONPATH", "")]),
    )
    cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--memory-child"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        print(f"bench_ptb: the memory measurement failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _mib(n) -> str:
    return "-" if n is None else f"{n / 2**20:.2f} MiB"


def output_label(args) -> str:
    if args.adaptive_cutoffs:
        return f"adaptive softmax, cutoffs {','.join(map(str, args.adaptive_cutoffs))}, div_value {args.div_value:g}"
    return f"full softmax{f', {args.output_path} output path' if args.framework == 'rnnkit' else ''}"


def output_flags(args) -> str:
    flags = f" --output-path {args.output_path}" if args.output_path != "fused" else ""
    if args.adaptive_cutoffs:
        flags += f" --adaptive-cutoffs {','.join(map(str, args.adaptive_cutoffs))} --div-value {args.div_value:g}"
    return flags + (" --memory" if args.memory else "")


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
    p.add_argument(
        "--output-path", choices=["fused", "reference"], default="fused", help="rnnkit's softmax output path"
    )
    p.add_argument("--adaptive-cutoffs", type=parse_cutoffs, default=None, help="adaptive softmax, e.g. 2000,6000")
    p.add_argument("--div-value", type=float, default=4.0, help="adaptive softmax: tail i is hidden / div^(i+1) wide")
    p.add_argument("--memory", action="store_true", help="also measure the peak memory of one training step")
    p.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    raw_argv = list(sys.argv[1:] if argv is None else argv)
    args = p.parse_args(raw_argv)
    if args.memory_child:
        print(json.dumps(memory_child(args)))
        return 0
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
    memory = None
    if args.memory:
        memory = measure_memory(args, [a for a in raw_argv if a != "--memory"])
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
        f"{f' --max-batches {args.max_batches}' if args.max_batches else ''} --threads {args.threads}"
        f"{output_flags(args)}`\n"
        f"- output layer: {output_label(args)}\n"
        f"- final valid perplexity: {epochs[-1][3]:.2f}; wall time {total:.0f} s; "
        f"mean {np.mean([e[5] for e in epochs]):,.0f} training tokens/s\n"
        + (
            f"- memory of one training step (fresh process, after a warm-up step): peak resident above the "
            f"RSS before the step {_mib(memory['resident_step'])}; held between steps beyond model and data "
            f"{_mib(memory['resident_held'])}; NumPy's tracemalloc peak above the bytes traced before the step "
            f"{_mib(memory['traced_step'])}\n"
            if memory
            else ""
        )
        + "\n"
        "| epoch | lr | train ppl | valid ppl | seconds | tokens/s |\n|---|---|---|---|---|---|\n" + rows + "\n"
    )
    with open(args.results, "a", encoding="utf-8") as f:
        f.write(entry)
    print(entry)
    return 0


if __name__ == "__main__":
    sys.exit(main())
