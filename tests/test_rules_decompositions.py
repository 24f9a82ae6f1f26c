"""np.tensordot, np.linalg.slogdet, cholesky, eigh, eigvalsh and svd's singular values against float64 central
differences, unannotated (helpers decide at run time) and annotated (written out)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import gradgen
from rules_support import N, WC, annotated, case, derive, run_case


def _tensordot_cases():
    yield case("tensordot-default", "a, b", "np.tensordot(a, b)", N(2, 3, 4), N(3, 4, 5))
    yield case("tensordot-matmul", "a, b", "np.tensordot(a, b, axes=1)", N(3, 4), N(4, 2))
    yield case("tensordot-outer", "a, b", "np.tensordot(a, b, axes=0)", N(3), N(2, 2))
    yield case("tensordot-full", "a, b", "np.tensordot(a, b, axes=2)", N(3, 4), N(3, 4))
    yield case("tensordot-pairs", "a, b", "np.tensordot(a, b, axes=([0, 2], [1, 0]))", N(3, 4, 5), N(5, 3, 2))
    yield case("tensordot-single-pair", "a, b", "np.tensordot(a, b, axes=(0, 1))", N(3, 4), N(2, 3))
    yield case("tensordot-negative", "a, b", "np.tensordot(a, b, axes=([-1], [-2]))", N(2, 3, 4), N(4, 5))
    yield case("tensordot-crossed", "a, b", "np.tensordot(a, b, axes=[[1, 0], [0, 1]])", N(3, 4), N(4, 3, 2))
    yield case("tensordot-same", "a", "np.tensordot(a, a, axes=([1], [1]))", N(3, 4))
    yield case("tensordot-loss", "a, b", "np.sum(np.tanh(np.tensordot(a, b, axes=1)))", N(2, 3), N(3, 4))


def _linalg_cases():
    yield case("slogdet-unpack", "a", "sign, logdet = np.linalg.slogdet(a)\nreturn logdet", WC(3, 3))
    yield case("slogdet-pick", "a", "np.linalg.slogdet(a)[1] * 2.0", WC(4, 4))
    yield case("slogdet-negative-det", "a", "np.linalg.slogdet(a)[-1]", N(3, 3))
    yield case("slogdet-sign-times", "a", "sign, logdet = np.linalg.slogdet(a)\nreturn sign * np.exp(logdet)",
               N(3, 3))
    yield case("slogdet-batched", "a", "sign, logdet = np.linalg.slogdet(a)\nreturn logdet", WC(2, 3, 3))
    yield case("slogdet-of-product", "x, w", "np.linalg.slogdet(x.T @ x + np.diag(w))[1]", N(5, 3), N(3))
    yield case("cholesky", "a", "np.linalg.cholesky(a)", WC(3, 3))
    yield case("cholesky-batched", "a", "np.linalg.cholesky(a)", WC(2, 3, 3))
    yield case("cholesky-of-gram", "b", "np.sum(np.linalg.cholesky(b @ b.T + 3.0 * np.eye(3)) ** 3)", N(3, 3))
    yield case("cholesky-logdet", "a", "2 * np.sum(np.log(np.diagonal(np.linalg.cholesky(a))))", WC(4, 4))
    yield case("det-2d", "a", "np.linalg.det(a) ** 2", WC(3, 3))
    # random matrices have distinct eigenvalues; the losses on eigenvectors do not depend on
    # their signs, which LAPACK picks
    yield case("eigvalsh", "a", "np.linalg.eigvalsh(a)", N(4, 4))
    yield case("eigvalsh-batched", "a", "np.linalg.eigvalsh(a)", N(2, 3, 3))
    yield case("eigvalsh-largest", "a", "np.max(np.linalg.eigvalsh(a @ a.T))", N(3, 3))
    yield case("eigh-values", "a", "np.linalg.eigh(a)[0]", N(4, 4))
    yield case("eigh-vectors", "a", "np.linalg.eigh(a)[1] ** 2", N(4, 4))
    yield case("eigh-vectors-batched", "a", "np.linalg.eigh(a)[-1] ** 2", N(2, 3, 3))
    yield case("eigh-both", "a", "w, U = np.linalg.eigh(a)\nreturn np.sum((U * w) ** 2 * np.arange(4.0))",
               N(4, 4))
    yield case("svdvals", "a", "np.linalg.svdvals(a)", N(4, 3))
    yield case("svd-values", "a", "np.linalg.svd(a, compute_uv=False)", N(3, 5))
    yield case("svd-values-batched", "a", "np.linalg.svd(a, False, False) ** 2", N(2, 3, 3))
    yield case("svd-values-top", "a", "np.max(np.linalg.svdvals(a @ a.T + a))", N(3, 3))
    yield case("eigh-function-of-matrix", "a", "w, U = np.linalg.eigh(a)\nreturn (U * np.exp(w)) @ U.T", N(3, 3))


CASES = list(_tensordot_cases()) + list(_linalg_cases())


@pytest.mark.parametrize("c", CASES)
def test_decompositions(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(CASES, keep=lambda c: True)))
def test_decompositions_annotated(c):
    run_case(c)


def test_cholesky_reads_the_lower_triangle_only(tmp_path):
    """NumPy never reads a's upper triangle, so its adjoint there is zero: central differences
    agree, and a symmetric use (a = b b^T) gets the same gradient either way."""
    fn = derive(tmp_path, "a", "np.sum(np.linalg.cholesky(a) ** 3)")
    a = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])
    (da,) = fn.backward(a)
    assert np.all(np.triu(da, 1) == 0) and np.all(da[np.tril_indices(3)] != 0)


def test_eigh_reads_the_lower_triangle_only(tmp_path):
    """Like cholesky: NumPy's eigh never reads above the diagonal, so da is zero there."""
    fn = derive(tmp_path, "a", "w, U = np.linalg.eigh(a)\nreturn np.sum(w ** 3) + np.sum(U[:, 0] ** 4)")
    a = np.random.default_rng(3).standard_normal((4, 4))
    (da,) = fn.backward(a)
    assert np.all(np.triu(da, 1) == 0) and np.all(da[np.tril_indices(4)] != 0)


