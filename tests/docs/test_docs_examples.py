"""Every code example on every page of the site runs, in order, as a reader would run it.

```python blocks are executed (their own asserts decide); ```pycon blocks are
doctests, so the output printed on the page must be the output the code gives.
Fragments that cannot run alone are ```{code-block} python directives, which are not run.
Each page runs in one namespace, in an empty temporary folder (files an example writes land there).
"""

from __future__ import annotations

import doctest

import pytest
from docsite import DOCS, ROOT, code_blocks, pages

PAGES = [p for p in pages() if code_blocks(p)]


def test_the_site_has_runnable_examples():
    names = {p.relative_to(DOCS).as_posix() for p in PAGES}
    for page in ("rnn-bptt.md", "zh/rnn-bptt.md", "course.md", "analysis.md"):
        assert page in names, f"docs/{page} has no python or pycon block, or does not exist"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_page_examples_run(page, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    rel = page.relative_to(ROOT).as_posix()
    namespace = {"__name__": "__docs__"}
    parser = doctest.DocTestParser()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    for lang, line, code in code_blocks(page):
        if lang == "python":
            exec(compile(code, f"{rel}:{line}", "exec"), namespace)
            continue
        test = parser.get_doctest(code, namespace, f"{rel}:{line}", rel, line)
        runner = doctest.DocTestRunner(optionflags=flags)
        out = []
        runner.run(test, out=out.append, clear_globs=False)
        assert runner.tries > 0, f"{rel}: the pycon block at line {line} holds no example"
        assert runner.failures == 0, f"{rel}, the pycon block at line {line}:\n" + "".join(out)
        namespace = test.globs
