"""``rnnkit ngram``: train, eval and sample through the entry point; one-line errors with exit status 2."""

import dataclasses
import json
import math

import pytest

from rnnkit.cli import main
from rnnkit.decoding import greedy
from rnnkit.lm import NGramLM, char_sentences, word_sentences
from rnnkit.runs import ngram as ngram_run
from rnnkit.runs.textscore import parse_text_score

TEXT = "".join(
    f"the {a} sat on the {b}\n"
    for a, b in zip(["cat", "dog", "bird", "fox"] * 40, ["mat", "log", "mat", "rug", "log"] * 32)
)
HELD = "the cat sat on the rug\nthe fox sat on the mat\nthe emu sat on the log\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("ngram")
    (d / "train.txt").write_text(TEXT, encoding="utf-8")
    (d / "held.txt").write_text(HELD, encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def word_model(files):
    out = files / "word"
    rc = main(
        [
            "ngram",
            "train",
            "--data",
            str(files / "train.txt"),
            "--order",
            "3",
            "--out",
            str(out),
            "--valid",
            str(files / "held.txt"),
        ]
    )
    assert rc == 0
    return out


def test_train_writes_a_model_directory(word_model, files, capsys):
    assert sorted(p.name for p in word_model.iterdir()) == [
        "manifest.json",
        "ngram.safetensors",
        "result.json",
        "run.json",
    ]
    cfg = json.loads((word_model / "run.json").read_text())
    assert cfg["order"] == 3 and cfg["smoothing"] == "kneser-ney" and cfg["level"] == "word"
    assert cfg["data"] == str(files / "train.txt")
    lm = NGramLM.load(word_model)
    assert lm.order == 3 and "emu" not in lm.vocab


def test_eval_reports_the_srilm_perplexity(word_model, files, capsys):
    assert main(["ngram", "eval", "--run", str(word_model), "--data", str(files / "held.txt")]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("tokens ")
    sents = word_sentences(HELD)
    expected = NGramLM.load(word_model).perplexity(sents)
    score = parse_text_score(out)
    assert score["ppl"] == pytest.approx(expected, abs=1e-4)
    assert (score["tokens"], score["sentences"], score["oov"]) == (21, 3, 1)  # 18 words + one </s> per line
    fresh = NGramLM(3, "kneser-ney").fit(word_sentences(TEXT))  # training again gives the same model
    assert fresh.perplexity(sents) == expected


def test_sample_is_seeded_and_starts_with_the_prompt(word_model, capsys):
    argv = ["ngram", "sample", "--run", str(word_model), "--prompt", "the dog", "--length", "25", "--seed", "4"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    lines = first.count("\n")  # every line but maybe the last ended in a sampled </s>
    assert first.startswith("the dog ") and 2 + 25 - lines <= len(first.split()) <= 2 + 25 - lines + 1
    main(argv)
    assert capsys.readouterr().out == first
    main(argv[:-1] + ["5"])
    assert capsys.readouterr().out != first
    assert main(["ngram", "sample", "--run", str(word_model), "--prompt", "the", "--beam", "4"]) == 0
    best = capsys.readouterr().out.strip()
    assert best.startswith("the ") and best.count("\n") == 0 and "sat on the" in best
    assert main(["ngram", "sample", "--run", str(word_model), "--top-k", "1", "--length", "6"]) == 0
    lm = NGramLM.load(word_model)
    expected = lm.vocab.decode(greedy(lm, [lm.vocab.bos_id] * 2, 6))  # top-k 1 is greedy
    assert capsys.readouterr().out.split() == expected and expected[2:5] == ["sat", "on", "the"]


def test_character_level_with_mle_and_laplace(files, capsys):
    out = files / "char"
    assert (
        main(
            [
                "ngram",
                "train",
                "--data",
                str(files / "train.txt"),
                "--level",
                "char",
                "--order",
                "4",
                "--smoothing",
                "laplace",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["ngram", "eval", "--run", str(out), "--data", str(files / "held.txt")]) == 0
    ppl = parse_text_score(capsys.readouterr().out)["ppl"]
    assert ppl == pytest.approx(NGramLM.load(out).perplexity(char_sentences(HELD)), abs=1e-4)
    assert main(["ngram", "sample", "--run", str(out), "--prompt", "the c", "--length", "40", "--seed", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("the c") and len(text.replace("<unk>", "?").replace("\n", "")) <= 5 + 40
    mle = files / "mle"
    assert (
        main(
            [
                "ngram",
                "train",
                "--data",
                str(files / "train.txt"),
                "--smoothing",
                "mle",
                "--order",
                "2",
                "--out",
                str(mle),
            ]
        )
        == 0
    )
    assert main(["ngram", "eval", "--run", str(mle), "--data", str(files / "held.txt")]) == 0
    assert (
        capsys.readouterr().out.split("\n")[-2].endswith("perplexity inf (a token has probability 0 under this model)")
    )


def test_the_built_in_corpus_is_the_default(tmp_path, capsys):
    assert (
        main(
            [
                "ngram",
                "train",
                "--order",
                "2",
                "--builtin-chars",
                "20000",
                "--min-count",
                "2",
                "--out",
                str(tmp_path / "b"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("word-level 2-gram kneser-ney: vocabulary") and "--- sample ---" in out
    assert json.loads((tmp_path / "b" / "run.json").read_text())["data"] is None


def test_flags_come_from_the_config_dataclass():
    from rnnkit.cli import build_parser

    sub = build_parser()._subparsers._group_actions[0].choices["ngram"]
    help_text = sub._subparsers._group_actions[0].choices["train"].format_help()
    for f in dataclasses.fields(ngram_run.NGramTrainConfig):
        assert "--" + f.name.replace("_", "-") in help_text


def test_errors_are_one_line_with_status_2(word_model, files, tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\xfe\n")
    empty = tmp_path / "empty.txt"
    empty.write_text(" \n\n")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "run.json").write_text((word_model / "run.json").read_text())
    (broken / "ngram.safetensors").write_bytes((word_model / "ngram.safetensors").read_bytes()[:200])
    lm_run = tmp_path / "lm_run"
    lm_run.mkdir()
    (lm_run / "run.json").write_text(json.dumps({"level": "word", "cell": "lstm"}))
    train = str(files / "train.txt")
    cases = [
        (
            ["ngram", "train", "--data", train, "--smoothing", "good-turing"],
            "argument --smoothing: invalid choice: 'good-turing'",
        ),
        (["ngram", "train", "--data", train, "--order", "0"], "--order must be >= 1, got 0"),
        (["ngram", "train", "--data", train, "--order", "three"], "--order: must be an integer, got 'three'"),
        (["ngram", "train", "--data", train, "--smoothing", "witten-bell", "--delta", "0.5"], "delta is only used by"),
        (["ngram", "train", "--data", train, "--level", "byte"], "argument --level: invalid choice: 'byte'"),
        (["ngram", "train", "--data", str(tmp_path / "missing.txt")], "--data: no such file"),
        (["ngram", "train", "--data", str(empty), "--out", str(tmp_path / "o")], "is empty"),
        (["ngram", "train", "--data", str(bad), "--out", str(tmp_path / "o")], "is not UTF-8 text (byte 3 is 0xff)"),
        (["ngram", "eval", "--run", str(word_model), "--data", str(bad)], "is not UTF-8 text"),
        (["ngram", "eval", "--run", str(tmp_path / "nowhere"), "--data", train], "--run: no such directory"),
        (["ngram", "eval", "--run", str(tmp_path), "--data", train], "not a run directory of 'rnnkit ngram train'"),
        (["ngram", "sample", "--run", str(lm_run)], "(ngram.safetensors is missing)"),
        (["ngram", "sample", "--run", str(broken)], "ngram.safetensors: header length field says"),
        (["ngram", "sample", "--run", str(word_model), "--top-p", "1.5"], "--top-p must be > 0 and <= 1"),
        (["ngram", "sample", "--run", str(word_model), "--length", "0"], "--length must be >= 1"),
        (["ngram", "sample", "--run", str(word_model), "--temperature", "-1"], "--temperature must be >= 0"),
        (["ngram", "eval", "--run", str(word_model)], "the following arguments are required: --data"),
        (["ngram"], "a command is required"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err, (argv, err)
    assert not (tmp_path / "o").exists()  # nothing written when the input is bad


def test_generate_helper_round_trip(word_model):
    lm, level = ngram_run.load_run(word_model)
    a = ngram_run.generate(lm, level, "the", length=10, seed=0)
    assert a == ngram_run.generate(lm, level, "the", length=10, seed=0)
    assert math.isfinite(lm.perplexity(word_sentences(a)))
