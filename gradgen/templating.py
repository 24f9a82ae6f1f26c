"""Loads the jinja2 rule templates, wherever gradgen is installed or checked out."""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2


def template_dir() -> Path:
    """templates/ beside the package in a checkout, or gradgen/templates when installed."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / "helpers.py.j2").is_file():
            return candidate
    raise RuntimeError(f"gradgen's templates are missing (looked beside {here}); reinstall gradgen")


@functools.lru_cache(maxsize=None)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


@functools.lru_cache(maxsize=None)
def family(name: str):
    """The macros of one rule family file, e.g. family("arith").mul_a."""
    return environment().get_template(f"{name}.j2").module


def render(name: str, **context) -> str:
    return environment().get_template(name).render(**context)
