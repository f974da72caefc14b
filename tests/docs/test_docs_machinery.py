"""The site's own Sphinx extension (docs/_ext/rnnkit_docs.py): optional pages, docstrings, language switch."""

from __future__ import annotations

import sys

from docsite import DOCS

sys.path.insert(0, str(DOCS / "_ext"))
import rnnkit_docs  # noqa: E402


def test_optional_toctree_entries_appear_only_when_the_page_exists():
    text = "```{toctree}\n:maxdepth: 1\n\nrnn-bptt\n?seq2seq\n?ngram\n```\n"
    out = rnnkit_docs.optional_entries(text, lambda name: name == "ngram")
    assert out == "```{toctree}\n:maxdepth: 1\n\nrnn-bptt\n\nngram\n```\n"


def test_counterpart_pages():
    assert rnnkit_docs.counterpart("gates")[0] == "zh/gates"
    assert rnnkit_docs.counterpart("zh/gates")[0] == "gates"


def test_plain_docstring_keeps_equation_blocks_and_doctests():
    lines = [
        "Sum |x| of a * b, with R_ and *emphasis*; ``a|b`` stays.",
        "",
        "    h' = (1 - z) * n + z * h      (B, H)",
        "",
        "Example",
        "-------",
        ">>> 1 + 1",
        "2",
    ]
    out = rnnkit_docs.plain_docstring(lines)
    assert out[0] == r"Sum \|x\| of a \* b, with R\_ and *emphasis*; ``a|b`` stays."
    i = out.index(".. code-block:: text")
    assert out[i + 2] == "   h' = (1 - z) * n + z * h      (B, H)"  # preformatted, alignment kept
    assert out[-5:] == ["Example", "-------", "", ">>> 1 + 1", "2"]  # napoleon's section, the doctest as written
