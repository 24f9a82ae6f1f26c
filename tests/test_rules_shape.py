"""Shape and indexing rules (reshape, integer-array indexing with repeats, basic slicing,
boolean masks, np.concatenate, np.stack) against float64 central differences."""

from __future__ import annotations

import numpy as np
import pytest

from rules_support import annotated, K, N, S, case, derive, run_case

# -- reshape -------------------------------------------------------------------------------------

RESHAPES = [
    ("x.reshape(-1)", (3, 4)),
    ("x.reshape(4, 3)", (3, 4)),
    ("x.reshape((4, 3))", (3, 4)),
    ("x.reshape(2, -1)", (3, 4)),
    ("x.reshape((-1, 6))", (3, 4)),
    ("x.reshape(2, 2, 3)", (3, 4)),
    ("x.reshape(6, 4)", (2, 3, 4)),
    ("x.reshape(-1, 4)", (2, 3, 4)),
    ("x.reshape(12)", (3, 4)),
    ("x.reshape(3, 4)", (12,)),
    ("x.reshape(1, 12)", (12,)),
    ("x.reshape(())", (1,)),
    ("np.reshape(x, (2, -1))", (3, 4)),
    ("np.reshape(x, -1)", (2, 3, 4)),
    ("np.reshape(x, (4, 3))", (12,)),
    ("np.reshape(x, shape=(4, 3))", (12,)),
    ("x.reshape(x.shape[0], -1)", (2, 3, 4)),
    ("x.reshape(len(x), -1)", (2, 3, 4)),
    ("x.reshape(x.shape[::-1])", (3, 4)),
]


def _reshape_cases():
    for expr, shape in RESHAPES:
        label = f"{expr.replace(' ', '')}-{'x'.join(map(str, shape))}"
        yield case(f"{label}-vjp", "x", expr, N(*shape))
        yield case(f"{label}-loss", "x", f"np.sum(np.tanh({expr}) ** 2)", N(*shape))
    yield case("reshape-n-var", "x, n", "x.reshape(n, -1)", N(3, 4), K(2))


@pytest.mark.parametrize("c", list(_reshape_cases()))
def test_reshape(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_reshape_cases(), share=0.25)))
def test_reshape_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


# -- integer-array indexing -----------------------------------------------------------------------

WORDS = np.array([0, 2, 2, 1, 0, 2])
WORDS2D = np.array([[0, 3, 3], [1, 0, 3]])


def _gather_cases():
    yield case("L[words]-repeats", "L, words", "L[words]", N(4, 3), K(WORDS))
    yield case("L[words]-repeats-loss", "L, words", "np.sum(np.tanh(L[words]) ** 2)", N(4, 3), K(WORDS))
    yield case("L[words2d]", "L, words", "L[words]", N(4, 3), K(WORDS2D))
    yield case("L[words2d]-loss", "L, words", "np.sum(np.sin(L[words]))", N(4, 3), K(WORDS2D))
    yield case("L[words]-1d-table", "v, words", "v[words]", N(4), K(WORDS))
    yield case("L[words2d]-1d-table", "v, words", "v[words]", N(4), K(WORDS2D))
    yield case("L[words]-3d-table", "T, words", "T[words]", N(3, 2, 2), K(WORDS))
    yield case("embedding-reshape-layer", "L, W, b, words", """
        n = words.shape[0]
        x = L[words].reshape(n, -1)
        h = np.maximum(x @ W + b, 0.0)
        return np.sum(h ** 2)
    """, N(5, 2), N(6, 4), N(4), K(np.array([[0, 4, 4], [1, 1, 2], [4, 0, 4]])))
    yield case("x[:,cols]-repeats", "x, cols", "x[:, cols]", N(3, 4), K(np.array([3, 0, 3, 3])))
    yield case("x[rows,cols]-pairs", "x, r, c", "x[r, c]", N(3, 4),
               K(np.array([0, 2, 0, 1, 0])), K(np.array([1, 3, 1, 1, 1])))
    yield case("x[arange,argmax]", "x", "n = x.shape[0]\nreturn x[np.arange(n), np.argmax(x, axis=1)]",
               N(4, 3))
    yield case("x[rows,labels]-cs231n", "x, y", "n = x.shape[0]\nreturn np.sum(x[np.arange(n), y])",
               N(4, 3), K(np.array([2, 0, 2, 1])))
    yield case("x[idx,1:3]", "x, idx", "x[idx, 1:3]", N(4, 5), K(np.array([2, 2, 0])))
    yield case("x[list-literal]", "x", "x[[0, 2, 2]]", N(3, 4))
    yield case("x[i]-int-param", "x, i", "x[i]", N(4, 3), K(2))
    yield case("x[i]-int-param-loss", "x, i", "np.sum(np.sin(x[i]))", N(4, 3), K(2))
    yield case("x[i,j]-int-params", "x, i, j", "x[i, j] * 3.0", N(4, 3), K(1), K(2))
    yield case("x[i+1]", "x, i", "x[i + 1]", N(4, 3), K(1))
    yield case("x[words]-neg", "x, idx", "x[idx]", N(5), K(np.array([-1, 0, -1, 3])))


