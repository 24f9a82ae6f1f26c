"""Assignment into an array the function owns (`a[index] = v`): a new array, a with the entries
at index replaced (parse.py, _Parser._setitem; emit.py writes it in place when nothing reads a
afterwards). a's adjoint is dout with those entries zeroed, v's is dout[index] summed back to
v's shape. Gradients are checked against float64 central differences; assignments the caller,
another name or a view would see are refused."""

from __future__ import annotations

import re

import numpy as np
import pytest

from gradgen.errors import GradgenError
from gradgen.pipeline import generate
from support import assert_grad_ok, derive_source

rng = np.random.default_rng(19)


def normal(*shape):
    return rng.standard_normal(shape)


SVM = '''
def svm_loss(W{w}, X{x}, y{y}, reg):
    """The CS231n multiclass SVM loss, vectorized, as the assignment writes it."""
    N = X.shape[0]
    scores = X.dot(W)
    correct = scores[np.arange(N), y][:, np.newaxis]
    margins = np.maximum(0, scores - correct + 1)
    margins[np.arange(N), y] = 0
    loss = np.sum(margins) / N
    loss += reg * np.sum(W * W)
    return loss
'''


def svm_hand(W, X, y, reg):
    """The assignment's own vectorized gradient."""
    N = X.shape[0]
    scores = X @ W
    margins = np.maximum(0, scores - scores[np.arange(N), y][:, None] + 1)
    margins[np.arange(N), y] = 0
    binary = (margins > 0).astype(float)
    binary[np.arange(N), y] = -binary.sum(axis=1)
    return X.T @ binary / N + 2 * reg * W


@pytest.mark.parametrize("annotated", [False, True])
def test_the_cs231n_svm_loss(annotated, tmp_path):
    notes = (': "f[D, C]"', ': "f[N, D]"', ': "i[N]"') if annotated else ("", "", "")
    f = derive_source(SVM.format(w=notes[0], x=notes[1], y=notes[2]), tmp_path, name="svm_loss", wrt=["W"])
    W, X, y = normal(5, 4) * 0.1, normal(6, 5), np.array([0, 3, 1, 1, 2, 0])
    assert_grad_ok(f, W, X, y, 0.1)
    loss, (dW,) = f.value_and_grad(W, X, y, 0.1)
    assert np.isclose(loss, f(W, X, y, 0.1))
    assert np.allclose(dW, svm_hand(W, X, y, 0.1))
    # written as the assignment writes it: margins updated in place, its adjoint zeroed there
    assert re.search(r"^    margins\[arange_N_2, y\] = 0$", f.source, re.M)
    assert re.search(r"^    dmargins_2\[arange_N_2, y\] = 0\.0$", f.source, re.M)
    assert ".copy()" not in f.source


def test_building_an_array_column_by_column(tmp_path):
    f = derive_source('''
def f(a, b):
    cols = np.zeros((a.shape[0], 3))
    cols[:, 0] = a
    cols[:, 1] = b * 2.0
    cols[:, 2] = np.tanh(a)
    return np.sum(cols ** 2 * np.arange(1.0, 4.0))
''', tmp_path)
    a, b = normal(4), normal(4)
    assert_grad_ok(f, a, b)
    assert "cols[:, 2] = tanh_a" in f.source
    # one array, filled in place
    assert len(re.findall(r"^    cols = ", f.source, re.M)) == 1 and ".copy()" not in f.source


@pytest.mark.parametrize("line, value_shape", [
    ("h[1:3] = v", (3,)),             # a row broadcast into two rows: v's adjoint sums them
    ("h[::-2, 1] = v", (2,)),
    ("h[0] = v", ()),
    ("h[..., -1] = v", (4,)),
    ("h[h > 0.5] = v", ()),           # a mask and one number
])
def test_slices_integers_and_masks(line, value_shape, tmp_path):
    f = derive_source(f'''
def f(x, W, v):
    h = x @ W
    {line}
    return np.sum(np.sin(h) * h)
''', tmp_path)
    v = normal(*value_shape) if value_shape else 0.3
    x, W = normal(4, 2), normal(2, 3)
    assert_grad_ok(f, x, W, v)


