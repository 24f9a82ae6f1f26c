"""From the graph and its reverse pass to the text of a plain-NumPy module.

Decides which forward values get a name (those the backward reads, or that are
used twice; the user's own variables always), names every value, adjoint and
temporary deterministically, assembles an ``ast.Module`` and prints it with astor.
"""

from __future__ import annotations

import ast
import functools
import keyword
import re
from dataclasses import dataclass

import astor

from . import shapes, templating
from .errors import SourceContext
from .graph import PLACEHOLDER, Graph, clone, placeholders_in, substitute, swap_names
from .reverse import SEED, Backward
from .numpy_api import TEMPLATE_IMPORTS
from .scope import BUILTIN_NAMES, ModuleScope, header_statements

_ANY_PLACEHOLDER = re.compile(r"^__g([gat])(\d+)__$")
_COMMENT = "__gg_comment_{}__"
_COMMENT_LINE = re.compile(r"^(\s*)__gg_comment_(\d+)__$", re.M)
_TRAILING = "{}__gg_trailing_{}__"
_TRAILING_LINE = re.compile(r"^(\s*)(\w+?)__gg_trailing_(\d+)__( = .*)$")
_COMMENT_COLUMN = 44  # trailing shape comments line up here when the code is shorter
_SCALED_LINE = 90  # the seed's epilogue, 8 columns in: longer tuple assignments are split


@dataclass
class Unit:
    """One derived function on its way to text."""

    graph: Graph
    backward: Backward
    ctx: SourceContext
    scope: ModuleScope
    check_shapes: bool = False  # assert each gradient's shape before returning it


def function_names(name: str) -> tuple[str, str]:
    return f"{name}_value_and_grad", f"{name}_backward"


def emit_module(units: list[Unit], *, source_name: str, version: str, command: str | None = None) -> str:
    """The generated module for ``units``, all from the file called ``source_name``."""
    return emit_modules(units, source_name=source_name, version=version, command=command, runtime=False)[0]


def emit_modules(units: list[Unit], *, source_name: str, version: str,
                 command: str | None = None, runtime: bool = True) -> tuple[str, ...]:
    """The module as written to disk, and (with ``runtime``) the same functions without the
    imports and constants copied from the user's module: the decorator runs those against the
    forward's own, live, globals. Both are printed from one build of the functions."""
    comments: list[str] = []
    functions: list[ast.stmt] = []
    copied: list[ast.stmt] = []
    numpy_alias = None
    for unit in units:
        builder = _FunctionBuilder(unit, comments)
        functions.extend(builder.build())
        numpy_alias = numpy_alias or builder.numpy_alias
        copied.extend(header_statements(unit.ctx, unit.scope, list(unit.graph.module_names),
                                        unit.graph.module_names, frozenset(unit.graph.rules_used or ())))
    nodes = list(ast.walk(ast.Module(body=functions, type_ignores=[])))  # walked once, read thrice
    used = {n.id for n in nodes if isinstance(n, ast.Name)}
    calls = {id(n.func) for n in nodes if isinstance(n, ast.Call)}
    taken = set().union(*(u.graph.reserved for u in units))
    taken |= {n.id for n in nodes if isinstance(n, ast.Name) and id(n) not in calls}
    helpers = _helpers_used(nodes, numpy_alias, taken)
    source_headers, runtime_headers = list(copied), []
    if helpers or numpy_alias in used:
        numpy_import = ast.parse(f"import numpy as {numpy_alias}" if numpy_alias != "numpy"
                                 else "import numpy").body[0]
        if not any(numpy_alias in u.scope.numpy_aliases for u in units):  # gradgen's own numpy
            runtime_headers.append(numpy_import)
            source_headers.insert(0, numpy_import)
        elif not any(_binds(stmt, numpy_alias) for stmt in source_headers):
            source_headers.insert(0, numpy_import)
    for name, statement in TEMPLATE_IMPORTS.items():  # names rule templates use, e.g. digamma
        if name in used:
            source_headers.append(ast.parse(statement).body[0])
            runtime_headers.append(ast.parse(statement).body[0])
    doc = templating.render("module_header.j2", units=units, source_name=source_name,
                            version=version, command=command, names=[function_names(u.graph.name) for u in units])
    functions_text = _printed(helpers + functions).lstrip("\n")  # printed once for both
    return tuple(_print_module(doc, headers, functions_text, comments)
                 for headers in ([source_headers, runtime_headers] if runtime else [source_headers]))


