"""Differential fuzzer: random forward functions, written as source text, derived and checked.

Each program is drawn from the grammar gradgen supports (chains and DAGs of ``+ - * / **``,
unary ``-``, ``@``, the elementwise functions, reductions with random axes and keepdims,
reshape, transposes, slicing, integer-array and mask indexing, concatenate/stack, reused
values, reassigned names, and updates ``h += b`` and ``h[index] = v`` of arrays f made), over random shapes that broadcast (size-1 axes, scalars,
Python floats), optionally with shape annotations (``x: "f[A, B]"``) whose named
dimensions agree across parameters. It is written to a module file, imported, derived with
``gradgen.derive`` and also generated the way the CLI does (``gradgen.pipeline.generate``,
executed in a fresh namespace), and then checked:

- the gradients of ``backward``, ``value_and_grad`` and the CLI module's backward against
  float64 central differences (a mismatch is confirmed in ``np.longdouble`` before it is
  called a failure, so rounding noise in the reference is never reported as a bug);
- parameters left out of the default ``wrt`` have a zero numerical gradient;
- ``value_and_grad``'s value equals the forward's value; gradients are finite, have their
  parameter's shape, are arrays of the caller's own (no memory shared with the inputs, the
  seed or each other), and the inputs are not mutated;
- an array result without a seed raises ``ValueError``.

Inputs are chosen away from kinks and domain edges: an instrumented copy of the forward
measures, at the drawn inputs, every log/sqrt/division argument, every abs/maximum/minimum
and where-condition margin and every max/min reduction's gap between its two largest
entries, and keeps every intermediate moderate; inputs are redrawn until all margins hold
(a margin of exactly zero is accepted: it comes from a structural tie such as the broadcast
copies of one entry, where the function is smooth).

A ``GradgenError`` is a refusal (counted, with its message). Any other exception, or a
wrong gradient, is a FAILURE.

With the default ``extended`` grammar, programs also use the wider surface README's table
lists (the extra elementwise functions, arctan2/hypot/logaddexp, clip, prod/var/std,
cumsum, swapaxes/moveaxis/flip/roll/squeeze/expand_dims, take/tile/repeat/pad, einsum,
linalg.norm/trace/triu/tril/inv/det/solve, scipy.special), and the functions with several
results: ``a, b = np.split(x, 2, axis=k)``, ``np.split(x, [i, j])``, ``np.array_split``,
``np.hsplit``/``np.vsplit``/``np.dsplit`` (a piece left unused or named ``_``, a piece used
twice, the source name rebound, or one piece picked: ``np.split(x, 2, axis=k)[1]``) and
``sign, logdet = np.linalg.slogdet(a)`` / ``np.linalg.slogdet(a)[1]``; ``np.tensordot`` with
int and paired axes; ``np.linalg.cholesky``; ``np.linalg.norm`` with every matrix order over
a pair of axes and every vector order along one; einsum with repeated letters ('ii->i',
'ij,jj->i'), '...' and implicit outputs; ``np.inner`` (last axes contracted, or a 0-d operand),
``np.vdot`` (operands of one size in any shapes), ``np.diff`` (n and axis literals),
``np.sort`` (an axis, ``axis=None``, ``kind='stable'``, the top or bottom k taken after),
``np.average`` (no weights), ``np.logaddexp2``, ``np.deg2rad``/``radians``/``rad2deg``/``degrees``,
``np.fabs``, ``np.fliplr``/``flipud``, ``np.asarray``/``array``/``asanyarray``/``ascontiguousarray``
(maybe ``dtype=``), ``np.column_stack``/``dstack``/``hstack``/``vstack`` of a literal list or
tuple, and ``np.full_like``/``np.heaviside`` as constants (a literal fill value / value at 0)
multiplied into or added to differentiable values; ties in np.sort's output, and np.fabs's
and np.heaviside's arguments near 0, are kinks the margin checks keep away from. slogdet
and cholesky take well-conditioned matrices: ``M @ M.T + c * np.eye(n)`` built in the
program, or parameters drawn that way (symmetric positive definite, or invertible with
either sign of the determinant); the margin checks reject condition numbers above 1e4,
singular values near 0 or too close to the next one (ord ±2, 'nuc'), ties of the largest
(smallest) row / column sum or |entry| and entries near 0 (ord ±1, ±inf, p-norms).

The extended grammar also factors programs into functions and loops, which gradgen writes
out when it reads the code (parse.py, ``_inline`` and ``_for``). Helper functions are
defined in the module before ``f`` and drawn from the same grammar over parameters of their
own, bound to ``f``'s values at the call (a parameter named like the caller's value, or
like one of ``f``'s other names: the callee has its own scope): one result, or several
unpacked into names (``h, c = cell(x, h, c)``); some arguments by keyword; a parameter with
a literal default, left out or given; a helper calling another; a helper called again with
other values of the same shapes. An index array, a mask or a new parameter a helper's body
asks for is a parameter of ``f`` passed in. ``for i in range(k)`` loops (k from 1 to 4: a
literal, a module constant, a local number, a dimension annotated with a number,
``range(a, b)``, a negative step) update an accumulator (``s = s + np.tanh(x * w[i])``) or a
state of a fixed shape (``h = np.tanh(h @ W + xs[i])``, or through a helper:
``h, c = cell(h, c, xs[i])``, or in parallel: ``h, g = g, np.tanh(g + h * xs[i])``), reading
``i`` as an index or slice of a value with a long enough axis (``xs[i]``, ``x[:, i:i + 2]``), as a
factor (``x * (i + 1)``) or as a helper's argument, and maybe after the loop (its last value);
a helper's body may hold a loop too. Names are also bound in parallel outside loops
(``a, b = b, a``; ``a, b = <e1>, <e2>`` with e2 reading the a being rebound). The margin
checks run in instrumented copies of the helpers and the loops; a failing program is
minimized by statements of f, and a helper nothing calls any more is left out with them.
``--basic`` keeps to the grammar above. Inputs also arrive as integer arrays or Python ints,
Fortran-ordered, strided or read-only, and (when every float input is an array) again as
float32, whose gradients must be float32 (README: float32 in, float32 out) and agree with
the float64 ones (checked after the central differences, so a wrong gradient is reported
before a float32 one).

    python -m gradgen.fuzz --count 500 [--seed S] [--annotated] [--basic] [--engine hypothesis] [--shrink]

Program i of a run is built from random.Random(seed * 1000003 + i), so a run is reproduced by
its seed; ``--engine hypothesis`` lets Hypothesis draw the seeds, and ``--shrink`` draws every
choice from Hypothesis and shrinks the first failure.

Hypothesis is imported lazily (only the strategies and the hypothesis engine need it), so
gradgen itself never depends on it.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import itertools
import linecache
import math
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

# -- choices ---------------------------------------------------------------------------------


class RandomChooser:
    """Choices from ``random.Random`` (fast, reproducible by seed)."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def int(self, lo, hi):
        return self.rng.randint(lo, hi)

    def chance(self, p):
        return self.rng.random() < p

    def choice(self, seq):
        seq = list(seq)
        return seq[self.int(0, len(seq) - 1)]


class HypothesisChooser:
    """Choices drawn from a Hypothesis ``draw`` (shrinkable: index 0 is always the simplest)."""

    def __init__(self, draw):
        from hypothesis import strategies as st
        self._st = st
        self.draw = draw

    def int(self, lo, hi):
        return self.draw(self._st.integers(lo, hi))

    def chance(self, p):
        # shrinks towards False (the simpler program)
        return self.draw(self._st.integers(0, 999)) >= 1000 - int(p * 1000)

    def choice(self, seq):
        seq = list(seq)
        return seq[self.int(0, len(seq) - 1)]


# -- symbolic shapes -------------------------------------------------------------------------


@dataclass(frozen=True)
class Dim:
    """coef * factor * ...; factors starting with '_' are anonymous (never annotated)."""

    coef: int = 1
    factors: tuple = ()

    def __mul__(self, other):
        return Dim(self.coef * other.coef, tuple(sorted(self.factors + other.factors)))

    @property
    def is_one(self):
        return self.coef == 1 and not self.factors

    @property
    def named(self):
        return not any(f.startswith("_") for f in self.factors)


ONE = Dim()


def broadcast(*shapes):
    """The symbolic broadcast shape, or None when two dims may not agree."""
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        real = {d for d in dims if not d.is_one}
        if len(real) > 1:
            return None
        out.append(real.pop() if real else ONE)
    return tuple(out)


def _prod(dims):
    out = ONE
    for d in dims:
        out = out * d
    return out


# -- the program -----------------------------------------------------------------------------


@dataclass
class E:
    """An expression of the generated forward."""

    op: str
    args: list = field(default_factory=list)
    attrs: dict = field(default_factory=dict)
    shape: tuple = ()
    kind: str = "float"  # float | int | bool
    positive: bool = False  # > 0 by construction
    dparams: frozenset = frozenset()  # parameters reaching it through differentiable edges
    pyfloat: bool = False  # a Python float at run time (no methods)


@dataclass
class Param:
    name: str
    shape: tuple
    kind: str = "float"  # float | int | bool
    positive: bool = False
    pyfloat: bool = False
    fixed: object = None  # the value of an index or mask parameter
    annotation: str | None = None
    intvalued: bool = False  # a differentiable parameter passed as an integer array
    default: str | None = None  # a trailing parameter with a default, never passed
    matrix: str | None = None  # drawn as a stack of "spd" or "wellcond" (invertible) matrices
    pinned: bool = False  # always annotated (a loop's bound reads its annotated dimension)


@dataclass
class Program:
    """A generated forward: its module text, parameters and how to check it."""

    source: str  # the module text
    check_source: str  # the instrumented forward, for the margin checks
    params: list
    sizes: dict  # factor name -> size
    constants: dict  # module constant -> Python value
    from_imports: list
    numpy_alias: str
    wrt: tuple | None = None
    check_shapes: bool = False
    input_seed: int = 0
    scalar_seed: float | None = None  # an explicit seed for a scalar result
    annotated: bool = False
    function: str = "f"
    gen: object = field(default=None, repr=False)  # what it was rendered from (to minimize it)
    layouts: bool = True  # pass some arrays Fortran-ordered, strided or read-only
    keep: frozenset = frozenset()

    @property
    def positional(self):
        """The parameters the harness passes (those with a default are left to it)."""
        return [p for p in self.params if p.default is None]

    def concrete(self, shape):
        return tuple(d.coef * math.prod(self.sizes[f] for f in d.factors) for d in shape)

    def draw_inputs(self, attempt=0):
        rng = np.random.default_rng([self.input_seed, attempt])
        args = []
        for p in self.params:
            if p.default is not None:
                continue
            if p.kind != "float":
                args.append(np.array(p.fixed))
                continue
            shape = self.concrete(p.shape)
            if p.matrix is not None:
                args.append(_draw_matrix(p.matrix, shape, rng))
                continue
            if p.intvalued:
                n = math.prod(shape)
                pool = [v for v in range(-4, 5) if v]
                values = rng.permutation(pool)[:n] if n <= len(pool) else rng.choice(pool, n)
                value = np.asarray(values, dtype=np.int64).reshape(shape)
                args.append(int(value) if p.pyfloat else value)  # a Python int for a scalar
                continue
            if p.positive:
                x = rng.uniform(0.5, 2.0, shape)
            else:
                x = rng.standard_normal(shape) * (1.0 if attempt % 2 == 0 else 0.7)
            if p.pyfloat:
                args.append(float(x))
                continue
            x = np.asarray(x, dtype=np.float64)
            if x.ndim and self.layouts and rng.random() < 0.2:
                x = _exotic_layout(x, rng)
            args.append(x)
        return args

    def __repr__(self):
        shapes = ", ".join(f"{p.name}: {p.kind}{self.concrete(p.shape)}" for p in self.params)
        return f"<Program wrt={self.wrt} ({shapes})>\n{self.source}"


_PARAM_NAMES = ["x", "W", "b", "y", "u", "v", "h", "z", "a", "c", "w", "t", "s", "q", "r", "p", "k", "g"]
# names that also appear in generated code, or shadow builtins the helpers use
_HOSTILE_NAMES = ["dz", "dW", "dout", "out", "dx", "_unbroadcast", "slice", "len", "selected", "dJ",
                  "J", "dh", "dx_part", "_matmul_grad_a", "_scalar_seed", "_concatenated_part",
                  "dparam", "tuple", "sum", "range", "np_", "dtmp", "grads", "e", "dexps", "dsum",
                  # d + name, or two names run together, spell a keyword: del, def, as, if, in, or, is
                  "el", "ef", "a", "s", "i", "f_", "n", "o", "r", "ass", "rt"]
_LOCAL_NAMES = ["h", "z", "a", "e", "s", "t", "m", "o", "r", "loss", "hid", "act", "score", "tmp"]
_DIM_NAMES = ["A", "B", "C", "D", "N", "M", "P", "K"]
# module-level functions f calls: no local or parameter is ever named like one
_HELPER_NAMES = ["dense", "cell", "block", "layer", "mix", "gate", "affine", "proj", "unit", "branch",
                 "squash", "combine", "encode", "head"]
_LOOP_VARS = ["i", "t", "j", "k", "step", "n_"]
_STEP_CONSTANTS = ["STEPS", "T", "LAYERS", "N_ITER"]
MAX_HELPERS = 4
MAX_SIZE = 48
MAX_RANK = 4


@dataclass
class _HParam:
    """A parameter of a generated helper function."""

    name: str
    value: E  # the parameter as the helper's body reads it (dparams: a placeholder for the argument's)
    arg: E | None = None  # what its first call passes (None: it has a default)
    default: str | None = None  # a literal default: a call may leave it out or pass another
    annotation: str | None = None
    fixed: bool = False  # every call passes ``arg``: an index array, a mask or a drawn matrix of f's


@dataclass
class _Helper:
    """A function of the generated module that f (or another helper) calls; gradgen writes its
    body out at each call."""

    name: str
    parent: object  # the _Helper whose body calls it; None: f does
    taken: set  # the names of its own scope
    params: list = field(default_factory=list)
    stmts: list = field(default_factory=list)
    results: list = field(default_factory=list)  # what it returns (several: unpacked at the call)
    dims: dict = field(default_factory=dict)  # its annotations' names for f's dimensions (its own)

    @property
    def reusable(self):
        """Whether a second call can pass other values: not when the body relies on how a
        matrix parameter of f was drawn."""
        return not any(p.fixed and p.arg is not None and p.value.kind == "float" for p in self.params)


def _mentions(e, target):
    """Whether the expression ``e`` contains the node ``target``."""
    return e is target or any(isinstance(a, E) and _mentions(a, target) for a in e.args)


