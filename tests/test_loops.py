"""for i in range(n) with n known when the code is read: gradgen writes each iteration out
(parse.py, _Parser._for), with i a number in each. Gradients are checked against float64
central differences; what cannot be written out is refused with the loop's location."""

from __future__ import annotations

import re

import numpy as np
import pytest

import gradgen
from gradgen.pipeline import generate
from support import assert_grad_ok, derive_source

rng = np.random.default_rng(12)


def normal(*shape):
    return rng.standard_normal(shape)


def test_an_rnn_over_a_fixed_number_of_steps(tmp_path):
    f = derive_source('''
T = 4


def f(xs: "f[4, B, D]", h0: "f[B, H]", Wx: "f[D, H]", Wh: "f[H, H]", Wo: "f[H]"):
    h = h0
    for t in range(T):
        h = np.tanh(xs[t] @ Wx + h @ Wh)
    return np.sum((h @ Wo) ** 2)
''', tmp_path)
    assert_grad_ok(f, normal(4, 3, 2), normal(3, 5), normal(2, 5), normal(5, 5) * 0.5, normal(5))
    # each step is its own block, which says which step it reverses
    for t in range(4):
        assert re.search(rf"# h = np.tanh\(xs\[t\] @ Wx \+ h @ Wh\)   \[t = {t}\]   \(line 9\)", f.source)
    # each step's slice of xs adds into one adjoint, in place: no zeros the size of xs per step
    assert f.source.count("np.zeros_like(xs") == 1 and "dxs[0] += " in f.source


def test_a_loop_over_an_arrays_first_axis(tmp_path):
    """for x_t in xs, with xs's length annotated: x_t = xs[t] is written out at each step, and
    its adjoint adds into dxs in place."""
    f = derive_source('''
def f(xs: "f[3, B, D]", h0, Wx, Wh):
    h = h0
    for x_t in xs:
        h = np.tanh(x_t @ Wx + h @ Wh)
    return np.sum(h ** 2) + np.sum(x_t)
''', tmp_path)
    assert_grad_ok(f, normal(3, 2, 4), normal(2, 5), normal(4, 5), normal(5, 5) * 0.5)
    assert "x_t = xs[0]" in f.source and "dxs[1] += " in f.source
    assert re.search(r"# for x_t in xs   \[x_t = xs\[2\]\]   \(line 5\)", f.source)


def test_enumerate_and_zip(tmp_path):
    """for t, x_t in enumerate(xs) counts with t and takes x_t = xs[t]; zip(xs, ys) takes an
    item of each, as long as the shorter runs."""
    f = derive_source('''
def f(xs: "f[3, D]", ys: "f[4, D]", w: "f[3]"):
    s = 0.0
    for t, x_t in enumerate(xs):
        s = s + np.sum(np.sin(x_t) * w[t])
    for x_t, y_t in zip(xs, ys):
        s = s + np.sum(x_t * y_t)
    return s
''', tmp_path)
    assert_grad_ok(f, normal(3, 2), normal(4, 2), normal(3))
    assert re.search(r"# for t, x_t in enumerate\(xs\)   \[t = 1, x_t = xs\[1\]\]", f.source)
    assert "y_t = ys[2]" in f.source and "ys[3]" not in f.source


@pytest.mark.parametrize("header, loop", [
    ("", "for i in range(3)"),
    ("", "for i in range(1, 4)"),
    ("", "for i in range(4, 0, -2)"),
    ("N = 3\n", "for i in range(N)"),
    ("", "for i in range(0)"),
])
def test_range_forms(header, loop, tmp_path):
    f = derive_source(header + f'''
def f(x, w):
    s = x * 0.0
    {loop}:
        s = s + np.sin(x * (i + 1)) * w[i]
    return np.sum(s ** 2) + np.sum(w)
''', tmp_path)
    assert_grad_ok(f, normal(3), normal(5))


def test_the_bound_can_be_a_local_number_or_an_annotated_dimension(tmp_path):
    f = derive_source('''
def f(x: "f[3, D]"):
    n = 2
    y = x[0]
    for i in range(x.shape[0]):
        for j in range(n):
            y = y * np.cos(x[i] + j)
    return np.sum(y)
''', tmp_path)
    assert_grad_ok(f, normal(3, 4))


def test_the_loop_variable_keeps_its_last_value(tmp_path):
    f = derive_source('''
def f(x):
    for k in range(3):
        x = x * 1.5
    return np.sum(x * k)
''', tmp_path)
    assert_grad_ok(f, normal(4))
    assert "x_times_k = x_4 * 2" in f.source  # k is 2 after the loop


