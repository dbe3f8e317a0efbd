"""Sphinx configuration for the w3cws documentation (built with -W in CI)."""

from __future__ import annotations

import w3cws

project = "w3cws"
author = "w3cws developers"
copyright = "2026, w3cws developers"
release = w3cws.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "examples/*.ipynb"]
html_theme = "furo"
html_title = "w3cws"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
nitpicky = False
