"""The run layer: one place that trains, evaluates and samples a model into a run directory.

The command line (:mod:`rnnkit.cli`) only parses flags and calls this layer;
the models (:mod:`rnnkit.lm`, :mod:`rnnkit.tasks`, :mod:`rnnkit.seq2seq`) never
import it. Modules:

- :mod:`rnnkit.runs.directory`: :class:`RunDir`, a run directory (create /
  refuse / overwrite, run.json, vocab.json, checkpoints, logs, the learning-curve
  plot; every write atomic).
- :mod:`rnnkit.runs.control`: :class:`RunControl` (resume, overwrite,
  init-from, checkpoint cadence, non-finite policy), :func:`open_run`, the
  SIGINT/SIGTERM stop, memory bounds.
- :mod:`rnnkit.runs.fit`: :func:`fit_run`, training any Trainer-protocol model
  into a run (Trainer, final evaluation, plot), and :func:`make_optimizer`.
- :mod:`rnnkit.runs.lm`: recurrent language models on text (``rnnkit lm``).
- :mod:`rnnkit.runs.ngram`: n-gram language models on text (``rnnkit ngram``).
- :mod:`rnnkit.runs.seq2seq`: encoder-decoders (``rnnkit seq2seq train|translate|eval``).
- :mod:`rnnkit.runs.models`: trained models read back for analysis (``rnnkit analyze``).
- :mod:`rnnkit.runs.demo`: the adding-problem demo (``rnnkit demo``).

Adding a kind of run (seq2seq, say)
-----------------------------------
A kind of run is one module ``rnnkit/runs/<kind>.py`` with the same four parts
as :mod:`rnnkit.runs.lm`:

1. a frozen config dataclass (``Seq2SeqTrainConfig``) whose fields are the
   flags of ``rnnkit <kind> train``: give each field
   ``metadata={"help": "A sentence.", "choices": (...)}`` and the CLI builds
   the flag (:func:`rnnkit.cli.common.add_config_flags`); validate in
   ``__post_init__``; keep renamed fields loadable with
   ``RunDir.read_config(cls, renamed={...})``;
2. ``train(cfg, out_dir, *, overwrite=False, progress=True, log_fn=print) -> dict``:
   read and check the data first, then ``RunDir.create(out_dir, overwrite=...)``,
   ``run.write_config(cfg)`` (and ``run.write_vocab`` for models over tokens;
   a model file the kind writes itself is recorded with ``run.record(name)``
   and read back through ``run.read_checked(name)``),
   build the model (a :class:`rnnkit.protocols.TrainableModel`: ``train_step`` /
   ``eval_step`` returning :class:`rnnkit.protocols.StepResult`) and its
   :class:`rnnkit.protocols.BatchSource` objects, and call
   :func:`rnnkit.runs.fit.fit_run`, which writes the log, the checkpoints and
   the plot; return a summary dict;
3. ``load_run(run_dir)``: ``RunDir.open(run_dir, needs=(...))``, the config,
   the vocabulary, the model from ``rnnkit.checkpoint.load_checkpoint(run.checkpoint_dir)``;
4. ``evaluate_text`` / ``generate`` (or their equivalents), the latter through
   :mod:`rnnkit.decoding` with the model's ``as_step_model()``.

Resume, overwrite, fine-tuning, checkpoints and signals are shared
(:mod:`rnnkit.runs.control`): ``train`` takes a
:class:`rnnkit.runs.control.RunControl`, opens its directory with
``run, resuming = open_run(out_dir, control, cfg)`` (a resume checks the
stored run.json against ``cfg``, naming the differing flag), passes
``**control.trainer_fields()`` to the TrainerConfig and ``resume=resuming``
to :func:`rnnkit.runs.fit.fit_run`, which turns SIGINT/SIGTERM into a
checkpoint, a plot and :class:`rnnkit.runs.control.RunInterrupted`; bound
sizes before allocating with :func:`rnnkit.runs.control.check_memory`.

Then ``rnnkit/cli/<kind>.py`` registers the sub-command: flags from the
config (:func:`rnnkit.cli.common.add_config_flags`), the run flags
(:func:`rnnkit.cli.common.add_run_flags`: ``--out``, ``--resume``,
``--overwrite``, ``--init-from``, ``--checkpoint-every``,
``--on-nonfinite``; :func:`rnnkit.cli.common.run_control_from_args`),
``--run DIR`` for everything that reads a run, and one call into the run
module per sub-command. ``rnnkit.cli.main`` prints RunInterrupted as the
command that resumes, with exit status 130.

Example
-------
>>> import tempfile, os
>>> from rnnkit.runs import ngram
>>> data = os.path.join(tempfile.mkdtemp(), "t.txt")
>>> _ = open(data, "w").write("the cat sat\\nthe dog sat\\n" * 20)
>>> out = os.path.join(os.path.dirname(data), "run")
>>> lm = ngram.train(ngram.NGramTrainConfig(data=data, order=2), out, log_fn=lambda line: None)
>>> model, level = ngram.load_run(out)
>>> model.order, level, sorted(os.listdir(out))
(2, 'word', ['manifest.json', 'ngram.safetensors', 'result.json', 'run.json'])
"""

from rnnkit.runs.directory import RunDir

__all__ = ["RunDir"]
