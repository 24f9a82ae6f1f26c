"""Which adjoint template reverses each primitive, and what it needs to be rendered.

One function, ``adjoint_rule(node, position)``, answers for every primitive the
parser produces; the math itself lives in the jinja2 files under templates/.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from decimal import Decimal

from . import shapes
from .graph import Node, Value
from .numpy_api import BINARY_FUNCS, UNARY_OPS, show_ord

# binary ops whose operands broadcast against each other (the adjoint is summed back)
_BROADCASTING = frozenset({"add", "sub", "mul", "div", "pow", "maximum", "minimum", "where"}) | BINARY_FUNCS

# rules whose result may be a view of, or the same object as, the incoming adjoint
_NOT_FRESH = frozenset({"add_a", "add_b", "sub_a", "copy", "transpose", "sum", "mean", "reshape",
                        "concatenate"})


@dataclass
class RuleCall:
    """One adjoint template to render: which macro, and what fills each of its arguments."""

    family: str
    macro: str
    target: str  # the macro argument that names the adjoint being written
    values: dict[str, Value] = field(default_factory=dict)  # macro argument -> forward value
    literals: dict[str, object] = field(default_factory=dict)  # macro argument -> plain text/number
    temps: dict[str, str] = field(default_factory=dict)  # macro argument -> name hint of a temporary
    unbroadcast: bool = False  # sum the result back to the operand's shape
    fresh: bool = True  # the result is a new array nobody else holds
    comment: str | None = None  # the shape identity shown beside the statement
    divide_after: Value | None = None  # divide by this once summed back (it is constant there)


def adjoint_rules(node: Node) -> list[tuple[Value, RuleCall]]:
    """Each (input, rule) that receives part of the adjoint of ``node.out``."""
    fused = node.fused
    if fused is not None:
        out = []
        for i, value in enumerate(fused.inputs):
            macro = fused.macros[i] if fused.macros else fused.macro
            target = fused.targets[i] if fused.targets else \
                "d" + {"sigmoid": "z"}.get(fused.macro, "theta")
            call = RuleCall("fused", macro, target=target, values=dict(fused.values),
                            literals=dict(fused.literals), unbroadcast=fused.broadcasts)
            if value.shape:
                call.comment = shapes.show(value.shape)
            out.append((value, call))
        return out
    if node.op == "mul" and node.inputs[0] is node.inputs[1] and node.diff_inputs == (0, 1):
        # h * h: one contribution, np.square's dh = 2.0 * dout * h, not dh = h then dh = dh + h
        x = node.inputs[0]
        call = RuleCall("elementwise", "square", "dx", values={"x": x, "out": node.out},
                        comment=shapes.show(x.shape) if x.shape else None)
        return [(x, call)]
    return [(node.inputs[i], adjoint_rule(node, i)) for i in node.diff_inputs]


def adjoint_rule(node: Node, position: int) -> RuleCall:
    """The rule for the adjoint of ``node.inputs[position]``, given the adjoint of ``node.out``."""
    op = node.op
    x = node.inputs[position]
    handler = _HANDLERS.get(op)
    if handler is None:  # the parser only makes ops listed here
        raise AssertionError(f"no adjoint rule for primitive {op!r}")
    call = handler(node, position, x)
    call.fresh = call.macro not in _NOT_FRESH and call.fresh
    if op in _BROADCASTING:
        # against scalars only, the result already has this operand's shape
        others = [v for i, v in enumerate(node.inputs) if i != position]
        call.unbroadcast = not all(v.rank == 0 for v in others)
    if call.comment is None and x.shape:  # scalars go without
        call.comment = shapes.show(x.shape)
    return call


def _binary(family, op):
    def handler(node, position, x):
        a, b = node.inputs[:2]
        side = "ab"[position]
        call = RuleCall(family, f"{op}_{side}", target=f"d{side}",
                        values={"a": a, "b": b, "out": node.out})
        if op == "div" and side == "b":
            call.divide_after = b
        return call
    return handler


def _pow(node, position, x):
    a, b = node.inputs
    if position == 0 and "exponent" in node.attrs:
        p = node.attrs["exponent"]
        # a negative power is written as a float: NumPy refuses integer arrays ** -2
        p_minus_1 = _number(p - 1) if p - 1 >= 0 else repr(float(p - 1))
        return RuleCall("arith", "pow_const", "da", values={"a": a},
                        literals={"p": _number(p), "p_minus_1": p_minus_1})
    side = "ab"[position]
    return RuleCall("arith", f"pow_{side}", f"d{side}", values={"a": a, "b": b, "out": node.out},
                    literals={"number_base": a.kind == "const" and a.rank == 0})


def _unary(node, position, x):
    return RuleCall("elementwise", node.op, "dx", values={"x": x, "out": node.out})


def _neg(node, position, x):
    return RuleCall("arith", "neg", "dx")


def _extremum(node, position, x):
    a, b = node.inputs
    side = "ab"[position]
    # against a literal 0 (ReLU) the step is of the input itself: 0.5 * (1.0 + np.sign(z))
    return RuleCall("elementwise", f"{node.op}_{side}", f"d{side}", values={"a": a, "b": b},
                    literals={"a_zero": _is_zero(a), "b_zero": _is_zero(b)})


def _is_zero(value: Value) -> bool:
    return value.kind == "const" and value.rank == 0 and _number_value(value) == 0


def _number_value(value: Value):
    try:
        return ast.literal_eval(value.literal)
    except ValueError:
        return None


def _where(node, position, x):
    side = "xy"[position - 1]
    return RuleCall("elementwise", f"where_{side}", f"d{side}", values={"condition": node.inputs[0]})


def _matmul(node, position, x):
    a, b = node.inputs
    side = "ab"[position]
    if node.op == "dot" and not (a.rank in (1, 2) and b.rank in (1, 2)):  # else np.dot is a @ b
        return RuleCall("linalg", f"dot_{side}", f"d{side}", values={"a": a, "b": b})
    if node.op == "outer":
        return RuleCall("linalg", f"outer_{side}", f"d{side}", values={"a": a, "b": b})
    call = RuleCall("linalg", f"matmul_{side}", f"d{side}", values={"a": a, "b": b},
                    literals={"a_rank": a.rank, "b_rank": b.rank})
    if a.rank == 2 and b.rank == 2 and node.out.shape is not None:
        show = shapes.show
        (m, k), (_, n) = a.shape, b.shape
        if position == 0:  # da = dout @ b.T
            call.comment = f"{show((m, k))} = {show((m, n))} @ {show((n, k))}"
        else:  # db = a.T @ dout
            call.comment = f"{show((k, n))} = {show((k, m))} @ {show((m, n))}"
    return call


def _inner(node, position, x):
    """np.inner contracts the last axes: the hand identities for ranks 1 and 2, a helper else."""
    a, b = node.inputs
    side = "ab"[position]
    return RuleCall("linalg", f"inner_{side}", f"d{side}", values={"a": a, "b": b},
                    literals={"a_rank": a.rank, "b_rank": b.rank})


def _vdot(node, position, x):
    """np.vdot flattens both inputs; each adjoint is the other input, in this one's shape."""
    other = node.inputs[1 - position]
    same = x.shape is not None and x.shape == other.shape and shapes.fully_known(x.shape)
    return RuleCall("linalg", "vdot", "dx", values={"x": x, "other": other},
                    literals={"same": same})


