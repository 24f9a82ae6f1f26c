"""The reverse pass: walk the forward graph backwards, rendering one adjoint template per edge.

Adjoints are summed where a value is used more than once ("+ distributes"); a
first contribution that is just another adjoint is shared by name, not copied.
The statements produced still refer to values through placeholders; emit.py
decides the final names.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from . import shapes, templating
from .errors import SourceContext
from .graph import Graph, Statement, Value, clone
from .rules import adjoint_rules

SEED = "__gseed__"


def adjoint_placeholder(value: Value) -> str:
    return f"__ga{value.id}__"


@dataclass
class Block:
    """The backward statements that reverse one forward statement."""

    stmt: Statement
    body: list[ast.stmt]
    identities: list[str] = field(default_factory=list)  # fused identities used, for the comment


_IDENTITY_NAMES = {"softmax": "softmax", "log_softmax": "log-softmax", "sigmoid": "sigmoid",
                   "logsumexp_out": "log-sum-exp", "log_softmax_out": "log-softmax",
                   "softmax_ce": "softmax + cross-entropy",
                   "sigmoid_bce": "sigmoid + binary cross-entropy",
                   "getitem_scatter": "gather, scattered back (repeated indices add up)"}


@dataclass
class Backward:
    blocks: list[Block]
    wrt: list[str]
    grads: list[ast.expr]  # one per wrt name: the adjoint, or zeros when there is no path
    fresh: list[bool]  # whether each grad is a new array the caller may own
    temps: dict[str, str] = field(default_factory=dict)  # placeholder -> name hint
    adjoints: dict[str, Value] = field(default_factory=dict)  # placeholder -> value it is the adjoint of
    flows: list[tuple[Value, Value]] = field(default_factory=list)  # (from, to) for each adjoint edge


def reaching_output(graph: Graph) -> set[int]:
    """Ids of values the output depends on through differentiable edges."""
    reach = {graph.output.id}
    for node in reversed(list(graph.body.nodes())):
        if any(o.id in reach for o in node.outs):
            reach.update(node.inputs[i].id for i in node.diff_inputs if node.inputs[i].active)
    return reach


def default_wrt(graph: Graph, ctx: SourceContext, fn_node: ast.AST) -> tuple[str, ...]:
    reach = reaching_output(graph)
    names = tuple(p.name for p in graph.params if p.value.id in reach)
    if not names:
        raise ctx.error(fn_node, f"the result of '{graph.name}' does not depend on any parameter "
                        "through differentiable operations",
                        hint="check that the returned value is computed from the inputs")
    return names


def check_wrt(graph: Graph, wrt, ctx: SourceContext, fn_node: ast.AST) -> tuple[str, ...]:
    if isinstance(wrt, str):
        wrt = (wrt,)
    wrt = tuple(wrt)
    names = [p.name for p in graph.params]
    reach = reaching_output(graph)
    seen = set()
    for name in wrt:
        if name not in names:
            raise ctx.error(fn_node, f"wrt names '{name}', which is not a parameter of '{graph.name}'",
                            hint=f"parameters: {', '.join(names)}")
        if name in seen:
            raise ctx.error(fn_node, f"wrt names '{name}' twice")
        seen.add(name)
        value = graph.param(name).value
        if not value.active:
            raise ctx.error(fn_node, f"'{name}' is annotated as {value.dtype}, so it reaches the result "
                            "only through non-differentiable uses",
                            hint=f"leave '{name}' out of wrt: integers and booleans have no gradient")
        if value.id not in reach:
            use = _nondiff_use(graph, value)
            if use is not None:
                raise ctx.error(fn_node, f"'{name}' reaches the result only through non-differentiable "
                                f"uses (line {use.stmt.lineno}: {use.stmt.text})",
                                hint=f"leave '{name}' out of wrt: an index, shape or condition has no gradient")
    if not wrt:
        raise ctx.error(fn_node, "wrt is empty", hint="name at least one parameter")
    return wrt


def _nondiff_use(graph, value):
    for node in graph.body.nodes():
        if any(v is value for i, v in enumerate(node.inputs) if i not in node.diff_inputs):
            return node
    return None


def reverse(graph: Graph, wrt: tuple[str, ...]) -> Backward:
    return _Reverse(graph, wrt).run()


class _Reverse:
    def __init__(self, graph, wrt):
        self.graph = graph
        self.wrt = wrt
        roots = {graph.param(n).value.id for n in wrt}
        forward = set(roots)
        for node in graph.body.nodes():
            if any(node.inputs[i].id in forward for i in node.diff_inputs):
                forward.update(o.id for o in node.outs if o.active)
        self.relevant = forward & reaching_output(graph)
        self.current: dict[int, str] = {}  # value id -> name holding its adjoint so far
        self.fresh: dict[str, bool] = {}  # adjoint name -> it is a new array nothing else holds
        self.roots: dict[str, str] = {}  # adjoint name -> the name it was assigned from
        self.temps: dict[str, str] = {}
        self.adjoints: dict[str, Value] = {}
        self.pending: dict[int, tuple[ast.Assign, ast.expr]] = {}  # adjoints not yet spread
        self.flows: list[tuple[Value, Value]] = []

    def run(self) -> Backward:
        graph = self.graph
        if graph.output.id in self.relevant:
            self.current[graph.output.id] = SEED
            self.fresh[SEED] = False  # the caller's own array
        blocks = []
        for stmt in reversed(graph.body.statements):
            body: list[ast.stmt] = []
            identities: list[str] = []
            for node in reversed(stmt.nodes):
                if not any(o.id in self.current for o in node.outs):
                    continue
                if node.extra_outs:  # several results: spread each adjoint before reading it
                    for o in node.outs:
                        if o.id in self.pending:
                            body.append(self.pending.pop(o.id)[0])
                for x, call in adjoint_rules(node):
                    if x.id in self.relevant:
                        self._contribute(node, x, call, body)
                        name = _IDENTITY_NAMES.get(call.macro)
                        if name and name not in identities:
                            identities.append(name)
            if body:
                blocks.append(Block(stmt, body, identities))
        grads, fresh, returned = [], [], set()
        for name in self.wrt:
            value = graph.param(name).value
            if value.id in self.current:
                held = self.current[value.id]
                root = self.roots.get(held, held)  # the array object behind the name
                grads.append(ast.Name(id=held, ctx=ast.Load()))
                fresh.append(self.fresh.get(root, False) and root not in returned)  # else copied
                returned.add(root)
            else:
                grads.append(ast.parse(f"np.zeros(np.shape({value.placeholder}))", mode="eval").body)
                fresh.append(True)
        return Backward(blocks, list(self.wrt), grads, fresh, self.temps, self.adjoints, self.flows)

    def _temp(self, hint: str) -> str:
        placeholder = f"__gt{len(self.temps)}__"
        self.temps[placeholder] = hint
        return placeholder

    def _contribute(self, node, x, call, body):
        self.flows.append((node.out, x))
        first = x.id not in self.current
        own = adjoint_placeholder(x)
        self.adjoints[own] = x
        target = own if first else self._temp(f"d{x.hint}_part")
        if call.family == "user":
            macro = _user_macro(call.literals["rule"], call.literals["position"])
        else:
            macro = getattr(templating.family(call.family), call.macro)
        wanted = set(macro.arguments)
        douts = [self.current.get(o.id) for o in node.outs]  # None: no adjoint reached it
        kwargs = {call.target: target, "dout": next(d for d in douts if d is not None), "douts": douts}
        kwargs.update({k: v.placeholder for k, v in call.values.items()})
        kwargs.update(call.literals)
        kwargs.update({k: self._temp(hint) for k, hint in call.temps.items() if k in wanted})

        def render():
            return ast.parse(str(macro(**{k: v for k, v in kwargs.items() if k in wanted})).strip()).body

        stmts = None
        if node.out.id in self.pending:
            stmt, spread = self.pending[node.out.id]
            if _folds(call):
                kwargs["dout"] = _SPREAD  # broadcasting does the spreading, if the rule lets it
                stmts = render()
                if _spreads_to(stmts, node.out, self.graph):
                    stmts = [_replace_name(s, _SPREAD, spread) for s in stmts]
                else:
                    kwargs["dout"], stmts = self.current[node.out.id], None
            if stmts is None:
                body.append(stmt)
                del self.pending[node.out.id]
        stmts = stmts or render()
        last = stmts[-1]
        assigns_target = isinstance(last, ast.Assign) and isinstance(last.targets[0], ast.Name) \
            and last.targets[0].id == target
        if call.unbroadcast:
            assert assigns_target, f"{call.macro} must end by assigning its adjoint"
            summed = _summed_to_shape(last.value, x, node.out)
            if isinstance(summed, ast.Call) and isinstance(summed.func, ast.Attribute):
                call.fresh = True  # a .sum(...) is a new array
            last.value = summed
        if call.divide_after is not None:
            assert assigns_target, f"{call.macro} must end by assigning its adjoint"
            last.value = ast.BinOp(left=last.value, op=ast.Div(), right=call.divide_after.ref())
        single = len(stmts) == 1 and assigns_target
        if first:
            if single and isinstance(last.value, ast.Name):
                shared = last.value.id
                if x.kind == "param":  # a gradient the caller gets: give it its own name
                    body.append(_assign(own, ast.Name(id=shared, ctx=ast.Load())))
                    self.roots[own] = self.roots.get(shared, shared)
                    self.current[x.id] = own
                else:
                    self.current[x.id] = shared  # share the adjoint, no statement
                return
            if single and _is_spread(last.value) and x.producer is not None and _fully_known(x.shape):
                # a sum's adjoint spread over its input: hold it back, so that an elementwise
                # rule can let broadcasting spread it (dq = 2 * q * ds, as the notes write)
                _comment(last, call.comment)
                self.pending[x.id] = (last, last.value.args[0])
                self.current[x.id] = own
                self.fresh[own] = False  # a read-only broadcast view
                return
            body.extend(stmts)
            _comment(body[-1] if assigns_target else None, call.comment)
            self.current[x.id] = own
            self.fresh[own] = call.fresh
            return
        so_far = ast.Name(id=self.current[x.id], ctx=ast.Load())
        if x.id in self.pending:  # G + contribution broadcasts to the full shape by itself
            so_far = self.pending.pop(x.id)[1]
        elif single and _is_spread(last.value):  # dx + spread(G): dx already has the full shape
            last.value = last.value.args[0]
        if single:
            body.append(_assign(own, ast.BinOp(left=so_far, op=ast.Add(), right=last.value)))
        else:
            body.extend(stmts)
            body.append(_assign(own, ast.BinOp(left=so_far, op=ast.Add(),
                                               right=ast.Name(id=target, ctx=ast.Load()))))
        _comment(body[-1], call.comment if single else shapes.show(x.shape) if x.shape else None)
        self.current[x.id] = own
        self.fresh[own] = True


# rules that read their incoming adjoint only elementwise, so a smaller one broadcasts through
_ELEMENTWISE_FAMILIES = ("arith", "elementwise")
_ELEMENTWISE_FUSED = ("softmax", "sigmoid", "sigmoid_bce", "sigmoid_bce_labels", "softmax_ce",
                      "softmax_ce_labels")  # dout used elementwise


class _user_macro:
    """A user rule (gradgen.rule) called like a template macro: the adjoint expression of one
    parameter with the rule's names swapped for the graph's."""

    def __init__(self, rule, position):
        self.rule, self.position = rule, position
        self.arguments = ("dx", "dout", "out", *rule.params)

    def __call__(self, dx, dout, out, **params):
        names = {"dout": dout, "out": out, **params}
        if self.rule.template is not None:
            import jinja2
            text = jinja2.Template(self.rule.template, undefined=jinja2.StrictUndefined).render(
                **{k: f"({v})" for k, v in names.items()})
            return f"{dx} = {text}"
        expr = self.rule.adjoints[self.position]

        class _Swap(ast.NodeTransformer):
            def visit_Name(self, node):
                if node.id in names:
                    return ast.parse(names[node.id], mode="eval").body
                return node

        return f"{dx} = {ast.unparse(_Swap().visit(clone(expr)))}"


_SPREAD = "__gspread__"


def _replace_name(tree, name, expr):
    class _Swap(ast.NodeTransformer):
        def visit_Name(self, node):
            return clone(expr) if node.id == name else node

    return _Swap().visit(tree)


def _folds(call) -> bool:
    """Whether ``call`` may read a sum's un-spread adjoint: it must use it elementwise."""
    return call.family in _ELEMENTWISE_FAMILIES or (
        call.family == "fused" and call.macro in _ELEMENTWISE_FUSED)