class _Gen:
    """Draws one program from a chooser."""

    def __init__(self, ch, annotated, exotic=True, extended=True):
        self.ch = ch
        self.annotated = annotated
        self.exotic = exotic
        self.extended = extended  # the NumPy surface beyond the basic grammar (README's table)
        self.scipy_imports = set()
        self.sizes = {}
        self.named = []  # named dims in use
        self.params: list[Param] = []
        self.pool: list[tuple[str, E]] = []  # (name, value) live now
        self.stmts: list[tuple] = []  # ("assign", target, E, annotation) | ("passive", target, text)
        self.taken = set()
        self.anon = itertools.count()
        self.constants = {}
        self.from_imports = set()
        self.hostile = ch.chance(0.2)
        alias = ch.choice(["np"] * 6 + ["numpy", "onp", "N_"])
        self.np = alias
        self.from_style = ch.chance(0.1)
        # the extended grammar's helper functions and loops
        self.helpers: list[_Helper] = []  # in the order defined (a callee before its caller)
        self.helper_names = set()
        self.helper: _Helper | None = None  # whose body is being drawn (None: f's)
        self.loop = None  # (variable, its values) of the loop whose body is being drawn
        self.loop_seq = None  # a parameter whose annotated first dimension bounds the loop
        self.f_taken = self.taken  # f's names, while a helper's are self.taken

    # -- names and dims --------------------------------------------------------------------

    def fresh_name(self, pool, taken=None):
        """A name from ``pool`` not yet used in the scope (``taken``: the current one's)."""
        taken = self.taken if taken is None else taken
        if self.hostile and self.ch.chance(0.4):
            pool = _HOSTILE_NAMES
        for _ in range(20):
            name = self.ch.choice(pool)
            if name not in taken:
                taken.add(name)
                return name
        name = f"{self.ch.choice(pool)}{len(taken)}"
        taken.add(name)
        return name

    def dim(self, allow_one=True):
        if allow_one and self.ch.chance(0.15):
            return ONE
        if self.named and (len(self.named) >= 4 or self.ch.chance(0.6)):
            return Dim(1, (self.ch.choice(self.named),))
        return self.new_dim()

    def new_dim(self):
        free = [d for d in _DIM_NAMES if d not in self.sizes]
        if not free:
            return Dim(1, (self.ch.choice(self.named),))
        name = self.ch.choice(free)
        self.sizes[name] = self.ch.choice([2, 3, 3, 4, 2, 1]) if self.annotated else self.ch.choice([2, 3, 4])
        self.named.append(name)
        return Dim(1, (name,))

    def anon_dim(self, size, one=True):
        if size == 1 and one:
            return ONE
        name = f"_{next(self.anon)}"
        self.sizes[name] = size
        return Dim(1, (name,))

    def size(self, shape):
        return math.prod(d.coef * math.prod(self.sizes[f] for f in d.factors) for d in shape)

    def length(self, d):
        return d.coef * math.prod(self.sizes[f] for f in d.factors)

    def ok_shape(self, shape):
        return shape is not None and len(shape) <= MAX_RANK and self.size(shape) <= MAX_SIZE

    def random_shape(self, lo=0, hi=3):
        for _ in range(10):
            shape = tuple(self.dim() for _ in range(self.ch.int(lo, hi)))
            if self.ok_shape(shape):
                return shape
        return ()

    def compatible_shape(self, shape):
        """A shape that broadcasts against ``shape`` (mostly into it)."""
        k = self.ch.int(0, len(shape))
        tail = shape[len(shape) - k:]
        out = tuple(ONE if (not d.is_one and self.ch.chance(0.3)) else d for d in tail)
        if self.ch.chance(0.15) and len(shape) < MAX_RANK:  # grows the result
            out = (self.dim(allow_one=False),) + tuple(ONE for _ in range(len(shape) - k)) + out
            if not self.ok_shape(broadcast(shape, out)):
                out = out[1:]
        return out

    # -- leaves ----------------------------------------------------------------------------

    def new_param(self, shape=None, positive=False, pyfloat=None):
        shape = self.random_shape() if shape is None else shape
        if pyfloat is None:
            pyfloat = shape == () and self.ch.chance(0.5)
        name = self.fresh_name(_PARAM_NAMES)
        intvalued = not positive and 0 < self.size(shape) <= 6 and self.ch.chance(0.06)
        p = Param(name, tuple(shape), "float", positive=positive, pyfloat=pyfloat, intvalued=intvalued)
        self.params.append(p)
        value = self._leaf(name, p)
        self.pool.append((name, value))
        return value

    def _leaf(self, name, p):
        if self.helper is not None:  # a parameter of f asked for inside a helper's body
            return self._pass_in(name, p)
        return E("ref", attrs={"name": name}, shape=p.shape, kind=p.kind, positive=p.positive,
                 dparams=frozenset([name]) if p.kind == "float" else frozenset(), pyfloat=p.pyfloat)

    def leaf(self, pred=lambda v: True, fresh=0.15, shape=None):
        live = [v for _, v in self.pool if v.kind == "float" and pred(v)]
        if live and not self.ch.chance(fresh):
            recent = live[-4:] if self.ch.chance(0.7) else live
            return self.ch.choice(recent)
        return self.new_param(shape=shape)

    def const(self, positive=False):
        choices = ["2.0", "0.5", "3", "1.5", "0.25", "SCALE", "DEFAULT"] + ([] if positive else ["-1.0", "-0.5"])
        text = self.ch.choice(choices)
        if text == "DEFAULT":  # a parameter with a default value, left out of the call
            if self.helper is not None:
                return self._helper_default()
            defaults = [p for p in self.params if p.default is not None]
            if defaults:
                p = defaults[0]
            else:
                p = Param(self.fresh_name(["scale", "alpha", "temperature", "eps_"]), (), "float",
                          default=self.ch.choice(["0.5", "2.0", "1.5"]), pyfloat=True)
                if self.annotated and self.ch.chance(0.5):
                    p.annotation = "float"
                self.params.append(p)
            return E("ref", attrs={"name": p.name}, shape=(), kind="float", positive=True, pyfloat=True,
                     dparams=frozenset([p.name]))
        if text == "SCALE":
            self.constants["SCALE"] = 0.75
        value = 0.75 if text == "SCALE" else float(text)
        return E("const", attrs={"text": text}, shape=(), positive=value > 0, pyfloat=True)

    # -- expressions -----------------------------------------------------------------------

    def expr(self, depth):
        if depth <= 0:
            return self.leaf()
        kinds = ["unary"] * 4 + ["binary"] * 6 + ["reduce"] * 3 + ["matmul"] * 2 + ["shape"] * 3 + \
            ["index"] * 3 + ["where"] + ["join"] + ["maxmin"] * 2 + ["pow"] * 2 + ["pick"] + \
            ["composite"] * 3 + (["extended"] * 5 + ["more"] * 3 if self.extended else [])
        kind = self.ch.choice(kinds)
        out = getattr(self, f"_{kind}")(depth)
        if out is None or not self.ok_shape(out.shape):
            return self._unary(depth)
        return out

    def _pick(self, depth):
        return self.leaf()

    # -- the wider surface: README's table beyond the basic grammar --------------------

    def call(self, template, args, shape, check=None, dparams=None, positive=False):
        """A call written from a template: {0}, {1}... the arguments, {np} numpy, {K} the margin
        checker (in the instrumented copy), {sp} scipy.special names."""
        if dparams is None:
            dparams = frozenset().union(*[a.dparams for a in args if isinstance(a, E)]) if args else frozenset()
        return E("call", list(args), {"t": template, "c": check or template}, tuple(shape),
                 dparams=dparams, positive=positive)

    def _axis_for(self, rank, tuples=True):
        r = self.ch.int(0, 4 if tuples else 2) if rank else 0
        if r == 0:
            return None
        if r <= 2 or not tuples:
            return self.ch.int(-rank, rank - 1)
        axes = [ax for ax in range(rank) if self.ch.chance(0.5)] or [0]
        return tuple(ax - rank if self.ch.chance(0.3) else ax for ax in axes)

    @staticmethod
    def _norm_axes(axis, rank):
        if axis is None:
            return tuple(range(rank))
        return tuple(sorted(a % rank for a in (axis if isinstance(axis, tuple) else (axis,))))

    def _reduced(self, shape, axis, keepdims):
        axes = self._norm_axes(axis, len(shape))
        return tuple(ONE if i in axes else d for i, d in enumerate(shape)) if keepdims else \
            tuple(d for i, d in enumerate(shape) if i not in axes)

    def _extended(self, depth):
        kind = self.ch.choice(["unary"] * 4 + ["binary"] * 2 + ["clip"] * 2 + ["stat"] * 3 + ["cumsum",
                               "axes", "axes", "flip", "roll", "squeeze", "take", "tile", "repeat",
                               "pad", "einsum", "einsum", "norm", "trace", "tri", "linalg", "special",
                               "special"] + ["split"] * 3 + ["tensordot"] * 2 + ["slogdet"] * 2 +
                              ["cholesky"] * 2 + ["norm"] * 2 + ["einsum"])
        a = self.expr(depth - 1)
        rank = len(a.shape)
        if kind == "unary":
            fn = self.ch.choice(["log1p", "expm1", "log2", "log10", "exp2", "square", "reciprocal",
                                 "cbrt", "sinh", "cosh", "tan", "arcsin", "arccos", "arctan",
                                 "arcsinh", "arccosh", "arctanh"])
            if fn == "reciprocal" and any(q.intvalued and q.name in a.dparams for q in self.params):
                fn = "log1p"  # np.reciprocal of integers divides as integers: 1 // 3 is 0
            if fn in ("log1p", "log2", "log10", "reciprocal"):
                a = self.positive(a)
            elif fn in ("tan", "arcsin", "arccos", "arctanh"):
                a = self.bin_node("*", E("const", attrs={"text": "0.9"}, shape=(), pyfloat=True),
                                  self.unary_node("tanh", a, form="np"), form="op")
            elif fn == "arccosh":
                a = self.add(E("const", attrs={"text": "1.5"}, shape=(), pyfloat=True), self.positive(a))
            check = "{K}.edge({np}.cbrt, {0})" if fn == "cbrt" else None
            return self.call(f"{{np}}.{fn}({{0}})", [a], a.shape, check=check)
        if kind == "binary":
            fn = self.ch.choice(["arctan2", "hypot", "logaddexp"])
            b = self.other_operand(a, depth)
            shape = broadcast(a.shape, b.shape)
            if shape is None:
                return None
            x, y = (a, b) if self.ch.chance(0.5) else (b, a)
            check = f"{{K}}.{fn}({{0}}, {{1}})" if fn != "logaddexp" else None
            return self.call(f"{{np}}.{fn}({{0}}, {{1}})", [x, y], shape, check=check)
        if kind == "clip":
            def bound(centre):
                r = self.ch.int(0, 3)
                if r == 0:
                    return "None", None
                if r == 1:
                    return repr(centre), None
                b = self.other_operand(a, depth)
                return None, self.bin_node("+", E("const", attrs={"text": repr(centre)}, shape=(), pyfloat=True),
                                           self.bin_node("*", E("const", attrs={"text": "0.3"}, shape=(), pyfloat=True),
                                                         self.unary_node("tanh", b, form="np"), form="op"), form="op")
            lo_text, lo = bound(-0.5)
            hi_text, hi = bound(0.5)
            if lo_text == "None" and hi_text == "None":
                hi_text = "0.5"
            args, texts = [a], []
            for text, value in ((lo_text, lo), (hi_text, hi)):
                if value is None:
                    texts.append(text)
                else:
                    args.append(value)
                    texts.append("{%d}" % (len(args) - 1))
            shape = broadcast(*[v.shape for v in args])
            if shape is None or not self.ok_shape(shape):
                return None
            if self.ch.chance(0.3) and not a.pyfloat:
                user = "{0}.clip(" + ", ".join(texts) + ")"
            else:
                user = "{np}.clip({0}, " + ", ".join(texts) + ")"
            return self.call(user, args, shape, check="{K}.clip({0}, " + ", ".join(texts) + ")")
        if a.pyfloat:
            return None
        if kind == "stat":
            fn = self.ch.choice(["prod", "var", "std", "var", "std"])
            axis = self._axis_for(rank)
            keepdims = self.ch.chance(0.4)
            count = math.prod(self.length(a.shape[i]) for i in self._norm_axes(axis, rank)) if rank else 1
            ddof = 1 if fn != "prod" and count > 1 and self.ch.chance(0.4) else 0
            args = ([f"axis={axis!r}"] if axis is not None else []) + ([f"ddof={ddof}"] if ddof else []) + \
                (["keepdims=True"] if keepdims else [])
            if fn == "prod":
                a = self.bin_node("+", E("const", attrs={"text": "1.0"}, shape=(), pyfloat=True),
                                  self.bin_node("*", E("const", attrs={"text": "0.5"}, shape=(), pyfloat=True),
                                                self.unary_node("tanh", a, form="np"), form="op"), form="op")
            if fn in ("var", "std") and count - ddof < 1:
                return None
            method = self.ch.chance(0.3)
            user = ("{0}." + fn + "(" + ", ".join(args) + ")") if method else \
                ("{np}." + fn + "(" + ", ".join(["{0}"] + args) + ")")
            check = "{K}.std({0}, " + repr(axis) + ", " + str(ddof) + ", " + str(keepdims) + ")" if fn == "std" else None
            return self.call(user, [a], self._reduced(a.shape, axis, keepdims), check=check)
        if kind == "cumsum":
            axis = None if not rank or self.ch.chance(0.3) else self.ch.int(-rank, rank - 1)
            shape = (_prod(a.shape),) if axis is None else a.shape
            user = "{np}.cumsum({0}" + ("" if axis is None else f", axis={axis}") + ")"
            if self.ch.chance(0.3):
                user = "{0}.cumsum(" + ("" if axis is None else f"axis={axis}") + ")"
            return self.call(user, [a], shape)
        if kind == "axes" and rank >= 2:
            i, j = self.ch.int(-rank, rank - 1), self.ch.int(-rank, rank - 1)
            if self.ch.chance(0.5):
                order = list(range(rank))
                order[i % rank], order[j % rank] = order[j % rank], order[i % rank]
                user = "{np}.swapaxes({0}, %d, %d)" % (i, j) if self.ch.chance(0.7) else "{0}.swapaxes(%d, %d)" % (i, j)
                return self.call(user, [a], tuple(a.shape[k] for k in order))
            src = list(range(rank))
            k = self.ch.int(1, rank)
            srcs = [src.pop(self.ch.int(0, len(src) - 1)) for _ in range(k)]
            dsts = list(range(rank))
            dst = [dsts.pop(self.ch.int(0, len(dsts) - 1)) for _ in range(k)]
            rest = [ax for ax in range(rank) if ax not in srcs]
            order = [None] * rank
            for s_, d_ in zip(srcs, dst):
                order[d_] = s_
            it = iter(rest)
            order = [o if o is not None else next(it) for o in order]
            fmt = (lambda v: str(v[0])) if k == 1 and self.ch.chance(0.5) else (lambda v: repr(tuple(v)))
            return self.call("{np}.moveaxis({0}, %s, %s)" % (fmt(srcs), fmt([d - rank if self.ch.chance(0.3) else d for d in dst])),
                             [a], tuple(a.shape[o] for o in order))
        if kind == "flip" and rank:
            axis = self._axis_for(rank)
            user = "{np}.flip({0}" + ("" if axis is None else f", {axis!r}") + ")"
            return self.call(user, [a], a.shape)
        if kind == "roll" and rank:
            if self.ch.chance(0.3):
                return self.call("{np}.roll({0}, %d)" % self.ch.int(-5, 5), [a], a.shape)
            axis = self._axis_for(rank)
            if isinstance(axis, tuple):
                shift = tuple(self.ch.int(-3, 3) for _ in axis)
            else:
                shift = self.ch.int(-3, 3)
            return self.call("{np}.roll({0}, %r, axis=%r)" % (shift, axis), [a], a.shape)
        if kind == "squeeze":
            ones = [i for i, d in enumerate(a.shape) if d.is_one]
            if ones and self.ch.chance(0.7):
                pick = [i for i in ones if self.ch.chance(0.6)] or ones[:1]
                axis = pick[0] if len(pick) == 1 and self.ch.chance(0.5) else tuple(pick)
                user = "{np}.squeeze({0}, axis=%r)" % (axis,) if self.ch.chance(0.7) else "{0}.squeeze(%r)" % (axis,)
                return self.call(user, [a], tuple(d for i, d in enumerate(a.shape) if i not in pick))
            if rank >= MAX_RANK:
                return None
            pos = self.ch.int(-(rank + 1), rank)
            shape = list(a.shape)
            shape.insert(pos % (rank + 1), ONE)
            return self.call("{np}.expand_dims({0}, %d)" % pos, [a], tuple(shape))
        if kind == "take" and rank:
            axis = self.ch.choice([None] + list(range(-rank, rank)))
            n = self.size(a.shape) if axis is None else self.length(a.shape[axis])
            if self.ch.chance(0.3):
                i = self.ch.int(-n, n - 1)
                shape = () if axis is None else a.shape[:axis % rank] + a.shape[axis % rank + 1:]
                idx = str(i)
            else:
                items = [self.ch.int(-n, n - 1) for _ in range(self.ch.int(1, 4))]
                idx = repr(items)
                d = self.anon_dim(len(items))
                shape = (d,) if axis is None else a.shape[:axis % rank] + (d,) + a.shape[axis % rank + 1:]
            user = "{np}.take({0}, %s%s)" % (idx, "" if axis is None else f", axis={axis}")
            return self.call(user, [a], shape)
        if kind == "tile":
            reps = self.ch.choice([2, (2, 1), (1, 2), (2, 1, 1), (1, 3)])
            reps_t = (reps,) if isinstance(reps, int) else reps
            full = max(len(reps_t), rank)
            reps_t = (1,) * (full - len(reps_t)) + reps_t
            shape = (ONE,) * (full - rank) + a.shape
            out = tuple(d if r == 1 else (Dim(r) * d if not d.is_one else Dim(r)) for d, r in zip(shape, reps_t))
            if not self.ok_shape(out):
                return None
            return self.call("{np}.tile({0}, %r)" % (reps,), [a], out)
        if kind == "repeat":
            r = self.ch.int(2, 3)
            if not rank or self.ch.chance(0.3):
                out = (Dim(r) * _prod(a.shape),)
                user = "{np}.repeat({0}, %d)" % r
            else:
                axis = self.ch.int(-rank, rank - 1)
                out = tuple(Dim(r) * d if i == axis % rank else d for i, d in enumerate(a.shape))
                user = "{np}.repeat({0}, %d, axis=%d)" % (r, axis) if self.ch.chance(0.7) else \
                    "{0}.repeat(%d, axis=%d)" % (r, axis)
            if not self.ok_shape(out):
                return None
            return self.call(user, [a], out)
        if kind == "pad" and rank:
            if self.ch.chance(0.4):
                w = self.ch.int(0, 1)
                widths = [(w, w)] * rank
                text = str(w)
            else:
                widths = [(self.ch.int(0, 1), self.ch.int(0, 2)) for _ in range(rank)]
                text = repr(tuple(widths))
            out = tuple(d if b + e == 0 else self.anon_dim(self.length(d) + b + e, one=False)
                        for d, (b, e) in zip(a.shape, widths))
            if not self.ok_shape(out):
                return None
            return self.call("{np}.pad({0}, %s)" % text, [a], out)
        if kind == "einsum" and rank:
            return self._einsum_of(a)
        if kind == "norm" and rank:
            return self._norm_of(a)
        if kind == "split" and rank:
            return self._split_of(a)
        if kind == "tensordot" and rank:
            return self._tensordot_of(a)
        if kind == "slogdet":
            return self._slogdet_of(a)
        if kind == "cholesky":
            return self._cholesky_of(a)
        if kind == "trace" and rank >= 1:
            d = a.shape[-1]
            square = [v for _, v in self.pool if v.kind == "float" and len(v.shape) == 2 and v.shape[0] == v.shape[1]
                      and not v.pyfloat]
            m = self.ch.choice(square) if square and self.ch.chance(0.5) else self.new_param(shape=(d, d), pyfloat=False)
            user = "{np}.trace({0})" if self.ch.chance(0.7) else "{0}.trace()"
            return self.call(user, [m], ())
        if kind == "tri" and rank >= 2:
            fn = self.ch.choice(["triu", "tril"])
            k = self.ch.int(-1, 1)
            return self.call("{np}.%s({0}%s)" % (fn, "" if k == 0 else f", {k}"), [a], a.shape)
        if kind == "linalg":
            d = self.dim(allow_one=False)
            m = self.new_param(shape=(d, d), pyfloat=False)
            n = self.length(d)
            spd = self.call("({0} @ {0}.T + 3.0 * {np}.eye(%d))" % n, [m], (d, d))
            which = self.ch.choice(["inv", "det", "solve", "solve"])
            if which == "inv":
                return self.call("{np}.linalg.inv({0})", [spd], (d, d))
            if which == "det":
                return self.call("{np}.linalg.det({0})", [spd], ())
            bshape = self.ch.choice([(d,), (d, self.dim(allow_one=False))])
            b = self.new_param(shape=bshape, pyfloat=False)
            return self.call("{np}.linalg.solve({0}, {1})", [spd, b], bshape)
        if kind == "special":
            fn = self.ch.choice(["expit", "logit", "erf", "gammaln", "logsumexp", "softmax", "log_softmax"])
            self.scipy_imports.add(fn)
            if fn in ("expit", "erf"):
                return self.call("{sp}%s({0})" % fn, [a], a.shape)
            if fn == "logit":
                inner = self.bin_node("+", E("const", attrs={"text": "0.5"}, shape=(), pyfloat=True),
                                      self.bin_node("*", E("const", attrs={"text": "0.4"}, shape=(), pyfloat=True),
                                                    self.unary_node("tanh", a, form="np"), form="op"), form="op")
                return self.call("{sp}logit({0})", [inner], a.shape)
            if fn == "gammaln":
                a = self.positive(a)
                return self.call("{sp}gammaln({0})", [a], a.shape)
            if not rank:
                return None
            axis = self.ch.int(-rank, rank - 1)
            if fn == "logsumexp":
                keepdims = self.ch.chance(0.4)
                return self.call("{sp}logsumexp({0}, axis=%d%s)" % (axis, ", keepdims=True" if keepdims else ""),
                                 [a], self._reduced(a.shape, axis, keepdims))
            return self.call("{sp}%s({0}, axis=%d)" % (fn, axis), [a], a.shape)
        return None

    # -- several results, tensordot, decompositions, norms and einsum's wider forms ---------

    def _shuffled(self, seq):
        seq = list(seq)
        return [seq[k] for k in sorted(range(len(seq)), key=lambda _: self.ch.int(0, 99))]

    def _result(self, name, shape, dparams, positive=False, pyfloat=False):
        """A name bound by an unpacking statement, live from now on."""
        self.pool = [(n, v) for n, v in self.pool if n != name]
        ref = E("ref", attrs={"name": name}, shape=tuple(shape), dparams=dparams, positive=positive,
                pyfloat=pyfloat)
        self.pool.append((name, ref))
        return ref

    def _operand(self, shape, fresh=0.6):
        """A live array of exactly ``shape``, or a new parameter."""
        same = [v for _, v in self.pool if v.kind == "float" and v.shape == shape and not v.pyfloat]
        if same and not self.ch.chance(fresh):
            return self.ch.choice(same)
        return self.new_param(shape=shape, pyfloat=False)

    def _split_spec(self, a):
        """How to split ``a``: the call's template ({0} is a), each piece's shape, and which
        pieces are empty (an index past the end)."""
        rank = len(a.shape)
        fn = self.ch.choice(["split"] * 3 + ["array_split"] * 2 + ["hsplit"] +
                            (["vsplit"] if rank >= 2 else []) + (["dsplit"] if rank >= 3 else []))
        if fn in ("split", "array_split"):
            long = [k for k in range(rank) if self.length(a.shape[k]) >= 2]
            if not long:
                return None
            axis = self.ch.choice(long)
        else:
            axis = {"hsplit": 1 if rank >= 2 else 0, "vsplit": 0, "dsplit": 2}[fn]
        n = self.length(a.shape[axis])
        if n < 2:
            return None
        sections = [k for k in (2, 3, 4) if k <= n and (fn == "array_split" or n % k == 0)]
        if sections and self.ch.chance(0.55):
            k = self.ch.choice(sections)
            sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
            spec = str(k)
        else:  # indices: the cuts, some counted from the end
            cuts = sorted(self._shuffled(range(1, n))[:self.ch.int(1, min(2, n - 1))])
            sizes = [hi - lo for lo, hi in zip([0] + cuts, cuts + [n])]
            texts = [c - n if self.ch.chance(0.2) else c for c in cuts]
            if self.ch.chance(0.1):  # an index past the end: an empty last piece
                texts.append(n + self.ch.int(0, 2))
                sizes.append(0)
            spec = repr(texts)
        axis_text = ""
        if fn in ("split", "array_split"):
            ax = axis - rank if self.ch.chance(0.3) else axis
            r = self.ch.int(0, 4)
            if r == 0 and axis == 0:
                axis_text = ""
            elif r == 1:
                axis_text = f", {ax}"
            else:
                axis_text = f", axis={ax}"
        template = "{np}.%s({0}, %s%s)" % (fn, spec, axis_text)
        if len(set(sizes) - {0}) == 1:  # equal pieces share one dim, so they combine elementwise
            d = self.anon_dim(max(sizes))
            dims = [d if size else self.anon_dim(0, one=False) for size in sizes]
        else:
            dims = [self.anon_dim(size, one=size != 0) for size in sizes]
        shapes = [a.shape[:axis] + (d,) + a.shape[axis + 1:] for d in dims]
        return template, shapes, [size == 0 for size in sizes]

    def _split_of(self, a):
        """``a, b = np.split(x, ...)`` (its kin, unused pieces, pieces used twice), or one piece
        picked with a literal index."""
        spec = self._split_spec(a)
        if spec is None:
            return None
        template, shapes, empty = spec
        full = [i for i, e in enumerate(empty) if not e]
        if self.ch.chance(0.25):  # np.split(x, 2, axis=1)[1]
            i = self.ch.choice(full)
            k = i - len(shapes) if self.ch.chance(0.3) else i
            return self.call(template + "[%d]" % k, [a], shapes[i], positive=a.positive)
        used = set(full) if self.ch.chance(0.5) else {i for i in full if self.ch.chance(0.6)}
        used = used or {self.ch.choice(full)}
        own = None  # x, y = np.split(x, 2)
        if a.op == "ref" and self.ch.chance(0.2) and not self._has_default(a.attrs["name"]) \
                and self.loop is None:  # (a name a loop's body reads must keep its shape)
            own = a.attrs["name"]
        names = []
        for i in range(len(shapes)):
            if i in used and own is not None and own not in names:
                names.append(own)
            elif i in used or not self.ch.chance(0.5):
                names.append(self.fresh_name(_LOCAL_NAMES))
            else:
                names.append("_")
        self.stmts.append(("unpack", names, E("multi", [a], {"t": template, "c": template})))
        # a piece nothing reads stays out of the pool (its adjoint is zeros)
        refs = [self._result(names[i], shapes[i], a.dparams, a.positive) for i in sorted(used)]
        r = self.ch.int(0, 3)
        if r == 1 and len(refs) >= 2:
            p, q = self._shuffled(refs)[:2]
            if broadcast(p.shape, q.shape) is not None:
                return self.bin_node(self.ch.choice(["+", "-", "*"]), p, q)
        if r >= 2:  # one piece used twice
            p = self.ch.choice(refs)
            q = p if self.ch.chance(0.5) else self.unary_node(self.ch.choice(["tanh", "sin", "cos"]), p)
            return self.bin_node("*", p, q)
        return self.ch.choice(refs)

    def _tensordot_of(self, a):
        rank = len(a.shape)
        swap = False
        if self.ch.chance(0.5):  # axes=n: a's last n axes against b's first n
            n = self.ch.int(0, min(rank, 2))
            extra = tuple(self.dim(allow_one=False) for _ in range(self.ch.int(0 if n else 1, 2)))
            bshape = a.shape[rank - n:] + extra
            out = a.shape[:rank - n] + extra
            r = self.ch.int(0, 3)
            axes = "" if n == 2 and r == 0 else f", {n}" if r == 1 else f", axes={n}"
        else:  # pairs of axes, matched in any order
            k = self.ch.int(1, min(rank, 2))
            axes_a = self._shuffled(range(rank))[:k]
            brank = k + self.ch.int(0, 2)
            axes_b = self._shuffled(range(brank))[:k]
            slots = [None] * brank
            for i, j in zip(axes_a, axes_b):
                slots[j] = a.shape[i]
            bshape = tuple(d if d is not None else self.dim(allow_one=False) for d in slots)
            free_a = tuple(d for i, d in enumerate(a.shape) if i not in axes_a)
            free_b = tuple(d for j, d in enumerate(bshape) if j not in axes_b)
            swap = self.ch.chance(0.3)
            out = free_b + free_a if swap else free_a + free_b
            ta = [i - rank if self.ch.chance(0.25) else i for i in axes_a]
            tb = [j - brank if self.ch.chance(0.25) else j for j in axes_b]
            if swap:
                ta, tb = tb, ta
            if k == 1 and self.ch.chance(0.4):
                pair = f"({ta[0]}, {tb[0]})"
            else:
                pair = f"({ta!r}, {tb!r})" if self.ch.chance(0.6) else f"[{ta!r}, {tb!r}]"
            axes = f", {pair}" if self.ch.chance(0.2) else f", axes={pair}"
        if not self.ok_shape(bshape) or not self.ok_shape(out):
            return None
        b = a if bshape == a.shape and self.ch.chance(0.3) else self._operand(bshape)
        x, y = (b, a) if swap else (a, b)
        return self.call("{np}.tensordot({0}, {1}%s)" % axes, [x, y], out)

    def _square(self, a, spd):
        """A (stack of) well-conditioned square matrices, symmetric positive definite if
        ``spd``: a Gram matrix of ``a`` plus a multiple of the identity, ``a`` shifted by one
        when it is square already, or a parameter drawn that way."""
        rank = len(a.shape)
        r = self.ch.int(0, 4)
        c = self.ch.choice(["1.0", "2.0", "3.0", "0.5", "3"])
        out = None
        if r == 1 and not spd and rank >= 2 and a.shape[-1] == a.shape[-2]:
            n = self.length(a.shape[-1])
            eye = "{np}.eye(%d)" % n
            out = self.call("({0} + %s * %s)" % (c, eye), [a], a.shape)
        elif r >= 1 and not a.pyfloat and rank >= 1:
            if a.op != "ref":
                a = self.bind(a, name=self.fresh_name(_LOCAL_NAMES))
            if rank == 1:
                d, prod, eye_of = a.shape[0], "{np}.outer({0}, {0})", "{0}.shape[0]"
            else:
                rows = self.ch.chance(0.7)  # M M^T, or M^T M
                d = a.shape[-2] if rows else a.shape[-1]
                t = "{0}.T" if rank == 2 and self.ch.chance(0.6) else "{np}.swapaxes({0}, -1, -2)"
                prod = "{0} @ %s" % t if rows else "%s @ {0}" % t
                if self.ch.chance(0.2):
                    prod = "{np}.matmul(%s)" % prod.replace(" @ ", ", ")
                eye_of = "{0}.shape[%d]" % (-2 if rows else -1)
            n = self.length(d)
            eye = "{np}.eye(%s)" % (eye_of if self.ch.chance(0.3) else n)
            shape = a.shape[:-2] + (d, d)
            if self.ok_shape(shape):
                out = self.call("(%s + %s * %s)" % (prod, c, eye), [a], shape)
        if out is not None:
            return out
        d = self.dim(allow_one=False)
        shape = ((self.dim(allow_one=False),) if self.ch.chance(0.25) else ()) + (d, d)
        name = self.fresh_name(_PARAM_NAMES)
        p = Param(name, shape, "float", matrix="spd" if spd else "wellcond")
        self.params.append(p)
        value = self._leaf(name, p)
        self.pool.append((name, value))
        return value

    def _slogdet_of(self, a):
        m = self._square(a, spd=False)
        batch = m.shape[:-2]
        r = self.ch.int(0, 9)
        if r < 3:  # np.linalg.slogdet(a)[1]; [0] is the sign, with no gradient
            i = self.ch.choice(["1", "1", "-1", "0"])
            return self.call("{np}.linalg.slogdet({0})[%s]" % i, [m], batch,
                             check="{K}.slogdet({0})[%s]" % i, dparams=frozenset() if i == "0" else None)
        sign = "_" if self.ch.chance(0.3) else self.fresh_name(["sign", "sgn", "sg"])
        logdet = self.fresh_name(["logdet", "ld", "logabsdet"])
        self.stmts.append(("unpack", [sign, logdet],
                           E("multi", [m], {"t": "{np}.linalg.slogdet({0})", "c": "{K}.slogdet({0})"})))
        ld = self._result(logdet, batch, m.dparams)
        if sign == "_" or r < 5:
            return ld
        sg = self._result(sign, batch, frozenset())
        if r < 8:
            return self.bin_node("*", sg, ld)
        return self.bin_node("*", sg, self.unary_node("exp", ld))  # the determinant

    def _cholesky_of(self, a):
        m = self._square(a, spd=True)
        out = self.call("{np}.linalg.cholesky({0})", [m], m.shape, check="{K}.cholesky({0})")
        if self.ch.chance(0.3):  # the log-determinant from its diagonal
            out = self._named(out)
            if len(m.shape) == 2 and self.ch.chance(0.5):
                diag = self.call("{np}.diagonal({0})", [out], m.shape[:-1], positive=True)
            else:
                diag = self.call("{np}.einsum('...ii->...i', {0})", [out], m.shape[:-1], positive=True)
            return self.unary_node("log", diag)
        return out

    def _norm_of(self, a):
        rank = len(a.shape)
        r = self.ch.int(0, 5)
        if r == 0:  # the 2-norm of a vector, or the Frobenius norm
            if rank > 2:
                return None
            return self.call("{np}.linalg.norm({0})", [a], (), check="{K}.norm({0}, None, None, False)",
                             positive=True)
        if r <= 2 or rank < 2:  # a vector norm along one axis
            order = self.ch.choice([None, None, 2, 1, "inf", "-inf", 3, 1.5])
            ax = self.ch.int(-rank, rank - 1)
            axis = (ax,) if self.ch.chance(0.15) else ax
            # axis=None: without the rank known, only the orders no matrix norm has are accepted
            if rank == 1 and self.ch.chance(0.3) and (self.annotated or order in (None, 3, 1.5)):
                axis = None
        else:  # a matrix norm over a pair of axes
            order = self.ch.choice(["'nuc'", 2, -2, 1, -1, "inf", "-inf", "'fro'", None])
            i, j = self._shuffled(range(rank))[:2]
            axis = (i - rank if self.ch.chance(0.3) else i, j - rank if self.ch.chance(0.3) else j)
            if rank == 2 and self.ch.chance(0.3) and (self.annotated or order in ("'nuc'", "'fro'", None)):
                axis = None
        keepdims = self.ch.chance(0.3)
        text = {"inf": "{np}.inf", "-inf": "-{np}.inf"}.get(order, str(order))
        positional = order is not None and self.ch.chance(0.25)
        args = [] if order is None else [text if positional else f"ord={text}"]
        if axis is not None:
            args.append(repr(axis) if positional else f"axis={axis!r}")
        if keepdims:
            args.append("keepdims=True")
        return self.call("{np}.linalg.norm(" + ", ".join(["{0}"] + args) + ")", [a],
                         self._reduced(a.shape, axis, keepdims),
                         check="{K}.norm({0}, %s, %r, %r)" % (text, axis, keepdims), positive=True)

    def _letters(self, shape):
        """einsum letters for the axes of ``shape``; axes of equal dims may share one (a diagonal)."""
        out, dims = "", {}
        fresh = iter("ijklmnopqr")
        for d in shape:
            same = [c for c, e in dims.items() if e == d]
            c = self.ch.choice(same) if same and self.ch.chance(0.4) else next(fresh)
            out += c
            dims[c] = d
        return out, dims

    def _einsum_output(self, operands, used):
        """The output letters: explicit (a subset, in any order) or implicit (the letters
        that occur once, sorted): (the output, whether it is implicit)."""
        if self.ch.chance(0.15):
            counts = collections.Counter("".join(operands))
            return "".join(sorted(c for c in used if counts[c] == 1)), True
        return "".join(self._shuffled(c for c in used if self.ch.chance(0.6))), False

    def _einsum_of(self, a):
        """Explicit letters (repeated ones take a diagonal: 'ii->i', 'ij,jj->i'), or '...'."""
        if self.ch.chance(0.35):
            return self._einsum_ellipsis(a)
        la, dims = self._letters(a.shape)
        distinct = list(dict.fromkeys(la))
        unary = self.ch.chance(0.25)
        lb = ""
        if not unary:  # the second operand: some of a's letters, maybe a new one, maybe one twice
            lb = "".join(c for c in distinct if self.ch.chance(0.5))
            if self.ch.chance(0.5) or not lb:
                c = next(c for c in "ijklmnopqr" if c not in dims)
                lb += c
                dims[c] = self.dim(allow_one=False)
            if self.ch.chance(0.25):
                lb += self.ch.choice(lb)
            lb = "".join(self._shuffled(lb))
        operands = [la] if unary else [la, lb]
        out, implicit = self._einsum_output(operands, list(dict.fromkeys(la + lb)))
        shape = tuple(dims[c] for c in out)
        bshape = tuple(dims[c] for c in lb)
        if not self.ok_shape(shape) or not self.ok_shape(bshape):
            return None
        spec = ",".join(operands) + ("" if implicit else "->" + out)
        if unary:
            return self.call("{np}.einsum(%r, {0})" % spec, [a], shape)
        b = a if bshape == a.shape and self.ch.chance(0.3) else self._operand(bshape)
        return self.call("{np}.einsum(%r, {0}, {1})" % spec, [a, b], shape)

    def _einsum_ellipsis(self, a):
        """'...ij,...jk->...ik', '...i,...i->...', '...ii->...i': the leading axes under '...',
        broadcast between the operands."""
        rank = len(a.shape)
        core = self.ch.int(0 if self.ch.chance(0.1) else 1, min(2, rank))
        batch = a.shape[:rank - core]
        la, dims = self._letters(a.shape[rank - core:])
        distinct = list(dict.fromkeys(la))
        unary = self.ch.chance(0.3)
        lb, bshape, out_batch, b_ellipsis = "", (), batch, True
        if not unary:
            lb = "".join(c for c in distinct if self.ch.chance(0.6))
            if self.ch.chance(0.4):
                c = next(c for c in "ijklmnopqr" if c not in dims)
                lb += c
                dims[c] = self.dim(allow_one=False)
            lb = "".join(self._shuffled(lb))
            b_ellipsis = not lb or self.ch.chance(0.8)  # '...i,i->...' without
            bbatch = self.compatible_shape(batch) if b_ellipsis else ()
            out_batch = broadcast(batch, bbatch)
            if out_batch is None:
                return None
            bshape = bbatch + tuple(dims[c] for c in lb)
        operands = ["..." + la] if unary else ["..." + la, ("..." if b_ellipsis else "") + lb]
        out, implicit = self._einsum_output([la, lb], list(dict.fromkeys(la + lb)))
        # NumPy leaves '...' out of the output only when it stands for no axes, and gradgen
        # needs the ranks (annotations) to see that
        keep = implicit or out_batch != () or not self.annotated or self.ch.chance(0.5)
        shape = (out_batch if keep else ()) + tuple(dims[c] for c in out)
        if not self.ok_shape(shape) or not self.ok_shape(bshape):
            return None
        spec = ",".join(operands) + ("" if implicit else "->" + ("..." if keep else "") + out)
        if unary:
            return self.call("{np}.einsum(%r, {0})" % spec, [a], shape)
        b = a if bshape == a.shape and self.ch.chance(0.3) else self._operand(bshape)
        return self.call("{np}.einsum(%r, {0}, {1})" % spec, [a, b], shape)

    # -- more of NumPy: inner, vdot, diff, sort, average, logaddexp2, degrees, fabs, the
    # -- fliplr/flipud flips, asarray and kin, the stacks, full_like / heaviside as constants

    def _more(self, depth):
        kind = self.ch.choice(["sort"] * 3 + ["diff"] * 2 + ["inner"] * 2 + ["vdot", "average", "degrees",
                               "fabs", "logaddexp2", "flip", "convert", "convert"] + ["stack"] * 2 +
                              ["fill"] * 2 + ["helper"] * 4)
        a = self.expr(depth - 1)
        rank = len(a.shape)
        if kind == "helper":  # a function of the module called with a (and maybe more)
            return self._helper(depth, a)
        if kind == "degrees":
            fn = self.ch.choice(["deg2rad", "radians", "rad2deg", "degrees"])
            out = self.call("{np}.%s({0})" % fn, [a], a.shape, positive=a.positive)
            if fn in ("rad2deg", "degrees"):  # 57x: scaled back, so that exp and ** stay moderate
                out = self.bin_node("*", E("const", attrs={"text": "0.02"}, shape=(), pyfloat=True), out)
            return out
        if kind == "fabs":
            return self.call("{np}.fabs({0})", [a], a.shape, check="{K}.fabs({0})")
        if kind == "logaddexp2":
            b = self.other_operand(a, depth)
            shape = broadcast(a.shape, b.shape)
            if shape is None:
                return None
            x, y = (a, b) if self.ch.chance(0.5) else (b, a)
            return self.call("{np}.logaddexp2({0}, {1})", [x, y], shape)
        if kind == "convert":
            return self._convert_of(a)
        if kind == "fill":
            return self._fill_of(a, depth)
        if kind == "inner":
            return self._inner_of(a)
        if kind == "average":
            return self._average_of(a)
        if a.pyfloat:
            return None
        if kind == "vdot":
            return self._vdot_of(a)
        if kind == "sort":
            return self._sort_of(a)
        if not rank:
            return None
        if kind == "diff":
            return self._diff_of(a)
        if kind == "flip":
            if rank >= 2 and self.ch.chance(0.5):
                return self.call("{np}.fliplr({0})", [a], a.shape, positive=a.positive)
            return self.call("{np}.flipud({0})", [a], a.shape, positive=a.positive)
        if kind == "stack":
            return self._stack_of(a)
        return None

    def _sort_of(self, a):
        """np.sort along an axis (the default last one, axis=k, axis=None), maybe kind='stable',
        maybe the top k of it; ties are the kinks (the margin check skips them)."""
        rank = len(a.shape)
        r = self.ch.int(0, 9)
        if not rank or r < 2:  # the flattened array, sorted
            axis, args = None, ["axis=None"]
            shape = (_prod(a.shape),)
        else:
            axis = self.ch.int(-rank, rank - 1)
            if r < 5:
                axis, args = -1, []
            else:
                args = [f"axis={axis}" if self.ch.chance(0.7) else str(axis)]
            shape = a.shape
        if self.ch.chance(0.15):
            args.append("kind='stable'" if args or self.ch.chance(0.5) else "-1, 'stable'")
        user = "{np}.sort(" + ", ".join(["{0}"] + args) + ")"
        check = "{K}.sort({0}, %r)" % axis
        last = len(shape) - 1
        if (axis is None or axis % rank == last) and self.length(shape[-1]) >= 2 and self.ch.chance(0.25):
            k = self.ch.int(1, self.length(shape[-1]) - 1)  # the k largest (or smallest)
            top = self.ch.chance(0.6)
            suffix = "[..., %s]" % (f"-{k}:" if top else f":{k}")
            if len(shape) == 1 and self.ch.chance(0.5):
                suffix = "[%s]" % (f"-{k}:" if top else f":{k}")
            user, check = user + suffix, check + suffix
            shape = shape[:-1] + (self.anon_dim(k),)
        return self.call(user, [a], shape, check=check, positive=a.positive)

    def _diff_of(self, a):
        """np.diff(a, n, axis): the axis shortened by n (n = 0 leaves it as it is)."""
        rank = len(a.shape)
        axis = -1 if self.ch.chance(0.4) else self.ch.int(-rank, rank - 1)
        length = self.length(a.shape[axis])
        n = self.ch.choice([1, 1, 1, 2, 2, 3, 0])
        if n >= length:
            n = 0 if length <= 1 or self.ch.chance(0.3) else length - 1
        args = []
        if n != 1 or self.ch.chance(0.2):
            args.append(f"n={n}" if self.ch.chance(0.4) else str(n))
        if axis != -1 or self.ch.chance(0.2):  # positional only after a positional n
            positional = args and not args[0].startswith("n=") and self.ch.chance(0.3)
            args.append(str(axis) if positional else f"axis={axis}")
        d = a.shape[axis] if n == 0 else self.anon_dim(length - n)
        shape = tuple(d if i == axis % rank else e for i, e in enumerate(a.shape))
        return self.call("{np}.diff(" + ", ".join(["{0}"] + args) + ")", [a], shape)

    def _inner_of(self, a):
        """np.inner(a, b): the last axes contract (a 0-d operand multiplies)."""
        rank = len(a.shape)
        if not rank or self.ch.chance(0.1):  # a scalar operand
            if rank:
                b = self.leaf(pred=lambda v: v.shape == (), shape=())
            else:
                b = self.leaf(pred=lambda v: self.ok_shape(v.shape) and len(v.shape) <= 2)
            if a.pyfloat and b.pyfloat:
                return None
            x, y = (a, b) if self.ch.chance(0.5) else (b, a)
            return self.call("{np}.inner({0}, {1})", [x, y], b.shape if not rank else a.shape)
        k = a.shape[-1]
        bshape = tuple(self.dim(allow_one=False) for _ in range(self.ch.choice([0, 0, 1, 1, 2]))) + (k,)
        swap = self.ch.chance(0.35)
        out = (bshape[:-1] + a.shape[:-1]) if swap else (a.shape[:-1] + bshape[:-1])
        if not self.ok_shape(bshape) or not self.ok_shape(out):
            return None
        b = a if bshape == a.shape and self.ch.chance(0.3) else self._operand(bshape)
        x, y = (b, a) if swap else (a, b)
        return self.call("{np}.inner({0}, {1})", [x, y], out)

    def _vdot_of(self, a):
        """np.vdot(a, b): both flattened, so b has a's size in any shape."""
        n = self.size(a.shape)
        r = self.ch.int(0, 4)
        if r == 0:
            bshape = a.shape
        elif r == 1:
            bshape = (_prod(a.shape),)
        elif r == 2:
            bshape = a.shape[::-1]
        else:
            bshape = tuple(self.anon_dim(f) for f in _factorize(n, self.ch))
        b = a if bshape == a.shape and self.ch.chance(0.3) else self._operand(bshape)
        x, y = (a, b) if self.ch.chance(0.5) else (b, a)
        return self.call("{np}.vdot({0}, {1})", [x, y], ())

    def _average_of(self, a):
        """np.average without weights: the mean (over axis=None, an int or a tuple)."""
        rank = len(a.shape)
        axis = None if a.pyfloat else self._axis_for(rank)
        keepdims = not a.pyfloat and self.ch.chance(0.3)
        args = []
        if axis is not None:
            args.append(f"axis={axis!r}" if keepdims or self.ch.chance(0.7) else repr(axis))
        if keepdims:
            args.append("keepdims=True")
        return self.call("{np}.average(" + ", ".join(["{0}"] + args) + ")", [a],
                         self._reduced(a.shape, axis, keepdims), positive=a.positive)

    def _convert_of(self, a):
        """np.asarray / np.array / np.asanyarray / np.ascontiguousarray, maybe with dtype=
        (float64: the values unchanged). np.ascontiguousarray gives a 0-d input one axis."""
        fn = self.ch.choice(["asarray", "asarray", "array", "asanyarray", "ascontiguousarray"])
        dtype = self.ch.choice([None, None, None, "{np}.float64", "float", "{np}.double"])
        args = ["{0}"]
        if dtype is not None:
            args.append(f"dtype={dtype}" if self.ch.chance(0.7) else dtype)
        shape = a.shape
        if fn == "ascontiguousarray" and not shape:
            shape = (ONE,)
        return self.call("{np}.%s(%s)" % (fn, ", ".join(args)), [a], shape, positive=a.positive)

    def _fill_of(self, a, depth):
        """np.full_like(t, c) and np.heaviside(t, c): constants of t's shape (no gradient through
        t), mostly multiplied into or added to a differentiable value."""
        if self.ch.chance(0.5):
            fill = self.ch.choice(["2.0", "0.5", "-1.5", "3", "SCALE"])
            if fill == "SCALE":
                self.constants["SCALE"] = 0.75
            args = ["{0}", f"fill_value={fill}" if self.ch.chance(0.3) else fill]
            # without dtype= an integer array gives integers (np.full_like(ints, 0.75) is 0),
            # and central differences, which perturb it as floats, would see another function:
            # with a parameter passed as integers so far (a may read it), dtype=float always
            # (in a helper, a later call may pass integers)
            dtype = self.ch.chance(0.3) or any(p.intvalued for p in self.params) or self.helper is not None
            if dtype:
                args.append("dtype=float")
            template = "{np}.full_like(%s)" % ", ".join(args)
            positive = dtype and not fill.startswith("-")
            c = self.call(template, [a], a.shape, dparams=frozenset(), positive=positive)
        else:
            at0 = self.ch.choice(["0.5", "0.0", "1.0", "0.5"])
            c = self.call("{np}.heaviside({0}, %s)" % at0, [a], a.shape,
                          check="{K}.heaviside({0}, %s)" % at0, dparams=frozenset())
        r = self.ch.int(0, 9)
        if r < 2:
            return c
        if r < 5:
            b = a  # the same value, scaled by a step of itself (np.heaviside(x, 0.5) * x ** 2)
            if self.ch.chance(0.5):
                b = self.pow_node(a, "2")
        else:
            b = self.other_operand(a, depth)
        x, y = (c, b) if self.ch.chance(0.5) else (b, c)
        out = self.bin_node(self.ch.choice(["*", "*", "+", "-"]), x, y)
        return out if out.shape is not None else None

    def _stack_of(self, a):
        """np.column_stack / np.dstack (and np.hstack / np.vstack) of a literal list or tuple:
        a with copies of itself, live values or new parameters that fit."""
        rank = len(a.shape)
        fn = self.ch.choice(["column_stack", "column_stack", "dstack", "dstack", "hstack", "vstack"])
        # per fn: the axis joined after NumPy's atleast_nd, the other parts' shapes (each with
        # the width it adds), and the result's shape around the joined axis
        if fn == "column_stack":
            if rank == 1:
                options = [lambda: ((a.shape[0],), 1)] * 2 + [lambda: self._widen((a.shape[0],), ())]
                head, tail = (a.shape[0],), ()
                own = 1
            else:
                options = [lambda: self._widen(a.shape[:1], a.shape[2:])]
                if rank == 2:
                    options.append(lambda: ((a.shape[0],), 1))
                head, tail = a.shape[:1], a.shape[2:]
                own = self.length(a.shape[1])
        elif fn == "dstack":
            if rank == 1:
                options = [lambda: (a.shape, 1)]
                head, tail = (ONE, a.shape[0]), ()
                own = 1
            elif rank == 2:
                options = [lambda: (a.shape, 1)] * 2 + [lambda: self._widen(a.shape, ())]
                head, tail = a.shape, ()
                own = 1
            else:
                options = [lambda: self._widen(a.shape[:2], a.shape[3:])]
                head, tail = a.shape[:2], a.shape[3:]
                own = self.length(a.shape[2])
        elif fn == "hstack":
            axis = 0 if rank == 1 else 1
            options = [lambda: self._widen(a.shape[:axis], a.shape[axis + 1:])]
            head, tail = a.shape[:axis], a.shape[axis + 1:]
            own = self.length(a.shape[axis])
        else:  # vstack
            if rank == 1:
                options = [lambda: (a.shape, 1)] * 2 + [lambda: self._widen((), a.shape)]
                head, tail = (), a.shape
                own = 1
            else:
                options = [lambda: self._widen((), a.shape[1:])]
                head, tail = (), a.shape[1:]
                own = self.length(a.shape[0])
        parts, total = [a], own
        for _ in range(self.ch.choice([1, 1, 2])):
            shape, width = self.ch.choice(options)()
            if shape == a.shape and self.ch.chance(0.35):
                parts.append(a)
            else:
                parts.append(self._operand(shape))
            total += width
        k = self.ch.int(0, len(parts) - 1)
        parts[0], parts[k] = parts[k], parts[0]
        out = head + (self.anon_dim(total),) + tail
        if not self.ok_shape(out):
            return None
        items = ", ".join("{%d}" % i for i in range(len(parts)))
        seq = f"[{items}]" if self.ch.chance(0.6) else f"({items})"
        return self.call("{np}.%s(%s)" % (fn, seq), parts, out)

    def _widen(self, head, tail):
        """A part of shape head + (d,) + tail, and its width d."""
        d = self.dim(allow_one=True)
        return head + (d,) + tail, self.length(d)

    # -- composites gradgen fuses (simplify.py), and common idioms -----------------------

    def _red(self, a, fn, axis, keepdims, form=None):
        rank = len(a.shape)
        if axis is None:
            norm = tuple(range(rank))
        else:
            norm = tuple(sorted(ax % rank for ax in (axis if isinstance(axis, tuple) else (axis,))))
        shape = tuple(d for i, d in enumerate(a.shape) if i not in norm or keepdims)
        shape = tuple(ONE if i in norm else d for i, d in enumerate(a.shape)) if keepdims else shape
        form = form or ("method" if self.ch.chance(0.5) else "fn")
        return E("red", [a], {"fn": fn, "axis": axis, "keepdims": keepdims, "form": form,
                              "positional": False}, shape, dparams=a.dparams)

    def _named(self, value):
        """``value`` bound to a fresh name (a statement of its own) half the time."""
        return self.bind(value, name=self.fresh_name(_LOCAL_NAMES)) if self.ch.chance(0.6) else value

    def _composite(self, depth):
        kind = self.ch.choice(["softmax", "softmax", "logsoftmax", "sigmoid", "sigmoid", "bce", "bce",
                               "pick", "masksum", "xent", "xent"])
        if kind == "masksum":
            a = self.expr(depth - 1)
            cond = E("cmp", [a], {"op": self.ch.choice([">", "<"]), "t": self.ch.choice(["0.0", "0.3"])},
                     a.shape, kind="bool", pyfloat=a.pyfloat)
            if a.pyfloat or not a.shape:
                return None
            part = E("index", [a, cond], {"text": "{1}"}, (self.anon_dim(2),), dparams=a.dparams)
            return E("red", [part], {"fn": "sum", "axis": None, "keepdims": False,
                                     "form": self.ch.choice(["fn", "method"]), "positional": False},
                     (), dparams=a.dparams)
        if kind in ("sigmoid", "bce"):
            z = self.expr(depth - 1)
            if self.ch.chance(0.5):
                z = self._named(z)
            one = E("const", attrs={"text": self.ch.choice(["1", "1.0"])}, shape=(), pyfloat=True)
            neg = E("neg", [z], shape=z.shape, dparams=z.dparams, pyfloat=z.pyfloat)
            den = self.bin_node("+", *((one, self.unary_node("exp", neg, form="np"))[::self.ch.choice([1, -1])]),
                                form="op")
            p = self.bin_node("/", one, den, form="op")
            if kind == "sigmoid":
                return p
            p = self._named(p)
            y = self.leaf(pred=lambda v: broadcast(v.shape, p.shape) is not None, shape=p.shape)
            log_p = self.unary_node("log", p, form="np")
            one_minus_p = self.bin_node("-", one, p, form="op")
            one_minus_y = self.bin_node("-", one, y, form="op")
            log_q = self.unary_node("log", one_minus_p, form="np")
            left = self.bin_node("*", *((y, log_p)[::self.ch.choice([1, -1])]), form="op")
            right = self.bin_node("*", *((one_minus_y, log_q)[::self.ch.choice([1, -1])]), form="op")
            total = self.bin_node("+", *((left, right)[::self.ch.choice([1, -1])]), form="op")
            if total.shape is None:
                return None
            return total if self.ch.chance(0.5) else E("neg", [self._red(total, "mean", None, False, "fn")],
                                                        shape=(), dparams=total.dparams)
        # softmax along an axis, with or without the max shifted out
        theta = self.expr(depth - 1)
        if theta.pyfloat or not theta.shape:
            return None
        theta = self._named(theta) if theta.op != "ref" else theta
        rank = len(theta.shape)
        axis = self.ch.int(-rank, rank - 1)
        if kind in ("pick", "xent"):
            axis = rank - 1 if rank == 1 or self.ch.chance(0.5) else self.ch.choice([rank - 1, -1])
        shift_axis = axis if self.ch.chance(0.8) else (axis + rank if axis < 0 else axis - rank)
        shifted = theta
        if self.ch.chance(0.7):
            shifted = self.bin_node("-", theta, self._red(theta, self.ch.choice(["max", "max", "amax"]),
                                                          shift_axis, True), form="op")
        e = self._named(self.unary_node("exp", shifted, form="np"))
        p = self.bin_node("/", e, self._red(e, "sum", axis, True), form="op")
        if kind == "softmax":
            return p
        p = self._named(p)
        logp = self.unary_node("log", p, form="np")
        if kind == "logsoftmax":
            return logp
        if kind == "xent":  # -sum(y * log(p)): the notes' cross-entropy over one-hot (or soft) labels
            y = self.leaf(pred=lambda v: v.shape == p.shape, shape=p.shape) if self.ch.chance(0.5) else \
                self.new_param(shape=p.shape, positive=True)
            prod = self.bin_node("*", *((y, logp)[::self.ch.choice([1, -1])]), form="op")
            return E("neg", [self._red(prod, self.ch.choice(["sum", "mean"]), None, False)], shape=(),
                     dparams=prod.dparams)
        # pick: logp[np.arange(n), labels] (rank 2, classes last), or np.log(p[np.arange(n), labels])
        if rank != 2 or axis % 2 != 1:
            return logp
        pick_first = self.ch.chance(0.5)
        logp = p if pick_first else self._named(logp)
        n, c = (self.length(d) for d in theta.shape)
        labels = np.array([self.ch.int(0, c - 1) for _ in range(n)], dtype=np.int64)
        name = self.fresh_name(["labels", "targets", "y_idx"])
        lab = Param(name, (theta.shape[0],), "int", fixed=labels)
        self.params.append(lab)
        rows = self.ch.choice(["{np}.arange({a}.shape[0])", "{np}.arange(len({a}))", "{np}.arange(" + str(n) + ")"])
        if self.hostile:  # a parameter or local called len would shadow the builtin
            rows = "{np}.arange({a}.shape[0])"
        picked = E("index", [logp, self._leaf(name, lab)], {"text": rows + ", {1}"}, (theta.shape[0],),
                   dparams=logp.dparams)
        if pick_first:
            picked = self.unary_node("log", picked, form="np")
        how = self.ch.choice(["sum", "mean"]) if pick_first else "mean"
        return E("neg", [self._red(picked, how, None, False, "fn")], shape=(), dparams=picked.dparams)

    def positive(self, a):
        """``a`` made positive (for log, sqrt, division, fractional powers)."""
        if a.positive:
            return a
        form = self.ch.choice(["sq", "abs", "exp", "sqplus", "param"])
        if form == "param":
            return self._positive_param_like(a)
        if form == "exp":
            out = self.unary_node("exp", a)
        elif form == "abs":
            out = self.add(self.unary_node("abs", a), self.const(positive=True))
        elif form == "sq":
            out = self.add(self.pow_node(a, "2"), self.const(positive=True))
        else:
            out = self.add(self.bin_node("*", a, a), E("const", attrs={"text": "1.0"}, shape=(),
                                                        positive=True, pyfloat=True))
        out.positive = True
        return out

    def _positive_param_like(self, a):
        live = [v for _, v in self.pool if v.positive and v.kind == "float" and
                broadcast(v.shape, a.shape) is not None]
        if live and self.ch.chance(0.5):
            return self.ch.choice(live)
        return self.new_param(shape=self.compatible_shape(a.shape), positive=True)

    def add(self, a, b):
        return self.bin_node("+", a, b)

    def unary_node(self, fn, a, form=None):
        if form is None:
            form = "np"
            if fn in ("abs",) and self.ch.chance(0.3):
                form = self.ch.choice(["builtin", "absolute"])
            elif self.from_style and fn in ("exp", "log", "tanh", "sqrt", "sin", "cos"):
                form = "from"
                self.from_imports.add(fn)
        positive = fn in ("exp",) or (fn == "sqrt")
        pyfloat = a.pyfloat and form == "builtin"
        return E("un", [a], {"fn": fn, "form": form}, a.shape, positive=positive, dparams=a.dparams,
                 pyfloat=pyfloat)

    def bin_node(self, sym, a, b, form=None):
        if form is None:
            form = "fn" if self.ch.chance(0.12) else "op"
        shape = broadcast(a.shape, b.shape)
        positive = (sym in "+*/" and a.positive and b.positive)
        return E("bin", [a, b], {"sym": sym, "form": form}, shape, positive=positive,
                 dparams=a.dparams | b.dparams, pyfloat=a.pyfloat and b.pyfloat and form == "op")

    def pow_node(self, a, p, form=None):
        if form is None:
            form = "fn" if self.ch.chance(0.15) else "op"
        dparams = frozenset() if float(p) == 0 else a.dparams
        return E("pow", [a], {"p": p, "form": form}, a.shape, positive=a.positive or p in ("2", "2.0"),
                 dparams=dparams, pyfloat=a.pyfloat and form == "op")

    def other_operand(self, a, depth):
        """A second operand that broadcasts with ``a``."""
        r = self.ch.int(0, 9)
        if r < 2:
            return self.const()
        if r < 6:
            live = [v for _, v in self.pool if v.kind == "float" and
                    self.ok_shape(broadcast(a.shape, v.shape))]
            if live:
                v = self.ch.choice(live[-5:])
                if depth > 1 and self.ch.chance(0.3):
                    v = self.unary_node(self.ch.choice(["tanh", "sin", "cos"]), v)
                return v
        if r < 8 and depth > 1:
            b = self.expr(depth - 1)
            if self.ok_shape(broadcast(a.shape, b.shape)):
                return b
        return self.new_param(shape=self.compatible_shape(a.shape))

    def _unary(self, depth):
        a = self.expr(depth - 1)
        fn = self.ch.choice(["exp", "log", "tanh", "sqrt", "abs", "sin", "cos", "neg", "negative",
                             "copy", "pos", "scale"])
        if fn == "neg":
            return E("neg", [a], shape=a.shape, dparams=a.dparams, pyfloat=a.pyfloat)
        if fn == "pos":
            return E("posop", [a], shape=a.shape, dparams=a.dparams, pyfloat=a.pyfloat,
                     positive=a.positive)
        if fn == "negative":
            return E("un", [a], {"fn": "negative", "form": "np"}, a.shape, dparams=a.dparams)
        if fn == "copy":
            if a.pyfloat:
                return self.unary_node("tanh", a)
            return E("copy", [a], shape=a.shape, dparams=a.dparams, positive=a.positive)
        if fn == "scale":
            return self.bin_node(self.ch.choice(["*", "/"]), a, self.const(positive=True))
        if fn in ("log", "sqrt"):
            a = self.positive(a)
        if fn == "exp":
            a = self.unary_node("tanh", a) if self.ch.chance(0.5) else a
        return self.unary_node(fn, a)

    def _binary(self, depth):
        a = self.expr(depth - 1)
        b = self.other_operand(a, depth)
        sym = self.ch.choice(["+", "-", "*", "/", "+", "*"])
        if sym == "/" and self.ch.chance(0.7):
            b = self.positive(b)
        if self.ch.chance(0.4):
            a, b = b, a
            if sym == "/" and not b.positive and self.ch.chance(0.7):
                b = self.positive(b)
        out = self.bin_node(sym, a, b)
        return out if out.shape is not None else None

    def _pow(self, depth):
        a = self.expr(depth - 1)
        p = self.ch.choice(["2", "3", "2", "1", "0", "-1", "0.5", "1.5", "-0.5", "2.0", "ARRAY", "RBASE"])
        if p == "RBASE":  # a constant base: d/dx c ** x = log(c) c ** x
            base = self.ch.choice(["2.0", "0.5", "3"])
            return E("rpow", [self.unary_node("tanh", a)], {"base": base}, a.shape, positive=True,
                     dparams=a.dparams)
        if p == "ARRAY":  # an array exponent
            b = self.other_operand(a, depth)
            b = self.unary_node("tanh", b)
            base = self.positive(a)
            return E("apow", [base, b], {}, broadcast(base.shape, b.shape), positive=True,
                     dparams=base.dparams | b.dparams)
        if p in ("0.5", "1.5", "-0.5", "-1") and self.ch.chance(0.8 if p == "-1" else 1.0):
            a = self.positive(a)
        elif p == "-1":
            p = "-1.0"  # an integer array ** -1 is an error in NumPy; ** -1.0 is not
        if p == "-1" and (any(q.intvalued and q.name in a.dparams for q in self.params) or
                          self.helper is not None or self.loop is not None):
            p = "-1.0"  # (t ** 2 + 3) ** -1 with t passed as integers, too (maybe, in a helper or loop)
        return self.pow_node(a, p)

    def _maxmin(self, depth):
        a = self.expr(depth - 1)
        fn = self.ch.choice(["maximum", "minimum"])
        b = self.const() if self.ch.chance(0.35) else self.other_operand(a, depth)
        if b.op == "const" and self.ch.chance(0.5):
            b = E("const", attrs={"text": "0.0"}, shape=(), pyfloat=True)
        if self.ch.chance(0.4):
            a, b = b, a
        return E("mm", [a, b], {"fn": fn}, broadcast(a.shape, b.shape), dparams=a.dparams | b.dparams)

    def _where(self, depth):
        a = self.expr(depth - 1)
        r = self.ch.int(0, 3)
        if r == 0:
            b = E("const", attrs={"text": "0.0"}, shape=(), pyfloat=True)
        elif r == 1:  # leaky-relu style
            b = self.bin_node("*", E("const", attrs={"text": "0.1"}, shape=(), pyfloat=True), a)
        else:
            b = self.other_operand(a, depth)
        shape = broadcast(a.shape, b.shape)
        if shape is None:
            return None
        cond = self.condition(shape)
        if cond is None:
            return None
        if self.ch.chance(0.5):
            a, b = b, a
        full = broadcast(shape, cond.shape)
        return E("where", [cond, a, b], {}, full, dparams=a.dparams | b.dparams)

    def condition(self, shape):
        """A boolean array that broadcasts into ``shape``."""
        r = self.ch.int(0, 5)
        if r == 0 and self.exotic:  # a mask parameter
            mshape = self.compatible_shape(shape)
            if broadcast(shape, mshape) != shape:
                mshape = shape
            name = self.fresh_name(["mask", "m", "keep", "sel"])
            fixed = self._bools(self.concrete_shape(mshape))
            p = Param(name, mshape, "bool", fixed=fixed)
            self.params.append(p)
            return self._leaf(name, p)
        live = [v for _, v in self.pool if v.kind == "float" and broadcast(shape, v.shape) == shape]
        if live:
            v = self.ch.choice(live)
        else:
            cshape = self.compatible_shape(shape)
            v = self.new_param(shape=cshape if broadcast(shape, cshape) == shape else shape)
        op = self.ch.choice([">", "<", ">=", "<="])
        threshold = self.ch.choice(["0.0", "0.0", "0.3", "-0.2", "0"])
        # a comparison of a Python float is a Python bool, and ~True == -2 is truthy: not the
        # mask a reader expects (and not gradgen's business), so ~ is kept to arrays
        cond = E("cmp", [v], {"op": op, "t": threshold}, v.shape, kind="bool", pyfloat=v.pyfloat)
        if r == 5:
            other = self.condition(shape)
            if other is not None and other.op == "cmp" and broadcast(cond.shape, other.shape) is not None:
                cond = E("maskop", [cond, other], {"op": self.ch.choice(["&", "|"])},
                         broadcast(cond.shape, other.shape), kind="bool")
        elif r == 4 and not cond.pyfloat:
            cond = E("maskop", [cond], {"op": "~"}, cond.shape, kind="bool")
        return cond

    def _bools(self, shape):
        n = math.prod(shape)
        bits = [self.ch.chance(0.5) for _ in range(n)]
        return np.array(bits, dtype=bool).reshape(shape)

    def concrete_shape(self, shape):
        return tuple(self.length(d) for d in shape)

    def _reduce(self, depth):
        a = self.expr(depth - 1)
        fn = self.ch.choice(["sum", "mean", "max", "min", "sum", "mean"])
        form = "method" if self.ch.chance(0.4) and not a.pyfloat else "fn"
        if form == "fn" and fn in ("max", "min") and self.ch.chance(0.3):
            fn = "a" + fn
        rank = len(a.shape)
        r = self.ch.int(0, 4) if rank else 0
        if r == 0:
            axis = None
        elif r <= 2:
            axis = self.ch.int(-rank, rank - 1)
        else:
            axes = [ax for ax in range(rank) if self.ch.chance(0.5)] or [0]
            if self.ch.chance(0.3):
                axes = axes[::-1]
            axis = tuple(ax - rank if self.ch.chance(0.3) else ax for ax in axes)
        keepdims = self.ch.chance(0.4)
        positional = axis is not None and self.ch.chance(0.2)
        if axis is None:
            norm = tuple(range(rank))
        else:
            norm = tuple(sorted(ax % rank for ax in (axis if isinstance(axis, tuple) else (axis,))))
        shape = tuple((ONE if keepdims else None) if i in norm else d for i, d in enumerate(a.shape))
        shape = tuple(d for d in shape if d is not None)
        return E("red", [a], {"fn": fn, "axis": axis, "keepdims": keepdims, "form": form,
                              "positional": positional}, shape, dparams=a.dparams,
                 positive=a.positive and fn != "sum" or (a.positive and fn == "sum"))

    def _matmul(self, depth):
        a = self.expr(depth - 1)
        if a.pyfloat or len(a.shape) == 0:
            if self.exotic and self.ch.chance(0.3):  # np.dot with a scalar is a product
                b = self.leaf(pred=lambda v: 1 <= len(v.shape) <= 2 and not v.pyfloat)
                return E("mm_prod", [a, b], {"form": "dot"}, b.shape, dparams=a.dparams | b.dparams)
            return None
        rank = len(a.shape)
        forms = ["@", "@", "matmul", "dot", ".dot", "outer"]
        form = self.ch.choice(forms)
        if form == "outer":
            b = self.leaf(pred=lambda v: not v.pyfloat and len(v.shape) <= 2)
            shape = (_prod(a.shape) if a.shape else ONE, _prod(b.shape) if b.shape else ONE)
            if self.size(shape) > MAX_SIZE:
                return None
            out = E("outer", [a, b], {}, shape, dparams=a.dparams | b.dparams)
            return out
        if form in ("dot", ".dot") and rank > 2:
            form = "@"
        k = a.shape[-1]
        right = self.ch.chance(0.25)  # a on the right: (.., m, k') @ a
        if right:
            if rank == 1:
                bshape = self.ch.choice([(a.shape[0],), (self.dim(False), a.shape[0])])
            else:
                kk = a.shape[-2]
                bshape = (self.dim(False), kk) if self.ch.chance(0.7) or rank > 2 else (kk,)
        else:
            if rank == 1:
                bshape = self.ch.choice([(k,), (k, self.dim(False))])
            else:
                bshape = self.ch.choice([(k,), (k, self.dim(False)), (k, self.dim(False))])
                if rank == 2 and form not in ("dot", ".dot") and self.ch.chance(0.15):
                    bshape = (self.dim(False), k, self.dim(False))  # batched
        if form in ("dot", ".dot") and len(bshape) > 2:
            form = "@"
        same = [v for _, v in self.pool if v.kind == "float" and v.shape == bshape and not v.pyfloat]
        b = self.ch.choice(same) if same and self.ch.chance(0.5) else self.new_param(shape=bshape)
        x, y = (b, a) if right else (a, b)
        shape = _matmul_shape(x.shape, y.shape)
        if shape is None:
            return None
        if form == ".dot" and x.pyfloat:
            form = "dot"
        return E("matmul", [x, y], {"form": form}, shape, dparams=a.dparams | b.dparams)

    def _shape(self, depth):
        a = self.expr(depth - 1)
        if a.pyfloat:
            return None
        kind = self.ch.choice(["T", "transpose", "reshape", "reshape", "copy"])
        rank = len(a.shape)
        if kind == "copy":
            return E("copy", [a], shape=a.shape, dparams=a.dparams, positive=a.positive)
        if kind == "T":
            return E("T", [a], {}, a.shape[::-1], dparams=a.dparams, positive=a.positive)
        if kind == "transpose":
            perm = list(range(rank))
            for i in range(rank - 1, 0, -1):
                j = self.ch.int(0, i)
                perm[i], perm[j] = perm[j], perm[i]
            form = self.ch.choice(["np", "np_axes", "method_tuple", "method_args"])
            if rank == 0:
                form = "np"
            return E("transpose", [a], {"perm": tuple(perm), "form": form},
                     a.shape[::-1] if form == "np" else tuple(a.shape[i] for i in perm),
                     dparams=a.dparams, positive=a.positive)
        return self._reshape(a)

    def _reshape(self, a):
        rank = len(a.shape)
        named = a.op == "ref"
        forms = ["flat", "row", "literal"] + (["lead", "addone", "passive"] if named and rank >= 1 else [])
        form = self.ch.choice(forms)
        total = self.size(a.shape)
        if form == "flat":
            return E("reshape", [a], {"form": form}, (_prod(a.shape),), dparams=a.dparams)
        if form == "row":
            return E("reshape", [a], {"form": form}, (ONE, _prod(a.shape)), dparams=a.dparams)
        if form in ("lead", "passive"):
            shape = (a.shape[0], _prod(a.shape[1:]))
            attrs = {"form": form}
            if form == "passive":
                n = self.fresh_name(["n", "batch", "rows", "nb"])
                r = self.ch.int(0, 2 if rank >= 2 else 1)
                if r == 1 and self.hostile:
                    r = 0
                if r == 0:
                    self.stmts.append(("passive", n, f"{a.attrs['name']}.shape[0]"))
                elif r == 1:
                    self.stmts.append(("passive", n, f"len({a.attrs['name']})"))
                else:  # n, *rest = ... is refused; unpack the whole shape
                    rest = [self.fresh_name(["d", "m", "k_", "cols"]) for _ in range(rank - 1)]
                    self.stmts.append(("passive", ", ".join([n] + rest), f"{a.attrs['name']}.shape"))
                attrs["n"] = n
            return E("reshape", [a], attrs, shape, dparams=a.dparams)
        if form == "addone":
            return E("reshape", [a], {"form": form}, a.shape + (ONE,), dparams=a.dparams)
        # literal numbers
        factors = _factorize(total, self.ch)
        minus = self.ch.int(-1, len(factors) - 1) if factors else -1
        # gradgen reads a literal 1 as 1, but the -1 entry as the product of the input's dims
        shape = tuple(self.anon_dim(f, one=i != minus or not self.annotated) for i, f in enumerate(factors))
        return E("reshape", [a], {"form": "literal", "dims": factors, "minus": minus}, shape,
                 dparams=a.dparams)

    def _slice_of(self, d):
        """A slice along an axis of length d, as written between brackets, and the length of
        what it picks (d itself when it picks the whole axis in order)."""
        n = self.length(d)
        start = self.ch.int(0, n - 1)
        stop = self.ch.int(start + 1, n)
        step = self.ch.choice([1, 1, 1, 2, -1])
        if step == -1:
            text, length = "::-1", n
        elif step == 2:
            text, length = f"{start or ''}::2", len(range(start, n, 2))
        else:
            text = f"{start or ''}:{'' if stop == n else stop}"
            if self.ch.chance(0.3) and stop < n:
                text = f"{start or ''}:{stop - n}"  # a negative stop
            length = stop - start
        return text, d if length == n and step == 1 else self.anon_dim(length)

    def _index(self, depth):
        a = self.expr(depth - 1)
        if a.pyfloat or not a.shape:
            return None
        rank = len(a.shape)
        k = self.ch.int(0, rank - 1)
        n = self.length(a.shape[k])
        lead = [":"] * k
        kind = self.ch.choice(["int", "slice", "slice", "newaxis", "array", "array", "mask", "list",
                               "ellipsis", "two"])
        if kind == "ellipsis" and rank >= 2:
            i = self.ch.int(-n, n - 1) if self.ch.chance(0.5) else None
            k = rank - 1
            n = self.length(a.shape[k])
            if i is None or not -n <= i < n:
                i = n - 1
            return E("index", [a], {"text": f"..., {i}"}, a.shape[:-1], dparams=a.dparams)
        if kind in ("int", "ellipsis"):
            i = self.ch.int(-n, n - 1)
            return E("index", [a], {"text": ", ".join(lead + [str(i)])}, a.shape[:k] + a.shape[k + 1:],
                     dparams=a.dparams)
        if kind == "slice":
            text, d = self._slice_of(a.shape[k])
            return E("index", [a], {"text": ", ".join(lead + [text])}, a.shape[:k] + (d,) + a.shape[k + 1:],
                     dparams=a.dparams)
        if kind == "newaxis":
            k = self.ch.int(0, rank)
            return E("index", [a], {"text": ", ".join([":"] * k + ["None"])}, a.shape[:k] + (ONE,) + a.shape[k:],
                     dparams=a.dparams)
        if kind == "mask" and self.exotic:
            mask = self._bools((n,))
            if not mask.any():
                mask[self.ch.int(0, n - 1)] = True
            name = self.fresh_name(["keep", "mask", "rows", "sel"])
            p = Param(name, (a.shape[k],), "bool", fixed=mask)
            self.params.append(p)
            d = self.anon_dim(int(mask.sum()))
            return E("index", [a, self._leaf(name, p)], {"text": ", ".join(lead + ["{1}"])},
                     a.shape[:k] + (d,) + a.shape[k + 1:], dparams=a.dparams)
        if kind == "list":
            m = self.ch.int(1, 4)
            items = [self.ch.int(-n, n - 1) if self.ch.chance(0.2) else self.ch.int(0, n - 1) for _ in range(m)]
            if self.ch.chance(0.5):
                cname = self.ch.choice(["IDX", "ROWS", "PICK"])
                while cname in self.constants:
                    cname += "_"
                self.constants[cname] = items
                text = cname
            else:
                text = repr(items)
            return E("index", [a], {"text": ", ".join(lead + [text])},
                     a.shape[:k] + (self.anon_dim(m),) + a.shape[k + 1:], dparams=a.dparams)
        # an integer index array parameter (an embedding lookup when k == 0)
        ishape = (self.dim(allow_one=False),) if self.ch.chance(0.75) else (self.dim(False), self.dim(False))
        if self.size(ishape) > 12:
            ishape = ishape[:1]
        fixed = np.array([self.ch.int(-n, -1) if self.ch.chance(0.15) else self.ch.int(0, n - 1)
                          for _ in range(self.size(ishape))], dtype=np.int64)  # negative ones too
        fixed = fixed.reshape(self.concrete_shape(ishape))
        name = self.fresh_name(["idx", "words", "ids", "rows", "cols", "j"])
        p = Param(name, ishape, "int", fixed=fixed)
        self.params.append(p)
        if kind == "two" and rank >= 2 and k == 0:
            n2 = self.length(a.shape[1])
            fixed2 = np.array([self.ch.int(0, n2 - 1) for _ in range(fixed.size)]).reshape(fixed.shape)
            name2 = self.fresh_name(["jdx", "cols", "k2"])
            p2 = Param(name2, ishape, "int", fixed=fixed2)
            self.params.append(p2)
            return E("index", [a, self._leaf(name, p), self._leaf(name2, p2)], {"text": "{1}, {2}"},
                     ishape + a.shape[2:], dparams=a.dparams)
        return E("index", [a, self._leaf(name, p)], {"text": ", ".join(lead + ["{1}"])},
                 a.shape[:k] + ishape + a.shape[k + 1:], dparams=a.dparams)

    def _join(self, depth):
        a = self.expr(depth - 1)
        if a.pyfloat:
            return None
        fn = self.ch.choice(["concatenate", "stack"])
        rank = len(a.shape)
        if fn == "concatenate" and rank == 0:
            fn = "stack"
        nparts = self.ch.choice([2, 2, 3])
        if fn == "stack":
            axis = self.ch.int(-(rank + 1), rank)
            parts = [a]
            for _ in range(nparts - 1):
                r = self.ch.int(0, 2)
                same = [v for _, v in self.pool if v.shape == a.shape and v.kind == "float" and not v.pyfloat]
                if r == 0:
                    parts.append(a)
                elif r == 1 and same:
                    parts.append(self.ch.choice(same))
                else:
                    parts.append(self.new_param(shape=a.shape, pyfloat=False))
            perm = self.ch.int(0, len(parts) - 1)
            parts[0], parts[perm] = parts[perm], parts[0]
            ax = axis % (rank + 1)
            shape = a.shape[:ax] + (Dim(len(parts)),) + a.shape[ax:]
            return E("join", parts, {"fn": fn, "axis": axis, "explicit": True}, shape,
                     dparams=frozenset().union(*[p.dparams for p in parts]))
        axis = self.ch.int(-rank, rank - 1)
        ax = axis % rank
        parts = [a]
        total = self.length(a.shape[ax])
        for _ in range(nparts - 1):
            r = self.ch.int(0, 2)
            if r == 0:
                parts.append(a)
                total += self.length(a.shape[ax])
            else:
                d = self.dim(allow_one=True)
                shape = a.shape[:ax] + (d,) + a.shape[ax + 1:]
                parts.append(self.new_param(shape=shape, pyfloat=False))
                total += self.length(d)
        shape = a.shape[:ax] + (self.anon_dim(total),) + a.shape[ax + 1:]
        explicit = axis != 0 or self.ch.chance(0.5)
        return E("join", parts, {"fn": fn, "axis": axis, "explicit": explicit}, shape,
                 dparams=frozenset().union(*[p.dparams for p in parts]))

    # -- helper functions and loops (the extended grammar): gradgen writes them out ------------

    def _enter(self, helper):
        """Draw ``helper``'s body: its own scope (names, live values, statements), no loop."""
        frame = (self.pool, self.stmts, self.taken, self.helper, self.loop, self.loop_seq)
        self.pool, self.stmts, self.taken, self.helper = [], helper.stmts, helper.taken, helper
        self.loop = self.loop_seq = None
        return frame

    def _leave(self, frame):
        self.pool, self.stmts, self.taken, self.helper, self.loop, self.loop_seq = frame

    def _nesting(self):
        n, h = 0, self.helper
        while h is not None:
            n, h = n + 1, h.parent
        return n

    def _has_default(self, name):
        params = self.helper.params if self.helper is not None else self.params
        return any(p.name == name and p.default is not None for p in params)

    def _add_param(self, helper, name, arg, fixed=False):
        """A parameter of ``helper`` a call binds to ``arg``. The body reads it with a
        placeholder for dparams, replaced by the argument's at each call."""
        helper.taken.add(name)
        dparams = frozenset([f"{helper.name}:{len(helper.params)}"]) if arg.kind == "float" else frozenset()
        value = E("ref", attrs={"name": name}, shape=arg.shape, kind=arg.kind, positive=arg.positive,
                  dparams=dparams, pyfloat=arg.pyfloat)
        helper.params.append(_HParam(name, value, arg, fixed=fixed))
        return value

    def _pass_in(self, name, p):
        """A parameter of f created while a helper's body is drawn (new_param, an index array,
        a mask, a drawn matrix): f passes it in, through every helper between, and the body
        reads a parameter of its own called ``name``."""
        if name in self.f_taken:
            p.name = self.fresh_name([name], taken=self.f_taken)
        else:
            self.f_taken.add(name)
        ref = E("ref", attrs={"name": p.name}, shape=p.shape, kind=p.kind, positive=p.positive,
                dparams=frozenset([p.name]) if p.kind == "float" else frozenset(), pyfloat=p.pyfloat)
        chain, h = [], self.helper
        while h is not None:
            chain.append(h)
            h = h.parent
        fixed = p.kind != "float" or p.matrix is not None
        for h in reversed(chain):  # from the helper f calls inwards
            if h is self.helper:
                hname = name
            elif p.name not in h.taken and self.ch.chance(0.5):
                hname = p.name
            else:
                hname = self.fresh_name(_PARAM_NAMES, taken=h.taken)
            ref = self._add_param(h, hname, ref, fixed=fixed)
        return ref

    def _helper_default(self):
        """A helper's parameter with a literal default: a call leaves it out or passes another
        positive literal, by position or by keyword."""
        defaults = [p for p in self.helper.params if p.default is not None]
        if defaults:
            return defaults[0].value
        name = self.fresh_name(["scale", "alpha", "temperature", "eps_", "gain"])
        value = E("ref", attrs={"name": name}, shape=(), kind="float", positive=True, pyfloat=True)
        p = _HParam(name, value, default=self.ch.choice(["0.5", "2.0", "1.5", "SCALE"]))
        if p.default == "SCALE":  # worked out where the function is defined
            self.constants["SCALE"] = 0.75
        if self.annotated and self.ch.chance(0.5):
            p.annotation = "float"
        self.helper.params.append(p)
        return value

    def _can_define(self):
        return self._nesting() < 2 and len(self.helper_names) < MAX_HELPERS

    def _helper(self, depth, first):
        """A call to a function of the module: a new one, drawn from the grammar over its own
        parameters (the first bound to ``first``), or one drawn before, called again with
        other values."""
        again = [h for h in self.helpers if h.parent is self.helper and h.reusable]
        if again and self.ch.chance(0.5):
            return self._deliver(self._call_again(self.ch.choice(again)))
        if not self._can_define():
            return None
        args = [first] + [self.expr(depth - 1) if depth > 1 and self.ch.chance(0.3) else self.leaf()
                          for _ in range(self.ch.choice([0, 1, 1, 2]))]
        multi = self.ch.chance(0.3)
        helper = self._define(args, lambda refs: self._helper_body(depth, multi))
        out = self._deliver(self._invoke(helper))
        if not multi and helper.reusable and self.ch.chance(0.2):  # g(x, W) + g(h, W)
            again = self._call_again(helper)
            both = self.bin_node(self.ch.choice(["+", "-", "*"]), out, again)
            if self.ok_shape(both.shape):
                return both
        return out

    def _define(self, args, build):
        """A new helper whose parameters the call binds to ``args``; ``build(refs)`` draws its
        body (refs: the parameters as it reads them) and returns its results."""
        name = self.ch.choice([n for n in _HELPER_NAMES if n not in self.helper_names])
        self.helper_names.add(name)  # taken now: a helper its body defines needs another name
        helper = _Helper(name, self.helper, set())
        if self.annotated and len(self.named) >= 2 and self.ch.chance(0.4):  # A in f is B in the helper
            helper.dims = dict(zip(self.named, self._shuffled(self.named)))
        frame = self._enter(helper)
        try:
            refs = []
            for a in args:
                own = a.attrs["name"] if a.op == "ref" else None
                if own is not None and own not in self.taken and self.ch.chance(0.4):
                    pname = own  # def dense(x, W) called as dense(x, W)
                else:
                    pname = self.fresh_name(_PARAM_NAMES)  # maybe one of f's other names
                ref = self._add_param(helper, pname, a)
                self.pool.append((pname, ref))
                refs.append(ref)
            helper.results = build(refs)
        finally:
            self._leave(frame)
        helper.params = [p for p in helper.params if p.default is None] + \
            [p for p in helper.params if p.default is not None]
        if self.annotated:
            for p in helper.params:
                if p.default is None and self.ch.chance(0.4):
                    kind = {"float": "f", "int": "i", "bool": "b"}[p.value.kind]
                    p.annotation = _annotation_text(p.value.shape, kind, helper.dims)
        self.helpers.append(helper)
        return helper

    def _helper_body(self, depth, multi):
        inner = max(depth - 1, 1)
        if self.ch.chance(0.12):
            self._loop(1)
        for _ in range(self.ch.choice([0, 0, 1, 2])):
            if self._can_define() and self.ch.chance(0.25):  # a helper calling another
                value = self._helper(inner, self.leaf())
            else:
                value = self.expr(self.ch.int(1, inner + 1))
            if value is None or value.op in ("ref", "const"):
                value = self._unary(1)
            self.bind(value)
        results = []
        for _ in range(2 if multi else 1):
            value = self.expr(self.ch.int(1, inner + 1))
            if value.op == "const":
                value = self._unary(1)
            results.append(value)
        if self.ch.chance(0.25):  # def g(x, scale=0.5): ... * scale
            k = self.ch.int(0, len(results) - 1)
            results[k] = self.bin_node("*", results[k], self._helper_default())
        return results

    def _call_again(self, helper):
        """``helper`` called again: live values (or new parameters) of its parameters' shapes."""
        args = {}
        for p in helper.params:
            if p.default is not None or p.fixed:
                continue
            want = p.value
            live = [v for _, v in self.pool if v.kind == "float" and v.shape == want.shape and
                    v.pyfloat == want.pyfloat and (v.positive or not want.positive)]
            if live and not self.ch.chance(0.2):
                args[p.name] = self.ch.choice(live)
            else:
                args[p.name] = self.new_param(shape=want.shape, positive=want.positive, pyfloat=want.pyfloat)
        return self._invoke(helper, args)

    def _invoke(self, helper, args=None):
        """The call (an "fcall" node): the first arguments by position, the rest by keyword in
        any order, a parameter with a default left out or given a literal. With several
        results: (the call, [(shape, dparams, positive, pyfloat) of each result])."""
        args = args or {}
        required = [p for p in helper.params if p.default is None]
        m = len(required) if self.ch.chance(0.6) else self.ch.int(0, len(required))
        values, texts, keywords, mapping = [], [], [], {}
        positional = True
        for j, p in enumerate(helper.params):
            if p.default is None:
                a = args.get(p.name, p.arg)
                values.append(a)
                slot = "{%d}" % (len(values) - 1)
                for d in p.value.dparams:
                    mapping[d] = a.dparams
                if j < m:
                    texts.append(slot)
                else:
                    keywords.append(f"{p.name}={slot}")
                    positional = False
                continue
            r = self.ch.int(0, 3)
            if r < 2:
                positional = False  # left out
                continue
            literal = self.ch.choice(["0.5", "2.0", "1.5", "3", "SCALE"])
            if literal == "SCALE":
                self.constants["SCALE"] = 0.75
            if positional and r == 2:
                texts.append(literal)
            else:
                keywords.append(f"{p.name}={literal}")
                positional = False
        texts += self._shuffled(keywords)

        def dparams(dp):
            return frozenset().union(*[mapping.get(d, frozenset([d])) for d in dp])

        attrs = {"fn": helper.name, "texts": texts, "multi": len(helper.results) > 1}
        if len(helper.results) == 1:
            r = helper.results[0]
            return E("fcall", values, attrs, r.shape, positive=r.positive, dparams=dparams(r.dparams),
                     pyfloat=r.pyfloat)
        return E("fcall", values, attrs), [(r.shape, dparams(r.dparams), r.positive, r.pyfloat)
                                           for r in helper.results]

    def _deliver(self, call):
        """A call's value in an expression: one result as it is; several unpacked into names
        (one maybe '_'), then one of them or two combined."""
        if isinstance(call, E):
            return call
        call, infos = call
        # new names: rebinding one that an expression being drawn reads would change it
        names = [self.fresh_name(_LOCAL_NAMES) for _ in infos]
        if self.ch.chance(0.2):
            names[self.ch.int(0, len(names) - 1)] = "_"
        self.stmts.append(("unpack", names, call))
        refs = [self._result(n, *info) for n, info in zip(names, infos) if n != "_"]
        if len(refs) >= 2 and self.ch.chance(0.4):
            p, q = self._shuffled(refs)[:2]
            out = self.bin_node(self.ch.choice(["+", "-", "*"]), p, q)
            if out.shape is not None and self.ok_shape(out.shape):
                return out
        return self.ch.choice(refs)

    def _parallel(self, depth):
        """Two names bound at once, every value read first: a swap (a, b = b, a) or two new
        values (a, b = <e1>, <e2>, where e2 may read the a being rebound)."""
        named = [(n, v) for n, v in self.pool if n and v.op == "ref" and not self._has_default(n)]
        if len(named) >= 2 and self.ch.chance(0.4):
            (n1, v1), (n2, v2) = self._shuffled(named[-5:])[:2]
            names, values = [n1, n2], [v2, v1]
        else:
            values = []
            for _ in range(2):
                value = self.expr(depth)
                values.append(self._unary(1) if value.op in ("ref", "const") else value)
            names = [self.target_name()]
            second = self.target_name()
            names.append(second if second != names[0] else self.fresh_name(_LOCAL_NAMES))
        self.stmts.append(("unpack", names, E("tuple", values)))
        for name, v in zip(names, values):
            self._result(name, v.shape, v.dparams, v.positive, v.pyfloat)

    # loops

    def _range_spec(self):
        """A loop's values and its range(...) text: a literal count, a module constant, a
        local number, a dimension annotated with a number, range(a, b), a negative step."""
        k = self.ch.choice([1, 2, 2, 3, 3, 4])
        r = self.ch.int(0, 11)
        if r < 5:
            return list(range(k)), f"range({k})"
        if r < 7:
            cname = self.ch.choice(_STEP_CONSTANTS)
            while self.constants.get(cname, k) != k:
                cname += "_"
            self.constants[cname] = k
            return list(range(k)), f"range({cname})"
        if r == 7:
            n = self.fresh_name(["n", "steps", "n_steps"])
            self.stmts.append(("passive", n, str(k)))
            return list(range(k)), f"range({n})"
        if r == 8 and self.annotated and self.helper is None:  # def f(xs: "f[3, B]"): range(xs.shape[0])
            d = Dim(k)
            rest = self.random_shape(0, 2)
            shape = (d,) + rest if self.ok_shape((d,) + rest) else (d,)
            name = self.fresh_name(_PARAM_NAMES)
            p = Param(name, shape, "float", pinned=True)
            self.params.append(p)
            self.loop_seq = self._leaf(name, p)
            self.pool.append((name, self.loop_seq))
            if self.ch.chance(0.5):
                n = self.fresh_name(["n", "steps", "n_steps"])
                self.stmts.append(("passive", n, f"{name}.shape[0]"))
                return list(range(k)), f"range({n})"
            return list(range(k)), f"range({name}.shape[0])"
        if r <= 9:
            a = self.ch.int(1, 2)
            return list(range(a, a + k)), f"range({a}, {a + k})"
        step = self.ch.choice([-1, -1, -2])
        start = -step * (k - 1) + self.ch.int(0, 1)
        stop = start + step * k
        return list(range(start, stop, step)), f"range({start}, {stop}, {step})"

    def _loop_term(self):
        """A value read with the loop variable: x[i], x[i:i + 2] (along an axis long enough),
        or a value scaled or shifted by i."""
        var, values = self.loop
        top = max(values)
        r = self.ch.int(0, 9)
        if self.loop_seq is not None and self.ch.chance(0.8):
            v = self.loop_seq
            return E("index", [v], {"text": var}, v.shape[1:], dparams=v.dparams)
        if r < 7:
            width = 2 if r >= 5 else 1
            need = top + width
            found = [(v, k) for _, v in self.pool if v.op == "ref" and v.kind == "float" and not v.pyfloat
                     for k, d in enumerate(v.shape) if self.length(d) >= need]
            if found and self.ch.chance(0.6):
                v, k = self.ch.choice(found)
            else:
                long = [n for n in self.named if self.sizes[n] >= need]
                d = Dim(1, (self.ch.choice(long),)) if long and self.ch.chance(0.5) else \
                    self.anon_dim(need + self.ch.int(0, 1))
                rest = self.random_shape(0, 2)
                shape = (d,) + rest if self.ok_shape((d,) + rest) else (d,)
                v, k = self.new_param(shape=shape, pyfloat=False), 0
            lead = [":"] * k
            if width == 1:
                return E("index", [v], {"text": ", ".join(lead + [var])}, v.shape[:k] + v.shape[k + 1:],
                         dparams=v.dparams)
            return E("index", [v], {"text": ", ".join(lead + [f"{var}:{var} + 2"])},
                     v.shape[:k] + (self.anon_dim(2),) + v.shape[k + 1:], dparams=v.dparams)
        base = self.leaf()
        if r < 9:
            factor = E("const", attrs={"text": f"({var} + 1)"}, shape=(), positive=True, pyfloat=True)
            out = self.bin_node("*", base, factor)
            return self.unary_node("sin", out) if self.ch.chance(0.5) else out
        return self.bin_node("+", base, E("const", attrs={"text": f"(0.5 * {var})"}, shape=(), pyfloat=True))

    def _with_term(self, e, term):
        """``e``, made to read the loop's term if it does not."""
        if _mentions(e, term):
            return e
        shape = broadcast(e.shape, term.shape)
        if shape is not None and self.ok_shape(shape):
            return self.bin_node(self.ch.choice(["*", "+"]), e, term)
        return self.bin_node("+", e, self._red(term, "mean", None, False, "fn"))

    def _state_update(self, h, u):
        """The next state from the state ``h`` and an input ``u``: the shape of h, whatever u's."""
        if broadcast(h.shape, u.shape) != h.shape:  # (a mean: a sum fed back grows with each step)
            u = self._red(u, "mean", None, False, "fn")
        r = self.ch.int(0, 3)
        if r == 0 and h.shape:  # an RNN step
            k = h.shape[-1]
            w = self._operand((k, k), fresh=0.7)
            hw = E("matmul", [h, w], {"form": "@"}, h.shape, dparams=h.dparams | w.dparams)
            return self.unary_node("tanh", self.bin_node("+", hw, u))
        if r <= 1:  # residual
            half = E("const", attrs={"text": "0.5"}, shape=(), positive=True, pyfloat=True)
            return self.bin_node("+", h, self.bin_node("*", half, self.unary_node("tanh", u), form="op"))
        if r == 2:
            return self.unary_node("tanh", self.bin_node("+", h, u))
        decay = E("const", attrs={"text": "0.9"}, shape=(), positive=True, pyfloat=True)
        return self.bin_node("+", self.bin_node("*", h, decay), self.unary_node("sin", u))

    def _states(self, n, same=False):
        """``n`` states a loop carries (``same``: of one shape): live arrays (their names rebound
        by the loop, or copied to a new name first) or new parameters."""
        out = []
        for _ in range(n):
            live = [(name, v) for name, v in self.pool if name and v.op == "ref" and v.kind == "float" and
                    not v.pyfloat and v.shape and not self._has_default(name) and
                    name not in [o[0] for o in out] and (not same or not out or v.shape == out[0][1].shape)]
            if live and self.ch.chance(0.6):
                name, v = self.ch.choice(live[-4:])
            else:
                shape = out[0][1].shape if same and out else self.random_shape(1, 2)
                v = self.new_param(shape=shape, pyfloat=False)
                name = v.attrs["name"]
            if self.ch.chance(0.4) or not v.shape:
                name = self.fresh_name(["h", "state", "carry", "z", "hs"])
                self.stmts.append(("assign", name, v, None))
            out.append((name, v))
        return out

    def _loop(self, depth):
        """``for i in range(...)`` updating an accumulator (s = s + <term>) or a state of a fixed
        shape (h = np.tanh(h @ W + xs[i]), h = cell(h, xs[i]), h, c = cell(h, c, xs[i]))."""
        if "range" in self.taken or self.loop is not None:
            return False
        self.taken.add("range")  # a local called range would break the loop
        var = self.fresh_name(_LOOP_VARS)
        values, bound = self._range_spec()
        kind = self.ch.choice(["acc", "acc", "state", "state", "cell", "pair"])
        helper = self._can_define() and self.ch.chance(0.35)
        if kind == "cell" and not self._can_define():
            kind = "state"
        if kind == "acc":
            name = self.fresh_name(["acc", "total", "s", "run", "agg"])
            r = self.ch.int(0, 3)
            if r == 0:
                init = E("const", attrs={"text": "0.0"}, shape=(), pyfloat=True)
            elif r == 1:
                v = self.leaf()
                init = self.call("{np}.zeros_like({0})", [v], v.shape, dparams=frozenset())
            else:
                init = self.leaf()
            self.stmts.append(("assign", name, init, None))
            carried = []
        else:
            carried = self._states(1 if kind == "state" else 2, same=kind == "pair")
        outer, body = self.stmts, []
        self.stmts, self.loop = body, (var, values)
        try:
            refs = []
            for name_, v in carried:  # in the body a state is of its shape, of any sign; a marker
                # in its dparams tells what reads it (resolved after the loop)
                ref = E("ref", attrs={"name": name_}, shape=v.shape, dparams=v.dparams | {"@" + name_})
                self.pool = [(n, w) for n, w in self.pool if n != name_] + [(name_, ref)]
                refs.append(ref)
            term = self._loop_term()
            self.pool.append(("", term))
            for _ in range(self.ch.choice([0, 0, 1])):
                value = self.expr(depth)
                if value.op in ("ref", "const"):
                    value = self._unary(1)
                self.bind(value)
            used = any(_mentions(s[2], term) for s in body if s[0] in ("assign", "unpack"))
            if kind == "acc":
                if helper and self.ch.chance(0.5):  # s = s + g(xs[i], ...)
                    extra = [self.leaf()] if self.ch.chance(0.5) else []
                    e = self._deliver(self._invoke(self._define(
                        [term] + extra, lambda rs: [self._with_term(self.expr(depth), rs[0])])))
                else:
                    e = self.expr(depth)
                    e = e if used else self._with_term(e, term)
                shape = broadcast(init.shape, e.shape)
                if shape is None or not self.ok_shape(shape):
                    e = self._red(e, "mean", None, False, "fn")
                acc = E("ref", attrs={"name": name}, shape=init.shape, dparams=init.dparams,
                        positive=init.positive, pyfloat=init.pyfloat)
                sym = self.ch.choice(["+", "+", "-"])
                self.bind(self.bin_node(sym, acc, e) if self.ch.chance(0.7) else self.bin_node(sym, e, acc),
                          name=name)
            elif kind == "state" and not helper:
                u = self.expr(depth)
                self.bind(self._state_update(refs[0], u if used else self._with_term(u, term)),
                          name=carried[0][0])
            elif kind == "pair":  # h, g = g, np.tanh(g + h * xs[i]): both read before either is bound
                u = self.expr(depth)
                u = u if used else self._with_term(u, term)
                if not self.ok_shape(broadcast(u.shape, refs[0].shape)):
                    u = self._red(u, "mean", None, False, "fn")
                u = self.bin_node("+", u, refs[0])
                new = self._state_update(refs[1], u)
                names = [c[0] for c in carried]
                self.stmts.append(("unpack", names, E("tuple", [refs[1], new])))
                for name_, v in zip(names, (refs[1], new)):
                    self._result(name_, v.shape, v.dparams, v.positive, v.pyfloat)
            else:  # h = cell(h, xs[i], ...) or h, c = cell(h, c, xs[i], ...)
                n = len(refs)
                extra = [self.leaf()] if self.ch.chance(0.4) else []
                if self.ch.chance(0.25):  # cell(h, xs[i], i + 1): a number, in each iteration
                    extra.append(E("const", attrs={"text": f"{var} + 1"}, shape=(), positive=True,
                                   pyfloat=True))

                def build(rs):
                    out = []
                    for j in range(n):
                        u = self.expr(depth)
                        u = self._with_term(u, rs[n]) if j == 0 else u
                        new = self._state_update(rs[j], u)
                        if j < n - 1 and self.ch.chance(0.5):  # (a new name: rs must stay valid)
                            new = self.bind(new, name=self.fresh_name(_LOCAL_NAMES))
                        out.append(new)
                    return out

                call = self._invoke(self._define(refs + [term] + extra, build))
                if n == 1:
                    self.bind(call, name=carried[0][0])
                else:
                    call, infos = call
                    self.stmts.append(("unpack", [c[0] for c in carried], call))
                    for (name_, _), info in zip(carried, infos):
                        self._result(name_, *info)
        finally:
            self.stmts, self.loop, self.loop_seq = outer, None, None
            self.pool = [(n, v) for n, v in self.pool if n != ""]
        self.stmts.append(("for", var, bound, body))
        # what a state reads over all the iterations (a fixpoint), and so what each name the
        # body binds may read; the carried names come last in the pool
        bound_names = [t for s in body for t in _stmt_targets(s)]
        mine = {n: v for n, v in self.pool if n in bound_names}
        reads = {"@" + n: frozenset(v.dparams) for n, v in carried}

        def resolve(dparams):
            return frozenset(d for d in dparams if d not in reads).union(
                *[reads[d] for d in dparams if d in reads])

        changed = True
        while changed:
            changed = False
            for n, _ in carried:
                more = reads["@" + n] | resolve(mine[n].dparams)
                changed |= more != reads["@" + n]
                reads["@" + n] = more
        for v in mine.values():
            v.dparams = resolve(v.dparams)
        last = [c[0] for c in carried] + ([name] if kind == "acc" else [])
        self.pool = [(n, v) for n, v in self.pool if n not in mine] + \
            sorted(((n, v) for n, v in self.pool if n in mine), key=lambda item: item[0] in last)
        if self.ch.chance(0.15):  # after the loop its variable holds the last value
            _, v = self.pool[-1]
            factor = E("const", attrs={"text": f"({var} + 1)"}, shape=(), positive=True, pyfloat=True)
            self.bind(self.bin_node("*", v, factor))
        return True

    # -- statements ------------------------------------------------------------------------

    def run(self):
        for _ in range(self.ch.int(1, 3)):
            self.new_param()
        for _ in range(self.ch.int(1, 6)):
            if self.extended and self.ch.chance(0.035) and self._loop(self.ch.int(1, 2)):
                continue
            if self.extended and self.ch.chance(0.015):
                self._parallel(self.ch.int(1, 2))
                continue
            if self.ch.chance(0.1) and self._augmented():
                continue
            if self.ch.chance(0.08) and self._assigned_into():
                continue
            value = self.expr(self.ch.int(1, 3))
            if value.op in ("ref", "const"):
                value = self._unary(1)
            self.bind(value)
        self.finish()

    def _augmented(self) -> bool:
        """h += b (or -=, *=, /=) on a local float array: NumPy updates h in place, which gradgen
        reads as h = h + b when nothing else sees h's array, and refuses otherwise. b has at
        most h's shape, since an in-place result cannot grow."""
        own = {p.name for p in self.params}
        locals_ = [(n, v) for n, v in self.pool if n not in own and v.kind == "float" and self._owns(n) and
                   not any(q.intvalued and q.name in v.dparams for q in self.params)]  # h /= 2.0 on ints
        if not locals_:
            return False
        name, target = self.ch.choice(locals_[-4:])
        sym = self.ch.choice(["+", "-", "*", "/"])
        # a number or a parameter (of a trailing part of h's shape): never a float64 array made
        # inside f, which NumPy would compute with and cast back into a float32 h; gradgen's
        # h = h + b keeps the float64 (README, on augmented assignment)
        if target.pyfloat or self.ch.chance(0.4):
            b = self.const(positive=sym == "/")
        else:
            b = self.new_param(shape=tuple(target.shape[self.ch.int(0, len(target.shape)):]), positive=sym == "/")
        value = self.bin_node(sym, target, b, form="op")
        value.attrs["aug"] = True
        self.bind(value, name=name)
        return True

    def _assigned_into(self) -> bool:
        """h[index] = v on a local array h owns: an integer, a slice or a fixed mask along one
        axis, and v a number or a parameter shaped like (a trailing part of) what the index
        picks (one number under a mask)."""
        own = {p.name for p in self.params}
        locals_ = [(n, v) for n, v in self.pool if n not in own and v.kind == "float" and v.shape and
                   not v.pyfloat and self._owns(n) and  # 0.5 written into integers would be 0
                   not any(q.intvalued and q.name in v.dparams for q in self.params)]
        if not locals_:
            return False
        name, target = self.ch.choice(locals_[-4:])
        shape, rank = tuple(target.shape), len(target.shape)
        k = self.ch.int(0, rank - 1)
        n = self.length(shape[k])
        lead = [":"] * k
        kind = self.ch.choice(["int", "slice", "slice", "mask"])
        mask = None
        if kind == "int":
            text, picked = lead + [str(self.ch.int(-n, n - 1))], shape[:k] + shape[k + 1:]
        elif kind == "slice":
            part, d = self._slice_of(shape[k])
            text, picked = lead + [part], shape[:k] + (d,) + shape[k + 1:]
        else:
            bits = self._bools((n,))
            bits[self.ch.int(0, n - 1)] = True
            mname = self.fresh_name(["keep", "mask", "rows", "sel"])
            self.params.append(Param(mname, (shape[k],), "bool", fixed=bits))
            mask = self._leaf(mname, self.params[-1])
            text, picked = lead + [mname], ()
        if kind == "mask" or self.ch.chance(0.4):
            value = self.const()
        else:
            value = self.new_param(shape=tuple(picked[self.ch.int(0, len(picked)):]), pyfloat=False)
        self.stmts.append(("setitem", name, ", ".join(text), value, mask))
        ref = E("ref", attrs={"name": name}, shape=shape, kind="float", dparams=target.dparams | value.dparams)
        self.pool = [(m, v) for m, v in self.pool if m != name] + [(name, ref)]
        return True

    _NEW_ARRAYS = frozenset({"bin", "pow", "un", "neg", "red", "matmul", "mm", "mm_prod", "outer", "where",
                             "join", "rpow", "apow"})

    def _owns(self, name) -> bool:
        """Whether ``name`` last got a new array of its own (h = x @ W), so that h += b cannot
        change a parameter the harness passes read-only, or another name's array."""
        for stmt in reversed(self.stmts):
            if stmt[0] == "assign" and stmt[1] == name:
                return stmt[2].op in self._NEW_ARRAYS
            if stmt[0] == "setitem" and stmt[1] == name:
                continue  # the same array, still its own
            if name in _stmt_targets(stmt) or (stmt[0] == "passive" and stmt[1] == name):
                return False
        return False

    def target_name(self):
        if self.loop is not None:  # a name the body reads must keep its shape: no rebinding
            return self.fresh_name(_LOCAL_NAMES)
        if self.helper is not None:
            own = {p.name for p in self.helper.params}
            locals_ = [n for n, v in self.pool if n not in own]
            params = [p.name for p in self.helper.params if p.value.kind == "float" and p.default is None]
        else:
            locals_ = [n for n, v in self.pool if not any(p.name == n for p in self.params)]
            # not a parameter with a default: const() hands that out as the scalar it was
            params = [p.name for p in self.params if p.kind == "float" and p.default is None]
        r = self.ch.int(0, 9)
        if r == 0 and locals_:
            return self.ch.choice(locals_)  # reassigned
        if r == 1 and params:
            return self.ch.choice(params)  # a parameter rebound
        return self.fresh_name(_LOCAL_NAMES)

    def bind(self, value, name=None):
        name = name or self.target_name()
        annotation = None
        if self.annotated and self.ch.chance(0.2) and all(d.named for d in value.shape) and not value.pyfloat \
                and not value.attrs.get("aug"):
            annotation = _annotation_text(value.shape, "f", self.helper and self.helper.dims)
        self.stmts.append(("assign", name, value, annotation))
        self.pool = [(n, v) for n, v in self.pool if n != name]
        ref = E("ref", attrs={"name": name}, shape=value.shape, kind=value.kind, positive=value.positive,
                dparams=value.dparams, pyfloat=value.pyfloat)
        self.pool.append((name, ref))
        return ref

    def finish(self):
        last_name, last = self.pool[-1]
        r = self.ch.int(0, 9)
        if r < 4:  # return the array (or scalar) as it is
            self.output = last
        else:
            form = self.ch.choice(["sum", "mean", "sumsq", "dot", "methodsum"])
            if form == "sumsq":
                inner = self.pow_node(last, "2", form="op")
                out = E("red", [inner], {"fn": "sum", "axis": None, "keepdims": False, "form": "fn",
                                         "positional": False}, (), dparams=last.dparams)
            elif form == "dot":
                other = self.other_operand(last, 1)
                inner = self.bin_node("*", last, other, form="op")
                out = E("red", [inner], {"fn": "sum", "axis": None, "keepdims": False, "form": "fn",
                                         "positional": False}, (), dparams=inner.dparams)
            else:
                fn = "mean" if form == "mean" else "sum"
                out = E("red", [last], {"fn": fn, "axis": None, "keepdims": False,
                                        "form": "method" if form == "methodsum" and not last.pyfloat else "fn",
                                        "positional": False}, (), dparams=last.dparams)
            if r < 7:
                self.output = out
            else:
                self.output = self.bind(out, name=self.fresh_name(["J", "loss", "L", "cost"]))
        if not self.output.dparams:  # make the result depend on a parameter
            p = self.leaf(pred=lambda v: bool(v.dparams))
            total = E("red", [p], {"fn": "sum", "axis": None, "keepdims": False, "form": "fn",
                                   "positional": False}, (), dparams=p.dparams)
            self.output = self.bind(self.bin_node("+", self.output, total, form="op"))


