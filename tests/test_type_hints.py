"""Every public function, method and constructor of rnnkit carries type hints.

Read from the source with ``ast`` (no module is imported), so a new module is covered the day it
is added. Checked: every function or method whose name does not start with ``_`` (module-level
functions, and methods of classes at any nesting depth, in modules whose own name does not start
with ``_``), and every ``__init__`` in any module (private modules included). Each must annotate every parameter except
``self``/``cls`` (``*args`` and ``**kwargs`` included) and its return (``__init__`` returns ``None``).
Functions nested inside other functions are local helpers and are not checked.
"""

from __future__ import annotations

import ast
from pathlib import Path

import rnnkit

PACKAGE = Path(rnnkit.__file__).resolve().parent

# Private implementation modules skipped as a whole (their constructors included).
SKIPPED = {"rnnkit/_kernels/__init__.py", "rnnkit/_validate.py"}

Func = ast.FunctionDef | ast.AsyncFunctionDef


def _public_module(path: Path) -> bool:
    return path.name == "__init__.py" or not path.stem.startswith("_")


def _functions(body: list[ast.stmt], prefix: str, in_class: bool):
    """(qualified name, node, is method) for the functions of ``body`` and of its classes."""
    for node in body:
        if isinstance(node, Func):
            yield f"{prefix}{node.name}", node, in_class
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node.body, f"{prefix}{node.name}.", True)
        elif isinstance(node, ast.If | ast.Try):  # optional definitions under `if` / `try`
            inner = list(node.body) + list(node.orelse)
            if isinstance(node, ast.Try):
                inner += [s for h in node.handlers for s in h.body] + list(node.finalbody)
            yield from _functions(inner, prefix, in_class)


def _problems(node: Func, is_method: bool) -> list[str]:
    out = []
    args = node.args
    positional = list(args.posonlyargs) + list(args.args)
    is_static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list)
    if is_method and not is_static and positional and positional[0].arg in ("self", "cls"):
        positional = positional[1:]
    for a in positional + list(args.kwonlyargs):
        if a.annotation is None:
            out.append(f"parameter {a.arg!r}")
    for star, a in (("*", args.vararg), ("**", args.kwarg)):
        if a is not None and a.annotation is None:
            out.append(f"parameter {star}{a.arg}")
    if node.returns is None:
        out.append("return")
    elif node.name == "__init__" and not (isinstance(node.returns, ast.Constant) and node.returns.value is None):
        out.append("return (must be None)")
    return out


def _offenders() -> dict[str, str]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        if rel in SKIPPED:
            continue
        public = _public_module(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for qualname, node, is_method in _functions(tree.body, "", False):
            name = node.name
            if name != "__init__" and (name.startswith("_") or not public):
                continue
            problems = _problems(node, is_method)
            if problems:
                found[f"{rel}:{qualname}"] = f"{rel}:{node.lineno}: {qualname}: missing {', '.join(problems)}"
    return found


def test_public_functions_have_type_hints():
    found = sorted(_offenders().values())
    assert not found, f"{len(found)} functions lack type hints:\n  " + "\n  ".join(found)


def test_the_checker_sees_a_missing_hint():
    tree = ast.parse(
        "class A:\n    def __init__(self, n: int):\n        pass\n    def f(self, x) -> int:\n        return x\n"
    )
    got = {q: _problems(n, m) for q, n, m in _functions(tree.body, "", False)}
    assert got == {"A.__init__": ["return"], "A.f": ["parameter 'x'"]}


if __name__ == "__main__":  # prints the offenders, one per line
    for msg in _offenders().values():
        print(msg)
