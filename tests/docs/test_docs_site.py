"""The documentation site: it builds with warnings as errors, its links resolve, and a browser renders it.

The build runs once per test session (about a minute on two cores; the
gallery scripts and the API reference dominate). It needs the ``docs`` extra
(``pip install ".[docs]"``); the browser test needs Debian's ``chromium``.
Without them these tests are skipped, loudly, with the reason; with
RNNKIT_DOCS_REQUIRED=1 (set in CI) a missing tool is a failure instead.
Screenshots go to $RNNKIT_DOCS_ARTIFACTS (default: a temporary folder).
"""

from __future__ import annotations

import html.parser
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from docsite import DOCS, ROOT, pages

import rnnkit

REQUIRED = os.environ.get("RNNKIT_DOCS_REQUIRED") == "1"
DOCS_PACKAGES = ("sphinx", "myst_parser", "sphinx_gallery", "furo", "sphinx-mathjax-offline")
# the folder holding the rnnkit under test, so the build documents and runs that one
PACKAGE_PARENT = str(Path(rnnkit.__file__).resolve().parents[1])


def _missing(reason: str):
    if REQUIRED:
        pytest.fail(f"{reason} (RNNKIT_DOCS_REQUIRED=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    absent = [p for p in DOCS_PACKAGES if importlib.util.find_spec(p) is None]
    if absent:
        _missing(f"the docs extra is not installed (missing {', '.join(absent)}): pip install '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([PACKAGE_PARENT, os.environ.get("PYTHONPATH", "")]))
    env["MPLBACKEND"] = "Agg"
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    cmd += ["-d", str(out / "doctrees"), str(DOCS), str(out / "html")]
    res = subprocess.run(cmd, cwd=out, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, f"sphinx-build failed ({' '.join(cmd)}):\n{res.stdout[-4000:]}\n{res.stderr[-8000:]}"
    return out / "html"


def test_site_builds_with_warnings_as_errors(site):
    for page in ("index", "rnn-bptt", "vanishing", "gates", "dropout", "api/index", "auto_gallery/index", "zh/index"):
        assert (site / f"{page}.html").is_file(), page
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()  # MathJax is served with the site


def test_language_switch_pairs_every_translated_page(site):
    """Each docs/zh page and its English page link to each other in the sidebar; an untranslated page links nowhere."""
    translated = [p.stem for p in (DOCS / "zh").glob("*.md")]
    assert {"language-models", "seq2seq", "ngram", "course", "interop", "analysis"} <= set(translated)
    switch = re.compile(r'class="rnnkit-lang-link" href="([^"]+)"')
    for name in translated:
        assert switch.findall((site / f"{name}.html").read_text(encoding="utf-8")) == [f"zh/{name}.html"], name
        assert switch.findall((site / "zh" / f"{name}.html").read_text(encoding="utf-8")) == [f"../{name}.html"], name
    assert not switch.findall((site / "design.html").read_text(encoding="utf-8"))  # English only


# -- links ---------------------------------------------------------------------------------


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        for key in ("href", "src"):
            if a.get(key):
                self.refs.append(a[key])


def _parse(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def test_no_dead_internal_link(site):
    parsed = {f: _parse(f) for f in site.rglob("*.html")}
    dead = []
    for f, p in parsed.items():
        for ref in p.refs:
            parts = urlsplit(ref)
            if parts.scheme or parts.netloc or ref.startswith(("mailto:", "javascript:", "data:")):
                continue
            target = f if not parts.path else (f.parent / unquote(parts.path)).resolve()
            if not target.exists():
                dead.append(f"{f.relative_to(site)} -> {ref}")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    dead.append(f"{f.relative_to(site)} -> {ref} (no such anchor)")
    assert not dead, "dead internal links:\n" + "\n".join(sorted(set(dead))[:50])


# A path-like mention of a file of the repository, in prose or code: it must exist.
_REPO_PATH = re.compile(r"(?<![\w./-])((?:docs|benchmarks|tests|rnnkit|\.ci)/[\w./-]*\w)")
# Modules that the design notes (docs/design.md) name before they are added: sequence to sequence,
# whose page joins the index (``?seq2seq``) when it lands.
_LINK = re.compile(
    r"\]\((?!https?:|mailto:|#)([^)\s]+)\)|\{(?:literalinclude|include)\}\s+(\S+)|!\[[^\]]*\]\(([^)\s]+)\)"
)


def test_pages_refer_only_to_files_in_the_repository():
    bad = []
    for page in pages():
        text = page.read_text(encoding="utf-8")
        rel = page.relative_to(DOCS).as_posix()
        for m in _LINK.finditer(text):
            target = next(g for g in m.groups() if g)
            path = unquote(target.split("#")[0])
            if path and not (page.parent / path).exists():
                bad.append(f"docs/{rel}: {target}")
        for m in _REPO_PATH.finditer(text):
            path = m.group(1).rstrip(".")
            if "*" in path or path.startswith(("docs/_build", "docs/auto_gallery", "docs/api/generated")):
                continue
            if not (ROOT / path).exists():
                bad.append(f"docs/{rel}: {path}")
        for m in re.finditer(r"seeds/\d+", text):  # the notes are cited by author and title, never by file
            bad.append(f"docs/{rel}: {m.group(0)} (a file outside the repository)")
    assert not bad, "references to files not in the repository:\n" + "\n".join(bad)


# -- the browser ---------------------------------------------------------------------------

_PROBE = """
<script>
var TEX = /\\\\(frac|sum|partial|begin|hat|odot|top|delta|mathrm|operatorname)\\b|\\$\\$/g;
window.addEventListener("load", function () {
  var done = function () {
    var maths = Array.from(document.querySelectorAll(".math"));
    var rendered = maths.filter(function (m) { return m.querySelector("mjx-container"); });
    var text = document.querySelector("article") ? document.querySelector("article").innerText : "";
    var imgs = Array.from(document.querySelectorAll("article img")).map(function (i) {
      return [i.getAttribute("src"), i.complete && i.naturalWidth > 0];
    });
    document.body.setAttribute("data-probe", JSON.stringify({
      math: maths.length, rendered: rendered.length,
      errors: document.querySelectorAll("mjx-merror").length,
      raw_tex: (text.match(TEX) || []).slice(0, 5),
      images: imgs
    }));
  };
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(done, done);
  } else { done(); }
});
</script>
"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    _missing("no chromium on PATH: apt-get install -y chromium (Debian's package)")


def _artifacts() -> Path:
    d = os.environ.get("RNNKIT_DOCS_ARTIFACTS") or tempfile.mkdtemp(prefix="rnnkit-docs-screens-")
    Path(d).mkdir(parents=True, exist_ok=True)
    return Path(d)


def _browser(chromium: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"]
    cmd += ["--virtual-time-budget=20000", "--window-size=1280,2400", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def _probe(chromium: str, page: Path) -> dict:
    probe = page.with_name(page.stem + "-probe.html")  # beside the page, so its relative links hold
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    res = _browser(chromium, "--dump-dom", probe.as_uri())
    m = re.search(r'data-probe="([^"]*)"', res.stdout)
    assert m, f"the page's probe did not run in {chromium}:\n{res.stderr[-3000:]}"
    return json.loads(html.unescape(m.group(1)))


@pytest.mark.parametrize("page", ["rnn-bptt", "zh/rnn-bptt", "gates"])
def test_browser_renders_the_math(site, page):
    chromium = _chromium()
    path = site / f"{page}.html"
    result = _probe(chromium, path)
    assert result["math"] >= 10, result
    assert result["rendered"] == result["math"], f"{page}: {result['math'] - result['rendered']} formulas not typeset"
    assert result["errors"] == 0, f"{page}: MathJax reported {result['errors']} TeX errors"
    assert not result["raw_tex"], f"{page}: raw TeX left visible: {result['raw_tex']}"
    shot = _artifacts() / (page.replace("/", "_") + ".png")
    _browser(chromium, f"--screenshot={shot}", path.as_uri())
    assert shot.is_file() and shot.stat().st_size > 10_000, shot


def test_browser_loads_the_gallery_images(site):
    chromium = _chromium()
    examples = sorted((site / "auto_gallery").glob("plot_*.html"))
    assert len(examples) >= 4, examples
    for page in [site / "auto_gallery" / "index.html", *examples]:
        result = _probe(chromium, page)
        assert result["images"], f"{page.name}: no image"
        broken = [src for src, ok in result["images"] if not ok]
        assert not broken, f"{page.name}: images that did not load: {broken}"
    shot = _artifacts() / "gallery.png"
    _browser(chromium, f"--screenshot={shot}", (site / "auto_gallery" / "index.html").as_uri())
    assert shot.is_file() and shot.stat().st_size > 10_000, shot
