"""From a function's AST to the static graph, refusing (with a location) what it cannot differentiate.

Every right-hand side is lowered to primitive nodes in evaluation order. A
subexpression that touches no differentiable value is kept whole as one
``nondiff`` node, so shapes, masks and index arithmetic pass through untouched.
"""

from __future__ import annotations

import ast
import copy
import keyword
import operator

from . import numpy_api as api
from .errors import GradgenError, SourceContext
from .graph import Graph, Node, Param, Region, Statement, Value, swap_names
from . import shapes
from .scope import ModuleScope
from .shapes import ShapeMismatch, infer_shape, static_value

_LOOP_HINT = "gradgen differentiates straight-line code and loops over range(n) with n known; " \
    "unroll it or move it out of the function"
_MAX_UNROLLED = 256  # iterations of one loop written out; more would make an unreadable module
_UNSUPPORTED_STATEMENTS = {
    ast.AsyncFor: ("'async for' is not supported", _LOOP_HINT),
    ast.While: ("'while' loops are not supported yet", _LOOP_HINT),
    ast.If: ("'if' on a value known only when the function runs is not supported",
             "select with np.where(condition, a, b), or make the condition known when the code is read "
             "(a module constant such as USE_BIAS = True, or a shape annotated with numbers)"),
    ast.With: ("'with' blocks are not supported", "move the 'with' block out of the derived function"),
    ast.AsyncWith: ("'async with' is not supported", "move it out of the derived function"),
    ast.Try: ("'try' blocks are not supported", "move error handling out of the derived function"),
    ast.Raise: ("'raise' is not supported", "check inputs before calling the derived function"),
    ast.Global: ("'global' is not supported", "pass the value in as an argument"),
    ast.Nonlocal: ("'nonlocal' is not supported", "pass the value in as an argument"),
    ast.FunctionDef: ("nested function definitions are not supported",
                      "define the helper at module level: gradgen writes calls to it out in place"),
    ast.AsyncFunctionDef: ("nested function definitions are not supported",
                           "define the helper at module level"),
    ast.ClassDef: ("class definitions inside the function are not supported",
                   "define the class at module level"),
    ast.Import: ("imports inside the function are not supported", "import at module level"),
    ast.ImportFrom: ("imports inside the function are not supported", "import at module level"),
    ast.Delete: ("'del' is not supported", "drop the 'del' statement"),
}
if hasattr(ast, "TryStar"):
    _UNSUPPORTED_STATEMENTS[ast.TryStar] = _UNSUPPORTED_STATEMENTS[ast.Try]
if hasattr(ast, "Match"):
    _UNSUPPORTED_STATEMENTS[ast.Match] = ("'match' is not supported", "use np.where")

_UNSUPPORTED_EXPRESSIONS = {
    ast.Lambda: ("lambda expressions are not supported", "define the function at module level"),
    ast.IfExp: ("a conditional expression on a value known only when the function runs is not supported",
                "use np.where(condition, a, b)"),
    ast.ListComp: ("comprehensions are not supported", "write the computation with array operations"),
    ast.SetComp: ("comprehensions are not supported", "write the computation with array operations"),
    ast.DictComp: ("comprehensions are not supported", "write the computation with array operations"),
    ast.GeneratorExp: ("generator expressions are not supported",
                       "write the computation with array operations"),
    ast.NamedExpr: ("':=' is not supported", "assign on a line of its own"),
    ast.Await: ("'await' is not supported", "derive a plain function"),
    ast.Yield: ("'yield' is not supported", "derive a function that returns its result"),
    ast.YieldFrom: ("'yield from' is not supported", "derive a function that returns its result"),
    ast.Starred: ("'*' unpacking is not supported here", "pass the arguments one by one"),
    ast.Dict: ("dict literals are not supported", "pass arrays directly"),
    ast.Set: ("set literals are not supported", "use a tuple"),
    ast.JoinedStr: ("f-strings are not supported", "drop the string"),
}

# primitives whose result is a float whatever their inputs are (a mean of integers, an inverse)
_FLOAT_RESULTS = frozenset({"div", "mean", "nanmean", "var", "std", "inv", "det", "solve", "norm", "expit",
                            "logit", "erf", "gammaln", "logsumexp", "softmax_fn", "log_softmax_fn"})

_SAFE_BUILTINS = frozenset({"len", "int", "float", "bool", "range", "tuple", "list", "min", "max",
                            "abs", "round", "slice", "sum", "isinstance", "print", "complex"})
_PASSIVE_ATTRIBUTES = frozenset({"shape", "ndim", "size", "dtype"})


def parse_function(ctx: SourceContext, fn: ast.FunctionDef, scope: ModuleScope,
                   runtime_names: frozenset[str] = frozenset(), rules=None) -> Graph:
    """Lower ``fn`` to a Graph. ``runtime_names``: free names only the decorator can see;
    ``rules``: user rules (gradgen.rule) by the name the forward calls them by."""
    return _Parser(ctx, fn, scope, runtime_names, rules or {}).run()


