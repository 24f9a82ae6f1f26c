"""Products and transposes (@, np.dot, np.matmul, .dot, .T, np.transpose, np.outer)
against float64 central differences, in every rank combination the surface claims."""

from __future__ import annotations

import itertools

import pytest

from rules_support import annotated, FLOAT, N, case, run_case, shape_label

# (a shape, b shape) for a @ b
MATMUL_SHAPES = [
    ("vec.vec", (4,), (4,)),
    ("mat.vec", (3, 4), (4,)),
    ("vec.mat", (4,), (4, 5)),
    ("mat.mat", (3, 4), (4, 5)),
    ("mat.mat-square", (3, 3), (3, 3)),
    ("3d.2d", (2, 3, 4), (4, 5)),
    ("2d.3d", (3, 4), (2, 4, 5)),
    ("3d.3d", (2, 3, 4), (2, 4, 5)),
    ("3d.3d-batch-broadcast", (1, 3, 4), (2, 4, 5)),
    ("3d.3d-batch-broadcast-b", (2, 3, 4), (1, 4, 5)),
    ("4d.3d-batch-broadcast", (2, 1, 3, 4), (3, 4, 2)),
    ("vec.3d", (4,), (2, 4, 5)),
    ("3d.vec", (2, 3, 4), (4,)),
    ("col.row", (3, 1), (1, 4)),
]

DOT_SHAPES = [s for s in MATMUL_SHAPES if len(s[1]) <= 2 and len(s[2]) <= 2]

MATMUL_FORMS = [("@", "a @ b"), ("np.matmul", "np.matmul(a, b)")]
DOT_FORMS = [("np.dot", "np.dot(a, b)"), (".dot", "a.dot(b)")]


def _product_cases():
    for form, expr in MATMUL_FORMS:
        for label, sa, sb in MATMUL_SHAPES:
            yield case(f"{form}-{label}-vjp", "a, b", expr, N(*sa), N(*sb))
            yield case(f"{form}-{label}-loss", "a, b", f"np.sum(np.tanh({expr}))", N(*sa), N(*sb))
    for form, expr in DOT_FORMS:
        for label, sa, sb in DOT_SHAPES:
            yield case(f"{form}-{label}-vjp", "a, b", expr, N(*sa), N(*sb))
            yield case(f"{form}-{label}-loss", "a, b", f"np.sum(np.tanh({expr}))", N(*sa), N(*sb))
    # np.dot with a scalar operand is a product
    yield case("np.dot-scalar.mat", "s, b", "np.dot(s, b)", FLOAT, N(3, 4))
    yield case("np.dot-mat.0d", "a, s", "np.dot(a, s)", N(3, 4), N())


@pytest.mark.parametrize("c", list(_product_cases()))
def test_product(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_product_cases(), share=0.25)))
def test_product_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


def _known_rank_cases():
    # ranks gradgen can see (outer -> 2, reshape with two sizes -> 2) select the
    # closed-form templates instead of the any-rank helpers
    yield case("reshape2d@reshape2d", "x, w", "x.reshape(3, 4) @ w.reshape(4, 2)", N(12), N(8))
    yield case("reshape2d.T@reshape2d", "x, w", "x.reshape(4, 3).T @ w.reshape(4, 2)", N(12), N(8))
    yield case("outer@outer", "u, v, p, q", "np.outer(u, v) @ np.outer(p, q)", N(3), N(4), N(4), N(2))
    yield case("outer@vec", "u, v, w", "np.outer(u, v) @ w", N(3), N(4), N(4))
    yield case("vec@outer", "w, u, v", "w @ np.outer(u, v)", N(3), N(3), N(4))
    yield case("reshape2d@vec", "x, w", "x.reshape(3, 4) @ w", N(12), N(4))
    yield case("vec@reshape2d", "w, x", "w @ x.reshape(3, 4)", N(3), N(12))
    yield case("reshape2d@3d", "x, w", "x.reshape(3, 4) @ w", N(12), N(2, 4, 5))
    yield case("3d@reshape2d", "w, x", "w @ x.reshape(4, 3)", N(2, 5, 4), N(12))
    yield case("reshape-n-1@W", "x, W", "n = x.shape[0]\nreturn x.reshape(n, -1) @ W", N(3, 2, 2), N(4, 5))


@pytest.mark.parametrize("c", list(_known_rank_cases()))
def test_product_known_ranks(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_known_rank_cases(), modes=("literal",))))
def test_product_known_ranks_annotated(c):
    """The same cases with literal shape annotations (named dimensions cannot be proved equal
    to the literal sizes of a reshape)."""
    run_case(c)


