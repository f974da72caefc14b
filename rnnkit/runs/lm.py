"""Train, evaluate and sample recurrent language models on text: what ``rnnkit lm`` runs.

A run directory (:class:`rnnkit.runs.RunDir`) holds everything a trained model needs::

    RUN/
        run.json              the resolved LMTrainConfig of the run
        vocab.json            the vocabulary (rnnkit.text.Vocabulary)
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

A corpus larger than memory is tokenised once by ``rnnkit lm prepare``
(:mod:`rnnkit.runs.prepare`) and named by ``--data``: its windows are then
read from memory-mapped token ids. Under an MPI launcher (``mpirun -n 4
rnnkit lm train ...``) the run is data-parallel (:mod:`rnnkit.distributed`).

The fields of :class:`LMTrainConfig` are the flags of ``rnnkit lm train``
(``num_layers`` is ``--num-layers``); their help is the field's metadata.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from rnnkit import distributed
from rnnkit._validate import check_choice, check_positive_int, check_probability
from rnnkit.batches import ArrayBatches, StreamBatches
from rnnkit.checkpoint import load_checkpoint
from rnnkit.decoding import beam_search, greedy, sample
from rnnkit.io import CheckpointError
from rnnkit.lm.nnlm import NNLM, NNLMConfig, ngram_windows
from rnnkit.lm.rnnlm import CELLS, OBJECTIVES, RNNLM, RNNLMConfig
from rnnkit.runs.control import RunControl, check_memory, open_run
from rnnkit.runs.directory import CONFIG_FILE, RESULT_FILE, VOCAB_FILE, RunDir
from rnnkit.runs.fit import OPTIMIZERS, fit_run, make_optimizer
from rnnkit.schedules import ReduceLROnPlateau, StepDecay
from rnnkit.text.corpus import builtin_corpus, read_text
from rnnkit.text.data import LEVELS, batchify, sentences, tokenize
from rnnkit.text.mmap_corpus import is_prepared, load_meta, stream_from_prepared
from rnnkit.text.vocab import Vocabulary
from rnnkit.trainer import Trainer, TrainerConfig

__all__ = [
    "LMTrainConfig",
    "RENAMED_FIELDS",
    "train",
    "build_model",
    "LMData",
    "load_sources",
    "load_run",
    "evaluate_text",
    "generate",
    "metric",
    "split_text",
    "make_vocab",
    "stream_source",
    "read_text",
    "tokenize",
]

log = logging.getLogger(__name__)

ARCHITECTURES = ("rnnlm", "nnlm")  # a recurrent LM (rnnkit.lm.rnnlm) or the window NNLM (rnnkit.lm.nnlm)
MAX_LAYERS = 64  # deeper stacks are refused: each layer is a sequential loop over time
MAX_INIT_RANGE = 10.0  # weights beyond +-10 saturate every gate; larger ranges overflow the float32 products

# Fields renamed so that each flag is spelled like the field it sets; run.json files with the old names still load.
RENAMED_FIELDS = {"layers": "num_layers", "tie": "tie_weights", "clip": "clip_norm", "minutes": "max_minutes"}


def _f(default: Any, help: str, choices: Any = None, default_text: str | None = None, metavar: str = "") -> Any:
    """A config field with its flag's help sentence (and choices, shown default, metavar) as metadata."""
    meta: dict = {"help": help}
    if metavar:
        meta["metavar"] = metavar
    if choices is not None:
        meta["choices"] = choices
    if default_text is not None:
        meta["default_text"] = default_text
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class LMTrainConfig:
    """Everything ``rnnkit lm train`` can be told; saved as run.json. Defaults suit the built-in corpus."""

    data: str | None = _f(
        None,
        "Plain UTF-8 text to train on, or a corpus directory of 'rnnkit lm prepare'.",
        default_text="the built-in corpus, this Python's standard-library sources",
        metavar="PATH",
    )
    valid: str | None = _f(
        None, "Validation text.", default_text="the last --valid-fraction of the training lines", metavar="FILE"
    )
    valid_fraction: float = _f(0.05, "Fraction of the lines held out for validation when --valid is not given.")
    level: str = _f("char", "Tokens: characters or whitespace-separated words.", LEVELS)
    builtin_chars: int = _f(2_000_000, "Characters of the built-in corpus to use.")
    min_count: int = _f(1, "Tokens seen fewer times become <unk>.")
    max_vocab: int | None = _f(None, "Largest vocabulary, special tokens included (none: no limit).")
    architecture: str = _f(
        "rnnlm",
        "Model: a recurrent LM, or Bengio et al.'s window NNLM (y = b + W x + U tanh(d + H x)).",
        ARCHITECTURES,
    )
    cell: str = _f("lstm", "Recurrent cell (--architecture rnnlm).", tuple(CELLS))
    context: int = _f(4, "Words of context n-1 of the window NNLM (--architecture nnlm).")
    direct: bool = _f(True, "Direct connections W x from the embeddings to the output (--architecture nnlm).")
    embedding_size: int = _f(64, "Size E of the token embeddings.")
    hidden_size: int = _f(256, "Hidden units H per recurrent layer.")
    num_layers: int = _f(2, "Stacked recurrent layers (at most 64).")
    dropout: float = _f(0.1, "Dropout probability on the embeddings and between layers.")
    recurrent_dropout: float = _f(0.0, "Dropout probability on the recurrent state.")
    variational: bool = _f(False, "One dropout mask per sequence (Gal and Ghahramani 2016).")
    tie_weights: bool = _f(False, "Tie the input and output embeddings (needs --embedding-size == --hidden-size).")
    init_range: float | None = _f(
        None, "Draw every weight uniformly from [-X, X], 0 < X <= 10 (none: each layer's own initialisation)."
    )
    objective: str = _f("token_mean", "Loss: mean per token, per sequence (Zaremba et al. 2014) or summed.", OBJECTIVES)
    batch_size: int = _f(32, "Parallel token streams per update.")
    bptt: int = _f(64, "Steps of truncated backpropagation through time.")
    optimizer: str = _f("adam", "Optimiser.", OPTIMIZERS)
    lr: float = _f(3e-3, "Learning rate.")
    lr_decay: float = _f(1.0, "Multiply the learning rate by this every epoch after --decay-start (Zaremba et al.).")
    decay_start: int = _f(0, "Epochs before the learning rate starts to decay.")
    plateau_factor: float = _f(
        1.0, "Multiply the learning rate by this at each validation evaluation that does not improve (1: off)."
    )
    patience: int | None = _f(
        None, "Stop after this many validation evaluations without improvement (none: train every epoch)."
    )
    evals_per_epoch: int = _f(
        5, "Validation evaluations per epoch (at most one every 25 updates, or one per shorter epoch)."
    )
    adaptive_cutoffs: str | None = _f(
        None,
        "Adaptive softmax (Grave et al. 2017): word ids cut at these comma-separated sizes, e.g. 2000,10000 "
        "(none: the full softmax).",
        metavar="N,N",
    )
    clip_norm: float = _f(1.0, "Clip the global gradient norm to this (0: no clipping).")
    epochs: int = _f(1, "Passes over the training text.")
    max_minutes: float = _f(3.0, "Wall-clock budget in minutes (0: none).")
    seed: int = _f(0, "Seed of the weights, dropout and batching.")

    def __post_init__(self):
        w = "LMTrainConfig"
        check_choice(w, "level", self.level, ("char", "word"))
        check_choice(w, "architecture", self.architecture, ARCHITECTURES)
        check_choice(w, "cell", self.cell, tuple(CELLS))
        check_choice(w, "optimizer", self.optimizer, ("adam", "sgd"))
        for name in (
            "builtin_chars",
            "min_count",
            "embedding_size",
            "hidden_size",
            "num_layers",
            "batch_size",
            "bptt",
            "epochs",
            "context",
            "evals_per_epoch",
        ):
            check_positive_int(w, name, getattr(self, name))
        check_positive_int(w, "seed", self.seed, minimum=0)
        if self.seed >= 2**63:
            raise ValueError(f"{w}: seed must be < 2**63, got {self.seed}")
        if self.num_layers > MAX_LAYERS:
            raise ValueError(f"{w}: num_layers must be <= {MAX_LAYERS}, got {self.num_layers}")
        if self.init_range is not None and not (
            isinstance(self.init_range, (int, float))
            and not isinstance(self.init_range, bool)
            and 0 < self.init_range <= MAX_INIT_RANGE
        ):
            raise ValueError(
                f"{w}: init_range must be a number in (0, {MAX_INIT_RANGE:g}] (or none), got {self.init_range!r}"
            )
        check_positive_int(w, "decay_start", self.decay_start, minimum=0)
        if self.max_vocab is not None:
            check_positive_int(w, "max_vocab", self.max_vocab, minimum=3)
        for name in ("dropout", "recurrent_dropout", "valid_fraction"):
            check_probability(w, name, getattr(self, name))
        for name, low in (("lr", 0.0), ("clip_norm", 0.0), ("max_minutes", 0.0)):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= low):
                raise ValueError(f"{w}: {name} must be a number >= {low}, got {v!r}")
        if not self.lr > 0:
            raise ValueError(f"{w}: lr must be > 0, got {self.lr}")
        if not (isinstance(self.lr_decay, (int, float)) and 0 < self.lr_decay <= 1):
            raise ValueError(f"{w}: lr_decay must be in (0, 1], got {self.lr_decay!r}")
        if not (isinstance(self.plateau_factor, (int, float)) and 0 < self.plateau_factor <= 1):
            raise ValueError(f"{w}: plateau_factor must be in (0, 1], got {self.plateau_factor!r}")
        if self.plateau_factor < 1 and self.lr_decay < 1:
            raise ValueError(
                f"{w}: plateau_factor {self.plateau_factor} and lr_decay {self.lr_decay} are two schedules; "
                "set one of them to 1"
            )
        if self.patience is not None:
            check_positive_int(w, "patience", self.patience)
        cutoffs(self.adaptive_cutoffs)  # the syntax here; the sizes against the vocabulary when the model is built
        if self.architecture == "nnlm" and (self.adaptive_cutoffs or self.tie_weights):
            raise ValueError(
                f"{w}: architecture 'nnlm' has a full softmax and no tied weights; use architecture 'rnnlm'"
            )
        check_choice(w, "objective", self.objective, OBJECTIVES)
        if self.tie_weights and self.embedding_size != self.hidden_size:
            raise ValueError(
                f"{w}: tie_weights needs embedding_size == hidden_size, "
                f"got {self.embedding_size} and {self.hidden_size}"
            )