def _convolution(node, position, x):
    """np.convolve / np.correlate of vectors: the full result's adjoint correlated (convolved)
    with the other input; a 'same' or 'valid' result is first put back in the full length."""
    a, v = node.inputs
    side = "av"[position]
    return RuleCall("linalg", f"{node.op}_{side}", f"d{side}", values={"a": a, "v": v},
                    literals={"mode": repr(node.attrs["mode"]), "full": node.attrs["mode"] == "full"})


def _transpose(node, position, x):
    axes = node.attrs.get("axes")
    inverse = None if axes is None else repr(tuple(sorted(range(len(axes)), key=lambda i: axes[i])))
    return RuleCall("linalg", "transpose", "dx", literals={"inverse": inverse})


def _reduction(node, position, x):
    axis, keepdims = node.attrs["axis"], node.attrs["keepdims"]
    call = RuleCall("reduce", node.op, "dx", values={"x": x, "out": node.out},
                    literals={"axis": None if axis is None else repr(axis), "keepdims": keepdims})
    if node.op == "mean":
        call.literals["count"] = _count(x, axis)
    if node.op in ("max", "min"):
        call.temps["selected"] = f"{x.hint}_is_{node.op}"
    if node.op == "nanmean":
        call.temps["kept"] = f"{x.hint}_not_nan"
    return call