def _spreads_to(stmts, out: Value, graph) -> bool:
    """Whether the rendered rule reads a value of ``out``'s full shape, which makes its result
    full-shaped again (``dout * b`` does; ``dout`` alone, as for x ** 1, does not)."""
    values = {v.id: v for v in graph.values}
    from .graph import placeholders_in
    read = [values[i] for s in stmts for i in placeholders_in(s.value if isinstance(s, ast.Assign) else s)]
    return any(v.shape == out.shape for v in read)


def _is_spread(expr) -> bool:
    return isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and \
        expr.func.attr == "broadcast_to"


def _fully_known(shape) -> bool:
    return shape is not None and all(d is not None for d in shape)


def _comment(stmt, text):
    """Attach a trailing comment (a shape) for emit.py to print beside the statement."""
    if stmt is not None and text:
        stmt.gradgen_comment = text


def _summed_to_shape(value: ast.expr, x: Value, out: Value) -> ast.expr:
    """``value`` (shaped like ``out``) summed over the axes along which ``x`` was broadcast.

    With both shapes known this is the exact ``.sum(axis=0)`` a person writes;
    otherwise the generated module's ``_unbroadcast`` helper decides at run time.
    """
    axes = shapes.unbroadcast_axes(x.shape, out.shape)
    if axes is None:
        return ast.Call(func=ast.Name(id="_unbroadcast", ctx=ast.Load()), args=[value, x.ref()],
                        keywords=[])
    lead, keep = axes
    if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub) and (lead or keep):
        # -(g.sum(...)) sums first and negates the small result: one pass fewer than (-g).sum(...)
        return ast.UnaryOp(op=ast.USub(), operand=_summed_to_shape(value.operand, x, out))
    if x.shape == ():
        return _method(value, "sum", []) if lead else value
    if lead:
        axis = ast.Constant(lead[0]) if len(lead) == 1 else ast.Tuple(
            elts=[ast.Constant(a) for a in lead], ctx=ast.Load())
        value = _method(value, "sum", [ast.keyword(arg="axis", value=axis)])
    if keep:
        axis = ast.Constant(keep[0]) if len(keep) == 1 else ast.Tuple(
            elts=[ast.Constant(a) for a in keep], ctx=ast.Load())
        value = _method(value, "sum", [ast.keyword(arg="axis", value=axis),
                                       ast.keyword(arg="keepdims", value=ast.Constant(True))])
    return value


def _method(value, name, keywords):
    return ast.Call(func=ast.Attribute(value=value, attr=name, ctx=ast.Load()), args=[], keywords=keywords)


def _assign(name: str, value: ast.expr) -> ast.Assign:
    return ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=value, lineno=0)
