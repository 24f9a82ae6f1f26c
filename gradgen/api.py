"""The decorator: ``@gradgen.derive`` generates the backward when it runs, and attaches it."""

from __future__ import annotations

import ast
import builtins
import functools
import inspect
import linecache

from .emit import function_names
from .errors import GradgenError
from .load import load_functions
from .paths import project_root, shown_path
from .user_rules import registered
from .pipeline import build_unit, deep_recursion, gc_paused, module_texts, parse_source


def derive(fn=None, *, wrt=None, check_shapes=False):
    """Generate the backward of ``fn`` now; usable as ``@derive`` or ``@derive(wrt=("W", "b"))``.

    ``wrt`` names the parameters to differentiate; by default every parameter the
    result depends on through differentiable operations. ``check_shapes=True`` adds
    an assert per gradient that it has its parameter's shape.
    """
    if fn is None:
        return lambda f: derive(f, wrt=wrt, check_shapes=check_shapes)
    if isinstance(fn, DerivedFunction):
        fn = fn.forward
    return DerivedFunction(fn, wrt, check_shapes)


class DerivedFunction:
    """The forward, unchanged when called, with its generated backward attached.

    Attributes: ``backward``, ``value_and_grad``, ``source`` (the generated module),
    ``wrt`` (names, in the order gradients are returned), ``seed_name``.
    """

    def __init__(self, fn, wrt=None, check_shapes=False):
        self.forward = fn
        functools.update_wrapper(self, fn)
        filename, source = _module_source(fn)
        ctx, tree, scope = _parsed_module(source, filename)
        node = _find_function(tree, fn)
        if isinstance(node, ast.AsyncFunctionDef):
            raise ctx.error(node, "async functions cannot be derived",
                            hint="derive a plain def; await outside it", construct="async def")
        if node is None:
            raise GradgenError(f"cannot find the source of '{fn.__name__}' in {filename}",
                               filename=filename, hint="derive a function defined in a file")
        runtime = frozenset(fn.__code__.co_freevars) | frozenset(fn.__globals__)
        imported_rules = _registered_rules(fn)
        with deep_recursion(ctx), gc_paused():
            unit = build_unit(ctx, scope, node, wrt, runtime, check_shapes, imported_rules, tree)
            self.source, runtime_text = module_texts([unit], shown_path(filename, project_root(filename)))
        _check_numpy_aliases(fn, scope, filename)
        self.wrt = tuple(unit.backward.wrt)
        # The functions that run read the forward's globals live (a constant rebound later is
        # seen by both), so they are built from the module without its copied header.
        self.value_and_grad, self.backward = load_functions(
            runtime_text, fn.__qualname__, fn.__globals__, _bindings(fn, unit),
            list(function_names(fn.__name__)))
        self.seed_name = list(inspect.signature(self.backward).parameters)[-1]

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def __repr__(self):
        return f"<gradgen.derive {self.forward.__qualname__} wrt={self.wrt}>"


def _bindings(fn, unit) -> dict:
    """Names the generated code reads that the forward's module does not define: the
    forward's closure variables, and globals of user rules written in other modules."""
    cells = dict(zip(fn.__code__.co_freevars, (c.cell_contents for c in fn.__closure__ or ())))
    rule_globals = [r.globals for r in (unit.graph.rules_used or {}).values() if r.globals]
    found = {}
    for name in unit.graph.module_names:
        if name in fn.__globals__ or name in builtins.__dict__:
            continue
        if name in cells:
            found[name] = cells[name]
        else:
            found.update({name: g[name] for g in rule_globals if name in g})
    return found


def _registered_rules(fn) -> dict:
    """Rules registered with gradgen.rule for the functions the forward can call by name."""
    found = {}
    cells = zip(fn.__code__.co_freevars, fn.__closure__ or ())
    for name, value in [*fn.__globals__.items(), *((n, c.cell_contents) for n, c in cells)]:
        if callable(value):
            rule = registered(value)
            if rule is not None:
                found[name] = rule
    return found


@functools.lru_cache(maxsize=2)
def _parsed_module(source: str, filename: str):
    """parse_source, once per module text: the decorators of a module run one after another,
    so a module with several derived functions is parsed once, not once per decorator (4 ms
    each for a 350-line file). Nothing downstream changes the tree or the scope."""
    return parse_source(source, filename)


def _module_source(fn):
    try:
        filename = inspect.getsourcefile(fn) or inspect.getfile(fn)
    except TypeError:
        filename = None
    lines = linecache.getlines(filename, fn.__globals__) if filename else []
    if not lines:
        raise GradgenError(f"the source of '{fn.__name__}' is not available",
                           filename=filename or "<unknown>",
                           hint="gradgen reads the function's source: define it in a .py file")
    return filename, "".join(lines)


def _find_function(tree, fn):
    first = fn.__code__.co_firstlineno
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == fn.__name__:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            if first in (start, node.lineno):
                return node
    return None


def _check_numpy_aliases(fn, scope, filename):
    import numpy
    for alias in scope.numpy_aliases:
        bound = fn.__globals__.get(alias, numpy)
        if bound is not numpy:
            raise GradgenError(f"'{alias}' is imported as numpy but is bound to {bound!r} at run time",
                               filename=filename, hint=f"do not rebind '{alias}'")
