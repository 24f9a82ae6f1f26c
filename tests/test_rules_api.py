"""The derived function's contract: value_and_grad, backward's tuple in wrt order, default
and explicit wrt, seeds for array results, and gradients the caller owns (writable arrays,
never the same object as another returned gradient, the seed or an argument)."""

from __future__ import annotations

import numpy as np
import pytest

import gradgen
from rules_support import (FLOAT, N, annotate_params, case, check_fd, derive, draw_args, numeric_grad,
                           rel_error)

# -- value_and_grad ------------------------------------------------------------------------------

def test_value_and_grad_scalar(tmp_path):
    fn = derive(tmp_path, "W, b, X, y", "z = X @ W + b\nreturn np.sum((np.tanh(z) - y) ** 2)")
    W, b, X, y = draw_args("vag", [N(4, 3), N(3), N(5, 4), N(5, 3)])
    value, grads = fn.value_and_grad(W, b, X, y)
    assert value == fn(W, b, X, y)
    assert np.ndim(value) == 0
    for g1, g2 in zip(grads, fn.backward(W, b, X, y)):
        np.testing.assert_array_equal(g1, g2)


def test_value_and_grad_array(tmp_path):
    fn = derive(tmp_path, "x, w", "h = np.tanh(x @ w)\nreturn h")
    x, w = draw_args("vag-array", [N(3, 4), N(4, 2)])
    seed = np.ones((3, 2))
    value, grads = fn.value_and_grad(x, w, **{fn.seed_name: seed})
    np.testing.assert_array_equal(value, fn(x, w))
    assert isinstance(grads, tuple) and len(grads) == 2


def test_forward_is_unchanged(tmp_path):
    fn = derive(tmp_path, "x", "np.sum(np.exp(x))")
    x = np.array([0.0, 1.0])
    assert fn(x) == np.sum(np.exp(x))
    assert fn.forward(x) == fn(x)


# -- wrt -------------------------------------------------------------------------------------------

def test_backward_returns_a_tuple_for_one_name(tmp_path):
    fn = derive(tmp_path, "x, y", "np.sum(x * y)", wrt=("x",))
    grads = fn.backward(np.ones(3), np.arange(3.0))
    assert isinstance(grads, tuple) and len(grads) == 1
    np.testing.assert_array_equal(grads[0], [0.0, 1.0, 2.0])
    value, grads = fn.value_and_grad(np.ones(3), np.arange(3.0))
    assert isinstance(grads, tuple) and len(grads) == 1


def test_backward_returns_a_tuple_for_single_parameter_default_wrt(tmp_path):
    fn = derive(tmp_path, "x", "np.sum(x ** 2)")
    assert fn.wrt == ("x",)
    grads = fn.backward(np.array([1.0, 2.0]))
    assert isinstance(grads, tuple) and len(grads) == 1
    np.testing.assert_array_equal(grads[0], [2.0, 4.0])


def test_wrt_as_a_string(tmp_path):
    fn = derive(tmp_path, "x, y", "np.sum(x * y)", wrt="y")
    assert fn.wrt == ("y",)
    (dy,) = fn.backward(np.arange(3.0), np.ones(3))
    np.testing.assert_array_equal(dy, [0.0, 1.0, 2.0])


def test_default_wrt_is_every_differentiable_parameter_in_order(tmp_path):
    fn = derive(tmp_path, "W, b, X, y, mask",
                "z = X @ W + b\nreturn np.sum((z * (mask > 0))[np.arange(2), y])")
    assert fn.wrt == ("W", "b", "X")