def _count(x: Value, axis) -> str:
    """Source text for how many entries a mean averages over."""
    ref = _same_shape_source(x).placeholder
    if axis is None:
        return f"np.size({ref})"
    axes = axis if isinstance(axis, tuple) else (axis,)
    return " * ".join(f"np.shape({ref})[{a}]" for a in axes) if len(axes) == 1 else \
        "(" + " * ".join(f"np.shape({ref})[{a}]" for a in axes) + ")"


def _same_shape_source(x: Value) -> Value:
    """A value earlier in an elementwise chain with exactly x's (fully known) shape, so that a
    rule asking only for x's size need not keep x itself: (h - y) ** 2 -> h - y."""
    from .numpy_api import ELEMENTWISE
    while x.producer is not None and not x.user and x.producer.op in ELEMENTWISE and \
            shapes.fully_known(x.shape):
        same = [v for v in x.producer.inputs if v.shape == x.shape and v.kind in ("param", "node")]
        if not same:
            break
        x = same[0]
    return x


def _reshape(node, position, x):
    return RuleCall("shape", "reshape", "dx", values={"x": x})


def _copy(node, position, x):
    return RuleCall("elementwise", "copy", "dx")


def _index_text(index: ast.expr) -> str:
    """An index as written between brackets: ':, 0', 'arange_N, y'."""
    return ast.unparse(ast.Subscript(value=ast.Name(id="_"), slice=index, ctx=ast.Load()))[2:-1]


def _getitem(node, position, x):
    index = node.expr.slice
    if node.attrs["basic"]:
        return RuleCall("shape", "getitem_basic", "dx", values={"x": x},
                        literals={"index": _index_text(index)})
    parts = index.elts if isinstance(index, ast.Tuple) else [index]
    rows = _int_array(index, node) and x.rank != 0  # L[words]: whole rows by an integer array
    if any(isinstance(p, ast.Slice) for p in parts):  # np.add.at takes slices as np.s_[...]
        text = f"np.s_[{_index_text(index)}]"
    else:
        text = ast.unparse(index)
    return RuleCall("shape", "getitem_scatter", "dx", values={"x": x},
                    literals={"index": text, "rows": rows})


def _setitem(node, position, x):
    index = _index_text(node.expr.slice)
    if position == 0:
        return RuleCall("shape", "setitem_a", "da", literals={"index": index})
    # dout[index] is a view of dout for a basic index: the caller gets a copy if it is returned
    return RuleCall("shape", "setitem_v", "dv", values={"v": x}, literals={"index": index}, fresh=False)


def _int_array(index: ast.expr, node) -> bool:
    """Whether the index is one value known to be an integer array (e.g. words: "i[B, m]")."""
    if not isinstance(index, ast.Name):
        return False
    value = next((v for v in node.inputs if v.placeholder == index.id), None)
    return value is not None and value.dtype == "int"


def _join(node, position, x):
    axis = node.attrs["axis"]
    if node.op == "stack":
        return RuleCall("shape", "stack", "dx", literals={"position": position, "axis": axis})
    parts = "(" + ", ".join(v.placeholder for v in node.inputs) + ",)"
    return RuleCall("shape", "concatenate", "dx", literals={"parts": parts, "position": position, "axis": axis})


def _number(p) -> str:
    if isinstance(p, float) and p.is_integer() and abs(p) < 1e15:
        return str(int(p))
    return repr(p)


def _clip(node, position, x):
    roles = node.attrs["roles"]
    a, lo, hi = (node.inputs[roles[k]] for k in ("a", "a_min", "a_max"))
    if position != roles["a"]:  # a bound that clipped some entries
        side = "lo" if position == roles["a_min"] else "hi"
        return RuleCall("elementwise", f"clip_{side}", f"d{side}", values={"x": a, side: x},
                        unbroadcast=True)
    return RuleCall("elementwise", "clip", "dx", values={"x": x, "lo": lo, "hi": hi},
                    literals={k: None for k, v in (("lo", lo), ("hi", hi)) if v.is_none},
                    unbroadcast=not all(v.is_none or v.rank == 0 for v in (lo, hi)))


