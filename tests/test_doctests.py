"""Every docstring example in the package runs: each rnnkit module is collected by name, none is listed by hand.

Examples that need an optional package (matplotlib, torch, keras) are skipped
when it is not installed; a module that cannot be imported for another reason fails.
"""

import doctest
import importlib
import os
import pkgutil

import pytest

import rnnkit

os.environ.setdefault("KERAS_BACKEND", "torch")  # as in the interop tests: Keras 3 on the torch backend

OPTIONAL = ("matplotlib", "torch", "keras", "tqdm")


def _missing(packages: set) -> str | None:
    for pkg in sorted(packages):
        try:
            importlib.import_module(pkg)
        except Exception:  # not installed, or installed without what it needs (Keras without a backend)
            return pkg
    return None


MODULES = sorted(
    m.name for m in pkgutil.walk_packages(rnnkit.__path__, prefix="rnnkit.") if not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    try:
        module = importlib.import_module(name)
    except ImportError as e:
        if e.name and e.name.split(".")[0] in OPTIONAL:
            pytest.skip(f"{name} needs {e.name}")
        raise
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    skipped = []
    for test in finder.find(module, name):
        needs = {pkg for pkg in OPTIONAL for ex in test.examples if pkg in ex.source}
        missing = _missing(needs)
        if missing:
            skipped.append(f"{test.name} (needs {missing})")
            continue
        runner.run(test)
    result = runner.summarize(verbose=False)
    if skipped and not result.attempted:
        pytest.skip("; ".join(skipped))
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {name} failed"


def test_every_module_is_collected():
    assert "rnnkit.runs.directory" in MODULES and "rnnkit.cells.lstm" in MODULES and len(MODULES) > 50
