"""Trained models read back from runs, for analysis: any kind, from a run or checkpoint directory.

``load_trained_model(path)`` accepts a run directory (holding
``checkpoints/``), a checkpoint directory (holding ``latest``) or one
``ckpt-<n>``, and builds the model the checkpoint's config names: the
language model (kind "rnnlm") or the task models of ``rnnkit longrange``
(kinds "sequence_regressor", "sequence_classifier"). ``analysis_inputs``
makes the inputs (T, B, D) the recurrent layer of such a model reads: a text
encoded with the run's vocabulary, an ``.npy`` array, or fresh data of the
task the model was trained on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.checkpoint import load_checkpoint
from rnnkit.lm.rnnlm import RNNLM
from rnnkit.runs.directory import CHECKPOINT_DIR, VOCAB_FILE, RunDir
from rnnkit.tasks.models import KINDS, task_model_from_config
from rnnkit.text.corpus import file_kind, read_text
from rnnkit.text.data import batchify, char_tokens, word_tokens

__all__ = ["checkpoint_dir", "load_trained_model", "find_vocab", "text_inputs", "task_inputs"]


def checkpoint_dir(path: str | Path, flag: str = "--run") -> Path:
    """The checkpoint directory under ``path`` (a run directory or a checkpoint directory)."""
    p = Path(path)
    if not p.is_dir():
        kind = file_kind(p)
        if kind == "nothing":
            raise FileNotFoundError(f"{flag} {path}: no such directory")
        raise NotADirectoryError(f"{flag} {path}: is {kind}, not a run or checkpoint directory")
    if not (p / "latest").exists() and (p / CHECKPOINT_DIR / "latest").exists():
        return p / CHECKPOINT_DIR
    return p


def load_trained_model(path: str | Path, flag: str = "--run") -> tuple[Any, dict, Path]:
    """(model in eval mode, its config dict, the checkpoint directory) of the checkpoint under ``path``."""
    d = checkpoint_dir(path, flag)
    ckpt = load_checkpoint(d)
    kind = ckpt.config.get("kind")
    if kind == "rnnlm":
        model = RNNLM.from_config(ckpt.config)
    elif kind in KINDS:
        model = task_model_from_config(ckpt.config)
    else:
        raise ValueError(f"{ckpt.path}: unknown model kind {kind!r}; expected rnnlm, " + ", ".join(KINDS))
    ckpt.load_into(model)
    model.eval()
    return model, ckpt.config, d


def find_vocab(d: Path) -> Path:
    """The vocab.json of the run a checkpoint directory ``d`` belongs to (``d`` or one of its two parents)."""
    for p in (d, d.parent, d.parent.parent):
        if (p / VOCAB_FILE).is_file():
            return p / VOCAB_FILE
    raise FileNotFoundError(
        f"no vocab.json beside the checkpoint {d} (looked in {d} and its two parents); the language "
        "model's vocabulary is needed to encode --data"
    )


def text_inputs(model: RNNLM, d: Path, data: str, length: int, batch: int) -> np.ndarray:
    """The embedded text ``data`` (T, B, E) for the LM whose checkpoints are in ``d``: what its RNN reads."""
    vocab = RunDir(find_vocab(d).parent).read_vocab()  # checked against the run's manifest
    text = read_text(data)
    specials = {vocab.unk_token, vocab.eos_token, vocab.pad_token, vocab.bos_token}
    chars = all(len(t) == 1 for t in vocab.tokens if t not in specials)
    tokens = (char_tokens if chars else word_tokens)(text, eos=vocab.eos_token)
    ids = vocab.encode(tokens)[: length * batch]
    if len(ids) < 2:
        raise ValueError(f"--data {data}: needs at least 2 tokens, got {len(ids)}")
    cols = max(1, min(batch, len(ids) // 2))
    grid = batchify(ids, cols)  # (N, B)
    return model.embedding.forward(grid)  # (N, B, E): what the recurrent layer reads


def task_inputs(cfg: dict, data: str | None, batch: int, dtype: Any) -> np.ndarray:
    """Inputs (T, B, D) for a task model: the ``.npy`` file ``data``, or fresh data of the model's task."""
    from rnnkit.analysis.experiments import task_data

    if data is None:
        if not cfg.get("task") or not cfg.get("length"):
            raise ValueError("--data is required: the checkpoint does not say its task")
        x, _ = task_data(cfg["task"], batch, cfg["length"], np.random.default_rng(0))
        return x.astype(dtype)
    kind = file_kind(data)
    if kind != "a file":
        raise ValueError(f"--data {data}: " + ("no such file" if kind == "nothing" else f"is {kind}, not a file"))
    try:
        x = np.load(data, allow_pickle=False)
    except (ValueError, EOFError, OSError) as e:
        detail = " ".join(str(e).split()) or "the file is empty"
        raise ValueError(f"--data {data}: not a .npy array of numbers ({detail})") from None
    if not isinstance(x, np.ndarray):  # an .npz archive
        if hasattr(x, "close"):
            x.close()
        raise ValueError(f"--data {data}: an .npz archive; give one .npy array of inputs (T, B, D)")
    if x.dtype.kind not in "biuf" or not np.isfinite(x).all():
        raise ValueError(f"--data {data}: the inputs must be finite numbers, got dtype {x.dtype}")
    if x.ndim != 3 or x.shape[2] != cfg["input_size"]:
        raise ValueError(f"--data {data}: expected inputs of shape (T, B, {cfg['input_size']}), got {tuple(x.shape)}")
    return x.astype(dtype)