def test_an_lstm_from_a_called_cell(tmp_path):
    """A cell with two results, called in a loop: the recurrent networks of the notes."""
    f = derive_source('''
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def lstm_cell(x, h, c, W, U, b):
    z = x @ W + h @ U + b
    i, f, o, g = np.split(z, 4, axis=1)
    c_next = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c_next), c_next


def f(xs: "f[3, B, D]", h0, c0, W, U, b, v):
    h, c = h0, c0
    for t in range(3):
        h, c = lstm_cell(xs[t], h, c, W, U, b)
    return np.sum((h @ v) ** 2)
''', tmp_path)
    B, D, H = 2, 3, 4
    assert_grad_ok(f, normal(3, B, D), normal(B, H), normal(B, H), normal(D, 4 * H) * 0.5,
                   normal(H, 4 * H) * 0.5, normal(4 * H) * 0.1, normal(H))
    assert "lstm_cell(" not in f.source.replace("# h, c = lstm_cell(", "")


def test_a_loop_inside_a_called_function(tmp_path):
    f = derive_source('''
def refine(z, W, steps):
    for _ in range(steps):
        z = np.tanh(z @ W)
    return z


def f(x, W):
    return np.sum(refine(x, W, 3))
''', tmp_path)
    assert_grad_ok(f, normal(2, 3), normal(3, 3))


@pytest.mark.parametrize("body, needle, message, hint", [
    ("    for row in x:\n        y = x + row\n    return np.sum(y)\n", "for row",
     "gradgen must know how long 'x' is", "range(n)"),
    ("    for row in x:\n        x = x + row\n    return np.sum(x)\n", "x = x + row",
     "the loop assigns to 'x', which it runs over", "another name"),
    ("    for row in x.T:\n        x = x + row\n    return np.sum(x)\n", "for row",
     "'for' loops are supported over range(...), an array, enumerate(array) or zip(arrays)", "range(n)"),
    ("    for i in range(len(x)):\n        x = x * 2\n    return np.sum(x)\n", "len(x)",
     "gradgen must know the loop's bounds", "a number"),
    ("    for i in range(3):\n        if i > 1:\n            continue\n        x = x * 2\n    return np.sum(x)\n",
     "continue", "'continue' inside a loop", "np.where"),
    ("    for i in range(3):\n        x = x * 2\n    else:\n        x = x + 1\n    return np.sum(x)\n",
     "x = x + 1", "'for ... else'", "drop the else"),
    ("    for i in range(3):\n        i = i + 1\n        x = x * i\n    return np.sum(x)\n",
     "i = i + 1", "the loop assigns to 'i', which it counts with", "another name"),
    ("    for i in range(1000):\n        x = x * 0.5\n    return np.sum(x)\n", "range(1000)",
     "runs 1000 times", "vectorise"),
    ("    for i, j in range(3):\n        x = x * 2\n    return np.sum(x)\n", "for i, j",
     "'for' loops are supported over range(...)", None),
])
def test_refusals(body, needle, message, hint):
    source = "import numpy as np\n\n\ndef f(x):\n" + body
    with pytest.raises(gradgen.GradgenError) as info:
        generate(source, "model.py", function="f")
    err = info.value
    assert message in err.message, str(err)
    line = next(i for i, text in enumerate(source.splitlines(), 1) if needle in text)
    assert err.lineno == line, str(err)
    if hint is not None:
        assert err.hint and hint in err.hint, str(err)


@pytest.mark.parametrize("params", ["x, w", 'x: "f[4, 3]", w: "f[3]"'])
def test_slices_add_into_an_adjoint_in_place(params, tmp_path):
    """After the first contribution to dx, a basic index adds its part in place (dx[1:] +=),
    whatever made dx first; the gradient is checked, and the seed and inputs are untouched."""
    f = derive_source(f'''
def f({params}):
    y = np.sin(x) * w
    return np.sum(y * x[0]) + np.sum(x[1:] ** 2) + np.sum(x[:, ::-1] * w)
''', tmp_path)
    x, w = normal(4, 3), normal(3)
    x0, w0 = x.copy(), w.copy()
    assert_grad_ok(f, x, w)
    f.backward(x, w)
    assert np.array_equal(x, x0) and np.array_equal(w, w0)
    assert re.search(r"dx\[.*\] \+= ", f.source), f.source
