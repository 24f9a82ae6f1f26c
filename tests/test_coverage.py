"""The wider NumPy surface (elementwise, reductions, scans, axis moves, gathers, linear algebra,
einsum), each checked against float64 central differences, unannotated and annotated."""

import numpy as np
import pytest

from support import assert_grad_ok, derive_source

R = np.random.default_rng(11)


def normal(*shape):
    return R.normal(size=shape)


def inside(lo, hi, *shape):
    return R.uniform(lo, hi, size=shape)


UNARY = ["log1p", "expm1", "log2", "log10", "exp2", "square", "reciprocal", "sinh", "cosh", "tan",
         "arcsin", "arccos", "arctan", "arcsinh", "arctanh", "cbrt", "positive", "copy"]


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("shape", [(5,), (2, 3)])
def test_unary(name, shape, tmp_path):
    f = derive_source(f"def f(x, w):\n    return np.sum(np.{name}(x) * w)\n", tmp_path)
    x = inside(0.2, 0.9, *shape)  # inside every domain (arcsin, arctanh, log...)
    assert_grad_ok(f, x, normal(*shape))


@pytest.mark.parametrize("name", ["arctan2", "hypot", "logaddexp"])
@pytest.mark.parametrize("shapes", [((3, 4), (4,)), ((3, 1), (1, 4)), ((5,), ())])
def test_binary_with_broadcasting(name, shapes, tmp_path):
    f = derive_source(f"def f(a, b, w):\n    return np.sum(np.{name}(a, b) * w)\n", tmp_path)
    a, b = normal(*shapes[0]), normal(*shapes[1]) if shapes[1] else float(normal())
    out_shape = np.broadcast_shapes(shapes[0], shapes[1])
    assert_grad_ok(f, a, b, normal(*out_shape))


def test_logaddexp_is_finite_at_large_inputs(tmp_path):
    f = derive_source("def f(a, b):\n    return np.sum(np.logaddexp(a, b))\n", tmp_path)
    da, db = f.backward(np.array([1000.0, -1000.0]), np.array([999.0, -1001.0]))
    assert np.all(np.isfinite(da)) and np.allclose(da + db, 1.0)


@pytest.mark.parametrize("body", [
    "np.sum(np.clip(x, -0.5, 0.5) * w)",
    "np.sum(x.clip(-0.5, None) * w)",
    "np.sum(np.clip(x, lo, 0.5) * w)",
])
def test_clip_and_its_bounds(body, tmp_path):
    f = derive_source(f"def f(x, lo, w):\n    return {body}\n", tmp_path)
    x = np.array([-0.9, -0.2, 0.1, 0.3, 0.8, -0.7])
    assert_grad_ok(f, x, np.full(6, -0.6), normal(6))


@pytest.mark.parametrize("body", [
    "np.sum(np.prod(x, axis=0) * 2.0)", "np.prod(x)", "np.sum(x.prod(axis=1, keepdims=True) ** 2)",
    "np.sum(np.var(x, axis=1) * 3.0)", "np.var(x, ddof=1)", "np.sum(x.var(axis=0, keepdims=True))",
    "np.std(x)", "np.sum(np.std(x, axis=-1, ddof=1))", "np.sum(x.std(axis=0) ** 2)",
    "np.sum(np.cumsum(x, axis=1) ** 2)", "np.sum(np.cumsum(x) * np.arange(12.0))",
    "np.sum(x.cumsum(axis=0) ** 2)",
])
def test_reductions_and_scans(body, tmp_path):
    f = derive_source(f"def f(x):\n    return {body}\n", tmp_path)
    assert_grad_ok(f, inside(0.5, 1.5, 3, 4))


@pytest.mark.parametrize("body", [
    "np.sum(np.swapaxes(x, 0, 2) * w.T)", "np.sum(np.swapaxes(x, 0, 1) ** 2)", "np.sum(x.swapaxes(1, 2) * np.swapaxes(w, 1, 2))",
    "np.sum(np.moveaxis(x, 0, -1) * np.moveaxis(w, 0, -1) ** 2)",
    "np.sum(np.flip(x, 1) * w)", "np.sum(np.flip(x) * w)",
    "np.sum(np.roll(x, 2, axis=2) * w)", "np.sum(np.roll(x, (1, -1), axis=(0, 2)) * w)",
    "np.sum(np.squeeze(x[:, :1]) ** 2)", "np.sum(np.expand_dims(x, 1) * w[:, None])",
    "np.sum(x.ravel() * w.ravel())", "np.sum(x.flatten() ** 2)",
    "np.sum(np.broadcast_to(x[0], (2, 3, 4)) * w)",
])
def test_axis_moves(body, tmp_path):
    f = derive_source(f"def f(x, w):\n    return {body}\n", tmp_path)
    assert_grad_ok(f, normal(2, 3, 4), normal(2, 3, 4))