def _print_module(doc: str, headers: list[ast.stmt], functions_text: str, comments: list[str]) -> str:
    """The docstring and ``headers``, then the functions: astor puts two blank lines before a
    top-level def whatever precedes it, so the two printed parts join exactly as one would."""
    head = _printed([ast.Expr(ast.Constant(doc.strip() + "\n"))] + _dedupe(headers))
    text = head.rstrip("\n") + "\n\n\n" + functions_text
    text = _COMMENT_LINE.sub(lambda m: f"{m.group(1)}# {comments[int(m.group(2))]}", text)
    return _trailing_comments(text, comments)


def _printed(stmts: list[ast.stmt]) -> str:
    return astor.to_source(ast.Module(body=stmts, type_ignores=[]), pretty_source=''.join)  # no wrapping


def _trailing_comments(text: str, comments: list[str]) -> str:
    """Put each shape comment at the end of its line, aligned when the code is short."""
    lines = []
    for line in text.splitlines(True):
        m = _TRAILING_LINE.match(line.rstrip("\n"))
        if m is None:
            lines.append(line)
            continue
        code = f"{m.group(1)}{m.group(2)}{m.group(4)}"
        lines.append(f"{code.ljust(_COMMENT_COLUMN - 2)}  # {comments[int(m.group(3))]}\n")
    return "".join(lines)


def _dedupe(stmts):
    seen, out = set(), []
    for stmt in stmts:
        key = ast.dump(stmt)
        if key not in seen:
            seen.add(key)
            out.append(stmt)
    return out


def _updates(node) -> bool:
    """Whether ``node`` is an update the forward wrote in place: a[index] = v, or h += b (its
    expression still h + b, as the parser made it)."""
    if node.op == "setitem":
        return True
    expr = node.expr
    return bool(node.attrs.get("augmented")) and isinstance(expr, ast.BinOp) and \
        isinstance(expr.left, ast.Name) and expr.left.id == node.inputs[0].placeholder


def _written(node) -> list[int]:
    """The value ``a[index] = v`` writes (v), which its expression ``a[index]`` leaves out."""
    return [node.inputs[1].id] if node.op == "setitem" else []


def _binds(stmt, name) -> bool:
    return isinstance(stmt, ast.Import) and any((a.asname or a.name) == name for a in stmt.names)


