"""Adjoints users register for functions gradgen cannot see into.

    @gradgen.rule(softplus)
    def _(x, out, dout):
        return dout * expit(x)

The adjoint is a function of the forward's parameters, its result ``out`` and the
result's adjoint ``dout``, returning one expression per parameter (a tuple when there
are several; None for a parameter with no gradient), or a jinja2 template string
over the same names. gradgen inlines the expression into the generated backward, so
the output stays plain code. Rules in the same file as the derived function are read
from the source (the CLI sees them too); rules imported from elsewhere are found in
the registry when the decorator runs.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass, field

from .errors import GradgenError, SourceContext


@dataclass
class UserRule:
    """The adjoint of one user function, as an expression per forward parameter."""

    name: str  # the forward function's name, as the derived code calls it
    params: list[str]  # the forward's parameters
    adjoints: list[ast.expr | None]  # one per parameter; None: no gradient
    template: str | None = None  # a jinja2 string instead of expressions (one parameter)
    globals: dict = field(default_factory=dict, repr=False)  # the adjoint's module globals (decorator)

    @property
    def names(self) -> list[str]:
        return [*self.params, "out", "dout"]


_REGISTRY: dict = {}


def rule(fn):
    """Register the adjoint of ``fn`` (see the module docstring); returns the adjoint unchanged."""

    def register(adjoint):
        _REGISTRY[fn] = _from_functions(fn, adjoint)
        return adjoint

    return register


def registered(fn) -> UserRule | None:
    try:
        return _REGISTRY.get(fn)
    except TypeError:  # unhashable objects have no rules
        return None


def _from_functions(fn, adjoint) -> UserRule:
    try:
        source = textwrap.dedent(inspect.getsource(adjoint))
        filename = inspect.getsourcefile(adjoint) or "<rule>"
    except (OSError, TypeError):
        raise GradgenError(f"cannot read the source of the rule for '{fn.__name__}'",
                           hint="define the rule in a .py file") from None
    tree = ast.parse(source)
    node = next(n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
    params = list(inspect.signature(fn).parameters)
    built = _from_ast(SourceContext(source, filename), fn.__name__, params, node)
    built.globals = adjoint.__globals__
    return built


def _from_ast(ctx: SourceContext, name: str, params: list[str], node: ast.FunctionDef) -> UserRule:
    expected = [*params, "out", "dout"]
    given = [a.arg for a in node.args.args]
    if given != expected:
        raise ctx.error(node, f"the rule for '{name}' takes ({', '.join(given)})",
                        hint=f"write it as def _({', '.join(expected)}): return ...")
    body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    if len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None:
        raise ctx.error(node, f"the rule for '{name}' must be a single 'return' of its adjoint",
                        hint="return dout * ..., or a tuple with one entry per parameter")
    value = body[0].value
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        if len(params) != 1:
            raise ctx.error(value, "a template rule is for a function of one parameter",
                            hint="return a tuple of expressions instead")
        return UserRule(name, params, [None], template=value.value)
    items = value.elts if isinstance(value, ast.Tuple) else [value]
    if len(items) != len(params):
        raise ctx.error(value, f"the rule for '{name}' returns {len(items)} adjoint(s) for "
                        f"{len(params)} parameter(s)", hint="return one entry per parameter (None for none)")
    adjoints = [None if isinstance(i, ast.Constant) and i.value is None else i for i in items]
    return UserRule(name, params, adjoints)


def rules_in_module(ctx: SourceContext, tree: ast.Module) -> dict[str, UserRule]:
    """Rules written in this file: ``@gradgen.rule(fn)`` (or ``@rule(fn)``) on a function."""
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    found = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            if not (isinstance(deco, ast.Call) and _is_rule(deco.func) and len(deco.args) == 1
                    and isinstance(deco.args[0], ast.Name)):
                continue
            target = deco.args[0].id
            forward = functions.get(target)
            params = [a.arg for a in forward.args.args] if forward is not None else None
            if params is None:  # imported: the rule's own parameters say what the forward takes
                params = [a.arg for a in node.args.args][:-2]
            found[target] = _from_ast(ctx, target, params, node)
    return found


def _is_rule(func) -> bool:
    if isinstance(func, ast.Attribute):
        return func.attr == "rule" and isinstance(func.value, ast.Name)
    return isinstance(func, ast.Name) and func.id == "rule"
