"""``rnnkit ngram export|import``: a trained model through an ARPA file and back into a model directory
that eval and sample use; a malformed file is one line naming the file and the line, exit status 2."""

import json

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.lm import NGramLM
from rnnkit.runs.textscore import parse_text_score

TEXT = "the cat sat on the mat\nthe dog sat on the log\na cat saw the dog\na bird sang\n"


@pytest.fixture
def trained(tmp_path, capsys):
    (tmp_path / "train.txt").write_text(TEXT, encoding="utf-8")
    assert (
        main(["ngram", "train", "--data", str(tmp_path / "train.txt"), "--order", "3", "--out", str(tmp_path / "m")])
        == 0
    )
    capsys.readouterr()
    return tmp_path


def test_export_then_import_gives_the_same_model(trained, capsys):
    d = trained
    assert main(["ngram", "export", "--run", str(d / "m"), "--out", str(d / "lm.arpa")]) == 0
    assert (d / "lm.arpa").read_text(encoding="utf-8").startswith("\n\\data\\\nngram 1=")
    assert main(["ngram", "import", "--arpa", str(d / "lm.arpa"), "--out", str(d / "imported")]) == 0
    out = capsys.readouterr().out
    assert "order 3" in out and "run directory" in out
    assert json.loads((d / "imported" / "run.json").read_text())["level"] == "word"
    trained_lm, imported = NGramLM.load(d / "m"), NGramLM.load(d / "imported")
    assert imported.smoothing == "arpa"
    for ctx in [[], ["the"], ["<s>", "a"], ["on", "the"]]:
        p = np.exp(trained_lm.next_logprobs(ctx))
        q = np.exp(imported.next_logprobs(ctx))
        np.testing.assert_allclose([q[imported.vocab.index(t)] for t in trained_lm.vocab.tokens], p, rtol=1e-13)
    for model in ("m", "imported"):  # eval reads both directories alike
        assert main(["ngram", "eval", "--run", str(d / model), "--data", str(d / "train.txt")]) == 0
    a, b = (parse_text_score(line)["ppl"] for line in capsys.readouterr().out.splitlines())
    assert a == b
    assert main(["ngram", "sample", "--run", str(d / "imported"), "--length", "5"]) == 0


def test_a_malformed_file_is_one_line_with_status_2(trained, capsys):
    d = trained
    main(["ngram", "export", "--run", str(d / "m"), "--out", str(d / "lm.arpa")])
    capsys.readouterr()
    bad = d / "bad.arpa"
    bad.write_text((d / "lm.arpa").read_text().replace("\\2-grams:", "\\two-grams:"), encoding="utf-8")
    assert main(["ngram", "import", "--arpa", str(bad), "--out", str(d / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{bad}:" in err and "expected '\\2-grams:'" in err, err
    assert not (d / "x").exists()
    assert main(["ngram", "import", "--arpa", str(d / "missing.arpa"), "--out", str(d / "x")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["ngram", "import", "--arpa", str(d / "lm.arpa"), "--out", str(d / "x"), "--level", "byte"]) == 2
    assert "argument --level: invalid choice: 'byte'" in capsys.readouterr().err
