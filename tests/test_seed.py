"""A scalar loss's backward written for the seed 1.0 (gradgen/seed.py): what it reads like,
that another seed scales every gradient exactly, that precision and ownership of the
returned arrays are kept, and that gradgen writes the seed out where folding is not safe."""

from __future__ import annotations

import numpy as np
import pytest

from support import assert_grad_ok, derive_source

RNG = np.random.default_rng(11)

SUM_OF_SQUARES = '''
    def f(W: "f[N, D]", x: "f[D]"):
        q = W @ x
        return np.sum(q ** 2)
'''
MAX_ROUTES = '''
    def f(x: "f[N]", y: "f[N]", z: "f[N]"):
        q = x + y
        m = np.maximum(y, z)
        return np.sum(q * m)
'''
LAYER_NORM = '''
    EPS = 1e-5

    def f(x: "f[N, D]", g: "f[D]", b: "f[D]"):
        mu = x.mean(axis=1, keepdims=True)
        xc = x - mu
        var = (xc ** 2).mean(axis=1, keepdims=True)
        y = g * xc / np.sqrt(var + EPS) + b
        return 0.5 * np.sum(y ** 2)
'''
MEAN_SQUARED = '''
    def f(W: "f[D, H]", b: "f[H]", x: "f[B, D]", y: "f[B, H]"):
        h = np.tanh(x @ W + b)
        return np.mean((h - y) ** 2)
'''
SCALARS = '''
    def f(a: float, b: float, c: float):
        return 3 * (a + b * c)
'''


def _args(source):
    shapes = {SUM_OF_SQUARES: [(4, 3), (3,)], MAX_ROUTES: [(5,), (5,), (5,)],
              LAYER_NORM: [(3, 4), (4,), (4,)], MEAN_SQUARED: [(3, 4), (4,), (5, 3), (5, 4)]}[source]
    return [RNG.standard_normal(s) for s in shapes]


def test_written_for_the_seed_one(tmp_path):
    f = derive_source(SUM_OF_SQUARES, tmp_path)
    body = f.source.split("def f_value_and_grad")[1]
    assert "dq = 2.0 * q" in body
    assert body.index("if dout != 1.0:") > body.index("dx = W.T @ dq")  # scaled once, at the end
    assert "dW, dx = dout * dW, dout * dx" in body
    f = derive_source(MAX_ROUTES, tmp_path)
    assert "dq = m" in f.source and "dm = q" in f.source


@pytest.mark.parametrize("source", [SUM_OF_SQUARES, MAX_ROUTES, LAYER_NORM, MEAN_SQUARED])
def test_another_seed_scales_every_gradient(source, tmp_path):
    f = derive_source(source, tmp_path)
    assert "if dout != 1.0:" in f.source
    args = _args(source)
    value, grads = f.value_and_grad(*args)
    value_2, grads_2 = f.value_and_grad(*args, 2.5)
    assert value == value_2
    for g, g2 in zip(grads, grads_2):
        np.testing.assert_allclose(g2, 2.5 * g, rtol=1e-15)
    assert_grad_ok(f, *args)


@pytest.mark.parametrize("seed", [1.0, np.float64(2.0), 2.0])
def test_float32_stays_float32_whatever_the_seed(seed, tmp_path):
    f = derive_source(MAX_ROUTES, tmp_path)
    args = [a.astype(np.float32) for a in _args(MAX_ROUTES)]
    _, grads = f.value_and_grad(*args, seed)
    assert all(g.dtype == np.float32 for g in grads)
    np.testing.assert_allclose(grads[0], seed * (args[1] > args[2]) * args[1] + seed * (args[1] <= args[2]) * args[2],
                               rtol=1e-6)


def test_returned_gradients_are_the_callers_own(tmp_path):
    """dx = y must not hand the caller its own y; a forward value may be handed over, once."""
    f = derive_source('''
        def f(x: "f[N]", y: "f[N]"):
            return np.sum(x * y)
    ''', tmp_path)
    x, y = RNG.standard_normal(3), RNG.standard_normal(3)
    dx, dy = f.backward(x, y)
    assert not np.shares_memory(dx, y) and not np.shares_memory(dy, x)
    dx += 1.0
    np.testing.assert_array_equal(f.backward(x, y)[0], y)
    g = derive_source(MAX_ROUTES, tmp_path)
    args = _args(MAX_ROUTES)
    first, second = g.backward(*args), g.backward(*args)
    assert not np.shares_memory(first[0], second[0])  # a new array each call
    assert not any(np.shares_memory(a, b) for a in first for b in args)


SOFTMAX_CE = '''
    def f(theta: "f[B, C]", y: "f[B, C]"):
        n = theta.shape[0]
        e = np.exp(theta - theta.max(axis=1, keepdims=True))
        yhat = e / e.sum(axis=1, keepdims=True)
        return -np.sum(y * np.log(yhat)) / n
'''


LOGISTIC = '''
    def f(w: "f[D]", X: "f[N, D]", y: "f[N]"):
        p = 1 / (1 + np.exp(-(X @ w)))
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
'''
HALF_MSE = '''
    def f(h: "f[B, H]", y: "f[B, H]"):
        return 0.5 * np.mean((h - y) ** 2)
'''


