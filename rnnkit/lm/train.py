"""Train, evaluate and sample recurrent language models on text: what ``rnnkit lm`` runs.

A *run directory* holds everything a trained model needs::

    OUT/
        run.json              the resolved LMTrainConfig of the run
        vocab.json            the vocabulary (rnnkit.lm.Vocabulary)
        checkpoints/          model, optimiser, trainer and RNG state (rnnkit.checkpoint)
        log.jsonl             one record per log interval and per evaluation
        learning_curve.png    train and validation loss against updates (with matplotlib)

Text is split into characters (``level="char"``; the newline is a token, so
samples keep their lines) or whitespace-separated words with one ``<eos>``
per line (``level="word"``, the Penn Treebank convention). Without a
validation file, the last ``valid_fraction`` of the lines is held out. The
model is :class:`rnnkit.lm.rnnlm.RNNLM`, trained by :class:`rnnkit.trainer.Trainer`
with truncated BPTT over ``batch_size`` parallel streams. Word models report
perplexity, character models bits per character.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from rnnkit._validate import check_choice, check_positive_int, check_probability
from rnnkit.batches import StreamBatches
from rnnkit.checkpoint import load_checkpoint
from rnnkit.decoding import beam_search, sample
from rnnkit.io import CheckpointError, atomic_write
from rnnkit.lm.corpus import builtin_corpus
from rnnkit.lm.data import batchify, char_tokens, word_tokens
from rnnkit.lm.mmap_corpus import is_prepared, load_meta, stream_from_prepared
from rnnkit.lm.rnnlm import CELLS, RNNLM, RNNLMConfig
from rnnkit.lm.vocab import Vocabulary
from rnnkit.optim import SGD, Adam
from rnnkit.schedules import StepDecay
from rnnkit.trainer import TrainerConfig

log = logging.getLogger(__name__)

RUN_FILE, VOCAB_FILE, CKPT_DIR = "run.json", "vocab.json", "checkpoints"


@dataclass(frozen=True)
class LMTrainConfig:
    """Everything ``rnnkit lm train`` can be told; saved as run.json. Defaults suit the built-in corpus."""

    data: str | None = None  # plain UTF-8 text; None: the built-in corpus (stdlib sources)
    valid: str | None = None  # validation text; None: hold out the last valid_fraction of the lines
    valid_fraction: float = 0.05
    level: str = "char"  # char | word
    builtin_chars: int = 2_000_000  # size of the built-in corpus
    min_count: int = 1  # rarer tokens become <unk>
    max_vocab: int | None = None
    cell: str = "lstm"  # rnn | gru | lstm | mgu
    embedding_size: int = 64
    hidden_size: int = 256
    layers: int = 2
    dropout: float = 0.1
    recurrent_dropout: float = 0.0
    variational: bool = False
    tie: bool = False
    init_range: float | None = None
    objective: str = "token_mean"  # token_mean | batch_mean (Zaremba et al.) | sum
    batch_size: int = 32
    bptt: int = 64
    optimizer: str = "adam"  # adam | sgd
    lr: float = 3e-3
    lr_decay: float = 1.0  # multiply lr by this every epoch after decay_start (Zaremba et al.)
    decay_start: int = 0
    clip: float = 1.0  # global gradient-norm clipping (0: none)
    epochs: int = 1
    minutes: float = 3.0  # wall-clock budget (0: none)
    seed: int = 0

    def __post_init__(self):
        w = "LMTrainConfig"
        check_choice(w, "level", self.level, ("char", "word"))
        check_choice(w, "cell", self.cell, tuple(CELLS))
        check_choice(w, "optimizer", self.optimizer, ("adam", "sgd"))
        for name in (
            "builtin_chars",
            "min_count",
            "embedding_size",
            "hidden_size",
            "layers",
            "batch_size",
            "bptt",
            "epochs",
        ):
            check_positive_int(w, name, getattr(self, name))
        check_positive_int(w, "seed", self.seed, minimum=0)
        check_positive_int(w, "decay_start", self.decay_start, minimum=0)
        if self.max_vocab is not None:
            check_positive_int(w, "max_vocab", self.max_vocab, minimum=3)
        for name in ("dropout", "recurrent_dropout", "valid_fraction"):
            check_probability(w, name, getattr(self, name))
        for name, low in (("lr", 0.0), ("clip", 0.0), ("minutes", 0.0)):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= low):
                raise ValueError(f"{w}: {name} must be a number >= {low}, got {v!r}")
        if not self.lr > 0:
            raise ValueError(f"{w}: lr must be > 0, got {self.lr}")
        if not (isinstance(self.lr_decay, (int, float)) and 0 < self.lr_decay <= 1):
            raise ValueError(f"{w}: lr_decay must be in (0, 1], got {self.lr_decay!r}")
        if self.tie and self.embedding_size != self.hidden_size:
            raise ValueError(
                f"{w}: tie needs embedding_size == hidden_size, got {self.embedding_size} and {self.hidden_size}"
            )


# -- text ----------------------------------------------------------------------------------------------
def read_text(path, what: str = "data") -> str:
    """Read a UTF-8 text file; clear errors for a missing, empty or non-UTF-8 file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"--{what}: no such file: {p}")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"--{what}: {p} is not UTF-8 text (byte {e.start} is {raw[e.start]:#04x})") from None
    if not text.strip():
        raise ValueError(f"--{what}: {p} is empty")
    return text


