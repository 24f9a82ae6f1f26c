"""Augmented assignment (`h += b`, `loss += ...`) on a name that owns its array: a new array
made in the function (or a number), under no other name, with no view taken of it. Then the
update is `h = h + b` (parse.py, _Parser._shared), written back as `h += b` when nothing reads
the old h (emit.py); anywhere else the caller, another name or a view would see the change,
and gradgen refuses. Gradients are checked against float64 central differences."""

from __future__ import annotations

import re

import numpy as np
import pytest

from gradgen.errors import GradgenError
from gradgen.pipeline import generate
from support import assert_grad_ok, derive_source

rng = np.random.default_rng(17)


def normal(*shape):
    return rng.standard_normal(shape)


@pytest.mark.parametrize("annotated", [True, False])
def test_a_layer_updated_in_place_and_a_loss_accumulated(annotated, tmp_path):
    params = 'x: "f[N, D]", W: "f[D, H]", b: "f[H]"' if annotated else "x, W, b"
    f = derive_source(f'''
def f({params}):
    h = x @ W
    h += b
    h *= 2.0
    h -= 0.5 * x.sum()
    h /= 3.0
    h **= 2
    loss = 0.0
    loss += np.sum(np.tanh(h))
    return loss
''', tmp_path)
    x, W, b = normal(4, 3), normal(3, 5), normal(5)
    assert_grad_ok(f, x, W, b)
    h = ((x @ W + b) * 2.0 - 0.5 * x.sum()) / 3.0
    assert np.isclose(f.value_and_grad(x, W, b)[0], np.sum(np.tanh(h ** 2)))
    assert "# h += b   (line" in f.source  # the block points at the line it reverses


def test_accumulating_over_a_loop(tmp_path):
    """The idiom the rest of NumPy code uses: a total that starts at zero and grows."""
    f = derive_source('''
def f(xs: "f[3, N, D]", W: "f[D, H]"):
    loss = 0.0
    acc = np.zeros((xs.shape[1], W.shape[1]))
    for t in range(3):
        z = xs[t] @ W
        acc += np.tanh(z)
        loss += np.sum(z ** 2)
    return loss + np.sum(acc * acc)
''', tmp_path)
    xs, W = normal(3, 2, 4), normal(4, 5)
    assert_grad_ok(f, xs, W)
    acc = sum(np.tanh(xs[t] @ W) for t in range(3))
    expected = sum(np.sum((xs[t] @ W) ** 2) for t in range(3)) + np.sum(acc * acc)
    assert np.isclose(f.value_and_grad(xs, W)[0], expected)


def test_matmul_update_and_a_copy(tmp_path):
    f = derive_source('''
def f(x, W):
    h = x.copy()
    h @= W
    h += x @ W
    return np.sum(h ** 2)
''', tmp_path)
    x, W = normal(3, 3), normal(3, 3)
    assert_grad_ok(f, x, W)
    assert np.isclose(f.value_and_grad(x, W)[0], np.sum((2 * x @ W) ** 2))


def test_a_called_function_may_update_the_temporary_it_was_given(tmp_path):
    """`g(x @ W)` hands g an array nobody else holds: g may update it."""
    f = derive_source('''
def g(z, b):
    z += b
    return np.tanh(z)


def f(x, W, b):
    return np.sum(g(x @ W, b) ** 2)
''', tmp_path)
    assert_grad_ok(f, normal(2, 3), normal(3, 4), normal(4))


def refusal(body: str) -> GradgenError:
    with pytest.raises(GradgenError) as info:
        generate("import numpy as np\n\n" + body, "model.py", function="f")
    return info.value


