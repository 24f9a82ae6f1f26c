"""Calls to functions defined in the same module: gradgen writes their bodies out in place
(parse.py, _Parser._inline), so a model can be factored into small functions. Gradients are
checked against float64 central differences; refusals name the call and say what to do."""

from __future__ import annotations

import re

import numpy as np
import pytest

import gradgen
from gradgen.pipeline import generate
from support import assert_grad_ok, derive_source

rng = np.random.default_rng(11)


def normal(*shape):
    return rng.standard_normal(shape)


LAYERS = '''
def dense(x, W, b):
    """One dense layer with tanh."""
    z = x @ W + b
    return np.tanh(z)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)

'''


def test_a_network_of_called_layers(tmp_path):
    """Two calls to the same layer, a called softmax, and the loss: the called softmax still
    meets the cross-entropy and fuses with it."""
    f = derive_source(LAYERS + '''
def f(x, W1, b1, W2, b2, W3, b3, y):
    h1 = dense(x, W1, b1)
    h2 = dense(h1, W2, b2)
    yhat = softmax(h2 @ W3 + b3)
    return -np.sum(y * np.log(yhat)) / x.shape[0]
''', tmp_path)
    y = np.eye(3)[[0, 2, 1, 1]]
    assert_grad_ok(f, normal(4, 5), normal(5, 6), normal(6), normal(6, 6), normal(6), normal(6, 3), normal(3), y)
    assert "log-softmax" in f.source  # the softmax's identity, across the call
    assert re.search(r"^    h1W2 = h1 @ W2$", f.source, re.M)  # named after the caller's values
    code = "\n".join(line for line in f.source.splitlines() if not line.lstrip().startswith("#"))
    assert "dense(" not in code and "softmax(" not in code
    # each block points at the caller's line
    assert re.search(r"# h2 = dense\(h1, W2, b2\) +\(line \d+\)", f.source)


def test_the_generated_module_stands_alone(tmp_path):
    """The callee is written out, so the module needs nothing but NumPy."""
    source = "import numpy as np\n" + LAYERS + "def f(x, W, b):\n    return np.sum(dense(x, W, b) ** 2)\n"
    text = generate(source, "model.py", function="f")
    namespace = {}
    exec(compile(text, "model_grad.py", "exec"), namespace)
    x, W, b = normal(3, 4), normal(4, 2), normal(2)
    value, (dx, dW, db) = namespace["f_value_and_grad"](x, W, b)
    h = np.tanh(x @ W + b)
    assert np.isclose(value, np.sum(h ** 2))
    dz = 2 * h * (1 - h ** 2)
    np.testing.assert_allclose(dW, x.T @ dz)
    np.testing.assert_allclose(dx, dz @ W.T)
    np.testing.assert_allclose(db, dz.sum(axis=0))


@pytest.mark.parametrize("call", [
    "scaled(x, 2.0)", "scaled(x)", "scaled(x, k=3.0)", "scaled(k=0.5, v=x)", "scaled(x, K)",
])
def test_arguments_bind_like_python(call, tmp_path):
    f = derive_source(f'''
K = 1.5


def scaled(v, k=2.5):
    return k * np.sin(v)


def f(x):
    return np.sum({call} ** 2)
''', tmp_path)
    assert_grad_ok(f, normal(3, 2))


def test_calls_inside_calls_and_module_constants(tmp_path):
    f = derive_source('''
EPS = 1e-5


def norm(x):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + EPS)


def block(x, g, b):
    return np.maximum(norm(x) * g + b, 0.0)


def f(x, g, b):
    return np.sum(block(block(x, g, b), g, b) ** 2)
''', tmp_path)
    assert_grad_ok(f, normal(3, 5), normal(5), normal(5))
    assert "EPS" in f.source