def test_the_value_may_read_the_array_it_is_written_into(tmp_path):
    """NumPy evaluates the right side first: out[0] = out[1] * 2 reads the old row 1."""
    f = derive_source('''
def f(x):
    out = np.exp(x)
    out[0] = out[1] * 2.0
    return np.sum(out * x)
''', tmp_path)
    x = normal(3, 2)
    assert_grad_ok(f, x)
    e = np.exp(x)
    e[0] = e[1] * 2.0
    assert np.isclose(f.value_and_grad(x)[0], np.sum(e * x))
    assert ".copy()" in f.source  # the old array is read again: the update goes into a copy


def test_storing_each_step_of_a_loop(tmp_path):
    """An RNN that keeps its hidden states in one array, hs[t] = ..."""
    f = derive_source('''
def f(xs: "f[4, D]", W: "f[D, H]", U: "f[H, H]"):
    hs = np.zeros((4, W.shape[1]))
    h = np.zeros(W.shape[1])
    for t in range(4):
        h = np.tanh(xs[t] @ W + h @ U)
        hs[t] = h
    return np.sum(hs ** 2)
''', tmp_path)
    assert_grad_ok(f, normal(4, 3), normal(3, 5) * 0.5, normal(5, 5) * 0.5)


def test_a_value_the_backward_reads_is_kept(tmp_path):
    """tanh's adjoint reads its result: the update must not destroy it."""
    f = derive_source('''
def f(x):
    h = np.tanh(x)
    g = h * 3.0
    h[0] = 0.0
    return np.sum(h * g)
''', tmp_path)
    assert_grad_ok(f, normal(3))


def refusal(body: str) -> GradgenError:
    with pytest.raises(GradgenError) as info:
        generate("import numpy as np\n\n" + body, "model.py", function="f")
    return info.value


@pytest.mark.parametrize("body, message", [
    ("def f(x):\n    x[0] = 1.0\n    return np.sum(x)\n", "updates the caller's array 'x' in place"),
    ("def f(x):\n    h = x.T\n    h[0] = 1.0\n    return np.sum(h)\n", "may be a view"),
    ("def f(x):\n    h = x * 2.0\n    g = h\n    h[0] = 1.0\n    return np.sum(g)\n", "which 'g' names too"),
    ("def f(x, v, i):\n    h = x * 2.0\n    h[i] = v\n    return np.sum(h)\n", "may name an entry twice"),
    ("def f(x, v):\n    h = x * 2.0\n    h[[0, 0]] += v\n    return np.sum(h)\n",
     "'h[[0, 0]] += ...' writes a differentiable value at index arrays"),
    ("def f(x, v):\n    x[0] -= v\n    return np.sum(x)\n", "'x[0] -= ...' updates the caller's array 'x'"),
    ("def f(x, v):\n    h = np.zeros(3, dtype=int)\n    h[0] = v\n    return np.sum(h * x)\n",
     "array of ints"),
])
def test_an_assignment_someone_else_would_see_is_refused(body, message):
    err = refusal(body)
    assert message in err.message, str(err)
    assert err.lineno is not None and err.col is not None


def test_np_newaxis_is_a_basic_index(tmp_path):
    """x[:, np.newaxis] never repeats an entry: its adjoint is written into place, not
    scattered with np.add.at."""
    f = derive_source("def f(x, w):\n    return np.sum(x[:, np.newaxis] * w)\n", tmp_path)
    assert_grad_ok(f, normal(3), normal(3, 2))
    assert "np.add.at" not in f.source and "[:, np.newaxis] = " in f.source


@pytest.mark.parametrize("line", ["h[1:3] += v", "h[0] *= 2.0", "h[:, -1] -= v[0]", "h[h > 0.2] /= 3.0"])
def test_augmented_assignment_into_part_of_an_array(line, tmp_path):
    """h[i] += v is h[i] = h[i] + v, as NumPy runs it (so at index arrays, which may repeat an
    entry that then adds once, it is refused: see the refusals below)."""
    f = derive_source(f'''
def f(x, W, v):
    h = x @ W
    {line}
    return np.sum(np.tanh(h) * h)
''', tmp_path)
    x, W, v = normal(4, 2), normal(2, 3), normal(3)
    assert_grad_ok(f, x, W, v)
    h = x @ W
    exec(line, {"np": np}, {"h": h, "v": v})
    assert np.isclose(f.value_and_grad(x, W, v)[0], np.sum(np.tanh(h) * h))
