"""Fused identities (softmax, log of a softmax, sigmoid; gradgen/simplify.py) against float64
central differences: every axis and rank, with and without the max shift, and with the
intermediates (e, the shifted logits, the softmax itself) also used elsewhere, where the
fused rule must not replace the adjoint those other uses contribute."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from rules_support import K, N, annotated, case, derive, rng_for, run_case


def _one_hot(label, rows, classes):
    return K(np.eye(classes)[rng_for("y:" + label).integers(0, classes, rows)])


def _soft_labels(label, *shape):
    p = rng_for("soft:" + label).random(shape) + 0.1
    return K(p / p.sum(axis=-1, keepdims=True))


SOFTMAX_FORMS = {
    "shifted": """
        e = np.exp(theta - theta.max(axis={a}, keepdims=True))
        yhat = e / e.sum(axis={a}, keepdims=True)
    """,
    "unshifted": """
        e = np.exp(theta)
        yhat = e / e.sum(axis={a}, keepdims=True)
    """,
    "np-functions": """
        e = np.exp(theta - np.max(theta, axis={a}, keepdims=True))
        yhat = e / np.sum(e, axis={a}, keepdims=True)
    """,
    "shift-other-axis": """
        e = np.exp(theta - theta.max(axis={other}, keepdims=True))
        yhat = e / e.sum(axis={a}, keepdims=True)
    """,
    "shift-negative-axis": """
        e = np.exp(theta - theta.max(axis={neg}, keepdims=True))
        yhat = e / e.sum(axis={a}, keepdims=True)
    """,
    "shift-by-constant": """
        e = np.exp(theta - 1.5)
        yhat = e / e.sum(axis={a}, keepdims=True)
    """,
    "shift-by-min": """
        e = np.exp(theta - theta.min(axis={a}, keepdims=True))
        yhat = e / e.sum(axis={a}, keepdims=True)
    """,
    "full-sum": """
        e = np.exp(theta - theta.max())
        yhat = e / e.sum()
    """,
    "full-sum-keepdims": """
        e = np.exp(theta - theta.max(keepdims=True))
        yhat = e / e.sum(keepdims=True)
    """,
}

# (label, theta shape, softmax axis)
SOFTMAX_SHAPES = [("2d-axis1", (3, 4), 1), ("2d-axis0", (3, 4), 0), ("1d-axis0", (5,), 0),
                  ("3d-axis1", (2, 3, 4), 1), ("3d-axis-1", (2, 3, 4), -1),
                  ("3d-axis(1,2)", (2, 3, 4), (1, 2))]

HEADS = {
    "vjp": "return yhat",
    "ce-one-hot": "return -np.sum(y * np.log(yhat))",
    "ce-soft": "return -np.sum(y * np.log(yhat))",
    "log-vjp": "return np.log(yhat)",
    "sum-log": "return np.sum(np.log(yhat))",
    "weighted": "return np.sum(w * yhat)",
    "yhat-also-used": "return -np.sum(y * np.log(yhat)) + np.sum(yhat ** 2)",
    "e-also-used": "return -np.sum(y * np.log(yhat)) + np.sum(e)",
    "e-also-used-vjp": "return yhat * 2.0 + e",
}


FEW_HEADS = ("vjp", "log-vjp", "yhat-also-used")
FEW_SHAPES = ("2d-axis1", "3d-axis(1,2)")
ANNOTATED_HEADS = ("-vjp", "-ce-one-hot", "-ce-soft", "-sum-log", "-yhat-also-used", "-e-also-used-vjp")


def _softmax_cases():
    for form, text in SOFTMAX_FORMS.items():
        for shape_label, shape, axis in SOFTMAX_SHAPES:
            rank = len(shape)
            if isinstance(axis, tuple) and form in ("shift-other-axis", "shift-negative-axis"):
                continue
            if form.startswith("full-sum") and shape_label != "2d-axis1":
                continue
            a = axis % rank if isinstance(axis, int) else axis
            other = (a + 1) % rank if isinstance(a, int) else 0
            neg = a - rank if isinstance(a, int) else axis
            body = text.format(a=repr(axis), other=other, neg=neg)
            for head, ret in HEADS.items():
                if head == "ce-mean" and rank == 1:
                    continue
                if form not in ("shifted", "unshifted") and (head not in FEW_HEADS or
                                                             shape_label not in FEW_SHAPES):
                    continue
                label = f"softmax-{form}-{shape_label}-{head}"
                params, specs = "theta", [N(*shape)]
                if "y *" in ret:
                    params += ", y"
                    one_hot = rank == 2 and a == 1 and head != "ce-soft"
                    specs.append(_one_hot(label, *shape) if one_hot else _soft_labels(label, *shape))
                if "w *" in ret:
                    params += ", w"
                    specs.append(N(*shape))
                yield case(label, params, textwrap.dedent(body).strip() + "\n" + ret, *specs)


SOFTMAX = list(_softmax_cases())


@pytest.mark.parametrize("c", SOFTMAX)
def test_softmax(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(SOFTMAX, keep=lambda c: c.id.endswith(ANNOTATED_HEADS),
                                             share=0.2)))
def test_softmax_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


def _softmax_extra_cases():
    yield case("shifted-logits-also-used", "theta, y", """
        s = theta - theta.max(axis=1, keepdims=True)
        e = np.exp(s)
        yhat = e / e.sum(axis=1, keepdims=True)
        return -np.sum(y * np.log(yhat)) + np.sum(s ** 2)
    """, N(3, 4), _one_hot("sla", 3, 4))
    yield case("log-softmax-written-out", "theta, y", """
        s = theta - theta.max(axis=1, keepdims=True)
        logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
        return -np.sum(y * logp)
    """, N(3, 4), _one_hot("lsw", 3, 4))
    yield case("max-also-used", "theta", """
        m = theta.max(axis=1, keepdims=True)
        e = np.exp(theta - m)
        yhat = e / e.sum(axis=1, keepdims=True)
        return np.sum(yhat * np.arange(4.0)) + np.sum(m)
    """, N(3, 4))
    yield case("total-also-used", "theta", """
        e = np.exp(theta)
        total = e.sum(axis=1, keepdims=True)
        yhat = e / total
        return np.sum(yhat * np.arange(4.0)) + np.sum(np.log(total))
    """, N(3, 4))
    yield case("softmax-of-affine", "W, b, X, y", """
        theta = X @ W + b
        e = np.exp(theta - theta.max(axis=1, keepdims=True))
        yhat = e / e.sum(axis=1, keepdims=True)
        return -np.sum(y * np.log(yhat)) / X.shape[0]
    """, N(4, 3), N(3), N(5, 4), _one_hot("aff", 5, 3))
    yield case("two-softmaxes-same-logits", "theta", """
        e = np.exp(theta)
        p = e / e.sum(axis=1, keepdims=True)
        q = e / e.sum(axis=0, keepdims=True)
        return np.sum(p * np.arange(4.0)) + np.sum(np.log(q))
    """, N(3, 4))
    yield case("softmax-of-param-used-twice", "theta", """
        e = np.exp(theta)
        yhat = e / e.sum(axis=1, keepdims=True)
        return np.sum(np.log(yhat) * theta)
    """, N(3, 4))
    yield case("log-of-softmax-used-twice", "theta, y", """
        e = np.exp(theta - theta.max(axis=1, keepdims=True))
        yhat = e / e.sum(axis=1, keepdims=True)
        logp = np.log(yhat)
        return -np.sum(y * logp) + np.sum(logp ** 2)
    """, N(3, 4), _one_hot("lstw", 3, 4))
    yield case("exp-of-negative-softmax-form", "theta", """
        e = np.exp(-theta)
        yhat = e / e.sum(axis=1, keepdims=True)
        return np.sum(yhat * np.arange(4.0))
    """, N(3, 4))
    yield case("divided-by-sum-of-other", "theta, phi", """
        e = np.exp(theta)
        yhat = e / np.exp(phi).sum(axis=1, keepdims=True)
        return np.sum(yhat * np.arange(4.0))
    """, N(3, 4), N(3, 4))
    yield case("not-a-softmax-sum-without-keepdims", "theta, w", """
        e = np.exp(theta)
        yhat = e / e.sum(axis=0)
        return np.sum(yhat * w)
    """, N(3, 4), K(rng_for("nas").standard_normal((3, 4))))
    yield case("parser-network-soft-labels", "L, words, W, b1, U, b2, y", """
        n = words.shape[0]
        x = L[words].reshape(n, -1)
        h = np.maximum(x @ W + b1, 0.0)
        theta = h @ U + b2
        e = np.exp(theta - theta.max(axis=1, keepdims=True))
        yhat = e / e.sum(axis=1, keepdims=True)
        return -np.sum(y * np.log(yhat)) / n
    """, N(6, 2), K(np.array([[0, 5, 5], [1, 0, 5], [3, 3, 2], [4, 0, 0]])), N(6, 4), N(4), N(4, 3),
       N(3), _soft_labels("pn", 4, 3))


@pytest.mark.parametrize("c", list(_softmax_extra_cases()))
def test_softmax_variants(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(_softmax_extra_cases(), keep=lambda c: True)))
def test_softmax_variants_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


# -- sigmoid -------------------------------------------------------------------------------------

SIGMOIDS = ["1 / (1 + np.exp(-z))", "1.0 / (1.0 + np.exp(-z))", "1 / (np.exp(-z) + 1)",
            "1 / (1 + np.exp(np.negative(z)))", "1 / (1 + np.exp(-(2.0 * z)))",
            "1 / (1 + np.exp(z))", "2 / (1 + np.exp(-z))", "1 / (2 + np.exp(-z))", "1 / (1 - np.exp(-z))",
            "1 / (1 + np.exp(-z) * 2)"]


def _sigmoid_cases():
    for expr in SIGMOIDS:
        for label, spec in (("3x4", N(3, 4)), ("5", N(5)), ("0d", N())):
            tag = expr.replace(" ", "")
            yield case(f"{tag}-{label}-vjp", "z", expr, spec)
            yield case(f"{tag}-{label}-sum", "z", f"np.sum({expr})", spec)
            if expr.startswith("2 /") or "1 - np.exp" in expr:
                continue  # not a probability: no cross-entropy
            yield case(f"{tag}-{label}-bce", "z, y", f"""
                s = {expr}
                return -np.sum(y * np.log(s) + (1 - y) * np.log(1 - s))
            """, spec, K((rng_for("bce" + label).random(spec.shape) > 0.5).astype(float)))
    yield case("sigmoid-exp-also-used", "z", """
        e = np.exp(-z)
        s = 1 / (1 + e)
        return np.sum(s * np.arange(4.0) + e)
    """, N(3, 4))
    yield case("sigmoid-denominator-also-used", "z", """
        d = 1 + np.exp(-z)
        s = 1 / d
        return np.sum(s + np.log(d))
    """, N(3, 4))
    yield case("sigmoid-neg-also-used", "z", """
        m = -z
        s = 1 / (1 + np.exp(m))
        return np.sum(s * m)
    """, N(3, 4))
    yield case("sigmoid-logistic-regression", "w, b, X, y", """
        s = 1 / (1 + np.exp(-(X @ w + b)))
        return -np.mean(y * np.log(s) + (1 - y) * np.log(1 - s))
    """, N(4), N(), N(6, 4), K(np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0])))


SIGMOID = list(_sigmoid_cases())


@pytest.mark.parametrize("c", SIGMOID)
def test_sigmoid(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(SIGMOID, keep=lambda c: not c.id.endswith("-vjp"), share=0.25)))
def test_sigmoid_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


def test_sigmoid_python_float(tmp_path):
    fn = derive(tmp_path, "z", "1 / (1 + np.exp(-z))")
    (dz,) = fn.backward(0.3)
    s = 1 / (1 + np.exp(-0.3))
    assert abs(float(dz) - s * (1 - s)) < 1e-15


# -- sigmoid + binary cross-entropy ---------------------------------------------------------------

BCE_FORMS = {
    "y-first": "y * np.log(p) + (1 - y) * np.log(1 - p)",
    "negatives-first": "(1 - y) * np.log(1 - p) + y * np.log(p)",
    "log-first": "np.log(p) * y + np.log(1 - p) * (1 - y)",
}


def _labels(label, shape):
    if shape == "f":
        return K(0.9)
    return K((rng_for("bce:" + label).random(shape) > 0.5).astype(float))


def _bce_cases():
    # (label, z shape, y shape): equal shapes, and every way the labels and logits broadcast
    shapes = [("z6&y6", (6,), (6,)), ("z3x4&y3x4", (3, 4), (3, 4)), ("z4&y3x4", (4,), (3, 4)),
              ("z3x4&y4", (3, 4), (4,)), ("z3x1&y3x4", (3, 1), (3, 4)), ("z3x4&y3x1", (3, 4), (3, 1)),
              ("z3x4&yfloat", (3, 4), "f"), ("z0d&y5", (), (5,))]
    for form, expr in BCE_FORMS.items():
        for label, sz, sy in shapes:
            if form != "y-first" and label not in ("z6&y6", "z4&y3x4"):
                continue
            name = f"bce-{form}-{label}"
            body = f"p = 1 / (1 + np.exp(-z))\nreturn -np.sum({expr})"
            yield case(name, "z, y", body, N(*sz), _labels(name, sy))
            if label == "z4&y3x4":
                yield case(name + "-wrt-z", "z, y", body, N(*sz), _labels(name, sy), wrt=("z",))
    yield case("bce-mean-logistic-regression", "w, b, X, y", """
        p = 1 / (1 + np.exp(-(X @ w + b)))
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    """, N(4), N(), N(6, 4), _labels("lr", (6,)))
    yield case("bce-column-logits-row-labels", "w, X, y", """
        z = X @ w
        p = 1 / (1 + np.exp(-z))
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    """, N(4, 1), N(6, 4), _labels("col", (6,)))
    yield case("bce-soft-labels-active", "z, y", """
        p = 1 / (1 + np.exp(-z))
        return -np.sum(y * np.log(p) + (1 - y) * np.log(1 - p))
    """, N(3, 4), K(rng_for("soft-active").random((3, 4))))
    yield case("bce-p-also-used", "z, y", """
        p = 1 / (1 + np.exp(-z))
        return -np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)) + np.sum(p ** 2)
    """, N(3, 4), _labels("pau", (3, 4)))
    yield case("bce-log-p-also-used", "z, y", """
        p = 1 / (1 + np.exp(-z))
        lp = np.log(p)
        return -np.sum(y * lp + (1 - y) * np.log(1 - p)) + np.sum(lp)
    """, N(3, 4), _labels("lpau", (3, 4)))
    yield case("bce-terms-also-used", "z, y", """
        p = 1 / (1 + np.exp(-z))
        pos = y * np.log(p)
        return -np.sum(pos + (1 - y) * np.log(1 - p)) + np.sum(pos * 3.0)
    """, N(3, 4), _labels("tau", (3, 4)))
    yield case("bce-per-example-vjp", "z, y", """
        p = 1 / (1 + np.exp(-z))
        return y * np.log(p) + (1 - y) * np.log(1 - p)
    """, N(3, 4), _labels("vjp", (3, 4)))
    yield case("bce-of-non-sigmoid", "z, y", """
        p = 1 / (2 + np.exp(-z))
        return -np.sum(y * np.log(p) + (1 - y) * np.log(1 - p))
    """, N(3, 4), _labels("nons", (3, 4)))
    yield case("bce-other-p-in-second-term", "z, u, y", """
        p = 1 / (1 + np.exp(-z))
        q = 1 / (1 + np.exp(-u))
        return -np.sum(y * np.log(p) + (1 - y) * np.log(1 - q))
    """, N(3, 4), N(3, 4), _labels("opst", (3, 4)))


BCE = list(_bce_cases())


@pytest.mark.parametrize("c", BCE)
def test_sigmoid_cross_entropy(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(BCE, keep=lambda c: "-wrt-z" not in c.id and not c.id.startswith(
    ("bce-negatives-first", "bce-log-first")))))
def test_sigmoid_cross_entropy_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)