class _Parser:
    def __init__(self, ctx, fn, scope, runtime_names, rules):
        self.ctx = ctx
        self.rules = rules
        self.rules_used: dict[str, object] = {}
        self.fn = fn
        self.scope = scope
        self.runtime_names = runtime_names
        self.values: list[Value] = []
        self.env: dict[str, Value] = {}
        self.locals = _assigned_names(fn)
        self.module_names: dict[str, ast.AST] = {}  # name -> first use site
        self.stmt: Statement | None = None
        self.region = Region()
        self._active_cache: dict[int, bool] = {}
        self.inlining: list[str] = []  # the module functions whose bodies are being lowered in place
        self.outer_envs: list[dict[str, Value]] = []  # the callers' names while a callee is lowered
        self.callee_dims: list[dict[str, shapes.Dim]] = []  # their dimension names -> the caller's
        self.iterations: list[str] = []  # "i = 2" for each loop being written out

    # -- entry ---------------------------------------------------------------

    def run(self) -> Graph:
        params = self._params()
        body = list(self.fn.body)
        if body and _is_docstring(body[0]):
            body = body[1:]
        if not body or not isinstance(body[-1], ast.Return):
            at = body[-1] if body else self.fn
            raise self.ctx.error(at, f"'{self.fn.name}' must end with a 'return' of the value to differentiate",
                                 hint="end the function with 'return loss'")
        output = output_name = None
        for stmt in body:
            if isinstance(stmt, ast.Return):
                if stmt is not body[-1]:
                    raise self.ctx.error(stmt, "'return' before the end of the function",
                                         hint="return once, as the last statement")
                output, output_name = self._return(stmt)
            else:
                self._statement(stmt)
        # the name rule templates use for numpy: one the function does not shadow with a local
        usable = [a for a in sorted(self.scope.numpy_aliases) if a not in self.locals]
        numpy_alias = usable[0] if usable else None  # None: gradgen imports numpy itself
        reserved = set(self.locals) | {p.name for p in params} | set(self.module_names)
        reserved |= self.scope.numpy_aliases | set(self.scope.bindings)
        return Graph(name=self.fn.name, filename=self.ctx.filename, params=params, body=self.region,
                     output=output, output_name=output_name, values=self.values, reserved=reserved,
                     numpy_alias=numpy_alias, module_names=dict(self.module_names),
                     rules_used=dict(self.rules_used))

    def _params(self) -> list[Param]:
        args = self.fn.args
        for bad, what in ((args.vararg, "*args"), (args.kwarg, "**kwargs")):
            if bad is not None:
                raise self.ctx.error(bad, f"{what} parameters are not supported",
                                     hint="name each array parameter")
        if args.kwonlyargs or args.posonlyargs:
            arg = (args.kwonlyargs or args.posonlyargs)[0]
            raise self.ctx.error(arg, "keyword-only and positional-only parameters are not supported",
                                 hint="use plain positional parameters")
        positional = args.args
        defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
        params = []
        for arg, default in zip(positional, defaults):
            if default is not None:
                self._check_passive(default)
                for sub in ast.walk(default):
                    if isinstance(sub, ast.Name):
                        self._global_name(sub)
            note = shapes.parse_annotation(arg.annotation)
            value = self._new(arg.arg, "param", user=True, active=True)
            if note is not None:
                value.shape, value.dtype = note.shape, note.kind
                value.rank = None if note.shape is None else len(note.shape)
                value.active = note.kind not in ("int", "bool")  # integer inputs carry no gradient
                value.python_scalar = isinstance(arg.annotation, ast.Name)
            self.env[arg.arg] = value
            params.append(Param(arg.arg, value, default))
        return params

    # -- statements ----------------------------------------------------------

    def _begin(self, stmt: ast.stmt) -> Statement:
        self._active_cache = {}  # the environment changes between statements
        if self.inlining:  # a called function's statements belong to the caller's statement
            return self.stmt
        text = self.ctx.segment(stmt)
        if self.iterations:  # the same line once per iteration: say which
            text += f"   [{', '.join(self.iterations)}]"
        self.stmt = Statement(stmt.lineno, stmt.col_offset + 1, text)
        self.region.statements.append(self.stmt)
        return self.stmt

    def _statement(self, stmt: ast.stmt):
        kind = type(stmt)
        if kind is ast.For:
            self._for(stmt)
            return
        taken = self._static_condition(stmt.test) if kind is ast.If else None
        if taken is not None:
            for sub in stmt.body if taken else stmt.orelse:
                self._statement(sub)  # only the branch taken is written out
            return
        if kind in _UNSUPPORTED_STATEMENTS:
            message, hint = _UNSUPPORTED_STATEMENTS[kind]
            raise self.ctx.error(stmt, message, hint=hint, construct=kind.__name__)
        if isinstance(stmt, (ast.Pass, ast.Assert)):
            return
        if isinstance(stmt, ast.Expr):
            if _is_docstring(stmt):
                return
            self._check_passive(stmt.value)  # names yield, await, lambda... precisely
            call = stmt.value
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and \
                    isinstance(call.func.value, ast.Name) and call.func.value.id in self.env:
                name, method = call.func.value.id, call.func.attr
                raise self.ctx.error(stmt, f"the result of '{self.ctx.segment(call)}' is dropped: the call "
                                     f"could only change '{name}' in place, which gradgen does not support",
                                     hint=f"write {name} = np.sort({name})" if method == "sort"
                                     else f"assign the result to a name, as in {name} = ...",
                                     construct="in-place assignment")
            raise self.ctx.error(stmt, "an expression statement has no effect on the result",
                                 hint="remove it: the backward recomputes the forward, so side "
                                 "effects such as print would run again")
        if isinstance(stmt, ast.Assign):
            if len(stmt.targets) != 1:
                raise self.ctx.error(stmt, "chained assignment 'a = b = ...' is not supported",
                                     hint="assign one name per line")
            self._assign(stmt, stmt.targets[0], stmt.value)
            return
        if isinstance(stmt, ast.AnnAssign):
            if stmt.value is None:
                return
            self._assign(stmt, stmt.target, stmt.value)
            self._declare(stmt)
            return
        if isinstance(stmt, ast.AugAssign):
            self._augassign(stmt)
            return
        raise self.ctx.error(stmt, f"'{type(stmt).__name__}' statements are not supported",
                             construct=type(stmt).__name__)

    def _for(self, stmt: ast.For):
        """A loop gradgen can write out once per iteration, because it knows when it reads the
        code how often it runs: ``for t in range(...)`` with known bounds (t is then a number in
        each iteration), ``for x_t in xs`` over an array whose first dimension is annotated with a
        number (x_t = xs[t] comes first), and enumerate(xs) and zip(xs, ys) of such arrays (an
        RNN over T steps, a fixed number of refinement steps)."""
        if stmt.orelse:
            raise self.ctx.error(stmt.orelse[0], "'for ... else' is not supported", hint="drop the else block",
                                 construct="For")
        count, counters, items = self._loop_plan(stmt)
        names = set(counters) | {name for name, _ in items} | {over for _, over in items}
        for sub in stmt.body:
            for node in ast.walk(sub):
                if isinstance(node, (ast.Break, ast.Continue, ast.Return)):
                    word = type(node).__name__.lower()
                    raise self.ctx.error(node, f"'{word}' inside a loop is not supported",
                                         hint="gradgen writes each iteration out, so every iteration must "
                                         "run to the end; select with np.where instead", construct=word)
                if isinstance(node, ast.Name) and node.id in names and not isinstance(node.ctx, ast.Load):
                    what = "runs over" if any(node.id == over for _, over in items) else "counts with"
                    raise self.ctx.error(node, f"the loop assigns to '{node.id}', which it {what}",
                                         hint="use another name inside the loop", construct="For")
        steps = count()
        if len(steps) > _MAX_UNROLLED:
            raise self.ctx.error(stmt.iter, f"the loop runs {len(steps)} times; gradgen writes each iteration out "
                                 f"and stops at {_MAX_UNROLLED}", hint="move the loop out of the derived function, "
                                 "or vectorise it", construct="For")
        for i in steps:
            body = [copy.deepcopy(sub) for sub in stmt.body]
            for name in counters:  # a number in this iteration, as if written there: xs[t] is xs[3]
                body = [_with_number(sub, name, i) for sub in body]
            takes = []  # x_t = xs[i], located at the loop's header, then the body as written
            for name, over in items:
                take = ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())],
                                  value=ast.Subscript(value=ast.Name(id=over, ctx=ast.Load()),
                                                      slice=ast.Constant(i), ctx=ast.Load()))
                for node in ast.walk(take):
                    node.lineno, node.col_offset = stmt.lineno, stmt.col_offset
                    node.end_lineno, node.end_col_offset = stmt.iter.end_lineno, stmt.iter.end_col_offset
                takes.append(take)
            self.iterations.append(", ".join([f"{name} = {i}" for name in counters] +
                                             [f"{name} = {over}[{i}]" for name, over in items]))
            try:
                for sub in takes + body:
                    self._statement(sub)
            finally:
                self.iterations.pop()
        if steps:  # after the loop a counter holds its last value, as in Python (an item already does)
            for name in counters:
                self.env[name] = self._passive(ast.copy_location(ast.Constant(steps[-1]), stmt.target))

    def _loop_plan(self, stmt: ast.For):
        """(how to work out the iterations, the names that count them, (name, array) pairs that
        take an item)."""
        it, target = stmt.iter, stmt.target
        builtin = _dotted(it.func) if isinstance(it, ast.Call) else None
        builtin = builtin[0] if builtin and len(builtin) == 1 and builtin[0] not in self.env and \
            builtin[0] not in self.locals and self.scope.kind(builtin[0]) == "builtin" else None
        names = [t.id for t in target.elts] if isinstance(target, ast.Tuple) and \
            all(isinstance(t, ast.Name) for t in target.elts) else [target.id] if isinstance(target, ast.Name) else None
        plain = isinstance(it, ast.Call) and not it.keywords and \
            all(isinstance(a, ast.Name) and a.id in self.env for a in it.args)
        if names == names[:1] and builtin == "range" and not it.keywords and 1 <= len(it.args) <= 3:
            return lambda: self._range_steps(it), names, []
        if names == names[:1] and isinstance(it, ast.Name) and it.id in self.env:
            return lambda: self._length_steps(it), [], [(names[0], it.id)]
        if names and len(names) == 2 and builtin == "enumerate" and plain and len(it.args) == 1:
            return lambda: self._length_steps(it.args[0]), names[:1], [(names[1], it.args[0].id)]
        if names and builtin == "zip" and plain and len(it.args) == len(names) >= 1:
            return lambda: min((self._length_steps(a) for a in it.args), key=len), [], \
                [(name, a.id) for name, a in zip(names, it.args)]
        raise self.ctx.error(stmt, "'for' loops are supported over range(...), an array, enumerate(array) or "
                             "zip(arrays), into names", hint="write for i in range(n) and index with i",
                             construct="For")

    def _range_steps(self, it: ast.Call) -> range:
        bounds = [self._static_int(a) for a in it.args]
        for arg, bound in zip(it.args, bounds):
            if bound is None:
                raise self.ctx.error(arg, f"'{self.ctx.segment(arg)}': gradgen must know the loop's bounds when "
                                     "it reads the code, to write each iteration out",
                                     hint="use a number, a module constant, or a dimension annotated with a number",
                                     construct="For")
        return range(*bounds)

    def _length_steps(self, it: ast.Name) -> range:
        shape = self.env[it.id].shape
        first = shape[0] if shape else None
        if first is None or first.factors:
            raise self.ctx.error(it, f"gradgen must know how long '{it.id}' is when it reads the code, to write "
                                 "each iteration out", hint=f"annotate its first dimension with a number "
                                 f"(\"f[5, B, D]\"), or loop over range(n) and index {it.id}[t]", construct="For")
        return range(first.coef)

    def _static_condition(self, expr: ast.expr) -> bool | None:
        """A condition known when the code is read: literals and module constants (USE_BIAS,
        ACT == "relu"), not/and/or of such, and comparisons of numbers known then
        (x.shape[1] == 3 with the dimension annotated); None when only running would tell."""
        if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not):
            inner = self._static_condition(expr.operand)
            return None if inner is None else not inner
        if isinstance(expr, ast.BoolOp):
            parts = [self._static_condition(v) for v in expr.values]
            if any(p is None for p in parts):
                return None
            return all(parts) if isinstance(expr.op, ast.And) else any(parts)
        if isinstance(expr, ast.Compare):
            values = [self._static_literal(e) for e in [expr.left, *expr.comparators]]
            if any(v is _NOT_LITERAL for v in values):
                return None
            try:
                return all(_COMPARE[type(op)](a, b) for op, a, b in zip(expr.ops, values, values[1:]))
            except TypeError:
                return None
        value = self._static_literal(expr)
        return None if value is _NOT_LITERAL else bool(value)

    def _static_literal(self, expr: ast.expr):
        """What ``expr`` is when the code is read: a literal, a module constant's literal value,
        or a number the shapes know (n = 3, x.shape[0] with the dimension annotated as a
        number, len(x)); _NOT_LITERAL otherwise."""
        if isinstance(expr, ast.Name) and expr.id not in self.env and expr.id not in self.locals:
            stmt = self.scope.bindings.get(expr.id)
            if self.scope.kind(expr.id) == "constant" and isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                try:
                    value = ast.literal_eval(stmt.value)
                except ValueError:
                    return _NOT_LITERAL
                self._global_name(expr)  # kept in the generated module: what it was generated for
                return value
            return _NOT_LITERAL
        try:
            return ast.literal_eval(expr)
        except ValueError:
            known = static_value(self._passive_template(expr)[0], self.values)
            return known.coef if isinstance(known, shapes.Dim) and not known.factors else _NOT_LITERAL

    def _static_int(self, expr: ast.expr) -> int | None:
        """An integer known when the code is read (see _static_literal), else None."""
        value = self._static_literal(expr)
        return value if type(value) is int else None

    def _assign(self, stmt, target, value_expr):
        self._begin(stmt)
        if isinstance(target, ast.Name):
            value = self._lower(value_expr)
            self._bind(target.id, value)
            return
        if isinstance(target, (ast.Tuple, ast.List)) and all(isinstance(t, ast.Name) for t in target.elts):
            if isinstance(value_expr, (ast.Tuple, ast.List)) and len(value_expr.elts) == len(target.elts):
                values = [self._lower(e) for e in value_expr.elts]  # h, c = h0, c0: every value first
                for t, value in zip(target.elts, values):
                    self._bind(t.id, value)
                return
            called = self._module_function(value_expr)
            if called is not None:  # h, c = cell(x, h, c): a called function's several results
                for t, out in zip(target.elts, self._inline(value_expr, called, count=len(target.elts))):
                    self._bind(t.id, out)
                return
            fname = self._numpy_function(value_expr) if isinstance(value_expr, ast.Call) else None
            if fname in api.MULTI_OUTPUT and self._mentions_active(value_expr):
                outs = self._multi_output_call(value_expr, fname, len(target.elts), target)
                for t, out in zip(target.elts, outs):
                    out.hint = t.id
                    self._bind(t.id, out)
                return
            if self._mentions_active(value_expr):
                value = self._lower(value_expr)  # e.g. x.shape: no gradient, whatever x is
                if value.active:
                    raise self.ctx.error(stmt, "unpacking a differentiable value into several names "
                                         "is not supported", hint="index the parts: a = x[0]; b = x[1]")
                self._unpack_value(target, value)
                return
            self._unpack(target, value_expr)
            return
        if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
            self._setitem(stmt, target, value_expr)
            return
        if isinstance(target, (ast.Subscript, ast.Attribute)):
            raise self.ctx.error(target, "assigning into an attribute, or into part of an expression "
                                 "('a[i][j] = ...'), changes an array in place where gradgen cannot follow it",
                                 hint="assign into a named array the function made: h[i, j] = v",
                                 construct="in-place assignment")
        raise self.ctx.error(target, "this assignment target is not supported",
                             hint="assign to a single name")

    def _declare(self, stmt: ast.AnnAssign):
        """``z: "f[B, H]" = ...``: check the shape gradgen inferred, or learn it."""
        note = shapes.parse_annotation(stmt.annotation)
        if note is None or note.shape is None or not isinstance(stmt.target, ast.Name):
            return
        value = self.env[stmt.target.id]
        if self.inlining:
            self._callee_annotation(stmt.annotation, note.shape, value, f"'{stmt.target.id}' is annotated")
            return
        if value.shape is None:
            value.shape, value.rank = note.shape, len(note.shape)
            return
        same_rank = len(value.shape) == len(note.shape)
        clash = not same_rank or any(a is not None and b is not None and a != b
                                     for a, b in zip(value.shape, note.shape))
        if clash:
            raise self.ctx.error(stmt.annotation, f"'{stmt.target.id}' is annotated {shapes.show(note.shape)} "
                                 f"but the right-hand side has shape {shapes.show(value.shape)}",
                                 hint="fix the annotation or the computation")
        value.shape = tuple(a if a is not None else b for a, b in zip(value.shape, note.shape))

    def _augassign(self, stmt: ast.AugAssign):
        target = stmt.target
        if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
            # h[i] += v is h[i] = h[i] + v, as NumPy runs it (a repeated index adds once)
            read = ast.copy_location(ast.Subscript(value=target.value, slice=target.slice, ctx=ast.Load()), target)
            value = ast.copy_location(ast.BinOp(left=read, op=stmt.op, right=stmt.value), stmt)
            self._begin(stmt)
            self._setitem(stmt, target, value, f"{_OP_SYMBOL.get(type(stmt.op).__name__, '')}=")
            return
        if not isinstance(stmt.target, ast.Name):
            raise self.ctx.error(stmt.target, "augmented assignment into an attribute or part of an "
                                 "expression is not supported",
                                 hint="assign into a named array: h[i] += v", construct="in-place assignment")
        name = stmt.target.id
        current = self.env.get(name)
        if current is None:
            raise self.ctx.error(stmt.target, f"'{name}' is used before it is assigned")
        op = type(stmt.op).__name__
        sym = _OP_SYMBOL.get(op, op)
        if current.active or self._mentions_active(stmt.value) or current.rank != 0:
            # an index array updated in place matters too: j = idx; idx += 1 changes j
            shared = self._shared(name, current)
            if shared is not None:
                raise self.ctx.error(stmt, f"'{name} {sym}= ...' updates {shared}",
                                     hint=f"write '{name} = {name} {sym} ...', which makes a new array",
                                     construct="in-place assignment")
        self._begin(stmt)
        load = ast.copy_location(ast.Name(id=name, ctx=ast.Load()), stmt.target)
        expr = ast.copy_location(ast.BinOp(left=load, op=stmt.op, right=stmt.value), stmt)
        value = self._lower(expr)
        node = value.producer if value.kind == "node" else None
        if node is not None and node.op in api.OPERATORS.values() and node.inputs[0] is current:
            node.attrs["augmented"] = True  # emit.py may write it back as h += b
        self._bind(name, value)

    def _shared(self, name: str, value: Value) -> str | None:
        """Why updating ``name``'s array in place could be seen from elsewhere, or None when
        nothing else can see it: a new array made in this function (or an immutable number),
        under no other name and with no view taken of it. Then ``h += b`` is ``h = h + b``."""
        if (value.kind == "const" and value.rank == 0) or (value.kind == "param" and value.python_scalar):
            return None  # a number: h += b binds h to a new one, whoever else holds the old
        if value.kind == "param":
            return f"the caller's array '{value.hint}' in place"
        if value.kind == "global":
            return f"the module-level array '{value.hint}' in place"
        if value.kind == "node" and not _makes_new_array(value.producer, self.scope):
            return f"'{name}' in place, and '{name}' may be a view of another array or that array itself"
        others = sorted({n for env in [self.env, *self.outer_envs] for n, v in env.items()
                         if v is value and not (env is self.env and n == name)})
        if others:
            return f"the array '{name}' in place, which '{others[0]}' names too"
        for node in self.region.nodes():
            if any(v is value for v in node.inputs) and not _makes_new_array(node, self.scope) \
                    and not _reads_around(node, value, self.scope):
                return (f"'{name}' in place, and line {node.stmt.lineno} took a view of it that would "
                        "change with it")
        return None

    def _setitem(self, stmt, target: ast.Subscript, value_expr, sign: str = "="):
        """``a[index] = v`` on an array the function owns (see _shared): a new array, a with the
        entries at index replaced by v. Those entries of a had no say in the result, so a's
        adjoint is dout with them zeroed; v's is dout[index], summed back to v's shape."""
        name = target.value.id
        current = self._lower(target.value)
        shared = self._shared(name, current)
        written = f"{self.ctx.segment(target)} {sign}"
        if shared is not None:
            raise self.ctx.error(stmt, f"'{written} ...' updates {shared}",
                                 hint=f"assign into a copy ({name} = {name}.copy() first), or build the "
                                 "array with np.where or np.concatenate", construct="in-place assignment")
        value = self._lower(value_expr)
        replace, inputs, basic = self._index_values(target.slice)
        index = _rebuild(target.slice, replace)
        if value.active and current.dtype in ("int", "bool"):
            raise self.ctx.error(stmt, f"'{written} ...' writes a differentiable value into an array of "
                                 f"{current.dtype}s, which drops its fraction and its gradient",
                                 hint=f"make '{name}' a float array (dtype=float)")
        masks = [v for v in inputs if v.dtype == "bool"]
        if value.active and not basic and not (len(inputs) == 1 and masks):
            raise self.ctx.error(target.slice, f"'{written} ...' writes a differentiable value at index "
                                 "arrays, which may name an entry twice; only the last write would count, "
                                 "and gradgen cannot tell which that is",
                                 hint="index with slices, integers or one boolean mask; or build the array "
                                 "with np.where", construct="in-place assignment")
        template = ast.copy_location(ast.Subscript(value=current.ref(), slice=index, ctx=ast.Load()), target)
        out = self._node("setitem", [current, value, *inputs], template, diff=(0, 1),
                         attrs={"basic": basic}, hint=name, rank=current.rank)
        self._bind(name, out)

    def _index_values(self, index: ast.expr):
        """The values an index reads, each lowered (an index carries no gradient), with the map
        from their expressions to placeholders, and whether the index is basic (integers and
        slices: no entry twice, and a view when read)."""
        replace, inputs, basic = {}, [], True
        for part, is_bound in _index_parts(index):
            if part is None:
                continue
            if isinstance(part, ast.Constant) and (part.value is None or part.value is Ellipsis or
                                                   isinstance(part.value, int)):
                continue
            if isinstance(part, ast.UnaryOp) and isinstance(part.operand, ast.Constant):
                continue
            if isinstance(part, ast.Attribute) and part.attr == "newaxis" and isinstance(part.value, ast.Name) \
                    and self.scope.kind(part.value.id) == "numpy" and part.value.id not in self.env:
                continue  # np.newaxis is None
            if not is_bound:
                basic = False  # an integer array or mask, or an int we cannot see
            value = self._lower(part)
            replace[id(part)] = value.ref()
            inputs.append(value)
        return replace, inputs, basic

    def _unpack_value(self, target, value: Value):
        self._unpack(target, None, (value.ref(), [value]))

    def _unpack(self, target, value_expr, lowered=None):
        template, inputs = lowered or self._passive_template(value_expr)
        outs = [self._new(t.id, "node", user=True) for t in target.elts]
        node = Node("unpack", inputs, template, outs[0], self.stmt, extra_outs=outs[1:])
        known = static_value(template, self.values)
        if isinstance(known, tuple) and len(known) == len(outs):  # n, d = X.shape
            for out, item in zip(outs, known):
                if isinstance(item, shapes.Dim):
                    out.known, out.rank, out.shape, out.dtype = item, 0, (), "int"
        self.stmt.nodes.append(node)
        for t, out in zip(target.elts, outs):
            out.producer = node
            self.env[t.id] = out

    def _bind(self, name: str, value: Value):
        if value.kind == "node" and not value.user:
            value.hint = name
            # a called function's locals name its values, but give way to the caller's names
            value.user = not self.inlining
        self.env[name] = value

    def _return(self, stmt: ast.Return):
        self._begin(stmt)
        if stmt.value is None:
            raise self.ctx.error(stmt, "'return' needs the value to differentiate")
        if isinstance(stmt.value, (ast.Tuple, ast.List)):
            raise self.ctx.error(stmt.value, "returning several values is not supported",
                                 hint="return the single scalar (or array) to differentiate")
        value = self._lower(stmt.value)
        name = stmt.value.id if isinstance(stmt.value, ast.Name) else "out"
        return value, name

    # -- values and nodes ----------------------------------------------------

    def _new(self, hint, kind, *, user=False, literal=None, rank=None, active=False) -> Value:
        value = Value(len(self.values), hint, kind, user=user, literal=literal, rank=rank, active=active)
        self.values.append(value)
        return value

    def _node(self, op, inputs, template, *, diff=(), attrs=None, hint=None, rank=None) -> Value:
        active = any(inputs[i].active for i in diff)
        out = self._new(hint or op, "node", rank=rank, active=active)
        node = Node(op, list(inputs), template, out, self.stmt, tuple(diff), dict(attrs or {}))
        out.producer = node
        self.stmt.nodes.append(node)
        try:
            out.shape = infer_shape(node, self.values)
        except ShapeMismatch as err:
            shown = ", ".join(f"{v.hint} {shapes.show(v.shape)}" for v in inputs if v.shape is not None)
            raise self.ctx.error(template, f"shape mismatch: {err}" + (f" ({shown})" if shown else ""),
                                 hint="check the annotations and the operation: named dimensions "
                                 "must agree, as when checking work by dimensions") from None
        if out.shape is not None:
            out.rank = len(out.shape)
        if op not in ("nondiff", "getitem", "reshape", "transpose", "copy", "concatenate", "stack", "setitem") \
                and any(v.dtype == "float" for v in inputs) or op in api.UNARY_OPS or op in _FLOAT_RESULTS:
            out.dtype = "float"  # arithmetic with a float gives a float
        elif op != "nondiff" and inputs and all(v.dtype == "float" for v in inputs[:1]):
            out.dtype = "float"  # moving entries around keeps the dtype
        if op == "nondiff":
            out.known = static_value(template, self.values)
            out.dtype = node.attrs.get("dtype")
            if isinstance(out.known, shapes.Dim) or out.known == -1:
                out.rank, out.shape, out.dtype = 0, (), "int"
        return out

    # -- names ---------------------------------------------------------------

    def _local(self, node: ast.Name) -> Value | None:
        """The SSA value a local or parameter name holds here; None for globals."""
        if node.id in self.env:
            return self.env[node.id]
        if node.id in self.locals:
            raise self.ctx.error(node, f"'{node.id}' is used before it is assigned")
        return None

    def _global_name(self, node: ast.Name) -> str:
        """Check a module-level or builtin name and record that the generated code needs it."""
        name = node.id
        kind = self.scope.kind(name)
        if kind is None and name not in self.runtime_names:
            raise self.ctx.error(node, f"name '{name}' is not defined",
                                 hint="define it at module level or pass it in as an argument")
        if kind != "builtin":
            self.module_names.setdefault(name, node)
        return name

    def _mentions_active(self, expr: ast.AST) -> bool:
        """Whether ``expr`` reads a differentiable value; memoised per statement, bottom-up,
        so deeply nested expressions stay linear."""
        cache = self._active_cache
        if id(expr) in cache:
            return cache[id(expr)]
        stack, order = [expr], []
        while stack:  # iterative post-order: no recursion limit on deep expressions
            node = stack.pop()
            if id(node) in cache:
                continue
            order.append(node)
            stack.extend(c for c in ast.iter_child_nodes(node) if id(c) not in cache)
        for node in reversed(order):
            if isinstance(node, ast.Name):
                value = self.env.get(node.id)
                cache[id(node)] = value is not None and value.active
            else:
                cache[id(node)] = any(cache[id(c)] for c in ast.iter_child_nodes(node))
        return cache[id(expr)]

    # -- lowering ------------------------------------------------------------

    def _lower(self, expr: ast.expr) -> Value:
        taken = self._static_condition(expr.test) if isinstance(expr, ast.IfExp) else None
        if taken is not None:
            return self._lower(expr.body if taken else expr.orelse)
        if type(expr) in _UNSUPPORTED_EXPRESSIONS:
            message, hint = _UNSUPPORTED_EXPRESSIONS[type(expr)]
            raise self.ctx.error(expr, message, hint=hint, construct=type(expr).__name__)
        if isinstance(expr, ast.Name):
            local = self._local(expr)
            if local is not None:
                return local
        if not self._mentions_active(expr) and not self._calls_module_function(expr):
            return self._passive(expr)
        method = getattr(self, f"_lower_{type(expr).__name__}", None)
        if method is None and not self._needs_gradient(expr):
            return self._passive(expr)  # (n, x.shape[1]): reads x for its shape only
        if method is None:
            hint = "join differentiable arrays with np.stack([a, b]) or np.concatenate([a, b])" \
                if isinstance(expr, (ast.List, ast.Tuple)) else None
            raise self.ctx.error(expr, f"'{self.ctx.segment(expr)}' is not supported on "
                                 "differentiable values", hint=hint, construct=type(expr).__name__)
        return method(expr)

    def _needs_gradient(self, expr: ast.expr) -> bool:
        """Whether a gradient could flow through ``expr``: it reads a differentiable value other
        than for its .shape, .ndim, .size or .dtype (x.shape[-1] needs none)."""
        if isinstance(expr, ast.Attribute) and expr.attr in _PASSIVE_ATTRIBUTES:
            return False
        if isinstance(expr, ast.Name):
            value = self.env.get(expr.id)
            return value is not None and value.active
        return any(self._needs_gradient(child) for child in ast.iter_child_nodes(expr))

    def _calls_module_function(self, expr: ast.expr) -> bool:
        """Whether ``expr`` calls a function of this module, which must be written out even
        where no gradient flows (the generated module cannot call it)."""
        return any(self._module_function(sub) is not None for sub in ast.walk(expr))

    def _passive(self, expr: ast.expr) -> Value:
        """A value no gradient flows through: kept as the user wrote it."""
        if isinstance(expr, ast.Constant):
            number = isinstance(expr.value, (int, float)) and not isinstance(expr.value, bool)
            value = self._new(_const_hint(expr), "const", literal=expr, rank=0 if number else None)
            if number:
                value.shape, value.known = (), _known_number(expr.value)
                value.dtype = "int" if isinstance(expr.value, int) else "float"
            return value
        if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub) and \
                isinstance(expr.operand, ast.Constant) and isinstance(expr.operand.value, (int, float)):
            value = self._new("const", "const", literal=expr, rank=0)
            value.shape, value.known = (), _known_number(-expr.operand.value)
            return value
        if isinstance(expr, ast.Name):
            self._global_name(expr)
            if self.scope.kind(expr.id) == "numpy":
                raise self.ctx.error(expr, f"'{expr.id}' is the numpy module, not a value")
            value = self._new(expr.id, "global", literal=expr)
            number = _module_number(self.scope, expr.id)
            if number is not None:  # EPS = 1e-5: a scalar, so shapes flow through x + EPS
                value.rank, value.shape = 0, ()
                value.dtype = "float" if isinstance(number, float) else "int"
                value.python_scalar = True
            return value
        template, inputs = self._passive_template(expr)
        fname = self._numpy_function(expr) if isinstance(expr, ast.Call) else None
        return self._node("nondiff", inputs, template, hint=_hint_of(expr), rank=_passive_rank(expr),
                          attrs={"dtype": _constructed_dtype(expr, fname)} if fname else None)

    def _passive_template(self, expr: ast.expr):
        self._check_passive(expr)
        replace, inputs = {}, []
        for sub in ast.walk(expr):
            if isinstance(sub, ast.Name):
                local = self._local(sub)
                if local is not None:
                    replace[id(sub)] = local.ref()
                    inputs.append(local)
                else:
                    self._global_name(sub)
        return _rebuild(expr, replace), inputs

    def _check_passive(self, expr: ast.expr):
        for sub in ast.walk(expr):
            if type(sub) in _UNSUPPORTED_EXPRESSIONS:
                message, hint = _UNSUPPORTED_EXPRESSIONS[type(sub)]
                raise self.ctx.error(sub, message, hint=hint, construct=type(sub).__name__)
            if isinstance(sub, ast.Call):
                self._check_passive_call(sub)

    def _check_passive_call(self, call: ast.Call):
        path = _dotted(call.func)
        if path is None:
            return  # a method call on a value: x.shape.index(...), mask.astype(float)
        root = path[0]
        if root in self.env or root in self.locals:
            return
        kind = self.scope.kind(root)
        if kind == "numpy" and len(path) > 1 and path[1] == "random":
            raise self.ctx.error(call, "random numbers inside a derived function are not supported",
                                 hint="the backward recomputes the forward and would draw different "
                                 "numbers; draw them outside and pass them in as an argument")
        if kind == "builtin" and root not in _SAFE_BUILTINS:
            raise self.ctx.error(call, f"'{root}(...)' is not supported in a derived function",
                                 hint="compute it outside and pass the result in")
        if kind in ("function", "class") or (kind is None and root in self.runtime_names):
            raise self.ctx.error(call, f"call to '{root}', a function gradgen cannot see into",
                                 hint=f"compute '{root}(...)' outside and pass it in, or register "
                                 "a rule for it")

    # expressions on differentiable values

    def _lower_BinOp(self, expr: ast.BinOp) -> Value:
        op = api.OPERATORS.get(type(expr.op).__name__)
        if op is None:
            a, b = self._lower(expr.left), self._lower(expr.right)
            if not (a.active or b.active):  # mask & mask, n // 2: no gradient involved
                template = _rebuild(expr, {id(expr.left): a.ref(), id(expr.right): b.ref()})
                return self._node("nondiff", [a, b], template, hint="mask",
                                  attrs={"elementwise": True})
            sym = _OP_SYMBOL.get(type(expr.op).__name__, type(expr.op).__name__)
            raise self.ctx.error(expr, f"operator '{sym}' is not differentiable",
                                 hint="apply it only to values that need no gradient (integers, "
                                 "indices), or rewrite with differentiable operations",
                                 construct=sym)
        a, b = self._lower(expr.left), self._lower(expr.right)
        template = _rebuild(expr, {id(expr.left): a.ref(), id(expr.right): b.ref()})
        return self._binary(op, a, b, template, expr)

    def _binary(self, op, a, b, template, expr):
        attrs, diff = {}, (0, 1)
        if op == "pow" and b.kind == "const" and b.rank == 0:
            attrs["exponent"] = ast.literal_eval(b.literal)
            if attrs["exponent"] == 0:
                diff = ()  # x ** 0 is constant
        if op in ("matmul", "dot"):
            rank = 0 if a.rank == 1 and b.rank == 1 else None
        elif op == "inner":  # the last axes contract; a scalar multiplies
            rank = None if a.rank is None or b.rank is None else \
                max(a.rank, b.rank) if 0 in (a.rank, b.rank) else a.rank + b.rank - 2
        elif op == "vdot":
            rank = 0
        elif op == "outer":
            rank = 2
        else:
            rank = max(a.rank, b.rank) if a.rank is not None and b.rank is not None else None
        return self._node(op, [a, b], template, diff=diff, attrs=attrs, hint=_hint_of(expr, op),
                          rank=rank)

    def _lower_UnaryOp(self, expr: ast.UnaryOp) -> Value:
        a = self._lower(expr.operand)
        if isinstance(expr.op, ast.UAdd):
            return a
        template = _rebuild(expr, {id(expr.operand): a.ref()})
        if isinstance(expr.op, ast.USub):
            return self._node("neg", [a], template, diff=(0,), hint=_hint_of(expr, "neg"), rank=a.rank)
        return self._node("nondiff", [a], template, hint="mask")

    def _lower_Compare(self, expr: ast.Compare) -> Value:
        parts = [expr.left, *expr.comparators]
        values = [self._lower(p) for p in parts]
        template = _rebuild(expr, {id(p): v.ref() for p, v in zip(parts, values)})
        return self._node("nondiff", values, template, hint="mask", attrs={"dtype": "bool",
                                                                          "elementwise": True})

    def _lower_BoolOp(self, expr: ast.BoolOp) -> Value:
        values = [self._lower(v) for v in expr.values]
        template = _rebuild(expr, {id(p): v.ref() for p, v in zip(expr.values, values)})
        return self._node("nondiff", values, template, hint="mask")

    def _lower_Attribute(self, expr: ast.Attribute) -> Value:
        base = self._lower(expr.value)
        template = _rebuild(expr, {id(expr.value): base.ref()})
        if expr.attr == "T":
            return self._node("transpose", [base], template, diff=(0,), attrs={"axes": None},
                              hint=_hint_of(expr, "transpose"), rank=base.rank)
        if expr.attr in _PASSIVE_ATTRIBUTES:
            return self._node("nondiff", [base], template, hint=expr.attr, rank=_passive_rank(expr))
        raise self.ctx.error(expr, f"attribute '.{expr.attr}' of a differentiable array is not supported",
                             hint="supported: .T, .shape, .ndim, .size, .dtype")

    def _lower_Subscript(self, expr: ast.Subscript) -> Value:
        fname = self._numpy_function(expr.value) if isinstance(expr.value, ast.Call) else None
        if fname in api.MULTI_OUTPUT:  # np.linalg.slogdet(a)[1]: one of the results
            index = expr.slice
            position = _literal_or_none(index)
            if type(position) is not int:
                raise self.ctx.error(index, f"pick a result of np.{fname} with a literal integer",
                                     hint=f"or unpack them into names, as in {api.MULTI_OUTPUT_EXAMPLES[fname]}")
            outs = self._multi_output_call(expr.value, fname, None, expr.value)
            if not -len(outs) <= position < len(outs):
                raise self.ctx.error(index, f"np.{fname} returns {len(outs)} results here, "
                                     f"so [{position}] is out of range")
            return outs[position]
        base = self._lower(expr.value)
        replace, inputs, basic = self._index_values(expr.slice)
        replace[id(expr.value)] = base.ref()
        inputs.insert(0, base)
        template = _rebuild(expr, replace)
        if not base.active:
            return self._node("nondiff", inputs, template, hint=_hint_of(expr), rank=_passive_rank(expr))
        return self._node("getitem", inputs, template, diff=(0,), attrs={"basic": basic},
                          hint=_hint_of(expr, "getitem"))

    def _lower_Call(self, expr: ast.Call) -> Value:
        path = _dotted(expr.func)
        # a parameter of the module's own functions (or of a rule) may be called out; NumPy's out= is in place
        own = self._module_function(expr) is not None or (path is not None and len(path) == 1
                                                          and path[0] in self.rules and path[0] not in self.env)
        for kw in expr.keywords:
            if kw.arg is None:
                raise self.ctx.error(kw.value, "'**' arguments are not supported",
                                     hint="pass the arguments by name")
            if kw.arg == "out" and not own:
                raise self.ctx.error(kw, "'out=' writes into an array in place, which gradgen does "
                                     "not follow", hint="drop out= and assign the result (h = np.exp(x)), "
                                     "or update a name: h += b", construct="in-place assignment")
        for arg in expr.args:
            if isinstance(arg, ast.Starred):
                raise self.ctx.error(arg, "'*' arguments are not supported", hint="pass the arguments one by one")
        func = expr.func
        if path is not None and len(path) == 1 and path[0] in self.rules and path[0] not in self.env \
                and path[0] not in self.locals:
            return self._user_call(expr, self.rules[path[0]])
        special = self._special_name(path, expr)
        if special is not None:
            self._global_name(ast.copy_location(ast.Name(id=path[0], ctx=ast.Load()), func))
            return self._special_call(expr, special)
        fname = self._numpy_function(expr)
        if fname is not None:
            if fname in api.MULTI_OUTPUT:
                raise self.ctx.error(expr, f"np.{fname} returns {api.MULTI_OUTPUT[fname]}",
                                     hint=f"unpack them into names, as in {api.MULTI_OUTPUT_EXAMPLES[fname]}")
            return self._numpy_call(expr, fname)
        if path is not None and path[0] not in self.env and path[0] not in self.locals:
            kind = self.scope.kind(path[0])
            if kind == "builtin":
                return self._builtin_call(expr, path[0])
            if kind == "function" and len(path) == 1:
                return self._inline(expr, self.scope.bindings[path[0]])[0]
            shown = ".".join(path)
            if kind == "numpy":
                raise self.ctx.error(expr, f"np.{'.'.join(path[1:])} is not supported by gradgen yet",
                                     hint="compute it outside the derived function and pass it in")
            if kind is None and path[0] not in self.runtime_names:
                self._global_name(ast.copy_location(ast.Name(id=path[0], ctx=ast.Load()), func))
            if kind == "constant" and len(path) > 1:
                stmt = self.scope.bindings[path[0]]
                raise self.ctx.error(expr, f"call to '{shown}': '{path[0]}' is rebound at line "
                                     f"{stmt.lineno}, so it is not numpy here",
                                     hint=f"do not rebind '{path[0]}' at module level")
            if kind == "import" and len(path) > 1:
                stmt = self.scope.bindings[path[0]]
                origin = _import_origin(stmt, path[0])
                raise self.ctx.error(expr, f"call to '{shown}': '{path[0]}' is {origin} (imported at "
                                     f"line {stmt.lineno}), not numpy",
                                     hint="gradgen differentiates NumPy code: import numpy as np, or "
                                     "compute this outside the derived function and pass it in")
            raise self.ctx.error(expr, f"call to '{shown}', a function gradgen cannot see into",
                                 hint=f"register its adjoint: @gradgen.rule({shown}) on "
                                 f"def _(<its parameters>, out, dout): return <adjoint of each "
                                 "parameter>; or compute it outside and pass the result in")
        if isinstance(func, ast.Attribute):
            return self._method_call(expr, func)
        raise self.ctx.error(expr, f"calling '{self.ctx.segment(func)}' is not supported")

    def _module_function(self, expr: ast.expr):
        """The definition of the same-module function ``expr`` calls (``cell(x, h)``), else None."""
        if not isinstance(expr, ast.Call) or not isinstance(expr.func, ast.Name):
            return None
        name = expr.func.id
        if name in self.env or name in self.locals or name in self.rules or self.scope.kind(name) != "function":
            return None
        return self.scope.bindings[name]

    def _inline(self, call: ast.Call, fn, count: int | None = None) -> list[Value]:
        """A call to a function defined in the same module: its body is lowered in place, with
        its parameters bound to the call's values, so the generated code has it written out.
        Its results: one, or ``count`` when the call is unpacked into that many names."""
        name = self.ctx.segment(call.func)
        if not isinstance(fn, ast.FunctionDef) or any(not _is_derive(d) for d in fn.decorator_list):
            why = "decorated" if isinstance(fn, ast.FunctionDef) else "async"
            raise self.ctx.error(call, f"call to '{name}', a function gradgen cannot see into ({why}, line "
                                 f"{fn.lineno})", hint=f"register its adjoint: @gradgen.rule({name}); or compute "
                                 "it outside and pass the result in")
        if name in self.inlining:
            raise self.ctx.error(call, f"'{name}' calls itself (through {' -> '.join(self.inlining + [name])})",
                                 hint="gradgen writes called functions out in place, so recursion cannot be "
                                 "differentiated; unroll it")
        args = fn.args
        if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs:
            raise self.ctx.error(call, f"'{name}' (line {fn.lineno}) takes *args, **kwargs, keyword-only or "
                                 "positional-only parameters, which gradgen does not write out",
                                 hint="give it plain positional parameters")
        body = list(fn.body)
        if body and _is_docstring(body[0]):
            body = body[1:]
        returns = [s for s in body if isinstance(s, ast.Return)]
        if not body or not isinstance(body[-1], ast.Return) or len(returns) > 1 or body[-1].value is None:
            raise self.ctx.error(call, f"'{name}' (line {fn.lineno}) must end with one 'return' of a value "
                                 "for gradgen to write it out", hint="return once, as its last statement")
        returned = body[-1].value
        several = len(returned.elts) if isinstance(returned, (ast.Tuple, ast.List)) else None
        if several != count:
            if count is None:
                raise self.ctx.error(call, f"'{name}' returns {several} values", construct="call",
                                     hint=f"unpack them into names, as in a, b = {name}(...)")
            raise self.ctx.error(call, f"'{name}' returns {several or 'one value'}"
                                 f"{' values' if several else ''}, unpacked here into {count} names",
                                 construct="call")
        params = [a.arg for a in args.args]
        bound = self._bind_args(call, params, len(params) - len(args.defaults), f"'{name}'")
        values = {p: self._lower(bound[p]) for p in params if p in bound}
        saved = self.env, self.locals, self._active_cache
        self.outer_envs.append(self.env)
        self.env, self._active_cache = {}, {}
        self.inlining.append(name)
        self.callee_dims.append({})
        try:
            for p, default in zip(params[len(params) - len(args.defaults):], args.defaults):
                if p not in values:  # a default is worked out where the function was defined
                    values[p] = self._lower(default)
            for arg in args.args:
                note = shapes.parse_annotation(arg.annotation)
                if note is not None and note.shape is not None:
                    self._callee_annotation(arg, note.shape, values[arg.arg], f"'{name}' annotates '{arg.arg}'")
            body, rename = _renamed(fn, body, values)
            returned = body[-1].value
            self.env = {rename.get(p, p): v for p, v in values.items()}
            self.locals = {rename.get(n, n) for n in _assigned_names(fn)}
            for stmt in body[:-1]:
                self._statement(stmt)
            results = [self._lower(e) for e in returned.elts] if several else [self._lower(returned)]
            result = results[0]
            if not several and result.kind == "node" and not result.user and result.hint in _FALLBACK_HINTS.values():
                result.hint = _hint_of(call, result.producer.op)  # layer_norm_x, not total
        except GradgenError as err:  # located in the called function: say which call led there
            inside = err.lineno is not None and fn.lineno <= err.lineno <= fn.end_lineno
            if inside and "called at line" not in err.message:
                err.message += f" (in '{name}', called at line {call.lineno})"
                err.args = (err._render(),)
            raise
        finally:
            self.inlining.pop()
            self.callee_dims.pop()
            self.env, self.locals, self._active_cache = saved
            self.outer_envs.pop()
        return results

    def _callee_annotation(self, at: ast.AST, written: tuple, value: Value, what: str):
        """Check a value against a shape annotation in a called function. Its dimension names
        are its own: each is bound to the caller's dimension where it first appears, and must
        agree after that. A value of unknown shape learns what the annotation tells."""
        dims = self.callee_dims[-1]
        actual = value.shape
        expected = []
        for i, d in enumerate(written):
            name = d.factors[0] if d is not None and d.coef == 1 and len(d.factors) == 1 else None
            mine = dims.get(name) if name is not None else d if d is not None and not d.factors else None
            theirs = actual[i] if actual is not None and i < len(actual) else None
            if name is not None and name not in dims and theirs is not None:
                dims[name] = theirs
            expected.append(mine if mine is not None else theirs)
        if actual is not None and (len(actual) != len(written) or any(
                shapes._clash(a, b) for a, b in zip(actual, expected))):
            raise self.ctx.error(at, f"{what} {shapes.show(written)}, but the value there has shape "
                                 f"{shapes.show(actual)}", hint="fix the annotation or the call")
        if actual is None and value.kind == "node":
            value.shape, value.rank = tuple(expected), len(expected)

    def _numpy_function(self, call: ast.Call) -> str | None:
        """The NumPy function a call names ("exp", "linalg.solve"), however numpy was imported;
        None for anything else."""
        path = _dotted(call.func)
        if path is None or path[0] in self.env or path[0] in self.locals:
            return None
        kind = self.scope.kind(path[0])
        if kind == "numpy" and len(path) == 2:
            return path[1]
        if kind == "numpy" and len(path) == 3 and path[1] == "linalg":
            return f"linalg.{path[2]}"
        if kind == "import" and len(path) == 1 and path[0] in self.scope.numpy_names:
            self._global_name(call.func)
            return self.scope.numpy_names[path[0]]
        return None

    def _bind_args(self, call, params, required, name, positional=None):
        """Map a call's arguments to ``params`` by position and keyword, like Python would."""
        if len(call.args) > (len(params) if positional is None else positional):
            raise self.ctx.error(call, f"too many arguments to {name}")
        bound = dict(zip(params, call.args))
        for kw in call.keywords:
            if kw.arg not in params:
                raise self.ctx.error(kw, f"argument '{kw.arg}=' of {name} is not supported",
                                     hint=f"supported arguments: {', '.join(params)}")
            bound[kw.arg] = kw.value
        missing = [p for p in params[:required] if p not in bound]
        if missing:
            raise self.ctx.error(call, f"{name} is missing the argument '{missing[0]}'")
        return bound

    def _numpy_call(self, call: ast.Call, fname: str) -> Value:
        label = f"np.{fname}"
        if fname in api.UNARY:
            bound = self._bind_args(call, ["x"], 1, label)
            x = self._lower(bound["x"])
            template = _rebuild(call, {id(bound["x"]): x.ref()})
            op = api.UNARY[fname]
            return self._node(op, [x], template, diff=(0,), hint=_hint_of(call, op), rank=x.rank)
        if fname in api.BINARY:
            bound = self._bind_args(call, ["a", "b"], 2, label)
            a, b = self._lower(bound["a"]), self._lower(bound["b"])
            template = _rebuild(call, {id(bound["a"]): a.ref(), id(bound["b"]): b.ref()})
            return self._binary(api.BINARY[fname], a, b, template, call)
        if fname in api.REDUCTIONS:
            bound = self._bind_args(call, ["a", "axis", "keepdims"], 1, label)
            return self._reduction(call, api.REDUCTIONS[fname], bound)
        if fname == "where":
            bound = self._bind_args(call, ["condition", "x", "y"], 3, label)
            c, x, y = (self._lower(bound[k]) for k in ("condition", "x", "y"))
            template = _rebuild(call, {id(bound[k]): v.ref() for k, v in
                                       (("condition", c), ("x", x), ("y", y))})
            return self._node("where", [c, x, y], template, diff=(1, 2), hint=_hint_of(call, "where"))
        if fname == "transpose":
            bound = self._bind_args(call, ["a", "axes"], 1, label)
            return self._transpose(call, bound["a"], bound.get("axes"))
        if fname == "reshape":
            params = ["a", "shape", "order"] if any(k.arg == "shape" for k in call.keywords) \
                else ["a", "newshape", "order"]
            bound = self._bind_args(call, params, 2, label)
            if "order" in bound:
                raise self.ctx.error(bound["order"], "reshape with order= is not supported")
            return self._reshape(call, bound["a"], [bound[params[1]]])
        if fname in ("concatenate", "stack"):
            bound = self._bind_args(call, ["arrays", "axis"], 1, label)
            return self._join(call, fname, bound)
        if fname in api.STACKS:
            bound = self._bind_args(call, ["tup"], 1, label)
            return self._join(call, fname, {"arrays": bound["tup"]})
        if fname in api.FLIPS:
            bound = self._bind_args(call, ["m"], 1, label)
            m = self._lower(bound["m"])
            return self._node("flip", [m], _rebuild(call, {id(bound["m"]): m.ref()}), diff=(0,),
                              attrs={"axis": api.FLIPS[fname], "roles": {"m": 0}}, hint=_hint_of(call, "flip"))
        if fname in api.CONVERSIONS:
            return self._conversion(call, fname)
        if fname == "average":
            bound = self._bind_args(call, ["a", "axis", "weights", "returned", "keepdims"], 1, label)
            for name in ("weights", "returned"):
                if name in bound:
                    raise self.ctx.error(bound[name], f"np.average with {name}= is not supported",
                                         hint="write np.sum(a * w, axis) / np.sum(w, axis)")
            return self._reduction(call, "mean", bound)
        if fname in api.CONSTANT_FILLS:
            params, constant, instead = api.CONSTANT_FILLS[fname]
            bound = self._bind_args(call, params, 2, label)
            for name in constant:
                if self._needs_gradient(bound[name]):
                    raise self.ctx.error(bound[name], f"a differentiable '{name}' of {label} is not supported",
                                         hint=instead)
            return self._no_gradient_call(call, fname)
        if fname == "einsum":
            return self._einsum(call)
        if fname in ("convolve", "correlate"):
            bound = self._bind_args(call, ["a", "v", "mode"], 2, label)
            mode = self._literal(bound.get("mode"), "mode", lambda m: m in ("full", "same", "valid"))
            a, v = self._lower(bound["a"]), self._lower(bound["v"])
            template = _rebuild(call, {id(bound["a"]): a.ref(), id(bound["v"]): v.ref()})
            default = "full" if fname == "convolve" else "valid"
            return self._node(fname, [a, v], template, diff=(0, 1), attrs={"mode": mode or default},
                              hint=_hint_of(call, fname), rank=1)
        if fname == "linalg.svd":  # the singular values alone: compute_uv=False
            bound = self._bind_args(call, ["a", "full_matrices", "compute_uv", "hermitian"], 1, label)
            if self._literal(bound.get("compute_uv"), "compute_uv", lambda v: isinstance(v, bool)) is not False:
                raise self.ctx.error(call, "np.linalg.svd with its singular vectors is not supported",
                                     hint="for the singular values write np.linalg.svd(a, compute_uv=False) "
                                     "or np.linalg.svdvals(a)")
            a = self._lower(bound["a"])
            return self._node("svdvals", [a], _rebuild(call, {id(bound["a"]): a.ref()}), diff=(0,),
                              attrs={"roles": {"x": 0}}, hint=_hint_of(call, "svdvals"))
        if fname in api.ARRAY_FUNCS:
            return self._array_call(call, fname, api.ARRAY_FUNCS[fname])
        if fname in api.NONDIFF:
            return self._no_gradient_call(call, fname)
        passive = self._lower_arguments_if_passive(call)
        if passive is not None:  # np.ones(x.shape), np.arange(len(x)): no gradient flows
            if fname == "random" or fname.startswith("random."):
                self._check_passive_call(call)
            template, inputs = passive
            out = self._node("nondiff", inputs, template, hint=fname, attrs={"dtype": _constructed_dtype(call, fname)})
            if fname in _CONSTRUCTORS and template.args and out.shape is None:
                made = static_value(template.args[0], self.values)  # np.zeros((n, H)): (N, H)
                made = (made,) if isinstance(made, shapes.Dim) else made
                if isinstance(made, tuple) and all(isinstance(d, shapes.Dim) for d in made):
                    out.shape, out.rank = made, len(made)
            return out
        raise self.ctx.error(call, f"np.{fname} is not supported by gradgen yet",
                             hint="write it with supported operations, or compute it outside the "
                             "derived function and pass it in")

    def _special_name(self, path, call) -> str | None:
        """The scipy.special function a call names (``expit``, ``sp.expit``, ``special.expit``)."""
        if path is None or path[0] in self.env or path[0] in self.locals:
            return None
        if len(path) == 1 and path[0] in self.scope.special_names:
            name = self.scope.special_names[path[0]]
        elif len(path) == 2 and path[0] in self.scope.special_aliases:
            name = path[1]
        elif len(path) == 3 and path[:2] == ["scipy", "special"] and self.scope.kind("scipy") == "import":
            name = path[2]  # import scipy.special; scipy.special.expit(x)
        else:
            return None
        if name not in api.SPECIAL:
            raise self.ctx.error(call, f"scipy.special.{name} is not supported by gradgen yet",
                                 hint="register a rule for it with @gradgen.rule")
        return name

    def _special_call(self, call, name) -> Value:
        op = api.SPECIAL[name]
        label = f"scipy.special.{name}"
        if name in api.SPECIAL_UNARY:
            bound = self._bind_args(call, ["x"], 1, label)
            x = self._lower(bound["x"])
            return self._node(op, [x], _rebuild(call, {id(bound["x"]): x.ref()}), diff=(0,),
                              hint=f"{name}_{_describe(bound['x'])}" if _describe(bound["x"]) else name,
                              rank=x.rank)
        params = ["a", "axis", "keepdims"] if name == "logsumexp" else ["x", "axis"]
        bound = self._bind_args(call, params, 1, label)
        first = params[0]
        x = self._lower(bound[first])
        axis = self._literal(bound.get("axis"), "axis", _is_axis)
        keepdims = bool(self._literal(bound.get("keepdims"), "keepdims", lambda v: isinstance(v, bool)))
        return self._node(op, [x], _rebuild(call, {id(bound[first]): x.ref()}), diff=(0,),
                          attrs={"axis": axis, "keepdims": keepdims}, hint=name,
                          rank=0 if op == "logsumexp" and axis is None and not keepdims else None)

    def _user_call(self, call, rule) -> Value:
        """A call to a function with a registered rule (gradgen.rule): one node, its adjoint."""
        bound = self._bind_args(call, rule.params, len(rule.params), f"{rule.name}()")
        values = [self._lower(bound[p]) for p in rule.params]
        template = _rebuild(call, {id(bound[p]): v.ref() for p, v in zip(rule.params, values)})
        self._global_name(call.func)
        for expr in rule.adjoints:  # what the adjoint reads besides its own names
            for sub in ast.walk(expr) if expr is not None else ():
                if isinstance(sub, ast.Name) and sub.id not in rule.names and \
                        (self.scope.kind(sub.id) is not None or sub.id in self.runtime_names):
                    self._global_name(sub)
        self.rules_used[rule.name] = rule
        diff = tuple(i for i, adj in enumerate(rule.adjoints) if adj is not None or rule.template)
        return self._node("user", values, template, diff=diff, attrs={"rule": rule},
                          hint=f"{rule.name}_{_describe(call.args[0]) or 'out'}" if call.args else rule.name)

    def _no_gradient_call(self, call: ast.Call, hint: str) -> Value:
        """A call whose result carries no gradient (np.sign(x), np.full_like(x, 2.0)): kept as
        written, its arguments lowered first where they call the module's own functions (which
        the generated module cannot call)."""
        template, inputs = self._lowered_arguments(call) if self._calls_module_function(call) \
            else self._passive_template(call)
        return self._node("nondiff", inputs, template, hint=hint, attrs={"dtype": _constructed_dtype(call, hint)})

    def _lowered_arguments(self, call):
        """(the call with each argument replaced by its lowered value, those values)."""
        parts = list(call.args) + [kw.value for kw in call.keywords]
        values = [self._lower(p) for p in parts]
        return _rebuild(call, {id(p): v.ref() for p, v in zip(parts, values)}), values

    def _lower_arguments_if_passive(self, call):
        """(template, inputs) when every argument lowers to a value with no gradient, else None."""
        template, values = self._lowered_arguments(call)
        return None if any(v.active for v in values) else (template, values)

    def _builtin_call(self, call, name):
        if name == "len":
            template, inputs = self._passive_template(call)
            return self._node("nondiff", inputs, template, hint="n")
        if name == "abs" and len(call.args) == 1 and not call.keywords:
            x = self._lower(call.args[0])
            template = _rebuild(call, {id(call.args[0]): x.ref()})
            return self._node("abs", [x], template, diff=(0,), hint=_hint_of(call, "abs"), rank=x.rank)
        alternative = {"sum": "np.sum", "max": "np.max or np.maximum", "min": "np.min or np.minimum",
                       "pow": "the ** operator", "float": "the array itself", "round": "np.round"}
        raise self.ctx.error(call, f"the builtin '{name}(...)' on a differentiable value is not supported",
                             hint=f"use {alternative[name]}" if name in alternative
                             else "use the NumPy equivalent")

    def _method_call(self, call: ast.Call, func: ast.Attribute) -> Value:
        method = func.attr
        label = f".{method}()"
        if method in api.METHOD_REDUCTIONS:
            bound = self._bind_args(call, ["axis", "keepdims"], 0, label, positional=1)
            bound["a"] = func.value
            return self._reduction(call, api.METHOD_REDUCTIONS[method], bound, receiver=True)
        if method == "reshape":
            if any(kw.arg == "order" for kw in call.keywords) or (call.keywords and
                                                                    call.keywords[0].arg != "shape"):
                raise self.ctx.error(call, ".reshape() with keyword arguments is not supported",
                                     hint="pass the shape positionally: x.reshape(n, -1)")
            return self._reshape(call, func.value, list(call.args) + [k.value for k in call.keywords])
        if method == "transpose":
            if call.keywords:
                raise self.ctx.error(call, ".transpose() with keyword arguments is not supported")
            axes = None
            if len(call.args) == 1:
                axes = call.args[0]
            elif len(call.args) > 1:
                axes = ast.Tuple(elts=list(call.args), ctx=ast.Load())
            return self._transpose(call, func.value, axes, receiver=True)
        if method == "dot":
            bound = self._bind_args(call, ["b"], 1, label)
            a, b = self._lower(func.value), self._lower(bound["b"])
            template = _rebuild(call, {id(func.value): a.ref(), id(bound["b"]): b.ref()})
            return self._binary("dot", a, b, template, call)
        if method in api.ARRAY_METHODS:
            return self._array_call(call, api.ARRAY_METHODS[method],
                                    api.ARRAY_FUNCS[api.ARRAY_METHODS[method]], receiver=func.value)
        if method == "astype":
            return self._astype(call, func.value)
        if method == "copy" and not call.args and not call.keywords:
            x = self._lower(func.value)
            return self._node("copy", [x], _rebuild(call, {id(func.value): x.ref()}), diff=(0,),
                              hint=f"{_describe(func.value) or 'value'}_copy", rank=x.rank)
        receiver = self._lower(func.value)
        if method in api.METHOD_NONDIFF or not receiver.active:
            template, inputs = self._passive_template_with(call, {id(func.value): receiver})
            return self._node("nondiff", inputs, template, hint=method)
        raise self.ctx.error(call, f"the array method '.{method}()' is not supported by gradgen yet",
                             hint="write it with supported NumPy functions")

    def _passive_template_with(self, expr, known: dict):
        """Like _passive_template, with some subexpressions already lowered."""
        replace, inputs = {}, []
        for key, value in known.items():
            replace[key] = value.ref()
            inputs.append(value)
        skip = set()
        for key in known:
            for sub in ast.walk(next(n for n in ast.walk(expr) if id(n) == key)):
                skip.add(id(sub))
        for sub in ast.walk(expr):
            if id(sub) in skip:
                continue
            if type(sub) in _UNSUPPORTED_EXPRESSIONS:
                self._check_passive(sub)
            if isinstance(sub, ast.Name):
                local = self._local(sub)
                if local is not None:
                    if local.active:
                        raise self.ctx.error(sub, "this argument must not be differentiable")
                    replace[id(sub)] = local.ref()
                    inputs.append(local)
                else:
                    self._global_name(sub)
        return _rebuild(expr, replace), inputs

    def _array_call(self, call, fname, spec, receiver=None) -> Value:
        """A NumPy function from ARRAY_FUNCS (or its method form, ``receiver`` first)."""
        op, params, arrays, literals, constant, required = spec
        label = f"np.{fname}" if receiver is None else f".{fname}()"
        if receiver is None:
            bound = self._bind_args(call, params, required, label)
        else:
            bound = self._bind_args(call, params[1:], max(required - 1, 0), label)
            bound[params[0]] = receiver
        attrs, replace, inputs, roles = {}, {}, [], {}
        for name in params:
            if name in literals:
                checker = _is_axis if name in ("axis", "source", "destination") else (lambda v: True)
                attrs[name] = self._literal(bound.get(name), name, checker) if name in bound else None
                continue
            if name not in bound:
                continue
            value = self._lower(bound[name])
            if name in constant and value.active:
                raise self.ctx.error(bound[name], f"a differentiable '{name}' of {label} is not supported",
                                     hint="write the bound with np.maximum / np.minimum instead")
            replace[id(bound[name])] = value.ref()
            roles[name] = len(inputs)
            inputs.append(value)
        if op == "var" or op == "std":
            attrs["ddof"] = attrs.get("ddof") or 0
        if op in ("sort", "diff") and "axis" not in bound:
            attrs["axis"] = -1  # NumPy's default: the last axis (axis=None sorts the flattened array)
        if op == "diff":
            if "n" in bound and not (type(attrs["n"]) is int and attrs["n"] >= 0):
                raise self.ctx.error(bound["n"], "np.diff's n must be a whole number, 0 or more",
                                     hint="write n=1 or n=2")
            attrs["n"] = 1 if attrs["n"] is None else attrs["n"]
        if op in ("prod", "var", "std"):
            attrs["keepdims"] = bool(attrs.get("keepdims"))
        if op == "norm":
            attrs["form"] = self._check_norm(call, attrs, inputs[roles["x"]])
        if op == "tensordot" and not _is_tensordot_axes(attrs.get("axes")):
            raise self.ctx.error(bound["axes"], "np.tensordot axes must be an int or a pair of axis lists",
                                 hint="write axes=1, or axes=([1, 2], [0, 1])")
        attrs["roles"] = roles
        if op == "reshape":
            attrs["dims"] = None
        diff = tuple(roles[name] for name in arrays if name in roles)
        return self._node(op, inputs, _rebuild(call, replace), diff=diff, attrs=attrs,
                          hint=_hint_of(call, op))

    def _check_norm(self, call, attrs, x) -> str:
        """Which gradient np.linalg.norm(x, ord, axis) has, following NumPy's own choice of a
        vector or a matrix norm: "two" (x / out: the 2-norm, Frobenius), "one" (sign(x)),
        "inf" (the entries of largest or smallest |x|), "power" (a p-norm, p > 1), "matrix"."""
        ord_, axis = attrs.get("ord"), attrs.get("axis")
        shown = f"np.linalg.norm with ord={api.show_ord(ord_)}, axis={axis!r}"
        name = call.args[0].id if call.args and isinstance(call.args[0], ast.Name) else None
        numeric = isinstance(ord_, (int, float)) and not isinstance(ord_, bool) and ord_ == ord_
        if not (ord_ is None or numeric or ord_ in ("fro", "f", "nuc")):
            raise self.ctx.error(call, f"{shown}: NumPy has no such norm order",
                                 hint="ord is None, a number, np.inf, -np.inf, 'fro' or 'nuc'")
        if axis is None and ord_ is None:
            return "two"  # the 2-norm of x flattened, whatever its rank
        if isinstance(axis, tuple) and len(axis) not in (1, 2):
            raise self.ctx.error(call, f"{shown}: a norm is over one axis (a vector norm) or two "
                                 "(a matrix norm)")
        if isinstance(axis, tuple) and len(axis) == 2:
            matrix = True
            if x.rank is not None and len({a % x.rank for a in axis if -x.rank <= a < x.rank}) == 1:
                raise self.ctx.error(call, f"{shown}: the two axes of a matrix norm must differ")
        elif axis is not None:
            matrix = False
        elif x.rank in (1, 2):
            matrix = x.rank == 2
        elif x.rank is not None:
            raise self.ctx.error(call, f"{shown}: with axis=None NumPy takes this norm of a 1-D or "
                                 f"2-D x only, and {name or 'x'} has rank {x.rank}",
                                 hint="pass axis= (an int for a vector norm, a pair of axes for a matrix norm)")
        elif ord_ in ("fro", "f", "nuc"):
            matrix = True  # NumPy takes these of a 2-D x only
        elif numeric and ord_ not in (1, -1, 2, -2, float("inf"), float("-inf")):
            matrix = False  # NumPy has no matrix norm of this order: x must be a vector
        else:
            raise self.ctx.error(call, f"{shown}: whether this is a vector or a matrix norm depends on "
                                 f"the rank of {name or 'its argument'}, which gradgen cannot see here",
                                 hint=f"annotate the shape of {name or 'the parameters it is made from'} "
                                 f"(e.g. {name or 'x'}: \"f[M, N]\" for a matrix, \"f[N]\" for a vector), "
                                 "or pass axis=")
        if matrix:
            if ord_ in (None, "fro", "f"):
                return "two"
            if ord_ in ("nuc", 1, -1, 2, -2, float("inf"), float("-inf")):
                return "matrix"
            raise self.ctx.error(call, f"{shown}: NumPy has no matrix norm of this order",
                                 hint="matrix norms: ord=None, 'fro', 'nuc', 1, -1, 2, -2, np.inf, -np.inf")
        if isinstance(ord_, str):
            raise self.ctx.error(call, f"{shown}: ord={ord_!r} is a matrix norm, and this norm is of "
                                 "vectors", hint="pass axis as a pair of axes, e.g. axis=(-2, -1)")
        if ord_ is None or ord_ == 2:
            return "two"
        if ord_ == 1:
            return "one"
        if ord_ in (float("inf"), float("-inf")):
            return "inf"
        if ord_ == 0:
            raise self.ctx.error(call, f"{shown}: ord=0 counts the nonzero entries, a step function "
                                 "with no gradient", hint="use a smooth stand-in, or compute it outside "
                                 "the derived function")
        if ord_ < 1:
            raise self.ctx.error(call, f"{shown}: for ord < 1 the gradient, sign(x) * (|x| / norm) ** "
                                 "(ord - 1), is infinite where an entry of x is 0, so gradgen does not "
                                 "differentiate it", hint="use ord >= 1, np.inf or -np.inf")
        return "power"

    def _multi_output_call(self, call, fname, count, at) -> list[Value]:
        """np.split and its kin, np.linalg.slogdet: one node with several results.

        ``count`` is how many names the results are unpacked into (None when one result is
        picked by index, so the number must be readable from the call)."""
        label = f"np.{fname}"
        if fname in ("linalg.slogdet", "linalg.eigh"):
            bound = self._bind_args(call, ["a"], 1, label)
            a = self._lower(bound["a"])
            if count not in (None, 2):
                names = "(eigenvalues, eigenvectors)" if fname == "linalg.eigh" else "(sign, logabsdet)"
                raise self.ctx.error(at, f"{label} returns 2 results {names}, unpacked here into {count} names")
            template = _rebuild(call, {id(bound["a"]): a.ref()})
            if fname == "linalg.eigh":
                outs = self._node_with_outs("eigh", [a], template, ["eigenvalues", "eigenvectors"],
                                            active=[a.active, a.active], attrs={"roles": {"a": 0}})
                shapes_ = None if a.shape is None else (a.shape[:-1], a.shape)
            else:
                outs = self._node_with_outs("slogdet", [a], template, ["sign", "logabsdet"],
                                            active=[False, True], attrs={"roles": {"a": 0}})
                shapes_ = None if a.shape is None else (a.shape[:-2], a.shape[:-2])  # one per matrix
            if shapes_ is not None:
                for out, shape in zip(outs, shapes_):
                    out.shape, out.rank = shape, len(shape)
            return outs
        params = ["ary", "indices_or_sections"] + (["axis"] if fname in ("split", "array_split") else [])
        bound = self._bind_args(call, params, 2, label)
        x = self._lower(bound["ary"])
        sections = self._lower(bound["indices_or_sections"])  # where to cut: no gradient
        axis = self._literal(bound.get("axis"), "axis", lambda v: type(v) is int)
        written = _literal_or_none(bound["indices_or_sections"])
        parts = written if type(written) is int else len(written) + 1 \
            if isinstance(written, (list, tuple)) and all(type(i) is int for i in written) else None
        if count is None and parts is None:
            raise self.ctx.error(bound["indices_or_sections"], f"how many arrays {label} returns must be "
                                 "readable here", hint=f"unpack them into names, as in {api.MULTI_OUTPUT_EXAMPLES[fname]}")
        if count is not None and parts is not None and count != parts:
            raise self.ctx.error(at, f"{label} returns {parts} arrays here, unpacked into {count} names")
        hint = _describe(bound["ary"]) or "part"
        names = [f"{hint}_{i}" for i in range(count or parts)]
        template = _rebuild(call, {id(bound["ary"]): x.ref(), id(bound["indices_or_sections"]): sections.ref()})
        outs = self._node_with_outs("split", [x, sections], template, names, active=[x.active] * len(names),
                                    attrs={"kind": fname, "axis": axis or 0})
        if x.shape is not None:
            along = (axis or 0) if fname in ("split", "array_split") else \
                {"hsplit": 1 if len(x.shape) > 1 else 0, "vsplit": 0, "dsplit": 2}[fname]
            if -len(x.shape) <= along < len(x.shape):
                for out, size in zip(outs, _split_sizes(x.shape[along], written, fname, len(outs))):
                    shape = list(x.shape)
                    shape[along] = size
                    out.shape, out.rank = tuple(shape), len(shape)
        return outs

    def _node_with_outs(self, op, inputs, template, names, *, active, attrs) -> list[Value]:
        first = self._node(op, inputs, template, diff=(0,), attrs=attrs, hint=names[0])
        node = first.producer
        outs = [first] + [self._new(name, "node") for name in names[1:]]
        node.extra_outs = outs[1:]
        for out, is_active in zip(outs, active):
            out.producer, out.active, out.dtype = node, is_active, "float"
        return outs

    def _conversion(self, call, fname) -> Value:
        """np.asarray(x) and its kin: x's values, so the adjoint passes through (converted back to
        x's kind of float when dtype= changes it, as .astype does)."""
        first = api.CONVERSIONS[fname]
        bound = self._bind_args(call, [first, "dtype"], 1, f"np.{fname}")
        at_least_1d = fname == "ascontiguousarray"  # which makes a 0-d input 1-D
        x = self._lower(bound[first])
        if "dtype" in bound:
            dtype = self._lower(bound["dtype"])
            replace = {id(bound[first]): x.ref(), id(bound["dtype"]): dtype.ref()}
            rank = None if at_least_1d and x.rank in (None, 0) else x.rank
            return self._node("astype", [x, dtype], _rebuild(call, replace), diff=(0,),
                              attrs={"roles": {"a": 0}, "reshape": at_least_1d}, hint=_hint_of(call, "astype"),
                              rank=rank)
        template = _rebuild(call, {id(bound[first]): x.ref()})
        if at_least_1d:
            return self._node("reshape", [x], template, diff=(0,), attrs={"roles": {"a": 0}, "dims": None},
                              hint=_hint_of(call, "reshape"))
        return self._node("copy", [x], template, diff=(0,), hint=_hint_of(call, "copy"), rank=x.rank)

    def _astype(self, call, receiver) -> Value:
        x = self._lower(receiver)
        rest = [a for a in call.args] + [k.value for k in call.keywords]
        values = [self._lower(a) for a in rest]
        replace = {id(receiver): x.ref(), **{id(a): v.ref() for a, v in zip(rest, values)}}
        return self._node("astype", [x, *values], _rebuild(call, replace), diff=(0,), attrs={"roles": {"a": 0}},
                          hint=_hint_of(receiver) if isinstance(receiver, ast.Name) else "converted",
                          rank=x.rank)

    def _einsum(self, call) -> Value:
        if not call.args or not (isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)):
            raise self.ctx.error(call, "np.einsum needs its subscripts as a literal string",
                                 hint="write np.einsum('ij,jk->ik', a, b)")
        if call.keywords:
            raise self.ctx.error(call, "np.einsum keyword arguments are not supported")
        spec = call.args[0].value.replace(" ", "")
        operands = call.args[1:]
        try:
            ins, out = _einsum_parts(spec, len(operands))
        except ValueError as err:
            raise self.ctx.error(call.args[0], f"einsum subscripts '{spec}': {err}",
                                 hint="write subscripts as NumPy reads them, e.g. 'bij,bjk->bik', "
                                 "'ii->i' or '...ij,...jk->...ik'") from None
        values = [self._lower(o) for o in operands]
        attrs = {"inputs": ins, "output": out, "spec": ",".join(ins) + "->" + out, "ellipsis": ""}
        if all(v.rank is not None for s, v in zip(ins, values) if "..." in s):
            # ranks known: '...' becomes letters of its own, and the adjoints are plain einsums
            try:
                attrs["inputs"], attrs["output"], attrs["ellipsis"] = \
                    _einsum_spelled_out(ins, out, [v.rank for v in values])
            except ValueError as err:
                message, hint = err.args
                raise self.ctx.error(call.args[0], f"einsum subscripts '{spec}': {message}",
                                     hint=hint) from None
        template = _rebuild(call, {id(o): v.ref() for o, v in zip(operands, values)})
        return self._node("einsum", values, template, diff=tuple(range(len(values))),
                          attrs=attrs, hint="contraction")

    def _reduction(self, call, op, bound, receiver=False) -> Value:
        a = self._lower(bound["a"])
        axis = self._literal(bound.get("axis"), "axis", _is_axis)
        keepdims = self._literal(bound.get("keepdims"), "keepdims", lambda v: isinstance(v, bool))
        template = _rebuild(call, {id(bound["a"]): a.ref()})
        rank = 0 if axis is None and not keepdims else None
        return self._node(op, [a], template, diff=(0,), attrs={"axis": axis, "keepdims": bool(keepdims)},
                          hint=_hint_of(call, op), rank=rank)

    def _literal(self, node, what, check):
        if node is None:
            return None
        try:
            value = ast.literal_eval(node)
        except ValueError:
            value = _NOT_LITERAL
            sign, inner = (-1, node.operand) if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) \
                else (1, node)
            if isinstance(inner, ast.Attribute) and inner.attr == "inf" and isinstance(inner.value, ast.Name) \
                    and self.scope.kind(inner.value.id) == "numpy":
                value = sign * float("inf")  # ord=np.inf, ord=-np.inf
        hint = _LITERAL_HINTS.get(what, f"write {what}=True or {what}=False")
        if value is _NOT_LITERAL:
            raise self.ctx.error(node, f"{what} must be written as a literal here", hint=hint)
        if not check(value):
            raise self.ctx.error(node, f"{what}={value!r} is not supported here", hint=hint)
        return value

    def _transpose(self, call, a_expr, axes_expr, receiver=False) -> Value:
        a = self._lower(a_expr)
        if isinstance(axes_expr, ast.Constant) and isinstance(axes_expr.value, int):
            axes_expr = ast.copy_location(ast.Tuple(elts=[axes_expr], ctx=ast.Load()), axes_expr)  # x.transpose(0)
        axes = self._literal(axes_expr, "axes", lambda v: v is None or isinstance(v, (tuple, list)) and
                             all(isinstance(a, int) for a in v) and
                             sorted(a % len(v) for a in v) == list(range(len(v))))
        if axes is not None:  # as many axes as dimensions: negative ones count from the end
            axes = tuple(a % len(axes) for a in axes)
        template = _rebuild(call, {id(a_expr): a.ref()})
        return self._node("transpose", [a], template, diff=(0,),
                          attrs={"axes": None if axes is None else tuple(axes)},
                          hint=_hint_of(call, "transpose"), rank=a.rank)

    def _reshape(self, call, a_expr, shape_exprs) -> Value:
        a = self._lower(a_expr)
        replace, inputs = {id(a_expr): a.ref()}, [a]
        for part in shape_exprs:
            value = self._lower(part)
            replace[id(part)] = value.ref()
            inputs.append(value)
        known = [v.known for v in inputs[1:]]
        if len(known) == 1 and isinstance(known[0], tuple):
            dims = list(known[0])
        elif len(known) == 1 and known[0] is None and not isinstance(shape_exprs[0], ast.Constant):
            dims = None  # one argument we cannot read: it may be a whole tuple
        else:
            dims = [k if isinstance(k, shapes.Dim) or k == -1 else None for k in known]
        return self._node("reshape", inputs, _rebuild(call, replace), diff=(0,),
                          hint=_hint_of(a_expr), attrs={"dims": dims})

    def _join(self, call, fname, bound) -> Value:
        """np.concatenate / np.stack / np.hstack / np.vstack of a literal list."""
        arrays = bound["arrays"]
        if not isinstance(arrays, (ast.List, ast.Tuple)) or not arrays.elts:
            raise self.ctx.error(arrays, f"np.{fname} needs a literal list of arrays here",
                                 hint=f"write np.{fname}([a, b], axis=0)")
        axis = self._literal(bound.get("axis"), "axis", lambda v: isinstance(v, int))
        values = [self._lower(e) for e in arrays.elts]
        template = _rebuild(call, {id(e): v.ref() for e, v in zip(arrays.elts, values)})
        return self._node(fname, values, template, diff=tuple(range(len(values))),
                          attrs={"axis": 0 if axis is None else axis}, hint=fname)


