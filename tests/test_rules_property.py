"""Property tests: broadcasting binary rules and reductions on shapes drawn by hypothesis,
against float64 central differences (derandomized, so the run is reproducible)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

from rules_support import annotation_for, check_fd, derive_cached, fsrc

SETTINGS = settings(max_examples=5, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

# op -> (expression, how to make each operand valid)
BINARY = {
    "add": "a + b",
    "sub": "a - b",
    "mul": "a * b",
    "div": "a / b",
    "pow": "a ** b",
    "maximum": "np.maximum(a, b)",
    "minimum": "np.minimum(a, b)",
}


def _operand(rng, shape, positive=False, as_float=False):
    x = rng.standard_normal(shape)
    if positive:
        x = np.abs(x) + 0.5
    if shape == () and as_float:
        return float(x)
    return np.asarray(x, dtype=np.float64)


def _binary_args(op, shapes, seed, floats):
    rng = np.random.default_rng(seed)
    a = _operand(rng, shapes[0], positive=op == "pow", as_float=floats[0])
    b = _operand(rng, shapes[1], as_float=floats[1])
    if op == "div":
        b = np.where(np.asarray(b) < 0, -1.0, 1.0) * (np.abs(b) + 0.5)
        b = float(b) if floats[1] and np.ndim(b) == 0 else np.asarray(b)
    return [a, b]


@pytest.mark.parametrize("annotate", [False, True], ids=["plain", "annotated"])
@pytest.mark.parametrize("op", list(BINARY))
@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       seed=st.integers(0, 2**16), floats=st.tuples(st.booleans(), st.booleans()),
       form=st.sampled_from(["vjp", "sum"]))
def test_broadcasting_binary(op, annotate, shapes, seed, floats, form):
    args = _binary_args(op, shapes.input_shapes, seed, floats)
    params = "a, b"
    if annotate:
        params = ", ".join(f"{n}: {annotation_for(x, 'literal')}" for n, x in zip("ab", args))
    expr = BINARY[op] if form == "vjp" else f"np.sum({BINARY[op]})"
    fn = derive_cached(fsrc(params, expr))
    check_fd(fn, args, label=f"{op}-{form} {shapes.input_shapes} floats={floats}")


@pytest.mark.parametrize("annotate", [False, True], ids=["plain", "annotated"])
@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3),
       seed=st.integers(0, 2**16))
def test_broadcasting_where(annotate, shapes, seed):
    rng = np.random.default_rng(seed)
    c = rng.random(shapes.input_shapes[0]) > 0.5
    a = rng.standard_normal(shapes.input_shapes[1])
    b = rng.standard_normal(shapes.input_shapes[2])
    params = "c, a, b"
    if annotate:
        params = ", ".join(f"{n}: {annotation_for(x, 'literal')}" for n, x in zip("cab", (c, a, b)))
    fn = derive_cached(fsrc(params, "np.where(c, a, b)"))
    check_fd(fn, [np.asarray(c), np.asarray(a), np.asarray(b)], label=f"where {shapes.input_shapes}")


@st.composite
def _reduction(draw):
    rank = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank)))
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-rank, rank - 1))
    else:
        axes = draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True))
        axis = tuple(a - rank if draw(st.booleans()) else a for a in axes)
    return shape, axis, draw(st.booleans())


@pytest.mark.parametrize("annotate", [False, True], ids=["plain", "annotated"])
@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
@SETTINGS
@given(spec=_reduction(), seed=st.integers(0, 2**16), form=st.sampled_from(["function", "method"]))
def test_reduction_random(op, annotate, spec, seed, form):
    shape, axis, keepdims = spec
    x = np.random.default_rng(seed).standard_normal(shape)
    args = ([] if axis is None else [f"axis={axis!r}"]) + (["keepdims=True"] if keepdims else [])
    if form == "function":
        expr = f"np.{op}(x{''.join(', ' + a for a in args)})"
    else:
        expr = f"x.{op}({', '.join(args)})"
    params = f"x: {annotation_for(x, 'literal')}" if annotate else "x"
    fn = derive_cached(fsrc(params, expr))
    check_fd(fn, [x], label=f"{expr} x{shape}")


@st.composite
def _reduced_binary(draw):
    shapes = draw(mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3, max_side=3))
    rank = len(shapes.result_shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-rank, rank - 1))
    else:
        axis = tuple(draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True)))
    return shapes.input_shapes, axis, draw(st.booleans())


REDUCED_OPS = ["a + b", "a - b", "a * b", "a / b", "a ** 2 * b", "np.maximum(a, b)", "np.exp(a) * b",
               "np.where(a > 0, b, a)", "a ** b"]


@pytest.mark.parametrize("annotate", [False, True], ids=["plain", "annotated"])
@pytest.mark.parametrize("expr", REDUCED_OPS)
@SETTINGS
@given(spec=_reduced_binary(), seed=st.integers(0, 2**16), red=st.sampled_from(["sum", "mean"]))
def test_reduction_of_broadcast_binary(expr, annotate, spec, seed, red):
    """A sum or mean straight over a broadcasting elementwise op: the reduction's adjoint may be
    handed to the elementwise rule unspread, and must still come back in each operand's shape."""
    (sa, sb), axis, keepdims = spec
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(sa)
    b = rng.standard_normal(sb)
    if "a / b" in expr:
        b = np.where(b < 0, -1.0, 1.0) * (np.abs(b) + 0.5)
    if "a ** b" in expr:
        a = np.abs(a) + 0.5
    params = "a, b"
    if annotate:
        params = ", ".join(f"{n}: {annotation_for(x, 'literal')}" for n, x in zip("ab", (a, b)))
    args = ([] if axis is None else [f"axis={axis!r}"]) + (["keepdims=True"] if keepdims else [])
    body = f"np.{red}({expr}{''.join(', ' + t for t in args)})"
    fn = derive_cached(fsrc(params, body))
    check_fd(fn, [a, b], label=f"{body} a{sa} b{sb}")
