"""The wider NumPy surface gradgen now accepts (gradgen/numpy_api.py: more unary functions,
arctan2/hypot/logaddexp/logaddexp2/fmax/fmin, inner/vdot, clip, prod/var/std/cumsum/diff,
sort, average, axis shuffles and flips, conversions, take, tile/repeat/pad, the stacks,
einsum, np.linalg inv/det/solve/norm) against float64 central differences.

This surface is beyond the one gradgen promises, so a case gradgen refuses with a
GradgenError is skipped (the reason shows with -rs); anything it accepts must have a right
gradient."""

from __future__ import annotations

import re

import numpy as np
import pytest

from rules_support import FLOAT, K, N, P, S, WC, annotated, case, derive, run_case, shape_label, spec_for

# -- more elementwise functions -------------------------------------------------------------------

UNARY = [
    ("np.log1p(x)", "positive"), ("np.expm1(x)", "normal"), ("np.log2(x)", "positive"),
    ("np.log10(x)", "positive"), ("np.exp2(x)", "normal"), ("np.square(x)", "normal"),
    ("np.reciprocal(x)", "signed"), ("np.sinh(x)", "normal"), ("np.cosh(x)", "normal"),
    ("np.tan(x)", "unit"), ("np.arcsin(x)", "unit"), ("np.arccos(x)", "unit"),
    ("np.arctan(x)", "normal"), ("np.arcsinh(x)", "normal"), ("np.arccosh(x)", "gt1"),
    ("np.arctanh(x)", "unit"), ("np.cbrt(x)", "signed"), ("np.positive(x)", "normal"),
]


def _unary_cases():
    for expr, flavour in UNARY:
        for kind in [(5,), (3, 4), "f", "0d"]:
            label = f"{expr.replace(' ', '')}-{shape_label(kind)}"
            yield case(f"{label}-vjp", "x", expr, spec_for(kind, flavour))
            yield case(f"{label}-sum", "x", f"np.sum({expr})", spec_for(kind, flavour))


@pytest.mark.parametrize("c", list(_unary_cases()))
def test_more_unary(c):
    run_case(c, allow_refusal=True)


@pytest.mark.parametrize("c", list(annotated(_unary_cases(), keep=lambda c: True, share=0.12)))
def test_more_unary_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c, allow_refusal=True)


BINARY = [("np.arctan2(a, b)", "normal", "signed"), ("np.hypot(a, b)", "signed", "signed"),
          ("np.logaddexp(a, b)", "normal", "normal"), ("np.fmax(a, b)", "normal", "normal"),
          ("np.fmin(a, b)", "normal", "normal")]
PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (3, 4)), ((3, 1), (1, 4)), ((3, 4), "f"), ("0d", (5,))]


def _binary_cases():
    for expr, fa, fb in BINARY:
        for sa, sb in PAIRS:
            label = f"{expr.split('(')[0]}-{shape_label(sa)}&{shape_label(sb)}"
            yield case(f"{label}-vjp", "a, b", expr, spec_for(sa, fa), spec_for(sb, fb))
            yield case(f"{label}-sum", "a, b", f"np.sum({expr})", spec_for(sa, fa), spec_for(sb, fb))


@pytest.mark.parametrize("c", list(_binary_cases()))
def test_more_binary(c):
    run_case(c, allow_refusal=True)


@pytest.mark.parametrize("c", list(annotated(_binary_cases(), keep=lambda c: True, share=0.2)))
def test_more_binary_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c, allow_refusal=True)


def _inner_cases():
    yield case("inner-1d", "a, b", "np.inner(a, b)", N(4), N(4))
    yield case("inner-2d&1d", "a, b", "np.inner(a, b)", N(3, 4), N(4))
    yield case("inner-2d&2d", "a, b", "np.inner(a, b)", N(3, 4), N(5, 4))
    yield case("inner-2d&2d-square", "a, b", "np.inner(a, b)", N(3, 3), N(3, 3))
    yield case("inner-1d&2d", "a, b", "np.inner(a, b)", N(4), N(3, 4))
    yield case("inner-scalar", "a, b", "np.inner(a, b)", N(), N(3))
    yield case("inner-loss", "a, b", "np.sum(np.tanh(np.inner(a, b)))", N(3, 3), N(3, 3))


@pytest.mark.parametrize("c", list(_inner_cases()))
def test_inner(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_inner_cases(), keep=lambda c: True)))
def test_inner_annotated(c):
    """With the ranks known, the identities are written out (dout @ b, dout.T @ a)."""
    run_case(c)


# -- vdot, diff, sort, average, flips, conversions, degrees, logaddexp2, more stacks ---------------