_CONSTRUCTORS = frozenset({"zeros", "ones", "empty", "full"})  # np.<name>(shape, ...): an array of that shape
_NEW_CONSTANTS = _CONSTRUCTORS | {"zeros_like", "ones_like", "empty_like", "full_like", "eye", "identity",
                                  "arange", "linspace"}

_FLOAT_BY_DEFAULT = frozenset({"zeros", "ones", "empty", "eye", "identity", "linspace"})
_DTYPE_KINDS = (("bool", ("bool",)), ("int", ("int", "uint")), ("float", ("float", "double", "single", "half")))


def _constructed_dtype(call: ast.Call, fname: str) -> str | None:
    """"float", "int" or "bool" for an array constructor whose call shows its dtype
    (np.zeros(n), np.zeros(n, dtype=int), np.ones_like(x, np.float32)); None when it does not."""
    if fname not in _FLOAT_BY_DEFAULT and not fname.endswith("_like"):
        return None
    given = next((k.value for k in call.keywords if k.arg == "dtype"), None)
    if given is None and fname in ("zeros", "ones", "empty", "zeros_like", "ones_like", "empty_like") \
            and len(call.args) > 1:
        given = call.args[1]
    if given is None:
        return "float" if fname in _FLOAT_BY_DEFAULT else None
    text = ast.unparse(given).split(".")[-1].strip("'\"")
    return next((kind for kind, prefixes in _DTYPE_KINDS if text.startswith(prefixes)), None)