@pytest.mark.parametrize("body", [
    "np.sum(np.triu(x) * w)", "np.sum(np.tril(x, -1) * w)", "np.sum(np.triu(x, 1) ** 2)",
    "np.trace(x) * 2.0", "np.sum(np.diag(x) * np.arange(4.0))", "np.sum(np.diag(x, 1) ** 2)",
    "np.sum(np.diag(np.diag(x)) * w)", "np.sum(np.diagonal(x) ** 2)", "np.sum(x.diagonal(1) * 3.0)",
])
def test_triangles_and_diagonals(body, tmp_path):
    f = derive_source(f"def f(x, w):\n    return {body}\n", tmp_path, wrt=("x",))
    assert_grad_ok(f, normal(4, 4), normal(4, 4))


@pytest.mark.parametrize("body", [
    "np.sum(np.take(x, idx, axis=1) * w)", "np.sum(np.take(x, idx) ** 2)",
    "np.sum(x.take(idx, axis=0)[:, :2] ** 2)",
    "np.sum(np.take_along_axis(x, np.argsort(x, axis=1), axis=1) * np.arange(4.0))",
    "np.sum(np.tile(x, (2, 3)) * np.arange(72.0).reshape(6, 12))", "np.sum(np.tile(x, 2) ** 2)",
    "np.sum(np.repeat(x, 3, axis=0) ** 2)", "np.sum(np.repeat(x, 2) * 1.5)",
    "np.sum(np.repeat(x, idx[:3] + 1, axis=0) ** 2)",
    "np.sum(np.pad(x, 1) ** 2 * 2)", "np.sum(np.pad(x, ((0, 1), (2, 0))) ** 2)",
    "np.sum(np.hstack([x, x ** 2]) ** 2)", "np.sum(np.vstack([x[0], x[1] * 2]) ** 3)",
])
def test_gathers_repeats_and_pads(body, tmp_path):
    f = derive_source(f"def f(x, idx, w):\n    return {body}\n", tmp_path, wrt=("x",))
    assert_grad_ok(f, normal(3, 4), np.array([0, 2, 2, 1]), normal(3, 4))


@pytest.mark.parametrize("body", [
    "np.sum(np.linalg.inv(A) ** 2)", "np.linalg.det(A)", "np.sum(np.linalg.solve(A, b) ** 2)",
    "np.sum(np.linalg.solve(A, B) * B)", "np.linalg.norm(A)", "np.linalg.norm(b)",
    "np.sum(np.linalg.norm(A, axis=0))", "np.sum(np.linalg.norm(A, ord=1, axis=1))",
    "np.sum(np.linalg.norm(A, ord=np.inf, axis=1))", "np.linalg.norm(A, 'fro')",
])
def test_linear_algebra(body, tmp_path):
    f = derive_source(f"def f(A, b, B):\n    return {body}\n", tmp_path)
    A = normal(3, 3) + 3 * np.eye(3)
    assert_grad_ok(f, A, normal(3), normal(3, 2))