def test_explicit_wrt_order_is_respected(tmp_path):
    source = "z = X @ W + b\nreturn np.sum(np.tanh(z) ** 2)"
    args = draw_args("wrt-order", [N(4, 3), N(3), N(5, 4)])
    f_wb = derive(tmp_path, "W, b, X", source, wrt=("W", "b"))
    f_bw = derive(tmp_path, "W, b, X", source, wrt=("b", "W"))
    f_xw = derive(tmp_path, "W, b, X", source, wrt=("X", "W"))
    assert f_bw.wrt == ("b", "W")
    dW, db = f_wb.backward(*args)
    db2, dW2 = f_bw.backward(*args)
    dX, dW3 = f_xw.backward(*args)
    assert db2.shape == (3,) and dW2.shape == (4, 3) and dX.shape == (5, 4)
    np.testing.assert_allclose(dW2, dW, rtol=1e-13)
    np.testing.assert_allclose(dW3, dW, rtol=1e-13)
    np.testing.assert_allclose(db2, db, rtol=1e-13)
    check_fd(f_bw, args, label="wrt-order-bW")
    check_fd(f_xw, args, label="wrt-order-XW")


def test_wrt_parameter_without_a_path_gets_zeros(tmp_path):
    fn = derive(tmp_path, "x, y", "np.sum(x ** 2)", wrt=("x", "y"))
    dx, dy = fn.backward(np.array([1.0, 2.0]), np.ones((2, 3)))
    np.testing.assert_array_equal(dx, [2.0, 4.0])
    np.testing.assert_array_equal(dy, np.zeros((2, 3)))


def test_parameter_default_value_is_used(tmp_path):
    fn = derive(tmp_path, "x, scale=2.0", "np.sum(x * scale)")
    dx, dscale = fn.backward(np.array([1.0, 3.0]))
    np.testing.assert_array_equal(dx, [2.0, 2.0])
    assert float(dscale) == 4.0


# -- seeds -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, seed_name", [
    ("np.tanh(x)", "dout"),
    ("h = np.tanh(x)\nreturn h", "dh"),
    ("x * 2.0", "dout"),
    ("scores = x @ x.T\nreturn scores", "dscores"),
])
def test_seed_name(body, seed_name, tmp_path):
    fn = derive(tmp_path, "x", body)
    assert fn.seed_name == seed_name


@pytest.mark.parametrize("params, body, specs", [
    ("x", "np.tanh(x)", [N(3, 4)]),
    ("W, X", "X @ W", [N(4, 2), N(3, 4)]),
    ("x", "h = np.exp(x)\nreturn h", [N(5)]),
    ("x, y", "x + y", [N(3, 4), N(4)]),
    ("x", "x * 2.0", [N(3)]),
    ("x", "x + 1.0", [N(3)]),
    ("x", "x ** 1", [N(3)]),
    ("x", "-x", [N(3)]),
    ("x", "x.T", [N(3, 2)]),
    ("x", "x.sum(axis=0)", [N(3, 2)]),
    ("x", "x[1:]", [N(3)]),
])
def test_missing_seed_for_array_result_raises(params, body, specs, tmp_path):
    fn = derive(tmp_path, params, body)
    args = draw_args("missing-seed", specs)
    with pytest.raises(ValueError):
        fn.backward(*args)
    with pytest.raises(ValueError):
        fn.value_and_grad(*args)


@pytest.mark.parametrize("params, body, specs", [
    ("W, X", "np.tanh(X @ W)", [N(4, 2), N(3, 4)]),
    ("x, y", "x * y", [N(3, 4), N(4)]),
    ("x", "x.max(axis=1)", [N(3, 4)]),
    ("x", "x + 1.0", [N(3, 4)]),
    ("x", "x", [N(3, 4)]),
])
def test_vjp_matches_fd_of_seeded_sum(params, body, specs, tmp_path):
    """backward(..., seed) is the vector-Jacobian product: d/dx np.sum(seed * f(x))."""
    fn = derive(tmp_path, params, body)
    args = draw_args("vjp:" + body, specs)
    seed = np.random.default_rng(7).standard_normal(np.shape(fn(*args)))
    grads = fn.backward(*args, **{fn.seed_name: seed})
    for i, g in enumerate(grads):
        assert rel_error(g, numeric_grad(fn, args, i, seed)) <= 1e-6


def test_seed_scales_a_scalar_result(tmp_path):
    fn = derive(tmp_path, "x", "np.sum(x ** 2)")
    (dx,) = fn.backward(np.array([1.0, -2.0]), **{fn.seed_name: 3.0})
    np.testing.assert_array_equal(dx, [6.0, -12.0])