@pytest.mark.parametrize("source, wrt, line, shapes", [
    # -(1.0 / n) * (y - yhat * s): the sign goes into the difference, the 1.0 / n becomes / n
    (SOFTMAX_CE, None, "dtheta = (yhat * y.sum(axis=1, keepdims=True) - y) / n", [(4, 3), (4, 3)]),
    # -1.0 / np.size(y) * (y - p)
    (LOGISTIC, ("w", "X"), "dXw = (p - y) / np.size(y)", [(3,), (5, 3), (5,)]),
    # -1.0 * (y - yhat * s): the difference turned round is the whole adjoint
    (SOFTMAX_CE.replace(") / n", ")"), ("theta",), "dtheta = yhat * y.sum(axis=1, keepdims=True) - y  #",
     [(4, 3), (4, 3)]),
    # 0.5 * np.mean(r ** 2): 2 * (0.5 / size) folds to 1.0 / size, then a division
    (HALF_MSE, None, "dh_minus_y = h_minus_y / np.size(h)", [(4, 3), (4, 3)]),
    # 1.0 * (1.0 - tanh_h ** 2): the seed's 1.0 before an expression of float arrays goes
    ('\n    def f(x: "f[N, D]", W: "f[D, H]"):\n        return np.sum(np.tanh(x @ W))\n', None,
     "    dxW = 1.0 - tanh_xW ** 2 ", [(4, 3), (3, 2)]),
])
def test_seed_derived_factors_read_like_the_notes(source, wrt, line, shapes, tmp_path):
    f = derive_source(source, tmp_path, wrt=wrt)
    assert line in f.source, f.source
    rng = np.random.default_rng(3)
    args = [rng.random(s) if i == len(shapes) - 1 else rng.standard_normal(s) for i, s in enumerate(shapes)]
    assert_grad_ok(f, *args, wrt=wrt)
    _, grads = f.value_and_grad(*args)
    _, grads_2 = f.value_and_grad(*args, 2.5)
    for g, g2 in zip(grads, grads_2):
        np.testing.assert_allclose(g2, 2.5 * g, rtol=1e-15)


def test_a_negative_factor_of_a_single_array_stays_a_product(tmp_path):
    """-(1.0 / n) * log_yhat: writing it -log_yhat / n would be two passes instead of one."""
    f = derive_source(SOFTMAX_CE, tmp_path)
    assert "dy = -(1.0 / n) * log_yhat" in f.source, f.source


def test_python_float_parameters_get_python_floats(tmp_path):
    f = derive_source(SCALARS, tmp_path)
    assert "da = 3.0" in f.source and "db = 3.0 * c" in f.source
    assert f.backward(1.0, 2.0, 4.0) == (3.0, 12.0, 6.0)
    assert f.backward(1.0, 2.0, 4.0, 2.0) == (6.0, 24.0, 12.0)


@pytest.mark.parametrize("body", [
    "np.sum(x ** 2)",             # unannotated: x may be a Python float or an int array
    "np.sum((x + 1.0) * 3.0)",    # the seed would be broadcast alone: np.broadcast_to(1.0, ...)
    "np.sum(3 * x)",              # the seed would meet only the number 3: np.broadcast_to(3.0, ...)
])
def test_seed_written_out_where_folding_is_not_safe(body, tmp_path):
    f = derive_source(f"def f(x):\n    return {body}\n", tmp_path)
    assert "dout = _seed_like(out, dout)" in f.source and "if dout != 1.0" not in f.source
    for x in (np.float32(1.5), RNG.standard_normal(3).astype(np.float32)):
        (dx,) = f.backward(x)
        assert np.asarray(dx).dtype == np.float32
    assert_grad_ok(f, RNG.standard_normal(3))


def test_a_gradient_that_is_the_seed_itself(tmp_path):
    """Found by the fuzzer: with f(p) = +p the gradient is the seed, which must not be scaled
    by itself (da * da)."""
    f = derive_source("def f(p: float):\n    a = (+p)\n    return a\n", tmp_path)
    assert f.backward(0.3) == (1.0,) and f.backward(0.3, 0.5) == (0.5,)


def test_a_module_constant_does_not_stand_in_for_the_seed(tmp_path):
    """Found by the fuzzer: 1.0 * SCALE must not become the Python float SCALE, which then made
    float64 of float32 work through np.broadcast_to."""
    f = derive_source('''
        SCALE = 0.75

        def f(p):
            s = np.sum(np.tanh(p)).mean()
            return np.sum(s * SCALE)
    ''', tmp_path)
    (dp,) = f.backward(np.array([0.5, -1.0, 2.0], dtype=np.float32))
    assert dp.dtype == np.float32



def test_many_gradients_are_scaled_one_per_line(tmp_path):
    """The seed's epilogue for eight gradients would be a 130-column line: it is split."""
    f = derive_source('''
        def f(a: "f[3]", b: "f[3]", c: "f[3]", d: "f[3]", e: "f[3]", g: "f[3]", h: "f[3]", k: "f[3]"):
            s = np.sum(a ** 2) + np.sum(b ** 2) + np.sum(c ** 2) + np.sum(d ** 2)
            return s + np.sum(e ** 2) + np.sum(g ** 2) + np.sum(h ** 2) + np.sum(k ** 2)
    ''', tmp_path)
    assert "        dk = dout * dk\n" in f.source
    assert max(len(line) for line in f.source.splitlines() if "dout * " in line) < 100
    rng = np.random.default_rng(4)
    args = [rng.standard_normal(3) for _ in range(8)]
    for grad, one in zip(f.backward(*args, dout=2.5), f.backward(*args)):
        np.testing.assert_allclose(grad, 2.5 * one)
