"""The layering of the package, read from its imports: maths <- layers <- models <- training and runs <- CLI.

Every rule is checked over the source of ``rnnkit/**/*.py`` with ``ast`` (no
module is imported), so a new module is covered the day it is added:

- no module under rnnkit/cells imports layers, models, training, runs or the CLI;
- no model (rnnkit/lm, rnnkit/seq2seq, rnnkit/tasks) imports the Trainer, distributed training, the run
  layer or the CLI;
- layers never import models, training, runs or the CLI; the run layer never imports the CLI;
- training (rnnkit.trainer, and rnnkit.distributed beside it, which extends the Trainer) imports no run
  layer or CLI, and the Trainer knows nothing of rnnkit.distributed;
- no import cycle among rnnkit's modules (module-level imports);
- no private name (``_x``, a module or an object) is imported from outside the package that owns it.

Run as a script, it prints the Mermaid diagram of the layers that docs/design.md
shows (``python tests/test_architecture.py``; with ``--write`` it puts it into
docs/design.md); a test checks the two agree.
"""

from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path

import pytest

import rnnkit

from helpers import REPO_ROOT

PACKAGE = Path(rnnkit.__file__).resolve().parent
DESIGN = REPO_ROOT / "docs" / "design.md"

MODELS = ("rnnkit.lm", "rnnkit.seq2seq", "rnnkit.tasks")
TRAINING = ("rnnkit.trainer", "rnnkit.distributed", "rnnkit.runs")
LAYERS = ("rnnkit.layers",)
CLI = ("rnnkit.cli",)


# -- reading the imports --------------------------------------------------------------------------
def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer if _is_package(importer) else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
    return f"{base}.{node.module}" if node.module else base


