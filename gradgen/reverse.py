"""The reverse pass: walk the forward graph backwards, rendering one adjoint template per edge.

Adjoints are summed where a value is used more than once ("+ distributes"); a
first contribution that is just another adjoint is shared by name, not copied.
The statements produced still refer to values through placeholders; emit.py
decides the final names.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from . import seed, shapes, templating
from .errors import SourceContext
from .graph import PLACEHOLDER, Graph, Statement, Value, clone, swap_names, written_array
from .numpy_api import BINARY_FUNCS, UNARY_OPS
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
                   "softmax_ce_at_labels": "softmax + cross-entropy at labels",
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
    seed_folded: bool = False  # written for the seed 1.0: the caller's seed scales the gradients


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
    if graph.output.rank == 0:  # a scalar loss: written for the seed 1.0 where that is safe
        folded = _Reverse(graph, wrt, fold_seed=True).run()
        if folded is not None:
            return folded
    return _Reverse(graph, wrt).run()


class _Reverse:
    def __init__(self, graph, wrt, fold_seed=False):
        self.graph = graph
        self.wrt = wrt
        self.fold_seed = fold_seed
        self.constants: dict[str, ast.expr] = {}  # adjoint name -> the number it holds (seed folding)
        self.unfoldable = False
        values = graph.values
        self.arrayish = lambda name: _float_array(name, values)
        self.folder = seed.Folder(self.constants, self.arrayish, lambda name: _source_number(name, values),
                                  lambda name: _python_float(name, values))
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
        self.routed: dict[int, str] = {}  # np.maximum/minimum node -> the name holding a's part
        self.flows: list[tuple[Value, Value]] = []

    def run(self) -> Backward:
        graph = self.graph
        if graph.output.id in self.relevant:
            self.current[graph.output.id] = SEED
            self.fresh[SEED] = False  # the caller's own array
            if self.fold_seed:
                self.constants[SEED] = seed.one()
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
            if self.fold_seed and (self.unfoldable or any(seed.stray(s, self.arrayish) for s in body)):
                return None  # the seed would stand alone here: written with it instead
            if body:
                blocks.append(Block(stmt, body, identities))
        if self.fold_seed and any(self.current.get(graph.param(n).value.id) in self.constants for n in self.wrt):
            return None  # a gradient would be the bare seed
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
                # the result does not read it: zeros, in its precision (float32 in, float32 out)
                zeros = f"np.zeros_like({value.placeholder}, dtype=np.result_type({value.placeholder}, 1.0))"
                grads.append(ast.parse(zeros, mode="eval").body)
                fresh.append(True)
        return Backward(blocks, list(self.wrt), grads, fresh, self.temps, self.adjoints, self.flows,
                        seed_folded=self.fold_seed)

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
        rest = self.routed.get(id(node)) if call.macro in ("maximum_b", "minimum_b") else None
        if call.family == "user":
            macro = _user_macro(call.literals["rule"], call.literals["position"])
        else:
            macro = getattr(templating.family(call.family), "extremum_b_rest" if rest else call.macro)
        wanted = set(macro.arguments)
        douts = [self.current.get(o.id) for o in node.outs]  # None: no adjoint reached it
        kwargs = {call.target: target, "dout": next(d for d in douts if d is not None), "douts": douts}
        kwargs.update({k: v.placeholder for k, v in call.values.items()})
        kwargs.update(call.literals)
        kwargs.update({k: self._temp(hint) for k, hint in call.temps.items() if k in wanted})
        if rest:
            kwargs["a_part"] = rest

        def render():
            parsed = ast.parse(str(macro(**{k: v for k, v in kwargs.items() if k in wanted})).strip()).body
            return [self.folder.visit(s) for s in parsed] if self.fold_seed else parsed

        stmts = None
        if node.out.id in self.pending:
            stmt, spread = self.pending[node.out.id]
            if _folds(call):
                kwargs["dout"] = _SPREAD  # broadcasting does the spreading, if the rule lets it
                stmts = render()
                if _spreads_to(stmts, node.out, self.graph):
                    stmts = [_replace_name(s, _SPREAD, spread) for s in stmts]
                    if self.fold_seed:
                        stmts = [self.folder.visit(s) for s in stmts]
                else:
                    kwargs["dout"], stmts = self.current[node.out.id], None
            if stmts is None:
                body.append(stmt)
                del self.pending[node.out.id]
        stmts = _copied_before_update(stmts or render())
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
            if single and self.fold_seed and seed.scalar(last.value, self.arrayish):
                self._scalar_adjoint(x, own, last, body)
                return
            if single and isinstance(last.value, ast.Name):
                shared = last.value.id
                if self.fold_seed and _owned_forward_value(shared, self.graph.values):
                    self.fresh.setdefault(shared, True)  # dq = m: a new array only the backward holds
                if x.kind == "param":  # a gradient the caller gets: give it its own name
                    body.append(_assign(own, ast.Name(id=shared, ctx=ast.Load())))
                    self.roots[own] = self.roots.get(shared, shared)
                    self.current[x.id] = own
                elif self.fold_seed and PLACEHOLDER.match(shared):
                    # the seed folded away, this adjoint is a forward value: say so (dy = y)
                    body.append(_assign(own, ast.Name(id=shared, ctx=ast.Load())))
                    _comment(body[-1], call.comment)
                    self.roots[own] = shared
                    self.current[x.id] = own
                else:
                    self.current[x.id] = shared  # share the adjoint, no statement
                return
            if single and _is_spread(last.value) and x.producer is not None and shapes.fully_known(x.shape):
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
            if call.macro in ("maximum_a", "minimum_a") and _same_shapes(node):
                self.routed[id(node)] = own  # a's part of dout, which b's rule may subtract
            return
        if call.macro == "getitem_basic" and x.id not in self.pending and self.current[x.id] == own \
                and self.fresh.get(own):
            # a basic index adds into an adjoint only the backward holds: dx[t] += dout, in place
            # (no zeros the size of x per contribution); basic indices cannot repeat an entry
            part = stmts[-1].targets[0]
            part.value = ast.Name(id=own, ctx=ast.Load())
            body.append(ast.AugAssign(target=part, op=ast.Add(), value=stmts[-1].value))
            _comment(body[-1], call.comment)
            return
        so_far = ast.Name(id=self.current[x.id], ctx=ast.Load())
        if x.id in self.pending:  # G + contribution broadcasts to the full shape by itself
            so_far = self.pending.pop(x.id)[1]
        elif single and _is_spread(last.value):  # dx + spread(G): dx already has the full shape
            last.value = last.value.args[0]
        if single:
            total = _assign(own, ast.BinOp(left=so_far, op=ast.Add(), right=last.value))
            if self.fold_seed:
                total = self.folder.visit(total)
                if seed.scalar(total.value, self.arrayish):
                    self._scalar_adjoint(x, own, total, body)
                    return
            body.append(total)
        else:
            body.extend(stmts)
            total = _assign(own, ast.BinOp(left=so_far, op=ast.Add(), right=ast.Name(id=target, ctx=ast.Load())))
            body.append(self.folder.visit(total) if self.fold_seed else total)
        _comment(body[-1], call.comment if single else shapes.show(x.shape) if x.shape else None)
        self.current[x.id] = own
        self.fresh[own] = True

    def _scalar_adjoint(self, x, own, stmt, body):
        """An adjoint that folding the seed made a number or a scalar expression (d(3 * a) = 3.0,
        -(1.0 / n)): carried into the statements that read it; a parameter's gradient keeps its
        name."""
        self.current[x.id] = own
        if sum(1 for _ in ast.walk(stmt.value)) > _SMALL:
            self.unfoldable = True  # carried into every reader, it could grow without bound
            return
        if x.kind != "param":
            self.constants[own] = stmt.value
            return
        if not x.python_scalar:
            self.unfoldable = True  # a number where a NumPy array or scalar of x's dtype belongs
            return
        for node in ast.walk(stmt.value):  # a Python float, as x is: nothing to keep precise
            if seed.is_seed_constant(node):
                node.gg_seed = False
        body.append(stmt)
        self.fresh[own] = True


_SMALL = 12  # AST nodes: a scalar adjoint such as -(1.0 / n) is carried into its readers


_ADJOINT = re.compile(r"^__ga(\d+)__$")


def _value_named(name: str, values, *, adjoint=False) -> Value | None:
    """The value a placeholder stands for (with ``adjoint``, also the value an adjoint is of)."""
    m = PLACEHOLDER.match(name) or (_ADJOINT.match(name) if adjoint else None)
    return values[int(m.group(1))] if m else None


def _float_array(name: str, values) -> bool:
    """Whether ``name`` (a forward value or an adjoint) is known to be an array of floats: then
    1.0 * name is name, dtype and all (a Python float would not keep float32 work float32)."""
    value = _value_named(name, values, adjoint=True)
    return value is not None and value.dtype == "float" and value.rank is not None and value.rank > 0


def _copied_before_update(stmts: list[ast.stmt]) -> list[ast.stmt]:
    """A rule that names an array and then updates it in place (dtheta = -dout * yhat, then
    dtheta[rows, y] += dout) must own it: where folding the seed left a bare name (dtheta =
    yhat), the update would change that array too, so it takes a copy."""
    for i, stmt in enumerate(stmts):
        if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name) \
                and isinstance(stmt.value, ast.Name) and any(_updates(s, stmt.targets[0].id) for s in stmts[i + 1:]):
            stmt.value = ast.Call(func=ast.Attribute(value=stmt.value, attr="copy", ctx=ast.Load()),
                                  args=[], keywords=[])
    return stmts


def _updates(stmt: ast.stmt, name: str) -> bool:
    """Whether ``stmt`` writes into ``name``'s array: name[i] = ..., name += ..., name[i] += ..."""
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AugAssign) else []
    return any((isinstance(t, ast.Subscript) or isinstance(stmt, ast.AugAssign)) and
               isinstance(written_array(t), ast.Name) and written_array(t).id == name for t in targets)