def _stmt_targets(stmt):
    if stmt[0] == "assign":
        return [stmt[1]]
    if stmt[0] == "unpack":
        return [n for n in stmt[1] if n != "_"]
    if stmt[0] == "for":
        return [t for s in stmt[3] for t in _stmt_targets(s)]
    return []


def _draw_matrix(kind, shape, rng):
    """A stack of well-conditioned square matrices: symmetric positive definite (``spd``:
    B B^T / n + I / 2) or invertible with either sign of the determinant (``wellcond``:
    2 I + noise, a random row negated half the time)."""
    n = shape[-1]
    b = rng.standard_normal(shape)
    if kind == "spd":
        x = b @ np.swapaxes(b, -1, -2) / n + 0.5 * np.eye(n)
    else:
        x = 2.0 * np.eye(n) + 0.5 * b / np.sqrt(n)
        flip = rng.random(shape[:-2] + (n, 1)) < 0.5 / n
        x = np.where(flip, -x, x)
    return np.ascontiguousarray(x, dtype=np.float64)


def _exotic_layout(x, rng):
    """The same values in an unusual memory layout: generated code must not care."""
    r = rng.integers(0, 3)
    if r == 0:
        return np.asfortranarray(x)
    if r == 1:  # a strided view into a bigger array
        big = np.repeat(x, 2, axis=-1)
        return big[..., ::2]
    y = x.copy()
    y.setflags(write=False)
    return y


