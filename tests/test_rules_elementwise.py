"""Elementwise rules (exp, log, tanh, sqrt, abs, sin, cos, sigmoid, np.maximum/np.minimum,
np.where) against float64 central differences, and the documented tie conventions exactly."""

from __future__ import annotations

import numpy as np
import pytest

from rules_support import (annotated, K, N, S, case, derive, rng_for, run_case, shape_label,
                           spec_for)

KINDS = [(5,), (3, 4), (2, 3, 4), "f", "0d"]

# (expression in x, input flavour): positive where the function needs it, away from 0 for abs
UNARY = [
    ("np.exp(x)", "normal"),
    ("np.log(x)", "positive"),
    ("np.tanh(x)", "normal"),
    ("np.sqrt(x)", "positive"),
    ("np.abs(x)", "signed"),
    ("np.absolute(x)", "signed"),
    ("abs(x)", "signed"),
    ("np.sin(x)", "normal"),
    ("np.cos(x)", "normal"),
    ("1 / (1 + np.exp(-x))", "normal"),
    ("1.0 / (1.0 + np.exp(-x))", "normal"),
]


def _unary_cases():
    for expr, flavour in UNARY:
        for kind in KINDS:
            label = f"{expr.replace(' ', '')}-{shape_label(kind)}"
            yield case(f"{label}-vjp", "x", expr, spec_for(kind, flavour))
            yield case(f"{label}-sum", "x", f"np.sum({expr})", spec_for(kind, flavour))


@pytest.mark.parametrize("c", list(_unary_cases()))
def test_unary_function(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_unary_cases(), share=0.15)))
def test_unary_function_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


def _composed_cases():
    yield case("exp(tanh(x))", "x", "np.sum(np.exp(np.tanh(x)))", N(3, 4))
    yield case("log(1+exp(x))", "x", "np.sum(np.log(1 + np.exp(x)))", N(3, 4))
    yield case("sqrt(x**2+1)", "x", "np.sum(np.sqrt(x ** 2 + 1.0))", N(3, 4))
    yield case("sin(x)*cos(x)", "x", "np.sin(x) * np.cos(x)", N(3, 4))
    yield case("abs(sin(x))", "x", "np.sum(np.abs(np.sin(x)))", S(3, 4))
    yield case("tanh-reassigned", "x", "h = np.tanh(x)\nh = np.tanh(h)\nreturn np.sum(h)", N(3, 4))
    yield case("sigmoid-of-affine", "W, b, X", """
        z = X @ W + b
        s = 1 / (1 + np.exp(-z))
        return np.sum(s)
    """, N(4, 3), N(3), N(5, 4))
    yield case("sigmoid-bce", "w, X, y", """
        s = 1.0 / (1.0 + np.exp(-(X @ w)))
        return -np.mean(y * np.log(s) + (1 - y) * np.log(1 - s))
    """, N(4), N(6, 4), K(np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0])))


@pytest.mark.parametrize("c", list(_composed_cases()))
def test_composed_elementwise(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_composed_cases())))
def test_composed_elementwise_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


# -- maximum / minimum ---------------------------------------------------------------------------

RELU_FORMS = ["np.maximum(z, 0)", "np.maximum(z, 0.0)", "np.maximum(0, z)", "np.maximum(0.0, z)",
              "np.minimum(z, 0)", "np.minimum(0.0, z)", "z * (z > 0)", "np.maximum(z, 0.1 * z)"]


def _relu_cases():
    for expr in RELU_FORMS:
        for kind in [(5,), (3, 4), (2, 3, 4), "f", "0d"]:
            label = f"{expr.replace(' ', '')}-{shape_label(kind)}"
            yield case(f"{label}-vjp", "z", expr, spec_for(kind, "signed"))
            yield case(f"{label}-sum", "z", f"np.sum({expr})", spec_for(kind, "signed"))


@pytest.mark.parametrize("c", list(_relu_cases()))
def test_relu(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_relu_cases(), share=0.15)))
def test_relu_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


EXTREMUM_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1)),
                  ((3, 4), "f"), ((3, 4), "0d"), ((5,), ()), ("f", "f"), ("0d", "0d")]