def _array(node, position, x):
    """The functions of numpy_api.ARRAY_FUNCS: arguments by their NumPy names (templates/arrays.j2)."""
    roles = node.attrs["roles"]
    name = next(n for n, i in roles.items() if i == position)
    values = {n: node.inputs[i] for n, i in roles.items()}
    values["out"] = node.out
    literals = {k: v for k, v in node.attrs.items() if k not in ("roles", "dims")}
    literals = {k: (None if v is None else v if isinstance(v, (str, bool)) else repr(v))
                for k, v in literals.items()}
    macro = node.op if node.op != "solve" else f"solve_{name}"
    call = RuleCall("arrays", macro, target=f"d{name}", values=values, literals=literals)
    if node.op == "det":
        call.literals["rank"] = x.rank
    if node.op in ("prod", "var", "std"):
        call.literals["count"] = _count(x, node.attrs["axis"])
    if node.op == "roll":
        shift = node.attrs["shift"]
        call.literals["back"] = repr(tuple(-s for s in shift) if isinstance(shift, tuple) else -shift)
    if node.op == "norm":
        _norm(call, node, x)
    if node.op in ("broadcast_to", "clip"):
        call.unbroadcast = True
    if node.op == "diff" and node.attrs["n"] == 0:
        call.fresh = False  # np.diff(x, 0) is x: the adjoint passes through as it came
    if node.op in ("swapaxes", "moveaxis", "flip", "broadcast_to", "diag", "pad", "astype", "roll",
                   "triu", "tril"):
        call.fresh = False  # views of the incoming adjoint, or the adjoint itself
    return call


def _norm(call, node, x):
    """np.linalg.norm: parse.py's "form" says which gradient; a matrix norm of a plain 2-D x
    (axis=None) is written out, one over a pair of axes of a stack calls a helper."""
    form, ord_ = node.attrs["form"], node.attrs.get("ord")
    side = "max" if not isinstance(ord_, str) and ord_ is not None and ord_ > 0 else "min"
    if form == "inf":
        call.temps["selected"] = f"{x.hint}_is_{side}"
    if form == "power":  # the exponent ord - 1, as written: 1.5 -> 0.5
        call.literals["power"] = str(Decimal(repr(ord_)) - 1)
    if form == "matrix" and node.attrs.get("axis") is None:
        if ord_ == "nuc" or ord_ in (2, -2):
            form = "nuc" if ord_ == "nuc" else "spectral"
            call.literals["k"] = "0" if ord_ == 2 else "-1"  # singular values come largest first
            call.temps.update(u="U", s="s", vt="Vt")
        else:  # 1 / -1: the column of largest / smallest abs sum; np.inf / -np.inf: the row
            form = "max_col" if ord_ in (1, -1) else "max_row"
            call.temps["selected"] = f"{x.hint}_{form[4:]}_is_{side}"
    elif form == "matrix":
        call.literals.update(order=show_ord(ord_), keep=repr(bool(node.attrs.get("keepdims"))))
    call.literals["ord"] = form


def _einsum(node, position, x):
    ins, out, spelled = node.attrs["inputs"], node.attrs["output"], node.attrs.get("ellipsis", "")
    mine = ins[position]
    dims = dict(zip(mine, x.shape)) if x.shape is not None else {}
    if any("..." in s for s in ins) or any(dims.get(c) is None for c in mine if c in spelled):
        return _einsum_at_run_time(node, position, x)  # what '...' stands for is known only then
    others = [v for i, v in enumerate(node.inputs) if i != position]
    rest = [s for i, s in enumerate(ins) if i != position]
    seen = out + "".join(rest)
    letters = "".join(dict.fromkeys(mine))  # a repeated letter (a diagonal) counts once
    # letters summed in this operand alone come back, and so do those it has at size 1 where
    # the others have them larger (NumPy broadcasts them, as it does the dimensions of '...')
    kept = "".join(c for c in letters if c in seen and not (
        dims.get(c) is not None and dims[c].is_one and not _einsum_size_one(node, c, position)))
    spread = tuple(i for i, c in enumerate(letters) if c not in kept)
    # broadcast back to x's shape: letters summed in x alone, and letters x has larger than 1
    # where everything else has them at size 1
    lonely = any(c not in seen or c in kept and dims.get(c) is not None and not dims[c].is_one
                 and _einsum_size_one(node, c, position) for c in letters)
    spec = ",".join([out] + rest) + "->" + kept
    literals = {"spec": repr(_with_ellipsis(spec, spelled)), "others": [v.placeholder for v in others],
                "spread": repr(spread) if spread else None, "lonely": lonely, "diagonal": None}
    if len(letters) < len(mine):  # computed over its letters, then put back on the diagonal
        lead = next((k for k, i in enumerate(spread) if i != k), len(spread))
        spread = tuple(i - lead for i in spread[lead:])  # the assignment broadcasts the leading ones
        literals.update(diagonal=repr(_with_ellipsis(mine + "->" + letters, spelled)),
                        spread=repr(spread) if spread else None)
        if not others and out == kept:
            literals["spec"] = None  # np.einsum('i->i', dout) is dout
    if len(node.inputs) > 1 and not all(shapes.fully_known(v.shape) for v in node.inputs):
        # NumPy lets a letter of size 1 broadcast against the same letter larger elsewhere;
        # with sizes unknown, the result is fitted to x's shape when it runs
        if literals["diagonal"] or lonely or spread:
            return _einsum_at_run_time(node, position, x)
        literals["fit"] = True
    # one operand: np.einsum may return a view; np.broadcast_to returns one
    return RuleCall("arrays", "einsum", "dx", values={"x": x}, literals=literals,
                    fresh=len(letters) < len(mine) or bool(others) and not lonely and "fit" not in literals)