def _more_cases():
    yield case("inner-3d&2d", "a, b", "np.inner(a, b)", N(2, 3, 4), N(5, 4))
    yield case("inner-2d&0d", "a, b", "np.inner(a, b)", N(3, 4), N())
    yield case("vdot-1d", "a, b", "np.vdot(a, b)", N(4), N(4))
    yield case("vdot-2d", "a, b", "np.vdot(a, b)", N(2, 3), N(2, 3))
    yield case("vdot-flattens", "a, b", "np.vdot(a, b)", N(2, 3), N(6))
    yield case("vdot-same", "a", "np.vdot(a, a)", N(3, 2))
    yield case("diff-1d", "x", "np.diff(x)", N(5))
    yield case("diff-n2", "x", "np.diff(x, 2)", N(6))
    yield case("diff-axis0", "x", "np.diff(x, axis=0)", N(4, 3))
    yield case("diff-n3-axis", "x", "np.diff(x, n=3, axis=1)", N(2, 5))
    yield case("diff-n0", "x", "np.diff(x, 0)", N(3))
    yield case("diff-loss", "x", "np.sum(np.diff(x) ** 2)", N(3, 5))
    yield case("sort-1d", "x", "np.sort(x)", N(6))
    yield case("sort-2d", "x", "np.sort(x)", N(3, 5))
    yield case("sort-axis0", "x", "np.sort(x, axis=0)", N(4, 3))
    yield case("sort-flat", "x", "np.sort(x, axis=None)", N(3, 4))
    yield case("sort-kind", "x", "np.sort(x, kind='stable')", N(5))
    yield case("sort-top-k", "x", "np.sort(x, axis=1)[:, -2:]", N(3, 5))
    yield case("average", "x", "np.average(x)", N(3, 4))
    yield case("average-axis", "x", "np.average(x, axis=1)", N(3, 4))
    yield case("average-keepdims", "x", "x - np.average(x, axis=0, keepdims=True)", N(3, 4))
    yield case("fliplr", "x", "np.fliplr(x)", N(3, 4))
    yield case("flipud", "x", "np.flipud(x)", N(3, 4))
    yield case("flipud-1d", "x", "np.flipud(x)", N(4))
    yield case("asarray", "x", "np.asarray(x)", N(3, 4))
    yield case("asarray-float", "x", "np.asarray(x) * 2.0", FLOAT)
    yield case("array", "x", "np.array(x)", N(4))
    yield case("array-float", "x", "np.array(x) * x", FLOAT)
    yield case("asanyarray", "x", "np.asanyarray(x) ** 2", N(4))
    yield case("ascontiguousarray", "x", "np.ascontiguousarray(x.T)", N(3, 4))
    yield case("ascontiguousarray-0d", "x", "np.ascontiguousarray(x) * x", N())
    yield case("ascontiguousarray-dtype-0d", "x", "np.ascontiguousarray(x, dtype=np.float64) * 2.0", N())
    yield case("ascontiguousarray-dtype-float", "x", "np.sum(np.ascontiguousarray(x, np.float64) ** 2)", FLOAT)
    yield case("ascontiguousarray-dtype", "x", "np.ascontiguousarray(x, dtype=np.float64)", N(2, 3))
    yield case("asarray-dtype", "x", "np.asarray(x, dtype=np.float64)", N(3))
    yield case("array-dtype", "x", "np.array(x, dtype=float) ** 2", N(3))
    yield case("fabs", "x", "np.fabs(x)", S(3, 4))
    yield case("deg2rad", "x", "np.deg2rad(x)", N(4))
    yield case("radians", "x", "np.sin(np.radians(x))", N(4))
    yield case("rad2deg", "x", "np.rad2deg(x)", N(4))
    yield case("degrees", "x", "np.degrees(x) ** 2", FLOAT)
    yield case("column_stack-1d", "a, b", "np.column_stack([a, b])", N(4), N(4))
    yield case("column_stack-mixed", "a, b", "np.column_stack((a, b))", N(4), N(4, 2))
    yield case("dstack-2d", "a, b", "np.dstack([a, b])", N(3, 2), N(3, 2))
    yield case("dstack-1d", "a, b", "np.dstack([a, b])", N(3), N(3))
    yield case("dstack-3d", "a, b", "np.dstack([a, b])", N(2, 3, 1), N(2, 3, 2))
    yield case("full_like", "x", "np.full_like(x, 2.0) * x", N(3, 4))
    yield case("full_like-keyword", "x", "x * np.full_like(x, fill_value=0.5)", N(3))
    yield case("full_like-of-a-dimension", "x", "x * np.full_like(x, x.shape[-1])", N(3))
    yield case("heaviside", "x", "np.heaviside(x, 0.5) * x ** 2", S(5))
    yield case("nansum", "x", "np.nansum(x)", N(3, 4))
    yield case("nansum-axis", "x", "np.nansum(x, axis=1)", N(3, 4))
    yield case("nanmean", "x", "np.nanmean(x) * x", N(3, 4))
    yield case("nanmean-axis-keepdims", "x", "x - np.nanmean(x, axis=0, keepdims=True)", N(3, 4))
    # entries that are nan get no gradient; the mask puts nan where the data is missing
    mask = np.array([[True, False, False, True]] * 3)
    yield case("nansum-skips-nan", "x, m", "np.nansum(np.where(m, np.nan, x) ** 2, axis=1)", N(3, 4), K(mask))
    yield case("nanmean-skips-nan", "x, m", "np.nanmean(np.where(m, np.nan, x) ** 2, axis=0)", N(3, 4),
               K(np.eye(3, 4, dtype=bool)))
    yield case("nanmean-skips-nan-all", "x, m", "np.nanmean(np.where(m, np.nan, x) * 3.0)", N(3, 4), K(mask))
    for sa, sb in PAIRS:
        label = f"logaddexp2-{shape_label(sa)}&{shape_label(sb)}"
        yield case(label, "a, b", "np.logaddexp2(a, b)", spec_for(sa, "normal"), spec_for(sb, "normal"))


def _convolution_cases():
    """Every mode, with the first vector longer, shorter and as long as the second (NumPy
    swaps them when the second is longer, which moves where 'same' cuts np.correlate)."""
    for fn in ("convolve", "correlate"):
        for mode in (None, "full", "same", "valid"):
            for n, m in ((5, 3), (3, 5), (4, 4), (1, 3), (2, 4)):
                arg = "" if mode is None else f", mode='{mode}'" if n == 4 else f", '{mode}'"
                yield case(f"{fn}-{mode or 'default'}-{n}&{m}", "a, v", f"np.{fn}(a, v{arg})", N(n), N(m))
    yield case("convolve-loss", "a, v", "np.sum(np.tanh(np.convolve(a, v, 'same')) ** 2)", N(7), N(3))
    yield case("correlate-itself", "a", "np.correlate(a, a, 'full')", N(4))


@pytest.mark.parametrize("c", list(_convolution_cases()))
def test_convolve_correlate(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_convolution_cases(), keep=lambda c: True, share=0.5)))
def test_convolve_correlate_annotated(c):
    run_case(c)


def test_full_convolution_reads_as_the_identity(tmp_path):
    fn = derive(tmp_path, 'a: "f[N]", v: "f[K]"', "y = np.convolve(a, v)\nreturn np.sum(y ** 2)")
    assert re.search(r"da = np\.correlate\(dy, v, 'valid'\) +# \(N,\)", fn.source)
    assert re.search(r"dv = np\.correlate\(dy, a, 'valid'\) +# \(K,\)", fn.source)
    assert "_convolve_grad" not in fn.source


@pytest.mark.parametrize("c", list(_more_cases()))
def test_more_functions(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_more_cases(), keep=lambda c: True, share=0.5)))
def test_more_functions_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


@pytest.mark.parametrize("params, body, shapes", [
    ("a, b", "np.inner(a, b)", [(3, 4), (5, 4)]),
    ('a: "f[3, 4]", b: "f[5, 4]"', "np.inner(a, b)", [(3, 4), (5, 4)]),
    ("a, b", "np.inner(a, b)", [(2, 3, 4), ()]),
    ("a, b", "np.vdot(a, b)", [(2, 3), (6,)]),
    ("x", "np.diff(x, 2, axis=0)", [(5, 3)]),
    ("x", "np.sort(x, axis=None)", [(3, 4)]),
    ("x", "np.average(x, axis=0)", [(3, 4)]),
    ("x", "np.fliplr(x)", [(3, 4)]),
    ("x", "np.asarray(x) * np.full_like(x, 2.0)", [(3,)]),
    ("x", "np.array(x, dtype=np.float64)", [(3,)]),
    ("x", "np.degrees(np.fabs(x))", [(3,)]),
    ("a, b", "np.logaddexp2(a, b)", [(3, 4), (4,)]),
    ("a, b", "np.column_stack([a, b])", [(4,), (4, 2)]),
    ("a", "np.linalg.eigvalsh(a)", [(3, 3)]),
    ("a", "np.linalg.eigh(a)[1] ** 2", [(2, 3, 3)]),
    ("a", "np.linalg.svd(a, compute_uv=False)", [(4, 3)]),
    ("x", "np.nanmean(x, axis=1) + np.nansum(x)", [(3, 4)]),
    ("a, v", "np.convolve(a, v, 'same')", [(5,), (3,)]),
    ("a, v", "np.correlate(a, v)", [(5,), (3,)]),
])
def test_float32_in_float32_out(params, body, shapes, tmp_path):
    """Each function's gradient keeps a float32 input's precision."""
    fn = derive(tmp_path, params, f"np.sum({body} ** 2)")
    rng = np.random.default_rng(5)
    args = [rng.standard_normal(shape).astype(np.float32) for shape in shapes]
    for arg, grad in zip(args, fn.backward(*args)):
        assert grad.dtype == np.float32, (body, grad.dtype)
        assert np.shape(grad) == np.shape(arg)