def tokenize(text: str, level: str) -> list[str]:
    return char_tokens(text, eos="\n") if level == "char" else word_tokens(text)


def make_vocab(tokens, cfg: LMTrainConfig) -> Vocabulary:
    eos = "\n" if cfg.level == "char" else "<eos>"
    return Vocabulary.from_tokens(tokens, min_count=cfg.min_count, max_size=cfg.max_vocab, eos_token=eos)


def split_text(cfg: LMTrainConfig) -> tuple[str, str]:
    """(train text, valid text) as the config asks."""
    text = read_text(cfg.data) if cfg.data else builtin_corpus(cfg.builtin_chars)
    if cfg.valid:
        return text, read_text(cfg.valid, "valid")
    lines = text.splitlines(keepends=True)
    n_valid = max(1, int(round(len(lines) * cfg.valid_fraction)))
    if len(lines) - n_valid < 1:
        raise ValueError(f"--data: needs at least 2 lines to hold out a validation part, got {len(lines)}")
    return "".join(lines[:-n_valid]), "".join(lines[-n_valid:])


def metric(mean_nll: float, level: str) -> tuple[str, float]:
    """("ppl", perplexity) for words, ("bpc", bits per character) for characters."""
    if level == "char":
        return "bpc", mean_nll / math.log(2)
    return "ppl", math.exp(mean_nll) if mean_nll < 700 else float("inf")