def _factorize(total, ch):
    """A random list of factors whose product is ``total`` (ones allowed)."""
    factors = []
    rest = total
    for _ in range(ch.int(1, 3)):
        divisors = [d for d in range(1, rest + 1) if rest % d == 0]
        d = ch.choice(divisors)
        factors.append(d)
        rest //= d
    if rest != 1:
        factors.append(rest)
    return factors


def _matmul_shape(a, b):
    if not a or not b:
        return None
    a2 = a if len(a) > 1 else (ONE,) + a
    b2 = b if len(b) > 1 else b + (ONE,)
    if a2[-1] != b2[-2]:
        return None
    batch = broadcast(a2[:-2], b2[:-2]) if (a2[:-2] or b2[:-2]) else ()
    if batch is None:
        return None
    out = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def _annotation_text(shape, kind, rename=None):
    """``"f[A, 2*B, 1, _]"``; ``rename`` maps dimension names (a helper's own names for them)."""
    rename = rename or {}
    dims = []
    for d in shape:
        if d.is_one:
            dims.append("1")
        elif not d.named:
            dims.append("_")
        else:
            names = [rename.get(f, f) for f in d.factors]
            dims.append("*".join(([str(d.coef)] if d.coef != 1 else []) + names))
    return f'"{kind}[{", ".join(dims)}]"'