def _makes_new_array(node: Node, scope) -> bool:
    """Whether ``node``'s result is a new array or a number, never an input or a view of one."""
    if node.op in api.NEW_ARRAYS or node.op == "setitem":  # a[i] = v: a's array, which a owns
        return True
    if node.op == "nondiff" and node.attrs.get("elementwise"):  # x > 0, mask & other: new arrays
        return True
    call = node.expr
    if not isinstance(call, ast.Call) or not isinstance(call.func, (ast.Attribute, ast.Name)):
        return False
    if node.op == "copy":  # x.copy() and np.positive(x) copy; np.asarray(x) may hand x back
        return isinstance(call.func, ast.Attribute) and call.func.attr in ("copy", "positive")
    if node.op == "nondiff":  # np.zeros((n, H)) and its kin
        path = _dotted(call.func)
        return path is not None and len(path) == 2 and scope.kind(path[0]) == "numpy" and \
            path[1] in _NEW_CONSTANTS
    return False


def _reads_around(node: Node, value: Value, scope) -> bool:
    """Whether ``node`` reads only ``value``'s shape (``h.shape[0]``, ``len(h)``) or compares it
    (``h > 0``, a new array of bools): nothing it makes can be a view of the value."""
    parents = {id(child): parent for parent in ast.walk(node.expr) for child in ast.iter_child_nodes(parent)}
    for ref in ast.walk(node.expr):
        if not (isinstance(ref, ast.Name) and ref.id == value.placeholder):
            continue
        parent = parents.get(id(ref))
        if isinstance(parent, ast.Attribute) and parent.attr in _PASSIVE_ATTRIBUTES:
            continue
        if isinstance(parent, ast.Compare):
            continue
        if isinstance(parent, ast.Call) and ref in parent.args:
            path = _dotted(parent.func)
            if path == ["len"] or (path is not None and len(path) == 2 and scope.kind(path[0]) == "numpy"
                                   and path[1] in ("shape", "ndim", "size")):
                continue
        return False
    return True