@pytest.mark.parametrize("spec, shapes", [
    ("ij,jk->ik", [(3, 4), (4, 2)]), ("ij,ij->i", [(3, 4), (3, 4)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("i,i", [(4,), (4,)]), ("ij,jk,ki", [(3, 4), (4, 2), (2, 3)]), ("ij->ji", [(3, 4)]),
    ("ik,k->i", [(3, 4), (4,)]),
])
@pytest.mark.parametrize("annotated", [False, True])
def test_einsum(spec, shapes, annotated, tmp_path):
    names = "abc"[:len(shapes)]
    params = ", ".join(f'{n}: "f[{", ".join(f"D{s}" for s in shape)}]"' if annotated else n
                       for n, shape in zip(names, shapes))
    f = derive_source(f"def f({params}):\n    return np.sum(np.einsum('{spec}', {', '.join(names)}) ** 2)\n",
                      tmp_path)
    assert_grad_ok(f, *[normal(*s) for s in shapes])


def test_astype_keeps_the_gradient_of_a_float32_input(tmp_path):
    f = derive_source("def f(x):\n    return np.sum(x.astype(np.float64) ** 2)\n", tmp_path)
    (dx,) = f.backward(np.arange(3, dtype=np.float32))
    assert dx.dtype == np.float32 and np.allclose(dx, [0.0, 2.0, 4.0])


SPECIAL_FORWARD = '''
import numpy as np
import gradgen
from scipy.special import expit, logit, erf, gammaln, logsumexp
from scipy import special
import scipy.special as sps


@gradgen.derive
def f(x, p, w):
    return (np.sum(expit(x) * w) + np.sum(logit(p) ** 2) + np.sum(erf(x) * w) + np.sum(gammaln(p + 1.0))
            + logsumexp(x) + np.sum(logsumexp(x, axis=1, keepdims=True) * 2)
            + np.sum(special.softmax(x, axis=1) * w) + np.sum(sps.log_softmax(x, axis=0) * w)
            + np.sum(special.softmax(x) * w))
'''


def test_scipy_special_functions(tmp_path):
    pytest.importorskip("scipy")
    from support import load_source

    module = load_source(SPECIAL_FORWARD, tmp_path)
    assert "from scipy.special import digamma" in module.f.source
    assert_grad_ok(module.f, normal(3, 4), inside(0.2, 0.8, 3, 4), normal(3, 4))


@pytest.mark.parametrize("spec, shapes", [("ij->i", [(3, 4)]), ("ij->", [(3, 4)]), ("ij,k->ik", [(3, 4), (5,)]),
                                          ("ijk,j->k", [(2, 3, 4), (3,)])])
def test_einsum_summing_within_one_operand(spec, shapes, tmp_path):
    names = "abc"[:len(shapes)]
    f = derive_source(f"def f({', '.join(names)}):\n    return np.sum(np.einsum('{spec}', {', '.join(names)}) ** 2)\n",
                      tmp_path)
    assert_grad_ok(f, *[normal(*s) for s in shapes])


@pytest.mark.parametrize("L_shape, words", [((6, 3), [[0, 2, 2], [5, -1, 0]]), ((6,), [1, 1, -2]),
                                            ((5, 2, 3), [4, 0, 4, 4])])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_embedding_rows_scatter_exactly(L_shape, words, dtype, tmp_path):
    """L[words] with words annotated as integers uses np.bincount; repeats and negative rows add up."""
    f = derive_source('''
        def f(L, words: "i[...]", w):
            return np.sum(L[words] * w)
    ''', tmp_path)
    assert "_scatter_rows(" in f.source
    words = np.array(words)
    L = normal(*L_shape).astype(dtype)
    w = normal(*(words.shape + L_shape[1:])).astype(dtype)
    dL = f.backward(L, words, w)[0]
    expected = np.zeros(L_shape)
    np.add.at(expected, words, w)
    assert dL.dtype == dtype and np.allclose(dL, expected, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_embedding_reshaped_scatters_the_flat_adjoint(dtype, tmp_path):
    """x = L[words].reshape(n, -1): the scatter reads dx flat, so there is no reshape back to
    (B, m, d) and the forward keeps the line as written, with no name for L[words]."""
    f = derive_source('''
        def f(L: "f[V, d]", words: "i[B, m]", W: "f[m*d, H]"):
            n = words.shape[0]
            x = L[words].reshape(n, -1)
            return np.sum(np.tanh(x @ W))
    ''', tmp_path)
    assert "dL = _scatter_rows(dx, words, L)" in f.source
    assert "x = L[words].reshape(n, -1)" in f.source and "np.reshape(dx" not in f.source
    words = np.array([[0, 2, 2], [5, -1, 0]])
    L, W = normal(6, 4).astype(dtype), normal(12, 5).astype(dtype)
    dL, dW = f.backward(L, words, W)
    assert dL.dtype == dtype and dW.dtype == dtype
    assert_grad_ok(f, L.astype(np.float64), words, W.astype(np.float64), wrt=("L", "W"))


def test_embedding_reshape_kept_when_the_gathered_rows_have_another_reader(tmp_path):
    f = derive_source('''
        def f(L: "f[V, d]", words: "i[B, m]", W: "f[m*d, H]"):
            n = words.shape[0]
            rows = L[words]
            x = rows.reshape(n, -1)
            return np.sum(np.tanh(x @ W)) + np.sum(rows ** 2)
    ''', tmp_path)
    assert "_scatter_rows(drows, words, L)" in f.source
    assert_grad_ok(f, normal(6, 4), np.array([[0, 2, 2], [5, -1, 0]]), normal(12, 5), wrt=("L", "W"))


@pytest.mark.parametrize("body", ["np.sum(x.transpose(-1, 0, 1) * w.transpose(2, 0, 1))",
                                  "np.sum(np.transpose(x, (0, -1, -2)) ** 2)"])
def test_transpose_with_negative_axes(body, tmp_path):
    f = derive_source(f"def f(x, w):\n    return {body}\n", tmp_path, wrt=("x",))
    assert_grad_ok(f, normal(2, 3, 4), normal(2, 3, 4))


def test_a_state_started_from_zeros_of_a_shape_tuple(tmp_path):
    """np.zeros((n, U.shape[0])) reads U for its shape only, so it is a constant; and since
    the shapes know (N, H), the products after it are written as the identities."""
    f = derive_source('''
        def f(x: "f[N, D]", W: "f[D, H]", U: "f[H, H]"):
            n = x.shape[0]
            h = np.zeros((n, U.shape[0]))
            h = np.tanh(x @ W + h @ U)
            h = np.tanh(x @ W + h @ U)
            return np.sum(h ** 2)
    ''', tmp_path)
    assert_grad_ok(f, normal(3, 2), normal(2, 4), normal(4, 4))
    assert "h = np.zeros((n, U.shape[0]))" in f.source
    assert "_matmul_grad" not in f.source and "dU = h_2.T @ " in f.source