@pytest.mark.parametrize("body", ["x - 1", "x + 1.0", "x ** 1", "x", "+x", "x * 1", "2.0 * x"])
@pytest.mark.parametrize("kind", ["float", "0d"])
def test_scalar_result_defaults_seed_to_one(body, kind, tmp_path):
    """A scalar result needs no seed, however little work the backward does."""
    fn = derive(tmp_path, "x", body)
    x = 1.5 if kind == "float" else np.array(1.5)
    (dx,) = fn.backward(x)
    expected = 2.0 if body.startswith("2.0") else 1.0
    assert np.asarray(dx).dtype.kind == "f"
    assert float(dx) == expected
    value, (dx2,) = fn.value_and_grad(x)
    assert float(dx2) == expected


# -- gradients the caller owns ------------------------------------------------------------------

OWNERSHIP = [
    ("a, b", "a + b", [N(3, 4), N(3, 4)]),
    ("a, b", "np.sum(a + b)", [N(3, 4), N(3, 4)]),
    ("a, b", "a + b", [N(3, 4), N(4)]),
    ("a, b", "a - b", [N(3, 4), N(3, 4)]),
    ("a, b", "np.sum(a) + np.sum(b)", [N(3, 4), N(3, 4)]),
    ("a, b", "np.sum(a - b)", [N(3), N(3)]),
    ("a, b", "np.concatenate([a, b])", [N(2, 3), N(2, 3)]),
    ("a, b", "np.stack([a, b])", [N(2, 3), N(2, 3)]),
    ("a, b", "np.sum(a.T) + np.sum(b.reshape(-1))", [N(3, 4), N(3, 4)]),
    ("a, b", "np.mean(a) + np.mean(b)", [N(3, 4), N(3, 4)]),
    ("a, b", "np.where(a > 0, a, b)", [N(3, 4), N(3, 4)]),
    ("a, b", "np.maximum(a, b)", [N(3, 4), N(3, 4)]),
    ("a, b", "a * 1 + b ** 1", [N(3), N(3)]),
    ("a, b", "a.copy() + b", [N(3), N(3)]),
    ("a, b", "np.sum(a + b, axis=0)", [N(3, 4), N(3, 4)]),
    ("a, b, c", "a + b + c", [N(3), N(3), N(3)]),
    ("a", "a", [N(3)]),
    ("a", "a + 1.0", [N(3)]),
    ("a", "np.sum(a)", [N(3)]),
]


@pytest.mark.parametrize("annotate", [False, True], ids=["plain", "annotated"])
@pytest.mark.parametrize("params, body, specs", OWNERSHIP, ids=[o[1] for o in OWNERSHIP])
def test_returned_gradients_are_owned_by_the_caller(params, body, specs, annotate, tmp_path):
    args = draw_args("own:" + body, specs)
    if annotate:
        params = annotate_params(params, args, "named")
    fn = derive(tmp_path, params, body)
    out = fn(*args)
    seed = None if np.ndim(out) == 0 else np.random.default_rng(3).standard_normal(np.shape(out))
    kwargs = {} if seed is None else {fn.seed_name: seed}
    grads = fn.backward(*args, **kwargs)
    reference = [np.array(g, copy=True) for g in grads]
    for k, g in enumerate(grads):
        assert isinstance(g, np.ndarray), f"gradient {k} is a {type(g).__name__}"
        assert g.flags.writeable, f"gradient {k} is read-only"
        for other in list(grads[:k]) + list(args) + ([seed] if seed is not None else []):
            assert g is not other
            assert not np.shares_memory(g, other), f"gradient {k} shares memory with another array"
    # updating one gradient in place leaves every other gradient, argument and seed alone
    args_before = [np.array(a, copy=True) for a in args]
    seed_before = None if seed is None else seed.copy()
    for k, g in enumerate(grads):
        g -= 100.0
        for j, h in enumerate(grads):
            if j != k:
                np.testing.assert_array_equal(h, reference[j])
        g[...] = reference[k]
    for a, a0 in zip(args, args_before):
        np.testing.assert_array_equal(a, a0)
    if seed is not None:
        np.testing.assert_array_equal(seed, seed_before)
    # and the next call is not affected
    for g in grads:
        g[...] = 12345.0
    for g, r in zip(fn.backward(*args, **kwargs), reference):
        np.testing.assert_array_equal(g, r)


