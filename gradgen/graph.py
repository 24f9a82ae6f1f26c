"""The static graph every stage reads: values, the primitive nodes that make them, and regions.

A function body is a Region: an ordered list of Statements, each holding the
nodes its right-hand side lowered to. Branches and loops will be nodes that own
sub-regions, so nothing below has to change shape to admit them.

Nodes keep their forward expression as an AST in which each input is a
placeholder name (``__gg7__``). Emission swaps placeholders for the final
names, so the forward is rebuilt exactly as the user spelled it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

PLACEHOLDER = re.compile(r"^__gg(\d+)__$")


@dataclass(eq=False)
class Value:
    """One SSA value: a parameter, a constant, a global, or a node's output."""

    id: int
    hint: str
    kind: str  # "param" | "const" | "global" | "node"
    user: bool = False  # bound by the user's own assignment (keeps its name)
    literal: ast.expr | None = None  # the expression of a const or global
    producer: "Node | None" = None
    rank: int | None = None  # 0 when statically a scalar, None when unknown
    active: bool = False  # depends on a parameter through differentiable edges
    shape: tuple | None = None  # static shape (see shapes.py), None when the rank is unknown
    known: object = None  # a non-differentiable value known statically: a Dim, -1, or a tuple of them
    dtype: str | None = None  # "float", "int" or "bool" when known
    python_scalar: bool = False  # annotated as the builtin float or int: no NumPy precision to keep

    @property
    def is_none(self) -> bool:
        """The constant None (an absent bound, as in np.clip(x, None, 1.0))."""
        return self.kind == "const" and isinstance(self.literal, ast.Constant) and self.literal.value is None

    @property
    def placeholder(self) -> str:
        return f"__gg{self.id}__"

    def ref(self) -> ast.Name:
        return ast.Name(id=self.placeholder, ctx=ast.Load())

    def __repr__(self):
        return f"<Value {self.hint}#{self.id}>"


@dataclass(eq=False)
class Node:
    """One primitive application, e.g. ``matmul(X, W)`` or ``sum(x, axis=0)``."""

    op: str
    inputs: list[Value]
    expr: ast.expr  # forward expression over input placeholders
    out: Value
    stmt: "Statement"
    diff_inputs: tuple[int, ...] = ()  # input positions a gradient flows through
    attrs: dict = field(default_factory=dict)
    extra_outs: list[Value] = field(default_factory=list)  # tuple unpacking
    fused: object = None  # a simplify.Fused rule that replaces the per-input rules

    @property
    def outs(self) -> list[Value]:
        return [self.out, *self.extra_outs]


@dataclass(eq=False)
class Statement:
    """One line of the forward function, kept for comments and error locations."""

    lineno: int
    col: int
    text: str
    nodes: list[Node] = field(default_factory=list)


@dataclass(eq=False)
class Region:
    """A straight-line sequence of statements."""

    statements: list[Statement] = field(default_factory=list)

    def nodes(self):
        for stmt in self.statements:
            yield from stmt.nodes


@dataclass(eq=False)
class Param:
    name: str
    value: Value
    default: ast.expr | None = None


@dataclass(eq=False)
class Graph:
    """The forward function as a static graph."""

    name: str
    filename: str
    params: list[Param]
    body: Region
    output: Value
    output_name: str  # the name the seed is called after: "J" for ``return J``
    values: list[Value]
    reserved: set[str]  # every name the forward's code may see
    numpy_alias: str | None  # the user's name for numpy that the generated code may use
    module_names: dict[str, ast.AST]  # module-level names the forward reads -> first use site
    rules_used: dict = None  # user rules (gradgen.rule) the forward calls, by name

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)


def swap_names(tree: ast.AST, swap) -> ast.AST:
    """``tree`` (changed in place) with each name node replaced by ``swap(node)``, where that
    gives a node, and left as it is where it gives None."""

    class _Swap(ast.NodeTransformer):
        def visit_Name(self, node):
            new = swap(node)
            return node if new is None else new

    return _Swap().visit(tree)


def substitute(expr: ast.AST, mapping) -> ast.AST:
    """Copy ``expr`` with each placeholder name replaced by ``mapping(value_id)``."""

    def swap(node):
        m = PLACEHOLDER.match(node.id)
        return None if m is None else mapping(int(m.group(1)))

    return swap_names(clone(expr), swap)


def written_array(target: ast.expr) -> ast.expr:
    """The array an assignment target writes into: dx of dx[rows, y], dx of dx itself."""
    while isinstance(target, ast.Subscript):
        target = target.value
    return target


def placeholders_in(tree: ast.AST) -> list[int]:
    """Value ids referenced by placeholders in ``tree``, in first-seen order."""
    seen = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            m = PLACEHOLDER.match(node.id)
            if m:
                seen.setdefault(int(m.group(1)), None)
    return list(seen)


def clone(tree):
    """A copy of an AST (with any extra attributes): several times faster than copy.deepcopy,
    which matters because the decorator generates code at import time."""
    if isinstance(tree, ast.AST):
        new = tree.__class__.__new__(tree.__class__)
        new.__dict__.update({k: clone(v) if isinstance(v, (ast.AST, list)) else v
                             for k, v in tree.__dict__.items()})
        return new
    if isinstance(tree, list):
        return [clone(item) for item in tree]
    return tree