def _extremum_cases():
    for fname in ("maximum", "minimum"):
        for left, right in EXTREMUM_PAIRS:
            for a, b in ((left, right), (right, left)):
                label = f"np.{fname}-{shape_label(a)}&{shape_label(b)}"
                expr = f"np.{fname}(a, b)"
                yield case(f"{label}-vjp", "a, b", expr, spec_for(a), spec_for(b))
                yield case(f"{label}-sum", "a, b", f"np.sum({expr})", spec_for(a), spec_for(b))
    yield case("np.maximum-wrt-a-only", "a, b", "np.maximum(a, b)", N(3, 4), N(4), wrt=("a",))
    yield case("np.maximum-wrt-b-only", "a, b", "np.maximum(a, b)", N(3, 4), N(4), wrt=("b",))
    yield case("np.maximum-of-expressions", "a, b", "np.maximum(a * 2, np.sin(b)) * a", N(3, 4), N(4))
    yield case("np.maximum(x,x)", "x", "np.maximum(x, x)", N(3, 4))
    yield case("np.minimum(x,x)", "x", "np.minimum(x, x)", N(3, 4))


@pytest.mark.parametrize("c", list(_extremum_cases()))
def test_maximum_minimum(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_extremum_cases(), share=0.2)))
def test_maximum_minimum_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


# -- where -------------------------------------------------------------------------------------

def _mask(label, *shape):
    return K(rng_for("mask:" + label).random(shape) > 0.5)


def _where_cases():
    combos = [
        ("c3x4-a3x4-b3x4", (3, 4), (3, 4), (3, 4)),
        ("c3x4-a3x4-b4", (3, 4), (3, 4), (4,)),
        ("c3x4-a4-b3x1", (3, 4), (4,), (3, 1)),
        ("c3x1-a1x4-bfloat", (3, 1), (1, 4), "f"),
        ("c4-a3x4-b0d", (4,), (3, 4), "0d"),
        ("c2x3x4-a3x1-b4", (2, 3, 4), (3, 1), (4,)),
        ("c5-afloat-b0d", (5,), "f", "0d"),
    ]
    for label, sc, sa, sb in combos:
        yield case(f"where-{label}-vjp", "c, a, b", "np.where(c, a, b)", _mask(label, *sc),
                   spec_for(sa), spec_for(sb))
        yield case(f"where-{label}-sum", "c, a, b", "np.sum(np.where(c, a, b))", _mask(label, *sc),
                   spec_for(sa), spec_for(sb))
        yield case(f"where-{label}-loss", "c, a, b", "np.sum(np.tanh(np.where(c, a, b)))",
                   _mask(label, *sc), spec_for(sa), spec_for(sb))
    yield case("where-leaky-relu", "x", "np.where(x > 0, x, 0.1 * x)", S(3, 4))
    yield case("where(x>y,x,y)", "x, y", "np.where(x > y, x, y)", N(3, 4), N(4))
    yield case("where-const-else", "c, a", "np.where(c, a, 0.0)", _mask("ce", 3, 4), N(3, 4))
    yield case("where-const-then", "c, b", "np.where(c, 1.0, b)", _mask("ct", 3, 4), N(4))
    yield case("where-same-value", "c, a", "np.where(c, a, a * 2)", _mask("sv", 3, 4), N(3, 4))
    yield case("where-cond-from-other", "x, y", "np.sum(np.where(y > 0.5, np.exp(x), x ** 2))",
               N(3, 4), N(3, 4))
    yield case("where-cond-int-mask", "c, a, b", "np.where(c > 0, a, b)",
               K(np.array([[1, 0, 2, 0], [0, 0, 1, 3], [1, 1, 0, 0]])), N(3, 4), N(3, 4))


@pytest.mark.parametrize("c", list(_where_cases()))
def test_where(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_where_cases())))
def test_where_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


def test_where_condition_is_not_differentiated(tmp_path):
    fn = derive(tmp_path, "c, a, b", "np.sum(np.where(c, a, b))")
    assert fn.wrt == ("a", "b")


# -- ties: the documented conventions, exactly ----------------------------------------------------