def _einsum_size_one(node, letter, position) -> bool:
    """Whether ``letter`` is known to have size 1 in the output and every other operand."""
    terms = [(node.attrs["output"], node.out)] + [
        (s, v) for i, (s, v) in enumerate(zip(node.attrs["inputs"], node.inputs)) if i != position]
    return all(v.shape is not None and v.shape[k] is not None and v.shape[k].is_one
               for s, v in terms for k, c in enumerate(s) if c == letter)


def _with_ellipsis(spec: str, spelled: str) -> str:
    """``spec`` with the letters that spelled out '...' (``spelled``, in order) written as '...'
    again where NumPy reads that the same way: in each subscript they are the last of them,
    together, and the result has all any operand has (NumPy sums no '...' dimensions away)."""
    lhs, out = spec.split("->")
    terms = lhs.split(",") + [out]
    runs = ["".join(c for c in t if c in spelled) for t in terms]
    if not spelled or not runs[-1] or any(len(r) > len(runs[-1]) for r in runs) or \
            any(not spelled.endswith(r) or r not in t for r, t in zip(runs, terms)):
        return spec
    terms = [t.replace(r, "...") if r else t for r, t in zip(runs, terms)]
    return ",".join(terms[:-1]) + "->" + terms[-1]


def _einsum_at_run_time(node, position, x):
    """The adjoint of an operand of an einsum whose '...' only the run can spell out."""
    lhs, out = node.attrs["spec"].split("->")
    ins = lhs.split(",")
    mine, rest = ins[position], [s for i, s in enumerate(ins) if i != position]
    others = [v for i, v in enumerate(node.inputs) if i != position]
    seen = out + "".join(rest)
    named = mine[3:]
    if mine.startswith("...") and "..." in seen and "." not in named and \
            len(set(named)) == len(named) and set(named) <= set(seen):
        # every dimension of x is in the product, leading ones too; summed back where x broadcast
        spec = ",".join([out] + rest) + "->" + mine
        return RuleCall("arrays", "einsum_unbroadcast", "dx", values={"x": x},
                        literals={"spec": repr(spec), "others": [v.placeholder for v in others]},
                        fresh=bool(others))
    operands = "(" + ", ".join(v.placeholder for v in node.inputs) + ",)"
    return RuleCall("arrays", "einsum_any", "dx",
                    literals={"spec": repr(node.attrs["spec"]), "operands": operands, "position": position},
                    fresh=False)


def _tensordot(node, position, x):
    """With both ranks known the contraction is written out; otherwise a helper works it out."""
    roles = node.attrs["roles"]
    a, b = node.inputs[roles["a"]], node.inputs[roles["b"]]
    side = "ab"[position]
    axes = node.attrs.get("axes")
    call = RuleCall("arrays", f"tensordot_{side}", f"d{side}", values={"a": a, "b": b},
                    literals={"axes": repr(2 if axes is None else axes)})
    normal = None if a.rank is None or b.rank is None else shapes.tensordot_axes(axes, a.rank, b.rank)
    if normal is not None:
        a_axes, b_axes = normal
        free_a = [i for i in range(a.rank) if i not in a_axes]
        free_b = [j for j in range(b.rank) if j not in b_axes]
        if side == "a":  # dout's b part against b's free axes; then a's axes back in order
            contract = (list(range(len(free_a), len(free_a) + len(free_b))), free_b)
            order = free_a + [a_axes[b_axes.index(j)] for j in sorted(b_axes)]
        else:
            contract = (free_a, list(range(len(free_a))))
            order = [b_axes[a_axes.index(i)] for i in sorted(a_axes)] + free_b
        perm = [order.index(i) for i in range(x.rank)]
        call.literals.update(contract=repr(contract),
                             perm=None if perm == list(range(x.rank)) else repr(tuple(perm)))
    return call


