"""Static shapes: named dimensions from annotations, propagated op by op.

A dimension is a product of named factors and an integer (``B``, ``4``,
``m*d``), so ``L[words].reshape(n, -1)`` with ``words: "i[B, m]"`` and
``L: "f[V, d]"`` is known to be ``(B, m*d)``. A shape is a tuple of dimensions,
any of which may be None (unknown); a whole shape of None means even the rank
is unknown. Mismatches that are certain raise ShapeMismatch, which the parser
turns into a located GradgenError, like checking your work by dimensions in the
CS224n notes.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from .numpy_api import BINARY_FUNCS, UNARY_OPS


class ShapeMismatch(Exception):
    """Two known dimensions that cannot agree."""


@dataclass(frozen=True)
class Dim:
    """coef * factor1 * factor2 * ...; factors keep the order they were written in."""

    coef: int = 1
    factors: tuple[str, ...] = ()

    @property
    def key(self):
        return self.coef, tuple(sorted(self.factors))

    def __eq__(self, other):
        return isinstance(other, Dim) and self.key == other.key

    def __hash__(self):
        return hash(self.key)

    @property
    def is_one(self) -> bool:
        return self.coef == 1 and not self.factors

    def __mul__(self, other: "Dim") -> "Dim":
        return Dim(self.coef * other.coef, self.factors + other.factors)

    def divide(self, other: "Dim") -> "Dim | None":
        """self / other when it is exact, else None."""
        if other.coef == 0 or self.coef % other.coef:
            return None
        rest = list(self.factors)
        for f in other.factors:
            if f not in rest:
                return None
            rest.remove(f)
        return Dim(self.coef // other.coef, tuple(rest))

    def __str__(self):
        parts = ([str(self.coef)] if self.coef != 1 or not self.factors else []) + list(self.factors)
        return "*".join(parts)


Shape = "tuple[Dim | None, ...] | None"
ONE = Dim()
_TOKEN = re.compile(r"^(?:\d+|[A-Za-z_]\w*)(?:\*(?:\d+|[A-Za-z_]\w*))*$")


def _clash(a: Dim | None, b: Dim | None) -> bool:
    """Two dimensions that certainly differ: two different numbers, or two different names.
    A name and a number may be equal (D may be 4), so they do not clash."""
    if a is None or b is None or a == b:
        return False
    return bool(a.factors) == bool(b.factors)


def dim(token: str) -> Dim | None:
    """'B' -> B, '4' -> 4, 'm*d' -> m*d, '_' -> unknown."""
    token = token.strip()
    if token == "_" or not _TOKEN.match(token):
        return None
    out = ONE
    for part in token.split("*"):
        out = out * (Dim(int(part)) if part.isdigit() else Dim(1, (part,)))
    return out


def fully_known(shape) -> bool:
    """Whether every dimension of ``shape`` is known (a name or a number)."""
    return shape is not None and all(d is not None for d in shape)


def show(shape) -> str:
    """(B, D) as a person writes it; () for a scalar."""
    if shape is None:
        return "(?)"
    items = ["?" if d is None else str(d) for d in shape]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


# -- annotations -----------------------------------------------------------------

@dataclass(frozen=True)
class Annotation:
    kind: str | None  # "float", "int", "bool" or None when not said
    shape: tuple | None  # None: rank unknown


_DTYPE_PREFIX = {"f": "float", "float": "float", "f16": "float", "f32": "float", "f64": "float",
                 "float32": "float", "float64": "float", "i": "int", "int": "int", "i32": "int",
                 "i64": "int", "int32": "int", "int64": "int", "b": "bool", "bool": "bool", "": None}
_JAXTYPING_KIND = {"Float": "float", "Float16": "float", "Float32": "float", "Float64": "float",
                   "Int": "int", "Int32": "int", "Int64": "int", "Integer": "int", "UInt": "int",
                   "Bool": "bool", "Shaped": None, "Num": None, "Real": None, "Inexact": "float"}
_STRING_ANNOTATION = re.compile(r"^\s*([A-Za-z]*\d*)\s*\[(.*)\]\s*$")


def parse_annotation(node: ast.expr | None) -> Annotation | None:
    """Read ``"f[B, D]"``, ``Float[np.ndarray, "B D"]``, ``float`` or ``int``; None if not a shape."""
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        m = _STRING_ANNOTATION.match(node.value)
        if m is None or m.group(1) not in _DTYPE_PREFIX:
            return None
        return Annotation(_DTYPE_PREFIX[m.group(1)], _dims(m.group(2).replace(",", " ").split()))
    if isinstance(node, ast.Name) and node.id in ("float", "int", "bool"):
        return Annotation(node.id, ())
    if isinstance(node, ast.Subscript):
        head = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", None)
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else []
        if head in _JAXTYPING_KIND and len(items) == 2 and isinstance(items[1], ast.Constant) \
                and isinstance(items[1].value, str):
            return Annotation(_JAXTYPING_KIND[head], _dims(items[1].value.split()))
    return None


def _dims(tokens: list[str]):
    if any(t == "..." or t.startswith("*") for t in tokens):
        return None  # a variable number of dimensions: the rank is not known
    return tuple(None if t.startswith("#") else dim(t) for t in tokens)


# -- propagation ------------------------------------------------------------------

def broadcast(*shapes):
    """The shape NumPy broadcasting gives, raising when two known dimensions clash."""
    if any(s is None for s in shapes):
        return None
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        known = [d for d in dims if d is not None and not d.is_one]
        if any(_clash(d, known[0]) for d in known):
            raise ShapeMismatch(f"dimensions {' and '.join(str(d) for d in dict.fromkeys(known))} "
                                "do not broadcast")
        if known:  # a named dimension says more than a number that may equal it
            out.append(next((d for d in known if d.factors), known[0]))
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(ONE)
    return tuple(out)


def matmul(a, b):
    if a is None or b is None:
        return None
    if len(a) == 0 or len(b) == 0:
        raise ShapeMismatch("matmul needs arrays of rank 1 or more, not scalars")
    a2 = ((ONE,) + a) if len(a) == 1 else a
    b2 = (b + (ONE,)) if len(b) == 1 else b
    k1, k2 = a2[-1], b2[-2]
    if _clash(k1, k2):
        raise ShapeMismatch(f"inner dimensions {k1} and {k2} of the matrix product differ")
    batch = broadcast(a2[:-2], b2[:-2])
    out = batch + (a2[-2], b2[-1])
    if len(b) == 1:
        out = out[:-1]
    if len(a) == 1:
        out = out[:-2] + out[-1:] if len(b) != 1 else out[:-1]
    return out


def dot(a, b):
    if a is None or b is None:
        return None
    if len(a) == 0 or len(b) == 0:
        return broadcast(a, b)
    if len(a) > 2 or len(b) > 2:
        return None
    return matmul(a, b)


def outer(a, b):
    return (size(a), size(b))


def size(shape) -> Dim | None:
    if shape is None or any(d is None for d in shape):
        return None
    out = ONE
    for d in shape:
        out = out * d
    return out


def normalize_axes(axis, rank):
    axes = axis if isinstance(axis, tuple) else (axis,)
    out = []
    for a in axes:
        if not -rank <= a < rank:
            raise ShapeMismatch(f"axis {a} is out of range for an array of rank {rank}")
        out.append(a % rank)
    return tuple(out)


def reduce(shape, axis, keepdims):
    if shape is None:
        return None if not (axis is None and not keepdims) else ()
    if axis is None:
        return tuple(ONE for _ in shape) if keepdims else ()
    axes = normalize_axes(axis, len(shape))
    if keepdims:
        return tuple(ONE if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def transpose(shape, axes):
    if shape is None:
        return None
    if axes is None:
        return tuple(reversed(shape))
    if len(axes) != len(shape):
        raise ShapeMismatch(f"axes {axes} do not match an array of rank {len(shape)}")
    return tuple(shape[i] for i in axes)


def reshape(shape, new):
    """``new``: a list of Dim, None (unknown) or -1 (inferred)."""
    if new is None:
        return None
    if -1 in new:
        known = ONE
        for d in new:
            if d is None:
                return tuple(None for _ in new)
            if d != -1:
                known = known * d
        total = size(shape)
        rest = total.divide(known) if total is not None else None
        return tuple(rest if d == -1 else d for d in new)
    return tuple(new)


def stack(shapes, axis):
    base = broadcast_same(shapes)
    if base is None:
        return None
    rank = len(base) + 1
    (axis,) = normalize_axes(axis, rank)
    return base[:axis] + (Dim(len(shapes)),) + base[axis:]


def concatenate(shapes, axis):
    if any(s is None for s in shapes):
        return None
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes):
        raise ShapeMismatch("np.concatenate needs arrays of the same rank")
    (axis,) = normalize_axes(axis, rank)
    joined = [s[axis] for s in shapes]
    along = Dim(sum(d.coef for d in joined)) if all(d is not None and not d.factors for d in joined) \
        else None
    rest = broadcast_same([s[:axis] + s[axis + 1:] for s in shapes])
    return None if rest is None else rest[:axis] + (along,) + rest[axis:]


def broadcast_same(shapes):
    """Shapes that must be equal (stack, concatenate's other axes): the common one."""
    if any(s is None for s in shapes):
        return None
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes):
        raise ShapeMismatch("the arrays must have the same shape")
    out = []
    for dims in zip(*shapes):
        known = [d for d in dims if d is not None]
        if any(_clash(d, known[0]) for d in known):
            raise ShapeMismatch(f"dimensions {' and '.join(str(d) for d in dict.fromkeys(known))} differ")
        out.append(known[0] if known else None)
    return tuple(out)