@functools.cache
def _imports(name: str, *, module_level_only: bool) -> list[tuple[str, str | None]]:
    """(module imported, name taken from it or None) for every rnnkit import of module ``name``."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    if module_level_only:
        nodes = []
        for stmt in tree.body:  # top level, and inside top-level try/except (optional imports)
            nodes.append(stmt)
            if isinstance(stmt, ast.Try):
                nodes.extend(stmt.body + [s for h in stmt.handlers for s in h.body])
    else:
        nodes = list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names if a.name.split(".")[0] == "rnnkit"]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(name, node)
            if target.split(".")[0] != "rnnkit":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((sub, None) if sub in MODULES else (target, alias.name))
    return found


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _violations(importers: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for name in MODULES:
        if _within(name, importers):
            for target, _ in _imports(name, module_level_only=False):
                if _within(target, forbidden):
                    out.append(f"{name} imports {target}")
    return sorted(set(out))


# Known violations, left for the cell-contract restructuring; each is xfail(strict=True), so the test turns red
# (XPASS) the day the import is gone, and the marker must then be removed.
KNOWN: dict[str, str] = {}


def _check(found: list[str], rule: str) -> None:
    unexpected = [v for v in found if v not in KNOWN]
    assert not unexpected, f"{rule}:\n  " + "\n  ".join(unexpected)


@pytest.mark.parametrize(
    "rule,importers,forbidden",
    [
        ("cells import no layer, model, training, run or CLI", ("rnnkit.cells",), LAYERS + MODELS + TRAINING + CLI),
        ("models import no Trainer, run layer or CLI", MODELS, TRAINING + CLI),
        ("layers import no model, training, run or CLI", LAYERS, MODELS + TRAINING + CLI),
        ("the run layer imports no CLI", ("rnnkit.runs",), CLI),
        ("training imports no run layer or CLI", ("rnnkit.trainer", "rnnkit.distributed"), ("rnnkit.runs",) + CLI),
        ("the Trainer imports no distributed training", ("rnnkit.trainer",), ("rnnkit.distributed",)),
        ("the protocols import nothing above them", ("rnnkit.protocols",), LAYERS + MODELS + TRAINING + CLI),
    ],
)
def test_imports_point_downward(rule, importers, forbidden):
    _check(_violations(importers, forbidden), rule)


def _private_imports() -> list[str]:
    """Private names (``_x`` modules or objects) imported from outside the package that owns them."""
    out = []
    for name in MODULES:
        for target, obj in _imports(name, module_level_only=False):
            parts = target.split(".")
            private = [i for i, p in enumerate(parts) if p.startswith("_") and not p.startswith("__")]
            if obj is not None and obj.startswith("_") and not obj.startswith("__"):
                private.append(len(parts))  # the object is private to the module `target`
            if not private:
                continue
            i = private[0]
            # a private module rnnkit.a._b belongs to the package rnnkit.a; a private object of module
            # rnnkit.a.b (or of package rnnkit.a.b) to the package that holds it
            owner = ".".join(parts[:i]) if i < len(parts) else target
            if i == len(parts) and not _is_package(target):
                owner = target.rpartition(".")[0]
            if not _within(name, (owner,)):
                what = f"{target}.{obj}" if obj and i == len(parts) else ".".join(parts[: i + 1])
                out.append(f"{name} imports private {what}")
    return sorted(set(out))


def test_no_private_name_crosses_a_package():
    _check(_private_imports(), "private names imported from outside their package")


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name in MODULES:
        edges = set()
        for target, _ in _imports(name, module_level_only=True):
            while target not in MODULES and "." in target:
                target = target.rpartition(".")[0]
            if target in MODULES and target != name:
                edges.add(target)
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(1000, 10 * len(graph)))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle():
    assert _cycles(_graph()) == []


def test_the_rules_see_a_violation():
    graph = _graph()
    graph["rnnkit.layers"] = graph["rnnkit.layers"] | {"rnnkit.lm.rnnlm"}
    assert _cycles(graph), "a layer importing a model that imports layers must be a cycle"
    assert "rnnkit.lm.rnnlm" in MODULES and "rnnkit.layers" in _graph()["rnnkit.lm.rnnlm"]


def test_every_known_violation_is_still_there():
    # KNOWN lists tolerated violations (none today); one that has been fixed must leave the list,
    # so the list never hides a new violation of the same name.
    found = set(_violations(("rnnkit",), ("rnnkit",)) + _private_imports())
    fixed = sorted(v for v in KNOWN if v not in found)
    assert not fixed, "fixed, remove from KNOWN: " + "; ".join(fixed)


# -- the diagram in docs/design.md ------------------------------------------------------------------
SHOWN = [
    "rnnkit.cells",
    "rnnkit.layers",
    "rnnkit.protocols",
    "rnnkit.text",
    "rnnkit.lm",
    "rnnkit.tasks",
    "rnnkit.seq2seq",
    "rnnkit.trainer",
    "rnnkit.distributed",
    "rnnkit.decoding",
    "rnnkit.runs",
    "rnnkit.analysis",
    "rnnkit.interop",
    "rnnkit.cli",
]


def _group(module: str) -> str | None:
    for g in sorted(SHOWN, key=len, reverse=True):
        if _within(module, (g,)):
            return g
    return None


def mermaid() -> str:
    """The package-level import graph of the packages in SHOWN, as a Mermaid flowchart (A --> B: A imports B)."""
    edges = set()
    for name in MODULES:
        a = _group(name)
        for target, _ in _imports(name, module_level_only=False):
            b = _group(target)
            if a and b and a != b:
                edges.add((a, b))
    present = [g for g in SHOWN if any(_within(m, (g,)) for m in MODULES)]
    lines = ["flowchart BT"]
    lines += [f"    {g.replace('.', '_')}[{g}]" for g in present]
    lines += [f"    {a.replace('.', '_')} --> {b.replace('.', '_')}" for a, b in sorted(edges)]
    return "\n".join(lines)


def test_design_doc_shows_the_current_import_graph():
    text = DESIGN.read_text(encoding="utf-8")
    assert f"```mermaid\n{mermaid()}\n```" in text, (
        "docs/design.md's diagram is out of date; regenerate it with: python tests/test_architecture.py --write"
    )


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        text = DESIGN.read_text(encoding="utf-8")
        start = text.index("```mermaid\n") + len("```mermaid\n")
        end = text.index("\n```", start)
        DESIGN.write_text(text[:start] + mermaid() + text[end:], encoding="utf-8")
        print(f"wrote the import graph into {DESIGN}")
    else:
        print(mermaid())
