"""Every code example on every page of the site runs, in order, as a reader would run it.

```python blocks are executed (their own asserts decide); ```pycon blocks are
doctests, so the output printed on the page must be the output the code gives.
Fragments that cannot run alone are ```{code-block} python directives, which are not run.
Each page runs in one namespace, in an empty temporary folder (files an example writes land there).
"""

from __future__ import annotations

import doctest
import re

import pytest
from docsite import DOCS, ROOT, code_blocks, pages

PAGES = [p for p in pages() if code_blocks(p)]


def test_the_site_has_runnable_examples():
    names = {p.relative_to(DOCS).as_posix() for p in PAGES}
    for page in ("rnn-bptt.md", "zh/rnn-bptt.md", "course.md", "zh/course.md", "analysis.md", "zh/analysis.md"):
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


_FIGURE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize(
    "zh", [p for p in pages() if p.parent.name == "zh" and p.name != "index.md"], ids=lambda p: p.name
)
def test_chinese_page_shows_the_english_pages_examples_and_figures(zh):
    """A translation runs the same code and shows the same figure files as its English page, in the same order."""
    en = DOCS / zh.name
    assert en.is_file(), f"docs/zh/{zh.name} has no English counterpart docs/{zh.name}"
    assert [(lang, code) for lang, _, code in code_blocks(zh)] == [(lang, code) for lang, _, code in code_blocks(en)], (
        f"docs/zh/{zh.name}: its python/pycon blocks differ from those of docs/{zh.name}"
    )

    def figures(page):
        return [(page.parent / m.group(1)).resolve() for m in _FIGURE.finditer(page.read_text(encoding="utf-8"))]

    assert figures(zh) == figures(en), f"docs/zh/{zh.name}: its figures differ from those of docs/{zh.name}"