class _FunctionBuilder:
    def __init__(self, unit: Unit, comments: list[str]):
        self.unit = unit
        self.check_shapes = unit.check_shapes
        self.graph = unit.graph
        self.backward = unit.backward
        self.comments = comments
        self.values = {v.id: v for v in self.graph.values}
        self.names: dict[str, str] = {}  # placeholder -> final name
        self.claimed: set[str] = set()

    # -- which values the generated code computes, and which get names ----------

    def _plan(self, backward_trees):
        graph = self.graph
        referenced = set()
        for tree in backward_trees:
            referenced.update(placeholders_in(tree))
        self.backward_refs = referenced
        live = {graph.output.id} | referenced
        uses: dict[int, int] = {}
        for node in reversed(list(graph.body.nodes())):
            if not any(o.id in live for o in node.outs):
                continue
            for vid in [*_placeholder_occurrences(node.expr), *_written(node)]:
                live.add(vid)
                uses[vid] = uses.get(vid, 0) + 1
        self.live = live
        materialized = set()
        for node in graph.body.nodes():
            out = node.out
            if out.id not in live and not any(o.id in live for o in node.outs):
                continue
            if (node.extra_outs or out.user or out is graph.output or uses.get(out.id, 0) >= 2
                    or (out.id in referenced and not _cheap(node)) or node.op == "setitem"):
                materialized.update(o.id for o in node.outs)
        # a[index] = v may update a's array in place when nothing else reads a: no other use in
        # the forward, none in the backward. Then a's line starts the array (a = np.zeros(...);
        # a[:, 0] = v), or a was itself updated in place and the name goes on
        self.merged = set()
        for node in graph.body.nodes():
            if not _updates(node) or node.out.id not in live:
                continue
            old = node.inputs[0]
            if old.kind not in (("node",) if node.op == "setitem" else ("node", "const")) \
                    or uses.get(old.id) != 1 or old.id in referenced or old is graph.output \
                    or (old.producer is not None and old.producer.extra_outs):
                continue
            self.merged.add(old.id)
            materialized.add(node.out.id)
            if not (old.producer is not None and _updates(old.producer)):
                materialized.discard(old.id)  # its line starts the array: h = x @ W, then h += b
        self.materialized = materialized
        if graph.output.kind == "node" and not graph.output.user:
            graph.output.hint = graph.output_name

    def _claim(self, base: str, candidates=None) -> str:
        """A free name: the first candidate, else base_2, base_3, ... (deterministic)."""
        taken = self._taken
        for name in candidates or [base]:
            if name not in taken:
                taken.add(name)
                self.claimed.add(name)
                return name
        n = self._next_suffix.get(base, 2)
        while f"{base}_{n}" in taken:
            n += 1
        self._next_suffix[base] = n + 1
        taken.add(f"{base}_{n}")
        self.claimed.add(f"{base}_{n}")
        return f"{base}_{n}"

    def _name_everything(self):
        graph = self.graph
        fixed = {p.name for p in graph.params} | set(graph.module_names)
        fixed |= set(function_names(graph.name))
        self.claimed = set(fixed)
        # a temporary must not hide a user name, a builtin (len, max, ...) or a claimed name
        self._taken = set(fixed) | graph.reserved | BUILTIN_NAMES | set(keyword.kwlist)  # 'as', 'del'...
        self._next_suffix: dict[str, int] = {}
        self.numpy_alias = graph.numpy_alias
        if graph.numpy_alias is None:
            self.numpy_alias = self._claim("np")  # gradgen imports numpy itself, under a free name
        for p in graph.params:
            self.names[p.value.placeholder] = p.name
        self.seed = self._claim(f"d{graph.output_name}", [f"d{graph.output_name}", f"d_{graph.output_name}"])
        self.names[SEED] = self.seed
        for node in graph.body.nodes():
            if self._continues(node):
                self.names[node.out.placeholder] = self.names[node.inputs[0].placeholder]  # the same array
                continue
            for out in node.outs:
                if out.id not in self.materialized:
                    continue
                if out.user and out.hint not in self.claimed:
                    self.claimed.add(out.hint)
                    self._taken.add(out.hint)
                    self.names[out.placeholder] = out.hint
                else:
                    self.names[out.placeholder] = self._claim(out.hint)
        # parameters' adjoints first: the gradient of x is always dx; then those of values the
        # forward names, then the caller's fused values, and last a called function's fused
        # locals, which give way: the dz of a caller's z is never a callee's z's
        adjoints = sorted(self.backward.adjoints.items(), key=lambda item: (
            item[1].kind != "param", item[1].placeholder not in self.names, not item[1].user))
        for placeholder, value in adjoints:
            base = self.names.get(value.placeholder, value.hint)
            mine = (value.placeholder in self.names or value.user) and value.id not in self.merged
            self.names[placeholder] = self._claim(f"d{base}", [f"d{base}", f"d_{base}"] if mine else None)
        for placeholder, hint in self.backward.temps.items():
            self.names[placeholder] = self._claim(hint)

    # -- expressions ---------------------------------------------------------

    def _value_expr(self, vid: int) -> ast.expr:
        value = self.values[vid]
        if value.placeholder in self.names:
            return ast.Name(id=self.names[value.placeholder], ctx=ast.Load())
        if value.kind in ("const", "global"):
            return _copy(value.literal)
        return substitute(value.producer.expr, self._value_expr)

    def _resolve(self, tree):
        """Replace every placeholder (values, adjoints, temporaries, the seed) with final code."""
        def resolve(node):
            if node.id == SEED:
                return ast.Name(id=self.seed, ctx=node.ctx)
            m = _ANY_PLACEHOLDER.match(node.id)
            if m is None:
                return None
            if m.group(1) == "g" and not isinstance(node.ctx, ast.Store):
                return self._value_expr(int(m.group(2)))
            return ast.Name(id=self.names[node.id], ctx=node.ctx)

        return swap_names(tree, resolve)

    # -- the functions -------------------------------------------------------

    def build(self) -> list[ast.stmt]:
        graph, backward = self.graph, self.backward
        # work on copies: emitting leaves the unit as it was, so it can be emitted again
        blocks = [(block, [_copy(s) for s in block.body]) for block in backward.blocks]
        grad_exprs = [_copy(g) for g in backward.grads]
        blocks = _scatter_unreshaped(blocks, grad_exprs)
        backward_trees = [s for _, body in blocks for s in body] + grad_exprs
        self._plan(backward_trees)
        self._name_everything()
        alias = self.numpy_alias
        for tree in backward_trees:
            _rename_numpy(tree, alias)

        body: list[ast.stmt] = []
        for stmt in graph.body.statements:
            for node in stmt.nodes:
                outs = [o for o in node.outs if o.id in self.materialized]
                if not outs:
                    continue
                if _updates(node) and (node.op == "setitem" or node.inputs[0].id in self.merged):
                    body.extend(self._in_place(node))
                    continue
                value = substitute(node.expr, self._value_expr)
                if node.extra_outs or node.op == "unpack":
                    target = ast.Tuple(elts=[ast.Name(id=self.names[o.placeholder], ctx=ast.Store())
                                             for o in node.outs], ctx=ast.Store())
                else:
                    target = ast.Name(id=self.names[node.out.placeholder], ctx=ast.Store())
                body.append(ast.Assign(targets=[target], value=value, lineno=0))
        output = self._value_expr(graph.output.id)
        scalar_known = graph.output.rank == 0
        if any(_names_in(t).count(SEED) for t in backward_trees):
            if not scalar_known:
                seed_check = ast.parse(f"{self.seed} = _seed_for(OUT, {self.seed}, {self.seed!r})").body[0]
                seed_check.value.args[0] = _copy(output)
                body.append(seed_check)
            body.extend(self._seed_cast(output, graph))
        backward_body: list[ast.stmt] = []
        for block, block_body in blocks:
            identities = f": {', '.join(block.identities)}" if block.identities else ""
            self.comments.append(f"{block.stmt.text}   (line {block.stmt.lineno}){identities}")
            backward_body.append(ast.Expr(ast.Name(id=_COMMENT.format(len(self.comments) - 1),
                                                   ctx=ast.Load())))
            backward_body.extend(self._resolve(stmt) for stmt in block_body)
        resolved = [self._resolve(expr) for expr in grad_exprs]
        scaled = [g.id for g in resolved if isinstance(g, ast.Name)]  # the seed's epilogue reads these
        for stmt in _release_dead(backward_body, self._releasable(), resolved + [output], alias):
            text = getattr(stmt, "gradgen_comment", None)
            if text and isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
                self.comments.append(text)
                target = stmt.targets[0]
                stmt.targets = [ast.Name(id=_TRAILING.format(target.id, len(self.comments) - 1),
                                         ctx=ast.Store())]
            body.append(stmt)
        if backward.seed_folded and scaled:
            body.append(self._scale_by_seed(output, scaled, graph))
        grads = []
        for expr, fresh in zip(resolved, backward.fresh):
            if not fresh:  # a view or a shared adjoint: hand the caller an array of its own
                expr = ast.Call(func=ast.Attribute(value=ast.Name(id=alias, ctx=ast.Load()), attr="copy",
                                                   ctx=ast.Load()), args=[expr], keywords=[])
            grads.append(expr)
        if self.check_shapes:
            body.extend(self._shape_asserts(grads))
        body.append(ast.Return(ast.Tuple(elts=[output, ast.Tuple(elts=grads, ctx=ast.Load())],
                                         ctx=ast.Load())))

        vg_name, bw_name = function_names(graph.name)
        wrt_text = ", ".join(backward.wrt)
        args = self._arguments(scalar_known)
        vg_doc = (f"Value of {graph.name} and its gradients w.r.t. ({wrt_text}).\n\n"
                  f"    The seed {self.seed} is the adjoint of the result"
                  + (" (1.0 for a scalar loss)." if scalar_known else
                     "; leave it out for a scalar result.") + "\n    ")
        bw_doc = f"Gradients of {graph.name} w.r.t. ({wrt_text}), in that order."
        call_args = [ast.Name(id=p.name, ctx=ast.Load()) for p in graph.params]
        call = ast.Call(func=ast.Name(id=vg_name, ctx=ast.Load()), args=call_args,
                        keywords=[ast.keyword(arg=self.seed, value=ast.Name(id=self.seed, ctx=ast.Load()))])
        bw_body = [ast.Expr(ast.Constant(bw_doc)),
                   ast.Return(ast.Subscript(value=call, slice=ast.Constant(1), ctx=ast.Load()))]
        return [
            ast.FunctionDef(name=vg_name, args=args, body=[ast.Expr(ast.Constant(vg_doc))] + body,
                            decorator_list=[], returns=None, lineno=0),
            ast.FunctionDef(name=bw_name, args=self._arguments(scalar_known), body=bw_body,
                            decorator_list=[], returns=None, lineno=0),
        ]

    def _continues(self, node) -> bool:
        """Whether ``node`` updates, in place, an array an earlier update already named."""
        old = node.inputs[0] if _updates(node) else None
        return old is not None and old.id in self.merged and old.producer is not None and _updates(old.producer)

    def _in_place(self, node) -> list[ast.stmt]:
        """``a[index] = v`` or ``a += b`` as the forward wrote it. In place when nothing reads a
        afterwards (see _plan); else an index assignment goes into a copy of a, which the backward
        or a later line still reads as it was."""
        name = self.names[node.out.placeholder]
        old = node.inputs[0]
        lines = []
        if not self._continues(node):
            start = self._value_expr(old.id)
            if isinstance(start, ast.Name) and old.id not in self.merged:
                start = ast.Call(func=ast.Attribute(value=start, attr="copy", ctx=ast.Load()), args=[], keywords=[])
            lines.append(ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=start, lineno=0))
        if node.op == "setitem":
            index = substitute(node.expr.slice, self._value_expr)
            into = ast.Subscript(value=ast.Name(id=name, ctx=ast.Load()), slice=index, ctx=ast.Store())
            lines.append(ast.Assign(targets=[into], value=self._value_expr(node.inputs[1].id), lineno=0))
        else:
            lines.append(ast.AugAssign(target=ast.Name(id=name, ctx=ast.Store()), op=node.expr.op,
                                       value=substitute(node.expr.right, self._value_expr), lineno=0))
        return lines

    def _releasable(self) -> set[str]:
        """Names of the backward's own arrays (adjoints, temporaries) worth dropping once read
        for the last time: matrices and larger, as far as the shapes tell. A scalar, a vector
        or a per-row statistic (N, 1) is not worth a line."""
        names = {self.names[p] for p, value in self.backward.adjoints.items()
                 if _extent(value) is None or _extent(value) >= 2}
        names.update(self.names[p] for p in self.backward.temps)
        return names - {self.seed}

    def _shape_asserts(self, grads) -> list[ast.stmt]:
        """check_shapes=True: each gradient must have its parameter's shape."""
        out = []
        alias = self.numpy_alias
        for name, grad in zip(self.backward.wrt, grads):
            param = self.graph.param(name).value
            note = f" {shapes.show(param.shape)}" if param.shape is not None else ""
            test = ast.parse(f"{alias}.shape(G) == {alias}.shape({name})", mode="eval").body
            test.left.args[0] = _copy(grad)
            message = ast.Constant(f"gradient of {name} has the wrong shape; expected{note}")
            out.append(ast.Assert(test=test, msg=message))
        return out

    def _scale_by_seed(self, output, names, graph) -> ast.If:
        """The epilogue of a backward written for the seed 1.0: another seed scales every
        gradient once (they are linear in it), in the result's precision."""
        names = list(dict.fromkeys(names))
        seed = self.seed
        scaled = f"{', '.join(names)} = " + ", ".join(f"{seed} * {n}" for n in names)
        if len(scaled) > _SCALED_LINE:  # one line per gradient rather than a line to scroll
            scaled = "\n    ".join(f"{n} = {seed} * {n}" for n in names)
        block = ast.parse(f"if {seed} != 1.0:\n    {scaled}").body[0]
        block.body[:0] = self._seed_cast(output, graph)
        return block

    def _seed_cast(self, output, graph) -> list[ast.stmt]:
        """float32 in, float32 out: the seed in the result's precision, so that a Python-float
        (or float64) seed does not turn the adjoints into float64; nothing when every
        parameter is a Python number, with no NumPy precision to keep."""
        if all(p.value.python_scalar for p in graph.params):
            return []
        cast = ast.parse(f"{self.seed} = _seed_like(OUT, {self.seed})").body[0]
        cast.value.args[0] = _copy(output)
        return [cast]

    def _arguments(self, scalar_known: bool) -> ast.arguments:
        params = self.graph.params
        positional = [ast.arg(arg=p.name) for p in params] + [ast.arg(arg=self.seed)]
        defaults = [p.default for p in params]
        first_default = next((i for i, d in enumerate(defaults) if d is not None), len(defaults))
        seed_default = ast.Constant(1.0 if scalar_known else None)
        return ast.arguments(posonlyargs=[], args=positional, vararg=None, kwonlyargs=[], kw_defaults=[],
                             kwarg=None, defaults=[_copy(d) for d in defaults[first_default:]] + [seed_default])


