"""Turns generated module text into live functions, with tracebacks that show the generated lines."""

from __future__ import annotations

import linecache


def load_module(text: str, label: str, namespace: dict) -> dict:
    """Execute ``text`` in ``namespace`` (the forward's globals, copied) and return it.

    The text is registered in linecache under ``<gradgen: label>``, so a traceback
    through the generated backward prints its real lines.
    """
    filename = f"<gradgen: {label}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    exec(compile(text, filename, "exec"), namespace)
    return namespace
