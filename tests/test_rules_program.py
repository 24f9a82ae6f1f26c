"""Whole forwards: non-differentiable values passing through (shapes, len, comparisons,
argmax, zeros_like, integer inputs) and straight-line programs of many statements with
reassigned names and values used many times, against float64 central differences."""

from __future__ import annotations

import numpy as np
import pytest

from rules_support import annotated, FLOAT, K, N, S, case, check_fd, derive, draw_args, run_case

# -- non-differentiable values ------------------------------------------------------------------

def _nondiff_cases():
    yield case("shape[0]", "x", "n = x.shape[0]\nreturn np.sum(x ** 2) / n", N(3, 4))
    yield case("shape[-1]*x", "x", "x * x.shape[-1]", N(3, 4))
    yield case("shape-unpack", "x", "n, d = x.shape\nreturn np.sum(np.tanh(x)) / (n * d)", N(3, 4))
    yield case("len", "x", "np.sum(x * len(x))", N(3, 4))
    yield case("len-divides", "x", "np.sum(x) / len(x)", N(5))
    yield case("ndim-size", "x", "np.sum(x * x.ndim) / x.size", N(3, 4))
    yield case("dtype", "x", "np.sum(x * np.ones(3, dtype=x.dtype))", N(2, 3))
    yield case("mask-compare", "x", "mask = x > 0\nreturn np.sum(x * mask)", S(3, 4))
    yield case("mask-compare-other", "x, y", "np.sum((x > y) * x * y)", N(3, 4), N(4))
    yield case("mask-chained-compare", "x", "np.sum(x * ((-1.0 < x) & (x < 1.0)))", S(3, 4))
    yield case("mask-np.greater", "x", "np.sum(np.greater(x, 0) * x ** 2)", S(3, 4))
    yield case("mask-logical-not", "x", "np.sum(np.logical_not(x > 0) * x)", S(3, 4))
    yield case("argmax-index", "x", "i = np.argmax(x)\nreturn x[i] * 2.0", N(5))
    yield case("argmax-method", "x", "x[x.argmax()] + x[x.argmin()] * 3.0", N(5))
    yield case("argmax-axis", "x", "j = np.argmax(x, axis=1)\nn = x.shape[0]\nreturn np.sum(x[np.arange(n), j])",
               N(4, 3))
    yield case("zeros_like", "x", "z = np.zeros_like(x)\nreturn np.sum(np.maximum(x, z) + z * x)", S(3, 4))
    yield case("ones_like", "x", "np.sum(np.ones_like(x) * x ** 2)", N(3, 4))
    yield case("sign-as-constant", "x", "np.sum(np.sign(x) * x)", S(3, 4))
    yield case("floor-as-constant", "x", "np.sum(np.floor(x * 0.9 + 0.05) * x)", S(3, 4))
    yield case("int-index-param", "x, i", "np.sum(x[i] ** 2)", N(4, 3), K(1))
    yield case("int-array-param", "x, idx", "np.sum(x[idx] ** 2)", N(4, 3), K(np.array([1, 1, 3])))
    yield case("int-reshape-param", "x, n", "np.sum(np.tanh(x.reshape(n, -1)) @ np.ones(6))", N(12), K(2))
    yield case("int-slice-param", "x, n", "np.sum(x[:n] ** 3)", N(5), K(3))
    yield case("int-array-mask", "x, c", "np.sum(x * (c > 0))", N(3, 4), K(np.array([1, 0, 2, 0])))
    yield case("int-scalar-multiplier", "x, n", "np.sum(x * n)", N(3), K(3), wrt=("x",))


@pytest.mark.parametrize("c", list(_nondiff_cases()))
def test_nondifferentiable_values_pass_through(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_nondiff_cases())))
def test_nondifferentiable_values_pass_through_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


@pytest.mark.parametrize("expr", [
    "np.sum(x[np.arange(x.shape[0]), np.argmax(x, axis=1)])",
    "np.sum(x * np.ones(x.shape))",
    "np.sum(x.T * np.arange(len(x)))",
])
def test_numpy_constructors_of_shapes_pass_through(expr, tmp_path):
    """np.arange / np.ones of a differentiable array's .shape or len are non-differentiable."""
    run_case(case(expr, "x", expr, N(4, 3)).values[0], tmp_path)


@pytest.mark.parametrize("params, body, wrt", [
    ("L, words", "np.sum(L[words] ** 2)", ("L",)),
    ("x, i", "np.sum(x[i])", ("x",)),
    ("x, i, j", "x[i, j] * 2.0", ("x",)),
    ("x, n", "np.sum(x.reshape(n, -1) ** 2)", ("x",)),
    ("x, n", "np.sum(x[:n])", ("x",)),
    ("x, c", "np.sum(np.where(c > 0, x, 0.0))", ("x",)),
    ("W, b, X, y", "np.sum((X @ W + b)[np.arange(3), y])", ("W", "b", "X")),
])
def test_index_parameters_left_out_of_default_wrt(params, body, wrt, tmp_path):
    fn = derive(tmp_path, params, body)
    assert fn.wrt == wrt