def unbroadcast_axes(operand, result):
    """Axes to sum so an adjoint of ``result``'s shape takes ``operand``'s shape.

    Returns (leading axes, kept axes), or None when the shapes cannot say for sure.
    """
    if operand is None or result is None or len(operand) > len(result):
        return None
    lead = len(result) - len(operand)
    keep = []
    for i, d in enumerate(operand):
        r = result[lead + i]
        if d is None:
            return None
        if d.is_one and (r is None or not r.is_one):
            keep.append(i)
    return tuple(range(lead)), tuple(keep)


# -- per node ---------------------------------------------------------------------

_BROADCASTING = frozenset({"add", "sub", "mul", "div", "pow", "maximum", "minimum", "where",
                           "clip"}) | BINARY_FUNCS


def infer_shape(node, values):
    """The static shape of ``node.out`` from its inputs' shapes (None when unknown)."""
    op, ins = node.op, [v.shape for v in node.inputs]
    attrs = node.attrs
    if op in UNARY_OPS or op in ("neg", "copy", "expit", "logit", "erf", "gammaln", "softmax_fn",
                                 "log_softmax_fn"):
        return ins[0]
    if op == "logsumexp":
        return reduce(ins[0], attrs["axis"], attrs["keepdims"])
    if op in _BROADCASTING:
        return broadcast(*ins)
    if op == "matmul":
        return matmul(*ins)
    if op == "dot":
        return dot(*ins)
    if op == "outer":
        return outer(*ins)
    if op == "transpose":
        return transpose(ins[0], attrs.get("axes"))
    if op in ("sum", "mean", "max", "min", "nansum", "nanmean"):
        return reduce(ins[0], attrs["axis"], attrs["keepdims"])
    if op == "reshape":
        return reshape(ins[0], attrs.get("dims"))
    if op == "concatenate":
        return concatenate(ins, attrs["axis"])
    if op == "stack":
        return stack(ins, attrs["axis"])
    if op == "getitem":
        return _getitem(node, values)
    if op == "setitem":  # a[index] = v keeps a's shape
        return ins[0]
    if op == "clip":
        return broadcast(*[v.shape for v in node.inputs if not v.is_none])
    if op == "astype" and attrs.get("reshape") and ins[0] == ():
        return (Dim(1),)  # np.ascontiguousarray makes a 0-d input 1-D
    if op in ("astype", "flip", "roll", "triu", "tril", "inv", "cumsum") and ins[0] is not None:
        if op == "cumsum" and attrs.get("axis") is None:
            return (size(ins[0]),)
        return ins[0]
    if op in ("prod", "var", "std"):
        return reduce(ins[0], attrs.get("axis"), attrs.get("keepdims"))
    if op == "norm":  # a vector norm (one axis), a matrix norm (two), or of all of x (axis=None)
        axis = attrs.get("axis")
        if ins[0] is not None and isinstance(axis, tuple) and len(set(normalize_axes(axis, len(ins[0])))) < len(axis):
            raise ShapeMismatch(f"np.linalg.norm over axes {axis}: the same axis twice")
        return reduce(ins[0], axis, attrs.get("keepdims"))
    if op == "swapaxes" and ins[0] is not None:
        out = list(ins[0])
        i, j = normalize_axes((attrs["axis1"], attrs["axis2"]), len(out))
        out[i], out[j] = out[j], out[i]
        return tuple(out)
    if op == "tensordot":
        return _tensordot(node)
    if op == "inner":
        return _inner(*ins)
    if op == "vdot":
        return ()
    if op in ("convolve", "correlate"):
        return _convolution(*ins, attrs["mode"])
    if op == "sort" and ins[0] is not None:
        return (size(ins[0]),) if attrs["axis"] is None else ins[0]
    if op == "diff":
        return _diff(ins[0], attrs["n"], attrs["axis"])
    if op == "cholesky":
        return ins[0]
    if op == "eigvalsh" and ins[0] is not None:
        return ins[0][:-1]
    if op == "svdvals" and ins[0] is not None and len(ins[0]) >= 2:
        m, n = ins[0][-2:]
        known = m is not None and n is not None and not m.factors and not n.factors
        return ins[0][:-2] + (min(m, n, key=lambda d: d.coef) if known else m if m == n else None,)
    if op == "det" and ins[0] is not None:
        return ins[0][:-2]
    if op == "solve":
        return node.inputs[node.attrs["roles"]["b"]].shape
    if op == "einsum":
        return _einsum(node)
    if op == "nondiff" and attrs.get("elementwise"):
        return broadcast(*ins)
    return None


