"""Loads the jinja2 rule templates, wherever gradgen is installed or checked out.

jinja2 compiles a template to Python the first time a process loads it, and for the rule
families that took 140 ms: paid by every process's first ``@derive`` and by every CLI run.
The compiled code is kept on disk (jinja2's bytecode cache, checked against each template's
source), which brings it to 7 ms. ``GRADGEN_CACHE_DIR`` moves that cache and
``GRADGEN_NO_CACHE=1`` turns it off; a cache that cannot be read or written is left aside.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import jinja2


def template_dir() -> Path:
    """templates/ beside the package in a checkout, or gradgen/templates when installed."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / "helpers.py.j2").is_file():
            return candidate
    raise RuntimeError(f"gradgen's templates are missing (looked beside {here}); reinstall gradgen")


def cache_dir() -> Path | None:
    """Where compiled templates are kept: $GRADGEN_CACHE_DIR, else the user's cache folder
    (~/.cache/gradgen on Linux); None when $GRADGEN_NO_CACHE is set or there is no home."""
    if os.environ.get("GRADGEN_NO_CACHE", "") not in ("", "0"):
        return None
    if os.environ.get("GRADGEN_CACHE_DIR"):
        return Path(os.environ["GRADGEN_CACHE_DIR"])
    try:
        home = Path.home()
    except (RuntimeError, KeyError):  # no HOME and no password entry: no cache
        return None
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache")
    return base / "gradgen"


class _Cache(jinja2.FileSystemBytecodeCache):
    """jinja2's on-disk cache of compiled templates that never fails a derive: whatever goes
    wrong reading or writing it, the template is compiled as if there were no cache."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # unreadable or corrupt: compile afresh
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:  # read-only or full: no cache this time
            pass


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    directory = cache_dir()
    if directory is None:
        return None
    directory = directory / "templates"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return _Cache(str(directory), pattern="%s.jinja2-cache")


@functools.lru_cache(maxsize=None)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        bytecode_cache=_bytecode_cache(),
    )


@functools.lru_cache(maxsize=None)
def family(name: str):
    """The macros of one rule family file, e.g. family("arith").mul_a."""
    return environment().get_template(f"{name}.j2").module


def render(name: str, **context) -> str:
    return environment().get_template(name).render(**context)