@pytest.mark.parametrize("c", list(_gather_cases()))
def test_integer_indexing(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_gather_cases())))
def test_integer_indexing_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


def test_embedding_lookup_sums_repeated_rows_exactly(tmp_path):
    fn = derive(tmp_path, "L, words", "np.sum(L[words] * np.arange(1.0, 7.0)[:, None])")
    L = np.ones((4, 2))
    (dL,) = fn.backward(L, WORDS)
    np.testing.assert_array_equal(dL, [[1 + 5, 1 + 5], [4, 4], [2 + 3 + 6, 2 + 3 + 6], [0, 0]])
    assert fn.wrt == ("L",)


# -- basic slicing -------------------------------------------------------------------------------

SLICES = [
    ("x[1:3]", (5,)),
    ("x[1:3]", (4, 3)),
    ("x[:, ::2]", (3, 5)),
    ("x[::2, 1:]", (5, 3)),
    ("x[-1]", (4, 3)),
    ("x[-1]", (5,)),
    ("x[0]", (2, 3, 4)),
    ("x[1, 2]", (3, 4)),
    ("x[1, -1]", (3, 4)),
    ("x[:, 1]", (3, 4)),
    ("x[None, :]", (4,)),
    ("x[None, :]", (3, 4)),
    ("x[:, None]", (4,)),
    ("x[:, np.newaxis]", (4,)),
    ("x[np.newaxis, 1:, np.newaxis]", (3, 2)),
    ("x[..., 0]", (2, 3, 4)),
    ("x[..., 1:3]", (2, 3, 4)),
    ("x[0, ..., -1]", (2, 3, 4)),
    ("x[::-1]", (5,)),
    ("x[::-1, 1]", (4, 3)),
    ("x[-3:-1]", (5,)),
    ("x[1:3, None, ::2]", (4, 5)),
    ("x[...]", (3, 4)),
    ("x[:]", (5,)),
    ("x[2:2]", (5,)),
    ("x[1:100]", (5,)),
]


def _slice_cases():
    for expr, shape in SLICES:
        label = f"{expr.replace(' ', '')}-{'x'.join(map(str, shape))}"
        yield case(f"{label}-vjp", "x", expr, N(*shape))
        yield case(f"{label}-loss", "x", f"np.sum(np.tanh({expr}) ** 2)", N(*shape))
    yield case("x[n:]-int-bound", "x, n", "x[n:]", N(5), K(2))
    yield case("x[:n-1]-computed-bound", "x", "x[:x.shape[0] - 1]", N(5))
    yield case("x[1:3]+x[2:4]-overlap", "x", "x[1:3] * x[2:4]", N(5))
    yield case("x[0]+x[0]", "x", "x[0] + x[0] * x[1]", N(3, 2))


@pytest.mark.parametrize("c", list(_slice_cases()))
def test_basic_slicing(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_slice_cases(), share=0.25)))
def test_basic_slicing_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


# -- boolean masks -------------------------------------------------------------------------------

def _mask_cases():
    yield case("x[x>0]", "x", "np.sum(x[x > 0] ** 2)", S(3, 4))
    yield case("x[x>0]-vjp", "x", "x[x > 0] * 2.0", S(3, 4))
    yield case("x[mask]-param", "x, m", "x[m]", N(3, 4),
               K(np.array([[True, False, True, True], [False, False, True, False], [True, True, False, False]])))
    yield case("x[mask-rows]", "x, m", "x[m]", N(3, 4), K(np.array([True, False, True])))
    yield case("x[y>0]", "x, y", "np.sum(np.exp(x[y > 0.5]))", N(3, 4), S(3, 4))
    yield case("x[:,mask]", "x, m", "x[:, m]", N(3, 4), K(np.array([True, False, True, True])))


@pytest.mark.parametrize("c", list(_mask_cases()))
def test_boolean_mask(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_mask_cases())))
def test_boolean_mask_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


