"""The config of ``rnnkit seq2seq train``, its data, the model it describes, and the files of a run.

The fields of :class:`Seq2SeqRunConfig` are the flags of ``rnnkit seq2seq
train`` (``hidden_size`` is ``--hidden-size``); each field's help sentence,
choices and shown default are its metadata, read by
:func:`rnnkit.cli.common.add_config_flags`.

Data is a built-in task (:mod:`rnnkit.tasks.seq2seq_data`: ``train_size``
pairs drawn with ``seed``, ``valid_size`` validation pairs with ``seed + 1``,
so validation formats and names are drawn apart from training) or a TSV file
(:mod:`rnnkit.tasks.tsv`) with an optional validation file; without one, the
last ``valid_fraction`` of the lines is held out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from rnnkit._validate import check_choice, check_positive_int, check_probability
from rnnkit.cells import registry
from rnnkit.io import CheckpointError
from rnnkit.runs.directory import CONFIG_FILE, RunDir
from rnnkit.runs.fit import OPTIMIZERS
from rnnkit.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.tasks.seq2seq_data import LEVELS, TASKS, get_task
from rnnkit.tasks.tsv import read_tsv
from rnnkit.text.vocab import Vocabulary

__all__ = [
    "Seq2SeqRunConfig",
    "RENAMED_FIELDS",
    "RESUMABLE_CHANGES",
    "MODEL_FIELDS",
    "SRC_VOCAB_FILE",
    "TGT_VOCAB_FILE",
    "METRICS_FILE",
    "RUN_FILES",
    "load_pairs",
    "sentence_ends",
    "write_run_files",
    "read_run_files",
    "model_config",
    "build_model",
]

SRC_VOCAB_FILE, TGT_VOCAB_FILE, METRICS_FILE = "source_vocab.json", "target_vocab.json", "metrics.json"
RUN_FILES = (CONFIG_FILE, SRC_VOCAB_FILE, TGT_VOCAB_FILE)  # what a run of 'rnnkit seq2seq train' must hold
ENCODERS = ("flat", "hierarchical")
BRIDGES = ("projection", "concat", "zeros")
ATTENTIONS = ("none", "additive", "dot", "general", "concat")
MODEL_FIELDS = (
    "cell",
    "embedding_size",
    "hidden_size",
    "encoder_layers",
    "bidirectional",
    "encoder",
    "decoder_hidden_size",
    "decoder_layers",
    "bridge",
    "attention",
    "attention_size",
    "input_feeding",
    "copy",
    "coverage",
    "dropout",
    "recurrent_dropout",
    "variational",
    "zoneout",
    "scheduled_sampling",
    "seed",
)
# fields that may change when a run is resumed (they say how long and how often, not what is trained)
RESUMABLE_CHANGES = ("epochs", "max_minutes", "checkpoint_every", "eval_every", "log_every")
# Fields renamed so that each flag is spelled as lm's is; run.json files with the old names still load.
RENAMED_FIELDS = {"clip": "clip_norm", "minutes": "max_minutes"}


DEFAULT_TASK = "dates"
TASKS_CHOICES = tuple(TASKS)


def _field(default, help: str, choices=None, *, default_text: str | None = None):
    """A config field whose metadata gives its flag a help sentence, choices and the default to show."""
    meta = {"help": help}
    if choices is not None:
        meta["choices"] = tuple(choices)
    if default_text is not None:
        meta["default_text"] = default_text
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Seq2SeqRunConfig:
    """Everything ``rnnkit seq2seq train`` can be told; saved in run.json. Defaults suit the dates task."""

    # -- data
    task: str | None = _field(
        None, "Built-in task to train on.", TASKS_CHOICES, default_text="dates, unless --data is given"
    )
    data: str | None = _field(None, "TSV file of source<TAB>target lines to train on, instead of a task.")
    valid: str | None = _field(
        None, "TSV file of validation pairs.", default_text="the last --valid-fraction of --data"
    )
    valid_fraction: float = _field(0.05, "Fraction of --data held out for validation when --valid is not given.")
    level: str = _field("char", "Tokens of a --data run: characters or whitespace-separated words.", LEVELS)
    train_size: int = _field(20_000, "Number of training pairs drawn for a task.")
    valid_size: int = _field(1_000, "Number of validation pairs drawn for a task (with the next seed).")
    max_source_length: int = _field(400, "Longest source accepted from a TSV file, in tokens.")
    max_target_length: int = _field(400, "Longest target accepted from a TSV file, in tokens.")
    min_count: int = _field(1, "Tokens seen fewer times in training become <unk>.")
    max_vocab: int | None = _field(None, "Largest vocabulary size, special tokens included.")
    # -- model (the fields of rnnkit.seq2seq.Seq2SeqConfig of the same names)
    cell: str = _field("lstm", "Recurrent cell of the encoder and the decoder.", registry.names(model_choice=True))
    embedding_size: int = _field(16, "Size of the token embeddings.")
    hidden_size: int = _field(64, "Hidden units per encoder layer and direction.")
    encoder_layers: int = _field(1, "Stacked recurrent layers in the encoder.")
    bidirectional: bool = _field(False, "Read the source in both directions.")
    encoder: str = _field(
        "flat", "A flat RNN over the source, or hierarchical: an RNN per sentence, then one over sentences.", ENCODERS
    )
    decoder_hidden_size: int | None = _field(
        None, "Hidden units per decoder layer.", default_text="hidden size times the encoder's directions"
    )
    decoder_layers: int = _field(1, "Stacked recurrent layers in the decoder.")
    bridge: str = _field(
        "projection", "How the encoder's final states start the decoder: projected, concatenated, or zeros.", BRIDGES
    )
    attention: str = _field(
        "additive", "Attention over the source; none reads a single fixed context vector.", ATTENTIONS
    )
    attention_size: int | None = _field(
        None, "Size of the additive and concat attention layers.", default_text="the decoder's hidden size"
    )
    input_feeding: bool = _field(False, "Feed the previous attentional vector into the next decoder step.")
    copy: bool = _field(False, "Let the decoder copy source tokens, even ones outside the target vocabulary.")
    coverage: bool = _field(False, "Give the attention scores the coverage vector, and add the coverage loss.")
    coverage_loss_weight: float | None = _field(None, "Weight of the coverage loss.", default_text="1 with --coverage")
    dropout: float = _field(0.0, "Dropout between stacked layers.")
    recurrent_dropout: float = _field(0.0, "Dropout on the decoder's previous state in its recurrent product.")
    variational: bool = _field(False, "Draw one decoder dropout mask per sequence instead of one per step.")
    zoneout: float = _field(0.0, "Probability that a decoder unit keeps its previous value.")
    scheduled_sampling: float = _field(
        0.0, "Probability of feeding the decoder its own prediction instead of the reference."
    )
    # -- training
    batch_size: int = _field(32, "Pairs per update.")
    optimizer: str = _field("adam", "Update rule.", OPTIMIZERS)
    lr: float = _field(3e-3, "Learning rate.")
    clip_norm: float = _field(1.0, "Global gradient-norm clipping threshold; 0 turns it off.")
    epochs: int = _field(10, "Passes over the training pairs.")
    max_minutes: float = _field(0.0, "Wall-clock budget for training in minutes; 0 sets none.")
    checkpoint_every: int = _field(200, "Updates between checkpoints.")
    eval_every: int = _field(200, "Updates between validations (loss, then exact match and token accuracy).")
    log_every: int = _field(50, "Updates between log records.")
    max_output_length: int = _field(100, "Most tokens a decoded output may have.")
    seed: int = _field(0, "Seed of the data, the initial weights and the batch order.")

    def __post_init__(self):
        w = "Seq2SeqRunConfig"
        if self.task is None and self.data is None:
            object.__setattr__(self, "task", DEFAULT_TASK)  # frozen: the one place a field is filled in
        if self.task is not None and self.data is not None:
            raise ValueError(f"{w}: give task or data, not both, got task={self.task!r} data={self.data!r}")
        if self.task is not None:
            check_choice(w, "task", self.task, tuple(TASKS))
        if self.valid is not None and self.data is None:
            raise ValueError(f"{w}: valid needs data (a task draws its own validation pairs), got valid={self.valid!r}")
        check_choice(w, "level", self.level, LEVELS)
        check_choice(w, "cell", self.cell, registry.names())  # any registered family; --cell offers the usual
        check_choice(w, "encoder", self.encoder, ENCODERS)
        check_choice(w, "bridge", self.bridge, BRIDGES)
        check_choice(w, "attention", self.attention, ATTENTIONS)
        check_choice(w, "optimizer", self.optimizer, OPTIMIZERS)
        for name in (
            "train_size",
            "valid_size",
            "max_source_length",
            "max_target_length",
            "min_count",
            "embedding_size",
            "hidden_size",
            "encoder_layers",
            "decoder_layers",
            "batch_size",
            "epochs",
            "checkpoint_every",
            "eval_every",
            "log_every",
            "max_output_length",
        ):
            check_positive_int(w, name, getattr(self, name))
        check_positive_int(w, "seed", self.seed, minimum=0)
        if self.max_vocab is not None:
            check_positive_int(w, "max_vocab", self.max_vocab, minimum=5)
        for name in ("decoder_hidden_size", "attention_size"):
            if getattr(self, name) is not None:
                check_positive_int(w, name, getattr(self, name))
        for name in ("valid_fraction", "dropout", "recurrent_dropout", "zoneout", "scheduled_sampling"):
            check_probability(w, name, getattr(self, name))
        for name, low_open in (
            ("lr", True),
            ("clip_norm", False),
            ("max_minutes", False),
            ("coverage_loss_weight", False),
        ):
            v = getattr(self, name)
            if v is None and name == "coverage_loss_weight":
                continue
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            if not ok or (v <= 0 if low_open else v < 0):
                raise ValueError(f"{w}: {name} must be a number {'>' if low_open else '>='} 0, got {v!r}")
        if self.coverage and self.attention not in ("additive", "concat"):
            raise ValueError(f"{w}: coverage needs attention 'additive' or 'concat', got {self.attention!r}")
        if self.coverage_loss_weight and not self.coverage:
            raise ValueError(f"{w}: coverage_loss_weight needs coverage, got {self.coverage_loss_weight} without it")
        if self.copy and self.attention == "none":
            raise ValueError(f"{w}: copy needs attention (it copies through the attention weights), got 'none'")
        if self.input_feeding and self.attention == "none":
            raise ValueError(f"{w}: input_feeding needs attention, got attention='none'")

    @property
    def coverage_weight(self) -> float:
        """The coverage loss weight the model gets."""
        if not self.coverage:
            return 0.0
        return 1.0 if self.coverage_loss_weight is None else float(self.coverage_loss_weight)

    @property
    def token_level(self) -> str:
        return get_task(self.task).level if self.task else self.level


# -- data ------------------------------------------------------------------------------------------------
def load_pairs(cfg: Seq2SeqRunConfig) -> tuple[list, list]:
    """(training pairs, validation pairs) as the config asks; TSV problems raise one-line ValueErrors."""
    if cfg.task is not None:
        task = get_task(cfg.task)
        return task.pairs(cfg.train_size, cfg.seed), task.pairs(cfg.valid_size, cfg.seed + 1)
    kw = {"level": cfg.level, "max_source_length": cfg.max_source_length, "max_target_length": cfg.max_target_length}
    pairs = read_tsv(cfg.data, **kw)
    if cfg.valid is not None:
        return pairs, read_tsv(cfg.valid, **kw)
    n_valid = max(1, int(round(len(pairs) * cfg.valid_fraction)))
    if len(pairs) - n_valid < 1:
        raise ValueError(f"{cfg.data}: needs at least 2 lines to hold out a validation part, got {len(pairs)}")
    return pairs[:-n_valid], pairs[-n_valid:]


def sentence_ends(cfg: Seq2SeqRunConfig) -> tuple | None:
    """The tokens that end a sentence for a hierarchical encoder (the task's, else . ? !); None for a flat one."""
    if cfg.encoder == "flat":
        return None
    task = get_task(cfg.task) if cfg.task else None
    return (task.sentence_ends if task and task.sentence_ends else None) or (".", "?", "!")


# -- the run directory -----------------------------------------------------------------------------------
def write_run_files(run: RunDir, cfg: Seq2SeqRunConfig, src_vocab: Vocabulary, tgt_vocab: Vocabulary) -> None:
    """run.json (the config) and the two vocabularies, each written atomically."""
    run.write_config(cfg)
    run.write_vocab(src_vocab, SRC_VOCAB_FILE)
    run.write_vocab(tgt_vocab, TGT_VOCAB_FILE)


def read_run_files(run_dir: str | Path | RunDir, *, flag: str = "--run") -> tuple:
    """(config, source vocabulary, target vocabulary) of a run directory; CheckpointError for a foreign one."""
    run = run_dir if isinstance(run_dir, RunDir) else RunDir.open(run_dir, flag=flag)
    for name in RUN_FILES:
        if not (run.path / name).is_file():
            raise CheckpointError(f"{run.path}: not a run directory of 'rnnkit seq2seq train' ({name} is missing)")
    cfg = run.read_config(Seq2SeqRunConfig, renamed=RENAMED_FIELDS, strict=True)
    return cfg, run.read_vocab(SRC_VOCAB_FILE), run.read_vocab(TGT_VOCAB_FILE)


# -- the model (rnnkit.seq2seq) ---------------------------------------------------------------------------
def model_config(cfg: Seq2SeqRunConfig, src_vocab: Vocabulary, tgt_vocab: Vocabulary) -> dict:
    """The model's own config (rnnkit.seq2seq.Seq2SeqConfig's fields), from the run's and its vocabularies."""
    out = {name: getattr(cfg, name) for name in MODEL_FIELDS}
    out.update(
        src_vocab_size=len(src_vocab),
        tgt_vocab_size=len(tgt_vocab),
        coverage_loss_weight=cfg.coverage_weight,
        pad_id=tgt_vocab.pad_id,
        bos_id=tgt_vocab.bos_id,
        eos_id=tgt_vocab.eos_id,
        unk_id=tgt_vocab.unk_id,
    )
    return out


def build_model(cfg: Seq2SeqRunConfig, src_vocab: Vocabulary, tgt_vocab: Vocabulary) -> Seq2Seq:
    """The fresh model ``cfg`` describes, over these vocabularies."""
    return Seq2Seq(Seq2SeqConfig(**model_config(cfg, src_vocab, tgt_vocab)))
