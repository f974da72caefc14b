"""benchmarks/bench_charlm.py runs end to end on a tiny budget, so it cannot rot."""

import importlib.util
import sys

from helpers import REPO_ROOT

ROOT = REPO_ROOT


def test_bench_charlm_smoke(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("bench_charlm", ROOT / "benchmarks" / "bench_charlm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = tmp_path / "RESULTS.md"
    assert (
        module.main(
            [
                "--minutes",
                "0.02",
                "--builtin-chars",
                "40000",
                "--hidden-size",
                "32",
                "--results",
                str(results),
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 0
    )
    text = results.read_text()
    assert "bits per character** after" in text and "--builtin-chars 40000" in text