def test_sort_sends_each_adjoint_to_where_its_value_was(tmp_path):
    fn = derive(tmp_path, "x, w", "np.sum(np.sort(x) * w)")
    dx, dw = fn.backward(np.array([3.0, 1.0, 2.0]), np.array([10.0, 20.0, 30.0]))
    np.testing.assert_array_equal(dx, [30.0, 10.0, 20.0])
    np.testing.assert_array_equal(dw, [1.0, 2.0, 3.0])


def test_conversion_to_float32_gives_the_gradient_in_float64(tmp_path):
    fn = derive(tmp_path, "x", "np.sum(np.asarray(x, dtype=np.float32) ** 2)")
    (dx,) = fn.backward(np.array([1.0, -2.0]))
    assert dx.dtype == np.float64
    np.testing.assert_array_equal(dx, [2.0, -4.0])


# -- clip -----------------------------------------------------------------------------------------

def _clip_cases():
    x = S(3, 4)
    yield case("clip-scalars", "x", "np.clip(x, -0.9, 0.8)", x)
    yield case("clip-lo-none", "x", "np.clip(x, None, 0.8)", x)
    yield case("clip-hi-none", "x", "np.clip(x, -0.9, None)", x)
    yield case("clip-method", "x", "x.clip(-0.9, 0.8)", x)
    yield case("clip-keywords", "x", "np.clip(x, a_min=-0.9, a_max=0.8)", x)
    yield case("clip-array-bounds", "x, lo, hi", "np.clip(x, lo, hi)", x, K(np.full((3, 4), -0.7)),
               K(np.full((3, 4), 0.6)), wrt=("x",))
    lo4, hi31 = K(np.array([-0.9, -0.5, -0.8, -0.3])), K(np.array([[0.5], [0.9], [0.4]]))
    yield case("clip-bounds-differentiable", "x, lo, hi", "np.clip(x, lo, hi)", x, lo4, hi31)
    yield case("clip-bounds-broadcast-loss", "x, lo, hi", "np.sum(np.clip(x, lo, hi) ** 2)", x, lo4, hi31)
    yield case("clip-float-bounds", "x, lo, hi", "np.clip(x, lo, hi)", x, K(-0.7), K(0.6))
    yield case("clip-bound-bigger-than-x", "x, lo", "np.clip(x, lo, 5.0)", N(4), N(3, 4))
    yield case("clip-sum", "x", "np.sum(np.clip(x, -0.9, 0.8))", x)


@pytest.mark.parametrize("c", list(_clip_cases()))
def test_clip(c):
    run_case(c, allow_refusal=True)


@pytest.mark.parametrize("c", list(annotated(_clip_cases(), keep=lambda c: True)))
def test_clip_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c, allow_refusal=True)


# -- prod, var, std, cumsum --------------------------------------------------------------------------

def _stat_cases():
    for op in ("prod", "var", "std"):
        for shape, axes in (((5,), [None, -1]), ((3, 4), [None, 0, -1, (0, 1)]),
                            ((2, 3, 4), [1, (0, 2)])):
            for axis in axes:
                for keepdims in ((False, True) if len(shape) == 2 else (False,)):
                    args = ([] if axis is None else [f"axis={axis!r}"]) + \
                        (["keepdims=True"] if keepdims else [])
                    tail = "".join(", " + a for a in args)
                    label = f"{op}-{shape_label(shape)}-axis{axis}-keep{keepdims}".replace(" ", "")
                    spec = P(*shape) if op == "prod" else N(*shape)
                    yield case(f"np.{label}", "x", f"np.{op}(x{tail})", spec)
                    if keepdims is False:
                        yield case(f"method.{label}", "x", f"x.{op}({', '.join(args)})", spec)
    for op in ("var", "std"):
        yield case(f"{op}-ddof1", "x", f"np.{op}(x, ddof=1)", N(5))
        yield case(f"{op}-ddof1-axis0", "x", f"np.{op}(x, axis=0, ddof=1)", N(4, 3))
        yield case(f"{op}-method-ddof1", "x", f"x.{op}(axis=1, ddof=1, keepdims=True)", N(4, 3))
        yield case(f"{op}-of-expression", "x, w", f"np.{op}(x * w, axis=0)", N(4, 3), N(3))
    yield case("prod-negative-entries", "x", "np.prod(x, axis=1)", S(3, 4))
    yield case("prod-of-expression", "x, w", "np.prod(x * w)", P(4), P(4))
    for axis in (None, 0, 1, -1):
        tail = "" if axis is None else f", axis={axis}"
        yield case(f"cumsum-3x4-axis{axis}", "x", f"np.cumsum(x{tail})", N(3, 4))
    yield case("cumsum-1d", "x", "np.cumsum(x)", N(5))
    yield case("cumsum-3d-axis1", "x", "np.cumsum(x, axis=1)", N(2, 3, 4))
    yield case("cumsum-method", "x", "x.cumsum(axis=0)", N(3, 4))
    yield case("cumsum-positional-axis", "x", "np.cumsum(x, 1)", N(3, 4))


@pytest.mark.parametrize("c", list(_stat_cases()))
def test_prod_var_std_cumsum(c):
    run_case(c, allow_refusal=True)


@pytest.mark.parametrize("c", list(annotated(_stat_cases(), keep=lambda c: not c.id.startswith("method."),
                                             share=0.15)))
def test_prod_var_std_cumsum_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c, allow_refusal=True)


@pytest.mark.parametrize("x, expected", [
    ([2.0, 0.0, 3.0], [0.0, 6.0, 0.0]),
    ([0.0, 0.0, 3.0], [0.0, 0.0, 0.0]),
    ([4.0, 5.0, 0.0], [0.0, 0.0, 20.0]),
])
def test_prod_with_zero_entries(x, expected, tmp_path):
    """d prod / d x_i is the product of the other entries, also where some entry is 0."""
    fn = derive(tmp_path, "x", "np.prod(x)")
    (dx,) = fn.backward(np.array(x))
    np.testing.assert_array_equal(dx, expected)


def test_prod_with_zero_entries_along_axis(tmp_path):
    fn = derive(tmp_path, "x", "np.sum(np.prod(x, axis=1))")
    (dx,) = fn.backward(np.array([[2.0, 0.0, 3.0], [1.0, 2.0, 4.0]]))
    np.testing.assert_array_equal(dx, [[0.0, 6.0, 0.0], [8.0, 4.0, 2.0]])


# -- axis shuffles, views ----------------------------------------------------------------------------

