"""Train, evaluate and use encoder-decoders: what ``rnnkit seq2seq train|translate|eval`` runs.

A *run directory* holds everything a trained model needs::

    OUT/
        run.json              {"run": "rnnkit.seq2seq", "version": 1, "config": the Seq2SeqRunConfig}
        source_vocab.json     the source vocabulary (rnnkit.text.vocab.Vocabulary, <pad> <unk> <s> </s> first)
        target_vocab.json     the target vocabulary
        checkpoints/          model, optimiser, trainer and RNG state (rnnkit.checkpoint)
        log.jsonl             one record per log interval and per evaluation (the Trainer's)
        metrics.json          exact match, token accuracy and BLEU on the validation pairs, after training

Data is a built-in task (:mod:`rnnkit.tasks.seq2seq_data`: ``train_size``
pairs drawn with ``seed``, ``valid_size`` validation pairs with ``seed + 1``,
so validation formats and names are drawn apart from training) or a TSV file
(:mod:`rnnkit.tasks.tsv`) with an optional validation file; without one, the
last ``valid_fraction`` of the lines is held out. The model is trained by
:class:`rnnkit.trainer.Trainer` (progress bar, checkpoints every
``checkpoint_every`` updates, ``resume``); each validation (every
``eval_every`` updates, and at the end) decodes the validation pairs greedily
and scores them with :mod:`rnnkit.metrics`.

Scores: exact match and token accuracy compare the detokenised output with the
reference (characters for a char-level run, words for a word-level one); BLEU
is corpus BLEU-4 as sacrebleu defines it, on the detokenised strings.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from rnnkit._validate import check_choice, check_positive_int, check_probability
from rnnkit.io import CheckpointError, atomic_write
from rnnkit.metrics import corpus_bleu, exact_match, token_accuracy
from rnnkit.tasks.seq2seq_data import (
    LEVELS,
    TASKS,
    PairBatches,
    build_vocabularies,
    detokenize,
    get_task,
    make_batch,
    tokenize,
)
from rnnkit.tasks.tsv import read_tsv
from rnnkit.text.vocab import Vocabulary
from rnnkit.trainer import Trainer, TrainerConfig

log = logging.getLogger(__name__)

RUN_NAME, RUN_VERSION = "rnnkit.seq2seq", 1
_PAD_ID = 0  # <pad> is id 0 in every vocabulary of rnnkit.tasks.seq2seq_data
RUN_FILE, SRC_VOCAB_FILE, TGT_VOCAB_FILE, METRICS_FILE, CKPT_DIR = (
    "run.json",
    "source_vocab.json",
    "target_vocab.json",
    "metrics.json",
    "checkpoints",
)
CELLS = ("rnn", "gru", "lstm", "mgu")
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
RESUMABLE_CHANGES = ("epochs", "minutes", "checkpoint_every", "eval_every", "log_every")


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
    cell: str = _field("lstm", "Recurrent cell of the encoder and the decoder.", CELLS)
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
    optimizer: str = _field("adam", "Update rule.", ("adam", "sgd"))
    lr: float = _field(3e-3, "Learning rate.")
    clip: float = _field(1.0, "Global gradient-norm clipping threshold; 0 turns it off.")
    epochs: int = _field(10, "Passes over the training pairs.")
    minutes: float = _field(0.0, "Wall-clock budget for training; 0 sets none.")
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
        check_choice(w, "cell", self.cell, CELLS)
        check_choice(w, "encoder", self.encoder, ENCODERS)
        check_choice(w, "bridge", self.bridge, BRIDGES)
        check_choice(w, "attention", self.attention, ATTENTIONS)
        check_choice(w, "optimizer", self.optimizer, ("adam", "sgd"))
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
        for name, low_open in (("lr", True), ("clip", False), ("minutes", False), ("coverage_loss_weight", False)):
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


def _sentence_ends(cfg: Seq2SeqRunConfig):
    if cfg.encoder == "flat":
        return None
    task = get_task(cfg.task) if cfg.task else None
    return (task.sentence_ends if task and task.sentence_ends else None) or (".", "?", "!")


# -- the run directory -----------------------------------------------------------------------------------
@dataclass
class Run:
    """A trained run loaded from its directory."""

    path: Path
    config: Seq2SeqRunConfig
    source_vocab: Vocabulary
    target_vocab: Vocabulary
    model: object  # rnnkit.seq2seq.Seq2Seq


def _write_run_files(out: Path, cfg: Seq2SeqRunConfig, src_vocab: Vocabulary, tgt_vocab: Vocabulary) -> None:
    doc = {"run": RUN_NAME, "version": RUN_VERSION, "config": asdict(cfg)}
    atomic_write(out / RUN_FILE, [json.dumps(doc, indent=2).encode()])
    src_vocab.save(out / SRC_VOCAB_FILE)
    tgt_vocab.save(out / TGT_VOCAB_FILE)


def read_run_files(run_dir) -> tuple[Seq2SeqRunConfig, Vocabulary, Vocabulary]:
    """(config, source vocabulary, target vocabulary) of a run directory; CheckpointError for a foreign one."""
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: no such run directory")
    for name in (RUN_FILE, SRC_VOCAB_FILE, TGT_VOCAB_FILE):
        if not (run / name).is_file():
            raise CheckpointError(f"{run}: not a run directory of 'rnnkit seq2seq train' ({name} is missing)")
    try:
        doc = json.loads((run / RUN_FILE).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{run / RUN_FILE}: not JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("run") != RUN_NAME:
        got = doc.get("run") if isinstance(doc, dict) else type(doc).__name__
        raise CheckpointError(f"{run / RUN_FILE}: not a seq2seq run (run is {got!r}, expected {RUN_NAME!r})")
    if doc.get("version") != RUN_VERSION:
        raise CheckpointError(f"{run / RUN_FILE}: version must be {RUN_VERSION}, got {doc.get('version')!r}")
    try:
        known = {f.name for f in fields(Seq2SeqRunConfig)}
        raw = doc.get("config")
        if not isinstance(raw, dict) or set(raw) - known:
            extra = sorted(set(raw) - known) if isinstance(raw, dict) else raw
            raise ValueError(f"config has fields this rnnkit does not know: {extra}")
        cfg = Seq2SeqRunConfig(**raw)
        src_vocab = Vocabulary.load(run / SRC_VOCAB_FILE)
        tgt_vocab = Vocabulary.load(run / TGT_VOCAB_FILE)
    except (ValueError, TypeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{run}: unreadable run files: {e}") from None
    return cfg, src_vocab, tgt_vocab


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


def build_model(cfg: Seq2SeqRunConfig, src_vocab: Vocabulary, tgt_vocab: Vocabulary):
    from rnnkit.seq2seq import Seq2Seq, Seq2SeqConfig

    return Seq2Seq(Seq2SeqConfig(**model_config(cfg, src_vocab, tgt_vocab)))


def to_model_batch(batch, cfg: Seq2SeqRunConfig):
    """The model's batch (rnnkit.seq2seq.Seq2SeqBatch) from a data batch (rnnkit.tasks.seq2seq_data).

    With copy, the targets are over the extended vocabulary (a copied word is its
    extended id) and the decoder is fed ``<unk>`` for it; a hierarchical encoder
    gets the source as (N, W, B) sentences of words with ``word_lengths`` (N, B)
    and ``src_lengths`` counting sentences.
    """
    import numpy as np

    from rnnkit.seq2seq import Seq2SeqBatch

    src, src_lengths, word_lengths = batch.src, batch.src_lengths, None
    if cfg.encoder == "hierarchical":
        sl = batch.sentence_lengths  # (B, N)
        B, N = sl.shape
        W = int(sl.max())
        src = np.full((N, W, B), _PAD_ID, dtype=np.int64)
        for b in range(B):
            start = 0
            for n in range(N):
                k = int(sl[b, n])
                src[n, :k, b] = batch.src[start : start + k, b]
                start += k
        word_lengths = sl.T.copy()
        src_lengths = (sl > 0).sum(axis=1).astype(np.int64)
    if cfg.copy:
        return Seq2SeqBatch(
            src=src,
            src_lengths=src_lengths,
            tgt_in=batch.tgt_in,
            tgt_out=batch.tgt_out_ext,
            tgt_lengths=batch.tgt_lengths,
            word_lengths=word_lengths,
            src_ext=batch.src_ext,
            n_oov=batch.max_oov,
        )
    return Seq2SeqBatch(
        src=src,
        src_lengths=src_lengths,
        tgt_in=batch.tgt_in,
        tgt_out=batch.tgt_out,
        tgt_lengths=batch.tgt_lengths,
        word_lengths=word_lengths,
    )


class ModelBatches:
    """A batch source of model batches: a :class:`PairBatches` seen through :func:`to_model_batch`."""

    stateful = False

    def __init__(self, pairs: PairBatches, cfg: Seq2SeqRunConfig):
        self.pairs, self.cfg = pairs, cfg

    def __len__(self) -> int:
        return len(self.pairs)

    def batch(self, epoch: int, index: int):
        return to_model_batch(self.pairs.batch(epoch, index), self.cfg)


def _model_from_checkpoint(run: Path, cfg, src_vocab, tgt_vocab):
    from rnnkit.checkpoint import load_checkpoint

    model = build_model(cfg, src_vocab, tgt_vocab)
    ckpt = load_checkpoint(run / CKPT_DIR, expected_config=model.config())
    ckpt.load_into(model)
    return model.eval()


@dataclass
class Hypothesis:
    """One decoded output of a source: ids over the extended vocabulary, log-probability, attention (n, S)."""

    tokens: object  # (n,) int array, the stop id included when reached
    logprob: float
    attention: object  # (n, S) array, or None without attention


def decode_batch(model, batch, *, beam: int = 1, nbest: int = 1, max_length: int = 100) -> list:
    """Per source of the model batch ``batch``, up to ``nbest`` :class:`Hypothesis` objects, best first.

    ``beam == 1`` decodes greedily (all sources side by side); otherwise beam search per source
    (rnnkit.decoding.beam_search through rnnkit.seq2seq.search), each output rescored by forced decoding
    for its log-probability and attention.
    """
    from rnnkit import decoding
    from rnnkit.seq2seq import search

    if nbest == 1:
        method = "greedy" if beam == 1 else "beam"
        outs = search.translate(model, batch, method=method, beam_size=beam, max_len=max_length)
        return [[Hypothesis(o.tokens, o.logprob, o.attention)] for o in outs]
    c = model.cfg
    step_model = search.Seq2SeqStepModel(model, batch)
    out = []
    for b in range(len(batch.src_lengths)):
        one = step_model.for_source(b)
        found = decoding.beam_search(one, [c.bos_id], max_length, beam_size=beam, stop_ids=[c.eos_id], return_all=True)
        row = []
        for h in found[:nbest]:
            lp, att = search.force(one, h.tokens)
            row.append(Hypothesis(h.tokens, lp, None if att is None else att[:, : int(batch.src_lengths[b])]))
        out.append(row)
    return out


# -- train -------------------------------------------------------------------------------------------------
class _ScoringTrainer(Trainer):
    """The Trainer, whose validations also decode the validation pairs and report their scores."""

    score = None  # () -> None, set by train()

    def evaluate(self, data) -> dict:
        result = super().evaluate(data)
        if self.score is not None:
            was_training = self.model.training
            try:
                self.score()  # greedy decoding draws no random numbers: a resumed run stays bit-identical
            finally:
                self.model.train(was_training)  # decoding leaves the model in evaluation mode
        return result


def _report(scores: dict, log_fn) -> dict:
    log_fn(
        f"validation: exact match {scores['exact_match']:.4f}, token accuracy {scores['token_accuracy']:.4f}, "
        f"BLEU {scores['bleu']:.2f}"
    )
    return scores


def train(cfg: Seq2SeqRunConfig, out_dir, *, resume: bool = False, progress: bool = True, log_fn=print) -> dict:
    """Train as ``cfg`` says into the run directory ``out_dir``; return the validation scores.

    ``resume`` continues the run in ``out_dir`` from its last checkpoint; its
    config must equal ``cfg`` apart from :data:`RESUMABLE_CHANGES`.
    """
    from rnnkit.optim import SGD, Adam

    out = Path(out_dir)
    train_pairs, valid_pairs = load_pairs(cfg)  # data problems surface before anything is written
    level = cfg.token_level
    if resume:
        saved, src_vocab, tgt_vocab = read_run_files(out)
        diff = [
            f"{f.name}: {getattr(saved, f.name)!r} -> {getattr(cfg, f.name)!r}"
            for f in fields(cfg)
            if f.name not in RESUMABLE_CHANGES and getattr(saved, f.name) != getattr(cfg, f.name)
        ]
        if diff:
            raise ValueError(f"--resume: {out} was trained with another config ({'; '.join(diff)})")
    else:
        target_tokens = get_task(cfg.task).target_tokens if cfg.task else None
        src_vocab, tgt_vocab = build_vocabularies(
            train_pairs, level, min_count=cfg.min_count, max_size=cfg.max_vocab, target_tokens=target_tokens
        )
        out.mkdir(parents=True, exist_ok=True)
    model = build_model(cfg, src_vocab, tgt_vocab)
    if not resume:
        _write_run_files(out, cfg, src_vocab, tgt_vocab)
    opt = (Adam if cfg.optimizer == "adam" else SGD)(model.params, model.grads, lr=cfg.lr)
    ends = _sentence_ends(cfg)
    train_src = PairBatches(
        train_pairs, src_vocab, tgt_vocab, level, batch_size=cfg.batch_size, seed=cfg.seed, sentence_ends=ends
    )
    valid_src = PairBatches(
        valid_pairs, src_vocab, tgt_vocab, level, batch_size=cfg.batch_size, shuffle=False, sentence_ends=ends
    )
    log_fn(
        f"{cfg.task or cfg.data}: {len(train_pairs):,} training and {len(valid_pairs):,} validation pairs, "
        f"vocabularies {len(src_vocab)} -> {len(tgt_vocab)}, {model.num_parameters():,} parameters"
    )
    tcfg = TrainerConfig(
        epochs=cfg.epochs,
        max_minutes=cfg.minutes or None,
        clip_norm=cfg.clip or None,
        log_every=cfg.log_every,
        eval_every=cfg.eval_every,
        checkpoint_every=cfg.checkpoint_every,
        progress=progress,
    )
    trainer = _ScoringTrainer(model, opt, tcfg, out_dir=out)
    trainer.score = lambda: _report(evaluate_pairs(model, src_vocab, tgt_vocab, cfg, valid_pairs), log_fn)
    result = trainer.fit(ModelBatches(train_src, cfg), ModelBatches(valid_src, cfg), resume=resume)
    model.eval()
    scores = evaluate_pairs(model, src_vocab, tgt_vocab, cfg, valid_pairs)
    scores["steps"] = result.steps
    atomic_write(out / METRICS_FILE, [json.dumps(scores, indent=2).encode()])
    log_fn(
        f"validation after {result.steps} updates: exact match {scores['exact_match']:.4f}, "
        f"token accuracy {scores['token_accuracy']:.4f}, BLEU {scores['bleu']:.2f}"
    )
    return scores


# -- use a trained model --------------------------------------------------------------------------------
def load_run(run_dir) -> Run:
    """A run directory written by :func:`train`, with its model."""
    run = Path(run_dir)
    cfg, src_vocab, tgt_vocab = read_run_files(run)
    return Run(run, cfg, src_vocab, tgt_vocab, _model_from_checkpoint(run, cfg, src_vocab, tgt_vocab))


@dataclass
class Translation:
    """One output for one source: its text, tokens, log-probability and attention (T_out, S)."""

    source_tokens: list  # what the attention ranges over: source tokens, or sentences (hierarchical)
    tokens: list  # the output tokens, without </s>
    text: str
    score: float
    attention: object  # (T_out, S) array, or None without attention; a last row for </s> when finished
    finished: bool = True  # False: cut at max_output_length before </s>


def _words(ids, tgt_vocab: Vocabulary, oov: list) -> tuple[list[str], bool]:
    """(output tokens up to </s>, whether </s> was reached)."""
    V, out = len(tgt_vocab), []
    for i in ids:
        i = int(i)
        if i == tgt_vocab.eos_id:
            return out, True
        out.append(oov[i - V] if i >= V else tgt_vocab.tokens[i])
    return out, False


def _attended(source: str, cfg: Seq2SeqRunConfig) -> list[str]:
    """What the attention ranges over: the source tokens, or its sentences for a hierarchical encoder."""
    tokens = tokenize(source, cfg.token_level)
    if cfg.encoder == "flat":
        return tokens
    from rnnkit.tasks.multi_sentence import split_sentences

    return [detokenize(x, cfg.token_level) for x in split_sentences(tokens, _sentence_ends(cfg))]


def translate_pairs(model, src_vocab, tgt_vocab, cfg, sources, *, beam=1, nbest=1, batch_size=64) -> list:
    """Per source string, ``nbest`` :class:`Translation` objects, best first."""
    level = cfg.token_level
    for i, s in enumerate(sources):
        if not s.strip():
            raise ValueError(f"translate: sources must be non-empty, got {s!r} as source {i + 1}")
    out = []
    for start in range(0, len(sources), batch_size):
        chunk = sources[start : start + batch_size]
        # the sources stand in as targets: decoding never reads them
        batch = make_batch([(s, s) for s in chunk], src_vocab, tgt_vocab, level, sentence_ends=_sentence_ends(cfg))
        hyps = decode_batch(model, to_model_batch(batch, cfg), beam=beam, nbest=nbest, max_length=cfg.max_output_length)
        for b, (s, per) in enumerate(zip(chunk, hyps)):
            row = []
            for h in per:
                words, finished = _words(h.tokens, tgt_vocab, batch.oov_tokens[b])
                att = None if h.attention is None else h.attention[: len(words) + finished]  # the words, </s>
                text = detokenize(words, level)
                row.append(Translation(_attended(s, cfg), words, text, float(h.logprob), att, finished))
            out.append(row)
    return out


def score_outputs(hypotheses: list[str], references: list[str], level: str) -> dict:
    """Exact match, token accuracy (at the run's token level) and corpus BLEU of output strings."""
    return {
        "exact_match": exact_match(hypotheses, references),
        "token_accuracy": token_accuracy(
            [tokenize(h, level) for h in hypotheses], [tokenize(r, level) for r in references]
        ),
        "bleu": corpus_bleu(hypotheses, references),
        "count": len(references),
    }


def evaluate_pairs(model, src_vocab, tgt_vocab, cfg, pairs, *, beam: int = 1) -> dict:
    """Decode the sources of ``pairs`` and score the outputs against their targets."""
    outputs = translate_pairs(model, src_vocab, tgt_vocab, cfg, [s for s, _ in pairs], beam=beam)
    return score_outputs([o[0].text for o in outputs], [t for _, t in pairs], cfg.token_level)


def translate(run: Run, sources, *, beam: int = 1, nbest: int = 1) -> list:
    """Translate source strings with a loaded run (see :func:`translate_pairs`)."""
    check_positive_int("translate", "beam", beam)
    check_positive_int("translate", "nbest", nbest)
    if nbest > beam:
        raise ValueError(f"translate: nbest must be <= beam = {beam}, got {nbest}")
    return translate_pairs(
        run.model, run.source_vocab, run.target_vocab, run.config, list(sources), beam=beam, nbest=nbest
    )


def evaluate(run: Run, data, *, beam: int = 1) -> dict:
    """Exact match, token accuracy and BLEU of a loaded run on a TSV file."""
    cfg = run.config
    pairs = read_tsv(
        data, level=cfg.token_level, max_source_length=cfg.max_source_length, max_target_length=cfg.max_target_length
    )
    return evaluate_pairs(run.model, run.source_vocab, run.target_vocab, cfg, pairs, beam=beam)