_NOT_LITERAL = object()
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
            ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}
_LITERAL_HINTS = {"axis": "write axis=0, axis=-1 or axis=(0, 1)",
                  "mode": "write mode='full', mode='same' or mode='valid'",
                  "axes": "write the permutation out, e.g. axes=(1, 0, 2)",
                  "ord": "write ord=2, ord='fro', ord=np.inf or ord=-np.inf"}
_OP_SYMBOL = {"Add": "+", "Sub": "-", "Mult": "*", "Div": "/", "FloorDiv": "//", "Mod": "%",
              "Pow": "**", "MatMult": "@", "LShift": "<<", "RShift": ">>", "BitOr": "|",
              "BitAnd": "&", "BitXor": "^"}


def _einsum_parts(spec: str, count: int):
    """Operand and output subscripts of an einsum, with the output made explicit. A letter may
    repeat within an operand (a diagonal); '...' stands for the dimensions no letter names."""
    lhs, arrow, out = spec.partition("->")
    ins = lhs.split(",")
    if len(ins) != count:
        raise ValueError(f"{len(ins)} operands named, {count} given")
    for s in ins + [out]:
        if s.count("...") > 1 or not set(s.replace("...", "", 1)) <= _LETTERS:
            raise ValueError("subscripts must be letters, with at most one '...' each")
    ellipsis = any("..." in s for s in ins)
    letters = "".join(ins).replace("...", "")
    if not arrow:  # NumPy's implicit output: '...', then the letters named once, in order
        out = "..." * ellipsis + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    named = out.replace("...", "")
    if len(set(named)) != len(named):
        raise ValueError(f"a letter repeats in the output '{out}'")
    if not set(named) <= set(letters):
        raise ValueError(f"the output names {', '.join(sorted(set(named) - set(letters)))}, "
                         "which no operand has")
    if not ellipsis:
        out = named  # '...' in the output stands for no dimensions then
    return ins, out