def _shuffle_cases():
    x3 = N(2, 3, 4)
    yield case("swapaxes-0-2", "x", "np.swapaxes(x, 0, 2)", x3)
    yield case("swapaxes-neg", "x", "np.swapaxes(x, -1, 1)", x3)
    yield case("swapaxes-method", "x", "x.swapaxes(0, 1)", x3)
    yield case("moveaxis-0-2", "x", "np.moveaxis(x, 0, 2)", x3)
    yield case("moveaxis-neg", "x", "np.moveaxis(x, -1, 0)", x3)
    yield case("moveaxis-tuple", "x", "np.moveaxis(x, (0, 1), (2, 0))", x3)
    yield case("flip-all", "x", "np.flip(x)", x3)
    yield case("flip-axis", "x", "np.flip(x, 1)", x3)
    yield case("flip-axis-tuple", "x", "np.flip(x, axis=(0, 2))", x3)
    yield case("roll-flat", "x", "np.roll(x, 5)", N(3, 4))
    yield case("roll-axis", "x", "np.roll(x, 1, axis=1)", N(3, 4))
    yield case("roll-negative", "x", "np.roll(x, -2, axis=0)", N(3, 4))
    yield case("roll-tuple", "x", "np.roll(x, (1, 2), axis=(0, 1))", N(3, 4))
    yield case("broadcast_to-row", "x", "np.broadcast_to(x, (3, 4))", N(4))
    yield case("broadcast_to-col", "x", "np.broadcast_to(x, (2, 3, 4))", N(3, 1))
    yield case("broadcast_to-loss", "x", "np.sum(np.broadcast_to(x, (3, 4)) ** 2)", N(4))
    yield case("broadcast_to-same", "x", "np.broadcast_to(x, (3, 4))", N(3, 4))
    yield case("broadcast_to-shape-of", "x, y", "np.broadcast_to(x, y.shape) * y", N(4), N(3, 4))
    yield case("squeeze", "x", "np.squeeze(x)", N(3, 1, 4))
    yield case("squeeze-axis", "x", "np.squeeze(x, axis=1)", N(3, 1, 4))
    yield case("squeeze-method", "x", "x.squeeze()", N(1, 4))
    yield case("expand_dims", "x", "np.expand_dims(x, 1)", N(3, 4))
    yield case("expand_dims-tuple", "x", "np.expand_dims(x, (0, -1))", N(3, 4))
    yield case("ravel", "x", "np.ravel(x)", N(3, 4))
    yield case("ravel-method", "x", "x.ravel()", N(3, 4))
    yield case("flatten", "x", "x.flatten()", N(3, 4))
    yield case("atleast_1d", "x", "np.atleast_1d(x)", N())
    yield case("atleast_2d", "x", "np.atleast_2d(x)", N(4))
    yield case("triu", "x", "np.triu(x)", N(4, 4))
    yield case("triu-k", "x", "np.triu(x, 1)", N(3, 4))
    yield case("tril-k-neg", "x", "np.tril(x, k=-1)", N(4, 3))
    yield case("tril-3d", "x", "np.tril(x)", N(2, 3, 3))
    yield case("diag-of-vector", "v", "np.diag(v)", N(4))
    yield case("diag-of-vector-k", "v", "np.diag(v, 1)", N(3))
    yield case("diag-of-vector-k-neg", "v", "np.diag(v, k=-2)", N(3))
    yield case("diag-of-matrix", "x", "np.diag(x)", N(4, 4))
    yield case("diag-of-matrix-rect-k", "x", "np.diag(x, 1)", N(3, 5))
    yield case("diag-of-matrix-k-neg", "x", "np.diag(x, -1)", N(4, 3))
    yield case("diagonal", "x", "np.diagonal(x)", N(4, 4))
    yield case("diagonal-offset", "x", "np.diagonal(x, 1)", N(3, 5))
    yield case("diagonal-offset-neg", "x", "np.diagonal(x, offset=-1)", N(4, 3))
    yield case("diagonal-3d", "x", "np.diagonal(x)", N(3, 3, 2))
    yield case("diagonal-method", "x", "x.diagonal()", N(3, 3))
    yield case("diagonal-last-axes", "x", "np.diagonal(x, 0, -2, -1)", N(2, 3, 3))
    yield case("diagonal-axes-offset", "x", "np.diagonal(x, offset=1, axis1=2, axis2=0)", N(3, 2, 4))
    yield case("diagonal-method-axes", "x", "x.diagonal(0, 1, 2)", N(2, 4, 4))
    yield case("trace", "x", "np.trace(x)", N(4, 4))
    yield case("trace-rect", "x", "np.trace(x)", N(3, 5))
    yield case("trace-method", "x", "x.trace() * 2.0", N(3, 3))
    yield case("trace-of-product", "a, b", "np.trace(a @ b)", N(3, 4), N(4, 3))


@pytest.mark.parametrize("c", list(_shuffle_cases()))
def test_axis_shuffles_and_views(c):
    run_case(c, allow_refusal=True)


@pytest.mark.parametrize("c", list(annotated(_shuffle_cases(), keep=lambda c: True, share=0.15)))
def test_axis_shuffles_and_views_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c, allow_refusal=True)


# -- take, tile, repeat, pad, stacks ---------------------------------------------------------------

IDX = np.array([2, 0, 2, 1])


def _gather_cases():
    yield case("take-flat", "x", "np.take(x, [5, 0, 5, 11])", N(3, 4))
    yield case("take-axis0", "x, idx", "np.take(x, idx, axis=0)", N(3, 4), K(IDX))
    yield case("take-axis1", "x, idx", "np.take(x, idx, axis=1)", N(3, 4), K(np.array([3, 3, 0])))
    yield case("take-axis-neg", "x, idx", "np.take(x, idx, axis=-1)", N(2, 3, 4), K(np.array([3, 3, 0])))
    yield case("take-2d-indices", "x, idx", "np.take(x, idx, axis=2)", N(2, 3, 4),
               K(np.array([[0, 3], [3, 3]])))
    yield case("take-scalar-index", "x", "np.take(x, 2, axis=1)", N(3, 4))
    yield case("take-method", "x, idx", "x.take(idx, axis=0)", N(3, 4), K(IDX))
    yield case("take_along_axis", "x, idx", "np.take_along_axis(x, idx, axis=1)", N(3, 4),
               K(np.array([[0, 0], [3, 1], [2, 2]])))
    yield case("take_along_axis-0", "x, idx", "np.take_along_axis(x, idx, axis=0)", N(3, 4),
               K(np.array([[0, 2, 2, 1]])))
    yield case("take_along_axis-neg", "x, idx", "np.take_along_axis(x, idx, axis=-1)", N(2, 3, 4),
               K(np.array([[[0], [3], [3]], [[1], [1], [0]]])))
    yield case("take_along_axis-broadcast-index", "x, idx", "np.take_along_axis(x, idx, axis=1)", N(3, 4),
               K(np.array([[1, 3]])))
    yield case("take_along_axis-argmax", "x", "np.take_along_axis(x, np.argmax(x, axis=1)[:, None], axis=1)",
               N(3, 4))
    yield case("tile-int", "x", "np.tile(x, 3)", N(4))
    yield case("tile-tuple", "x", "np.tile(x, (2, 3))", N(3, 4))
    yield case("tile-more-reps", "x", "np.tile(x, (2, 1, 2))", N(3, 4))
    yield case("tile-2d-int", "x", "np.tile(x, 2)", N(2, 3))
    yield case("repeat-flat", "x", "np.repeat(x, 2)", N(3, 4))
    yield case("repeat-axis", "x", "np.repeat(x, 3, axis=1)", N(3, 4))
    yield case("repeat-counts", "x", "np.repeat(x, [1, 0, 2], axis=0)", N(3, 4))
    yield case("repeat-method", "x", "x.repeat(2, axis=0)", N(3, 4))
    yield case("pad-int", "x", "np.pad(x, 1)", N(3, 4))
    yield case("pad-pair", "x", "np.pad(x, (1, 2))", N(3, 4))
    yield case("pad-per-axis", "x", "np.pad(x, ((0, 1), (2, 0)))", N(3, 4))
    yield case("pad-1d", "x", "np.pad(x, (2, 1))", N(5))
    yield case("hstack-1d", "a, b", "np.hstack([a, b])", N(3), N(2))
    yield case("hstack-2d", "a, b", "np.hstack((a, b))", N(3, 2), N(3, 4))
    yield case("hstack-same", "a", "np.hstack([a, a * 2])", N(3, 2))
    yield case("vstack-1d", "a, b", "np.vstack([a, b])", N(3), N(3))
    yield case("vstack-2d", "a, b", "np.vstack([a, b])", N(2, 3), N(1, 3))
    yield case("vstack-mixed", "a, b", "np.vstack([a, b])", N(3), N(2, 3))
    yield case("hstack-0d", "a, b", "np.hstack([a, b])", N(), N(3))


