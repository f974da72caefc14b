"""The seq2seq run layer without a model: config checks, data loading, run files, scores of outputs."""

import json

import pytest

from rnnkit.io import CheckpointError
from rnnkit.runs import RunDir
from rnnkit.runs.seq2seq import (
    Seq2SeqRunConfig,
    load_pairs,
    read_run_files,
    score_outputs,
    write_run_files,
)
from rnnkit.tasks.seq2seq_data import build_vocabularies


def test_config_checks():
    assert Seq2SeqRunConfig().token_level == "char"
    assert Seq2SeqRunConfig(task="copy").token_level == "word"
    assert Seq2SeqRunConfig(task=None, data="x.tsv", level="word").token_level == "word"
    assert Seq2SeqRunConfig(task=None).task == "dates"  # the default task, unless data is given
    with pytest.raises(ValueError, match="give task or data, not both"):
        Seq2SeqRunConfig(task="dates", data="x.tsv")
    with pytest.raises(ValueError, match="task must be one of 'dates', 'reverse', 'sort', 'copy', 'multi', got 'x'"):
        Seq2SeqRunConfig(task="x")
    with pytest.raises(ValueError, match="copy needs attention"):
        Seq2SeqRunConfig(copy=True, attention="none")
    with pytest.raises(ValueError, match="lr must be a number > 0, got 0"):
        Seq2SeqRunConfig(lr=0)
    with pytest.raises(ValueError, match="dropout must be in"):
        Seq2SeqRunConfig(dropout=1.5)


def test_task_validation_pairs_are_drawn_apart_from_training():
    cfg = Seq2SeqRunConfig(task="dates", train_size=300, valid_size=50, seed=4)
    train, valid = load_pairs(cfg)
    assert len(train) == 300 and len(valid) == 50 and train[:50] != valid
    assert load_pairs(cfg) == (train, valid)


def test_tsv_hold_out(tmp_path):
    p = tmp_path / "d.tsv"
    p.write_text("".join(f"{i}\t{i}{i}\n" for i in range(40)))
    train, valid = load_pairs(Seq2SeqRunConfig(task=None, data=str(p), valid_fraction=0.1))
    assert len(train) == 36 and valid == [(str(i), f"{i}{i}") for i in range(36, 40)]
    one = tmp_path / "one.tsv"
    one.write_text("a\tb\n")
    with pytest.raises(ValueError, match="needs at least 2 lines"):
        load_pairs(Seq2SeqRunConfig(task=None, data=str(one)))


def test_run_files_round_trip_and_refusals(tmp_path):
    cfg = Seq2SeqRunConfig(task="reverse", hidden_size=16)
    sv, tv = build_vocabularies([("12", "21")], "char")
    write_run_files(RunDir.create(tmp_path), cfg, sv, tv)
    assert read_run_files(tmp_path) == (cfg, sv, tv)
    doc = json.loads((tmp_path / "run.json").read_text())
    assert doc["hidden_size"] == 16  # run.json is the config itself, as every kind of run writes it
    RunDir.open(tmp_path).write_config({**doc, "colour": "red"})  # recorded, so only the field is wrong
    with pytest.raises(CheckpointError, match=r"unreadable run files: run.json has fields .* \['colour'\]"):
        read_run_files(tmp_path)
    old = {k: v for k, v in doc.items() if k not in ("clip_norm", "max_minutes")}
    RunDir.open(tmp_path).write_config({**old, "clip": 0.5, "minutes": 2.0})  # the earlier names
    again = read_run_files(tmp_path)[0]
    assert (again.clip_norm, again.max_minutes) == (0.5, 2.0)
    (tmp_path / "run.json").write_text("{not json")  # an edit the manifest catches before the parse
    with pytest.raises(CheckpointError, match="run.json: changed since the run wrote it"):
        read_run_files(tmp_path)


def test_score_outputs():
    s = score_outputs(["2026-11-24", "2026-11-25"], ["2026-11-24", "2026-11-24"], "char")
    assert s["exact_match"] == 0.5 and s["token_accuracy"] == pytest.approx(19 / 20) and s["count"] == 2
    assert 0 < s["bleu"] < 100
    w = score_outputs(["kilo , rama"], ["kilo , rama"], "word")
    assert w["exact_match"] == 1.0 and w["token_accuracy"] == 1.0 and w["bleu"] == pytest.approx(0.0)  # 3 tokens


def test_coverage_loss_weight_is_never_silently_ignored():
    assert Seq2SeqRunConfig(coverage=True).coverage_weight == 1.0  # See et al.'s lambda
    assert Seq2SeqRunConfig(coverage=True, coverage_loss_weight=0.25).coverage_weight == 0.25
    assert Seq2SeqRunConfig().coverage_weight == 0.0
    with pytest.raises(ValueError, match="coverage_loss_weight needs coverage"):
        Seq2SeqRunConfig(coverage_loss_weight=0.5)
    with pytest.raises(ValueError, match="coverage needs attention 'additive' or 'concat', got 'dot'"):
        Seq2SeqRunConfig(coverage=True, attention="dot")


def test_model_config_takes_every_model_field_by_name():
    from rnnkit.runs.seq2seq import MODEL_FIELDS, model_config

    cfg = Seq2SeqRunConfig(task="copy", copy=True, encoder_layers=2, decoder_layers=3, zoneout=0.1)
    sv, tv = build_vocabularies([("a b", "b")], "word")
    m = model_config(cfg, sv, tv)
    assert all(m[name] == getattr(cfg, name) for name in MODEL_FIELDS)
    assert (m["src_vocab_size"], m["tgt_vocab_size"]) == (len(sv), len(tv))
    assert (m["pad_id"], m["unk_id"], m["bos_id"], m["eos_id"]) == (0, 1, 2, 3)


def test_copied_ids_become_the_source_words():
    from rnnkit.runs.seq2seq import output_words

    _, tv = build_vocabularies([("a", ",")], "word", target_tokens=(",",))
    V = len(tv)
    ids = [V + 1, tv.index(","), V, tv.eos_id, V]
    assert output_words(ids, tv, ["kemaro", "tisulan"]) == (["tisulan", ",", "kemaro"], True)
    assert output_words([V], tv, ["kemaro"]) == (["kemaro"], False)  # cut before </s>


def test_every_field_has_a_help_sentence():
    import dataclasses

    for f in dataclasses.fields(Seq2SeqRunConfig):
        text = f.metadata.get("help", "")
        assert text[:1].isupper() and text.endswith(".") and text.count(". ") == 0, f.name
