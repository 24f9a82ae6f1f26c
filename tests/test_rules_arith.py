"""Arithmetic rules (+ - * / ** and unary -) against float64 central differences.

Every binary operator is checked on arrays, Python float scalars and 0-d arrays, in every
broadcasting case below and in both operand orders, once returning the result itself
(vector-Jacobian product with a random seed) and once inside a scalar loss.
"""

from __future__ import annotations

import numpy as np
import pytest

from rules_support import (FLOAT, FLOAT_POS, FLOAT_SIGNED, N, P, annotated, case, check_fd, derive,
                           derive_cached, draw_args, fsrc, run_case, shape_label, spec_for)

# (left shape, right shape); 'f' is a Python float, '0d' a 0-d array
BROADCAST_PAIRS = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((3, 1), (1, 4)),
    ((3, 4), (1, 4)),
    ((3, 4), "f"),
    ((3, 4), "0d"),
    ((2, 3, 4), (3, 1)),
    ((2, 1, 4), (3, 1)),
    ((5,), "f"),
    ((5,), "0d"),
    ((1,), (3, 1)),
    ("f", "f"),
    ("0d", "0d"),
    ("f", "0d"),
]

OPERATORS = [("add", "a + b"), ("sub", "a - b"), ("mul", "a * b"), ("div", "a / b")]
NP_FUNCTIONS = [("np.add", "np.add(a, b)"), ("np.subtract", "np.subtract(a, b)"),
                ("np.multiply", "np.multiply(a, b)"), ("np.divide", "np.divide(a, b)")]


def _ordered_pairs():
    seen = set()
    for left, right in BROADCAST_PAIRS:
        for pair in ((left, right), (right, left)):
            if pair not in seen:
                seen.add(pair)
                yield pair


def _binary_cases():
    for name, expr in OPERATORS + NP_FUNCTIONS:
        divides = "div" in name or "divide" in name
        for left, right in _ordered_pairs():
            if name.startswith("np.") and (left, right) not in (((3, 4), (4,)), ((3, 1), (1, 4)),
                                                               ((5,), "f"), ("0d", (3, 4))):
                continue
            a = spec_for(left)
            b = spec_for(right, "signed" if divides else "normal")
            label = f"{name}-{shape_label(left)}&{shape_label(right)}"
            yield case(f"{label}-vjp", "a, b", expr, a, b)
            yield case(f"{label}-sum", "a, b", f"np.sum({expr})", a, b)


@pytest.mark.parametrize("c", list(_binary_cases()))
def test_binary_operator(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_binary_cases(), share=0.15)))
def test_binary_operator_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


# -- with constants written in the source --------------------------------------------------

CONST_EXPRS = ["2.0 * a", "a * 2", "a * -3", "a / 2.0", "2.0 / a", "a - 1", "1 - a", "a + 1.0",
               "1.0 + a", "-2 - a", "a / -4", "0.5 * a * 3.0"]
KINDS = [(5,), (3, 4), (2, 3, 4), "f", "0d"]


def _const_cases():
    for expr in CONST_EXPRS:
        for kind in KINDS:
            flavour = "signed" if "/ a" in expr else "normal"
            yield case(f"{expr.replace(' ', '')}-{shape_label(kind)}", "a", expr, spec_for(kind, flavour))


@pytest.mark.parametrize("c", list(_const_cases()))
def test_operator_with_literal(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_const_cases(), share=0.15)))
def test_operator_with_literal_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


# -- unary minus ------------------------------------------------------------------------------

UNARY_EXPRS = ["-a", "np.negative(a)", "-(a * b)", "-a ** 2", "-(-a)", "+a * b", "-a * b", "b - -a"]


def _unary_cases():
    for expr in UNARY_EXPRS:
        for kind in KINDS:
            label = f"{expr.replace(' ', '')}-{shape_label(kind)}"
            if "b" in expr:
                yield case(label, "a, b", expr, spec_for(kind), spec_for(kind))
            else:
                yield case(label, "a", expr, spec_for(kind))


@pytest.mark.parametrize("c", list(_unary_cases()))
def test_unary_minus(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_unary_cases(), share=0.25)))
def test_unary_minus_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


def _neg_broadcast_cases():
    for left, right in [((3, 4), (4,)), ((4,), (3, 4)), ((3, 4), "f"), ("0d", (2, 3))]:
        yield case(f"-(a*b)-{shape_label(left)}&{shape_label(right)}", "a, b", "-(a * b)",
                   spec_for(left), spec_for(right))


@pytest.mark.parametrize("c", list(_neg_broadcast_cases()))
def test_unary_minus_broadcast(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_neg_broadcast_cases())))
def test_unary_minus_broadcast_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


# -- powers -----------------------------------------------------------------------------------

# (exponent text, base must be positive)
LITERAL_EXPONENTS = [("2", False), ("3", False), ("0.5", True), ("-1", False), ("1", False),
                     ("2.0", False), ("1.5", True), ("-2", False), ("-0.5", True), ("4", False)]


def _literal_pow_cases():
    for p, positive in LITERAL_EXPONENTS:
        for kind in KINDS:
            base = spec_for(kind, "positive" if positive else "signed")
            label = f"x**{p}-{shape_label(kind)}"
            yield case(f"{label}-vjp", "x", f"x ** {p}", base)
            yield case(f"{label}-sum", "x", f"np.sum(x ** {p})", base)
            if kind == (3, 4):
                yield case(f"{label}-mean", "x", f"np.mean(x ** {p})", base)
        yield case(f"np.power(x,{p})-3x4", "x", f"np.power(x, {p})",
                   spec_for((3, 4), "positive" if positive else "signed"))


