"""The one exception gradgen raises for input it refuses, with a location a person can jump to."""

from __future__ import annotations

import ast


class GradgenError(Exception):
    """Input gradgen will not differentiate, located in the user's file.

    ``str(err)`` reads like a compiler message::

        model.py:12:5: error: 'for' loops are not supported yet
            for i in range(n):
            ^
          hint: unroll the loop, or move it outside the derived function
    """

    def __init__(self, message, *, filename=None, lineno=None, col=None,
                 construct=None, hint=None, source_line=None):
        self.message = message
        self.filename = filename
        self.lineno = lineno
        self.col = col  # 1-based, as editors count
        self.construct = construct
        self.hint = hint
        self.source_line = source_line
        super().__init__(self._render())

    def _render(self):
        where = self.filename or "<source>"
        if self.lineno is not None:
            where += f":{self.lineno}"
            if self.col is not None:
                where += f":{self.col}"
        text = f"{where}: error: {self.message}"
        if self.source_line is not None:
            line = self.source_line.rstrip("\n")
            stripped = line.lstrip()
            text += f"\n    {stripped}"
            if self.col is not None:
                caret = max(self.col - 1 - (len(line) - len(stripped)), 0)
                text += "\n    " + " " * caret + "^"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class SourceContext:
    """The file being read, so any stage can raise a located GradgenError."""

    def __init__(self, source: str, filename: str):
        self.source = source
        self.filename = filename
        self.lines = source.splitlines()

    def error(self, node: ast.AST | None, message: str, *, hint: str | None = None,
              construct: str | None = None) -> GradgenError:
        lineno = getattr(node, "lineno", None)
        col = getattr(node, "col_offset", None)
        line = self.lines[lineno - 1] if lineno and lineno <= len(self.lines) else None
        return GradgenError(
            message, filename=self.filename, lineno=lineno,
            col=None if col is None else col + 1, construct=construct, hint=hint,
            source_line=line)

    def segment(self, node: ast.AST) -> str:
        """The source text of a node, folded onto one line."""
        first, last = node.lineno, getattr(node, "end_lineno", None) or node.lineno
        lines = [line.encode("utf-8") for line in self.lines[first - 1:last]]
        if not lines:
            return ""
        end = getattr(node, "end_col_offset", None)
        if end is not None:  # ast offsets count UTF-8 bytes
            lines[-1] = lines[-1][:end]
        lines[0] = lines[0][node.col_offset:]
        return " ".join(part.decode("utf-8", "replace").strip() for part in lines)
