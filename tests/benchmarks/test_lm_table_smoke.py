"""benchmarks/lm_table.py on run directories of real tiny runs: the numbers it prints are those of the runs' files."""

import importlib.util
import json
import math

import pytest

from rnnkit.cli import main as rnnkit_main
from rnnkit.runs.textscore import parse_text_score

from helpers import REPO_ROOT

WORDS = ["cat", "dog", "bird", "fox", "owl", "emu", "yak", "gnu"]
TEXT = "".join(f"the {WORDS[i % 8]} sat on the {WORDS[(i * 3) % 8]} mat\n" for i in range(150))
HELD = "the dog sat on the owl mat\nthe yak sat on the cat mat\n"


def _load():
    spec = importlib.util.spec_from_file_location("lm_table", REPO_ROOT / "benchmarks" / "lm_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("table")
    (d / "train.txt").write_text(TEXT)
    (d / "valid.txt").write_text(HELD)
    data = ["--data", str(d / "train.txt"), "--valid", str(d / "valid.txt")]
    tiny = ["--hidden-size", "8", "--embedding-size", "8", "--epochs", "2", "--no-progress", "--evals-per-epoch", "2"]
    assert rnnkit_main(["lm", "train", "--preset", "ptb-small-lstm", *data, *tiny, "--out", str(d / "lstm")]) == 0
    assert rnnkit_main(["lm", "train", "--preset", "ptb-nnlm", *data, *tiny, "--out", str(d / "nnlm")]) == 0
    assert rnnkit_main(["ngram", "train", "--preset", "ptb-kn3", *data, "--out", str(d / "kn3")]) == 0
    return d


def _table(text):
    """The first Markdown table of ``text`` as a list of {column: cell}."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        if len(cells) != len(header):
            break
        rows.append(dict(zip(header, cells)))
    return header, rows


def test_lm_table_reads_the_runs(runs, tmp_path, capsys):
    md, png = tmp_path / "table.md", tmp_path / "curves.png"
    _load().main(
        [str(runs / "lstm"), str(runs / "nnlm"), str(runs / "kn3"), "--markdown", str(md), "--figure", str(png)]
    )
    text = md.read_text()
    header, rows = _table(text)
    for column in ("model", "preset", "parameters", "training time", "best valid ppl", "epochs", "command"):
        assert column in header
    by_run = {r["run"]: r for r in rows}
    assert set(by_run) == {"lstm", "nnlm", "kn3"}
    for name in ("lstm", "nnlm"):
        log = [json.loads(line) for line in (runs / name / "log.jsonl").read_text().splitlines()]
        result = json.loads((runs / name / "result.json").read_text())
        best = min([r["ppl"] for r in log if r["kind"] == "eval"] + [math.exp(result["valid_loss"])])
        assert float(by_run[name]["best valid ppl"]) == pytest.approx(best, abs=0.005 + 1e-9)
        assert by_run[name]["parameters"] == f"{result['parameters']:,}"
        assert f"--preset {by_run[name]['preset']}" in by_run[name]["command"]
        assert float(by_run[name]["epochs"]) == pytest.approx(2.0)
    assert by_run["lstm"]["model"] == "LSTM 2 x 8" and by_run["nnlm"]["model"].startswith("NNLM n=5")
    capsys.readouterr()
    assert rnnkit_main(["ngram", "eval", "--run", str(runs / "kn3"), "--data", str(runs / "valid.txt")]) == 0
    ngram_ppl = parse_text_score(capsys.readouterr().out)["ppl"]
    assert float(by_run["kn3"]["best valid ppl"]) == pytest.approx(ngram_ppl, abs=0.005 + 1e-4)
    assert "n-grams" in by_run["kn3"]["parameters"] and by_run["kn3"]["preset"] == "ptb-kn3"
    for published in ("141.2", "140.2", "124.7", "120.7", "114.5", "Zaremba et al. 2014", "Mikolov et al. 2011"):
        assert published in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _best_within(run_dir, minutes):
    """Independently of the script: the lowest eval ppl whose preceding train records sum to <= minutes."""
    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    clock, best = 0.0, None
    for r in sorted(log, key=lambda r: (r["step"], r["kind"] == "eval")):
        if r["kind"] == "train":
            clock += r["seconds"]
        elif clock <= 60 * minutes:
            best = r["ppl"] if best is None else min(best, r["ppl"])
    return best, clock


def test_equal_budget_table_takes_the_evaluations_within_the_budget(runs, tmp_path, capsys):
    _, total = _best_within(runs / "lstm", 1e9)
    minutes = total / 60 / 2  # half the LSTM's training time: its later evaluations are left out
    md = tmp_path / "table.md"
    _load().main([str(runs / "lstm"), str(runs / "kn3"), "--markdown", str(md), "--budget-minutes", str(minutes)])
    text = md.read_text()
    budget = text[text.index("At an equal budget") :]
    header, rows = _table(budget)
    assert [r["run"] for r in rows] == ["lstm"]  # n-gram runs have no training clock
    expected, _ = _best_within(runs / "lstm", minutes)
    cell = rows[0][header[3]]
    if expected is None:
        assert cell == "n/a"
    else:
        assert float(cell) == pytest.approx(expected, abs=0.005 + 1e-9)
    assert rows[0]["note"] == ""
    with pytest.raises(SystemExit):
        _load().main([str(runs / "lstm"), "--budget-minutes", "0"])
    assert "--budget-minutes must be > 0, got 0.0" in capsys.readouterr().err
