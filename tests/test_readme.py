"""The README's promises: its two set-up commands, its usage example, and the demo it runs."""

import contextlib
import io
import re

import pytest

from rnnkit.cli import main

from helpers import REPO_ROOT

ROOT = REPO_ROOT
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one():
    commands = [b.strip() for b in _blocks("bash")]
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    install_and_run, install_and_test = commands
    assert install_and_run == 'pip install ".[cli]" && rnnkit lm train'
    assert install_and_test.startswith('pip install ".[test]" && ')
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert install_and_test in ci, ".ci/run must run exactly the README's test command"


def test_readme_usage_example_runs_as_written():
    (example,) = _blocks("python")
    assert len(example.strip().splitlines()) <= 10
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example, "README.md", "exec"), {})
    assert out.getvalue().startswith("(20, 4, 16) ['bias_hh_l0', 'bias_hh_l1']")


def test_demo_loss_falls_below_the_baseline():
    from rnnkit.runs.demo import run

    lines = []
    result = run(length=20, steps=500, seed=0, log=lines.append)
    assert result["final_mse"] < 0.25 * result["baseline"] < result["first_loss"]
    assert any("test MSE" in line for line in lines)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["demo", "--length", "1"], "rnnkit demo: --length must be >= 2, got 1"),
        (["demo", "--steps", "zero"], "argument --steps: must be an integer, got 'zero'"),
        (["demo", "--bogus"], "unrecognized arguments: --bogus"),
        ([], "a command is required"),
    ],
)
def test_cli_errors_are_one_line_with_status_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