def tensordot_axes(axes, a_rank: int, b_rank: int):
    """np.tensordot's ``axes`` (an int, or a pair of ints or sequences) as two lists of
    non-negative axes, a's then b's; None when they do not fit the ranks."""
    if axes is None:
        axes = 2
    if type(axes) is int:
        if not 0 <= axes <= min(a_rank, b_rank):
            return None
        return list(range(a_rank - axes, a_rank)), list(range(axes))
    a_axes, b_axes = ([i] if type(i) is int else list(i) for i in axes)
    if len(a_axes) != len(b_axes) or not all(-a_rank <= i < a_rank for i in a_axes) or \
            not all(-b_rank <= i < b_rank for i in b_axes):
        return None
    a_axes, b_axes = [i % a_rank for i in a_axes], [i % b_rank for i in b_axes]
    if len(set(a_axes)) != len(a_axes) or len(set(b_axes)) != len(b_axes):
        return None
    return a_axes, b_axes


def _tensordot(node):
    roles = node.attrs["roles"]
    a, b = node.inputs[roles["a"]].shape, node.inputs[roles["b"]].shape
    if a is None or b is None:
        return None
    axes = tensordot_axes(node.attrs.get("axes"), len(a), len(b))
    if axes is None:
        raise ShapeMismatch(f"np.tensordot axes {node.attrs.get('axes')!r} do not fit ranks "
                            f"{len(a)} and {len(b)}")
    for i, j in zip(*axes):
        if _clash(a[i], b[j]):
            raise ShapeMismatch(f"np.tensordot contracts {show(a)} axis {i} with {show(b)} axis {j}")
    return tuple(d for i, d in enumerate(a) if i not in axes[0]) + \
        tuple(d for j, d in enumerate(b) if j not in axes[1])


