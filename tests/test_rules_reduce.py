"""Reductions (sum, mean, max, min) against float64 central differences: axis None, int,
negative int and tuple, keepdims True/False, as functions and as methods, on 1-D, 2-D and
3-D inputs; and the tie convention of max/min (split evenly), exactly."""

from __future__ import annotations

import numpy as np
import pytest

from rules_support import annotated, FLOAT_POS, K, N, P, case, derive, run_case, shape_label

SHAPES = [(5,), (3, 4), (2, 3, 4)]
OPS = ["sum", "mean", "max", "min"]


def _axes(rank):
    return {1: [None, 0, -1, (0,)],
            2: [None, 0, 1, -2, (0, 1), (-1, 0)],
            3: [None, 0, 1, -1, (0, 2), (1, 2), (0, 1, 2), (-1, -3)]}[rank]


def _reduction_cases():
    for shape in SHAPES:
        for op in OPS:
            for axis in _axes(len(shape)):
                for keepdims in (False, True):
                    args = [] if axis is None else [f"axis={axis!r}"]
                    if keepdims:
                        args.append("keepdims=True")
                    tail = "".join(", " + a for a in args)
                    label = f"{op}-{shape_label(shape)}-axis{axis}-keep{keepdims}".replace(" ", "")
                    yield case(f"np.{label}", "x", f"np.{op}(x{tail})", N(*shape))
                    if keepdims == isinstance(axis, tuple) and op in ("sum", "max"):  # methods: a sample
                        yield case(f"method.{label}", "x", f"x.{op}({', '.join(args)})", N(*shape))
    # positional axis, np.amax / np.amin, method axis positional
    yield case("np.sum(x,0)", "x", "np.sum(x, 0)", N(3, 4))
    yield case("np.mean(x,-1)", "x", "np.mean(x, -1)", N(2, 3, 4))
    yield case("np.max(x,1)", "x", "np.max(x, 1)", N(3, 4))
    yield case("np.min(x,(0,2))", "x", "np.min(x, (0, 2))", N(2, 3, 4))
    yield case("x.max(1)", "x", "x.max(1)", N(3, 4))
    yield case("x.min(0)", "x", "x.min(0)", N(3, 4))
    yield case("x.sum(0)", "x", "x.sum(0)", N(2, 3, 4))
    yield case("x.mean(-1)", "x", "x.mean(-1)", N(2, 3, 4))
    yield case("x.sum((0,1))", "x", "x.sum((0, 1))", N(2, 3, 4))
    yield case("np.amax", "x", "np.amax(x, axis=1)", N(3, 4))
    yield case("np.amin", "x", "np.amin(x, axis=0, keepdims=True)", N(3, 4))
    yield case("np.sum-keepdims-positional-axis", "x", "np.sum(x, 1, keepdims=True)", N(3, 4))


@pytest.mark.parametrize("c", list(_reduction_cases()))
def test_reduction(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(
    _reduction_cases(), keep=lambda c: c.id.startswith("np.") or "." not in c.id.split("-")[0], share=0.17)))
def test_reduction_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


@pytest.mark.parametrize("expr", ["np.sum(x, axis=None)", "x.max(axis=None, keepdims=True)"])
def test_reduction_explicit_axis_none(expr, tmp_path):
    """axis=None written out is the same as leaving axis out."""
    run_case(case(expr, "x", expr, N(3, 4)).values[0], tmp_path)


def _context_cases():
    yield case("mean-centre", "x", "np.sum((x - x.mean(axis=0)) ** 2)", N(4, 3))
    yield case("normalise-rows", "x", "x / x.sum(axis=1, keepdims=True)", P(3, 4))
    yield case("max-minus", "x", "np.sum(np.exp(x - x.max(axis=1, keepdims=True)))", N(3, 4))
    yield case("softmax-ce", "theta, y", """
        e = np.exp(theta - theta.max(axis=1, keepdims=True))
        yhat = e / e.sum(axis=1, keepdims=True)
        return -np.sum(y * np.log(yhat)) / theta.shape[0]
    """, N(3, 4), K(np.eye(4)[[0, 2, 3]]))
    yield case("sum-of-max-and-min", "x", "np.sum(x.max(axis=0)) + np.sum(np.min(x, axis=1)) * 2.0",
               N(3, 4))
    yield case("reduce-twice", "x", "np.max(np.sum(x, axis=2), axis=0)", N(2, 3, 4))
    yield case("mean-of-scalar-output", "x, w", "np.mean(np.tanh(x @ w))", N(3, 4), N(4))
    yield case("sum-of-0d", "x", "np.sum(x * 3.0)", N())
    yield case("max-of-float-times-array", "s, x", "np.max(x * s)", FLOAT_POS, N(4))
    yield case("sum-axis0-of-1d", "x", "np.sum(x, axis=0) * 2.0", N(5))


@pytest.mark.parametrize("c", list(_context_cases()))
def test_reduction_in_context(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_context_cases())))
def test_reduction_in_context_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


# -- ties -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("op, form", [("max", "np"), ("max", "method"), ("min", "np"), ("min", "method")])
def test_tie_split_evenly_full_reduction(op, form, tmp_path):
    expr = f"np.{op}(x)" if form == "np" else f"x.{op}()"
    fn = derive(tmp_path, "x", expr)
    sign = 1.0 if op == "max" else -1.0
    x = sign * np.array([1.0, 3.0, 3.0, 2.0, 3.0])
    (dx,) = fn.backward(x)
    np.testing.assert_allclose(dx, [0.0, 1 / 3, 1 / 3, 0.0, 1 / 3], rtol=0, atol=1e-15)


@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_tie_split_evenly_along_axis(op, keepdims, tmp_path):
    kd = ", keepdims=True" if keepdims else ""
    fn = derive(tmp_path, "x", f"np.{op}(x, axis=1{kd})")
    sign = 1.0 if op == "max" else -1.0
    x = sign * np.array([[1.0, 4.0, 4.0, 0.0],
                         [2.0, 2.0, 2.0, 2.0],
                         [5.0, 1.0, 0.0, -1.0]])
    seed = np.array([2.0, 4.0, 3.0])
    if keepdims:
        seed = seed[:, None]
    (dx,) = fn.backward(x, **{fn.seed_name: seed})
    np.testing.assert_allclose(dx, [[0.0, 1.0, 1.0, 0.0],
                                    [1.0, 1.0, 1.0, 1.0],
                                    [3.0, 0.0, 0.0, 0.0]], rtol=0, atol=1e-15)


def test_tie_split_evenly_tuple_axis(tmp_path):
    fn = derive(tmp_path, "x", "x.max(axis=(0, 2))")
    x = np.zeros((2, 2, 2))
    x[0, 0, 1] = x[1, 0, 0] = 7.0  # two maxima for index 1 == 0
    x[1, 1, 1] = 9.0               # a single maximum for index 1 == 1
    (dx,) = fn.backward(x, **{fn.seed_name: np.array([1.0, 1.0])})
    expected = np.zeros((2, 2, 2))
    expected[0, 0, 1] = expected[1, 0, 0] = 0.5
    expected[1, 1, 1] = 1.0
    np.testing.assert_array_equal(dx, expected)


def test_max_routes_to_selected_entry(tmp_path):
    fn = derive(tmp_path, "x", "np.max(x) * 2.0")
    (dx,) = fn.backward(np.array([[0.5, -1.0], [3.0, 2.0]]))
    np.testing.assert_array_equal(dx, [[0.0, 0.0], [2.0, 0.0]])
