"""What gradgen refuses: each refusal is a GradgenError naming file, line, column and a way out."""

import textwrap

import numpy as np
import pytest

import gradgen
from gradgen.pipeline import generate


def refuse(body: str, *, header: str = "import numpy as np\n", function: str = "f") -> gradgen.GradgenError:
    source = header + textwrap.dedent(body)
    with pytest.raises(gradgen.GradgenError) as info:
        generate(source, "model.py", function=function)
    return info.value


def line_of(body: str, needle: str, header_lines: int = 1) -> int:
    for i, line in enumerate(textwrap.dedent(body).splitlines(), start=1 + header_lines):
        if needle in line:
            return i
    raise AssertionError(needle)


CASES = [
    ("for over an array", """
        def f(x):
            s = 0.0
            for row in x:
                s = s + row
            return s
     """, "for row in", "gradgen must know how long 'x' is", "range(n)"),
    ("for with unknown bounds", """
        def f(x):
            s = 0.0
            for i in range(x.shape[0]):
                s = s + x[i]
            return np.sum(s)
     """, "x.shape[0]", "gradgen must know the loop's bounds", "a number"),
    ("for with break", """
        def f(x):
            for i in range(3):
                x = x * 2
                break
            return np.sum(x)
     """, "break", "'break' inside a loop", "np.where"),
    ("while", """
        def f(x):
            while x.sum() > 0:
                x = x - 1
            return x.sum()
     """, "while", "'while' loops", "unroll"),
    ("if", """
        def f(x):
            if x.sum() > 0:
                x = x * 2
            return x.sum()
     """, "if x", "'if' on a value known only when the function runs", "np.where"),
    ("with", """
        def f(x):
            with open("a") as fh:
                pass
            return x.sum()
     """, "with", "'with' blocks", "out of the derived function"),
    ("try", """
        def f(x):
            try:
                y = x * 2
            except ValueError:
                y = x
            return y.sum()
     """, "try", "'try' blocks", "error handling"),
    ("lambda", """
        def f(x):
            g = lambda v: v * 2
            return np.sum(x)
     """, "lambda", "lambda", "module level"),
    ("global", """
        def f(x):
            global K
            return np.sum(x)
     """, "global", "'global'", "argument"),
    ("nonlocal-free nested def", """
        def f(x):
            def g(v):
                return v
            return np.sum(x)
     """, "def g", "nested function", "module level"),
    ("yield", """
        def f(x):
            yield x
            return np.sum(x)
     """, "yield", "'yield'", "returns its result"),
    ("class", """
        def f(x):
            class A:
                pass
            return np.sum(x)
     """, "class A", "class definitions", "module level"),
    ("setitem", """
        def f(x):
            x[0] = 1.0
            return np.sum(x)
     """, "x[0] = 1.0", "in place", "np.where"),
    ("augassign array", """
        def f(x, y):
            x += y
            return np.sum(x)
     """, "x += y", "in place", "x = x + ..."),
    ("out=", """
        def f(x):
            y = np.exp(x, out=x)
            return np.sum(y)
     """, "out=", "in place", "drop out="),
    ("random", """
        def f(x):
            noise = np.random.normal(size=3)
            return np.sum(x * noise)
     """, "np.random", "random numbers", "pass them in"),
    ("unknown numpy function", """
        def f(x):
            return np.sum(np.i0(x))
     """, "np.i0", "np.i0 is not supported", "pass it in"),
    ("decorated function", """
        def opaque(fn):
            return fn

        @opaque
        def helper(v):
            return v * 2

        def f(x):
            return np.sum(helper(x))
     """, "helper(x)", "call to 'helper', a function gradgen cannot see into (decorated", "compute it outside"),
    ("undefined name", """
        def f(x):
            return np.sum(x * SCALE)
     """, "SCALE", "name 'SCALE' is not defined", "module level"),
    ("use before assignment", """
        def f(x):
            y = z * x
            z = x
            return np.sum(y)
     """, "y = z * x", "'z' is used before it is assigned", None),
    ("no return", """
        def f(x):
            y = x * 2
     """, "y = x * 2", "must end with a 'return'", "return loss"),
    ("tuple return", """
        def f(x):
            return np.sum(x), x
     """, "return", "returning several values", "single"),
    ("conditional expression", """
        def f(x):
            return np.sum(x if x.sum() > 0 else -x)
     """, "x if", "a conditional expression on a value known only when the function runs", "np.where"),
    ("comprehension", """
        def f(x):
            return np.sum([v * 2 for v in x])
     """, "for v in x", "comprehensions", "array operations"),
    ("print", """
        def f(x):
            print(x)
            return np.sum(x)
     """, "print(x)", "no effect on the result", "recomputes the forward"),
    ("sort in place", """
        def f(x):
            y = x * 2.0
            y.sort()
            return np.sum(y)
     """, "y.sort()", "could only change 'y' in place", "y = np.sort(y)"),
    ("list of arrays", """
        def f(x):
            return np.sum(np.array([x, 2.0 * x]))
     """, "np.array([x", "'[x, 2.0 * x]' is not supported on differentiable values", "np.stack"),
    ("differentiable fill value", """
        def f(x, w):
            return np.sum(np.full_like(x, w) * x)
     """, "full_like", "a differentiable 'fill_value' of np.full_like", "np.ones_like(a) * fill_value"),
    ("average with weights", """
        def f(x, w):
            return np.average(x, weights=w)
     """, "weights=w", "np.average with weights= is not supported", "np.sum(a * w, axis)"),
    ("diff with a negative n", """
        def f(x):
            return np.sum(np.diff(x, -1))
     """, "np.diff", "np.diff's n must be a whole number", "n=1"),
    ("convolution mode", """
        def f(a, v):
            return np.sum(np.convolve(a, v, mode="circular"))
     """, "circular", "mode='circular' is not supported here", "mode='full'"),
    ("builtin sum", """
        def f(x):
            return sum(x * x)
     """, "sum(x * x)", "builtin 'sum(...)'", "np.sum"),
    ("floor division", """
        def f(x):
            return np.sum(x // 2)
     """, "x // 2", "operator '//' is not differentiable", "rewrite"),
    ("unsupported method", """
        def f(x):
            return np.sum(x.cumprod())
     """, "x.cumprod()", "'.cumprod()' is not supported", "supported NumPy"),
    ("axis not literal", """
        def f(x, k):
            return np.sum(np.sum(x, axis=k))
     """, "axis=k", "axis must be written as a literal", "axis=0"),
    ("star args", """
        def f(*xs):
            return np.sum(xs[0])
     """, "*xs", "*args parameters", "name each"),
    ("global computed by code", """
        import os
        SCALE = float(os.environ.get("S", "1"))

        def f(x):
            return np.sum(x * SCALE)
     """, "x * SCALE", "computed by running code", "pass 'SCALE' in"),
]