@pytest.mark.parametrize("body, needle, message", [
    ("def f(x, y):\n    x += y\n    return np.sum(x)\n",
     "x += y", "updates the caller's array 'x' in place"),
    ("def f(x):\n    t = x.T\n    t += 1.0\n    return np.sum(t)\n",
     "t += 1.0", "'t' may be a view of another array"),
    ("def f(x):\n    h = x * 2.0\n    a = h\n    a += x\n    return np.sum(a * h)\n",
     "a += x", "which 'h' names too"),
    ("def f(x):\n    h = x * 2.0\n    v = h[0]\n    h += 1.0\n    return np.sum(v)\n",
     "h += 1.0", "line 5 took a view of it"),
    ("def f(x):\n    h = np.zeros(3)\n    v = h[:2].T\n    h += x\n    return np.sum(h) + np.sum(v)\n",
     "h += x", "line 5 took a view of it"),
    ("def f(x):\n    idx = np.arange(3)\n    j = idx\n    idx += 1\n    return np.sum(x[j])\n",
     "idx += 1", "which 'j' names too"),  # no gradient flows through idx, but x[j] reads it
    ("def f(x):\n    h = np.asarray(x)\n    h += 1.0\n    return np.sum(h)\n",
     "h += 1.0", "may be a view"),
    ("def f(x):\n    h = x\n    h += 1.0\n    return np.sum(h)\n",
     "h += 1.0", "updates the caller's array 'x' in place"),
    ("W0 = np.ones(3)\n\n\ndef f(x):\n    w = W0\n    w += x\n    return np.sum(w)\n",
     "w += x", "updates the module-level array 'W0' in place"),
    ("def g(z):\n    z += 1.0\n    return z\n\n\ndef f(x):\n    h = x * 2.0\n    y = g(h)\n"
     "    return np.sum(y * h)\n", "z += 1.0", "which 'h' names too"),
])
def test_an_update_someone_else_would_see_is_refused(body, needle, message):
    err = refusal(body)
    full = "import numpy as np\n\n" + body
    line = next(i for i, text in enumerate(full.splitlines(), 1) if needle in text)
    assert err.lineno == line, str(err)
    assert "in place" in err.message
    assert message in err.message, str(err)
    assert "which makes a new array" in err.hint


# one call per primitive gradgen takes for a new array, with the arguments most likely to hand
# an input back (a repetition of 1, no padding, a shift of 0, one array to join)
NEW_ARRAY_CALLS = {
    "abs": "np.abs(x)", "add": "x + 0.0", "sub": "x - 0.0", "mul": "x * 1.0", "div": "x / 1.0",
    "pow": "x ** 1", "neg": "-x", "arccos": "np.arccos(x)", "arccosh": "np.arccosh(x + 1.0)",
    "arcsin": "np.arcsin(x)", "arcsinh": "np.arcsinh(x)", "arctan": "np.arctan(x)",
    "arctanh": "np.arctanh(x)", "arctan2": "np.arctan2(x, y)", "cbrt": "np.cbrt(x)",
    "cos": "np.cos(x)", "cosh": "np.cosh(x)", "deg2rad": "np.deg2rad(x)", "exp": "np.exp(x)",
    "exp2": "np.exp2(x)", "expm1": "np.expm1(x)", "log": "np.log(x)", "log10": "np.log10(x)",
    "log1p": "np.log1p(x)", "log2": "np.log2(x)", "rad2deg": "np.rad2deg(x)",
    "reciprocal": "np.reciprocal(x)", "sin": "np.sin(x)", "sinh": "np.sinh(x)", "sqrt": "np.sqrt(x)",
    "square": "np.square(x)", "tan": "np.tan(x)", "tanh": "np.tanh(x)", "hypot": "np.hypot(x, y)",
    "logaddexp": "np.logaddexp(x, y)", "logaddexp2": "np.logaddexp2(x, y)",
    "maximum": "np.maximum(x, x)", "minimum": "np.minimum(x, x)", "clip": "np.clip(x, None, None)",
    "where": "np.where(True, x, y)", "matmul": "x @ np.eye(3)", "dot": "np.dot(x, np.eye(3))",
    "inner": "np.inner(x, np.eye(3))", "outer": "np.outer(x, 1.0)", "vdot": "np.vdot(x, x)",
    "tensordot": "np.tensordot(x, 1.0, axes=0)", "convolve": "np.convolve(x[0], [1.0])",
    "correlate": "np.correlate(x[0], [1.0])", "sum": "np.sum(x, axis=0)", "mean": "x.mean(axis=0)",
    "max": "np.max(x, axis=0)", "min": "np.min(x, axis=0)", "nansum": "np.nansum(x, axis=0)",
    "nanmean": "np.nanmean(x, axis=0)", "prod": "np.prod(x, axis=0)", "var": "np.var(x, axis=0)",
    "std": "np.std(x, axis=0)", "norm": "np.linalg.norm(x, axis=0)", "trace": "np.trace(x)",
    "cumsum": "np.cumsum(x[:1], axis=0)", "sort": "np.sort(x[:1])", "roll": "np.roll(x, 0)",
    "take": "np.take(x, [0, 1, 2], axis=0)", "take_along_axis": "np.take_along_axis(x, np.zeros((1, 3), int), 0)",
    "tile": "np.tile(x, 1)", "repeat": "np.repeat(x, 1, axis=0)", "pad": "np.pad(x, 0)",
    "triu": "np.triu(x, -5)", "tril": "np.tril(x, 5)", "concatenate": "np.concatenate([x])",
    "stack": "np.stack([x])", "hstack": "np.hstack([x])", "vstack": "np.vstack([x])",
    "dstack": "np.dstack([x])", "column_stack": "np.column_stack([x])", "inv": "np.linalg.inv(spd)",
    "cholesky": "np.linalg.cholesky(spd)", "eigvalsh": "np.linalg.eigvalsh(spd)",
    "svdvals": "np.linalg.svd(spd, compute_uv=False)", "det": "np.linalg.det(spd)",
    "solve": "np.linalg.solve(spd, np.eye(3))",
    "erf": "special.erf(x)", "expit": "special.expit(x)", "logit": "special.logit(x)",
    "gammaln": "special.gammaln(x)", "logsumexp": "special.logsumexp(x, axis=0)",
    "softmax_fn": "special.softmax(x, axis=0)", "log_softmax_fn": "special.log_softmax(x, axis=0)",
}