_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _einsum_spelled_out(ins, out, ranks):
    """``ins`` and ``out`` with each '...' written as letters used nowhere else, for operands
    of these ranks (NumPy lines the dimensions of '...' up from the right, as broadcasting
    does), and those letters in order: the empty string when no operand has '...'."""
    widths = []
    for k, (s, rank) in enumerate(zip(ins, ranks)):
        width = rank - len(s) + 3 if "..." in s else 0
        if width < 0:
            raise ValueError(f"operand {k + 1} has rank {rank}, fewer dimensions than '{s}' names",
                             "check the operand's shape annotation against the subscripts")
        widths.append(width)
    width = max(widths, default=0)
    if width == 0:
        return [s.replace("...", "") for s in ins], out.replace("...", ""), ""
    if "..." not in out:
        raise ValueError(f"'...' stands for {width} dimension{'s' * (width > 1)} here, "
                         "which the output does not name (NumPy refuses that)",
                         f"name it in the output ('{','.join(ins)}->...{out}') and sum over "
                         "those dimensions afterwards if that is what you mean")
    unused = sorted(_LETTERS - set("".join(ins)), key=lambda c: (c.isupper(), c))
    if width > len(unused):
        raise ValueError("more dimensions than einsum has letters for",
                         "split the contraction into smaller einsums")
    fresh = "".join(unused[:width])
    return ([s.replace("...", fresh[width - w:]) for s, w in zip(ins, widths)],
            out.replace("...", fresh), fresh)