@pytest.mark.parametrize("body", ["np.sum(x * y)", "x * y", "np.sum(np.sin(x) * y)"])
def test_zero_d_parameter_gets_a_scalar_of_its_shape(body, tmp_path):
    """A 0-d input's gradient has shape (): a NumPy scalar, as NumPy's own 0-d arithmetic gives
    (documented in the README), never an alias of the seed or of another gradient."""
    fn = derive(tmp_path, "x, y", body)
    x, y = np.array(1.5), np.arange(3.0)
    out = fn(x, y)
    seed = np.ones(np.shape(out))
    kwargs = {} if np.ndim(out) == 0 else {fn.seed_name: seed}
    dx, dy = fn.backward(x, y, **kwargs)
    assert np.shape(dx) == () and np.asarray(dx).dtype == np.float64, type(dx)
    assert dx is not seed and not np.shares_memory(dx, seed) and not np.shares_memory(dx, dy)


def test_python_float_parameter_gets_a_scalar_gradient(tmp_path):
    fn = derive(tmp_path, "s, x", "np.sum(s * x)")
    ds, dx = fn.backward(2.0, np.arange(3.0))
    assert np.shape(ds) == ()
    assert float(ds) == 3.0
    np.testing.assert_array_equal(dx, [2.0, 2.0, 2.0])


def test_backward_is_repeatable(tmp_path):
    fn = derive(tmp_path, "W, x", "np.sum(np.tanh(W @ x))")
    W, x = draw_args("repeat", [N(3, 4), N(4)])
    first = fn.backward(W, x)
    second = fn.backward(W, x)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


# -- check_grad itself ---------------------------------------------------------------------------

def test_check_grad_agrees_with_independent_differences(tmp_path):
    fn = derive(tmp_path, "W, b, X", "np.sum(np.tanh(X @ W + b) ** 2)")
    args = draw_args("check_grad", [N(4, 3), N(3), N(5, 4)])
    res = gradgen.check_grad(fn, *args)
    assert res.ok, str(res)
    assert set(res.errors) == {"W", "b", "X"}
    for i, name in enumerate(("W", "b", "X")):
        np.testing.assert_allclose(res.numeric[name], numeric_grad(fn, args, i, None), rtol=1e-6, atol=1e-9)
    assert "W" in str(res)


def test_check_grad_reports_a_wrong_gradient(tmp_path):
    fn = derive(tmp_path, "x", "np.sum(x ** 3)")
    right = fn.backward
    fn.backward = lambda *a, **k: tuple(g * 1.01 for g in right(*a, **k))
    res = gradgen.check_grad(fn, np.array([1.0, -2.0, 0.5]))
    assert not res.ok
    assert "MISMATCH" in str(res)


def test_check_grad_array_result(tmp_path):
    fn = derive(tmp_path, "x, y", "x * y")
    res = gradgen.check_grad(fn, np.arange(1.0, 4.0), np.ones((2, 3)))
    assert res.ok, str(res)


def test_check_fd_harness_catches_wrong_gradient(tmp_path):
    """The independent check used by the rule tests does fail on a wrong gradient."""
    fn = derive(tmp_path, "x", "np.sum(np.sin(x))")
    right = fn.backward
    fn.backward = lambda *a, **k: tuple(g + 1e-3 for g in right(*a, **k))
    with pytest.raises(AssertionError, match="wrong gradient"):
        check_fd(fn, [np.array([0.1, 0.2])], label="sabotaged")


def test_check_fd_harness_handles_python_float(tmp_path):
    run = case("float-harness", "s", "s ** 3", FLOAT).values[0]
    fn = derive(tmp_path, run.params, run.body)
    check_fd(fn, [1.25], label="float-harness")
