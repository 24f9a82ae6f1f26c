"""What a module binds at top level, so generated code can import or copy what the forward reads.

The CLI never runs the user's file, so everything here is read off the AST:
numpy aliases, other imports, and constants simple enough to write out again.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

from .errors import SourceContext

BUILTIN_NAMES = frozenset(dir(builtins))


@dataclass
class ModuleScope:
    """Top-level bindings of one module, by name."""

    numpy_aliases: set[str] = field(default_factory=set)  # import numpy as np
    numpy_names: dict[str, str] = field(default_factory=dict)  # from numpy import exp -> {"exp": "exp"}
    special_aliases: set[str] = field(default_factory=set)  # import scipy.special as sp
    special_names: dict[str, str] = field(default_factory=dict)  # from scipy.special import expit
    bindings: dict[str, ast.stmt] = field(default_factory=dict)  # last top-level binding per name

    def kind(self, name: str) -> str | None:
        """'numpy', 'import', 'constant', 'function', 'class', 'other', 'builtin' or None."""
        if name in self.numpy_aliases:
            return "numpy"
        stmt = self.bindings.get(name)
        if stmt is None:
            return "builtin" if name in BUILTIN_NAMES else None
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            return "import"
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return "function"
        if isinstance(stmt, ast.ClassDef):
            return "class"
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            return "constant"
        return "other"


def read_scope(tree: ast.Module) -> ModuleScope:
    scope = ModuleScope()
    for stmt in tree.body:
        for name in _bound_names(stmt):
            scope.bindings[name] = stmt
            scope.numpy_aliases.discard(name)
            scope.numpy_names.pop(name, None)
            scope.special_aliases.discard(name)
            scope.special_names.pop(name, None)
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.name == "numpy":
                    scope.numpy_aliases.add(alias.asname or "numpy")
                elif alias.name == "scipy.special" and alias.asname:
                    scope.special_aliases.add(alias.asname)
        elif isinstance(stmt, ast.ImportFrom) and stmt.module == "numpy" and stmt.level == 0:
            for alias in stmt.names:
                scope.numpy_names[alias.asname or alias.name] = alias.name
        elif isinstance(stmt, ast.ImportFrom) and stmt.module == "scipy.special" and stmt.level == 0:
            for alias in stmt.names:
                scope.special_names[alias.asname or alias.name] = alias.name
        elif isinstance(stmt, ast.ImportFrom) and stmt.module == "scipy" and stmt.level == 0:
            for alias in stmt.names:
                if alias.name == "special":
                    scope.special_aliases.add(alias.asname or "special")
    return scope


def _bound_names(stmt: ast.stmt) -> list[str]:
    if isinstance(stmt, ast.Import):
        return [a.asname or a.name.split(".")[0] for a in stmt.names]
    if isinstance(stmt, ast.ImportFrom):
        return [a.asname or a.name for a in stmt.names if a.name != "*"]
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [stmt.name]
    if isinstance(stmt, ast.Assign):
        return [n.id for t in stmt.targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    if isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) and isinstance(stmt.target, ast.Name):
        return [stmt.target.id]
    return []


def header_statements(ctx: SourceContext, scope: ModuleScope, names: list[str],
                      use_sites: dict[str, ast.AST], functions: frozenset[str] = frozenset()
                      ) -> list[ast.stmt]:
    """Import and constant statements that bind ``names`` in a generated module.

    Constants are copied with the constants they read, in file order. A global
    that is computed by running code (a call, a comprehension) is refused: the
    generated module must not import the user's module, which usually imports it.
    """
    needed: dict[str, None] = {}

    def need(name: str, site: ast.AST):
        if name in needed or scope.kind(name) in (None, "builtin"):
            return
        kind = scope.kind(name)
        stmt = scope.bindings.get(name)
        if kind == "function" and name in functions:  # a function with a user rule: copied
            needed[name] = None
            own = {a.arg for a in stmt.args.args}
            for sub in ast.walk(stmt):
                if isinstance(sub, ast.Name) and sub.id not in own and sub.id != name:
                    need(sub.id, site)
            return
        if kind in ("function", "class", "other"):
            raise ctx.error(site, f"the forward reads '{name}', a {kind} defined in this module",
                            hint=f"pass '{name}' in as an argument, or register a rule for it")
        needed[name] = None
        if kind == "constant":
            _check_constant(ctx, scope, name, stmt, site)
            for sub in ast.walk(stmt.value):
                if isinstance(sub, ast.Name) and sub.id != name:
                    need(sub.id, site)

    for name in names:
        need(name, use_sites.get(name))

    out: list[ast.stmt] = []
    emitted: set[int] = set()
    order = sorted(needed, key=lambda n: (scope.bindings[n].lineno, n) if n in scope.bindings else (0, n))
    for name in order:
        stmt = scope.bindings.get(name)
        if stmt is None:  # a numpy alias with no later rebinding: import numpy as np
            out.append(_numpy_import(name))
        elif isinstance(stmt, ast.Import):
            aliases = [a for a in stmt.names if (a.asname or a.name.split(".")[0]) == name]
            out.append(ast.Import(names=aliases))
        elif isinstance(stmt, ast.ImportFrom):
            aliases = [a for a in stmt.names if (a.asname or a.name) == name]
            out.append(ast.ImportFrom(module=stmt.module, names=aliases, level=stmt.level))
        elif id(stmt) not in emitted:
            emitted.add(id(stmt))
            out.append(stmt)
    return out


def _numpy_import(alias: str) -> ast.stmt:
    if alias == "numpy":
        return ast.Import(names=[ast.alias(name="numpy")])
    return ast.Import(names=[ast.alias(name="numpy", asname=alias)])


_CONSTANT_NODES = (ast.Constant, ast.Name, ast.Load, ast.BinOp, ast.UnaryOp, ast.operator,
                   ast.unaryop, ast.Tuple, ast.List, ast.Attribute, ast.Call, ast.keyword)


def _check_constant(ctx, scope, name, stmt, site):
    value = getattr(stmt, "value", None)
    ok = value is not None and (isinstance(stmt, ast.AnnAssign) or len(stmt.targets) == 1)
    if ok:
        for sub in ast.walk(value):
            if not isinstance(sub, _CONSTANT_NODES):
                ok = False
            elif isinstance(sub, ast.Call):
                ok = ok and _is_numpy_call(scope, sub.func)
    if not ok:
        raise ctx.error(site, f"the forward reads the global '{name}', which is computed by running "
                        f"code at line {stmt.lineno}",
                        hint=f"gradgen copies only plain constants into generated code; pass '{name}' "
                        "in as an argument")


def _is_numpy_call(scope, func) -> bool:
    root = func
    while isinstance(root, ast.Attribute):
        root = root.value
    if not (isinstance(root, ast.Name) and root.id in scope.numpy_aliases):
        return False
    return "random" not in ast.unparse(func).split(".")