# -- rendering -------------------------------------------------------------------------------

_CHECK_NP = "__fuzz_np__"
_CHECK_K = "__fuzz_k__"


class _Render:
    def __init__(self, np_alias, check):
        self.np = _CHECK_NP if check else np_alias
        self.check = check

    def __call__(self, e: E) -> str:
        text = getattr(self, f"r_{e.op}")(e, *[self(a) for a in e.args])
        # several results (np.split's, slogdet's, a helper's, a, b = b, a), each checked
        if self.check and (e.op in ("multi", "tuple") or e.op == "fcall" and e.attrs["multi"]):
            return f"{_CHECK_K}.vs({text})"
        if self.check and e.op not in ("ref", "const"):
            return f"{_CHECK_K}.v({text})"
        return text

    def r_ref(self, e):
        return e.attrs["name"]

    def r_call(self, e, *args):
        template = e.attrs["c"] if self.check else e.attrs["t"]
        return "(" + template.format(*args, np=self.np, K=_CHECK_K,
                                     sp="__fuzz_sp__." if self.check else "") + ")"

    r_multi = r_call  # a call with several results, unpacked by its statement

    def r_tuple(self, e, *parts):  # a, b = b, a
        return f"({', '.join(parts)})" if self.check else ", ".join(parts)

    def r_fcall(self, e, *args):  # a helper of the module (the check's instrumented copy, when checking)
        return f"{e.attrs['fn']}({', '.join(t.format(*args) for t in e.attrs['texts'])})"

    def r_const(self, e):
        text = e.attrs["text"]
        return f"({text})" if text.startswith("-") else text

    def r_neg(self, e, a):
        return f"(-{a})"

    def r_posop(self, e, a):
        return f"(+{a})"

    def r_un(self, e, a):
        fn, form = e.attrs["fn"], e.attrs["form"]
        if self.check:
            if fn in ("log", "sqrt", "abs"):
                return f"{_CHECK_K}.{fn}({a}, builtin={form == 'builtin'})"
            return f"{self.np}.{fn}({a})"
        if form == "builtin":
            return f"abs({a})"
        if form == "absolute":
            return f"{self.np}.absolute({a})"
        if form == "from":
            return f"{fn}({a})"
        return f"{self.np}.{fn}({a})"

    _FN = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}

    def r_bin(self, e, a, b):
        sym = e.attrs["sym"]
        if self.check and sym == "/":
            return f"{_CHECK_K}.div({a}, {b}, ufunc={e.attrs['form'] == 'fn'})"
        if e.attrs["form"] == "fn":
            return f"{self.np}.{self._FN[sym]}({a}, {b})"
        return f"({a} {sym} {b})"

    def r_pow(self, e, a):
        p = e.attrs["p"]
        if self.check:
            return f"{_CHECK_K}.pow({a}, {p}, ufunc={e.attrs['form'] == 'fn'})"
        if e.attrs["form"] == "fn":
            return f"{self.np}.power({a}, {p})"
        return f"({a} ** {p})"

    def r_rpow(self, e, a):
        return f"({e.attrs['base']} ** {a})"

    def r_apow(self, e, a, b):
        if self.check:
            return f"{_CHECK_K}.pow({a}, {b})"
        return f"({a} ** {b})"

    def r_mm(self, e, a, b):
        if self.check:
            return f"{_CHECK_K}.mm({self.np}.{e.attrs['fn']}, {a}, {b})"
        return f"{self.np}.{e.attrs['fn']}({a}, {b})"

    def r_where(self, e, c, a, b):
        return f"{self.np}.where({c}, {a}, {b})"

    def r_cmp(self, e, a):
        if self.check:
            return f"{_CHECK_K}.cmp({a}, {e.attrs['op']!r}, {e.attrs['t']})"
        return f"({a} {e.attrs['op']} {e.attrs['t']})"

    def r_maskop(self, e, *parts):
        if e.attrs["op"] == "~":
            return f"(~{parts[0]})"
        return f"({parts[0]} {e.attrs['op']} {parts[1]})"

    def r_red(self, e, a):
        fn, axis, keepdims = e.attrs["fn"], e.attrs["axis"], e.attrs["keepdims"]
        if self.check:
            return f"{_CHECK_K}.red({a}, {fn!r}, {axis!r}, {keepdims!r})"
        args = []
        if axis is not None:
            args.append(repr(axis) if e.attrs["positional"] else f"axis={axis!r}")
        if keepdims:
            args.append("keepdims=True")
        if e.attrs["form"] == "method":
            return f"{a}.{fn.lstrip('a') if fn in ('amax', 'amin') else fn}({', '.join(args)})"
        return f"{self.np}.{fn}({', '.join([a] + args)})"

    def r_matmul(self, e, a, b):
        form = e.attrs["form"]
        if form == "@":
            return f"({a} @ {b})"
        if form == "matmul":
            return f"{self.np}.matmul({a}, {b})"
        if form == "dot":
            return f"{self.np}.dot({a}, {b})"
        return f"{a}.dot({b})"

    def r_mm_prod(self, e, a, b):
        return f"{self.np}.dot({a}, {b})"

    def r_outer(self, e, a, b):
        return f"{self.np}.outer({a}, {b})"

    def r_copy(self, e, a):
        return f"{a}.copy()"

    def r_T(self, e, a):
        return f"{a}.T"

    def r_transpose(self, e, a):
        perm, form = e.attrs["perm"], e.attrs["form"]
        if form == "np":
            return f"{self.np}.transpose({a})"
        if form == "np_axes":
            return f"{self.np}.transpose({a}, {tuple(perm)!r})"
        if form == "method_tuple":
            return f"{a}.transpose({tuple(perm)!r})"
        return f"{a}.transpose({', '.join(map(str, perm))})" if perm else f"{a}.transpose()"

    def r_reshape(self, e, a):
        form = e.attrs["form"]
        if form == "flat":
            return f"{a}.reshape(-1)"
        if form == "row":
            return f"{self.np}.reshape({a}, (1, -1))"
        if form == "lead":
            return f"{a}.reshape({a}.shape[0], -1)"
        if form == "passive":
            return f"{a}.reshape({e.attrs['n']}, -1)"
        if form == "addone":
            return f"{a}.reshape({a}.shape + (1,))"
        dims = list(e.attrs["dims"])
        if e.attrs["minus"] >= 0:
            dims[e.attrs["minus"]] = -1
        return f"{a}.reshape({', '.join(map(str, dims))})"

    def r_index(self, e, a, *rest):
        text = e.attrs["text"].replace("{np}", self.np).replace("{a}", a)
        return f"{a}[{text.format(None, *rest)}]"

    def r_join(self, e, *parts):
        axis = f", axis={e.attrs['axis']}" if e.attrs["explicit"] else ""
        return f"{self.np}.{e.attrs['fn']}([{', '.join(parts)}]{axis})"


