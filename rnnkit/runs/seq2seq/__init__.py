"""Train, evaluate and use encoder-decoders: what ``rnnkit seq2seq train|translate|eval`` runs.

A run directory (:class:`rnnkit.runs.RunDir`) holds everything a trained model needs::

    RUN/
        run.json              the resolved Seq2SeqRunConfig of the run
        source_vocab.json     the source vocabulary (rnnkit.text.Vocabulary, <pad> <unk> <s> </s> first)
        target_vocab.json     the target vocabulary
        checkpoints/          model, optimiser, trainer and RNG state (rnnkit.checkpoint)
        log.jsonl             one record per log interval and per evaluation (the Trainer's)
        learning_curve.png    train and validation loss against updates (with matplotlib)
        metrics.json          exact match, token accuracy and BLEU on the validation pairs, after training

By concern:

- :mod:`rnnkit.runs.seq2seq.config`: :class:`Seq2SeqRunConfig` (the flags of
  ``train``), the data it names, the model it describes, the run's files;
- :mod:`rnnkit.runs.seq2seq.batches`: the model's batches of a run;
- :mod:`rnnkit.runs.seq2seq.training`: :func:`train`, through :func:`rnnkit.runs.fit.fit_run`;
- :mod:`rnnkit.runs.seq2seq.decoding`: :func:`load_run`, :func:`translate`, :func:`evaluate`.

Example
-------
>>> import tempfile, os
>>> from rnnkit.runs import seq2seq
>>> out = os.path.join(tempfile.mkdtemp(), "run")
>>> cfg = seq2seq.Seq2SeqRunConfig(task="reverse", train_size=8, valid_size=2, epochs=1, hidden_size=8,
...                                embedding_size=4)
>>> scores = seq2seq.train(cfg, out, progress=False, log_fn=lambda line: None)
>>> sorted(scores)
['bleu', 'count', 'exact_match', 'rank', 'steps', 'token_accuracy', 'valid_loss']
>>> run = seq2seq.load_run(out)
>>> len(seq2seq.translate(run, ["123"])[0][0].tokens) <= cfg.max_output_length
True
"""

from rnnkit.runs.seq2seq.batches import ModelBatches, to_model_batch
from rnnkit.runs.seq2seq.config import (
    METRICS_FILE,
    MODEL_FIELDS,
    RENAMED_FIELDS,
    RESUMABLE_CHANGES,
    RUN_FILES,
    SRC_VOCAB_FILE,
    TGT_VOCAB_FILE,
    Seq2SeqRunConfig,
    build_model,
    load_pairs,
    model_config,
    read_run_files,
    sentence_ends,
    write_run_files,
)
from rnnkit.runs.seq2seq.decoding import (
    Hypothesis,
    Run,
    Translation,
    decode_batch,
    evaluate,
    evaluate_pairs,
    load_run,
    output_words,
    score_outputs,
    translate,
    translate_pairs,
)
from rnnkit.runs.seq2seq.training import train

__all__ = [
    "Seq2SeqRunConfig",
    "RENAMED_FIELDS",
    "RESUMABLE_CHANGES",
    "MODEL_FIELDS",
    "RUN_FILES",
    "SRC_VOCAB_FILE",
    "TGT_VOCAB_FILE",
    "METRICS_FILE",
    "load_pairs",
    "sentence_ends",
    "write_run_files",
    "read_run_files",
    "model_config",
    "build_model",
    "to_model_batch",
    "ModelBatches",
    "train",
    "Run",
    "load_run",
    "Hypothesis",
    "decode_batch",
    "Translation",
    "translate_pairs",
    "output_words",
    "score_outputs",
    "evaluate_pairs",
    "translate",
    "evaluate",
]