# -- straight-line programs -----------------------------------------------------------------------

def _program_cases():
    yield case("reassign-x", "x", """
        x = x * 2
        x = np.tanh(x)
        return np.sum(x)
    """, N(3, 4))
    yield case("reassign-chain", "x", """
        y = x + 1.0
        y = y * x
        y = np.sin(y)
        y = y / (1.0 + x ** 2)
        return np.sum(y)
    """, N(3, 4))
    yield case("reassign-param-used-after", "W, X", """
        W = W * 2.0
        z = X @ W
        W = W + z.sum()
        return np.sum(W * z.mean())
    """, N(3, 2), N(4, 3))
    yield case("used-many-times", "x", """
        y = np.tanh(x)
        return np.sum(y * y + y * x + np.exp(y) + x)
    """, N(3, 4))
    yield case("diamond", "x", """
        a = x * 2
        b = a + x
        c = b * a
        return np.sum(c * x)
    """, N(5))
    yield case("x*x", "x", "x * x", N(3, 4))
    yield case("x*x-loss", "x", "np.sum(x * x)", N(3, 4))
    yield case("x/x-plus", "x", "np.sum(x / (x * x + 1.0))", N(3, 4))
    yield case("x-x", "x", "np.sum((x - x) * x + x + x)", N(3))
    yield case("x@x.T-loss", "x", "np.sum((x @ x.T) ** 2)", N(3, 4))
    yield case("same-value-everywhere", "x", "np.sum(np.maximum(x, x * x) + np.where(x > 0, x, x * x))",
               S(3, 4))
    yield case("docstring-and-annotation", "x", '''
        """A forward with a docstring."""
        z: np.ndarray = x * 3.0
        return np.sum(z ** 2)
    ''', N(4))
    yield case("default-param", "x, scale=2.0", "np.sum(x * scale)", N(4), FLOAT)
    yield case("passive-augassign", "x", """
        n = x.shape[0]
        n += 1
        return np.sum(x) * n
    """, N(4))
    yield case("mlp", "W1, b1, W2, b2, X, y", """
        h = np.maximum(X @ W1 + b1, 0)
        scores = h @ W2 + b2
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        n = X.shape[0]
        loss = -np.sum(np.log(p[np.arange(n), y])) / n
        reg = 0.5 * 1e-2 * (np.sum(W1 * W1) + np.sum(W2 * W2))
        return loss + reg
    """, N(4, 5), N(5), N(5, 3), N(3), N(6, 4), K(np.array([0, 2, 1, 2, 2, 0])))
    yield case("parser-network", "L, words, W, b1, U, b2, y", """
        n = words.shape[0]
        x = L[words].reshape(n, -1)
        z = x @ W + b1
        h = np.maximum(z, 0.0)
        theta = h @ U + b2
        e = np.exp(theta - theta.max(axis=1, keepdims=True))
        yhat = e / e.sum(axis=1, keepdims=True)
        J = -np.sum(y * np.log(yhat)) / n
        return J
    """, N(6, 2), K(np.array([[0, 5, 5], [1, 0, 5], [3, 3, 2], [4, 0, 0]])), N(6, 4), N(4), N(4, 3),
       N(3), K(np.eye(3)[[0, 2, 1, 1]]))
    yield case("weight-norm", "v, g, x", """
        norm = np.sqrt(np.sum(v ** 2))
        w = g * v / norm
        return np.sum(np.tanh(x @ w))
    """, N(4), FLOAT, N(3, 4))
    yield case("batchnorm", "x, gamma, beta", """
        mu = x.mean(axis=0)
        xc = x - mu
        var = (xc ** 2).mean(axis=0)
        xhat = xc / np.sqrt(var + 1e-5)
        out = gamma * xhat + beta
        return np.sum(np.sin(out))
    """, N(5, 3), N(3), N(3))
    yield case("layernorm-keepdims", "x", """
        mu = x.mean(axis=-1, keepdims=True)
        xc = x - mu
        s = np.sqrt((xc * xc).mean(axis=-1, keepdims=True) + 1e-3)
        return np.sum((xc / s) * np.arange(4.0))
    """, N(3, 4))
    yield case("attention", "Q, K_, V", """
        s = Q @ np.transpose(K_, (0, 2, 1)) / np.sqrt(Q.shape[-1])
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        a = e / e.sum(axis=-1, keepdims=True)
        return np.sum(np.tanh(a @ V))
    """, N(2, 3, 4), N(2, 5, 4), N(2, 5, 2))
    yield case("concat-slices-roundtrip", "x", """
        a = x[:, :2]
        b = x[:, 2:]
        y = np.concatenate([b, a * a], axis=1)
        return np.sum(np.stack([y, x], axis=0) ** 2)
    """, N(3, 4))
    yield case("long-chain", "x", "\n".join(["y = x"] + [f"y = np.tanh(y * {1 + k / 10}) + x"
                                                        for k in range(25)] + ["return np.sum(y)"]), N(4))