@pytest.mark.parametrize("c", list(_gather_cases()))
def test_take_tile_repeat_pad_stacks(c):
    run_case(c, allow_refusal=True)


@pytest.mark.parametrize("c", list(annotated(_gather_cases(), keep=lambda c: True, share=0.15)))
def test_take_tile_repeat_pad_stacks_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c, allow_refusal=True)


# -- einsum ------------------------------------------------------------------------------------------

def _einsum_cases():
    # NumPy broadcasts a letter of size 1 against the same letter larger elsewhere
    yield case("einsum-size1-contracted", "a, b", "np.einsum('ij,jk->ik', a, b)", N(3, 1), N(4, 2))
    yield case("einsum-size1-elementwise", "a, b", "np.einsum('ij,ij->ij', a, b)", N(1, 4), N(3, 4))
    yield case("einsum-size1-other", "a, b", "np.einsum('ij,ij->i', a, b)", N(3, 4), N(3, 1))
    yield case("einsum-matmul", "a, b", "np.einsum('ij,jk->ik', a, b)", N(3, 4), N(4, 2))
    yield case("einsum-batched", "a, b", "np.einsum('bij,bjk->bik', a, b)", N(2, 3, 4), N(2, 4, 2))
    yield case("einsum-dot", "a, b", "np.einsum('i,i->', a, b)", N(4), N(4))
    yield case("einsum-outer", "a, b", "np.einsum('i,j->ij', a, b)", N(3), N(4))
    yield case("einsum-transpose", "a", "np.einsum('ij->ji', a)", N(3, 4))
    yield case("einsum-elementwise", "a, b", "np.einsum('ij,ij->ij', a, b)", N(3, 4), N(3, 4))
    yield case("einsum-frobenius", "a, b", "np.einsum('ij,ij->', a, b)", N(3, 4), N(3, 4))
    yield case("einsum-row-sum", "a", "np.einsum('ij->i', a)", N(3, 4))
    yield case("einsum-total", "a", "np.einsum('ij->', a)", N(3, 4))
    yield case("einsum-sum-over-other", "a, b", "np.einsum('ij,k->ik', a, b)", N(3, 4), N(2))
    yield case("einsum-trace", "a", "np.einsum('ii->', a)", N(3, 3))
    yield case("einsum-diagonal", "a", "np.einsum('ii->i', a)", N(3, 3))
    yield case("einsum-same-operand", "a", "np.einsum('i,i->', a, a)", N(4))
    yield case("einsum-implicit", "a, b", "np.einsum('ij,jk', a, b)", N(3, 4), N(4, 2))
    yield case("einsum-ellipsis", "a, b", "np.einsum('...ij,...jk->...ik', a, b)", N(2, 3, 4), N(2, 4, 2))
    yield case("einsum-three", "a, b, c", "np.einsum('ij,jk,kl->il', a, b, c)", N(2, 3), N(3, 4), N(4, 2))
    yield case("einsum-bilinear", "x, W, y", "np.einsum('i,ij,j->', x, W, y)", N(3), N(3, 4), N(4))
    yield case("einsum-scalar-operand", "s, a", "np.einsum(',ij->ij', s, a)", N(), N(3, 4))
    # repeated letters within an operand: diagonals
    yield case("einsum-trace-implicit", "a", "np.einsum('ii', a)", N(3, 3))
    yield case("einsum-diagonal-view", "a", "np.einsum('ii->i', a) * np.arange(1.0, 4.0)", N(3, 3))
    yield case("einsum-diagonal-sum-rest", "a", "np.einsum('iij->j', a)", N(3, 3, 2))
    yield case("einsum-diagonal-keep-rest", "a", "np.einsum('iij->ij', a)", N(3, 3, 2))
    yield case("einsum-diagonal-middle", "a", "np.einsum('iji->j', a)", N(3, 2, 3))
    yield case("einsum-diagonal-triple", "a", "np.einsum('iii->i', a)", N(3, 3, 3))
    yield case("einsum-diagonal-batched", "a", "np.einsum('bii->b', a)", N(2, 3, 3))
    yield case("einsum-diagonal-batched-keep", "a", "np.einsum('bii->ib', a)", N(2, 3, 3))
    yield case("einsum-diagonal-with-other", "a, b", "np.einsum('ij,ii->j', a, b)", N(3, 4), N(3, 3))
    yield case("einsum-diagonal-times-vector", "a, b", "np.einsum('ii,i->i', a, b)", N(3, 3), N(3))
    yield case("einsum-two-traces", "a, b", "np.einsum('ii,jj->', a, b)", N(3, 3), N(2, 2))
    yield case("einsum-diagonal-outer", "a, b", "np.einsum('ii,j->ij', a, b)", N(3, 3), N(2))
    yield case("einsum-diagonal-same-operand", "a", "np.einsum('ii,ij->j', a, a)", N(3, 3))
    # '...': broadcast dimensions, spelled out when the ranks are known
    yield case("einsum-ellipsis-broadcast-rank", "a, b", "np.einsum('...ij,...jk->...ik', a, b)",
               N(2, 3, 4), N(4, 5))
    yield case("einsum-ellipsis-broadcast-rank-b", "a, b", "np.einsum('...ij,...jk->...ik', a, b)",
               N(3, 4), N(2, 4, 5))
    yield case("einsum-ellipsis-broadcast-size1", "a, b", "np.einsum('...ij,...jk->...ik', a, b)",
               N(1, 3, 4), N(2, 4, 5))
    yield case("einsum-ellipsis-broadcast-both", "a, b", "np.einsum('...ij,...jk->...ik', a, b)",
               N(2, 1, 3, 4), N(5, 4, 2))
    yield case("einsum-ellipsis-empty", "a, b", "np.einsum('...ij,...jk->...ik', a, b)", N(3, 4), N(4, 2))
    yield case("einsum-ellipsis-implicit", "a, b", "np.einsum('...ij,...jk', a, b)", N(2, 3, 4), N(2, 4, 5))
    yield case("einsum-ellipsis-implicit-dot", "a, b", "np.einsum('...i,...i', a, b)", N(2, 3), N(1, 3))
    yield case("einsum-ellipsis-vector", "a, b", "np.einsum('...i,i->...', a, b)", N(2, 3, 4), N(4))
    yield case("einsum-ellipsis-transpose", "a", "np.einsum('i...->...i', a)", N(2, 3, 4))
    yield case("einsum-ellipsis-middle", "a, b", "np.einsum('i...j,j->...i', a, b)", N(2, 3, 4), N(4))
    yield case("einsum-ellipsis-row-sum", "a", "np.einsum('...ij->...i', a)", N(2, 3, 4))
    yield case("einsum-ellipsis-size1-rows", "a, b", "np.einsum('...i,...i->...i', a, b)", N(3, 1, 4), N(2, 4))
    yield case("einsum-ellipsis-summed-in-other", "a, b", "np.einsum('...ij,jk->...ik', a, b)",
               N(2, 3, 4), N(4, 5))
    yield case("einsum-ellipsis-absent-output", "a, b", "np.einsum('...i,i->', a, b)", N(4), N(4))
    yield case("einsum-ellipsis-whole", "a, b", "np.einsum('...,...->...', a, b)", N(2, 3), N(3))
    yield case("einsum-ellipsis-diagonal", "a", "np.einsum('...ii->...i', a)", N(2, 3, 3))
    yield case("einsum-ellipsis-trace", "a", "np.einsum('...ii->...', a)", N(2, 3, 3))
    yield case("einsum-ellipsis-three", "a, b, c", "np.einsum('...ij,...jk,...kl->...il', a, b, c)",
               N(2, 2, 3), N(3, 4), N(1, 4, 2))
    yield case("einsum-ellipsis-three-lonely", "a, b, c", "np.einsum('...ij,jk,...l->...ik', a, b, c)",
               N(2, 3, 4), N(4, 2), N(2, 5))


