"""Shapes from annotations: parsing, dimension checks, and output specialised by them."""

import ast
import textwrap

import numpy as np
import pytest

import gradgen
from gradgen import shapes
from gradgen.pipeline import generate
from support import assert_grad_ok, derive_source


def annotation(text):
    return shapes.parse_annotation(ast.parse(text, mode="eval").body)


@pytest.mark.parametrize("text, kind, dims", [
    ('"f[B, D]"', "float", ("B", "D")),
    ('"f64[B D]"', "float", ("B", "D")),
    ('"i[B, m]"', "int", ("B", "m")),
    ('"f[]"', "float", ()),
    ('"f[m*d, Dh]"', "float", ("m*d", "Dh")),
    ('"f[3, 4]"', "float", ("3", "4")),
    ('Float[np.ndarray, "B D"]', "float", ("B", "D")),
    ('jaxtyping.Float[np.ndarray, "B D"]', "float", ("B", "D")),
    ('Int[np.ndarray, "B"]', "int", ("B",)),
    ('Float[np.ndarray, ""]', "float", ()),
    ("float", "float", ()),
    ("int", "int", ()),
])
def test_annotations_are_read(text, kind, dims):
    note = annotation(text)
    assert note.kind == kind
    assert tuple(str(d) for d in note.shape) == dims


@pytest.mark.parametrize("text", ['Float[np.ndarray, "*batch D"]', 'Float[np.ndarray, "... D"]'])
def test_variadic_dimensions_leave_the_rank_unknown(text):
    assert annotation(text).shape is None


@pytest.mark.parametrize("text", ["np.ndarray", '"just a note"', "list[float]"])
def test_other_annotations_are_ignored(text):
    assert annotation(text) is None


def test_dimension_products_cancel_in_reshape():
    b, m, d = (shapes.dim(n) for n in "Bmd")
    assert shapes.reshape((b, m, d), [b, -1]) == (b, m * d)
    assert str(shapes.reshape((b, m, d), [b, -1])[1]) == "m*d"


@pytest.mark.parametrize("body, message, shown", [
    ("return np.sum(x @ W)", "inner dimensions D and H of the matrix product differ", "x (B, D), W (H, D)"),
    ("return np.sum(x + W)", "dimensions B and H do not broadcast", "x (B, D), W (H, D)"),
    ("return np.sum(x.T @ W)", "inner dimensions B and H", "xT (D, B), W (H, D)"),
])
def test_dimension_mismatch_names_the_line(body, message, shown):
    source = f'import numpy as np\n\ndef f(x: "f[B, D]", W: "f[H, D]"):\n    {body}\n'
    with pytest.raises(gradgen.GradgenError) as info:
        generate(source, "model.py", function="f")
    err = info.value
    assert err.lineno == 4 and message in err.message and shown in err.message, str(err)


def test_annotated_assignment_is_checked():
    source = textwrap.dedent('''
        import numpy as np

        def f(x: "f[B, D]", W: "f[D, H]"):
            z: "f[B, D]" = x @ W
            return np.sum(z)
    ''')
    with pytest.raises(gradgen.GradgenError, match=r"annotated \(B, D\) but the right-hand side has shape \(B, H\)"):
        generate(source, "model.py", function="f")


LAYER = '''
    def f(x: "f[B, D]", W: "f[D, H]", b: "f[H]"):
        z = x @ W + b
        h = np.tanh(z)
        return np.sum(h ** 2)
'''


def test_specialised_output_reads_like_the_notes(tmp_path):
    f = derive_source(LAYER, tmp_path)
    text = f.source
    for line in ["db = dz.sum(axis=0)  ", "# (H,)", "dx = dz @ W.T", "# (B, D) = (B, H) @ (H, D)",
                 "dW = x.T @ dz", "# (D, H) = (D, B) @ (B, H)", "dh = 2.0 * h", "dz = dh * (1.0 - h ** 2)"]:
        assert line in text, text
    assert "_unbroadcast" not in text and "_matmul_grad" not in text and "broadcast_to" not in text
    rng = np.random.default_rng(0)
    assert_grad_ok(f, rng.normal(size=(5, 3)), rng.normal(size=(3, 4)), rng.normal(size=4))


def test_without_annotations_the_same_function_stays_generic_and_correct(tmp_path):
    f = derive_source(LAYER.replace(': "f[B, D]"', "").replace(': "f[D, H]"', "").replace(': "f[H]"', ""), tmp_path)
    assert "_unbroadcast" in f.source
    rng = np.random.default_rng(1)
    for x, W, b in [((5, 3), (3, 4), (4,)), ((5, 3), (3, 4), (1, 4)), ((3,), (3, 4), (4,)), ((2, 5, 3), (3, 4), (5, 1))]:
        assert_grad_ok(f, rng.normal(size=x), rng.normal(size=W), rng.normal(size=b))


@pytest.mark.parametrize("b_note, b_shape, expected", [
    ('"f[1, H]"', (1, 4), "db = dz.sum(axis=0, keepdims=True)"),
    ('"f[B, 1]"', (5, 1), "db = dz.sum(axis=1, keepdims=True)"),
    ('"f[]"', (), "db = dz.sum()"),
    ("float", (), "db = dz.sum()"),
])
def test_exact_unbroadcast_axes(b_note, b_shape, expected, tmp_path):
    f = derive_source(f'''
        def f(x: "f[B, H]", b: {b_note}):
            z = x + b
            return np.sum(np.sin(z))
    ''', tmp_path)
    assert expected in f.source, f.source
    rng = np.random.default_rng(2)
    b = rng.normal(size=b_shape) if b_shape else float(rng.normal())
    assert_grad_ok(f, rng.normal(size=(5, 4)), b)


def test_embedding_shapes_flow_through_index_and_reshape(tmp_path):
    f = derive_source('''
        def f(L: "f[V, d]", words: "i[B, m]", W: "f[m*d, H]"):
            n = words.shape[0]
            x = L[words].reshape(n, -1)
            return np.sum(np.tanh(x @ W))
    ''', tmp_path)
    assert f.wrt == ("L", "W")
    assert "# (B, m*d) = (B, H) @ (H, m*d)" in f.source
    rng = np.random.default_rng(3)
    words = rng.integers(0, 6, size=(4, 3))
    words[0, :2] = 1
    assert_grad_ok(f, rng.normal(size=(6, 2)), words, rng.normal(size=(6, 5)))


def test_int_annotated_parameter_is_not_differentiated(tmp_path):
    f = derive_source('''
        def f(x: "f[N]", k: int):
            return np.sum(x * k)
    ''', tmp_path)
    assert f.wrt == ("x",)
    with pytest.raises(gradgen.GradgenError, match="only through non-differentiable"):
        derive_source('''
            def f(x: "f[N]", k: int):
                return np.sum(x * k)
        ''', tmp_path, wrt=("x", "k"))


def test_check_shapes_adds_asserts(tmp_path):
    f = derive_source('''
        def f(x: "f[B, D]", W: "f[D, H]"):
            return np.sum(x @ W)
    ''', tmp_path)
    assert "assert" not in f.source
    module = __import__("support").load_source('''
        import numpy as np
        import gradgen

        @gradgen.derive(check_shapes=True)
        def f(x: "f[B, D]", W: "f[D, H]"):
            return np.sum(x @ W)
    ''', tmp_path)
    text = module.f.source
    assert "assert np.shape(dx) == np.shape(x), 'gradient of x has the wrong shape; expected (B, D)'" in text
    dx, dW = module.f.backward(np.ones((2, 3)), np.ones((3, 4)))
    assert dx.shape == (2, 3) and dW.shape == (3, 4)
