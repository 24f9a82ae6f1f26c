"""Source text to generated module, stage by stage: parse -> graph -> reverse -> emit.

Both doors use this: the decorator (with the function object's module source)
and the CLI (with a file it reads but never runs).
"""

from __future__ import annotations

import ast
import contextlib
import gc
import sys
from dataclasses import dataclass

from . import __version__
from .emit import Unit, emit_module, emit_modules
from .errors import GradgenError, SourceContext
from .parse import parse_function
from .reverse import check_wrt, default_wrt, reverse
from .scope import ModuleScope, read_scope
from .simplify import fuse
from .user_rules import rules_in_module


@dataclass
class DerivedSpec:
    """A function marked with @gradgen.derive in a file, and the wrt its decorator names."""

    node: ast.FunctionDef
    wrt: tuple[str, ...] | None
    check_shapes: bool = False


def parse_source(source: str, filename: str) -> tuple[SourceContext, ast.Module, ModuleScope]:
    ctx = SourceContext(source, filename)
    try:
        with deep_recursion(ctx):
            tree = ast.parse(source, filename=filename)
    except (SyntaxError, MemoryError) as err:
        if isinstance(err, MemoryError):
            raise GradgenError("the file is nested too deeply for Python's parser", filename=filename) from None
        raise GradgenError(f"syntax error: {err.msg}", filename=filename, lineno=err.lineno,
                           col=err.offset, source_line=err.text, construct="syntax") from None
    return ctx, tree, read_scope(tree)


@contextlib.contextmanager
def deep_recursion(ctx: SourceContext | None = None):
    """Room for expressions nested hundreds deep (each stage walks the AST recursively); past
    even that, a located GradgenError rather than a RecursionError."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20000))
    try:
        yield
    except RecursionError:
        raise GradgenError("an expression is nested too deeply for gradgen",
                           filename=ctx.filename if ctx else None,
                           hint="split it into several assignments") from None
    finally:
        sys.setrecursionlimit(limit)


@contextlib.contextmanager
def gc_paused():
    """No cyclic garbage collection while a backward is built. Generation makes hundreds of
    thousands of short-lived AST nodes and few cycles; each collection walks every live object,
    so with collection on, generation time grew faster than the function (2.15 against
    1.46 ms per statement at 2,000 and 100 statements). The cycles left are collected after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def build_unit(ctx: SourceContext, scope: ModuleScope, fn: ast.FunctionDef, wrt=None,
               runtime_names: frozenset[str] = frozenset(), check_shapes: bool = False,
               rules=None, tree: ast.Module | None = None) -> Unit:
    """One derived function, parsed, fused and reversed. ``rules``: user rules by name, added
    to the ones written in ``tree`` (the file being read)."""
    found = rules_in_module(ctx, tree) if tree is not None else {}
    graph = parse_function(ctx, fn, scope, runtime_names, {**found, **(rules or {})})
    wrt = default_wrt(graph, ctx, fn) if wrt is None else check_wrt(graph, wrt, ctx, _wrt_site(fn))
    fuse(graph)
    return Unit(graph, reverse(graph, wrt), ctx, scope, check_shapes)


def _wrt_site(fn: ast.FunctionDef) -> ast.AST:
    """Where a wrt problem is shown: the decorator's wrt=..., else the def line."""
    for deco in fn.decorator_list:
        for kw in getattr(deco, "keywords", []):
            if kw.arg == "wrt":
                return kw.value
    return fn


def module_text(units: list[Unit], source_name: str, command: str | None = None) -> str:
    return emit_module(units, source_name=source_name, version=__version__, command=command)


def module_texts(units: list[Unit], source_name: str) -> tuple[str, str]:
    """The module text, and the text the decorator runs (without the copied header)."""
    return emit_modules(units, source_name=source_name, version=__version__)


def derived_functions(ctx: SourceContext, tree: ast.Module) -> list[DerivedSpec]:
    """Functions in the file decorated with gradgen.derive, in file order."""
    gradgen_modules, derive_names = set(), set()
    for stmt in ast.walk(tree):
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.name == "gradgen":
                    gradgen_modules.add(alias.asname or "gradgen")
        elif isinstance(stmt, ast.ImportFrom) and stmt.module == "gradgen":
            for alias in stmt.names:
                if alias.name == "derive":
                    derive_names.add(alias.asname or "derive")
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for deco in node.decorator_list:
            call = deco if isinstance(deco, ast.Call) else None
            target = call.func if call else deco
            is_derive = (isinstance(target, ast.Attribute) and target.attr == "derive"
                         and isinstance(target.value, ast.Name) and target.value.id in gradgen_modules) \
                or (isinstance(target, ast.Name) and target.id in derive_names)
            if is_derive and isinstance(node, ast.AsyncFunctionDef):
                raise ctx.error(node, "async functions cannot be derived",
                                hint="derive a plain def; await outside it", construct="async def")
            if is_derive:
                found.append(DerivedSpec(node, _decorator_wrt(ctx, call), _decorator_flag(call, "check_shapes")))
    found.sort(key=lambda spec: spec.node.lineno)
    return found


def _decorator_flag(call, name) -> bool:
    for kw in getattr(call, "keywords", []):
        if kw.arg == name and isinstance(kw.value, ast.Constant):
            return bool(kw.value.value)
    return False


def _decorator_wrt(ctx, call):
    if call is None:
        return None
    for kw in call.keywords:
        if kw.arg == "wrt":
            try:
                value = ast.literal_eval(kw.value)
            except ValueError:
                raise ctx.error(kw.value, "wrt must be written as a literal tuple of names here",
                                hint='write wrt=("W", "b")') from None
            return (value,) if isinstance(value, str) else tuple(value)
    return None


def generate_graph(source: str, filename: str, *, function: str | None = None, wrt=None) -> str:
    """The Graphviz DOT picture of the derived functions in ``source`` (or the one named)."""
    from .dot import to_dot

    ctx, tree, scope = parse_source(source, filename)
    with deep_recursion(ctx), gc_paused():
        return to_dot([build_unit(ctx, scope, spec.node, wrt if wrt is not None else spec.wrt, tree=tree)
                       for spec in _selected(ctx, tree, function, filename)])


def _selected(ctx, tree, function, filename) -> list[DerivedSpec]:
    specs = derived_functions(ctx, tree)
    if function is not None:
        specs = [s for s in specs if s.node.name == function]
        if not specs:
            candidates = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                          and n.name == function]
            if candidates and isinstance(candidates[0], ast.AsyncFunctionDef):
                raise ctx.error(candidates[0], "async functions cannot be derived",
                                hint="derive a plain def; await outside it", construct="async def")
            if not candidates:
                raise GradgenError(f"no function named '{function}' at the top level of this file",
                                   filename=filename)
            specs = [DerivedSpec(candidates[0], None)]
    if not specs:
        raise GradgenError("no function decorated with @gradgen.derive in this file",
                           filename=filename,
                           hint="decorate the forward with @gradgen.derive, or name it with -f NAME")
    return specs


def generate(source: str, filename: str, *, function: str | None = None, wrt=None,
             source_name: str | None = None, command: str | None = None,
             check_shapes: bool = False) -> str:
    """The backward module for the derived functions in ``source`` (or the one named)."""
    ctx, tree, scope = parse_source(source, filename)
    specs = _selected(ctx, tree, function, filename)
    with deep_recursion(ctx), gc_paused():
        units = [build_unit(ctx, scope, spec.node, wrt if wrt is not None else spec.wrt,
                            check_shapes=check_shapes or spec.check_shapes, tree=tree) for spec in specs]
        return module_text(units, source_name or filename, command)