def test_the_callees_names_give_way_to_the_callers(tmp_path):
    """The caller's own z stays z; the callee's locals (x, z) do not touch the caller's."""
    f = derive_source('''
def g(x):
    z = np.exp(x)
    y = z * x
    return y + z


def f(x, w):
    z = x * w
    y = g(z) + g(w)
    return np.sum(y * z)
''', tmp_path)
    assert_grad_ok(f, normal(4), normal(4))
    assert re.search(r"^    z = x \* w$", f.source, re.M)
    assert re.search(r"^    y = ", f.source, re.M)



def test_the_callers_z_owns_dz(tmp_path):
    """A callee's local z that is fused away must not take dz from the caller's z: the adjoint
    of the caller's z is dz, and the callee's are dz_2, dz_3 (before, the caller's was d_z
    and a line `dz = dh * (1.0 - h ** 2)` read as if it were about the caller's z)."""
    f = derive_source('''
def layer(x, W):
    z = x @ W
    return np.tanh(z)


def f(x, W1, W2):
    z = layer(x, W1)
    h = layer(z, W2)
    return np.sum(h ** 2)
''', tmp_path)
    assert_grad_ok(f, normal(3, 4), normal(4, 5), normal(5, 2))
    assert re.search(r"^    dz = _matmul_grad_a\(dz_2, z, W2\)$", f.source, re.M)
    assert re.search(r"^    dz_3 = dz \* \(1\.0 - z \*\* 2\)$", f.source, re.M)
    assert "d_z" not in f.source

def test_several_results_unpack_into_names(tmp_path):
    """h, c = cell(...) binds each result; a, b = b, a swaps (every value is read first)."""
    f = derive_source('''
def polar(x, y):
    r = np.sqrt(x ** 2 + y ** 2)
    return r, np.arctan2(y, x)


def f(x, y):
    r, theta = polar(x, y)
    r, theta = theta, r
    return np.sum(r * np.sin(theta) + theta ** 2)
''', tmp_path)
    assert_grad_ok(f, normal(3) + 2.0, normal(3))


def test_a_call_with_no_gradient_is_written_out_too(tmp_path):
    """one_hot(labels) carries no gradient, but the generated module cannot call one_hot."""
    f = derive_source('''
def one_hot(labels, n):
    return (labels[:, None] == np.arange(n)) * 1.0


def f(z, labels: "i[B]"):
    y = one_hot(labels, z.shape[1])
    return -np.sum(y * (z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))))
''', tmp_path)
    assert_grad_ok(f, normal(4, 3), np.array([0, 2, 1, 2]), wrt=["z"])
    assert "one_hot(" not in f.source


def test_a_callees_dimension_names_are_its_own(tmp_path):
    """project's N and D stand for the caller's B and H; they are not the caller's N."""
    f = derive_source('''
def project(v: "f[N, D]", W: "f[D, K]"):
    out: "f[N, K]" = v @ W
    return out


def f(x: "f[B, H]", W: "f[H, N]", U: "f[N, 2]"):
    return np.sum(project(project(x, W), U) ** 2)
''', tmp_path)
    assert_grad_ok(f, normal(3, 4), normal(4, 5), normal(5, 2))
    assert re.search(r"dx = .* +# \(B, H\)", f.source)


def test_a_parameter_annotation_gives_a_shape_that_was_unknown(tmp_path):
    f = derive_source('''
def project(v: "f[N, 4]", W: "f[4, 2]"):
    return v @ W


def f(x, W):
    return np.sum(project(np.tanh(x), W) ** 2)
''', tmp_path)
    assert_grad_ok(f, normal(3, 4), normal(4, 2))


def test_a_derived_callee_is_written_out_too(tmp_path):
    f = derive_source('''
import gradgen


@gradgen.derive
def energy(x):
    return np.sum(x ** 4)


def f(x, w):
    return energy(x * w) + energy(w)
''', tmp_path)
    assert_grad_ok(f, normal(3), normal(3))


def _refusal(body):
    source = "import numpy as np\nimport functools\n\n" + body
    with pytest.raises(gradgen.GradgenError) as info:
        generate(source, "model.py", function="f")
    return info.value


