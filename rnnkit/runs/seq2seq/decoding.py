"""Use a trained encoder-decoder: load a run, translate, score; what ``rnnkit seq2seq translate|eval`` run.

Decoding goes through :mod:`rnnkit.seq2seq.search` (greedy for all sources at
once, or :func:`rnnkit.decoding.beam_search` per source). Scores
(:mod:`rnnkit.metrics`): exact match and token accuracy compare the
detokenised output with the reference (characters for a char-level run, words
for a word-level one); BLEU is corpus BLEU-4 as sacrebleu defines it, on the
detokenised strings.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rnnkit import decoding
from rnnkit._validate import check_positive_int
from rnnkit.checkpoint import load_checkpoint
from rnnkit.metrics import corpus_bleu, exact_match, token_accuracy
from rnnkit.runs.directory import RunDir
from rnnkit.runs.seq2seq.batches import to_model_batch
from rnnkit.runs.seq2seq.config import RUN_FILES, Seq2SeqRunConfig, build_model, read_run_files, sentence_ends
from rnnkit.seq2seq import search
from rnnkit.seq2seq.model import Seq2Seq, Seq2SeqBatch
from rnnkit.tasks.multi_sentence import split_sentences
from rnnkit.tasks.seq2seq_data import detokenize, make_batch, tokenize
from rnnkit.tasks.tsv import read_tsv
from rnnkit.text.vocab import Vocabulary

__all__ = [
    "Run",
    "load_run",
    "Hypothesis",
    "decode_batch",
    "Translation",
    "translate_pairs",
    "score_outputs",
    "evaluate_pairs",
    "translate",
    "evaluate",
    "output_words",
]


@dataclass
class Run:
    """A trained run loaded from its directory."""

    path: Path
    config: Seq2SeqRunConfig
    source_vocab: Vocabulary
    target_vocab: Vocabulary
    model: object  # rnnkit.seq2seq.Seq2Seq


@dataclass
class Hypothesis:
    """One decoded output of a source: ids over the extended vocabulary, log-probability, attention (n, S)."""

    tokens: object  # (n,) int array, the stop id included when reached
    logprob: float
    attention: object  # (n, S) array, or None without attention


def decode_batch(model: Seq2Seq, batch: Seq2SeqBatch, *, beam: int = 1, nbest: int = 1, max_length: int = 100) -> list:
    """Per source of the model batch ``batch``, up to ``nbest`` :class:`Hypothesis` objects, best first.

    ``beam == 1`` decodes greedily (all sources side by side); otherwise beam search per source
    (rnnkit.decoding.beam_search through rnnkit.seq2seq.search), each output rescored by forced decoding
    for its log-probability and attention.
    """
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


# -- use a trained model --------------------------------------------------------------------------------
def load_run(run_dir: str | Path) -> Run:
    """A run directory written by :func:`rnnkit.runs.seq2seq.train`, with its model in evaluation mode."""
    run = RunDir.open(run_dir, needs=RUN_FILES, what="'rnnkit seq2seq train'")
    cfg, src_vocab, tgt_vocab = read_run_files(run)
    model = build_model(cfg, src_vocab, tgt_vocab)
    ckpt = load_checkpoint(run.checkpoint_dir, expected_config=model.config())
    ckpt.load_into(model)
    return Run(run.path, cfg, src_vocab, tgt_vocab, model.eval())


@dataclass
class Translation:
    """One output for one source: its text, tokens, log-probability and attention (T_out, S)."""

    source_tokens: list  # what the attention ranges over: source tokens, or sentences (hierarchical)
    tokens: list  # the output tokens, without </s>
    text: str
    score: float
    attention: object  # (T_out, S) array, or None without attention; a last row for </s> when finished
    finished: bool = True  # False: cut at max_output_length before </s>


def output_words(ids: Iterable[int], tgt_vocab: Vocabulary, oov: list) -> tuple[list[str], bool]:
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
    return [detokenize(x, cfg.token_level) for x in split_sentences(tokens, sentence_ends(cfg))]


def translate_pairs(
    model: Seq2Seq,
    src_vocab: Vocabulary,
    tgt_vocab: Vocabulary,
    cfg: Seq2SeqRunConfig,
    sources: Sequence[str],
    *,
    beam: int = 1,
    nbest: int = 1,
    batch_size: int = 64,
) -> list:
    """Per source string, ``nbest`` :class:`Translation` objects, best first."""
    level = cfg.token_level
    for i, s in enumerate(sources):
        if not s.strip():
            raise ValueError(f"translate: sources must be non-empty, got {s!r} as source {i + 1}")
    out = []
    for start in range(0, len(sources), batch_size):
        chunk = sources[start : start + batch_size]
        # the sources stand in as targets: decoding never reads them
        batch = make_batch([(s, s) for s in chunk], src_vocab, tgt_vocab, level, sentence_ends=sentence_ends(cfg))
        hyps = decode_batch(model, to_model_batch(batch, cfg), beam=beam, nbest=nbest, max_length=cfg.max_output_length)
        for b, (s, per) in enumerate(zip(chunk, hyps)):
            row = []
            for h in per:
                words, finished = output_words(h.tokens, tgt_vocab, batch.oov_tokens[b])
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


def evaluate_pairs(
    model: Seq2Seq,
    src_vocab: Vocabulary,
    tgt_vocab: Vocabulary,
    cfg: Seq2SeqRunConfig,
    pairs: Sequence[tuple[str, str]],
    *,
    beam: int = 1,
) -> dict:
    """Decode the sources of ``pairs`` and score the outputs against their targets."""
    outputs = translate_pairs(model, src_vocab, tgt_vocab, cfg, [s for s, _ in pairs], beam=beam)
    return score_outputs([o[0].text for o in outputs], [t for _, t in pairs], cfg.token_level)


def translate(run: Run, sources: Iterable[str], *, beam: int = 1, nbest: int = 1) -> list:
    """Translate source strings with a loaded run (see :func:`translate_pairs`)."""
    check_positive_int("translate", "beam", beam)
    check_positive_int("translate", "nbest", nbest)
    if nbest > beam:
        raise ValueError(f"translate: nbest must be <= beam = {beam}, got {nbest}")
    return translate_pairs(
        run.model, run.source_vocab, run.target_vocab, run.config, list(sources), beam=beam, nbest=nbest
    )


def evaluate(run: Run, data: str | os.PathLike, *, beam: int = 1) -> dict:
    """Exact match, token accuracy and BLEU of a loaded run on a TSV file."""
    cfg = run.config
    pairs = read_tsv(
        data, level=cfg.token_level, max_source_length=cfg.max_source_length, max_target_length=cfg.max_target_length
    )
    return evaluate_pairs(run.model, run.source_vocab, run.target_vocab, cfg, pairs, beam=beam)
