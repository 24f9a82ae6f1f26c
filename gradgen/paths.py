"""Paths as generated files show them: relative to the project root, so output never depends
on where a command was run from, or on whose machine."""

from __future__ import annotations

import os
from pathlib import Path

_ROOT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")


def project_root(path: str | os.PathLike) -> Path:
    """The nearest folder above ``path`` holding pyproject.toml, setup.py, setup.cfg or .git
    (as black and ruff find a project); the file's own folder when there is none."""
    start = Path(path).resolve().parent
    for folder in (start, *start.parents):
        if any((folder / marker).exists() for marker in _ROOT_MARKERS):
            return folder
    return start


def shown_path(path: str | os.PathLike, root: Path) -> str:
    """``path`` relative to ``root``, with forward slashes on every platform."""
    return Path(os.path.relpath(Path(path).resolve(), root)).as_posix()