def _split_sizes(dim, written, fname, count):
    """The length of each piece along the split axis, where the shapes say (else None)."""
    if dim is not None and type(written) is int and fname != "array_split":
        return [dim.divide(shapes.Dim(written))] * count  # equal pieces (NumPy checks it divides)
    if dim is not None and not dim.factors and isinstance(written, (list, tuple)):
        cuts = [0] + [max(0, min(i if i >= 0 else i + dim.coef, dim.coef)) for i in written] + [dim.coef]
        return [shapes.Dim(max(0, b - a)) for a, b in zip(cuts, cuts[1:])]
    return [None] * count


def _is_tensordot_axes(axes) -> bool:
    def axis_list(v):
        return type(v) is int or isinstance(v, (list, tuple)) and all(type(i) is int for i in v)
    return axes is None or type(axes) is int and axes >= 0 or \
        isinstance(axes, (list, tuple)) and len(axes) == 2 and all(axis_list(v) for v in axes)


def _literal_or_none(node):
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def _is_axis(v) -> bool:
    if v is None:
        return True
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    return isinstance(v, tuple) and all(isinstance(i, int) and not isinstance(i, bool) for i in v)


def _index_parts(index: ast.expr):
    """The expressions inside an index, each with whether it is a slice bound."""
    parts = index.elts if isinstance(index, ast.Tuple) else [index]
    for part in parts:
        if isinstance(part, ast.Slice):
            for bound in (part.lower, part.upper, part.step):
                yield bound, True
        else:
            yield part, False