@pytest.mark.parametrize("c", list(_einsum_cases()))
def test_einsum(c):
    run_case(c, allow_refusal=True)


@pytest.mark.parametrize("mode", ["named", "literal", "partial"])
@pytest.mark.parametrize("c", list(_einsum_cases()))
def test_einsum_annotated(c, mode):
    """The same cases with shape annotations: '...' is spelled out in letters when the ranks
    are known ("partial" leaves every other parameter unannotated)."""
    run_case(type(c)(c.id, c.params, c.body, list(c.specs), c.wrt, c.tol, mode))


def test_einsum_accepts_every_case(tmp_path):
    """Diagonals and '...' are no longer refused, annotated or not."""
    import gradgen
    from rules_support import draw_args
    from support import derive_source

    refused = []
    for c in (p.values[0] for p in _einsum_cases()):
        for mode in (None, "named", "literal", "partial"):
            c.annot = mode
            try:
                derive_source(c.source_for(draw_args(c.id, c.specs)), tmp_path)
            except gradgen.GradgenError as err:
                refused.append(f"{c.id} [{mode}]: {str(err).splitlines()[0]}")
    assert not refused, "\n".join(refused)


def test_einsum_ellipsis_naming_dimensions_the_output_drops_is_refused():
    """NumPy sums no '...' dimensions away: with the rank known, gradgen says so at the line."""
    import gradgen
    from gradgen.pipeline import generate

    source = 'import numpy as np\n\ndef f(a: "f[B, N, D]", w: "f[D]"):\n    return np.einsum("...i,i->", a, w)\n'
    with pytest.raises(gradgen.GradgenError) as info:
        generate(source, "model.py", function="f")
    text = str(info.value)
    assert "model.py:4" in text and "'...' stands for 2 dimensions" in text, text


def test_einsum_size1_letter_broadcast_annotated():
    """A letter one operand has at size 1 broadcasts in NumPy; with the shapes known the
    adjoint sums it back."""
    run_case(case("einsum-letter-size1", 'a: "f[1, D]", b: "f[N, D]"', "np.einsum('ij,ij->ij', a, b)",
                  N(1, 4), N(3, 4)).values[0])
    run_case(case("einsum-diagonal-size1", 'a: "f[1, 1]", b: "f[N]"', "np.einsum('ii,i->i', a, b)",
                  N(1, 1), N(3)).values[0])


@pytest.mark.parametrize("params, body, specs, called", [
    ('a: "f[_, N, D]", b: "f[B, D, K]"', "np.einsum('...ij,...jk->...ik', a, b)", (N(1, 3, 4), N(2, 4, 5)),
     "_unbroadcast("),
    ('a: "f[N, _, D]", b: "f[D]"', "np.einsum('i...j,j->...i', a, b)", (N(3, 1, 4), N(4)), "_einsum_adjoint("),
    ('a: "f[_, N, N]", b', "np.einsum('...ii,...i->...i', a, b)", (N(1, 3, 3), N(2, 3)), "_einsum_adjoint("),
])
def test_einsum_ellipsis_of_unknown_size(params, body, specs, called):
    """The rank is known but not whether a dimension of '...' is 1: the adjoint is summed back
    when it runs."""
    fn = run_case(case("einsum-unknown-ellipsis-size", params, body, *specs).values[0])
    assert called in fn.source


# -- linear algebra ---------------------------------------------------------------------------------

