"""``rnnkit lm train --preset`` and ``rnnkit ngram train --preset``: named recipes, overridden by typed flags;
``--adaptive-cutoffs``; ``--plateau-factor`` with ``--patience``; the same score line from ``lm eval`` and
``ngram eval``, each checked against a computation written here."""

import json
import math

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.runs import lm as lmrun
from rnnkit.runs import ngram as ngramrun
from rnnkit.runs.presets import LM_PRESETS, NGRAM_PRESETS
from rnnkit.runs.textscore import parse_text_score

WORDS = ["cat", "dog", "bird", "fox", "owl", "emu", "yak", "gnu", "elk", "ant", "bee", "cow"]
TEXT = "".join(f"the {WORDS[i % 12]} sat on the {WORDS[(i * 5) % 12]} mat\n" for i in range(120))
HELD = "the dog sat on the zebra mat\nthe owl sat on the cat mat\na yak sat\n"
TINY = ["--hidden-size", "8", "--embedding-size", "8", "--epochs", "1", "--max-minutes", "0"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("presets")
    (d / "train.txt").write_text(TEXT, encoding="utf-8")
    (d / "held.txt").write_text(HELD, encoding="utf-8")
    return d


def _lm_train(files, out, *flags):
    argv = ["lm", "train", "--data", str(files / "train.txt"), "--valid", str(files / "held.txt")]
    return main([*argv, "--out", str(files / out), "--overwrite", "--no-progress", *flags])


def test_preset_list_prints_every_preset_with_a_line(capsys):
    assert main(["lm", "train", "--preset", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(LM_PRESETS)
    assert main(["ngram", "train", "--preset", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(NGRAM_PRESETS)
    for name in ("ptb-small-lstm", "ptb-small-gru", "ptb-small-mgu", "ptb-small-rnn", "ptb-nnlm"):
        assert name in LM_PRESETS and LM_PRESETS[name].reference and LM_PRESETS[name].description
    with pytest.raises(SystemExit):
        main(["lm", "train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "overrides the preset's value" in text and "ptb-small-lstm:" in text


def test_every_preset_is_a_valid_config():
    for p in LM_PRESETS.values():
        assert set(p.values) <= {f for f in lmrun.LMTrainConfig.__dataclass_fields__}, p.name
        lmrun.LMTrainConfig(**p.values)
        assert "data" not in p.values and "valid" not in p.values
    for p in NGRAM_PRESETS.values():
        ngramrun.NGramTrainConfig(**p.values)
    with pytest.raises(TypeError):
        LM_PRESETS["ptb-nnlm"].values["lr"] = 1.0  # frozen data


def test_preset_fills_the_fields_and_a_typed_flag_wins(files):
    assert _lm_train(files, "zaremba", "--preset", "ptb-small-lstm", *TINY, "--bptt", "5", "--batch-size", "4") == 0
    cfg = json.loads((files / "zaremba" / "run.json").read_text())
    # Zaremba et al. (2014), small: 2 layers, SGD lr 1, clip 5, halved after epoch 4, init +-0.1, no dropout
    paper = {"cell": "lstm", "num_layers": 2, "optimizer": "sgd", "lr": 1.0, "clip_norm": 5.0, "lr_decay": 0.5}
    paper |= {"decay_start": 4, "init_range": 0.1, "dropout": 0.0, "level": "word"}
    assert {k: cfg[k] for k in paper} == paper
    assert (cfg["hidden_size"], cfg["epochs"], cfg["bptt"], cfg["batch_size"]) == (8, 1, 5, 4)  # the typed flags
    result = json.loads((files / "zaremba" / "result.json").read_text())
    assert result["preset"] == "ptb-small-lstm" and result["finished"]
    assert "--preset ptb-small-lstm" in result["command"] and result["command"].startswith("rnnkit lm train")


def test_an_unknown_preset_is_one_line_with_status_2(files, capsys):
    assert _lm_train(files, "bad", "--preset", "ptb-huge") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--preset must be one of" in err and "ptb-huge" in err
    assert main(["ngram", "train", "--preset", "kn9", "--out", str(files / "bad")]) == 2
    assert "--preset must be one of" in capsys.readouterr().err


def test_ngram_preset_and_its_result_file(files):
    out = files / "kn3"
    argv = ["ngram", "train", "--preset", "ptb-kn3", "--data", str(files / "train.txt")]
    assert main([*argv, "--valid", str(files / "held.txt"), "--out", str(out), "--order", "2"]) == 0
    cfg = json.loads((out / "run.json").read_text())
    assert (cfg["smoothing"], cfg["order"]) == ("kneser-ney", 2)  # --order overrides the preset's 3
    result = json.loads((out / "result.json").read_text())
    assert result["preset"] == "ptb-kn3" and result["valid"]["tokens"] == 3 * 1 + sum(
        len(s.split()) for s in HELD.splitlines()
    )
    assert len(result["ngrams"]) == 2 and result["parameters"] == sum(result["ngrams"])


def test_adaptive_cutoffs_train_and_evaluate(files, capsys):
    flags = ["--level", "word", *TINY, "--bptt", "5", "--batch-size", "4", "--num-layers", "1", "--hidden-size", "16"]
    assert _lm_train(files, "adaptive", *flags, "--adaptive-cutoffs", "4,9") == 0
    run = files / "adaptive"
    assert json.loads((run / "run.json").read_text())["adaptive_cutoffs"] == "4,9"
    model, vocab, _ = lmrun.load_run(run)
    assert tuple(model.cfg.adaptive_cutoffs) == (4, 9) and len(vocab) > 9
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert any(r["kind"] == "train" for r in log)
    capsys.readouterr()
    assert main(["lm", "eval", "--run", str(run), "--data", str(files / "held.txt")]) == 0
    score = parse_text_score(capsys.readouterr().out)
    assert math.isfinite(score["ppl"]) and 1 < score["ppl"] < len(vocab) * 10


@pytest.mark.parametrize(
    "value, words",
    [
        ("9,4", "increasing comma-separated integers"),
        ("a,b", "increasing"),
        ("0", ">= 1"),
        ("4,500", "vocabulary of 18 tokens"),
    ],
)
def test_bad_adaptive_cutoffs_are_one_line_naming_the_flag(files, capsys, value, words):
    flags = ["--level", "word", *TINY, "--bptt", "5", "--batch-size", "4", "--num-layers", "1"]
    assert _lm_train(files, "badcut", *flags, "--adaptive-cutoffs", value) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--adaptive-cutoffs" in err and words in err
    assert not (files / "badcut" / "run.json").exists()


def test_plateau_halving_and_early_stopping(files):
    flags = ["--level", "word", "--hidden-size", "8", "--embedding-size", "8", "--max-minutes", "0"]
    flags += ["--optimizer", "adam", "--lr", "0.3", "--epochs", "60", "--evals-per-epoch", "1", "--num-layers", "1"]
    assert _lm_train(files, "plateau", *flags, "--plateau-factor", "0.5", "--patience", "2") == 0
    run = files / "plateau"
    evals = [r for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if r["kind"] == "eval"]
    result = json.loads((run / "result.json").read_text())
    assert result["stopped_early"] and result["epochs_completed"] < 60
    best, bad = math.inf, 0
    for before, after in zip(evals, evals[1:]):  # the lr an evaluation leaves is the one the next one reports
        if before["loss"] < best:
            best, bad = before["loss"], 0
            assert after["lr"] == before["lr"]
        else:
            bad += 1
            assert after["lr"] == pytest.approx(before["lr"] * 0.5)
    assert bad + (evals[-1]["loss"] >= best) == 2  # stopped at the second evaluation without improvement


def _tokens(text):
    return [w for line in text.splitlines() for w in [*line.split(), "<eos>"]]


def test_lm_eval_and_ngram_eval_report_the_same_fields(files, capsys):
    """Same token, sentence and OOV counts from both commands; each perplexity recomputed here."""
    assert (
        main(
            ["ngram", "train", "--preset", "ptb-add1-2", "--data", str(files / "train.txt"), "--out", str(files / "ng")]
        )
        == 0
    )
    nn = ["--architecture", "nnlm", "--context", "2", "--batch-size", "16", *TINY, "--level", "word"]
    assert _lm_train(files, "nnlm", *nn) == 0
    rnn = ["--cell", "rnn", "--num-layers", "1", "--bptt", "64", "--batch-size", "4", *TINY, "--level", "word"]
    assert _lm_train(files, "rnn", *rnn) == 0
    capsys.readouterr()
    held = str(files / "held.txt")
    scores = {}
    for kind, run in (("ngram", "ng"), ("lm", "nnlm"), ("lm", "rnn")):
        assert main([kind, "eval", "--run", str(files / run), "--data", held]) == 0
        out = capsys.readouterr().out
        assert out.count("\n") == 1
        scores[run] = parse_text_score(out)
    tokens = _tokens(HELD)
    seen = set(_tokens(TEXT))
    expected = {"tokens": len(tokens), "sentences": 3, "oov": sum(w not in seen for w in tokens)}
    assert expected["oov"] == 2  # zebra and a
    for run, s in scores.items():
        assert {k: s[k] for k in expected} == expected, run
        assert s["bits"] == pytest.approx(math.log2(s["ppl"]), abs=1e-3), run

    # n-gram: log P(w | previous word) token by token from the model's next-token distribution
    lm, _ = ngramrun.load_run(files / "ng")
    nll = 0.0
    for line in HELD.splitlines():
        prev = "<s>"
        for w in [*line.split(), "</s>"]:
            w = w if w in lm.vocab else lm.vocab.unk_token
            nll -= lm.next_logprobs([prev])[lm.vocab.index(w)]
            prev = w
    assert scores["ng"]["ppl"] == pytest.approx(math.exp(nll / len(tokens)), rel=1e-3)

    # window NNLM: y = b + W x + U tanh(d + H x) in float64 from its weights, every token after 2 of context
    model, vocab, _ = lmrun.load_run(files / "nnlm")
    w = {k: v.astype(np.float64) for k, v in model.state_dict().items()}
    ids = vocab.encode(tokens)
    padded = np.concatenate([[vocab.eos_id] * 2, ids])
    x = np.stack([w["embedding.weight"][padded[t : t + 2]].reshape(-1) for t in range(len(ids))])
    z = np.tanh(x @ w["hidden.weight"].T + w["hidden.bias"]) @ w["output.weight"].T + w["output.bias"]
    z += x @ w["direct.weight"].T
    logp = z - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)) - z.max(1, keepdims=True)
    assert scores["nnlm"]["ppl"] == pytest.approx(np.exp(-logp[np.arange(len(ids)), ids].mean()), rel=1e-4)

    # recurrent LM: one step at a time from the end-of-line token (the text is one stream: fewer than 2 x 64 tokens)
    model, vocab, _ = lmrun.load_run(files / "rnn")
    step = model.as_step_model()
    state, prev, nll = None, vocab.eos_id, 0.0
    for i in vocab.encode(tokens):
        logprobs, state = step.step(state, np.array([prev]))
        nll -= float(logprobs[0][i])
        prev = i
    assert scores["rnn"]["ppl"] == pytest.approx(math.exp(nll / len(tokens)), rel=1e-4)