def cutoffs(text: str | None) -> tuple[int, ...] | None:
    """The adaptive softmax's cutoffs from ``"2000,10000"``: increasing ints >= 1; None for None.

    >>> cutoffs("2000,10000")
    (2000, 10000)
    """
    if text is None:
        return None
    try:
        values = tuple(int(part) for part in str(text).split(","))
    except ValueError:
        values = ()
    if not values or any(v < 1 for v in values) or any(a >= b for a, b in zip(values, values[1:])):
        raise ValueError(
            f"LMTrainConfig: adaptive_cutoffs must be increasing comma-separated integers >= 1 "
            f"such as 2000,10000, got {text!r}"
        )
    return values


# -- text ----------------------------------------------------------------------------------------------
def make_vocab(tokens: list[str], cfg: LMTrainConfig) -> Vocabulary:
    """The vocabulary of the training tokens, as ``cfg`` bounds it (the end token fits the level)."""
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
    """``ids`` as parallel streams cut into BPTT windows; fewer streams when the text is short."""
    B = min(batch_size, max(1, len(ids) // (bptt + 1)))
    data = batchify(ids, B)
    if data.shape[0] < 2:
        raise ValueError(f"--{what}: the text is too short for batch size {batch_size}: {len(ids)} tokens")
    return StreamBatches(data, bptt)


# -- train ---------------------------------------------------------------------------------------------
GATES = {"rnn": 1, "gru": 3, "lstm": 4, "mgu": 2}  # gate blocks G per cell: weights are (G*H, D)


def build_model(cfg: LMTrainConfig, vocab_size: int, bos_id: int = 0) -> RNNLM | NNLM:
    """The fresh model that ``cfg`` describes, for a vocabulary of ``vocab_size`` tokens.

    ``bos_id`` fills the window NNLM's context before the first word (the end-of-line id: the start of a text
    looks like the start of any line). A cutoff of ``cfg.adaptive_cutoffs`` that does not fit the vocabulary
    is a ValueError naming ``--adaptive-cutoffs``.
    """
    if cfg.architecture == "nnlm":
        return NNLM(
            NNLMConfig(
                vocab_size=vocab_size,
                context=cfg.context,
                embedding_size=cfg.embedding_size,
                hidden_size=cfg.hidden_size,
                direct=cfg.direct,
                dropout=cfg.dropout,
                bos_id=bos_id,
                seed=cfg.seed,
            )
        )
    try:
        config = RNNLMConfig(
            vocab_size=vocab_size,
            cell=cfg.cell,
            embedding_size=cfg.embedding_size,
            hidden_size=cfg.hidden_size,
            num_layers=cfg.num_layers,
            dropout=cfg.dropout,
            recurrent_dropout=cfg.recurrent_dropout,
            variational=cfg.variational,
            tie_weights=cfg.tie_weights,
            init_range=cfg.init_range,
            objective=cfg.objective,
            adaptive_cutoffs=cutoffs(cfg.adaptive_cutoffs),
            seed=cfg.seed,
        )
    except ValueError as e:
        if cfg.adaptive_cutoffs is None or "adaptive" not in str(e) and "div_value" not in str(e):
            raise
        detail = (
            str(e).split(": ", 1)[-1].replace("hidden_size", "--hidden-size").replace("adaptive_cutoffs", "cutoffs")
        )
        raise ValueError(
            f"--adaptive-cutoffs {cfg.adaptive_cutoffs}: {detail} (vocabulary of {vocab_size} tokens)"
        ) from None
    return RNNLM(config)


def memory_estimate(cfg: LMTrainConfig, vocab_size: int, steps: int | None = None) -> float:
    """Bytes that training the model of ``cfg`` needs, roughly: float32 weights, gradients and Adam's two
    moments, plus the activations kept for one BPTT window of ``steps`` (default ``cfg.bptt``) tokens."""
    G, E, H, L, V = GATES.get(cfg.cell, 4), cfg.embedding_size, cfg.hidden_size, cfg.num_layers, vocab_size
    if cfg.architecture == "nnlm":  # C, W1, b1, W2, b3 (and W3); activations of one minibatch, the logits dominating
        X = cfg.context * E
        params = V * E + H * (X + 1) + V * (H + 1) + (V * X if cfg.direct else 0)
        return 4.0 * (4 * params + 3 * cfg.batch_size * (X + H + V))
    params = V * E + G * H * (E + H + 2) + (L - 1) * G * H * (2 * H + 2) + (V if cfg.tie_weights else H * V + V)
    T, B = min(steps or cfg.bptt, cfg.bptt), cfg.batch_size
    activations = 3 * T * B * (E + L * (G + 2) * H + V)
    return 4.0 * (4 * params + activations)


def check_fits(cfg: LMTrainConfig, vocab_size: int, steps: int | None = None) -> None:
    """ValueError naming the size flags when the model of ``cfg`` cannot be trained in the memory available."""
    check_memory(
        memory_estimate(cfg, vocab_size, steps),
        f"a {cfg.num_layers}-layer {cfg.cell.upper()} of {cfg.hidden_size} units over {vocab_size} tokens",
        "--hidden-size, --embedding-size, --num-layers, --batch-size, --bptt",
    )


class LMData(NamedTuple):
    """The vocabulary and batch sources of a run (:func:`load_sources`)."""

    vocab: Vocabulary
    train: StreamBatches
    valid: StreamBatches
    tokens: tuple[int, int]  # (training, validation) tokens, before they are cut into streams


def load_sources(cfg: LMTrainConfig, vocab: Vocabulary | None = None) -> LMData:
    """The vocabulary and sources of ``cfg.data``: a text file, a corpus prepared by ``rnnkit lm prepare``, or none.

    A directory written by ``rnnkit lm prepare`` (:mod:`rnnkit.runs.prepare`)
    gives the same vocabulary and windows as its text, streamed from the
    memory-mapped ids (its own validation split; ``cfg.valid`` is not read).
    ``vocab`` (a resumed run's, or the one of ``--init-from``) encodes the text
    instead of a vocabulary built from it; a prepared corpus must have been
    prepared with it.
    """
    if cfg.data and is_prepared(cfg.data):
        if cfg.architecture == "nnlm":
            raise ValueError(
                "--data: --architecture nnlm reads a text file, not a corpus prepared by 'rnnkit lm prepare'"
            )
        data = _prepared_sources(cfg)
        if vocab is not None and data.vocab != vocab:
            raise ValueError(f"--data: the corpus in {cfg.data} was prepared with another vocabulary than the run's")
        return data
    train_text, valid_text = split_text(cfg)
    if vocab is None:
        vocab = make_vocab(tokenize(train_text, cfg.level), cfg)
    train_ids = vocab.encode(tokenize(train_text, cfg.level))
    valid_ids = vocab.encode(tokenize(valid_text, cfg.level))
    if cfg.architecture == "nnlm":  # every token a target of the window before it
        train_src = ArrayBatches(
            *ngram_windows(train_ids, cfg.context + 1, vocab.eos_id), batch_size=cfg.batch_size, seed=cfg.seed
        )
        valid_src = ArrayBatches(
            *ngram_windows(valid_ids, cfg.context + 1, vocab.eos_id), batch_size=4096, shuffle=False
        )
        return LMData(vocab, train_src, valid_src, (len(train_ids), len(valid_ids)))
    train_src = stream_source(train_ids, cfg.batch_size, cfg.bptt, "data")
    valid_src = stream_source(valid_ids, cfg.batch_size, cfg.bptt, "valid")
    return LMData(vocab, train_src, valid_src, (len(train_ids), len(valid_ids)))


def _prepared_sources(cfg: LMTrainConfig) -> LMData:
    meta, vocab = load_meta(cfg.data)
    if meta["level"] != cfg.level:
        raise ValueError(
            f"--level: the corpus in {cfg.data} was prepared at level {meta['level']!r}, got {cfg.level!r}"
        )
    if "valid" not in meta["tokens"]:
        raise ValueError(f"--data: {cfg.data} has no validation split; prepare it with --valid FILE")
    train_src = stream_from_prepared(cfg.data, "train", cfg.batch_size, cfg.bptt)
    valid_src = stream_from_prepared(cfg.data, "valid", cfg.batch_size, cfg.bptt)
    return LMData(vocab, train_src, valid_src, (len(train_src.token_ids), len(valid_src.token_ids)))


def train(
    cfg: LMTrainConfig,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    progress: bool = True,
    log_fn: Any = print,
    control: RunControl | None = None,
    command: str | None = None,
    preset: str | None = None,
) -> dict:
    """Train a language model as ``cfg`` says, into the run directory ``out_dir``; return a summary dict.

    ``control`` (:class:`rnnkit.runs.control.RunControl`) says whether to
    resume the run in ``out_dir``, replace it (``overwrite``, also accepted as
    a keyword), start from another run's weights (``init_from``: its
    vocabulary is used, and its model must have this model's shapes), how
    often to checkpoint and what a non-finite update does. Bad input fails
    before anything is written; SIGINT/SIGTERM checkpoint and raise
    :class:`rnnkit.runs.control.RunInterrupted`.
    ``cfg.data`` may be a corpus prepared by ``rnnkit lm prepare``
    (:func:`load_sources`). Under an MPI launcher with several processes the
    run is data-parallel (:mod:`rnnkit.distributed`): each rank trains on its
    shard of every batch, rank 0 alone creates the run directory, writes into
    it and reports, and an error on any rank ends every rank. The summary's
    ``"rank"`` says which process returned it (0 on one process).
    ``command`` (the command line that started the run) and ``preset`` (the
    name of the recipe it used) are recorded in the run's result.json, beside
    the parameter count and the updates per epoch.
    """
    control = control or RunControl(overwrite=overwrite)
    comm = distributed.init()  # None on one process; imports no MPI code then
    with distributed.guard(comm):  # an error on one rank (a bad file, say) ends every rank, none waits
        return _train(
            cfg, out_dir, comm, control=control, progress=progress, log_fn=log_fn, command=command, preset=preset
        )


def _train(
    cfg: LMTrainConfig,
    out_dir,
    comm,
    *,
    control: RunControl,
    progress: bool,
    log_fn: Any,
    command: str | None = None,
    preset: str | None = None,
) -> dict:
    rank = 0 if comm is None else comm.rank
    if rank != 0:
        log_fn = _quiet  # one process reports
    check_fits(cfg, 2)  # sizes that cannot fit whatever the vocabulary: refused before any reading
    source = None
    if control.init_from:
        source = load_run(control.init_from, flag="--init-from")
        if source[2].level != cfg.level:
            raise ValueError(
                f"--init-from: {control.init_from} is a {source[2].level}-level model; this run has --level {cfg.level}"
            )
    if control.resume:  # the run's own vocabulary, checked against its manifest
        run, resuming = open_run(out_dir, control, cfg) if rank == 0 else (RunDir(out_dir, flag="--out"), True)
        data = load_sources(cfg, run.read_vocab())
    else:  # the data is read and checked before anything is written
        data = load_sources(cfg, source[1] if source is not None else None)
        replacing = rank == 0 and control.overwrite and RunDir(out_dir).holds_run()
        run, resuming = open_run(out_dir, control, cfg) if rank == 0 else (RunDir(out_dir, flag="--out"), False)
        if replacing:
            log_fn(f"--overwrite: the run that was in {run.path} is gone; starting again")
    vocab, train_src, valid_src, (n_train, n_valid) = data
    try:
        check_fits(cfg, len(vocab), n_train)
        model = build_model(cfg, len(vocab), vocab.eos_id)
        if source is not None:
            _init_from(model, source[0], control.init_from)
    except BaseException:
        if not resuming and rank == 0:
            run.discard()  # nothing half-written: the new run directory goes again
        raise
    if rank == 0:
        if not resuming or run.read_raw_config() != dataclasses.asdict(cfg):
            run.write_config(cfg)  # a resumed run may have new --epochs / --max-minutes
        if not resuming:
            run.write_vocab(vocab)
    opt = make_optimizer(cfg.optimizer, model, cfg.lr)
    schedule = None
    if cfg.lr_decay < 1:  # Zaremba et al.: multiply by lr_decay after every epoch from decay_start on
        schedule = StepDecay(opt, step_size=1, gamma=cfg.lr_decay, decay_start=cfg.decay_start)
    elif cfg.plateau_factor < 1:  # at every evaluation that does not improve on the best validation loss
        schedule = ReduceLROnPlateau(opt, factor=cfg.plateau_factor, patience=0, threshold=0.0)
    how = "resuming" if resuming else f"from the weights of {control.init_from}" if source else "fresh"
    what = f"window NNLM n={cfg.context + 1}" if cfg.architecture == "nnlm" else f"{cfg.cell.upper()} LM"
    log_fn(
        f"{cfg.level}-level {what} ({how}): vocabulary {len(vocab)}, {n_train:,} training and "
        f"{n_valid:,} validation tokens, {model.num_parameters():,} parameters"
        + (f", {comm.size} processes" if comm is not None else "")
    )
    started = {
        "model": cfg.architecture,
        "cell": cfg.cell if cfg.architecture == "rnnlm" else None,
        "parameters": model.num_parameters(),
        "steps_per_epoch": len(train_src),
        "command": command,
        "preset": preset,
        "finished": False,
    }
    if rank == 0:  # what started the run, readable while it trains
        run.write_json(RESULT_FILE, started)
    tcfg = TrainerConfig(
        epochs=cfg.epochs,
        max_minutes=cfg.max_minutes or None,
        clip_norm=cfg.clip_norm or None,
        log_every=max(1, min(100, len(train_src) // 10)),
        eval_every=max(min(25, len(train_src)), len(train_src) // cfg.evals_per_epoch),
        patience=cfg.patience,
        progress=progress,
        **control.trainer_fields(),
    )
    fit = fit_run(
        run,
        model,
        opt,
        tcfg,
        train_src,
        valid_src,
        schedule=schedule,
        title=f"{cfg.level}-level language model",
        resume=resuming,
        comm=comm,
        average=cfg.objective != "sum",
        seed=cfg.seed,
    )
    name, value = metric(fit.final["loss"], cfg.level)
    if rank == 0:
        run.write_json(
            RESULT_FILE,
            {
                **started,
                "finished": True,
                "steps": fit.result.steps,
                "epochs_completed": fit.result.epochs_completed,
                "stopped_early": fit.result.stopped_early,
                "valid_loss": fit.final["loss"],
            },
        )
    summary = {"steps": fit.result.steps, "valid_loss": fit.final["loss"], name: value, "vocab_size": len(vocab)}
    summary["rank"] = rank
    skipped = f" ({fit.result.skipped_steps} non-finite updates skipped)" if fit.result.skipped_steps else ""
    log_fn(f"validation {name}: {value:.3f} after {fit.result.steps} updates{skipped}")
    if fit.plot:
        log_fn(f"learning curve: {fit.plot}")
    return summary


def _init_from(model: RNNLM, source: RNNLM, where: str) -> None:
    """Copy the weights of ``source`` into ``model``; one-line error naming the first weight whose shape differs."""
    mine, theirs = model.state_dict(), source.state_dict()
    if set(mine) != set(theirs):
        raise ValueError(
            f"--init-from: {where} holds a model with other weights ({sorted(set(theirs) ^ set(mine))[0]} is in one "
            "only); use the cell, --num-layers and --tie-weights it was trained with"
        )
    for key, value in mine.items():
        if value.shape != theirs[key].shape:
            raise ValueError(
                f"--init-from: {where}: {key} has shape {tuple(theirs[key].shape)}, this model's "
                f"{tuple(value.shape)}; use the sizes it was trained with (--embedding-size, --hidden-size)"
            )
    model.load_state_dict({k: v.astype(mine[k].dtype) for k, v in theirs.items()})


def _quiet(*args: Any, **kwargs: Any) -> None:
    """The log function of every rank but 0."""


# -- load, evaluate, sample ----------------------------------------------------------------------------
def load_run(run_dir: str | Path, *, flag: str = "--run") -> tuple[RNNLM | NNLM, Vocabulary, LMTrainConfig]:
    """(model in eval mode, vocab, cfg) of a run directory written by :func:`train`; every file checked."""
    run = RunDir.open(run_dir, needs=(CONFIG_FILE, VOCAB_FILE), what="'rnnkit lm train'", flag=flag)
    cfg = run.read_config(LMTrainConfig, renamed=RENAMED_FIELDS)
    vocab = run.read_vocab()
    ckpt = load_checkpoint(run.checkpoint_dir)
    kind = ckpt.config.get("kind")
    if kind not in ("rnnlm", "nnlm"):
        raise CheckpointError(f"{ckpt.path}: holds a {kind!r} model, not an rnnlm or nnlm")
    try:
        model = (NNLM if kind == "nnlm" else RNNLM).from_config(ckpt.config)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{ckpt.path}: config does not describe a model of this rnnkit version: {e}") from None
    if model.cfg.vocab_size != len(vocab):
        raise CheckpointError(f"{ckpt.path}: model has {model.cfg.vocab_size} tokens, {run.vocab_path} {len(vocab)}")
    ckpt.load_into(model)
    return model.eval(), vocab, cfg


def evaluate_text(model: RNNLM | NNLM, vocab: Vocabulary, text: str, level: str, bptt: int = 64) -> dict:
    """The scores of ``text`` under ``model``, with the keys and conventions of :func:`rnnkit.runs.ngram.evaluate_text`.

    Every token of the stream (each line's words or characters and one end-of-line token per line) is
    predicted once, the first one after an end-of-line token, so the counts are those of an n-gram model on
    the same text. Returns {"tokens": tokens predicted, "oov": of them, out of the vocabulary (scored as
    ``<unk>``), "sentences": lines, "loss": mean nats per token, "bits": the cross-entropy in bits per
    token, "ppl": exp(loss), and "bpc" (= "bits") for a character model}.

    A recurrent model reads the text as 10 parallel streams, each starting from the zero state after the
    token that ends the previous stream (plus a single stream for the tokens left over); the window NNLM
    reads every token's n-1 predecessors.
    """
    ids = vocab.encode(tokenize(text, level))
    n = len(ids)
    if n < 1:
        raise ValueError("--data: the text holds no tokens")
    oov = int(np.sum(ids == vocab.unk_id))
    evaluator = Trainer(model, None, TrainerConfig(progress=False))  # evaluation needs no optimiser
    if isinstance(model, NNLM):
        src = ArrayBatches(*ngram_windows(ids, model.cfg.context + 1, vocab.eos_id), batch_size=4096, shuffle=False)
        r = evaluator.evaluate(src)
        total, count = r["loss"] * r["count"], r["count"]
    else:
        stream = np.concatenate([[vocab.eos_id], ids]).astype(np.int64)  # the text starts as after a line's end
        B = max(1, min(10, n // max(bptt, 1)))
        L = n // B  # targets per stream; stream b reads stream[b*L : (b+1)*L + 1]
        grid = np.stack([stream[b * L : (b + 1) * L + 1] for b in range(B)], axis=1)  # (L+1, B)
        total, count = 0.0, 0
        for part in (grid, stream[B * L :, None]):  # the last n - B*L targets as one more stream
            if part.shape[0] < 2:
                continue
            r = evaluator.evaluate(StreamBatches(part, bptt))
            total, count = total + r["loss"] * r["count"], count + r["count"]
    loss = total / count
    result = {
        "tokens": count,
        "oov": oov,
        "sentences": len(sentences(text, level)),
        "loss": loss,
        "bits": loss / math.log(2),
        "ppl": math.exp(loss) if loss < 700 else math.inf,
    }
    if level == "char":
        result["bpc"] = result["bits"]
    return result


MAX_SAMPLE_LENGTH = 1_000_000  # tokens one sample may ask for


def generate(
    model: RNNLM,
    vocab: Vocabulary,
    prompt: str,
    level: str,
    *,
    length: int = 300,
    temperature: float = 0.8,
    top_k: int | None = None,
    top_p: float | None = None,
    beam: int = 0,
    seed: int | np.random.Generator = 0,
) -> str:
    """Continue ``prompt``: sampling (temperature, top-k, top-p), greedy with ``temperature=0``, or, with
    beam > 0, beam search. Without a prompt the model starts as after a line's end. The text returned ends
    with a newline.
    """
    check_positive_int("generate", "length", length)
    if length > MAX_SAMPLE_LENGTH:
        raise ValueError(f"generate: length must be <= {MAX_SAMPLE_LENGTH:,}, got {length}")
    tokens = list(prompt) if level == "char" else prompt.split()
    prompt_ids = vocab.encode(tokens) if tokens else np.array([vocab.eos_id])
    step_model = model.as_step_model()
    if beam and not tokens:
        # From a line's end alone the likeliest continuation is often more line ends (blank lines), and a beam
        # search returns only whitespace: start it from the likeliest token that is not a line end.
        logprobs, _ = step_model.step(step_model.initial_state(prompt_ids[:0]), prompt_ids)
        lp = np.array(logprobs, dtype=np.float64)[0]
        lp[[vocab.eos_id, vocab.unk_id]] = -np.inf
        if level == "char":
            lp[[i for i, t in enumerate(vocab.tokens) if not t.strip()]] = -np.inf
        first = int(np.argmax(lp))
        rest = (
            beam_search(step_model, np.array([vocab.eos_id, first]), length - 1, beam_size=beam) if length > 1 else []
        )
        out = np.concatenate([[first], np.asarray(rest, dtype=np.int64)]).astype(np.int64)
    elif beam:
        out = beam_search(step_model, prompt_ids, length, beam_size=beam, no_repeat_ngram_size=0)
    elif temperature == 0:
        out = greedy(step_model, prompt_ids, length)
    else:
        out = sample(step_model, prompt_ids, length, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
    words = vocab.decode(out)
    if level == "char":
        text = prompt + "".join(words)
    else:
        text = " ".join([prompt] + words).replace(" <eos> ", "\n").replace("<eos>", "\n").strip(" ")
    return text if text.endswith("\n") else text + "\n"