def test_every_primitive_taken_for_a_new_array_makes_one():
    """`h += b` is read as `h = h + b` only on these results: NumPy must never hand back an
    input or a view of one, even for the arguments that change nothing."""
    from gradgen.numpy_api import NEW_ARRAYS
    special = pytest.importorskip("scipy.special")
    assert set(NEW_ARRAY_CALLS) == set(NEW_ARRAYS)
    x = np.random.default_rng(0).uniform(0.1, 0.9, (3, 3))
    y, spd = x + 1.0, x @ x.T + np.eye(3)
    for op, call in NEW_ARRAY_CALLS.items():
        result = eval(call, {"np": np, "special": special, "x": x, "y": y, "spd": spd})
        for given in (x, y, spd):
            assert not np.shares_memory(result, given), f"{op}: {call} shares memory with its input"


def test_reading_a_shape_or_comparing_takes_no_view(tmp_path):
    f = derive_source('''
def f(x, W):
    h = x @ W
    n = h.shape[0] + len(h) + np.size(h)
    mask = h > 0
    h *= mask
    h /= n
    return np.sum(h ** 2)
''', tmp_path)
    x, W = normal(3, 4), normal(4, 2)
    assert_grad_ok(f, x, W)
    h = x @ W
    n = h.shape[0] + len(h) + h.size  # 3 + 3 + 6
    assert np.isclose(f.value_and_grad(x, W)[0], np.sum((h * (h > 0) / n) ** 2))


def test_written_back_in_place_when_nothing_reads_the_old_array(tmp_path):
    """h += b on an array only the update reads comes out as the forward wrote it; where the
    backward reads the old h (the product's other factor), the update makes a new array."""
    f = derive_source('''
def f(x: "f[N, D]", W: "f[D, H]", b: "f[H]", a: "f[H]"):
    h = x @ W
    h += b
    g = np.tanh(h)
    g *= a
    loss = 0.0
    loss += np.sum(g ** 2)
    return loss
''', tmp_path)
    assert_grad_ok(f, normal(3, 2), normal(2, 4), normal(4), normal(4))
    forward = f.source.split("def f_value_and_grad(", 1)[1].split("    # ", 1)[0]
    assert "    h = x @ W\n    h += b\n" in forward
    assert "    loss = 0.0\n    loss += " in forward
    # tanh's adjoint reads g as tanh made it, and a's reads it too: g *= a goes into a new array
    assert re.search(r"^    g_2 = g \* a$", forward, re.M)


def test_a_number_under_two_names_is_still_a_number(tmp_path):
    """loss = 0.0; total = loss; loss += ...: a float is never changed in place."""
    f = derive_source('''
def f(x, s: float):
    loss = 0.0
    total = loss
    loss += np.sum(x ** 2)
    t = s
    s += 1.0
    return loss + total + s * t
''', tmp_path)
    x = normal(3)
    assert_grad_ok(f, x, 0.7)
    assert np.isclose(f.value_and_grad(x, 0.7)[0], np.sum(x ** 2) + 1.7 * 0.7)
