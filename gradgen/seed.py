"""A scalar loss's seed taken as 1.0 while the adjoints are written, as a person writes them.

The backward is linear in the seed, so gradgen writes it for the seed 1.0 (``dq = m``,
``dy = 2.0 * y``: one pass over the arrays fewer for each product with the seed) and scales
the gradients once at the end when the caller passes another seed. The 1.0 is folded only
where that cannot change a result: in products with values known to be floats, and in
arithmetic with other numbers. Where it would stand alone (``np.broadcast_to(1.0, ...)``
would make float64 out of float32 work) the reverse pass is run again without folding.
"""

from __future__ import annotations

import ast

from .graph import clone, written_array

_ARITHMETIC = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
               ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b}


def one() -> ast.Constant:
    """The seed, 1.0, marked as coming from the seed."""
    return _marked(1.0)


def is_seed_constant(node) -> bool:
    return isinstance(node, ast.Constant) and getattr(node, "gg_seed", False)


class Folder(ast.NodeTransformer):
    """Substitutes names known to hold seed-derived numbers, and folds the arithmetic.

    ``constants``: name -> the seed-derived number or scalar expression it holds (3.0,
    -(1.0 / n)). ``is_float(name)``: whether a name is known to hold floats, so that
    ``1.0 * name`` may become ``name`` without changing its dtype."""

    def __init__(self, constants: dict, is_float, number_of, is_python_float=lambda name: False):
        self.constants = constants
        self.is_float = is_float
        self.number_of = number_of  # name -> the number a constant of the source holds, or None
        self.is_python_float = is_python_float  # a parameter annotated float: 1.0 * reg is reg

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load) and node.id in self.constants:
            return clone(self.constants[node.id])
        return node

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.USub) and is_seed_constant(node.operand):
            return _marked(-node.operand.value)
        inner = node.operand
        if isinstance(node.op, ast.USub) and isinstance(inner, ast.UnaryOp) and isinstance(inner.op, ast.USub) \
                and _has_seed(inner.operand):
            return inner.operand  # -(-(1.0 / n)) is 1.0 / n, exactly
        return node

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        value = node.value
        if isinstance(node.op, ast.Add) and isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub) \
                and _has_seed(value.operand):
            node.op, node.value = ast.Sub(), value.operand  # dx[i] += -(1.0 / n) reads dx[i] -= 1.0 / n
        elif isinstance(node.op, ast.Add) and is_seed_constant(value) and value.value < 0:
            node.op, node.value = ast.Sub(), _marked(-value.value)  # dx[i] += -1.0 reads dx[i] -= 1.0
        elif isinstance(node.op, ast.Add) and isinstance(value, ast.BinOp) and isinstance(value.op, ast.Div) \
                and is_seed_constant(value.left) and value.left.value < 0:
            node.op = ast.Sub()  # dx[i] += -1.0 / n reads dx[i] -= 1.0 / n
            node.value = ast.BinOp(left=_marked(-value.left.value), op=ast.Div(), right=value.right)
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        left, right, op = node.left, node.right, type(node.op)
        positive = self._negated(left) if op is ast.Mult else None
        if positive is not None and isinstance(right, ast.BinOp) and isinstance(right.op, ast.Sub):
            # -(1.0 / n) * (y - yhat * s) -> (1.0 / n) * (yhat * s - y): the same numbers, exactly
            left, right = positive, ast.BinOp(left=right.right, op=ast.Sub(), right=right.left)
            if is_seed_constant(left) and left.value == 1.0 and _has_array(right, self.is_float):
                return right  # -1.0 * (y - yhat * s) -> yhat * s - y
            node = ast.BinOp(left=left, op=ast.Mult(), right=right)
        if op is ast.Mult and isinstance(left, ast.BinOp) and isinstance(left.op, ast.Div) and \
                is_seed_constant(left.left) and left.left.value == 1.0 and \
                not _has_array(left.right, self.is_float) and _has_array(right, self.is_float):
            # (1.0 / n) * (yhat * s - y) -> (yhat * s - y) / n, as the notes write it (within an ulp)
            return ast.BinOp(left=right, op=ast.Div(), right=left.right)
        if op is ast.Mult and isinstance(right, ast.BinOp) and isinstance(right.op, ast.Div) and \
                is_seed_constant(right.left) and self._number(left) is not None:
            # 2 * (0.5 / n) -> 1.0 / n
            return ast.BinOp(left=_marked(self._number(left) * right.left.value), op=ast.Div(), right=right.right)
        if not (is_seed_constant(left) or is_seed_constant(right)):
            return node
        a, b = self._number(left), self._number(right)
        if a is not None and b is not None and op in _ARITHMETIC:
            if op is ast.Div and b == 0:
                return node
            return _marked(_ARITHMETIC[op](a, b))
        if op is ast.Mult and is_seed_constant(left) and left.value == 1.0 and \
                (self._float(right) or _has_array(right, self.is_float)):
            return right  # 1.0 * (1.0 - h ** 2) is 1.0 - h ** 2: float arrays in, the same floats out
        if op in (ast.Mult, ast.Div) and is_seed_constant(right) and right.value == 1.0 and \
                (self._float(left) or _has_array(left, self.is_float)):
            return left
        return node

    def _negated(self, node):
        """-c for a seed-derived number c < 0 written as -(...), -1.0, or -1.0 / n; else None."""
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and scalar(node.operand, self.is_float):
            return node.operand
        if is_seed_constant(node) and node.value < 0:
            return _marked(-node.value)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and is_seed_constant(node.left) and \
                node.left.value < 0 and not _has_array(node.right, self.is_float):
            return ast.BinOp(left=_marked(-node.left.value), op=ast.Div(), right=node.right)
        return None

    def _number(self, node):
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.Name):
            return self.number_of(node.id)
        return None

    def _float(self, node) -> bool:
        return isinstance(node, ast.Name) and (self.is_float(node.id) or self.is_python_float(node.id))