@pytest.mark.parametrize("c", list(_program_cases()))
def test_straight_line_program(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_program_cases())))
def test_straight_line_program_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


_MODULE_CONSTANT = '''
SCALE = 0.5
OFFSET = np.array([1.0, 2.0, 3.0])


def f(x):
    return np.sum(np.tanh(x * SCALE + OFFSET) ** 2)
'''


def test_module_level_constants(tmp_path):
    fn = derive(tmp_path, _MODULE_CONSTANT)
    check_fd(fn, draw_args("module-constants", [N(2, 3)]), label="module-constants")


# -- names the generated code also uses ----------------------------------------------------------

_NAME_CASES = [
    ("x, dx", "np.sum(x * dx)", [N(3), N(3)]),
    ("x, dout", "np.sum(np.tanh(x) * dout)", [N(3), N(3)]),
    ("x, out", "x * out", [N(3), N(3)]),
    ("x", "dx = x * 2\ndout = np.tanh(dx)\nout = dout * x\nreturn np.sum(out)", [N(3)]),
    ("x", "x_2 = x * 2\nx = x * 3\nreturn np.sum(x * x_2)", [N(3)]),
    ("x", "x_is_max = x * 2\nreturn np.sum(x_is_max.max(axis=0) * x.max(axis=0))", [N(3, 4)]),
    ("x, b", "_unbroadcast = x + b\nreturn np.sum(_unbroadcast ** 2)", [N(3, 4), N(4)]),
    ("x, len", "np.sum(x * len)", [N(3), N(3)]),
    ("_unbroadcast, x", "np.sum(_unbroadcast * x)", [N(3, 4), N(4)]),
    ("x, idx, slice", "np.sum(x[idx, 1:3] * slice)", [N(4, 5), K(np.array([0, 0, 2])), N(3, 2)]),
    ("a, _matmul_grad_a", "np.sum(a @ _matmul_grad_a)", [N(3, 4), N(4, 2)]),
]


@pytest.mark.parametrize("params, body, specs", _NAME_CASES,
                         ids=[f"{p}|{b.splitlines()[0]}" for p, b, _ in _NAME_CASES])
def test_user_names_that_generated_code_also_uses(params, body, specs, tmp_path):
    """Parameters and locals named like adjoints, seeds, temporaries or the generated module's
    helpers must neither change a gradient nor break the backward."""
    fn = derive(tmp_path, params, body)
    check_fd(fn, draw_args("names:" + params + body, specs), label=body)


_GLOBAL_NAMED_LIKE_ADJOINT = '''
dx = 0.5
dout = np.array([1.0, -2.0, 3.0])


def f(x):
    return np.sum(np.tanh(x) * dx * dout)
'''


def test_module_constants_named_like_adjoints(tmp_path):
    fn = derive(tmp_path, _GLOBAL_NAMED_LIKE_ADJOINT)
    check_fd(fn, draw_args("global-dx", [N(3)]), label="global-dx")


_GLOBALS_MODULE = '''
import numpy as np
import gradgen

SCALE = 0.5
OFFSET = np.array([1.0, 2.0, 3.0])


@gradgen.derive
def f(x):
    return np.sum(np.tanh(x * SCALE + OFFSET) ** 2)


@gradgen.derive
def g(x):
    return np.sum((x - TARGET) ** 2)


TARGET = np.array([1.0, 2.0, 3.0])
'''


@pytest.mark.parametrize("change", ["rebind-SCALE", "mutate-OFFSET", "rebind-TARGET"])
def test_backward_reads_module_globals_when_called(change, tmp_path):
    """The forward reads module globals when it runs; the backward must use the same values,
    not a copy taken when the function was derived."""
    from support import load_source
    module = load_source(_GLOBALS_MODULE, tmp_path, stem="globals")
    x = np.array([0.1, -0.2, 0.3])
    fn = module.g if change == "rebind-TARGET" else module.f
    check_fd(fn, [x], label="before " + change)
    if change == "rebind-SCALE":
        module.SCALE = 2.0
    elif change == "mutate-OFFSET":
        module.OFFSET[:] = [5.0, -1.0, 0.0]
    else:
        module.TARGET = np.zeros(3)
    check_fd(fn, [x], label="after " + change)


def test_forward_defined_in_a_function_closes_over_locals():
    import gradgen

    scale = 3.0
    offset = np.array([0.5, -1.0, 2.0])

    @gradgen.derive
    def f(x):
        return np.sum(np.tanh(x * scale + offset) ** 2)

    check_fd(f, [np.array([0.1, 0.2, -0.3])], label="closure")