def _python_float(name: str, values) -> bool:
    """Whether ``name`` is a parameter annotated ``float``: 1.0 * name is name."""
    value = _value_named(name, values)
    return value is not None and value.kind == "param" and value.python_scalar and value.dtype == "float"


def _source_number(name: str, values):
    """The number a constant written in the source holds (3 in 3 * x), else None."""
    value = _value_named(name, values)
    literal = value.literal if value is not None and value.kind == "const" else None
    if isinstance(literal, ast.UnaryOp) and isinstance(literal.op, ast.USub):
        literal, sign = literal.operand, -1
    else:
        sign = 1
    if isinstance(literal, ast.Constant) and type(literal.value) in (int, float):
        return sign * literal.value
    return None


# forward values that are new arrays no one else holds: results of arithmetic and products
_OWNED_OPS = frozenset({"add", "sub", "mul", "div", "pow", "neg", "maximum", "minimum", "where",
                        "matmul", "dot", "outer", "clip"}) | UNARY_OPS | BINARY_FUNCS


def _owned_forward_value(name: str, values) -> bool:
    value = _value_named(name, values)
    return value is not None and value.producer is not None and value.producer.op in _OWNED_OPS \
        and value.dtype == "float" and value.producer.fused is None


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
        expr = swap_names(clone(self.rule.adjoints[self.position]),
                          lambda node: ast.parse(names[node.id], mode="eval").body if node.id in names else None)
        return f"{dx} = {ast.unparse(expr)}"


_SPREAD = "__gspread__"


def _replace_name(tree, name, expr):
    return swap_names(tree, lambda node: clone(expr) if node.id == name else None)


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


def _same_shapes(node) -> bool:
    """Whether every input of ``node`` is known to have its result's shape (nothing broadcasts)."""
    return shapes.fully_known(node.out.shape) and all(v.shape == node.out.shape for v in node.inputs)


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