def stream_source(ids: np.ndarray, batch_size: int, bptt: int, what: str) -> StreamBatches:
    B = min(batch_size, max(1, len(ids) // (bptt + 1)))
    data = batchify(ids, B)
    if data.shape[0] < 2:
        raise ValueError(f"--{what}: the text is too short for batch size {batch_size}: {len(ids)} tokens")
    return StreamBatches(data, bptt)


# -- train ---------------------------------------------------------------------------------------------
def train(cfg: LMTrainConfig, out_dir, *, progress: bool = True, log_fn=print) -> dict:
    """Train a language model as ``cfg`` says, into the run directory ``out_dir``; return a summary dict.

    ``cfg.data`` may be a directory written by ``rnnkit lm prepare`` (the
    corpus is then streamed from its memory-mapped ids). Under an MPI launcher
    with several processes the run is data-parallel (:mod:`rnnkit.distributed`):
    each rank trains on its shard of every batch and only rank 0 writes files.
    """
    from rnnkit import distributed  # imports no MPI code on one process

    comm = distributed.init()
    with distributed.guard(comm):  # an error on one rank (a bad file, say) ends every rank, none waits
        return _train(cfg, out_dir, comm, progress=progress, log_fn=log_fn)


def _train(cfg: LMTrainConfig, out_dir, comm, *, progress: bool, log_fn) -> dict:
    from rnnkit import distributed

    is_main = comm is None or comm.rank == 0
    if not is_main:
        log_fn = lambda *a, **k: None  # noqa: E731  (one process reports)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.data and is_prepared(cfg.data):
        vocab, train_src, valid_src = _prepared_sources(cfg)
        train_tokens, valid_tokens = len(train_src.token_ids), len(valid_src.token_ids)
    else:
        train_text, valid_text = split_text(cfg)
        vocab = make_vocab(tokenize(train_text, cfg.level), cfg)
        train_ids = vocab.encode(tokenize(train_text, cfg.level))
        valid_ids = vocab.encode(tokenize(valid_text, cfg.level))
        train_src = stream_source(train_ids, cfg.batch_size, cfg.bptt, "data")
        valid_src = stream_source(valid_ids, cfg.batch_size, cfg.bptt, "valid")
        train_tokens, valid_tokens = len(train_ids), len(valid_ids)
    if is_main:
        atomic_write(out / RUN_FILE, [json.dumps(asdict(cfg), indent=2).encode()])
        atomic_write(out / VOCAB_FILE, [vocab.to_json().encode()])
    model = RNNLM(
        RNNLMConfig(
            vocab_size=len(vocab),
            cell=cfg.cell,
            embedding_size=cfg.embedding_size,
            hidden_size=cfg.hidden_size,
            num_layers=cfg.layers,
            dropout=cfg.dropout,
            recurrent_dropout=cfg.recurrent_dropout,
            variational=cfg.variational,
            tie_weights=cfg.tie,
            init_range=cfg.init_range,
            objective=cfg.objective,
            seed=cfg.seed,
        )
    )
    if cfg.optimizer == "adam":
        opt = Adam(model.params, model.grads, lr=cfg.lr)
    else:
        opt = SGD(model.params, model.grads, lr=cfg.lr)
    schedule = (
        StepDecay(opt, step_size=1, gamma=cfg.lr_decay, decay_start=cfg.decay_start) if cfg.lr_decay < 1 else None
    )
    log_fn(
        f"{cfg.level}-level {cfg.cell.upper()} LM: vocabulary {len(vocab)}, {train_tokens:,} training and "
        f"{valid_tokens:,} validation tokens, {model.num_parameters():,} parameters"
        + (f", {comm.size} processes" if comm is not None else "")
    )
    tcfg = TrainerConfig(
        epochs=cfg.epochs,
        max_minutes=cfg.minutes or None,
        clip_norm=cfg.clip or None,
        log_every=max(1, min(100, len(train_src) // 10)),
        eval_every=max(25, len(train_src) // 5),
        progress=progress,
    )
    trainer = distributed.make_trainer(
        model, opt, tcfg, comm=comm, schedule=schedule, out_dir=out, average=cfg.objective != "sum", seed=cfg.seed
    )
    train_src, valid_src = distributed.shard_source(trainer, train_src), distributed.shard_source(trainer, valid_src)
    result = trainer.fit(train_src, valid_src if len(valid_src) else None)
    final = trainer.evaluate(valid_src)
    name, value = metric(final["loss"], cfg.level)
    summary = {"steps": result.steps, "valid_loss": final["loss"], name: value, "vocab_size": len(vocab)}
    summary["rank"] = 0 if comm is None else comm.rank
    log_fn(f"validation {name}: {value:.3f} after {result.steps} updates")
    if not is_main:
        return summary
    history = result.history + [{"kind": "eval", "step": result.steps, "loss": final["loss"]}]
    plot = plot_learning_curve(history, out / "learning_curve.png", cfg.level)
    if plot:
        log_fn(f"learning curve: {plot}")
    return summary


def _prepared_sources(cfg: LMTrainConfig):
    """(vocabulary, train source, valid source) from a directory of ``rnnkit lm prepare``."""
    meta, vocab = load_meta(cfg.data)
    if meta["level"] != cfg.level:
        raise ValueError(
            f"--level: the corpus in {cfg.data} was prepared at level {meta['level']!r}, got {cfg.level!r}"
        )
    if "valid" not in meta["tokens"]:
        raise ValueError(f"--data: {cfg.data} has no validation split; prepare it with --valid FILE")
    train_src = stream_from_prepared(cfg.data, "train", cfg.batch_size, cfg.bptt)
    valid_src = stream_from_prepared(cfg.data, "valid", cfg.batch_size, cfg.bptt)
    return vocab, train_src, valid_src


def plot_learning_curve(history: list, path: Path, level: str) -> Path | None:
    """Write train/valid loss against updates as a PNG; None (and a log line) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed (pip install 'rnnkit[cli]'): no learning-curve plot")
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for kind, style in (("train", "-"), ("eval", "o-")):
        pts = [(r["step"], r["loss"]) for r in history if r["kind"] == kind]
        if pts:
            ax.plot(*zip(*pts), style, label="validation" if kind == "eval" else kind)
    ax.set_xlabel("updates")
    ax.set_ylabel("loss (nats per token)")
    ax.set_title(f"{level}-level language model")
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path


# -- load, evaluate, sample ----------------------------------------------------------------------------
def load_run(run_dir):
    """(model, vocab, cfg) of a run directory written by :func:`train`."""
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"--checkpoint: no such directory: {run}")
    for name in (RUN_FILE, VOCAB_FILE):
        if not (run / name).is_file():
            raise CheckpointError(f"{run}: not a run directory of 'rnnkit lm train' ({name} is missing)")
    try:
        raw = json.loads((run / RUN_FILE).read_text(encoding="utf-8"))
        known = {f.name for f in fields(LMTrainConfig)}
        cfg = LMTrainConfig(**{k: v for k, v in raw.items() if k in known})
        vocab = Vocabulary.from_json((run / VOCAB_FILE).read_text(encoding="utf-8"))
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{run}: unreadable run files: {e}") from None
    ckpt = load_checkpoint(run / CKPT_DIR)
    if ckpt.config.get("kind") != "rnnlm":
        raise CheckpointError(f"{ckpt.path}: holds a {ckpt.config.get('kind')!r} model, not an rnnlm")
    try:
        model = RNNLM.from_config(ckpt.config)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{ckpt.path}: config does not describe a model of this rnnkit version: {e}") from None
    if model.cfg.vocab_size != len(vocab):
        raise CheckpointError(f"{ckpt.path}: model has {model.cfg.vocab_size} tokens, {run / VOCAB_FILE} {len(vocab)}")
    ckpt.load_into(model)
    return model.eval(), vocab, cfg


def evaluate_text(model: RNNLM, vocab: Vocabulary, text: str, level: str, bptt: int = 64) -> dict:
    ids = vocab.encode(tokenize(text, level))
    src = stream_source(ids, 10, bptt, "data")
    from rnnkit.trainer import Trainer as _T  # evaluation needs no optimiser

    result = _T(model, None, TrainerConfig(progress=False)).evaluate(src)
    name, value = metric(result["loss"], level)
    return {"loss": result["loss"], name: value, "tokens": result["count"]}


def generate(
    model: RNNLM,
    vocab: Vocabulary,
    prompt: str,
    level: str,
    *,
    length: int = 300,
    temperature: float = 0.8,
    top_k=None,
    top_p=None,
    beam: int = 0,
    seed=0,
) -> str:
    """Continue ``prompt``: sampling (temperature, top-k, top-p) or, with beam > 0, beam search."""
    tokens = list(prompt) if level == "char" else prompt.split()
    prompt_ids = vocab.encode(tokens) if tokens else np.array([vocab.eos_id])
    step_model = model.as_step_model()
    if beam:
        out = beam_search(step_model, prompt_ids, length, beam_size=beam, no_repeat_ngram_size=0)
    else:
        out = sample(step_model, prompt_ids, length, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
    words = vocab.decode(out)
    if level == "char":
        return prompt + "".join(words)
    return " ".join([prompt] + words).replace(" <eos> ", "\n").replace("<eos>", "\n").strip()
