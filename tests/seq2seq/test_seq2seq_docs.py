"""The seq2seq docs page's code and the package's docstring examples run as written."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_docs_page_examples_run():
    text = (ROOT / "docs" / "seq2seq.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "docs/seq2seq.md", "exec"), {})


@pytest.mark.parametrize("name", ["rnnkit.seq2seq", "rnnkit.seq2seq.attention", "rnnkit.seq2seq.search"])
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