def test_tensordot_written_out_when_ranks_are_known(tmp_path):
    fn = derive(tmp_path, 'a: "f[3, 4, 5]", b: "f[5, 3, 2]"', "np.sum(np.tensordot(a, b, axes=([0, 2], [1, 0])) ** 2)")
    assert "da = np.transpose(np.tensordot(dtensordot_a, b, axes=([1], [2])), (2, 0, 1))  # (3, 4, 5)" in fn.source
    assert "db = np.transpose(np.tensordot(a, dtensordot_a, axes=([1], [0])), (1, 0, 2))  # (5, 3, 2)" in fn.source
    assert "_tensordot_grad" not in fn.source


def test_slogdet_reads_like_the_identity(tmp_path):
    fn = derive(tmp_path, 'a: "f[N, N]"', "sign, logdet = np.linalg.slogdet(a)\nreturn logdet")
    assert "sign, logdet = np.linalg.slogdet(a)" in fn.source
    assert re.search(r"da = dlogdet \* np.linalg.inv\(a\).T +# \(N, N\)", fn.source)


@pytest.mark.parametrize("params, body, message", [
    ("a, b", "np.tensordot(a, b, axes=k)", "axes must be written as a literal"),
    ("a, b", "np.tensordot(a, b, axes=(1, 2, 3))", "axes must be an int or a pair of axis lists"),
    ('a: "f[3, 4]", b: "f[3, 4]"', "np.tensordot(a, b, axes=1)", "shape mismatch"),
    ('a: "f[3, 4]", b: "f[4]"', "np.tensordot(a, b, axes=2)", "do not fit ranks 2 and 1"),
    ("a", "np.linalg.slogdet(a)", "np.linalg.slogdet returns two results"),
    ("a", "s, l, x = np.linalg.slogdet(a)\nreturn l", "returns 2 results (sign, logabsdet), unpacked here into 3"),
    ("a", "np.linalg.cholesky(a, upper=True)", "argument 'upper=' of np.linalg.cholesky is not supported"),
    ("a", "np.linalg.eigh(a)", "np.linalg.eigh returns two results"),
    ("a", "w, U, V = np.linalg.eigh(a)\nreturn w", "returns 2 results (eigenvalues, eigenvectors), unpacked here into 3"),
    ("a", "np.linalg.eigh(a, UPLO='U')[0]", "argument 'UPLO=' of np.linalg.eigh is not supported"),
    ("a", "U, s, Vt = np.linalg.svd(a)\nreturn s", "np.linalg.svd with its singular vectors is not supported"),
    ("a", "np.linalg.svd(a, compute_uv=True)", "np.linalg.svd with its singular vectors is not supported"),
])
def test_misuse_is_refused_with_its_line(tmp_path, params, body, message):
    with pytest.raises(gradgen.GradgenError) as info:
        derive(tmp_path, params, body)
    assert message in str(info.value) and ":3:" in str(info.value)
