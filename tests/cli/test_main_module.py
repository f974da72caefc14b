"""``python -m rnnkit`` runs the command line; importing ``rnnkit.__main__`` (as an API scan does) runs nothing."""

from __future__ import annotations

import importlib
import subprocess
import sys

import rnnkit.cli

from helpers import subprocess_env


def test_importing_main_module_does_not_run_the_cli(monkeypatch):
    calls = []
    monkeypatch.setattr(rnnkit.cli, "main", lambda *a, **k: calls.append(a) or 0)
    monkeypatch.delitem(sys.modules, "rnnkit.__main__", raising=False)
    module = importlib.import_module("rnnkit.__main__")
    assert module.main is rnnkit.cli.main  # it did import the patched entry point ...
    assert calls == []  # ... and did not call it


def test_python_m_rnnkit_runs_the_cli():
    env = subprocess_env()
    res = subprocess.run(
        [sys.executable, "-m", "rnnkit", "--help"], capture_output=True, text=True, env=env, timeout=120
    )
    assert res.returncode == 0, res.stderr
    assert "usage" in res.stdout.lower()