@pytest.mark.parametrize("c", list(_literal_pow_cases()))
def test_power_literal_exponent(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_literal_pow_cases(), share=0.2)))
def test_power_literal_exponent_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


def _zero_power_cases():
    for kind in KINDS:
        yield case(f"x**0-{shape_label(kind)}", "x", "x ** 0 + np.sin(x)", spec_for(kind))


@pytest.mark.parametrize("c", list(_zero_power_cases()))
def test_power_zero_exponent(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_zero_power_cases())))
def test_power_zero_exponent_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


def _array_pow_cases():
    for left, right in _ordered_pairs():
        base, exponent = spec_for(left, "positive"), spec_for(right)
        label = f"a**b-{shape_label(left)}&{shape_label(right)}"
        yield case(f"{label}-vjp", "a, b", "a ** b", base, exponent)
        yield case(f"{label}-sum", "a, b", "np.sum(a ** b)", base, exponent)
    yield case("np.power(a,b)-3x4&4", "a, b", "np.power(a, b)", P(3, 4), N(4))
    yield case("a**b-b-only", "a, b", "a ** b", P(3, 4), N(4), wrt=("b",))
    yield case("a**b-a-only", "a, b", "a ** b", P(3, 4), N(4), wrt=("a",))
    yield case("x**x", "x", "x ** x", P(5))


@pytest.mark.parametrize("c", list(_array_pow_cases()))
def test_power_array_exponent(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_array_pow_cases(), share=0.2)))
def test_power_array_exponent_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


NUMBER_BASES = ["2.0 ** x", "2 ** x", "0.5 ** x", "np.e ** x", "3.0 ** (2 * x)", "10.0 ** -x"]


def _number_base_cases():
    for expr in NUMBER_BASES:
        for kind in KINDS:
            label = f"{expr.replace(' ', '')}-{shape_label(kind)}"
            yield case(f"{label}-vjp", "x", expr, spec_for(kind))
            yield case(f"{label}-loss", "x", f"np.sum({expr})", spec_for(kind))


@pytest.mark.parametrize("c", list(_number_base_cases()))
def test_power_number_base(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_number_base_cases(), share=0.2)))
def test_power_number_base_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


def test_power_python_float_base_param(tmp_path):
    run_case(case("c**x-float-base", "c, x", "np.sum(c ** x)", FLOAT_POS, N(3, 4)).values[0], tmp_path)


def test_power_python_float_exponent_param(tmp_path):
    run_case(case("x**p-float-exp", "x, p", "np.sum(x ** p)", P(3, 4), FLOAT).values[0], tmp_path)


def test_division_by_python_float_param(tmp_path):
    run_case(case("x/s-float", "x, s", "np.sum(np.tanh(x / s))", N(3, 4), FLOAT_SIGNED).values[0],
             tmp_path)


def test_sum_of_squares_cs231n(tmp_path):
    run_case(case("sum(q**2)", "q", "np.sum(q ** 2)", N(4, 3)).values[0], tmp_path)


@pytest.mark.parametrize("params, body", [
    ('x: "f[B, D]"', "np.sum(x ** 1)"),
    ('x: "f[3, 4]"', "np.mean(x ** 1.0)"),
    ('x: "f[B, D]"', "np.sum(np.power(x, 1), axis=0)"),
    ('x: "f[B, D]"', "np.sum(x ** 1, axis=1, keepdims=True)"),
    ('x: "f[B, D]"', "y = x * 2.0\nreturn np.sum(y ** 1)"),
    ('x: "f[B, D]", w: "f[D]"', "np.sum((x * w) ** 1)"),
])
def test_power_one_under_a_reduction_with_shapes(params, body):
    """x ** 1 straight under a sum/mean, with the shapes known from annotations."""
    fn = derive_cached(fsrc(params, body))
    specs = [N(3, 4), N(4)][:params.count(":")]
    check_fd(fn, draw_args("pow1:" + body, specs), label=body)


def test_negative_power_of_integer_valued_input(tmp_path):
    """Found by the fuzzer: x ** -1.0 reversed as x ** -2 failed for an integer array (NumPy
    refuses integers to negative integer powers); the exponent is written -2.0."""
    f = derive(tmp_path, "x", "np.sum(np.power(x, -1.0))")
    (dx,) = f.backward(np.array([1, -2, 4]))
    np.testing.assert_allclose(dx, [-1.0, -0.25, -1 / 16])


@pytest.mark.parametrize("annotated_", [True, False])
def test_a_value_times_itself_is_one_contribution(annotated_, tmp_path):
    """h * h gives dh = 2.0 * dq * h, as np.square does, not dh = dq * h then dh = dh + dq * h
    (with the seed folded, dh = 2.0 * h)."""
    from support import assert_grad_ok, derive_source

    x, w = ('x: "f[N, D]"', 'w: "f[D]"') if annotated_ else ("x", "w")
    f = derive_source(f'''
        def f({x}, {w}):
            h = np.tanh(x * w)
            q = h * h
            return np.sum(q)
    ''', tmp_path)
    assert "dh = dh +" not in f.source
    assert ("dh = 2.0 * h  " if annotated_ else "dh = 2.0 * dq * h") in f.source, f.source
    rng = np.random.default_rng(8)
    assert_grad_ok(f, rng.standard_normal((3, 4)), rng.standard_normal(4))
