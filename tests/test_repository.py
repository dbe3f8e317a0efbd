"""The repository stands alone: no file refers to files outside it."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Names of notes that live beside a checkout, never in it (split so that
# this file does not match itself).
OUTSIDE = ("w3c-" + "surface", "style-" + "examples", "../" + "shared", "events" + ".md §")


# What is made from the sources (environments, caches, builds), not written.
MADE = {"build", "dist", "_build", "node_modules", "__pycache__"}


def _source_files() -> list[Path]:
    files = []
    for folder, dirs, names in os.walk(ROOT):
        # Prune what is made, and hidden folders (.git, .venv...) but CI's own.
        dirs[:] = [
            d
            for d in dirs
            if d not in MADE and not d.endswith(".egg-info") and (d == ".ci" or d[0] != ".")
        ]
        files += [Path(folder, name) for name in names]
    return files


def test_no_file_refers_to_files_outside_the_repository() -> None:
    files = _source_files()
    assert {ROOT / "README.md", ROOT / ".ci" / "run"} <= set(files)
    found = []
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        found += [f"{path.relative_to(ROOT)}: {word}" for word in OUTSIDE if word in text]
    assert not found