def _split(node, position, x):
    """np.split and its kin: the adjoint is the pieces' adjoints joined back together."""
    return RuleCall("arrays", "split", "dx", literals={"parts": [o.placeholder for o in node.outs],
                                                      "kind": node.attrs["kind"], "axis": node.attrs["axis"]})


def _slogdet(node, position, x):
    return RuleCall("arrays", "slogdet", "da", values={"a": x}, literals={"rank": x.rank})


def _eigh(node, position, x):
    w, U = node.outs
    return RuleCall("arrays", "eigh", "da", values={"a": x, "w": w, "U": U})


def _stacked(node, position, x):
    parts = "(" + ", ".join(v.placeholder for v in node.inputs) + ",)"
    return RuleCall("arrays", "joined", "dx", literals={"parts": parts, "position": position,
                                                        "kind": repr(node.op)}, fresh=False)


def _user(node, position, x):
    rule = node.attrs["rule"]
    values = {name: node.inputs[i] for i, name in enumerate(rule.params) if i < len(node.inputs)}
    values["out"] = node.out
    # with one parameter the rule's adjoint has its shape already; with several they may broadcast
    return RuleCall("user", rule.name, "dx", values=values, literals={"rule": rule, "position": position},
                    unbroadcast=len(rule.params) > 1, fresh=False)


def _special(node, position, x):
    call = RuleCall("special", node.op, "dx", values={"x": x, "a": x, "out": node.out})
    if "axis" in node.attrs:
        axis = node.attrs["axis"]
        call.literals.update(axis=None if axis is None else repr(axis), keepdims=node.attrs["keepdims"])
    return call


_HANDLERS = {
    "add": _binary("arith", "add"), "sub": _binary("arith", "sub"), "mul": _binary("arith", "mul"),
    "div": _binary("arith", "div"), "pow": _pow, "neg": _neg,
    "exp": _unary, "log": _unary, "tanh": _unary, "sqrt": _unary, "abs": _unary, "sin": _unary,
    "cos": _unary, "copy": _copy, "maximum": _extremum, "minimum": _extremum, "where": _where,
    "matmul": _matmul, "dot": _matmul, "outer": _matmul, "transpose": _transpose,
    "sum": _reduction, "mean": _reduction, "max": _reduction, "min": _reduction,
    "nansum": _reduction, "nanmean": _reduction,
    "reshape": _reshape, "getitem": _getitem, "setitem": _setitem, "concatenate": _join, "stack": _join,
    "clip": _clip, "einsum": _einsum, "user": _user, "split": _split, "slogdet": _slogdet, "eigh": _eigh,
    "tensordot": _tensordot, "inner": _inner, "vdot": _vdot,
    "convolve": _convolution, "correlate": _convolution,
}
_HANDLERS.update({op: _binary("elementwise", op) for op in BINARY_FUNCS})
_HANDLERS.update({op: _stacked for op in ("hstack", "vstack", "dstack", "column_stack")})
_HANDLERS.update({op: _special for op in ("expit", "logit", "erf", "gammaln", "logsumexp", "softmax_fn",
                                          "log_softmax_fn")})
_HANDLERS.update({op: _array for op in ("prod", "var", "std", "cumsum", "swapaxes", "moveaxis", "flip",
                                        "roll", "broadcast_to", "triu", "tril", "diag", "diagonal",
                                        "trace", "diff", "sort", "take", "take_along_axis", "tile", "repeat", "pad",
                                        "inv", "det", "solve", "norm", "astype", "cholesky", "eigvalsh",
                                        "svdvals")})
_HANDLERS.update({op: _unary for op in UNARY_OPS})

SUPPORTED_OPS = frozenset(_HANDLERS)
