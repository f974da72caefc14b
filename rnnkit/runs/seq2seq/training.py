"""Train an encoder-decoder into a run directory: what ``rnnkit seq2seq train`` runs.

The data are read and checked first; then the run directory is created
(:meth:`rnnkit.runs.RunDir.create`: refused if it holds a run, unless
``overwrite``) or, with ``resume``, opened and its config compared with the new
one. Training is :func:`rnnkit.runs.fit.fit_run` (the Trainer: progress bar,
checkpoints every ``checkpoint_every`` updates, the log, the learning curve);
each validation (every ``eval_every`` updates, and the final one) also decodes
the validation pairs greedily and reports exact match, token accuracy and BLEU,
which end in metrics.json.

One process only: data-parallel training (:mod:`rnnkit.distributed`) shards
windows and tuples of arrays, not padded pairs, and would have to weigh each
rank's mean per token by its token count; under an MPI launcher with several
processes :func:`train` refuses to start.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from rnnkit import distributed
from rnnkit.runs.directory import RunDir
from rnnkit.runs.fit import fit_run, make_optimizer
from rnnkit.runs.seq2seq.batches import ModelBatches
from rnnkit.runs.seq2seq.config import (
    METRICS_FILE,
    RESUMABLE_CHANGES,
    RUN_FILES,
    Seq2SeqRunConfig,
    build_model,
    load_pairs,
    read_run_files,
    sentence_ends,
    write_run_files,
)
from rnnkit.runs.seq2seq.decoding import evaluate_pairs
from rnnkit.tasks.seq2seq_data import PairBatches, build_vocabularies, get_task
from rnnkit.trainer import TrainerConfig

__all__ = ["train"]


def _report(scores: dict, log_fn: Any, prefix: str = "validation") -> None:
    log_fn(
        f"{prefix}: exact match {scores['exact_match']:.4f}, token accuracy {scores['token_accuracy']:.4f}, "
        f"BLEU {scores['bleu']:.2f}"
    )


def _open_run(cfg: Seq2SeqRunConfig, out_dir, train_pairs, *, resume: bool, overwrite: bool) -> tuple:
    """(run directory, source vocabulary, target vocabulary): a new run's, or the resumed run's own."""
    if resume:
        run = RunDir.open(out_dir, needs=RUN_FILES, flag="--out", what="'rnnkit seq2seq train'")
        saved, src_vocab, tgt_vocab = read_run_files(run)
        diff = [
            f"{f.name}: {getattr(saved, f.name)!r} -> {getattr(cfg, f.name)!r}"
            for f in fields(cfg)
            if f.name not in RESUMABLE_CHANGES and getattr(saved, f.name) != getattr(cfg, f.name)
        ]
        if diff:
            raise ValueError(f"--resume: {run.path} was trained with another config ({'; '.join(diff)})")
        run.write_config(cfg)  # the new budget and intervals
        return run, src_vocab, tgt_vocab
    target_tokens = get_task(cfg.task).target_tokens if cfg.task else None
    src_vocab, tgt_vocab = build_vocabularies(
        train_pairs, cfg.token_level, min_count=cfg.min_count, max_size=cfg.max_vocab, target_tokens=target_tokens
    )
    run = RunDir.create(out_dir, overwrite=overwrite)
    write_run_files(run, cfg, src_vocab, tgt_vocab)
    return run, src_vocab, tgt_vocab


def train(
    cfg: Seq2SeqRunConfig,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool = True,
    log_fn: Any = print,
) -> dict:
    """Train as ``cfg`` says into the run directory ``out_dir``; return the final validation scores.

    ``out_dir`` must not hold a run already unless ``overwrite``; ``resume``
    continues the run in ``out_dir`` from its last checkpoint, and its config
    must equal ``cfg`` apart from :data:`RESUMABLE_CHANGES`. The summary holds
    ``exact_match``, ``token_accuracy``, ``bleu``, ``count`` (validation pairs),
    ``steps`` and ``valid_loss`` (mean nats per target token).
    """
    if resume and overwrite:
        raise ValueError("train: resume and overwrite exclude each other, got both")
    if distributed.launched_size() > 1:
        raise ValueError(
            f"rnnkit seq2seq train: runs on one process, got {distributed.launched_size()} from an MPI launcher "
            "(data-parallel training is for 'rnnkit lm train')"
        )
    train_pairs, valid_pairs = load_pairs(cfg)  # data problems surface before anything is written
    run, src_vocab, tgt_vocab = _open_run(cfg, out_dir, train_pairs, resume=resume, overwrite=overwrite)
    level, ends = cfg.token_level, sentence_ends(cfg)
    model = build_model(cfg, src_vocab, tgt_vocab)
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
        max_minutes=cfg.max_minutes or None,
        clip_norm=cfg.clip_norm or None,
        log_every=cfg.log_every,
        eval_every=cfg.eval_every,
        checkpoint_every=cfg.checkpoint_every,
        progress=progress,
    )
    last: dict = {}

    def score(_result: dict) -> None:  # greedy decoding draws no random numbers: a resumed run stays bit-identical
        last.update(evaluate_pairs(model, src_vocab, tgt_vocab, cfg, valid_pairs))
        _report(last, log_fn)

    fit = fit_run(
        run,
        model,
        make_optimizer(cfg.optimizer, model, cfg.lr),
        tcfg,
        ModelBatches(train_src, cfg),
        ModelBatches(valid_src, cfg),
        title=f"{cfg.task or 'pairs'}: encoder-decoder",
        resume=resume,
        on_evaluate=score,
    )
    scores = {**last, "steps": fit.result.steps, "valid_loss": fit.final["loss"]}
    run.write_json(METRICS_FILE, scores)
    log_fn(f"after {fit.result.steps} updates: validation loss {fit.final['loss']:.4f} nats per token")
    if fit.plot:
        log_fn(f"learning curve: {fit.plot}")
    return scores
