"""Sphinx configuration for the xcrop documentation.

Build with ``nox -s docs`` (strict: every warning is an error). The session first runs
``docs/_tools/make_figures.py`` and ``docs/_tools/make_tables.py``, which regenerate the
figures in ``_static/figures/`` and the markdown includes in ``_gen/`` from the code
(the limitations table, the registered fast paths, the backend adapters, the API list).
"""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent / "src"))  # document the source tree, even uninstalled

project = "xcrop"
author = "xcrop developers"
copyright = "xcrop developers, Apache-2.0"
try:
    release = importlib.metadata.version("xcrop")
except importlib.metadata.PackageNotFoundError:
    release = "dev"
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
# _gen/ holds includes, not pages; _tools/ holds the generators.
exclude_patterns = ["_build", "_gen", "_tools", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
# "## 1. Align-corners ..." headings get GitHub-style anchors (quirks.md#1-align-...),
# so the same links work on GitHub and in the built pages.
myst_heading_anchors = 3

autodoc_default_options = {"members": False}
# Signatures without annotations: the arrays are annotated ``Any`` (any array-API
# library), which says less than the docstrings' shapes and dtypes.
autodoc_typehints = "none"
autodoc_member_order = "bysource"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False

html_theme = "furo"
html_title = f"xcrop {release}"
html_static_path = ["_static"]