def scalar(expr, arrayish) -> bool:
    """Whether ``expr`` holds a seed-derived number and, as far as gradgen can tell, no array:
    a number to carry into the statements that read it (as 1.0 / n is), not to name."""
    return _has_seed(expr) and not _has_array(expr, arrayish)


def _has_seed(expr) -> bool:
    """Whether the arithmetic of ``expr`` (not looking into calls) holds a seed-derived number."""
    if isinstance(expr, ast.BinOp):
        return _has_seed(expr.left) or _has_seed(expr.right)
    if isinstance(expr, ast.UnaryOp):
        return _has_seed(expr.operand)
    return is_seed_constant(expr)


def stray(tree, arrayish) -> bool:
    """Whether a seed-derived number is anywhere but in arithmetic with an array known to hold
    floats (there the number takes the array's precision; alone it would be float64)."""
    seeds = [node for node in ast.walk(tree) if is_seed_constant(node)]
    if not seeds:  # most statements: no parents to map
        return False
    parents = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
    for node in seeds:
        top = node
        while isinstance(parents.get(id(top)), (ast.BinOp, ast.UnaryOp)):
            top = parents[id(top)]
        update = parents.get(id(top))
        if isinstance(update, ast.AugAssign) and update.value is top and \
                _has_array(written_array(update.target), arrayish):
            continue  # dx[rows, y] += -1.0 / n: cast into the array's precision
        if not _has_array(top, arrayish):
            return True
    return False


def _has_array(expr, arrayish) -> bool:
    """Whether the arithmetic of ``expr`` (not looking into calls) reads an array of floats."""
    if isinstance(expr, ast.Name):
        return arrayish(expr.id)
    if isinstance(expr, ast.BinOp):
        return _has_array(expr.left, arrayish) or _has_array(expr.right, arrayish)
    if isinstance(expr, ast.UnaryOp):
        return _has_array(expr.operand, arrayish)
    return False


def _marked(value) -> ast.Constant:
    node = ast.Constant(value=value)
    node.gg_seed = True
    return node


