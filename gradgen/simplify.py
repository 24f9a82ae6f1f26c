"""Fused identities: recognise a composite the notes differentiate as one piece.

The forward is left exactly as written; only the reverse pass changes. A fused
node's rule sends its adjoint straight to the composite's input, so

    e = np.exp(theta - theta.max(axis=1, keepdims=True))
    yhat = e / e.sum(axis=1, keepdims=True)

is reversed as ``dtheta = yhat * (dyhat - (dyhat * yhat).sum(axis=1, keepdims=True))``
instead of through e, the sum and the max (whose gradient is exactly zero: softmax
does not change when a constant is subtracted). Intermediates that are also used
elsewhere still get their adjoints from those other uses, through their own nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .graph import Graph, Node, Value


@dataclass
class Fused:
    """A node's replacement rule: the template macro in fused.j2 and the values it reads."""

    macro: str
    inputs: list[Value]  # the values that receive the adjoint (the composite's inputs)
    values: dict[str, Value] = field(default_factory=dict)
    literals: dict[str, object] = field(default_factory=dict)
    macros: list[str] | None = None  # one per input when they differ (else ``macro`` for all)
    targets: list[str] | None = None  # the macro argument each input's adjoint is written to
    broadcasts: bool = False  # the composite broadcasts its inputs: sum adjoints back to shape


def fuse(graph: Graph) -> None:
    """Mark the fused identities in ``graph`` (sets ``node.fused``)."""
    for node in graph.body.nodes():
        node.fused = _softmax(node) or _sigmoid(node) or _logsumexp_written_out(node)
    for node in graph.body.nodes():  # these look inside fused sigmoids and softmaxes
        node.fused = node.fused or _log_softmax(node) or _sigmoid_bce(node)
    for node in graph.body.nodes():  # and these inside a fused log-softmax or softmax
        node.fused = node.fused or _softmax_cross_entropy(node) or _softmax_cross_entropy_at_labels(node, graph)


def _producer(value: Value, op: str) -> Node | None:
    node = value.producer
    return node if node is not None and node.op == op else None


def _is_number(value: Value, number: float) -> bool:
    return value.kind == "const" and value.known is not None and value.rank == 0 and \
        _literal(value) == number


def _literal(value: Value):
    import ast
    try:
        return ast.literal_eval(value.literal)
    except ValueError:
        return None


def _softmax(node: Node) -> Fused | None:
    """yhat = e / e.sum(axis, keepdims=True), e = np.exp(theta [- theta.max(axis, keepdims=True)])."""
    if node.op != "div":
        return None
    e, total = node.inputs
    sum_node, exp_node = _producer(total, "sum"), _producer(e, "exp")
    if sum_node is None or exp_node is None or sum_node.inputs[0] is not e:
        return None
    axis = sum_node.attrs["axis"]
    if axis is None or not sum_node.attrs["keepdims"]:
        return None
    theta = exp_node.inputs[0]
    shifted = _producer(theta, "sub")
    if shifted is not None:
        base, shift = shifted.inputs
        max_node = _producer(shift, "max")
        if max_node is not None and max_node.inputs[0] is base and max_node.attrs["axis"] == axis \
                and max_node.attrs["keepdims"]:
            theta = base
    if not theta.active:
        return None
    return Fused("softmax", [theta], values={"yhat": node.out}, literals={"axis": repr(axis)})


def _log_softmax(node: Node) -> Fused | None:
    """np.log(yhat) with yhat a softmax: dtheta = dlogp - yhat * dlogp.sum(axis, keepdims=True)."""
    if node.op != "log" or node.inputs[0].producer is None:
        return None
    inner = node.inputs[0].producer.fused
    if inner is None or inner.macro != "softmax":
        return None
    return Fused("log_softmax", inner.inputs, values={"yhat": node.inputs[0]}, literals=inner.literals)


def _sigmoid(node: Node) -> Fused | None:
    """h = 1 / (1 + np.exp(-z)): dz = dh * h * (1 - h), through the forward value."""
    if node.op != "div" or not _is_number(node.inputs[0], 1):
        return None
    add = _producer(node.inputs[1], "add")
    if add is None:
        return None
    one, e = add.inputs if _is_number(add.inputs[0], 1) else add.inputs[::-1]
    exp_node = _producer(e, "exp")
    if not _is_number(one, 1) or exp_node is None:
        return None
    neg = _producer(exp_node.inputs[0], "neg")
    if neg is None or not neg.inputs[0].active:
        return None
    return Fused("sigmoid", [neg.inputs[0]], values={"h": node.out})


def _sigmoid_bce(node: Node) -> Fused | None:
    """y * np.log(p) + (1 - y) * np.log(1 - p) with p = 1 / (1 + np.exp(-z)): dz = d * (y - p)."""
    if node.op != "add":
        return None
    for first, second in (node.inputs, node.inputs[::-1]):
        picked = _label_times_log(first)
        other = _label_times_log(second)
        if picked is None or other is None:
            continue
        y, p = picked
        one_minus_y, one_minus_p = other
        if not (_is_one_minus(one_minus_y, y) and _is_one_minus(one_minus_p, p)):
            continue
        sig = p.producer.fused if p.producer is not None else None
        if sig is None or sig.macro != "sigmoid":
            continue
        z = sig.inputs[0]
        return Fused("sigmoid_bce", [z, y], values={"y": y, "p": p},
                     macros=["sigmoid_bce", "sigmoid_bce_labels"], targets=["dz", "dy"], broadcasts=True)
    return None