def _same_operand_cases():
    yield case("x@x.T", "x", "x @ x.T", N(3, 4))
    yield case("x.T@x", "x", "x.T @ x", N(3, 4))
    yield case("x@x-square", "x", "x @ x", N(3, 3))
    yield case("v@v", "v", "v @ v", N(5))
    yield case("np.dot(v,v)", "v", "np.dot(v, v)", N(5))
    yield case("x@x.T-loss", "x", "np.sum(np.tanh(x @ x.T))", N(3, 4))
    yield case("outer(v,v)", "v", "np.outer(v, v)", N(4))


@pytest.mark.parametrize("c", list(_same_operand_cases()))
def test_product_same_operand(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_same_operand_cases())))
def test_product_same_operand_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


def _transpose_cases():
    yield case(".T-2d", "x", "x.T", N(3, 4))
    yield case(".T-1d", "x", "x.T", N(4))
    yield case(".T-3d", "x", "x.T", N(2, 3, 4))
    yield case(".T.T-2d", "x", "x.T.T", N(3, 4))
    yield case("np.transpose-2d", "x", "np.transpose(x)", N(3, 4))
    yield case("np.transpose-3d", "x", "np.transpose(x)", N(2, 3, 4))
    yield case(".transpose()-3d", "x", "x.transpose()", N(2, 3, 4))
    yield case(".T-loss", "x, w", "np.sum(np.tanh(x.T * w))", N(3, 4), N(3))
    for perm in itertools.permutations(range(3)):
        p = "".join(map(str, perm))
        yield case(f"np.transpose-axes{p}", "x", f"np.transpose(x, {perm})", N(2, 3, 4))
        yield case(f".transpose{p}-varargs", "x", f"x.transpose{perm}", N(2, 3, 4))
    yield case("np.transpose-axes-kw", "x", "np.transpose(x, axes=(2, 0, 1))", N(2, 3, 4))
    yield case("np.transpose-axes=None", "x", "np.transpose(x, axes=None)", N(2, 3, 4))
    yield case("np.transpose-axes-list", "x", "np.transpose(x, [1, 2, 0])", N(2, 3, 4))
    yield case(".transpose-tuple", "x", "x.transpose((2, 0, 1))", N(2, 3, 4))
    yield case("np.transpose-4d", "x", "np.transpose(x, (3, 1, 0, 2))", N(2, 3, 1, 2))
    yield case("np.transpose-2d-axes", "x", "np.transpose(x, (1, 0))", N(3, 4))
    yield case("transpose-then-matmul", "x, w", "np.transpose(x, (0, 2, 1)) @ w", N(2, 3, 4), N(3, 2))


@pytest.mark.parametrize("c", list(_transpose_cases()))
def test_transpose(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_transpose_cases(), share=0.25)))
def test_transpose_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


OUTER_SHAPES = [((3,), (4,)), ((2, 3), (4,)), ((3,), (2, 2)), ((2, 3), (2, 2)), ((1,), (5,)),
                ((2, 1, 2), (3,))]


def _outer_cases():
    for sa, sb in OUTER_SHAPES:
        label = f"outer-{shape_label(sa)}&{shape_label(sb)}"
        yield case(f"{label}-vjp", "a, b", "np.outer(a, b)", N(*sa), N(*sb))
        yield case(f"{label}-loss", "a, b", "np.sum(np.tanh(np.outer(a, b)))", N(*sa), N(*sb))
    yield case("outer-wrt-b-only", "a, b", "np.outer(a, b)", N(2, 3), N(4), wrt=("b",))


@pytest.mark.parametrize("c", list(_outer_cases()))
def test_outer(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_outer_cases())))
def test_outer_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


def test_affine_layer(tmp_path):
    """z = x @ W + b with b broadcast over rows: db is dz summed over the batch."""
    run_case(case("affine", "W, b, X", "np.sum(np.tanh(X @ W + b) ** 2)", N(4, 3), N(3), N(5, 4))
             .values[0], tmp_path)


def test_matrix_vector_layer(tmp_path):
    """z = W @ x: dx = W.T @ dz, dW = outer(dz, x)."""
    run_case(case("W@x", "W, x, b", "np.sum(np.sin(W @ x + b))", N(3, 4), N(4), N(3)).values[0],
             tmp_path)


def _dot_annotated_cases():
    for form, expr in DOT_FORMS:
        for label, sa, sb in DOT_SHAPES:
            yield case(f"{form}-{label}-loss", "a, b", f"np.sum(np.tanh({expr}))", N(*sa), N(*sb))


@pytest.mark.parametrize("c", list(annotated(_dot_annotated_cases(), keep=lambda c: True, modes=("named", "literal"))))
def test_dot_with_known_ranks_is_a_matmul(c, tmp_path):
    """np.dot and .dot of vectors and matrices whose ranks the annotations give are reversed
    with the matmul identities (dW = X.T @ dz), not the any-rank helpers."""
    fn = run_case(c, tmp_path)
    assert "_dot_grad" not in fn.source