def _linalg_cases():
    yield case("inv", "a", "np.linalg.inv(a)", WC(3, 3))
    yield case("inv-loss", "a", "np.sum(np.linalg.inv(a) ** 2)", WC(3, 3))
    yield case("inv-batched", "a", "np.linalg.inv(a)", WC(2, 3, 3))
    yield case("det", "a", "np.linalg.det(a)", WC(3, 3))
    yield case("det-batched", "a", "np.linalg.det(a)", WC(2, 3, 3))
    yield case("det-2x2", "a", "np.linalg.det(a)", N(2, 2))
    yield case("solve-vector", "a, b", "np.linalg.solve(a, b)", WC(3, 3), N(3))
    yield case("solve-matrix", "a, b", "np.linalg.solve(a, b)", WC(3, 3), N(3, 2))
    yield case("solve-batched", "a, b", "np.linalg.solve(a, b)", WC(2, 3, 3), N(2, 3, 2))
    yield case("solve-batched-a-shared-b", "a, b", "np.linalg.solve(a, b)", WC(2, 3, 3), N(3, 2))
    yield case("solve-shared-a-batched-b", "a, b", "np.linalg.solve(a, b)", WC(3, 3), N(2, 3, 2))
    yield case("solve-batched-a-vector-b", "a, b", "np.linalg.solve(a, b)", WC(2, 3, 3), N(3))
    yield case("solve-batched-a-vector-b-square", "a, b", "np.linalg.solve(a, b)", WC(3, 3, 3), N(3))
    yield case("solve-loss", "a, b", "np.sum(np.linalg.solve(a, b) ** 2)", WC(3, 3), N(3))
    yield case("norm-vector", "x", "np.linalg.norm(x)", N(4))
    yield case("norm-matrix-fro", "x", "np.linalg.norm(x)", N(3, 4))
    yield case("norm-fro-keyword", "x", "np.linalg.norm(x, 'fro')", N(3, 4))
    yield case("norm-vector-ord2", "x", "np.linalg.norm(x, 2)", N(4))
    yield case("norm-vector-ord1", "x", "np.linalg.norm(x, 1)", S(4))
    yield case("norm-vector-ordinf", "x", "np.linalg.norm(x, np.inf)", N(4))
    yield case("norm-vector-ord3", "x", "np.linalg.norm(x, 3)", N(4))
    yield case("norm-vector-ord-neg1", "x", "np.linalg.norm(x, -1)", S(4))
    yield case("norm-vector-ord-neginf", "x", "np.linalg.norm(x, -np.inf)", S(4))
    yield case("norm-vector-ord0.5", "x", "np.linalg.norm(x, 0.5)", S(4))
    yield case("norm-matrix-ord2-spectral", "x", "np.linalg.norm(x, 2)", N(3, 4))
    yield case("norm-matrix-ord1-max-col", "x", "np.linalg.norm(x, 1)", S(3, 4))
    yield case("norm-matrix-ordinf-max-row", "x", "np.linalg.norm(x, np.inf)", S(3, 4))
    yield case("norm-matrix-nuc", "x", "np.linalg.norm(x, 'nuc')", N(3, 4))
    yield case("norm-matrix-ord-neg2", "x", "np.linalg.norm(x, -2)", N(3, 4))
    yield case("norm-rows", "x", "np.linalg.norm(x, axis=1)", N(3, 4))
    yield case("norm-rows-keepdims", "x", "np.linalg.norm(x, axis=-1, keepdims=True)", N(3, 4))
    yield case("norm-rows-ord1", "x", "np.linalg.norm(x, ord=1, axis=1)", S(3, 4))
    yield case("norm-rows-ordinf", "x", "np.linalg.norm(x, ord=np.inf, axis=0)", S(3, 4))
    yield case("norm-matrix-axes", "x", "np.linalg.norm(x, axis=(1, 2))", N(2, 3, 4))
    yield case("norm-normalise", "x", "x / np.linalg.norm(x, axis=1, keepdims=True)", N(3, 4))
    # matrix norms of one matrix: the less usual orders, other shapes, keepdims, ties
    yield case("norm-matrix-ord-neg1-min-col", "x", "np.linalg.norm(x, -1)", S(3, 4))
    yield case("norm-matrix-ord-neginf-min-row", "x", "np.linalg.norm(x, -np.inf)", S(3, 4))
    yield case("norm-matrix-ord2-tall", "x", "np.linalg.norm(x, ord=2)", N(5, 3))
    yield case("norm-matrix-ord-neg2-tall", "x", "np.linalg.norm(x, ord=-2)", N(5, 3))
    yield case("norm-matrix-nuc-tall", "x", "np.linalg.norm(x, 'nuc')", N(5, 3))
    yield case("norm-matrix-ord2-keepdims", "x", "np.linalg.norm(x, 2, keepdims=True)", N(3, 4))
    yield case("norm-matrix-ord1-keepdims", "x", "np.linalg.norm(x, 1, None, True)", S(3, 4))
    yield case("norm-matrix-ord2-axes01", "x", "np.linalg.norm(x, 2, axis=(0, 1))", N(3, 4))
    yield case("norm-matrix-ord1-axes10", "x", "np.linalg.norm(x, 1, axis=(1, 0))", S(3, 4))
    yield case("norm-matrix-ord1-tie", "x", "np.linalg.norm(x, 1)",
               K(np.array([[1.0, -2.0, 0.5], [-2.0, 1.0, -0.25]])))  # columns 0 and 1 tie
    yield case("norm-matrix-ordinf-tie", "x", "np.linalg.norm(x, np.inf)",
               K(np.array([[1.0, -2.0], [-2.0, 1.0], [0.5, 0.25]])))  # rows 0 and 1 tie
    yield case("norm-matrix-in-loss", "x, w", "np.linalg.norm(x @ w, 2) + np.linalg.norm(w, 'nuc') ** 2",
               N(3, 4), N(4, 2))
    # stacks of matrices over a pair of axes
    yield case("norm-stack-fro-axes12", "x", "np.linalg.norm(x, 'fro', axis=(1, 2))", N(2, 3, 4))
    yield case("norm-stack-fro-axes02-keepdims", "x", "np.linalg.norm(x, axis=(0, 2), keepdims=True)",
               N(3, 2, 4))
    yield case("norm-stack-nuc-axes12", "x", "np.linalg.norm(x, 'nuc', axis=(1, 2))", N(2, 3, 4))
    yield case("norm-stack-nuc-axes02", "x", "np.linalg.norm(x, 'nuc', axis=(0, 2))", N(3, 2, 4))
    yield case("norm-stack-ord2-axes12", "x", "np.linalg.norm(x, 2, axis=(1, 2))", N(2, 3, 4))
    yield case("norm-stack-ord2-axes02-keepdims", "x", "np.linalg.norm(x, 2, axis=(0, 2), keepdims=True)",
               N(3, 2, 4))
    yield case("norm-stack-ord-neg2-axes12", "x", "np.linalg.norm(x, -2, axis=(1, 2))", N(2, 3, 4))
    yield case("norm-stack-ord-neg2-axes-last-first", "x", "np.linalg.norm(x, -2, axis=(-1, 0))", N(3, 2, 4))
    yield case("norm-stack-ord1-axes12", "x", "np.linalg.norm(x, 1, axis=(1, 2))", S(2, 3, 4))
    yield case("norm-stack-ord1-axes02-keepdims", "x", "np.linalg.norm(x, 1, axis=(0, 2), keepdims=True)",
               S(3, 2, 4))
    yield case("norm-stack-ord-neg1-axes02", "x", "np.linalg.norm(x, -1, axis=(0, 2))", S(3, 2, 4))
    yield case("norm-stack-ordinf-axes21", "x", "np.linalg.norm(x, np.inf, axis=(2, 1))", S(2, 3, 4))
    yield case("norm-stack-ord-neginf-axes12-keepdims", "x",
               "np.linalg.norm(x, -np.inf, axis=(1, 2), keepdims=True)", S(2, 3, 4))
    yield case("norm-stack-ord-neginf-axes02", "x", "np.linalg.norm(x, ord=-np.inf, axis=(0, 2))", S(3, 2, 4))
    yield case("norm-stack-ord1-4d", "x", "np.linalg.norm(x, 1, axis=(1, 3))", S(2, 3, 2, 4))
    # vector norms: -np.inf, general p, axis=None on a vector, a 1-tuple axis
    yield case("norm-rows-ord-neginf", "x", "np.linalg.norm(x, ord=-np.inf, axis=1)", S(3, 4))
    yield case("norm-rows-ord-neginf-keepdims", "x", "np.linalg.norm(x, -np.inf, 0, True)", S(3, 4))
    yield case("norm-rows-ord1.5", "x", "np.linalg.norm(x, ord=1.5, axis=1)", S(3, 4))
    yield case("norm-rows-ord3-keepdims", "x", "np.linalg.norm(x, 3, axis=0, keepdims=True)", S(3, 4))
    yield case("norm-rows-ord2.2-axis-tuple", "x", "np.linalg.norm(x, 2.2, axis=(-1,))", S(3, 4))
    yield case("norm-rows-ordinf-axis-tuple", "x", "np.linalg.norm(x, np.inf, axis=(0,))", S(3, 4))
    yield case("norm-vector-ord1.5", "x", "np.linalg.norm(x, 1.5)", S(4))
    yield case("norm-vector-ord4-keepdims", "x", "np.linalg.norm(x, 4, keepdims=True)", S(4))
    yield case("norm-vector-ord1-keepdims", "x", "np.linalg.norm(x, 1, keepdims=True)", S(4))
    yield case("norm-vector-ordinf-tie", "x", "np.linalg.norm(x, np.inf)", K(np.array([1.5, -2.0, 2.0, 0.5])))