def _scatter_unreshaped(blocks, grads: list[ast.expr]):
    """``dL = _scatter_rows(dx, words, L)`` where the reverse pass wrote ``dL_words =
    np.reshape(dx, np.shape(L_words))`` first: the helper reads its gradient flat, so the
    reshape only costs a line, two calls (1 us of the CS224n network's 135 at batch 1) and a
    forward name kept for its shape. ``blocks`` are (block, statements) in placeholders."""
    stmts = [stmt for _, body in blocks for stmt in body]
    if not any(_reshape_of(stmt) for stmt in stmts) or not any(_scatters(stmt) for stmt in stmts):
        return blocks  # the usual case, found without walking every statement
    stores: dict[str, list[int]] = {}
    mentions: dict[str, list[int]] = {}
    for i, stmt in enumerate(stmts):
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name):
                mentions.setdefault(node.id, []).append(i)
                if isinstance(node.ctx, ast.Store):
                    stores.setdefault(node.id, []).append(i)
    returned = set(_names_in(ast.Module(body=[ast.Expr(g) for g in grads], type_ignores=[])))
    dropped = set()
    for i, stmt in enumerate(stmts):
        reshaped = _reshape_of(stmt)
        if reshaped is None:
            continue
        name, source = reshaped
        readers = [j for j in mentions.get(name, []) if j != i]
        if name in returned or len(readers) != 1:
            continue
        call = _scatters(stmts[readers[0]])
        if not (call and isinstance(call.args[0], ast.Name) and call.args[0].id == name):
            continue
        if any(i < k <= readers[0] for k in stores.get(source, [])):  # the source rebound in between
            continue
        call.args[0] = ast.Name(id=source, ctx=ast.Load())
        dropped.add(id(stmt))
    return [(block, [stmt for stmt in body if id(stmt) not in dropped]) for block, body in blocks]