def _inner(a, b):
    """np.inner: a's leading axes, then b's; a scalar multiplies."""
    if a is None or b is None:
        return None
    if not a or not b:
        return a or b
    if _clash(a[-1], b[-1]):
        raise ShapeMismatch(f"np.inner contracts the last axes of {show(a)} and {show(b)}, which differ")
    return a[:-1] + b[:-1]


def _convolution(a, v, mode):
    """np.convolve / np.correlate of two vectors: the length follows from the mode."""
    if a is None or v is None or len(a) != 1 or len(v) != 1:
        return (None,) if a is not None and v is not None and len(a) <= 1 and len(v) <= 1 else None
    (n,), (m,) = a, v
    if mode == "same" and n == m:
        return a
    if n is None or m is None or n.factors or m.factors:
        return (None,)
    n, m = n.coef, m.coef
    return (Dim({"full": n + m - 1, "same": max(n, m), "valid": max(n, m) - min(n, m) + 1}[mode]),)


def _diff(x, n, axis):
    """np.diff(x, n, axis): the axis is n shorter, when its length is a number."""
    if x is None or not -len(x) <= axis < len(x):
        return None
    d = x[axis]
    if d is None or d.factors:
        return None
    out = list(x)
    out[axis] = Dim(max(d.coef - n, 0))
    return tuple(out)