@pytest.mark.parametrize("body,needle,message,hint", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_with_location_and_hint(body, needle, message, hint):
    err = refuse(body)
    assert err.filename == "model.py"
    assert err.lineno == line_of(body, needle), str(err)
    assert err.col is not None and err.col >= 1
    assert message in err.message, str(err)
    if hint is not None:
        assert err.hint and hint in err.hint, str(err)
    text = str(err)
    assert text.startswith(f"model.py:{err.lineno}:{err.col}: error: ")
    assert "^" in text  # a caret under the offending column


def test_syntax_error_is_a_gradgen_error():
    with pytest.raises(gradgen.GradgenError) as info:
        generate("import numpy as np\ndef f(x):\n    return np.sum(x +)\n", "model.py", function="f")
    err = info.value
    assert (err.filename, err.lineno) == ("model.py", 3)
    assert "syntax error" in err.message


def test_numpy_alias_bound_to_something_else_is_refused():
    err = refuse("""
        def f(x):
            return np.sum(np.exp(x))
    """, header="import jax.numpy as np\n")
    assert "'np' is jax.numpy (imported at line 1), not numpy" in err.message and err.lineno == 4


def test_wrt_naming_a_missing_parameter():
    with pytest.raises(gradgen.GradgenError, match="'V', which is not a parameter"):
        generate("import numpy as np\ndef f(W, x):\n    return np.sum(W @ x)\n", "m.py",
                 function="f", wrt=("V",))


def test_wrt_naming_an_index_only_parameter():
    source = "import numpy as np\ndef f(L, words):\n    return np.sum(L[words])\n"
    with pytest.raises(gradgen.GradgenError, match="only through non-differentiable uses") as info:
        generate(source, "m.py", function="f", wrt=("L", "words"))
    assert "leave 'words' out of wrt" in info.value.hint


def test_result_not_depending_on_parameters():
    with pytest.raises(gradgen.GradgenError, match="does not depend on any parameter"):
        generate("import numpy as np\ndef f(x):\n    return np.zeros(3).sum()\n", "m.py", function="f")


def test_decorator_refuses_at_definition_time(tmp_path):
    from support import load_source

    with pytest.raises(gradgen.GradgenError, match="'while' loops") as info:
        load_source("""
            import numpy as np
            import gradgen

            @gradgen.derive
            def f(x):
                while True:
                    pass
                return np.sum(x)
        """, tmp_path)
    assert info.value.filename.endswith(".py") and info.value.lineno == 7


def test_unused_parameter_in_wrt_gets_zero_gradient(tmp_path):
    from support import derive_source

    f = derive_source("""
        def f(x, unused):
            return np.sum(x ** 2)
    """, tmp_path, wrt=("x", "unused"))
    dx, dunused = f.backward(np.arange(3.0), np.ones((2, 2)))
    assert np.array_equal(dx, 2 * np.arange(3.0))
    assert np.array_equal(dunused, np.zeros((2, 2)))