def _scatters(stmt) -> ast.Call | None:
    """The call in ``dx = _scatter_rows(grad, index, like)``, else None."""
    call = stmt.value if isinstance(stmt, ast.Assign) else None
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "_scatter_rows" \
            and call.args:
        return call
    return None


def _reshape_of(stmt) -> tuple[str, str] | None:
    """(A, B) for ``A = np.reshape(B, np.shape(C))`` as the reverse pass writes it, else None."""
    if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
        return None
    call = stmt.value
    if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "reshape"
            and isinstance(call.func.value, ast.Name) and call.func.value.id == "np"
            and len(call.args) == 2 and not call.keywords and isinstance(call.args[0], ast.Name)):
        return stmt.targets[0].id, call.args[0].id
    return None


def _extent(value) -> int | None:
    """How many axes of ``value`` are known to be longer than 1 (None when unknown)."""
    if value.shape is not None:
        return sum(1 for n in value.shape if not (isinstance(n, shapes.Dim) and n.is_one))
    return 0 if value.rank == 0 else None


def _release_dead(stmts: list[ast.stmt], releasable: set[str], tail: list[ast.expr],
                  numpy_alias: str) -> list[ast.stmt]:
    """``stmts`` with ``del name`` after the last statement that mentions each releasable name,
    as a careful hand-written backward frees an intermediate adjoint (``dh``) once the next one
    (``dz = dh * mask``) is computed: otherwise every one stays alive until the return, and
    peak memory grows with depth.

    A name and the views of it (``dK = np.transpose(dKT)``) share one array, so they are
    dropped together after the last use of any of them, or not at all when the array lives on
    anyway: in a forward value (``dO = O``) or in what the return reads (``tail``). Nothing is
    dropped after the last statement, where the return frees everything anyway, nor a name
    nothing reads (``s`` in ``U, s, Vt = np.linalg.svd(x)``)."""
    group = {}  # name -> the first name of its array

    def root(name):
        head = name
        while group.get(head, head) != head:
            head = group[head]
        while name != head:  # path compression keeps long chains of views linear
            group[name], name = head, group[name]
        return head

    pinned = {root(n) for n in _names_in(ast.Module(body=[ast.Expr(e) for e in tail], type_ignores=[]))}
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, stmt in enumerate(stmts):
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            source = _view_source(stmt.value, numpy_alias)
            target = stmt.targets[0].id
            if source is not None and source != target:
                if source not in releasable:
                    pinned.add(root(target))
                else:
                    group[root(target)] = root(source)
        for name in _names_in(stmt):
            first.setdefault(name, i)
            last[name] = i
    pinned = {root(n) for n in pinned}
    real = [i for i, stmt in enumerate(stmts) if not _is_comment(stmt)]
    final = real[-1] if real else -1
    members: dict[str, list[str]] = {}
    for name in last:
        if name in releasable:
            members.setdefault(root(name), []).append(name)
    dying: dict[int, list[str]] = {}
    for head, names in members.items():
        end = max(last[n] for n in names)
        if head not in pinned and head in releasable and first[head] < end < final:
            dying.setdefault(end, []).extend(names)
    out = []
    for i, stmt in enumerate(stmts):
        out.append(stmt)
        if i in dying:
            names = sorted(dying[i], key=first.__getitem__)
            out.append(ast.Delete(targets=[ast.Name(id=n, ctx=ast.Del()) for n in names]))
    return out