def _annotate_params(gen: _Gen):
    for p in gen.params:
        if p.pinned:  # a loop's bound reads its first dimension, a number
            p.annotation = _annotation_text(p.shape, "f")
            continue
        if gen.annotated and gen.ch.chance(0.9) and not p.intvalued:  # "f[...]" promises floats
            kind = {"float": "f", "int": "i", "bool": "b"}[p.kind]
            if p.shape == () and p.kind == "float" and gen.ch.chance(0.5):
                p.annotation = "float"
            else:
                p.annotation = _annotation_text(p.shape, kind)


def _stmt_lines(stmt, render, check):
    """A statement's lines (a loop's body indented under it)."""
    if stmt[0] == "passive":
        return [f"{stmt[1]} = {stmt[2]}"]
    if stmt[0] == "setitem":  # h[1:, 0] = v
        return [f"{stmt[1]}[{stmt[2]}] = {render(stmt[3])}"]
    if stmt[0] == "unpack":  # a, b = np.split(x, 2); sign, logdet = np.linalg.slogdet(a); h, c = cell(...)
        return [f"{', '.join(stmt[1])} = {render(stmt[2])}"]
    if stmt[0] == "for":  # for i in range(3): ...
        return [f"for {stmt[1]} in {stmt[2]}:"] + \
            ["    " + line for s in stmt[3] for line in _stmt_lines(s, render, check)]
    _, name, value, annotation = stmt
    if value.attrs.get("aug"):  # h += b; the instrumented copy checks h + b's margins first
        update = f"{name} {value.attrs['sym']}= {render(value.args[1])}"
        return [render(value), update] if check else [update]
    note = f": {annotation}" if annotation and not check else ""
    return [f"{name}{note} = {render(value)}"]


