"""The run directory: refused when it holds a run, replaced with overwrite, config and vocab round trips."""

import json
from dataclasses import dataclass

import pytest

from rnnkit.io import CheckpointError
from rnnkit.runs import RunDir
from rnnkit.runs.directory import RUN_ENTRIES
from rnnkit.runs.lm import RENAMED_FIELDS, LMTrainConfig
from rnnkit.text import Vocabulary


@dataclass(frozen=True)
class Cfg:
    order: int = 3
    level: str = "word"


def test_create_refuses_a_run_and_overwrite_removes_only_run_entries(tmp_path):
    run = RunDir.create(tmp_path / "r")
    run.write_config(Cfg(order=4))
    (run.checkpoint_dir / "ckpt-00000001").mkdir(parents=True)
    (run.path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"already holds a run \(run.json\); pass --overwrite"):
        RunDir.create(run.path)
    again = RunDir.create(run.path, overwrite=True)
    assert sorted(p.name for p in again.path.iterdir()) == ["notes.txt"]
    assert "notes.txt" not in RUN_ENTRIES


def test_create_refuses_a_file_and_creates_parents(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError, match="--out: .* is a file"):
        RunDir.create(tmp_path / "f")
    assert RunDir.create(tmp_path / "a" / "b").path.is_dir()


def test_open_names_the_flag_and_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="--run: no such directory"):
        RunDir.open(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match=r"not a run directory of 'x' \(vocab.json is missing\)"):
        RunDir.open(tmp_path, needs=("vocab.json",), what="'x'")


def test_config_and_vocab_round_trip_and_renamed_fields_load(tmp_path):
    run = RunDir.create(tmp_path / "r")
    run.write_config(Cfg(order=7, level="char"))
    assert run.read_config(Cfg) == Cfg(order=7, level="char")
    vocab = Vocabulary.from_tokens("a b a <eos>".split())
    run.write_vocab(vocab)
    assert run.read_vocab() == vocab
    run.manifest_path.unlink()  # a run written before manifests existed is read unchecked
    old = {"layers": 3, "tie": True, "embedding_size": 8, "hidden_size": 8, "clip": 0.5, "minutes": 0}
    run.config_path.write_text(json.dumps(old))
    cfg = run.read_config(LMTrainConfig, renamed=RENAMED_FIELDS)
    assert (cfg.num_layers, cfg.tie_weights, cfg.clip_norm, cfg.max_minutes) == (3, True, 0.5, 0)
    run.config_path.write_text("[]")
    with pytest.raises(CheckpointError, match="expected a JSON object"):
        run.read_config(Cfg)


def test_named_vocabularies_json_files_and_strict_configs(tmp_path):
    run = RunDir.create(tmp_path / "r")
    src, tgt = Vocabulary.from_tokens("a b <eos>".split()), Vocabulary.from_tokens("x <eos>".split())
    run.write_vocab(src, "source_vocab.json")
    run.write_vocab(tgt, "target_vocab.json")
    assert run.read_vocab("source_vocab.json") == src and run.read_vocab("target_vocab.json") == tgt
    assert not run.vocab_path.exists()
    path = run.write_json("metrics.json", {"bleu": 12.5})
    assert json.loads(path.read_text()) == {"bleu": 12.5}
    with pytest.raises(ValueError, match=r"RunDir.write_json: name must be one of the run's files .*, got 'x.json'"):
        run.write_json("x.json", {})
    with pytest.raises(FileExistsError, match=r"already holds a run \(source_vocab.json\)"):
        RunDir.create(run.path)  # every file a run writes marks it as a run
    run.write_config({"order": 2, "colour": "red"})
    assert run.read_config(Cfg) == Cfg(order=2)
    with pytest.raises(CheckpointError, match=r"run.json has fields this rnnkit does not know: \['colour'\]"):
        run.read_config(Cfg, strict=True)
    assert sorted(p.name for p in RunDir.create(run.path, overwrite=True).path.iterdir()) == []


def test_an_edit_of_a_recorded_file_is_refused_naming_it(tmp_path):
    run = RunDir.create(tmp_path / "r")
    run.write_config(Cfg(order=7))
    run.write_vocab(Vocabulary.from_tokens("a b a <eos>".split()))
    run.config_path.write_text(run.config_path.read_text().replace("7", "8"))
    with pytest.raises(CheckpointError, match="run.json: changed since the run wrote it"):
        run.read_config(Cfg)
    text = run.vocab_path.read_text()
    run.vocab_path.write_text(text.replace('"a"', '"c"'))
    with pytest.raises(CheckpointError, match="vocab.json: changed since the run wrote it"):
        run.read_vocab()
    run.manifest_path.write_text(run.manifest_path.read_text().replace("rnnkit.run", "rnnkit.rum"))
    with pytest.raises(CheckpointError, match="manifest.json: damaged"):
        run.read_vocab()