@pytest.mark.parametrize("body, line, message, hint", [
    ("def g(x):\n    return g(x)\n\n\ndef f(x):\n    return np.sum(g(x))\n", 5,
     "'g' calls itself (through g -> g)", "unroll"),
    ("@functools.lru_cache\ndef g(x):\n    return x\n\n\ndef f(x):\n    return np.sum(g(x))\n", 10,
     "call to 'g', a function gradgen cannot see into (decorated, line 5)", "@gradgen.rule(g)"),
    ("def g(x, *rest):\n    return x\n\n\ndef f(x):\n    return np.sum(g(x))\n", 9,
     "takes *args", "plain positional parameters"),
    ("def g(x):\n    if x.sum() > 0:\n        return x\n    return -x\n\n\ndef f(x):\n    return np.sum(g(x))\n",
     5, "'if' on a value known only when the function runs", "np.where"),
    ("def g(x):\n    return x, 2 * x\n\n\ndef f(x):\n    return np.sum(g(x))\n", 9,
     "'g' returns 2 values", "a, b = g(...)"),
    ("def g(x):\n    return x, 2 * x\n\n\ndef f(x):\n    a, b, c = g(x)\n    return np.sum(a)\n", 9,
     "'g' returns 2 values, unpacked here into 3 names", None),
    ("def g(x):\n    return 2 * x\n\n\ndef f(x):\n    a, b = g(x)\n    return np.sum(a)\n", 9,
     "'g' returns one value, unpacked here into 2 names", None),
    ('def g(v: "f[3]"):\n    return v\n\n\ndef f(x: "f[4]"):\n    return np.sum(g(x))\n', 4,
     "'g' annotates 'v' (3,), but the value there has shape (4,)", "fix the annotation"),
    ('def g(v: "f[N, D]", W: "f[D, K]"):\n    return v @ W\n\n\ndef f(x: "f[B, 4]", W: "f[5, 2]"):\n'
     '    return np.sum(g(x, W))\n', 4, "'g' annotates 'W' (D, K), but the value there has shape (5, 2)", None),
    ('def g(v):\n    z: "f[N, 3]" = v * 2.0\n    return z\n\n\ndef f(x: "f[B, 4]"):\n    return np.sum(g(x))\n',
     5, "'z' is annotated (N, 3), but the value there has shape (B, 4) (in 'g', called at line 10)", None),
    ("def g(x, k):\n    return x * k\n\n\ndef f(x):\n    return np.sum(g(x))\n", 9,
     "'g' is missing the argument 'k'", None),
    ("def g(x):\n    while x.sum() > 0:\n        x = x * 2\n    return x\n\n\ndef f(x):\n    return np.sum(g(x))\n",
     5, "'while' loops are not supported yet (in 'g', called at line 11)", "unroll"),
    ("def g(x):\n    y = x * 2\n    return np.sum(y * k)\n\n\ndef f(x, k):\n    return g(x)\n", 6,
     "name 'k' is not defined", "pass it in"),
])
def test_refusals_point_at_the_call_or_into_the_callee(body, line, message, hint):
    err = _refusal(body)
    assert message in err.message, str(err)
    assert err.lineno == line, str(err)
    if hint is not None:
        assert err.hint and hint in err.hint, str(err)


def test_the_cli_writes_called_functions_out(tmp_path):
    """python -m gradgen parses the file and derives the decorated function; the helper it
    calls is written out and is not itself derived."""
    from gradgen.cli import main

    src = tmp_path / "model.py"
    src.write_text("import numpy as np\nimport gradgen\n" + LAYERS +
                   "@gradgen.derive\ndef loss(x, W, b):\n    return np.sum(dense(x, W, b))\n", encoding="utf-8")
    out = tmp_path / "model_grad.py"
    assert main([str(src), "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "def loss_value_and_grad(" in text and "def dense_" not in text
    assert "tanh_z = np.tanh(xW + b)" in text and "dz = dtanh_z * (1.0 - tanh_z ** 2)" in text