@pytest.mark.parametrize("c", list(_linalg_cases()))
def test_linalg(c):
    run_case(c, allow_refusal=True)


@pytest.mark.parametrize("c", list(annotated(_linalg_cases(), keep=lambda c: True)))
def test_linalg_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c, allow_refusal=True)


# np.linalg.norm: which cases gradgen refuses by design; every other one it must accept
_NORM_REFUSED = {"norm-vector-ord0.5", "norm-vector-ord-neg1"}  # ord < 1: infinite gradient at 0
# with axis=None, ord 1, -1, 2, -2, np.inf, -np.inf are vector or matrix norms by x's rank
_NORM_NEEDS_RANK = {"norm-vector-ord2", "norm-vector-ord1", "norm-vector-ordinf", "norm-vector-ord-neginf",
                    "norm-matrix-ord2-spectral", "norm-matrix-ord1-max-col", "norm-matrix-ordinf-max-row",
                    "norm-matrix-ord-neg2", "norm-matrix-ord-neg1-min-col", "norm-matrix-ord-neginf-min-row",
                    "norm-matrix-ord2-tall", "norm-matrix-ord-neg2-tall", "norm-matrix-ord2-keepdims",
                    "norm-matrix-ord1-keepdims", "norm-matrix-ord1-tie", "norm-matrix-ordinf-tie",
                    "norm-matrix-in-loss", "norm-vector-ord1-keepdims", "norm-vector-ordinf-tie"}


def _norm_cases(annotate):
    for p in _linalg_cases():
        c = p.values[0]
        if c.id.startswith("norm") and c.id not in _NORM_REFUSED and (annotate or c.id not in _NORM_NEEDS_RANK):
            yield pytest.param(c, annotate, id=c.id + ("-annot" if annotate else ""))


@pytest.mark.parametrize("c, annotate", [*_norm_cases(False), *_norm_cases(True)])
def test_norm_accepted(c, annotate):
    """Every norm gradgen claims is accepted (not refused), has the right gradient, and the
    shape gradgen infers for it (from literal annotations) is the one NumPy gives."""
    import ast

    from gradgen.parse import parse_function
    from gradgen.pipeline import generate, parse_source
    from gradgen.shapes import show
    from rules_support import Case, annotate_params, draw_args, fsrc

    args = draw_args(c.id, c.specs)
    params = annotate_params(c.params, args, "literal") if annotate else c.params
    source = "import numpy as np\n" + fsrc(params, c.body)
    assert "def f_backward" in generate(source, "norm.py", function="f")  # no GradgenError
    if annotate:
        ctx, tree, scope = parse_source(source, "norm.py")
        fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
        out = np.shape(eval(c.body, {"np": np}, dict(zip([p.strip() for p in c.params.split(",")], args))))
        assert show(parse_function(ctx, fn, scope).output.shape) == show(out)
    run_case(Case(c.id, c.params, c.body, c.specs, c.wrt, c.tol, "literal" if annotate else None))


@pytest.mark.parametrize("body, needle", [
    ("np.linalg.norm(x, 2)", "annotate the shape of x"),
    ("np.linalg.norm(x, ord=-np.inf)", "annotate the shape of x"),
    ("np.linalg.norm(x, 0, axis=1)", "ord=0"),
    ("np.linalg.norm(x, 0.5)", "ord < 1"),
    ("np.linalg.norm(x, 3, axis=(0, 1))", "no matrix norm of this order"),
    ("np.linalg.norm(x, 'nuc', axis=0)", "is a matrix norm"),
    ("np.linalg.norm(x, 'fro', axis=-1)", "is a matrix norm"),
    ("np.linalg.norm(x, axis=(0, 1, 2))", "one axis"),
])
def test_norm_refused(body, needle):
    """Refusals name the line of the norm and say why (or how to make it work)."""
    import gradgen
    from gradgen.pipeline import generate

    source = f"import numpy as np\n\n\ndef f(x):\n    y = x * 2.0\n    n = {body}\n    return np.sum(n)\n"
    with pytest.raises(gradgen.GradgenError) as info:
        generate(source, "norm.py", function="f")
    err = info.value
    assert err.lineno == 6, str(err)
    assert needle in str(err), str(err)


def test_norm_refused_by_rank():
    """With x's rank known, NumPy's rules on rank are enforced at derive time."""
    import gradgen
    from gradgen.pipeline import generate

    source = 'import numpy as np\n\n\ndef f(x: "f[B, M, N]"):\n    return np.linalg.norm(x, 2)\n'
    with pytest.raises(gradgen.GradgenError, match="1-D or 2-D x only") as info:
        generate(source, "norm.py", function="f")
    assert info.value.lineno == 5
    source = 'import numpy as np\n\n\ndef f(x: "f[M, N]"):\n    return np.linalg.norm(x, 3)\n'
    with pytest.raises(gradgen.GradgenError, match="no matrix norm of this order"):
        generate(source, "norm.py", function="f")
    source = 'import numpy as np\n\n\ndef f(x: "f[M, N]"):\n    return np.linalg.norm(x, 2, axis=(1, -1))\n'
    with pytest.raises(gradgen.GradgenError, match="must differ"):
        generate(source, "norm.py", function="f")


# -- astype ------------------------------------------------------------------------------------------

def test_astype_float64(tmp_path):
    fn = derive(tmp_path, "x", "np.sum(x.astype(np.float64) ** 2)")
    (dx,) = fn.backward(np.array([1.0, -2.0]))
    np.testing.assert_array_equal(dx, [2.0, -4.0])