def _stmt_reads(stmt, render):
    """The text a statement reads (its values, a loop's bounds), for the names it uses."""
    if stmt[0] == "passive":
        return [stmt[2]]
    if stmt[0] == "setitem":
        return [stmt[1], stmt[2], render(stmt[3])]
    if stmt[0] == "for":
        return [stmt[2]] + [t for s in stmt[3] for t in _stmt_reads(s, render)]
    return [render(stmt[2])]


def _helper_source(h: _Helper, render, check):
    params = []
    for p in h.params:
        note = f": {p.annotation}" if p.annotation and not check else ""
        default = "" if p.default is None else (" = " if note else "=") + p.default
        params.append(p.name + note + default)
    lines = [line for s in h.stmts for line in _stmt_lines(s, render, check)]
    lines.append("return " + ", ".join(render(r) for r in h.results))
    return f"def {h.name}({', '.join(params)}):\n" + "".join("    " + line + "\n" for line in lines)


def render_program(gen: _Gen, wrt, check_shapes, input_seed, scalar_seed, keep=None) -> Program:
    """The program's text; ``keep`` (statement indices) leaves the others out, and with them
    the parameters nothing reads any more and the helpers nothing calls (used to minimize a
    failing program)."""
    import re

    def names(texts):
        return set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", "\n".join(texts)))

    user, check = _Render(gen.np, False), _Render(gen.np, True)
    stmts = [s for i, s in enumerate(gen.stmts) if keep is None or i in keep]
    rendered = [t for s in stmts for t in _stmt_reads(s, user)] + [user(gen.output)]
    words = names(rendered)
    kept_params = [p for p in gen.params if (keep is None or p.name in words) and p.default is None] + \
        [p for p in gen.params if (keep is None or p.name in words) and p.default is not None]
    params = [p.name + (f": {p.annotation}" if p.annotation else "") +
              ("" if p.default is None else (" = " if p.annotation else "=") + p.default)
              for p in kept_params]
    if wrt is not None:
        wrt = tuple(n for n in wrt if any(p.name == n for p in kept_params)) or None
    body = [line for stmt in stmts for line in _stmt_lines(stmt, user, False)]
    cbody = [line for stmt in stmts for line in _stmt_lines(stmt, check, True)]
    body.append(f"return {user(gen.output)}")
    cbody.append(f"return {check(gen.output)}")
    # the helpers f calls, and those they call (a helper of a dropped statement is left out)
    sources = {h.name: _helper_source(h, user, False) for h in gen.helpers}
    called, reads = set(), words
    while True:
        more = {h.name for h in gen.helpers if h.name in reads} - called
        if not more:
            break
        called |= more
        reads = names([sources[n] for n in more])
    helpers = [h for h in gen.helpers if h.name in called]
    header = []
    if gen.np == "numpy":
        header.append("import numpy")
    else:
        header.append(f"import numpy as {gen.np}")
    if gen.from_imports:
        header.append(f"from numpy import {', '.join(sorted(gen.from_imports))}")
    if gen.scipy_imports:
        header.append(f"from scipy.special import {', '.join(sorted(gen.scipy_imports))}")
    header.append("import gradgen")
    for name, value in gen.constants.items():
        header.append(f"{name} = {value!r}")
    source = "\n".join(header) + "\n\n\n" + "".join(sources[h.name] + "\n\n" for h in helpers) + \
        f"def f({', '.join(params)}):\n" + "\n".join("    " + line for line in body) + "\n"
    check_source = "".join(_helper_source(h, check, True) + "\n" for h in helpers) + \
        f"def f({', '.join(p.name + ('' if p.default is None else '=' + p.default) for p in kept_params)}):\n" + \
        "\n".join("    " + line for line in cbody) + "\n"
    return Program(source=source, check_source=check_source, params=kept_params, sizes=dict(gen.sizes),
                   constants=dict(gen.constants), from_imports=sorted(gen.from_imports),
                   numpy_alias=gen.np, wrt=wrt, check_shapes=check_shapes, input_seed=input_seed,
                   scalar_seed=scalar_seed, annotated=gen.annotated, gen=gen,
                   keep=frozenset(range(len(gen.stmts))) if keep is None else frozenset(keep))


def make_program(ch, annotated=False, extended=True) -> Program:
    """One random program from a chooser (RandomChooser or HypothesisChooser); ``extended``
    adds the NumPy surface beyond the basic grammar (clip, var/std, einsum, linalg, ...)."""
    gen = _Gen(ch, annotated, extended=extended)
    gen.run()
    _annotate_params(gen)
    wrt = None
    if ch.chance(0.25):
        names = [p.name for p in gen.params if p.name in gen.output.dparams]
        chosen = [n for n in names if ch.chance(0.6)] or names[:1]
        order = []
        while chosen:
            order.append(chosen.pop(ch.int(0, len(chosen) - 1)))
        wrt = tuple(order) or None
    check_shapes = annotated and ch.chance(0.2)
    input_seed = ch.int(0, 2**31 - 1)
    scalar_seed = ch.choice([None, None, None, 0.5, -2.0])
    return render_program(gen, wrt, check_shapes, input_seed, scalar_seed)


def programs(annotated=False, shrinkable=False, extended=True):
    """A Hypothesis strategy of Programs.

    By default each program is built from one drawn seed with ``random.Random``: Hypothesis's
    own integer draws favour small values, which would skew the grammar's proportions (and
    repeat programs). ``shrinkable=True`` draws every choice from Hypothesis instead, so a
    failing program shrinks to a small one (at the price of that skew).
    """
    from hypothesis import strategies as st

    if not shrinkable:
        return st.integers(0, 2**63 - 1).map(
            lambda seed: make_program(RandomChooser(seed), annotated=annotated, extended=extended))

    @st.composite
    def strategy(draw):
        return make_program(HypothesisChooser(draw), annotated=annotated, extended=extended)

    return strategy()


# -- the margin checks -----------------------------------------------------------------------


class _Reject(Exception):
    """The drawn inputs sit too close to a kink or domain edge, or overflow."""


class _Margins:
    """The instrumented forward's helpers: each computes the NumPy result and checks its margin."""

    KINK = 1e-3
    EDGE = 2e-2
    BIG = 1e4
    COND = 1e4  # condition number of a matrix slogdet or cholesky takes
    SVGAP = 2e-2  # relative gap of the singular value a 2 / -2 matrix norm takes

    def __init__(self, strict=False):
        self.strict = strict  # integer inputs: an exact tie is a coincidence, not a structure

    def v(self, x):
        arr = np.asarray(x)
        if arr.dtype.kind == "f" and (not np.all(np.isfinite(arr)) or np.any(np.abs(arr) > self.BIG)):
            raise _Reject("an intermediate value is too large")
        return x

    def _kink(self, gap, what, ties=True):
        """Reject a gap under KINK; an exact tie (gap 0) only in strict mode or when ``ties`` is
        False: where gradgen's convention at the tie is not the two-sided difference."""
        gap = np.abs(np.asarray(gap, dtype=np.float64))
        if np.any((gap < self.KINK) & ((gap != 0) | self.strict | (not ties))):
            raise _Reject(f"{what} too close to its kink")

    # each returns what the forward's own spelling returns (a Python float stays one under
    # the operators and the builtin abs; NumPy functions give NumPy scalars)

    def log(self, x, builtin=False):
        if np.any(np.asarray(x) < self.EDGE):
            raise _Reject("log of a value near 0")
        return np.log(x)

    def sqrt(self, x, builtin=False):
        if np.any(np.asarray(x) < self.EDGE):
            raise _Reject("sqrt of a value near 0")
        return np.sqrt(x)

    def abs(self, x, builtin=False):
        self._kink(x, "abs")
        return abs(x) if builtin else np.abs(x)

    def div(self, a, b, ufunc=False):
        if np.any(np.abs(np.asarray(b)) < self.EDGE):
            raise _Reject("division by a value near 0")
        return np.divide(a, b) if ufunc else a / b

    def pow(self, a, p, ufunc=False):
        arr = np.asarray(a)
        if np.ndim(p) or float(p) != int(float(p)):
            if np.any(arr < self.EDGE):
                raise _Reject("fractional power of a value near 0")
        elif float(p) < 0 and np.any(np.abs(arr) < 5 * self.EDGE):
            raise _Reject("negative power of a value near 0")
        return np.power(a, p) if ufunc else a ** p

    def mm(self, fn, a, b):
        self._kink(np.asarray(a) - np.asarray(b), fn.__name__)
        return fn(a, b)

    def cmp(self, a, op, t):
        import operator
        self._kink(np.asarray(a) - t, "a where condition")
        return {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le}[op](a, t)

    def edge(self, fn, x):
        """A function with an infinite derivative at 0 (cbrt)."""
        if np.any(np.abs(np.asarray(x)) < self.EDGE):
            raise _Reject(f"{fn.__name__} near 0")
        return fn(x)

    def arctan2(self, a, b):
        a_, b_ = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
        if np.any(a_ ** 2 + b_ ** 2 < self.EDGE) or np.any((b_ < 0) & (np.abs(a_) < self.KINK)):
            raise _Reject("arctan2 near its branch cut or the origin")
        return np.arctan2(a, b)

    def hypot(self, a, b):
        out = np.hypot(a, b)
        if np.any(out < self.EDGE):
            raise _Reject("hypot near 0")
        return out

    def clip(self, x, lo, hi):
        for bound in (lo, hi):
            if bound is not None:
                # at x == bound the gradient goes to neither (README, conventions at kinks)
                self._kink(np.asarray(x) - np.asarray(bound), "clip", ties=False)
        if lo is not None and hi is not None and np.any(np.asarray(lo) >= np.asarray(hi)):
            raise _Reject("clip bounds cross")
        return np.clip(x, lo, hi)

    def std(self, x, axis, ddof, keepdims):
        out = np.std(x, axis=axis, ddof=ddof, keepdims=keepdims)
        if np.any(out < self.EDGE):
            raise _Reject("std near 0")
        return out

    def vs(self, results):
        """Several results (np.split's list, slogdet's pair): each checked as v() does."""
        for r in results:
            self.v(r)
        return results

    def _conditioned(self, a, what):
        cond = np.linalg.cond(np.asarray(a, dtype=np.float64))
        if not np.all(np.isfinite(cond)) or np.any(cond > self.COND):
            raise _Reject(f"{what} of an ill-conditioned matrix")

    def slogdet(self, a):
        self._conditioned(a, "slogdet")
        return np.linalg.slogdet(a)

    def cholesky(self, a):
        """NumPy reads the lower triangle only: that (mirrored) must be well inside the
        positive-definite cone, or np.linalg.cholesky raises or its derivative blows up."""
        arr = np.asarray(a, dtype=np.float64)
        sym = np.tril(arr) + np.swapaxes(np.tril(arr, -1), -1, -2)
        w = np.linalg.eigvalsh(sym)
        top = np.max(np.abs(w), axis=-1)
        if np.any(w[..., 0] < self.EDGE * np.maximum(top, 1.0)) or np.any(top > self.COND * w[..., 0]):
            raise _Reject("cholesky of a matrix near the edge of positive definiteness")
        return np.linalg.cholesky(a)

    def fabs(self, x):
        self._kink(x, "fabs")
        return np.fabs(x)

    def heaviside(self, x, at0):
        """A step: constant on either side of 0, a jump at it."""
        self._kink(x, "heaviside")
        return np.heaviside(x, at0)

    def sort(self, x, axis):
        """Ties are np.sort's kinks: the gaps between neighbours in the sorted order."""
        out = np.sort(x, axis=axis)
        s = np.asarray(out, dtype=np.float64)
        if s.ndim and s.shape[-1 if axis is None else axis] > 1:
            self._kink(np.diff(s, axis=-1 if axis is None else axis), "a tie in np.sort")
        return out

    def _gap(self, values, top, what, margin=None):
        """The gap between the two largest (top) or smallest of ``values`` along the last axis."""
        if values.shape[-1] < 2:
            return
        s = np.sort(values, axis=-1)
        gap = s[..., -1] - s[..., -2] if top else s[..., 1] - s[..., 0]
        if margin is None:
            self._kink(gap, what)
        elif np.any(gap < margin):
            raise _Reject(f"{what} too close to a tie")

    def norm(self, x, order, axis, keepdims):
        out = np.linalg.norm(x, ord=order, axis=axis, keepdims=keepdims)
        if np.any(np.asarray(out) < self.EDGE):
            raise _Reject("norm near 0")
        arr = np.asarray(x, dtype=np.float64)
        if order is None or order == "fro" or arr.ndim == 0:
            return out  # sqrt of a sum of squares: smooth away from 0
        axes = tuple(range(arr.ndim)) if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
        axes = tuple(a % arr.ndim for a in axes)
        if len(axes) == 1:  # a vector norm
            v = np.moveaxis(arr, axes[0], -1)
            if order != 2:
                self._kink(v, f"abs in a {order}-norm")
            if order in (np.inf, -np.inf):
                self._gap(np.abs(v), order > 0, f"max/min of |x| in a {order}-norm")
            return out
        m = np.moveaxis(arr, axes, (-2, -1))  # a matrix norm: rows on axes[0], columns on axes[1]
        if order in (1, -1, np.inf, -np.inf):
            self._kink(m, f"abs in a matrix {order}-norm")
            sums = np.abs(m).sum(axis=-2 if order in (1, -1) else -1)
            self._gap(sums, order > 0, f"the largest/smallest line sum in a matrix {order}-norm")
        elif order in (2, -2, "nuc"):  # singular values: distinct (2, -2), away from 0 (-2, nuc)
            sv = np.linalg.svd(m, compute_uv=False)
            scale = np.maximum(sv[..., :1], 1.0)
            if order != 2 and np.any(sv[..., -1:] < self.EDGE * scale):
                raise _Reject("a singular value near 0")
            if order != "nuc":
                self._gap(sv / scale, order > 0, "singular value", margin=self.SVGAP)
        return out

    def red(self, x, fn, axis, keepdims):
        out = getattr(np, fn)(x, axis=axis, keepdims=keepdims)
        if fn in ("max", "min", "amax", "amin") and np.size(x) > 1:
            arr = np.asarray(x, dtype=np.float64)
            axes = tuple(range(arr.ndim)) if axis is None else \
                tuple(a % arr.ndim for a in (axis if isinstance(axis, tuple) else (axis,)))
            moved = np.moveaxis(arr, axes, tuple(range(arr.ndim - len(axes), arr.ndim)))
            flat = moved.reshape(moved.shape[:arr.ndim - len(axes)] + (-1,))
            if flat.shape[-1] > 1:
                s = np.sort(flat, axis=-1)
                gap = s[..., -1] - s[..., -2] if fn.endswith("max") else s[..., 1] - s[..., 0]
                self._kink(gap, f"{fn} reduction")
        return out


# -- running one program ---------------------------------------------------------------------


@dataclass
class Outcome:
    status: str  # ok | refused | skipped | invalid | failure
    category: str = ""
    message: str = ""
    program: Program | None = None
    args: list | None = None
    generated: str = ""
    seconds: float = 0.0


_counter = itertools.count()


def _load(source: str, directory: str):
    name = f"gradgen_fuzz_{os.getpid()}_{next(_counter)}"
    path = os.path.join(directory, name + ".py")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module, name, path


def _unload(name, path):
    sys.modules.pop(name, None)
    linecache.cache.pop(path, None)
    try:
        os.unlink(path)
    except OSError:
        pass


def _copy_args(args):
    """Fresh copies, in the same memory layout (Fortran order, strides, read-only)."""
    out = []
    for a in args:
        if isinstance(a, np.ndarray):
            if a.flags.c_contiguous or a.flags.f_contiguous:
                c = a.copy(order="K")
            else:
                c = np.repeat(a, 2, axis=-1)[..., ::2]
            if not a.flags.writeable:
                c.setflags(write=False)
            a = c
        out.append(a)
    return out


def _objective(fn, args, seed):
    out = fn(*args)
    return out if seed is None else np.sum(seed * out)


def _numeric(fn, args, i, seed, scalar_seed, eps, dtype):
    """Central differences of the objective along every entry of args[i]."""
    def conv(a):
        if isinstance(a, float):
            return a if dtype is np.float64 else dtype(a)  # Python floats stay Python floats
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            return a.astype(dtype)
        return a
    base = [conv(a) for a in args]
    seed = None if seed is None else np.asarray(seed, dtype=dtype)
    pyfloat = isinstance(args[i], float)
    x = np.array(base[i], dtype=dtype)
    grad = np.zeros(x.shape, dtype=dtype)
    for k in np.ndindex(x.shape):
        vals = []
        for sign in (1, -1):
            xp = x.copy()
            xp[k] += sign * eps
            trial = list(base)
            trial[i] = (float(xp) if dtype is np.float64 else xp[()]) if pyfloat else xp
            vals.append(dtype(_objective(fn, trial, seed)))
        grad[k] = (vals[0] - vals[1]) / (2 * eps)
    if scalar_seed is not None:
        grad = grad * dtype(scalar_seed)
    return grad