_VIEW_FUNCTIONS = {"transpose", "reshape", "swapaxes", "moveaxis", "expand_dims", "squeeze", "ravel",
                   "broadcast_to", "diagonal", "asarray", "atleast_1d", "atleast_2d", "atleast_3d",
                   "real", "imag", "view"}


def _view_source(expr, numpy_alias: str) -> str | None:
    """The name whose array ``expr`` may share (a view, or the name itself), else None."""
    while True:
        if isinstance(expr, ast.Name):
            return expr.id
        if isinstance(expr, ast.Attribute) and expr.attr in ("T", "mT", "real", "imag"):
            expr = expr.value
        elif isinstance(expr, ast.Subscript):
            expr = expr.value
        elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) \
                and expr.func.attr in _VIEW_FUNCTIONS:
            if isinstance(expr.func.value, ast.Name) and expr.func.value.id == numpy_alias:
                if not expr.args:
                    return None
                expr = expr.args[0]  # np.transpose(x, ...)
            else:
                expr = expr.func.value  # x.reshape(...)
        else:
            return None


def _is_comment(stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Name) and \
        stmt.value.id.startswith("__gg_comment_")


def _placeholder_occurrences(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            m = PLACEHOLDER.match(node.id)
            if m:
                yield int(m.group(1))


def _cheap(node) -> bool:
    """A non-differentiable expression cheap enough to recompute where the backward reads it."""
    if node.op != "nondiff":
        return False
    return not any(isinstance(n, ast.Call) for n in ast.walk(node.expr)) and \
        sum(1 for _ in ast.walk(node.expr)) <= 12


def _rename_numpy(tree, alias):
    if alias == "np":
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "np":
            node.id = alias


_copy = clone


@functools.lru_cache(maxsize=None)
def _parsed_helpers() -> dict[str, ast.FunctionDef]:
    """The helper functions of helpers.py.j2, by name, in file order; emitted as copies."""
    module = ast.parse(templating.render("helpers.py.j2"))
    return {fn.name: fn for fn in module.body if isinstance(fn, ast.FunctionDef)}


def _helpers_used(nodes: list[ast.AST], alias, taken: set[str]) -> list[ast.stmt]:
    """The helper definitions the functions made of ``nodes`` call (and theirs), renamed away
    from user names in ``taken``; the calls among ``nodes`` are renamed to match."""
    sources = _parsed_helpers()
    wanted: list[str] = []

    def want(name):
        if name in wanted:
            return
        for dep in _helper_dependencies(name):
            want(dep)
        wanted.append(name)

    for node in nodes:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in sources:
            want(node.func.id)
    order = list(sources)
    renames = {}
    for name in wanted:
        new, n = name, 2
        while new in taken:  # a user variable or parameter with a helper's name
            new, n = f"{name}_{n}", n + 1
        if new != name:
            renames[name] = new
    out = []
    for name in sorted(wanted, key=order.index):
        fn = _copy(_parsed_helpers()[name])
        _rename_numpy(fn, alias)
        out.append(fn)
    if renames:
        for node in [n for fn in out for n in ast.walk(fn)] + nodes:
            # helpers are only ever called: a user's variable of the same name is left alone
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in renames:
                node.func.id = renames[node.func.id]
            elif isinstance(node, ast.FunctionDef) and node.name in renames:
                node.name = renames[node.name]
    return out


@functools.lru_cache(maxsize=None)
def _helper_dependencies(name: str) -> tuple[str, ...]:
    """The other helpers helper ``name`` calls."""
    sources = _parsed_helpers()
    return tuple(dict.fromkeys(dep for dep in _names_in(sources[name])
                               if dep in sources and dep != name))


def _names_in(tree) -> list[str]:
    return [n.id for n in ast.walk(tree) if isinstance(n, ast.Name)]