def _label_times_log(value: Value):
    """(y, p) for a value computed as y * np.log(p) (either order), else None."""
    mul = _producer(value, "mul")
    if mul is None:
        return None
    for y, logged in (mul.inputs, mul.inputs[::-1]):
        log = _producer(logged, "log")
        if log is not None and y is not logged:  # np.log(p) * np.log(p) is a square, not a label times it
            return y, log.inputs[0]
    return None


def _is_one_minus(value: Value, of: Value) -> bool:
    sub = _producer(value, "sub")
    return sub is not None and _is_number(sub.inputs[0], 1) and sub.inputs[1] is of


def _shifted_exp_sum(value: Value):
    """(x, axis) when value is np.log(np.sum(np.exp(x - m), axis, keepdims=True)) with m the max
    of x along that axis (kept dims): the log-sum-exp's tail, written with max subtraction."""
    log = _producer(value, "log")
    total = _producer(log.inputs[0], "sum") if log is not None else None
    exp = _producer(total.inputs[0], "exp") if total is not None else None
    sub = _producer(exp.inputs[0], "sub") if exp is not None else None
    if sub is None or total.attrs["axis"] is None or not total.attrs["keepdims"]:
        return None
    x, m = sub.inputs
    top = _producer(m, "max")
    if top is None or top.inputs[0] is not x or top.attrs["axis"] != total.attrs["axis"] \
            or not top.attrs["keepdims"] or not x.active:
        return None
    return x, m, total.attrs["axis"]


def _logsumexp_written_out(node: Node) -> Fused | None:
    """m + np.log(np.sum(np.exp(x - m), axis, keepdims=True)): dx = dout * np.exp(x - out);
    x - m - np.log(np.sum(np.exp(x - m), ...)) (log-softmax): dx = dout - softmax * dout.sum."""
    if node.op == "add":
        for m, tail in (node.inputs, node.inputs[::-1]):
            found = _shifted_exp_sum(tail)
            if found is not None and found[1] is m:
                return Fused("logsumexp_out", [found[0]], values={"x": found[0], "out": node.out},
                             literals={"axis": repr(found[2])})
    if node.op == "sub":
        shifted, tail = node.inputs
        found = _shifted_exp_sum(tail)
        inner = _producer(shifted, "sub")
        if found is not None and inner is not None and inner.inputs[0] is found[0] and inner.inputs[1] is found[1]:
            return Fused("log_softmax_out", [found[0]], values={"out": node.out},
                         literals={"axis": repr(found[2])})
    return None


def _softmax_cross_entropy(node: Node) -> Fused | None:
    """np.sum(y * np.log(yhat)) with yhat a softmax of theta: dtheta = d * (y - yhat * y.sum(axis)),
    identity (7) of the notes (for one-hot rows y.sum(axis) is 1: yhat - y, up to the sign)."""
    if node.op != "sum" or node.attrs["axis"] is not None or node.attrs["keepdims"]:
        return None
    picked = _label_times_log(node.inputs[0])
    if picked is None:
        return None
    y, yhat = picked
    soft = yhat.producer.fused if yhat.producer is not None else None
    if soft is None or soft.macro != "softmax" or y.shape is None or y.shape != yhat.shape:
        return None  # with y's shape unknown it might broadcast: the log-softmax rule handles that
    theta = soft.inputs[0]
    log_value = _producer(node.inputs[0], "mul")
    logp = [v for v in log_value.inputs if v is not y][0]
    return Fused("softmax_ce", [theta, y], values={"y": y, "yhat": yhat, "logp": logp},
                 literals=dict(soft.literals), macros=["softmax_ce", "softmax_ce_labels"],
                 targets=["dtheta", "dy"])


def _softmax_cross_entropy_at_labels(node: Node, graph: Graph) -> Fused | None:
    """np.sum (or np.mean) of np.log(yhat[np.arange(N), y]) with yhat = softmax(theta) over the
    rows of an (N, C) array: one label per row, so dtheta = dout * (onehot(y) - yhat) (over N
    for the mean), written as the notes do: yhat scaled, then the label entries moved."""
    import ast

    from .shapes import static_value

    if node.op not in ("sum", "mean") or node.attrs["axis"] is not None or node.attrs["keepdims"]:
        return None
    log = _producer(node.inputs[0], "log")
    pick = _producer(log.inputs[0], "getitem") if log is not None else None
    if pick is None or pick.attrs.get("basic") or not isinstance(pick.expr.slice, ast.Tuple) \
            or len(pick.expr.slice.elts) != 2 or not all(isinstance(e, ast.Name) for e in pick.expr.slice.elts):
        return None
    yhat = pick.inputs[0]
    soft = yhat.producer.fused if yhat.producer is not None else None
    if soft is None or soft.macro != "softmax" or yhat.shape is None or len(yhat.shape) != 2 \
            or ast.literal_eval(soft.literals["axis"]) not in (1, -1):
        return None
    by_name = {v.placeholder: v for v in pick.inputs[1:]}
    rows, labels = (by_name.get(e.id) for e in pick.expr.slice.elts)
    made = rows.producer if rows is not None else None
    call = made.expr if made is not None and made.op == "nondiff" else None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "arange"
            and len(call.args) == 1 and not call.keywords and labels is not None and not labels.active):
        return None
    if static_value(call.args[0], graph.values) != yhat.shape[0]:
        return None  # np.arange over every row, and no other: each row picks its label once
    return Fused("softmax_ce_at_labels", [soft.inputs[0]], values={"yhat": yhat, "rows": rows, "labels": labels},
                 literals={"mean": node.op == "mean"}, targets=["dtheta"])
