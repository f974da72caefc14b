"""What the documentation tests share: where the site's sources are, its pages, their code blocks."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# generated or build folders inside docs/ (docs/conf.py writes them; .gitignore lists them)
GENERATED = ("_build", "auto_gallery", "api/generated")

_FENCE = re.compile(r"^(`{3,})(python|pycon)[ \t]*\n(.*?)^\1[ \t]*$", re.S | re.M)


def pages() -> list[Path]:
    """Every markdown page of the site, relative to docs/ (the contributors' README excluded)."""
    out = []
    for p in sorted(DOCS.rglob("*.md")):
        rel = p.relative_to(DOCS).as_posix()
        if rel == "README.md" or rel.startswith(GENERATED):
            continue
        out.append(p)
    return out


def code_blocks(path: Path) -> list[tuple[str, int, str]]:
    """(language, line number, code) of every ```python and ```pycon block of a page, in order."""
    text = path.read_text(encoding="utf-8")
    return [(m.group(2), text.count("\n", 0, m.start()) + 2, m.group(3)) for m in _FENCE.finditer(text)]
