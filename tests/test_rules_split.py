"""np.split, np.array_split, np.hsplit, np.vsplit and np.dsplit: one node with several
results, whose adjoint joins the pieces' adjoints back (zeros for a piece nothing used),
checked against float64 central differences, unannotated and annotated."""

from __future__ import annotations

import numpy as np
import pytest

import gradgen
from rules_support import N, annotated, case, derive, run_case


def _split_cases():
    yield case("split-rows", "x", "a, b = np.split(x, 2)\nreturn np.sum(a * b)", N(4, 3))
    yield case("split-columns", "x", "a, b, c = np.split(x, 3, axis=1)\nreturn np.sum(a * np.tanh(b) + c ** 3)",
               N(2, 6))
    yield case("split-negative-axis", "x", "a, b = np.split(x, 2, axis=-1)\nreturn np.sum(np.sin(a) * b)",
               N(2, 3, 4))
    yield case("split-indices", "x", "a, b, c = np.split(x, [1, 4])\nreturn np.sum(a) * np.sum(b ** 2) + np.sum(c ** 3)",
               N(6))
    yield case("split-indices-past-end", "x", "a, b, c = np.split(x, [2, 9], axis=1)\nreturn np.sum(a ** 2) + np.sum(b ** 3) + np.sum(c)",
               N(3, 5))
    yield case("split-unused-piece", "x", "a, b, c = np.split(x, 3)\nreturn np.sum(np.exp(b))", N(6, 2))
    yield case("split-piece-twice", "x", "a, b = np.split(x, 2, axis=1)\nreturn np.sum(a * a + a * b)", N(3, 4))
    yield case("split-and-whole", "x", "a, b = np.split(x, 2)\nreturn np.sum(a * b) + np.sum(x ** 2)", N(4))
    yield case("split-twice", "x", "a, b = np.split(x, 2)\nc, d = np.split(b, 2, axis=1)\nreturn np.sum(a[:, :2] * c * d)",
               N(4, 4))
    yield case("split-pick", "x", "np.sum(np.split(x, 3, axis=1)[1] ** 2)", N(2, 6))
    yield case("split-pick-negative", "x", "np.sum(np.split(x, [1, 3])[-1] ** 2)", N(5))
    yield case("array-split-uneven", "x", "a, b, c = np.array_split(x, 3)\nreturn np.sum(a ** 2) + np.sum(b * 3) + np.sum(c ** 3)",
               N(7, 2))
    yield case("hsplit-1d", "x", "a, b = np.hsplit(x, 2)\nreturn np.sum(a * b)", N(6))
    yield case("hsplit-2d", "x", "a, b = np.hsplit(x, 2)\nreturn np.sum(a ** 2 * b)", N(3, 4))
    yield case("vsplit", "x", "a, b = np.vsplit(x, [1])\nreturn np.sum(a * b)", N(2, 3))
    yield case("dsplit", "x", "a, b = np.dsplit(x, 2)\nreturn np.sum(a * np.cos(b))", N(2, 3, 4))
    yield case("split-of-expression", "x, y", "a, b = np.split(x * y, 2, axis=1)\nreturn np.sum(a - b ** 2)",
               N(3, 4), N(4))
    yield case("split-array-result", "x", "a, b = np.split(x, 2)\nreturn a * b", N(4, 3))
    yield case("split-sections-param", "x, n", "a, b = np.split(x, n)\nreturn np.sum(a * b)", N(4, 3),
               wrt=("x",))


_SECTIONS = {"split-sections-param": 2}


def _with_ints(cases):
    """split-sections-param takes n = 2 (an int the spec list cannot draw)."""
    from rules_support import K
    for p in cases:
        c = p.values[0]
        if c.id in _SECTIONS:
            c.specs.append(K(_SECTIONS[c.id]))
        yield p


CASES = list(_with_ints(_split_cases()))


@pytest.mark.parametrize("c", CASES)
def test_split(c):
    run_case(c)


@pytest.mark.parametrize("c", list(annotated(CASES, keep=lambda c: True)))
def test_split_annotated(c):
    """The same cases with shape annotations on the parameters."""
    run_case(c)


def test_split_adjoint_reads_like_the_forward(tmp_path):
    fn = derive(tmp_path, 'x: "f[B, 6]"', "a, b, c = np.split(x, 3, axis=1)\nreturn np.sum(a * c)")
    assert "dx = np.concatenate([da, np.zeros_like(b), dc], axis=1)  # (B, 6)" in fn.source
    assert "a, b, c = np.split(x, 3, axis=1)" in fn.source


def test_split_shapes_are_known(tmp_path):
    fn = derive(tmp_path, 'x: "f[4, 6]"', "a, b = np.hsplit(x, [2])\nreturn np.sum(np.tanh(b))")
    assert "# (4, 4)" in fn.source and "dx = np.hstack([np.zeros_like(a), db])  # (4, 6)" in fn.source


@pytest.mark.parametrize("body, message", [
    ("parts = np.split(x, 2)\nreturn np.sum(parts[0])", "np.split returns a list of arrays"),
    ("a, b, c = np.split(x, 2)\nreturn np.sum(a)", "np.split returns 2 arrays here, unpacked into 3 names"),
    ("np.sum(np.split(x, n)[0])", "how many arrays np.split returns must be readable here"),
    ("np.sum(np.split(x, 2)[2])", "np.split returns 2 results here, so [2] is out of range"),
    ("np.sum(np.split(x, 2)[n])", "pick a result of np.split with a literal integer"),
])
def test_split_misuse_is_refused_with_its_line(tmp_path, body, message):
    with pytest.raises(gradgen.GradgenError) as info:
        derive(tmp_path, "x, n: int", body, wrt=("x",))
    text = str(info.value)
    assert message in text and ":3:" in text  # the line after 'import numpy' and 'def f'
    assert "hint:" in text or "unpacked into" in text or "out of range" in text


def test_split_of_constant_is_not_differentiated(tmp_path):
    fn = derive(tmp_path, "x", "a, b = np.split(np.arange(4.0), 2)\nreturn np.sum(x * a)")
    (dx,) = fn.backward(np.ones(2))
    np.testing.assert_array_equal(dx, [0.0, 1.0])