def _richardson_agrees(fn, args, i, seed, scalar_seed, analytic) -> bool:
    """A last look before calling a gradient wrong: where the objective is large and the
    gradient small, central differences at 1e-6 drown in the objective's rounding. Richardson
    extrapolation from steps 1e-3 and 5e-4 cancels the truncation error of those wider steps;
    the rounding left is about eps * |objective| / step, which is allowed for."""
    with np.errstate(all="ignore"):
        wide = _numeric(fn, args, i, seed, scalar_seed, 1e-3, np.float64)
        half = _numeric(fn, args, i, seed, scalar_seed, 5e-4, np.float64)
        level = float(np.max(np.abs(_objective(fn, args, seed))))
    if scalar_seed is not None:
        level *= abs(scalar_seed)
    estimate = (4 * half - wide) / 3
    noise = 1e3 * np.finfo(np.float64).eps * (level + 1.0) / 5e-4
    scale = max(np.max(np.abs(estimate), initial=0.0), 1e-2)
    gap = np.max(np.abs(np.asarray(analytic, dtype=np.float64) - estimate), initial=0.0)
    return bool(np.isfinite(gap) and gap <= 1e-7 * scale + noise)


def _grad_error(analytic, numeric):
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    scale = max(np.max(np.abs(numeric), initial=0.0), np.max(np.abs(analytic), initial=0.0), 1e-2)
    return float(np.max(np.abs(analytic - numeric), initial=0.0) / scale)


class _Failure(Exception):
    def __init__(self, category, message):
        super().__init__(message)
        self.category = category
        self.message = message


def run_program(prog: Program, directory: str, attempts: int = 12, args=None) -> Outcome:
    """Derive one program and check it; see the module docstring for what is checked.

    ``args`` fixes the inputs (they must pass the margin checks, else "skipped")."""
    import gradgen
    from gradgen.errors import GradgenError
    from gradgen.pipeline import generate

    start = time.perf_counter()
    outcome = Outcome("ok", program=prog)
    try:
        module, modname, path = _load(prog.source, directory)
    except Exception as err:  # the generator wrote something Python does not run
        return Outcome("invalid", "import", f"{type(err).__name__}: {err}", prog)
    try:
        fn = module.f
        # 1. find inputs away from kinks, with the instrumented forward
        strict = any(p.intvalued for p in prog.params)
        namespace = {_CHECK_NP: np, _CHECK_K: _Margins(strict), **prog.constants}
        if "from scipy.special import" in prog.source:
            import scipy.special
            namespace["__fuzz_sp__"] = scipy.special
        exec(compile(prog.check_source, "<fuzz check>", "exec"), namespace)
        fixed, args = args, None
        for attempt in range(1 if fixed is not None else attempts):
            trial = _copy_args(fixed) if fixed is not None else prog.draw_inputs(attempt)
            try:
                with np.errstate(all="ignore"):
                    namespace["f"](*_copy_args(trial))
            except _Reject:
                continue
            except Exception as err:
                return Outcome("invalid", "forward", f"{type(err).__name__}: {err}", prog, trial)
            args = trial
            break
        if args is None:
            return Outcome("skipped", program=prog)
        outcome.args = args
        try:
            with np.errstate(all="ignore"):
                out = fn(*_copy_args(args))
                checked = namespace["f"](*_copy_args(args))
        except Exception as err:
            return Outcome("invalid", "forward", f"{type(err).__name__}: {err}", prog, args)
        if np.asarray(out).dtype.kind not in "biuf":  # a statement minimize() dropped left a
            return Outcome("invalid", "forward", f"the forward returns {out!r}", prog, args)  # builtin
        if not np.all(np.isfinite(out)) or not np.allclose(out, checked, rtol=1e-12, atol=0):
            return Outcome("invalid", "forward", f"the instrumented forward gives {checked!r}, "
                           f"the forward {out!r}", prog, args)
        # 2. derive, as the decorator does and as the CLI does
        try:
            derived = gradgen.derive(fn, wrt=prog.wrt, check_shapes=prog.check_shapes)
        except GradgenError as err:
            outcome.status, outcome.message = "refused", err.message
            outcome.category = "located" if err.lineno is not None else "unlocated"
            return outcome
        except Exception:
            raise _Failure("crash in derive", traceback.format_exc(limit=6))
        outcome.generated = derived.source
        try:
            text = generate(prog.source, path, function="f", wrt=prog.wrt, check_shapes=prog.check_shapes)
        except GradgenError as err:
            raise _Failure("CLI refused what derive accepted", str(err))
        except Exception:
            raise _Failure("crash in pipeline.generate", traceback.format_exc(limit=6))
        cli_ns = {"__name__": "gradgen_fuzz_cli"}
        try:
            exec(compile(text, "<generated by the CLI path>", "exec"), cli_ns)
        except Exception:
            raise _Failure("the CLI module does not load", traceback.format_exc(limit=4))
        _check_program(prog, fn, derived, cli_ns, args, out)
    except _Failure as failure:
        outcome.status, outcome.category, outcome.message = "failure", failure.category, failure.message
    finally:
        _unload(modname, path)
        outcome.seconds = time.perf_counter() - start
    return outcome


def _check_program(prog, fn, derived, cli_ns, args, out):
    out = np.asarray(out)
    scalar = out.ndim == 0
    seed_name = derived.seed_name
    if scalar:
        seed = None
        kwargs = {} if prog.scalar_seed is None else {seed_name: prog.scalar_seed}
    else:
        seed = np.random.default_rng(prog.input_seed).standard_normal(out.shape)
        kwargs = {seed_name: seed}
    originals = _copy_args(args)
    seed_copy = None if seed is None else seed.copy()
    calls = {}
    for label, call in (("value_and_grad", lambda a: derived.value_and_grad(*a, **kwargs)),
                        ("backward", lambda a: derived.backward(*a, **kwargs)),
                        ("CLI module backward", lambda a: cli_ns["f_backward"](*a, **kwargs))):
        live = _copy_args(args)
        try:
            with np.errstate(all="ignore"):
                result = call(live)
        except Exception:
            raise _Failure(f"crash in {label}", traceback.format_exc(limit=6))
        for a, orig in zip(live, originals):
            if isinstance(a, np.ndarray) and not np.array_equal(a, orig):
                raise _Failure("input mutated", f"{label} changed an input array in place")
        if seed is not None and not np.array_equal(seed, seed_copy):
            raise _Failure("seed mutated", f"{label} changed the seed array in place")
        calls[label] = (result, live)
    (value, grads), live = calls["value_and_grad"]
    if not np.allclose(np.asarray(value, dtype=np.float64), out, rtol=1e-12, atol=1e-12, equal_nan=True):
        raise _Failure("value mismatch", f"value_and_grad returned {value!r}, the forward {out!r}")
    if not isinstance(grads, tuple) or len(grads) != len(derived.wrt):
        raise _Failure("wrong number of gradients", f"{len(grads)} gradients for wrt={derived.wrt}")
    for label in ("backward", "CLI module backward"):
        other = calls[label][0]
        if len(other) != len(grads) or not all(
                np.shape(g) == np.shape(h) and np.allclose(g, h, rtol=1e-12, atol=1e-300, equal_nan=True)
                for g, h in zip(grads, other)):
            raise _Failure(f"{label} differs from value_and_grad",
                           f"{label}: {other!r}\nvalue_and_grad: {grads!r}")
    if not scalar:
        try:
            derived.backward(*_copy_args(args))
        except ValueError as err:
            if seed_name not in str(err):
                raise _Failure("seed handling", f"the ValueError does not name {seed_name}: {err}")
        except Exception:
            raise _Failure("seed handling", traceback.format_exc(limit=4))
        else:
            raise _Failure("seed handling", "an array result without a seed did not raise ValueError")
    # parameters with a default are passed explicitly for the central differences
    full = list(args) + [float(p.default) for p in prog.params if p.default is not None]
    names = [p.name for p in prog.positional] + [p.name for p in prog.params if p.default is not None]
    arrays = [(f"input {n}", a) for n, a in zip(names, live) if isinstance(a, np.ndarray)]
    if seed is not None:
        arrays.append(("the seed", seed))
    for name, grad in zip(derived.wrt, grads):
        if name not in names:
            raise _Failure("wrong gradients", f"wrt names {name!r}, which is not a parameter")
        i = names.index(name)
        if np.shape(grad) != np.shape(full[i]):
            raise _Failure("gradient shape", f"d{name} has shape {np.shape(grad)}, {name} has {np.shape(full[i])}")
        if np.asarray(grad).dtype.kind != "f":
            raise _Failure("integer gradient", f"d{name} has dtype {np.asarray(grad).dtype} "
                           f"({name} is {np.asarray(full[i]).dtype}): {grad!r}")
        if not np.all(np.isfinite(np.asarray(grad, dtype=np.float64))):
            raise _Failure("non-finite gradient", f"d{name} = {grad!r}")
        if isinstance(grad, np.ndarray) and grad.ndim:
            for what, arr in arrays:
                if np.shares_memory(grad, arr):
                    raise _Failure("gradient aliases an input", f"d{name} shares memory with {what}")
            if not grad.flags.writeable:
                raise _Failure("read-only gradient", f"d{name} is a read-only view")
    for (n1, g1), (n2, g2) in itertools.combinations(zip(derived.wrt, grads), 2):
        if isinstance(g1, np.ndarray) and isinstance(g2, np.ndarray) and g1.ndim and np.shares_memory(g1, g2):
            raise _Failure("gradients share memory", f"d{n1} and d{n2} are the same memory")
    # central differences, for every float parameter (those outside wrt must have none); a
    # wrong gradient is the worse bug, so it is looked for before the float32 contract
    grads_by_name = dict(zip(derived.wrt, grads))
    problems = []
    by_name = {p.name: p for p in prog.params}
    for i, name in enumerate(names):
        if by_name[name].kind != "float":
            continue
        p = by_name[name]
        with np.errstate(all="ignore"):
            num = _numeric(fn, full, i, seed, prog.scalar_seed if scalar else None, 1e-6, np.float64)
        analytic = grads_by_name.get(p.name)
        if analytic is None:
            if prog.wrt is not None:
                continue  # not asked for
            analytic = np.zeros(np.shape(num))
        err = _grad_error(analytic, num)
        if err <= 1e-5:
            continue
        with np.errstate(all="ignore"):  # confirm in extended precision before calling it a bug
            try:
                ref = _numeric(fn, full, i, seed, prog.scalar_seed if scalar else None, 1e-8, np.longdouble)
                limit = 1e-6
            except Exception:  # np.linalg has no longdouble: a second float64 step instead
                ref = _numeric(fn, full, i, seed, prog.scalar_seed if scalar else None, 1e-5, np.float64)
                limit = 1e-5
        err = _grad_error(analytic, ref)
        if err <= limit:
            continue
        if _richardson_agrees(fn, full, i, seed, prog.scalar_seed if scalar else None, analytic):
            continue
        what = "gradient mismatch" if p.name in grads_by_name else "missing gradient (not in wrt)"
        problems.append((what, f"d{p.name}: relative error {err:.3g}\n  gradgen: {_short(analytic)}\n"
                               f"  numeric: {_short(np.asarray(ref, dtype=np.float64))}"))
    if problems:
        raise _Failure(problems[0][0], "\n".join(m for _, m in problems))
    _check_float32(prog, derived, args, seed, kwargs, grads, scalar)


def _check_float32(prog, derived, args, seed, kwargs, grads64, scalar):
    """README: gradients keep the inputs' precision, float32 in, float32 out. With every float
    input a float32 array (and the seed too), each gradient must be float32 and agree with
    the float64 one (which central differences vouch for) to float32 accuracy."""
    floats = [a for p, a in zip(prog.positional, args) if p.kind == "float"]
    if any(p.annotation == "float" for p in prog.positional):
        return  # annotated as a Python float: float64 by contract
    if not floats or not all(isinstance(a, np.ndarray) and a.dtype == np.float64 for a in floats):
        return
    args32 = [a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype == np.float64 else a
              for a in args]
    kwargs32 = dict(kwargs)
    if seed is not None:
        kwargs32[derived.seed_name] = seed.astype(np.float32)
    try:
        with np.errstate(all="ignore"):
            value, grads = derived.value_and_grad(*args32, **kwargs32)
            out32 = derived(*_copy_args(args32))
    except Exception:
        raise _Failure("crash with float32 inputs", traceback.format_exc(limit=6))
    if np.asarray(value).dtype != np.asarray(out32).dtype:
        raise _Failure("float32 value dtype", f"value_and_grad's value is {np.asarray(value).dtype}, "
                       f"the forward's {np.asarray(out32).dtype}")
    if np.asarray(out32).dtype != np.float32:
        return  # the forward itself promoted (a float64 constant array, say): nothing promised
    for name, g32, g64 in zip(derived.wrt, grads, grads64):
        if np.asarray(g32).dtype != np.float32:
            raise _Failure("float32 in, not float32 out",
                           f"d{name} is {np.asarray(g32).dtype} for float32 inputs: {g32!r}")
        g32 = np.asarray(g32, dtype=np.float64)
        g64 = np.asarray(g64, dtype=np.float64)
        scale = max(np.max(np.abs(g64), initial=0.0), 1.0)
        err = np.max(np.abs(g32 - g64), initial=0.0) / scale
        if not np.all(np.isfinite(g32)) or err > 1e-2:
            raise _Failure("float32 gradient far from float64",
                           f"d{name}: relative difference {err:.3g}\n  float32: {_short(g32)}\n"
                           f"  float64: {_short(g64)}")


def _short(x):
    return np.array2string(np.asarray(x), precision=6, max_line_width=100, threshold=40).replace("\n", "\n           ")


# -- campaigns -------------------------------------------------------------------------------


@dataclass
class Summary:
    programs: int = 0
    ok: int = 0
    refused: int = 0
    skipped: int = 0
    invalid: int = 0
    failures: list = field(default_factory=list)
    invalids: list = field(default_factory=list)
    refusals: collections.Counter = field(default_factory=collections.Counter)
    refused_examples: dict = field(default_factory=dict)
    unlocated: int = 0
    seconds: float = 0.0

    def add(self, outcome: Outcome):
        self.programs += 1
        if outcome.status == "ok":
            self.ok += 1
        elif outcome.status == "refused":
            self.refused += 1
            key = outcome.message.splitlines()[0][:100]
            self.refusals[key] += 1
            self.refused_examples.setdefault(key, outcome)
            self.unlocated += outcome.category == "unlocated"
        elif outcome.status == "skipped":
            self.skipped += 1
        elif outcome.status == "invalid":
            self.invalid += 1
            self.invalids.append(outcome)
        else:
            self.failures.append(outcome)

    def counts(self) -> str:
        return (f"programs {self.programs}, ok {self.ok}, refused {self.refused}, "
                f"failures {len(self.failures)}, skipped (no inputs away from kinks) {self.skipped}, "
                f"invalid (fuzzer bug) {self.invalid}")


def run_campaign(count, seed=0, annotated=False, engine="random", on_outcome=None,
                 extended=True) -> Summary:
    """Generate and check ``count`` programs; never raises for a failure (see Summary)."""
    summary = Summary()
    directory = tempfile.mkdtemp(prefix="gradgen-fuzz-")
    start = time.perf_counter()

    def record(prog):
        outcome = run_program(prog, directory)
        summary.add(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    try:
        if engine == "random":
            for i in range(count):
                try:
                    prog = make_program(RandomChooser(seed * 1_000_003 + i), annotated=annotated,
                                        extended=extended)
                except Exception:  # a bug of the generator itself: counted, never fatal
                    summary.add(Outcome("invalid", "generator", traceback.format_exc(limit=3),
                                        Program("<no program>", "", [], {}, {}, [], "np")))
                    continue
                record(prog)
        else:
            from hypothesis import HealthCheck, Phase, given, settings
            from hypothesis import seed as hseed

            @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck), derandomize=False)
            @given(programs(annotated=annotated, extended=extended))
            def body(prog):
                record(prog)

            hseed(seed)(body)()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        summary.seconds = time.perf_counter() - start
    return summary


def minimize(outcome: Outcome, directory: str | None = None) -> Outcome:
    """Drop statements (and the parameters nobody reads then) from a failing program while it
    still fails the same way, with the same input values."""
    prog = outcome.program
    if prog is None or prog.gen is None or outcome.args is None:
        return outcome
    own = directory is None
    directory = directory or tempfile.mkdtemp(prefix="gradgen-fuzz-")
    values = {p.name: a for p, a in zip(prog.positional, outcome.args)}
    best, keep = outcome, set(prog.keep)
    try:
        changed = True
        while changed:
            changed = False
            for i in sorted(keep, reverse=True):
                trial_keep = keep - {i}
                trial = render_program(prog.gen, prog.wrt, prog.check_shapes, prog.input_seed,
                                       prog.scalar_seed, keep=trial_keep)
                if any(p.name not in values for p in trial.params if p.default is None):
                    continue
                result = run_program(trial, directory,
                                     args=[values[p.name] for p in trial.params if p.default is None])
                if result.status == "failure" and result.category == outcome.category:
                    best, keep, changed = result, trial_keep, True
    finally:
        if own:
            shutil.rmtree(directory, ignore_errors=True)
    return best


def shrink_failure(seed=0, annotated=False, count=500, extended=True):
    """Let Hypothesis find a failing program and shrink it; returns (Program, Outcome) or None."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed

    directory = tempfile.mkdtemp(prefix="gradgen-fuzz-")
    found = []

    @settings(max_examples=count, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
    @given(programs(annotated=annotated, shrinkable=True, extended=extended))
    def body(prog):
        outcome = run_program(prog, directory)
        if outcome.status == "failure":
            found.append((prog, outcome))
            raise AssertionError(outcome.category)

    try:
        hseed(seed)(body)()
    except AssertionError:
        pass
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return found[-1] if found else None


def describe(outcome: Outcome, generated=True) -> str:
    prog = outcome.program
    lines = [f"FAILURE: {outcome.category}" if outcome.status == "failure" else
             f"{outcome.status.upper()}: {outcome.category}"]
    lines.append(f"  wrt={prog.wrt} check_shapes={prog.check_shapes} input_seed={prog.input_seed}"
                 f" scalar_seed={prog.scalar_seed}")
    lines.append("  program:")
    lines.extend("    | " + line for line in prog.source.splitlines())
    if outcome.args is not None:
        lines.append("  inputs:")
        for p, a in zip(prog.positional, outcome.args):
            shown = repr(a) if isinstance(a, float) else \
                np.array2string(np.asarray(a), precision=17, separator=", ", threshold=100,
                                max_line_width=120).replace("\n", "\n        ")
            lines.append(f"    {p.name}: {p.kind} shape {np.shape(a)} = {shown}")
    lines.append("  error:")
    lines.extend("    " + line for line in outcome.message.splitlines())
    if generated and outcome.generated:
        lines.append("  generated (f.source):")
        lines.extend("    > " + line for line in outcome.generated.splitlines())
    return "\n".join(lines)


_SEVERITY = {"gradient mismatch": 0, "missing gradient (not in wrt)": 0, "value mismatch": 0,
             "integer gradient": 0}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gradgen.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200, help="number of programs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the run (reproducible)")
    parser.add_argument("--annotated", action="store_true", help="annotate parameters with shapes")
    parser.add_argument("--basic", action="store_true",
                        help="only the basic grammar (leave out clip, var/std, einsum, linalg, scipy.special, ...)")
    parser.add_argument("--engine", choices=["hypothesis", "random"], default="random",
                        help="draw program i from random.Random(seed, i) (default: the same programs "
                             "on every run) or let Hypothesis draw the seeds")
    parser.add_argument("--shrink", action="store_true",
                        help="stop at the first failure and print it shrunk by Hypothesis")
    parser.add_argument("--max-report", type=int, default=25, help="failures printed in full")
    parser.add_argument("--per-category", type=int, default=3, help="failures printed per category")
    parser.add_argument("--no-generated", action="store_true", help="leave f.source out of reports")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also print one program per refusal message, and invalid programs")
    parser.add_argument("--no-minimize", action="store_true",
                        help="print failing programs as drawn (default: statements that do not "
                             "matter to the failure are dropped first)")
    args = parser.parse_args(argv)
    if args.shrink:
        found = shrink_failure(args.seed, args.annotated, args.count, extended=not args.basic)
        if found is None:
            print(f"no failure in {args.count} programs")
            return 0
        print(describe(found[1], generated=not args.no_generated))
        return 1
    summary = run_campaign(args.count, args.seed, args.annotated, args.engine, extended=not args.basic)
    print(f"gradgen.fuzz: seed {args.seed}, {'annotated' if args.annotated else 'unannotated'}, "
          f"{'basic' if args.basic else 'extended'} grammar, engine {args.engine}, {summary.seconds:.1f} s")
    print(summary.counts())
    if summary.refusals:
        print(f"refusals by message ({summary.unlocated} without a line number):")
        for message, n in summary.refusals.most_common(15):
            print(f"  {n:5d}  {message}")
    by_category = collections.Counter(f.category for f in summary.failures)
    if by_category:
        print("failures by category:")
        for category, n in by_category.most_common():
            print(f"  {n:5d}  {category}")
    # wrong gradients first; at most --per-category programs of each kind, smallest first
    order = sorted(summary.failures, key=lambda o: (_SEVERITY.get(o.category, 1), o.category,
                                                   len(o.program.source)))
    shown, printed = collections.Counter(), 0
    for outcome in order:
        if shown[outcome.category] >= args.per_category or printed >= args.max_report:
            continue
        shown[outcome.category] += 1
        printed += 1
        print()
        if not args.no_minimize:
            outcome = minimize(outcome)
        print(describe(outcome, generated=not args.no_generated))
    if printed < len(order):
        print(f"\n({len(order) - printed} more failures not printed: raise --per-category or --max-report)")
    if args.verbose:
        for outcome in summary.refused_examples.values():
            print()
            print(describe(outcome, generated=False))
        for outcome in summary.invalids[:10]:
            print()
            print(describe(outcome, generated=False))
    return 1 if summary.failures else 0


if __name__ == "__main__":
    sys.exit(main())