def test_maximum_between_arrays_splits_ties(tmp_path):
    fn = derive(tmp_path, "a, b", "np.maximum(a, b)")
    a = np.array([1.0, 2.0, 3.0, -1.0])
    b = np.array([1.0, 5.0, 0.0, -1.0])
    seed = np.array([1.0, 2.0, 4.0, 8.0])
    da, db = fn.backward(a, b, **{fn.seed_name: seed})
    np.testing.assert_array_equal(da, [0.5, 0.0, 4.0, 4.0])
    np.testing.assert_array_equal(db, [0.5, 2.0, 0.0, 4.0])


def test_minimum_between_arrays_splits_ties(tmp_path):
    fn = derive(tmp_path, "a, b", "np.minimum(a, b)")
    a = np.array([1.0, 2.0, 3.0, -1.0])
    b = np.array([1.0, 5.0, 0.0, -1.0])
    seed = np.array([1.0, 2.0, 4.0, 8.0])
    da, db = fn.backward(a, b, **{fn.seed_name: seed})
    np.testing.assert_array_equal(da, [0.5, 2.0, 0.0, 4.0])
    np.testing.assert_array_equal(db, [0.5, 0.0, 4.0, 4.0])


def test_maximum_tie_with_broadcasting(tmp_path):
    fn = derive(tmp_path, "a, b", "np.sum(np.maximum(a, b))")
    a = np.array([[1.0, 0.0], [2.0, 3.0]])
    b = np.array([1.0, 3.0])
    da, db = fn.backward(a, b)
    np.testing.assert_array_equal(da, [[0.5, 0.0], [1.0, 0.5]])
    np.testing.assert_array_equal(db, [0.5, 1.5])


def test_maximum_of_a_value_with_itself_passes_the_whole_adjoint(tmp_path):
    fn = derive(tmp_path, "x", "np.sum(np.maximum(x, x) * np.arange(3.0))")
    (dx,) = fn.backward(np.array([1.0, -2.0, 3.0]))
    np.testing.assert_array_equal(dx, [0.0, 1.0, 2.0])


@pytest.mark.parametrize("expr", ["np.maximum(z, 0)", "np.maximum(z, 0.0)", "np.maximum(0, z)",
                                  "np.maximum(0.0, z)"])
def test_relu_splits_the_tie_at_zero(expr, tmp_path):
    """np.maximum(z, 0) at z == 0 passes half the gradient, as np.maximum does in JAX and autograd."""
    fn = derive(tmp_path, "z", f"np.sum({expr} * np.array([1.0, 2.0, 3.0, 4.0]))")
    (dz,) = fn.backward(np.array([-1.0, 0.0, 2.0, 0.0]))
    np.testing.assert_array_equal(dz, [0.0, 1.0, 3.0, 2.0])


@pytest.mark.parametrize("expr", ["np.minimum(z, 0)", "np.minimum(0.0, z)"])
def test_minimum_against_zero_splits_the_tie(expr, tmp_path):
    fn = derive(tmp_path, "z", f"np.sum({expr} * np.array([1.0, 2.0, 3.0, 4.0]))")
    (dz,) = fn.backward(np.array([-1.0, 0.0, 2.0, 0.0]))
    np.testing.assert_array_equal(dz, [1.0, 1.0, 0.0, 2.0])


def test_relu_scalar_at_zero(tmp_path):
    fn = derive(tmp_path, "z", "np.maximum(z, 0) * 3.0")
    (dz,) = fn.backward(0.0)
    assert float(dz) == 1.5
    (dz,) = fn.backward(np.array(0.0))
    assert float(dz) == 1.5


def test_abs_at_nonzero_is_sign(tmp_path):
    fn = derive(tmp_path, "x", "np.sum(np.abs(x))")
    (dx,) = fn.backward(np.array([-2.0, 3.0, -0.5]))
    np.testing.assert_array_equal(dx, [-1.0, 1.0, -1.0])


def test_small_integer_input_does_not_overflow_in_the_adjoint(tmp_path):
    """2 * x in int8 wraps at |x| > 63: np.square's adjoint gave -56 for x = 100 until its
    template wrote 2.0 * x. The gradient of an integer input is a float array."""
    fn = derive(tmp_path, "x, w", "np.sum(np.square(x) * w)")
    dx = fn.backward(np.array([100, -90, 3], dtype=np.int8), np.array([1.0, 2.0, 3.0]))[0]
    np.testing.assert_array_equal(dx, [200.0, -360.0, 18.0])