def _import_origin(stmt, name) -> str:
    for alias in stmt.names:
        if (alias.asname or alias.name.split(".")[0]) == name:
            if isinstance(stmt, ast.ImportFrom):
                return f"{stmt.module}.{alias.name}"
            return alias.name
    return "an imported name"


def _assigned_names(fn: ast.FunctionDef) -> set[str]:
    names = {a.arg for a in fn.args.args}
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def _with_number(tree: ast.AST, name: str, number: int) -> ast.AST:
    """``tree`` with each read of ``name`` replaced by the literal ``number``."""
    return swap_names(tree, lambda node: ast.copy_location(ast.Constant(number), node)
                      if node.id == name and isinstance(node.ctx, ast.Load) else None)


def _renamed(fn: ast.FunctionDef, body: list[ast.stmt], values: dict[str, Value]):
    """A called function's body with each parameter renamed after the value passed to it, so
    the names gradgen makes up read like the caller's (``h1 @ W2``, not ``x @ W``); a name the
    body already uses keeps the parameter's own."""
    used = _assigned_names(fn) | {n.id for s in body for n in ast.walk(s) if isinstance(n, ast.Name)}
    rename: dict[str, str] = {}
    for param, value in values.items():
        hint = value.hint
        if hint != param and hint.isidentifier() and not keyword.iskeyword(hint) and hint not in used \
                and hint not in rename.values():
            rename[param] = hint
    if not rename:
        return body, rename

    def swap(node):
        return ast.copy_location(ast.Name(id=rename[node.id], ctx=node.ctx), node) if node.id in rename else None

    return [swap_names(copy.deepcopy(s), swap) for s in body], rename


def _is_derive(decorator: ast.expr) -> bool:
    """@gradgen.derive, @derive or @gradgen.derive(...): the function computes what it says."""
    func = decorator.func if isinstance(decorator, ast.Call) else decorator
    path = _dotted(func)
    return path is not None and path[-1] == "derive"


def _is_docstring(stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and \
        isinstance(stmt.value.value, str)


def _dotted(func) -> list[str] | None:
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name):
        return None
    parts.append(func.id)
    return parts[::-1]


def _rebuild(node, replace: dict):
    """Copy an AST, swapping the subtrees whose id() is in ``replace``."""
    if id(node) in replace:
        return replace[id(node)]
    if isinstance(node, ast.AST):
        new = type(node)()
        for name, value in ast.iter_fields(node):
            setattr(new, name, _rebuild(value, replace))
        for attr in ("lineno", "col_offset", "end_lineno", "end_col_offset"):
            if hasattr(node, attr):
                setattr(new, attr, getattr(node, attr))
        return new
    if isinstance(node, list):
        return [_rebuild(item, replace) for item in node]
    return node


def _module_number(scope, name):
    """The value of a module-level ``NAME = <number>``, else None."""
    stmt = scope.bindings.get(name)
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        try:
            value = ast.literal_eval(stmt.value)
        except ValueError:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    return None


def _known_number(v):
    """An int literal as a dimension (or -1, reshape's 'the rest'); None for anything else."""
    if isinstance(v, bool) or not isinstance(v, int):
        return None
    return -1 if v == -1 else (shapes.Dim(v) if v >= 0 else None)


def _const_hint(expr: ast.Constant) -> str:
    return "const"


_OP_HINTS = {"add": "plus", "sub": "minus", "mul": "times", "div": "over"}
# what an unnamed intermediate is called when its operands are not simple names
_FALLBACK_HINTS = {"add": "total", "sub": "diff", "mul": "prod", "div": "ratio", "pow": "power",
                   "matmul": "product", "dot": "product", "outer": "outer_product", "sum": "summed",
                   "mean": "avg", "max": "largest", "min": "smallest", "abs": "magnitude",
                   "neg": "neg", "getitem": "part", "transpose": "transposed", "exp": "exps",
                   "log": "logs", "tanh": "tanhs", "sqrt": "roots", "sin": "sines", "cos": "cosines",
                   "maximum": "larger", "minimum": "smaller", "where": "selected",
                   "concatenate": "joined", "stack": "stacked", "reshape": "reshaped"}


def _passive_rank(expr: ast.expr) -> int | None:
    """0 for expressions that are plainly Python scalars: x.shape[0], len(x), x.ndim."""
    if isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Attribute) and \
            expr.value.attr == "shape" and isinstance(expr.slice, (ast.Constant, ast.UnaryOp)):
        return 0
    if isinstance(expr, ast.Attribute) and expr.attr in ("ndim", "size"):
        return 0
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and \
            expr.func.id in ("len", "int", "float"):
        return 0
    if isinstance(expr, ast.BinOp):
        left, right = _passive_rank(expr.left), _passive_rank(expr.right)
        if isinstance(expr.left, ast.Constant):
            left = 0
        if isinstance(expr.right, ast.Constant):
            right = 0
        return 0 if left == 0 and right == 0 else None
    return None


def _hint_of(expr: ast.expr, op: str | None = None) -> str:
    """A short descriptive name for an unnamed intermediate, from its source: ``XW`` for
    ``X @ W``, ``exp_neg_z`` for ``np.exp(-z)``, ``h_minus_y`` for ``h - y``."""
    name = _describe(expr)
    if name is None or len(name) > 18:
        name = _FALLBACK_HINTS.get(op, op or "tmp")
    return name


_NUMBER_WORDS = {0: "zero", 1: "one", 2: "two", 3: "three", 0.5: "half", 10: "ten"}


def _describe(e) -> str | None:
    if isinstance(e, ast.Name):
        return e.id
    if isinstance(e, ast.Constant) and not isinstance(e.value, bool):
        return _NUMBER_WORDS.get(e.value)
    if isinstance(e, ast.Attribute):
        inner = _describe(e.value)
        if inner is None:
            return None
        return inner + "T" if e.attr == "T" else f"{inner}_{e.attr}"
    if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub):
        inner = _describe(e.operand)
        return inner and "neg_" + inner
    if isinstance(e, ast.BinOp):
        a, b = _describe(e.left), _describe(e.right)
        op = api.OPERATORS.get(type(e.op).__name__)
        if op == "pow" and a and isinstance(e.right, ast.Constant) and e.right.value == 2:
            return f"{a}_sq"
        if not (a and b):
            return None
        if op == "matmul":
            return a + b if len(a) + len(b) <= 6 else f"{a}_{b}"
        if op in _OP_HINTS:
            return f"{a}_{_OP_HINTS[op]}_{b}"
        return None
    if isinstance(e, ast.Call):
        path = _dotted(e.func)
        if isinstance(e.func, ast.Attribute) and e.func.attr == "dot" and not e.keywords:
            # X.dot(W) and np.dot(X, W) are named like X @ W: XW
            pair = e.args if path is not None and path[0] in ("np", "numpy") else [e.func.value, *e.args]
            if len(pair) == 2:
                return _describe(ast.BinOp(left=pair[0], op=ast.MatMult(), right=pair[1]))
        if path is not None and len(path) > 1 and path[0] not in ("np", "numpy") and \
                isinstance(e.func, ast.Attribute) and not e.args:
            inner = _describe(e.func.value)  # a method: x.sum(axis=0) -> sum_x
            return inner and f"{e.func.attr}_{inner}"
        fname = {"maximum": "max", "minimum": "min", "amax": "max", "amin": "min"}.get(
            path[-1], path[-1]) if path else None
        args = [_describe(a) for a in e.args[:2]]
        if fname and args and all(args) and fname not in ("reshape", "transpose"):
            return "_".join([fname, *args]) if fname in ("max", "min") else f"{fname}_{args[0]}"
        if fname and args and args[0]:
            return f"{fname}_{args[0]}" if fname not in ("reshape", "transpose") else args[0]
        return None
    if isinstance(e, ast.Subscript):
        base = _describe(e.value)
        if base is None:
            return None
        return f"{base}_{e.slice.id}" if isinstance(e.slice, ast.Name) else f"{base}_part"
    return None