def _einsum(node):
    """A repeated letter (a diagonal) is one dimension; '...' is left in the subscripts only
    when some operand's rank is unknown (the parser spells it out in letters otherwise)."""
    if any("..." in letters for letters in node.attrs["inputs"]):
        return None
    dims = {}
    for letters, value in zip(node.attrs["inputs"], node.inputs):
        if value.shape is None:
            return None
        if len(value.shape) != len(letters):
            raise ShapeMismatch(f"einsum operand '{letters}' has rank {len(value.shape)}")
        for c, d in zip(letters, value.shape):
            known = dims.get(c)
            if d is not None and known is not None and not d.is_one and not known.is_one and d != known:
                raise ShapeMismatch(f"einsum index '{c}' is {known} and {d}")
            if known is None or known.is_one:
                dims[c] = d
    return tuple(dims.get(c) for c in node.attrs["output"])


def _getitem(node, values):
    base = node.inputs[0].shape
    if base is None:
        return None
    index = node.expr.slice
    parts = index.elts if isinstance(index, ast.Tuple) else [index]
    consumed = 0
    out, advanced = [], []
    spelled = sum(1 for p in parts if not _is_none(p) and not _is_ellipsis(p))
    for part in parts:
        if _is_ellipsis(part):
            take = len(base) - spelled
            out.extend(base[consumed:consumed + take])
            consumed += take
            continue
        if _is_none(part):
            out.append(ONE)
            continue
        if consumed >= len(base):
            raise ShapeMismatch(f"too many indices for an array of rank {len(base)}")
        d = base[consumed]
        consumed += 1
        if isinstance(part, ast.Slice):
            whole = part.lower is None and part.upper is None and part.step is None
            out.append(d if whole else None)
            continue
        value = _value_of(part, values)
        if isinstance(part, (ast.Constant, ast.UnaryOp)) or (value is not None and value.shape == ()):
            continue  # an integer picks one entry: the axis goes away
        if value is None or value.shape is None or value.dtype != "int":
            return None  # a mask or an index array we cannot see
        advanced.append(len(out))
        out.append(value.shape)
    out.extend(base[consumed:])
    if len(advanced) > 1:
        return None  # several index arrays broadcast together: leave it to run time
    if advanced:
        i = advanced[0]
        return tuple(out[:i]) + tuple(out[i]) + tuple(out[i + 1:])
    return tuple(out)


def _is_none(part):
    """None, or np.newaxis (the parser leaves that attribute in an index only when it is numpy's)."""
    return (isinstance(part, ast.Constant) and part.value is None) or \
        (isinstance(part, ast.Attribute) and part.attr == "newaxis")


def _is_ellipsis(part):
    return isinstance(part, ast.Constant) and part.value is Ellipsis


def _value_of(part, values):
    from .graph import PLACEHOLDER
    if isinstance(part, ast.Name):
        m = PLACEHOLDER.match(part.id)
        if m:
            return values[int(m.group(1))]
    return None


def static_value(template, values):
    """What a non-differentiable expression is known to be: a Dim, -1, or a tuple of them."""
    if isinstance(template, ast.Constant):
        v = template.value
        if isinstance(v, int) and not isinstance(v, bool):
            return -1 if v == -1 else (Dim(v) if v >= 0 else None)
        return None
    if isinstance(template, ast.UnaryOp) and isinstance(template.op, ast.USub) and \
            isinstance(template.operand, ast.Constant) and template.operand.value == 1:
        return -1
    value = _value_of(template, values)
    if value is not None:
        return value.known
    if isinstance(template, (ast.Tuple, ast.List)):
        return tuple(static_value(e, values) for e in template.elts)
    if isinstance(template, ast.Attribute) and template.attr == "shape":
        inner = _value_of(template.value, values)
        return inner.shape if inner is not None else None
    if isinstance(template, ast.Subscript):
        seq = static_value(template.value, values)
        index = template.slice
        if isinstance(seq, tuple) and isinstance(index, ast.Constant) and isinstance(index.value, int):
            return seq[index.value] if -len(seq) <= index.value < len(seq) else None
        return None
    if isinstance(template, ast.Call) and isinstance(template.func, ast.Name) and \
            template.func.id == "len" and len(template.args) == 1:
        shape = static_value(ast.Attribute(value=template.args[0], attr="shape"), values)
        return shape[0] if shape else None
    if isinstance(template, ast.BinOp) and isinstance(template.op, ast.Mult):
        a, b = static_value(template.left, values), static_value(template.right, values)
        if isinstance(a, Dim) and isinstance(b, Dim):
            return a * b
    return None
