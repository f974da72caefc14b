"""Sphinx configuration of the rnnkit site.

Build (from the repository root, with the ``docs`` extra installed):

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Pages are MyST markdown, readable as they are on any forge; the API reference
comes from the docstrings; the gallery scripts run when the site is built.
Math is typeset by a copy of MathJax 3 served with the site
(``sphinx-mathjax-offline``), so pages render without a network and the
headless-browser test sees what a reader sees.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
# rnnkit itself is imported from the environment (the installed package, or PYTHONPATH):
# the site documents what is installed, and the gallery runs it.

project = "rnnkit"
author = "the rnnkit authors"
copyright = "rnnkit authors"  # noqa: A001 (Sphinx's name)
try:
    import rnnkit

    release = rnnkit.__version__
except ImportError:  # the build then fails at the first autodoc directive, with the import error
    release = "unknown"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax 3 files copied into _static: no CDN needed to read the math
    "sphinx_gallery.gen_gallery",
    "rnnkit_docs",  # language switch, docstring clean-up (docs/_ext/rnnkit_docs.py)
]

# -- sources ---------------------------------------------------------------------------------
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "README.md",  # how to build the site: for contributors, not a page of it
    "figures/README.md",
    "language-models-table.md",  # written by benchmarks/lm_table.py, included by language-models.md (and zh/)
    "auto_gallery/*.ipynb",
    "auto_gallery/*.py",
    "auto_gallery/*.zip",
    "auto_gallery/*.md5",
    "auto_gallery/*.pickle",
    "auto_gallery/*.codeobj.json",
    "sg_execution_times.rst",
    "gallery/*",  # the example scripts; sphinx-gallery renders them into auto_gallery/
]
templates_path = ["_templates"]
html_static_path = ["_static"]

# -- MyST ------------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3  # "#2-the-svd-argument" style anchors, as on the forges

# -- API reference ---------------------------------------------------------------------------
autosummary_generate = True
# ignore-module-all: a module documents what it defines; a package's re-exports are documented once,
# in the module that defines them (rnnkit.RNN is rnnkit.layers.recurrent.RNN).
autodoc_default_options = {"members": True, "ignore-module-all": True, "member-order": "bysource"}
autodoc_typehints = "description"
autodoc_class_signature = "separated"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False

# -- gallery ---------------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "gallery",
    "gallery_dirs": "auto_gallery",
    "filename_pattern": r"/plot_",  # every plot_*.py runs at build time
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
    "write_computation_times": False,
    "show_memory": False,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "reset_modules": ("matplotlib",),
}
os.environ.setdefault("MPLBACKEND", "Agg")

# -- HTML ------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"rnnkit {release}"
html_css_files = ["rnnkit.css"]
html_sidebars = {
    "**": [
        "sidebar/brand.html",
        "sidebar/search.html",
        "lang-switch.html",
        "sidebar/scroll-start.html",
        "sidebar/navigation.html",
        "sidebar/scroll-end.html",
    ]
}
html_show_sourcelink = False
html_copy_source = False

# Every warning is an error in CI (-W); nothing is suppressed here.
nitpicky = False
