"""Small Sphinx extension of the rnnkit site.

1. The English/Chinese switch. The teaching pages exist twice,
   ``docs/<page>.md`` in English and ``docs/zh/<page>.md`` in Chinese. Every
   page whose counterpart exists gets a link to it in the sidebar (template
   ``_templates/lang-switch.html``); pages with no counterpart (the API
   reference, the engineering notes) get none.

2. Pages that may not exist yet. A toctree entry written ``?name`` is kept
   (as ``name``) only when ``docs/name.md`` exists, so the index can list the
   pages that other work adds (language models, sequence to sequence) and the
   site builds, warnings as errors, with or without them.

3. Docstrings as their authors wrote them. rnnkit's docstrings are plain text
   with reST literals: equations sit in indented blocks aligned by column
   (``a_t = x_t @ W_ih.T + ...``), and prose uses ``|x|`` and ``*`` as
   arithmetic. reST would read those as block quotes, substitutions and
   emphasis. Before napoleon turns ``Example`` sections into rubrics, every
   indented block becomes a preformatted block (its alignment kept), and
   ``|`` and unpaired ``*`` in prose are escaped. Doctest blocks, ``literals``,
   roles and paired ``*emphasis*`` are left alone.
"""

from __future__ import annotations

import re
from pathlib import Path

from pygments.lexers.special import TextLexer

ZH = "zh/"

# -- 1. language switch ----------------------------------------------------------------------


def counterpart(pagename: str) -> tuple[str, str, str]:
    """The other language's page name, its label and its language code."""
    if pagename.startswith(ZH):
        return pagename[len(ZH) :], "Read in English", "en"
    return ZH + pagename, "阅读中文版", "zh"


def _page_context(app, pagename, templatename, context, doctree):
    other, label, code = counterpart(pagename)
    if other in app.env.found_docs:
        context["lang_switch"] = {"href": app.builder.get_relative_uri(pagename, other), "label": label, "lang": code}


# -- 2. optional toctree entries ----------------------------------------------------------

_OPTIONAL = re.compile(r"^\?(\S+)[ \t]*$", re.M)


def optional_entries(text: str, exists) -> str:
    """Replace each line ``?name`` by ``name`` if ``exists(name)``, else drop it."""
    return _OPTIONAL.sub(lambda m: m.group(1) if exists(m.group(1)) else "", text)


def _source_read(app, docname, source):
    if _OPTIONAL.search(source[0]):
        app.env.rnnkit_optional = getattr(app.env, "rnnkit_optional", set()) | {docname}
    base = Path(app.srcdir) / Path(docname).parent
    source[0] = optional_entries(
        source[0], lambda name: any((base / f"{name}{ext}").is_file() for ext in (".md", ".rst"))
    )


def _always_reread(app, env, added, changed, removed):
    """Pages with optional entries are read again on every build: a page they name may have appeared."""
    return sorted(getattr(env, "rnnkit_optional", set()) - set(removed))


# -- 3. plain-text docstrings ----------------------------------------------------------------

_NAPOLEON_SECTIONS = {"example", "examples", "note", "notes", "see also", "references", "warning", "warnings"}
# spans that reST must keep as they are: ``literals``, :roles:`targets`, `links`_, *emphasis* / **strong**
_KEEP = re.compile(
    r"``.+?``|:[\w:.-]+:`[^`]+`|`[^`]+`_?|\*\*[^*\s](?:[^*]*?[^*\s])?\*\*|(?<![\w*])\*[^*\s](?:[^*]*?[^*\s])?\*(?![\w*])"
)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _escape(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("|", r"\|").replace("*", r"\*")
    return re.sub(r"_(?!\w)", r"\\_", text)  # R_, ln_*: not hyperlink references


def _escape_prose(text: str) -> str:
    """Escape |, unpaired * and word-final _ outside the spans reST should interpret."""
    out, pos = [], 0
    for m in _KEEP.finditer(text):
        out.append(_escape(text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_escape(text[pos:]))
    return "".join(out)


def _literal(block: list[str]) -> list[str]:
    base = min(_indent(s) for s in block if s.strip())
    return [".. code-block:: text", ""] + ["   " + s[base:] for s in block] + [""]


def plain_docstring(lines: list[str]) -> list[str]:
    """The reST for a plain-text docstring (see the module docstring); ``lines`` as autodoc gives them."""
    blocks, cur = [], []
    for line in lines:
        if line.strip():
            cur.append(line.rstrip())
        elif cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    out: list[str] = []
    for k, block in enumerate(blocks):
        first = block[0]
        nxt = blocks[k + 1] if k + 1 < len(blocks) else None
        if first.lstrip().startswith(">>>"):  # a doctest: literal already
            base = _indent(first)
            out += [s[base:] if _indent(s) >= base else s for s in block] + [""]
            continue
        if len(block) >= 2 and re.fullmatch(r"-{3,}|={3,}", block[1].strip()) and _indent(first) == 0:
            title, rest = first.strip(), block[2:]
            if title.lower() in _NAPOLEON_SECTIONS:
                out += [title, block[1].strip(), ""]  # napoleon makes it a rubric
            else:
                out += [f".. rubric:: {_escape_prose(title)}", ""]
            if rest:
                out += _literal(rest) if _indent(rest[0]) > 0 else plain_docstring(rest) + [""]
            continue
        if _indent(first) > 0:
            out += _literal(block)
            continue
        deeper = next((i for i, s in enumerate(block) if _indent(s) > 0), None)
        prose = block if deeper is None else block[:deeper]
        literal_follows = deeper is not None or (nxt is not None and _indent(nxt[0]) > 0)
        if literal_follows and prose[-1].endswith("::"):
            prose = prose[:-1] + [prose[-1][:-1]]  # the author's literal marker: the block below is one
        out += _escape_prose("\n".join(prose)).split("\n") + [""]
        if deeper is not None:
            out += _literal(block[deeper:])
    while out and not out[-1]:
        out.pop()
    return out


def _process_docstring(app, what, name, obj, options, lines):
    lines[:] = plain_docstring(list(lines))


def setup(app):
    # mermaid diagrams (docs/design.md's import graph) are shown as their source text: readable
    # as it is, and rendered by the forges that know mermaid
    app.add_lexer("mermaid", TextLexer)
    app.connect("html-page-context", _page_context)
    app.connect("source-read", _source_read)
    app.connect("env-get-outdated", _always_reread)
    app.connect("autodoc-process-docstring", _process_docstring, priority=400)  # before napoleon (500)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
