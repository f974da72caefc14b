"""Train an encoder-decoder into a run directory: what ``rnnkit seq2seq train`` runs.

The data are read and checked first; then the run directory is created
(:meth:`rnnkit.runs.RunDir.create`: refused if it holds a run, unless
``overwrite``) or, with ``resume``, opened and its config compared with the new
one. Training is :func:`rnnkit.runs.fit.fit_run` (the Trainer: progress bar,
checkpoints every ``checkpoint_every`` updates, the log, the learning curve);
each validation (every ``eval_every`` updates, and the final one) also decodes
the validation pairs greedily and reports exact match, token accuracy and BLEU,
which end in metrics.json.

Under an MPI launcher (``mpirun -n 4 rnnkit seq2seq train ...``) the run is
data-parallel (:mod:`rnnkit.distributed`): every rank builds the same model and
takes its share of the examples of every batch
(:meth:`rnnkit.seq2seq.Seq2SeqBatch.rows`: the batch's padding and extended
vocabulary kept, so a copied word's id means the same on every rank). The
loss is a mean per target token, and shards hold different numbers of target
tokens, so the ranks' gradients are weighted by token count, not averaged::

    g = sum_r (n_r / n) g_r      g_r = grad of rank r's mean loss per token over its n_r tokens, n = sum_r n_r

which is the gradient of the combined batch's mean per token (the coverage
loss, summed over the same tokens, included); n travels with the loss sum in
the gradients' reduction
(:class:`rnnkit.distributed.DistributedTrainer` with ``weight_by_count``).
With dropout and zoneout masks drawn as rows of the combined batch's masks,
two processes train the weights one process trains on the combined batch (to
rounding). Scheduled sampling draws its samples per rank, and so does the
word-level dropout of a hierarchical encoder (its sentences of all examples
lie side by side, not in the examples' rows): such runs are correct but not
those of one process.

Batches need not divide among the ranks: a batch of B examples gives the
first B mod p ranks one example more, and a rank whose share of a short
batch is empty runs the forward pass for its random draws and adds nothing
(count 0), so ``--batch-size`` may be any size and the last, ragged batch of
an epoch needs no special flag.

Validation is collective too: the loss is summed over every rank's shard of
the validation batches; for exact match, token accuracy and BLEU each rank
decodes its share of the validation pairs and every rank scores all the
outputs, gathered. Early stopping and the time budget are decided together
(the DistributedTrainer's machinery); rank 0 alone creates the run directory
and writes the log, checkpoints and metrics, and ``resume`` restarts every rank
from the same checkpoint (with the same number of processes).
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from rnnkit import distributed
from rnnkit.distributed.shard import split
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
from rnnkit.runs.seq2seq.decoding import score_outputs, translate_pairs
from rnnkit.tasks.seq2seq_data import PairBatches, build_vocabularies, get_task
from rnnkit.trainer import TrainerConfig

__all__ = ["train"]


def _report(scores: dict, log_fn: Any, prefix: str = "validation") -> None:
    log_fn(
        f"{prefix}: exact match {scores['exact_match']:.4f}, token accuracy {scores['token_accuracy']:.4f}, "
        f"BLEU {scores['bleu']:.2f}"
    )


def _quiet(*args: Any, **kwargs: Any) -> None:
    """The log function of every rank but 0."""


def _open_run(cfg: Seq2SeqRunConfig, out_dir, train_pairs, *, resume: bool, overwrite: bool, rank: int = 0) -> tuple:
    """(run directory, source vocabulary, target vocabulary): a new run's, or the resumed run's own.

    Only rank 0 creates or changes the directory; the other ranks of a
    data-parallel run (once rank 0 is done) read a resumed run's
    vocabularies, or build a new run's from the same pairs as rank 0 does.
    """
    if rank != 0:
        if resume:
            _, src_vocab, tgt_vocab = read_run_files(
                RunDir.open(out_dir, needs=RUN_FILES, flag="--out", what="'rnnkit seq2seq train'")
            )
            return RunDir(out_dir, flag="--out"), src_vocab, tgt_vocab
        return RunDir(out_dir, flag="--out"), *_vocabularies(cfg, train_pairs)
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
    src_vocab, tgt_vocab = _vocabularies(cfg, train_pairs)
    run = RunDir.create(out_dir, overwrite=overwrite)
    write_run_files(run, cfg, src_vocab, tgt_vocab)
    return run, src_vocab, tgt_vocab


def _vocabularies(cfg: Seq2SeqRunConfig, train_pairs) -> tuple:
    target_tokens = get_task(cfg.task).target_tokens if cfg.task else None
    return build_vocabularies(
        train_pairs, cfg.token_level, min_count=cfg.min_count, max_size=cfg.max_vocab, target_tokens=target_tokens
    )


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
    ``steps``, ``valid_loss`` (mean nats per target token) and ``rank`` (the
    process that returns it: 0 on one process).

    Under an MPI launcher with several processes the run is data-parallel
    (see the module docstring): every rank returns the same scores, rank 0
    alone writes into ``out_dir`` and reports, and an error on any rank ends
    every rank.
    """
    if resume and overwrite:
        raise ValueError("train: resume and overwrite exclude each other, got both")
    comm = distributed.init()  # None on one process; imports no MPI code then
    with distributed.guard(comm):  # an error on one rank (a bad file, say) ends every rank, none waits
        return _train(cfg, out_dir, comm, overwrite=overwrite, resume=resume, progress=progress, log_fn=log_fn)


def _train(cfg: Seq2SeqRunConfig, out_dir, comm, *, overwrite: bool, resume: bool, progress: bool, log_fn) -> dict:
    rank, size = (0, 1) if comm is None else (comm.rank, comm.size)
    if rank != 0:
        log_fn = _quiet  # one process reports
    train_pairs, valid_pairs = load_pairs(cfg)  # data problems surface before anything is written
    if rank == 0:
        run, src_vocab, tgt_vocab = _open_run(cfg, out_dir, train_pairs, resume=resume, overwrite=overwrite)
    if comm is not None:
        comm.barrier()  # rank 0 has written the run's files (a resumed run.json, with its manifest entry)
    if rank != 0:
        run, src_vocab, tgt_vocab = _open_run(cfg, out_dir, train_pairs, resume=resume, overwrite=overwrite, rank=rank)
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
        + (f", {size} processes" if comm is not None else "")
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
    lo, hi = split(len(valid_pairs), rank, size, even=False)  # this rank's share of the pairs to decode
    references = [t for _, t in valid_pairs]

    def score(_result: dict) -> None:  # greedy decoding draws no random numbers: a resumed run stays bit-identical
        outputs = translate_pairs(model, src_vocab, tgt_vocab, cfg, [s for s, _ in valid_pairs[lo:hi]])
        texts = [o[0].text for o in outputs]
        if comm is not None:  # every rank scores every output, in the pairs' order
            texts = [t for part in comm.allgather_json(texts) for t in part]
        last.update(score_outputs(texts, references, cfg.token_level))
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
        comm=comm,
        weight_by_count=True,  # the loss is a mean per target token; shards hold different token counts
        seed=cfg.seed,
        on_evaluate=score,
    )
    scores = {**last, "steps": fit.result.steps, "valid_loss": fit.final["loss"]}
    if rank == 0:
        run.write_json(METRICS_FILE, scores)
    log_fn(f"after {fit.result.steps} updates: validation loss {fit.final['loss']:.4f} nats per token")
    if fit.plot:
        log_fn(f"learning curve: {fit.plot}")
    return {**scores, "rank": rank}