# -- concatenate and stack ----------------------------------------------------------------------

def _join_cases():
    yield case("concat-1d", "a, b", "np.concatenate([a, b])", N(3), N(2))
    yield case("concat-2d-axis0", "a, b", "np.concatenate([a, b], axis=0)", N(2, 3), N(4, 3))
    yield case("concat-2d-axis1", "a, b", "np.concatenate([a, b], axis=1)", N(2, 3), N(2, 4))
    yield case("concat-2d-axis-1", "a, b", "np.concatenate([a, b], axis=-1)", N(2, 3), N(2, 1))
    yield case("concat-2d-axis-2", "a, b", "np.concatenate((a, b), axis=-2)", N(2, 3), N(1, 3))
    yield case("concat-2d-default", "a, b", "np.concatenate((a, b))", N(2, 3), N(1, 3))
    yield case("concat-positional-axis", "a, b", "np.concatenate([a, b], 1)", N(2, 3), N(2, 2))
    yield case("concat-3d-axis1", "a, b, c", "np.concatenate([a, b, c], axis=1)", N(2, 1, 3), N(2, 3, 3),
               N(2, 2, 3))
    yield case("concat-3d-axis-1", "a, b", "np.concatenate([a, b], axis=-1)", N(2, 3, 1), N(2, 3, 2))
    yield case("concat-3d-axis2", "a, b", "np.concatenate([a, b], axis=2)", N(2, 3, 1), N(2, 3, 2))
    yield case("concat-same-twice", "a, b", "np.concatenate([a, b, a], axis=0)", N(2, 3), N(1, 3))
    yield case("concat-expressions", "a, b", "np.sum(np.concatenate([a * 2, np.tanh(b)], axis=1) ** 2)",
               N(2, 3), N(2, 2))
    yield case("concat-with-constant", "a", "np.concatenate([a, np.ones((1, 3))])", N(2, 3))
    yield case("concat-wrt-b-only", "a, b", "np.concatenate([a, b])", N(2, 3), N(1, 3), wrt=("b",))
    for axis in (0, 1, 2, -1, -2, -3):
        yield case(f"stack-2d-axis{axis}", "a, b", f"np.stack([a, b], axis={axis})", N(2, 3), N(2, 3))
    yield case("stack-default", "a, b", "np.stack([a, b])", N(4), N(4))
    yield case("stack-1d-axis1", "a, b", "np.stack((a, b), axis=1)", N(4), N(4))
    yield case("stack-1d-axis-1", "a, b, c", "np.stack([a, b, c], axis=-1)", N(4), N(4), N(4))
    yield case("stack-same-twice", "a, b", "np.stack([a, b, a], axis=1)", N(2, 3), N(2, 3))
    yield case("stack-loss", "a, b", "np.sum(np.tanh(np.stack([a, b * a], axis=-1)))", N(2, 3), N(2, 3))
    yield case("stack-0d", "a, b", "np.stack([a, b])", N(), N())
    yield case("stack-positional-axis", "a, b", "np.stack([a, b], 1)", N(2, 3), N(2, 3))


@pytest.mark.parametrize("c", list(_join_cases()))
def test_concatenate_and_stack(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_join_cases())))
def test_concatenate_and_stack_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


@pytest.mark.parametrize("expr, expected", [
    ("np.sum(x[1:3] * w)", [0.0, 0.5, 0.25, 0.0, 0.0]),
    ("np.sum(x[idx] * w)", [0.0, 0.75, 0.0, 0.0, 0.0]),
    ("np.sum(x[x > 2] * w)", [0.0, 0.0, 0.0, 0.5, 0.25]),
    ("np.sum(x[-2:] * w)", [0.0, 0.0, 0.0, 0.5, 0.25]),
])
def test_integer_valued_input_gets_an_exact_float_gradient(expr, expected, tmp_path):
    """An integer array the result depends on differentiably is in the default wrt; its gradient
    must not be truncated to the input's integer dtype."""
    params = "x, w, idx" if "idx" in expr else "x, w"
    fn = derive(tmp_path, params, expr)
    assert fn.wrt[:2] == ("x", "w")
    args = [np.arange(5), np.array([0.5, 0.25])] + ([np.array([1, 1])] if "idx" in expr else [])
    dx = fn.backward(*args)[0]
    assert np.asarray(dx).dtype.kind == "f", f"gradient dtype {np.asarray(dx).dtype}"
    np.testing.assert_array_equal(dx, expected)
