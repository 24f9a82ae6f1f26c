"""Hostile input: each is refused with a GradgenError naming file, line and column, or handled
correctly; never a wrong gradient or a raw traceback.

Every refusal is checked three ways: ``gradgen.pipeline.generate`` (the pure function), the
decorator (where Python can import the file at all), and the CLI, which must exit 2 with the
message on stderr, print nothing on stdout, write no output file and leave an existing one
untouched. The CLI must never import or run its input (a marker-file test, in a subprocess,
for every mode). Big and deep inputs (a 5,000-statement function, expressions hundreds of
levels deep) must be derived, correctly, or refused; never crash.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import numpy as np
import pytest

import gradgen
from gradgen import cli
from gradgen.pipeline import generate

REPO = Path(__file__).resolve().parents[1]
_count = itertools.count()


@pytest.fixture(autouse=True)
def project(tmp_path):
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    return tmp_path


def load(source: str, directory: Path, stem="hostile"):
    """Write ``source`` (verbatim) to a module file and import it."""
    name = f"gradgen_hostile_{stem}_{next(_count)}"
    path = directory / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def where(source: str, needle: str) -> tuple[int, int]:
    """1-based (line, column) of the first ``needle`` after the def line."""
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if "def " in line)
    for i in range(start, len(lines)):
        if needle in lines[i]:
            return i + 1, lines[i].index(needle) + 1
    raise AssertionError(f"{needle!r} not in the source")


def run_cli(argv, cwd, capsys):
    """``gradgen.cli.main`` in-process, from ``cwd``; (exit code, stdout, stderr)."""
    old = os.getcwd()
    os.chdir(cwd)
    try:
        rc = no_crash(cli.main, [str(a) for a in argv])
    except SystemExit as exit_:  # argparse's usage errors
        rc = exit_.code
    finally:
        os.chdir(old)
    out, err = capsys.readouterr()
    return rc, out, err


def no_crash(fn, *args, **kwargs):
    """``fn(*args)``; any exception but GradgenError (and SystemExit) fails the test with a short
    report (a RecursionError's full traceback would take pytest a minute to print)."""
    try:
        return fn(*args, **kwargs)
    except (gradgen.GradgenError, SystemExit):
        raise
    except BaseException as err:  # noqa: BLE001 - the point is to catch everything
        import traceback
        frames = traceback.extract_tb(err.__traceback__)
        where_ = "".join(traceback.format_list(frames[-4:]))
        pytest.fail(f"raw {type(err).__name__} instead of a GradgenError: {str(err)[:200]}\n"
                    f"({len(frames)} frames; the last ones:)\n{where_}", pytrace=False)


def assert_cli_refuses(path: Path, capsys, location: str | None, *extra):
    """Exit 2, the message on stderr, nothing on stdout, no file written, an old one untouched."""
    cwd = path.parent
    sentinel = "# an existing generated file, which a refusal must leave alone\n"
    target = cwd / "out_grad.py"
    target.write_text(sentinel, encoding="utf-8")
    default = cwd / (path.stem + "_grad.py")
    default.unlink(missing_ok=True)
    runs = [[path.name, *extra], [path.name, *extra, "-o", target.name], [path.name, *extra, "-w"],
            [path.name, *extra, "--check"], [path.name, *extra, "--graph"]]
    for argv in runs:
        rc, out, err = run_cli(argv, cwd, capsys)
        assert rc == 2, f"{argv}: exit {rc}\nstdout:\n{out}\nstderr:\n{err}"
        assert out == "", f"{argv}: printed on stdout:\n{out}"
        assert "error" in err and path.name in err, f"{argv}: stderr:\n{err}"
        if location is not None:
            assert f"{path.name}:{location}: error:" in err, f"{argv}: stderr does not locate it:\n{err}"
        assert "Traceback" not in err
        assert target.read_text(encoding="utf-8") == sentinel, f"{argv}: overwrote {target.name}"
        assert not default.exists(), f"{argv}: wrote {default.name}"


# -- refused constructs -------------------------------------------------------------------------

H = "import numpy as np\nimport gradgen\n\n\n"

# id -> (module source, text where the error points, message fragment, importable by Python)
REFUSED = {
    "with": (H + "def f(x):\n    with np.errstate(all='ignore'):\n        y = np.log(x)\n"
             "    return np.sum(y)\n", "with", "'with'", True),
    "try": (H + "def f(x):\n    try:\n        y = x * 2\n    except ValueError:\n        y = x\n"
            "    return np.sum(y)\n", "try", "'try'", True),
    "lambda": (H + "def f(x):\n    g = lambda v: v * 2\n    return np.sum(g(x))\n", "lambda", "lambda", True),
    "global": (H + "G = 2.0\n\n\ndef f(x):\n    global G\n    return np.sum(x * G)\n", "global", "'global'", True),
    "nonlocal": (H + "def f(x):\n    nonlocal y\n    return np.sum(x * y)\n", "nonlocal", "'nonlocal'", False),
    "yield": (H + "def f(x):\n    yield x\n    return np.sum(x)\n", "yield", "'yield'", True),
    "await": (H + "def f(x):\n    y = await x\n    return np.sum(y)\n", "await", "'await'", False),
    "class": (H + "def f(x):\n    class A:\n        pass\n    return np.sum(x)\n", "class", "class", True),
    "eval": (H + "def f(x):\n    y = eval('x * 2')\n    return np.sum(y)\n", "eval(", "eval", True),
    "exec": (H + "def f(x):\n    exec('y = 2')\n    return np.sum(x)\n", "exec(", "exec", True),
    "recursion": (H + "def f(x):\n    y = f(x * 0.5)\n    return np.sum(y)\n", "f(x * 0.5)", "'f'", True),
    "recursion_return": (H + "def f(x):\n    return np.sum(x) + f(x * 0.5)\n", "f(x * 0.5)", "'f'", True),
    "unknown_function": (H + "def f(x):\n    y = foo(x)\n    return np.sum(y)\n", "foo", "foo", True),
    "helper_function": (H + "def opaque(fn):\n    return fn\n\n\n@opaque\ndef helper(v):\n    return v * 2\n\n\n"
                        "def f(x):\n    y = helper(x)\n    return np.sum(y)\n", "helper(x)", "helper", True),
    "helper_recursion": (H + "def helper(v):\n    return helper(v * 0.5)\n\n\ndef f(x):\n    y = helper(x)\n"
                         "    return np.sum(y)\n", "helper(v * 0.5)", "calls itself", True),
    "setitem": (H + "def f(x):\n    x[0] = 1.0\n    return np.sum(x)\n", "x[0]", "in place", True),
    "setitem_slice": (H + "def f(x, v):\n    y = x[::2]\n    y[:, 1:] = v\n    return np.sum(y)\n",
                      "y[:, 1:]", "in place", True),
    "iadd_array": (H + "def f(x, y):\n    x += y\n    return np.sum(x)\n", "x += y", "in place", True),
    "iadd_view": (H + "def f(x, y):\n    z = x.T\n    z += y\n    return np.sum(z)\n", "z += y", "in place", True),
    "imul_element": (H + "def f(x):\n    x[0] *= 2\n    return np.sum(x)\n", "x[0]", "in place", True),
    "out_keyword": (H + "def f(x, y):\n    z = np.add(x, y, out=x)\n    return np.sum(z)\n", "out=", "out=", True),
    "out_unary": (H + "def f(x):\n    z = np.exp(x, out=x)\n    return np.sum(z)\n", "out=", "out=", True),
    "setattr": (H + "def f(x):\n    x.shape = (3,)\n    return np.sum(x)\n", "x.shape", "in place", True),
    "method_in_place": (H + "def f(x):\n    y = x * 1.0\n    y.sort()\n    return np.sum(y)\n", "y.sort()", "", True),
    "math_as_np": ("import math as np\nimport gradgen\n\n\ndef f(x):\n    return np.exp(x)\n",
                   "np.exp(x)", "not numpy", True),
    "jax_as_np": ("import jax.numpy as np\nimport gradgen\n\n\ndef f(x):\n    return np.sum(np.exp(x))\n",
                  "np.sum(", "not numpy", False),
    "async_def": (H + "async def f(x):\n    return np.sum(x)\n", "async def", "", True),
}


def _ids():
    return sorted(REFUSED)


@pytest.mark.parametrize("case", _ids())
def test_refused_by_generate(case):
    source, needle, fragment, _ = REFUSED[case]
    with pytest.raises(gradgen.GradgenError) as info:
        no_crash(generate, source, "model.py", function="f")
    err = info.value
    line, col = where(source, needle)
    assert err.filename == "model.py"
    assert (err.lineno, err.col) == (line, col), f"{err}\n(expected line {line}, column {col})"
    assert fragment in err.message, str(err)


@pytest.mark.parametrize("case", _ids())
def test_refused_by_cli(case, tmp_path, capsys):
    source, needle, _, _ = REFUSED[case]
    path = tmp_path / "model.py"
    path.write_text(source, encoding="utf-8")
    line, col = where(source, needle)
    assert_cli_refuses(path, capsys, f"{line}:{col}", "-f", "f")


@pytest.mark.parametrize("case", [c for c in _ids() if REFUSED[c][3]])
def test_refused_by_derive(case, tmp_path):
    source, needle, fragment, _ = REFUSED[case]
    module = load(source, tmp_path)
    fn = module.f
    with pytest.raises(gradgen.GradgenError) as info:
        gradgen.derive(fn)
    err = info.value
    line, col = where(source, needle)
    assert err.filename and err.filename.endswith(".py")
    assert (err.lineno, err.col) == (line, col), f"{err}\n(expected line {line}, column {col})"


def test_nonlocal_in_a_closure_is_refused_by_derive(tmp_path):
    source = H + "def outer():\n    y = 1.0\n\n    def f(x):\n        z = x * y\n        nonlocal y\n" \
                 "        return np.sum(z)\n    return f\n"
    with pytest.raises(SyntaxError):  # Python itself: name used before nonlocal
        load(source, tmp_path)
    source = H + "def outer():\n    y = 1.0\n\n    def f(x):\n        nonlocal y\n        z = x * y\n" \
                 "        return np.sum(z)\n    return f\n"
    fn = load(source, tmp_path).outer()
    with pytest.raises(gradgen.GradgenError) as info:
        gradgen.derive(fn)
    assert (info.value.lineno, info.value.col) == where(source, "nonlocal")


# -- syntax errors, unreadable and undecodable files -------------------------------------------


SYNTAX = {
    "unclosed": H + "def f(x:\n    return x\n",
    "operator": H + "def f(x):\n    y = x +* 2\n    return np.sum(y)\n",
    "indent": H + "def f(x):\n    y = x * 2\n      return np.sum(y)\n",
    "too_deep": H + "def f(x):\n    return np.sum(" + "(" * 250 + "x" + ")" * 250 + ")\n",
}


@pytest.mark.parametrize("case", sorted(SYNTAX))
def test_syntax_error(case, tmp_path, capsys):
    source = SYNTAX[case]
    with pytest.raises(SyntaxError) as python:
        compile(source, "model.py", "exec")
    with pytest.raises(gradgen.GradgenError) as info:
        generate(source, "model.py", function="f")
    err = info.value
    assert err.filename == "model.py" and err.lineno == python.value.lineno and err.col is not None, str(err)
    assert "syntax" in err.message
    path = tmp_path / "model.py"
    path.write_text(source, encoding="utf-8")
    assert_cli_refuses(path, capsys, f"{err.lineno}:{err.col}", "-f", "f")


def test_not_utf8(tmp_path, capsys):
    path = tmp_path / "model.py"
    path.write_bytes(b"import numpy as np\nimport gradgen\n# caf\xe9\n\n\n@gradgen.derive\n"
                     b"def f(x):\n    return np.sum(x * x)\n")
    assert_cli_refuses(path, capsys, None)
    rc, out, err = run_cli([path.name], tmp_path, capsys)
    assert "UTF-8" in err


def test_binary_garbage(tmp_path, capsys):
    path = tmp_path / "model.py"
    path.write_bytes(bytes(range(256)) * 4)
    assert_cli_refuses(path, capsys, None, "-f", "f")


def test_pep263_latin1_file_is_read_as_python_reads_it(tmp_path, capsys):
    """A file with a coding cookie is valid Python (PEP 263) and derives with the decorator;
    the CLI, which "decodes as Python does", must read it too, and generate the same module."""
    source = "# -*- coding: latin-1 -*-\nimport numpy as np\nimport gradgen\n\nNAME = 'caf\xe9'\n\n\n" \
             "@gradgen.derive\ndef f(x):\n    return np.sum(x * x)\n"
    path = tmp_path / "latin.py"
    path.write_bytes(source.encode("latin-1"))
    spec = importlib.util.spec_from_file_location("gradgen_hostile_latin", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # Python reads it
    assert np.allclose(module.f.backward(np.array([1.0, 2.0]))[0], [2.0, 4.0])  # so does derive
    rc, out, err = run_cli([path.name], tmp_path, capsys)
    assert rc == 0, err
    assert "def f_backward" in out


def test_unreadable_files(tmp_path, capsys):
    missing = tmp_path / "missing.py"
    rc, out, err = run_cli([missing.name, "-o", "x_grad.py"], tmp_path, capsys)
    assert rc == 2 and "missing.py" in err and out == "" and not (tmp_path / "x_grad.py").exists()
    link = tmp_path / "dangling.py"
    link.symlink_to(tmp_path / "nowhere.py")
    rc, out, err = run_cli([link.name, "-o", "x_grad.py"], tmp_path, capsys)
    assert rc == 2 and "dangling.py" in err and "Traceback" not in err
    folder = tmp_path / "folder.py"
    folder.mkdir()
    rc, out, err = run_cli([folder.name, "-f", "f", "-o", "x_grad.py"], tmp_path, capsys)
    assert rc == 2 and "Traceback" not in err  # a usage error: -o needs one SRC file
    assert not (tmp_path / "x_grad.py").exists()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_permission_denied(tmp_path, capsys):
    path = tmp_path / "model.py"
    path.write_text(H + "@gradgen.derive\ndef f(x):\n    return np.sum(x)\n", encoding="utf-8")
    path.chmod(0)
    try:
        assert_cli_refuses(path, capsys, None)
    finally:
        path.chmod(0o644)


# -- handled correctly: names that collide with generated code ------------------------------


def _check(fn, *args):
    result = gradgen.check_grad(fn, *args)
    assert result.ok, str(result)
    return result


def _cli_module(path: Path, function: str):
    namespace = {"__name__": "gradgen_hostile_cli"}
    exec(compile(generate(path.read_text(encoding="utf-8"), str(path), function=function),
                 "<cli>", "exec"), namespace)
    return namespace


def test_parameters_named_like_generated_code(tmp_path):
    source = H + textwrap.dedent("""\
        def f(dW, dz, dout, out, _unbroadcast, slice, len, W):
            z = dW @ W + dz
            dW = np.tanh(z) * dout
            out = dW * out + _unbroadcast
            dout = out.sum(axis=0) * slice
            return np.sum(dout * len)
        """)
    module = load(source, tmp_path)
    rng = np.random.default_rng(0)
    args = [rng.standard_normal(s) for s in [(2, 3), (3,), (2, 3), (2, 3), (1, 3), (), (3,), (3, 3)]]
    f = gradgen.derive(module.f)
    _check(f, *args)
    cli_grads = _cli_module(Path(module.__file__), "f")["f_backward"](*args)
    for a, b in zip(f.backward(*args), cli_grads):
        assert np.allclose(a, b)


def test_locals_named_like_generated_code(tmp_path):
    source = H + textwrap.dedent("""\
        def f(x, W, b):
            dz = x @ W
            dW = dz + b
            dout = np.tanh(dW)
            out = dout * dz
            _unbroadcast = out.sum(axis=0)
            _scalar_seed = np.maximum(_unbroadcast, 0.1)
            dx = np.mean(_scalar_seed ** 2)
            return dx
        """)
    module = load(source, tmp_path)
    rng = np.random.default_rng(1)
    f = gradgen.derive(module.f)
    _check(f, rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4))


def test_parameters_named_like_helpers_with_helpers_in_use(tmp_path):
    source = H + textwrap.dedent("""\
        def f(x, _matmul_grad_a, _matmul_grad_b, _unbroadcast, _concatenated_part, W):
            h = np.concatenate([x @ W, _concatenated_part], axis=0)
            y = np.maximum(h, _matmul_grad_a) * _unbroadcast + _matmul_grad_b
            return y
        """)
    module = load(source, tmp_path)
    rng = np.random.default_rng(2)
    args = [rng.standard_normal((2, 3)), rng.standard_normal((4, 3)), rng.standard_normal(3),
            rng.standard_normal((1, 3)), rng.standard_normal((2, 3)), rng.standard_normal((3, 3))]
    _check(gradgen.derive(module.f), *args)


def test_numpy_under_another_alias(tmp_path):
    source = "import numpy as onp\nimport gradgen\n\n\ndef f(x, W):\n" \
             "    h = onp.tanh(x @ W)\n    return onp.sum(onp.maximum(h, 0.0) ** 2)\n"
    module = load(source, tmp_path)
    f = gradgen.derive(module.f)
    assert "onp." in f.source
    rng = np.random.default_rng(3)
    _check(f, rng.standard_normal((2, 3)), rng.standard_normal((3, 3)))


def test_parameter_named_np_when_numpy_is_imported_as_numpy(tmp_path):
    source = "import numpy\nimport gradgen\n\n\ndef f(np, x):\n    return numpy.sum(numpy.tanh(np * x))\n"
    module = load(source, tmp_path)
    f = gradgen.derive(module.f)
    _check(f, np.array([0.5, -1.0, 2.0]), np.array([1.0, 0.3, -0.2]))


SHADOWED = {
    # a local named np hides the numpy alias the generated code uses
    "local_np": "import numpy as np\nimport gradgen\n\n\ndef f(x):\n    np = x * 2\n    return np.sum()\n",
    # a parameter named np, numpy imported twice (as np and as numpy)
    "param_np_two_aliases": "import numpy as np\nimport numpy\nimport gradgen\n\n\n"
                            "def f(np, x):\n    return numpy.sum(np * x)\n",
}


@pytest.mark.parametrize("case", sorted(SHADOWED))
def test_numpy_alias_shadowed_inside_the_function(case, tmp_path):
    """Derived correctly (the generated code must reach numpy by a name the function does not
    hide), or refused with a location; never a backward that crashes."""
    module = load(SHADOWED[case], tmp_path)
    try:
        f = no_crash(gradgen.derive, module.f)
    except gradgen.GradgenError as err:
        assert err.lineno is not None, str(err)
        return
    args = [np.array([0.5, -1.0, 2.0]) for _ in range(module.f.__code__.co_argcount)]
    no_crash(_check, f, *args)


# -- np bound to something that is not numpy --------------------------------------------------


def test_np_rebound_at_module_level_is_refused_with_the_reason(tmp_path, capsys):
    source = "import numpy as np\nimport gradgen\n\nnp = None\n\n\n@gradgen.derive\n" \
             "def f(x):\n    return np.sum(np.exp(x))\n"
    with pytest.raises(gradgen.GradgenError) as info:
        generate(source, "model.py")
    err = info.value
    assert err.lineno is not None
    # the reason: np is not numpy here, because line 4 rebinds it
    assert "not numpy" in err.message or "line 4" in err.message, str(err)


def test_np_replaced_at_run_time_is_refused_by_derive(tmp_path):
    source = "import numpy as np\nimport gradgen\n\n\ndef f(x):\n    return np.sum(np.exp(x))\n"
    module = load(source, tmp_path)
    module.np = types.SimpleNamespace(sum=np.sum, exp=np.exp)  # looks like numpy, is not
    with pytest.raises(gradgen.GradgenError) as info:
        gradgen.derive(module.f)
    assert "'np'" in info.value.message and "numpy" in info.value.message


def test_math_as_np_is_refused_with_the_reason():
    source = REFUSED["math_as_np"][0]
    with pytest.raises(gradgen.GradgenError) as info:
        generate(source, "model.py", function="f")
    assert "math" in info.value.message and "not numpy" in info.value.message


# -- big and deep -------------------------------------------------------------------------------


def _long_chain(n: int) -> str:
    lines = ["import numpy as np", "import gradgen", "", "", "def f(x, W):", "    h0 = x"]
    for i in range(1, n):
        prev = f"h{i - 1}"
        rhs = [f"np.tanh({prev})", f"{prev} * 0.9 + 0.1 * x", f"{prev} @ W",
               f"{prev} - 0.01 * {prev} ** 2"][i % 4]
        lines.append(f"    h{i} = {rhs}")
    lines.append(f"    return np.sum(h{n - 1})")
    return "\n".join(lines) + "\n"


def test_five_thousand_statements(tmp_path):
    module = load(_long_chain(5000), tmp_path)
    start = time.perf_counter()
    f = gradgen.derive(module.f)
    seconds = time.perf_counter() - start
    print(f"\nderive of a 5,000-statement function: {seconds:.1f} s "
          f"({len(f.source.splitlines())} generated lines)")
    rng = np.random.default_rng(4)
    x, W = rng.standard_normal((2, 3)) * 0.3, np.eye(3) * 0.9 + 0.01
    _check(f, x, W)
    assert seconds < 60, f"derive took {seconds:.1f} s"


def _nested(op: str, depth: int) -> str:
    expr = "x"
    for _ in range(depth):
        expr = op.format(expr)
    return H + f"def f(x):\n    return np.sum({expr})\n"


def _reference_tanh(x, depth):
    v, dv, values = x.copy(), np.ones_like(x), []
    for _ in range(depth):
        values.append(v)
        v = np.tanh(v)
    for u in reversed(values):
        dv = dv * (1 - np.tanh(u) ** 2)
    return dv


DEEP = {  # id -> (source, reference gradient of sum(f(x)) at x)
    "parens_100": (_nested("({} + 1)", 100), lambda x: np.ones_like(x)),
    "parens_190": (_nested("({} + 1)", 190), lambda x: np.ones_like(x)),
    "sum_300_terms": (H + "def f(x):\n    return np.sum(x" + " + x" * 299 + ")\n", lambda x: np.full_like(x, 300.0)),
    "sum_900_terms": (H + "def f(x):\n    return np.sum(x" + " + 1" * 899 + ")\n", lambda x: np.ones_like(x)),
    "product_400": (H + "def f(x):\n    return np.sum(x" + " * 1.001" * 399 + ")\n",
                    lambda x: np.full_like(x, 1.001 ** 399)),
    "tanh_150": (_nested("np.tanh({})", 150), lambda x: _reference_tanh(x, 150)),
    "tanh_190": (_nested("np.tanh({})", 190), lambda x: _reference_tanh(x, 190)),
    "mixed_150": (_nested("np.tanh(0.5 * {} + 0.1)", 150), None),
}


@pytest.mark.parametrize("case", sorted(DEEP))
def test_deeply_nested_expression(case, tmp_path, capsys):
    """Python compiles each of these; gradgen must derive it correctly or refuse it, not crash
    (a RecursionError is a raw traceback)."""
    source, reference = DEEP[case]
    compile(source, "model.py", "exec")
    module = load(source, tmp_path)
    x = np.array([0.3, -0.2, 0.05])
    try:
        f = no_crash(gradgen.derive, module.f)
    except gradgen.GradgenError as err:
        assert err.lineno is not None, str(err)
        return
    (dx,) = no_crash(f.backward, x)
    if reference is not None:
        assert np.allclose(dx, reference(x), rtol=1e-9), (dx, reference(x))
    else:
        _check(f, x)
    path = tmp_path / "deep.py"
    path.write_text(source, encoding="utf-8")
    rc, out, err = run_cli([path.name, "-f", "f"], tmp_path, capsys)
    assert rc == 0 and "def f_backward" in out, err


# -- the CLI never imports or runs its input ------------------------------------------------


def _cli(*args, cwd, stdin=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
    return subprocess.run([sys.executable, "-m", "gradgen", *map(str, args)], cwd=cwd, env=env,
                          input=stdin, capture_output=True, timeout=120)


@pytest.mark.parametrize("mode", ["print", "output", "check", "diff", "write", "graph", "stdin",
                                  "folder", "function"])
def test_cli_never_imports_its_input(mode, tmp_path):
    marker = tmp_path / "MARKER"
    source = textwrap.dedent(f"""\
        import pathlib
        pathlib.Path({str(marker)!r}).write_text("the module was imported")
        import numpy as np
        import gradgen

        raise SystemExit("the module was run")


        @gradgen.derive
        def f(x, W):
            return np.sum(np.tanh(x @ W))
        """)
    path = tmp_path / "model.py"
    path.write_text(source, encoding="utf-8")
    args = {"print": [path.name], "output": [path.name, "-o", "model_grad.py"],
            "check": [path.name, "--check"], "diff": [path.name, "--diff"], "write": [path.name, "-w"],
            "graph": [path.name, "--graph"], "stdin": ["-"], "folder": ["."],
            "function": [path.name, "-f", "f", "--wrt", "W"]}[mode]
    proc = _cli(*args, cwd=tmp_path, stdin=source.encode() if mode == "stdin" else None)
    assert not marker.exists(), "the CLI imported the input file"
    assert proc.returncode in (0, 1), proc.stderr.decode()  # 1: --check finds no generated file
    assert b"Traceback" not in proc.stderr


# -- a seed that does not match the result --------------------------------------------------


def test_seed_of_the_wrong_shape_is_refused_or_broadcast(tmp_path):
    """An array result needs its adjoint; a scalar passed instead must be broadcast to the
    result (giving gradients of the parameters' shapes) or refused with a ValueError that
    names the seed, never a gradient of the wrong shape."""
    module = load(H + "def f(x):\n    out = x * 2\n    return out\n", tmp_path)
    f = gradgen.derive(module.f)
    x = np.array([1.0, 2.0, 3.0])
    try:
        (dx,) = f.backward(x, **{f.seed_name: 1.0})
    except ValueError as err:
        assert f.seed_name in str(err), str(err)
        return
    assert np.shape(dx) == x.shape, f"gradient of shape {np.shape(dx)} for x of shape {x.shape}"
    assert np.allclose(dx, 2.0)


# -- names gradgen builds must not be Python keywords ----------------------------------------

KEYWORD_NAMES = {
    # the adjoint of el is "del", of ef "def"
    "local_el": "def f(x):\n    el = np.tanh(x)\n    return np.sum(el * el)\n",
    "local_ef": "def f(x):\n    ef = np.tanh(x)\n    return np.sum(ef * ef)\n",
    "param_el": "def f(el):\n    return np.sum(np.tanh(el) * el)\n",
    # an unnamed product is named after its operands: a @ s -> "as", i @ f -> "if"
    "product_as": "def f(s, w, a):\n    tmp = np.maximum(a @ s, w.sum(-1))\n    return np.mean(tmp)\n",
    "product_if": "def f(i, f_):\n    h = np.maximum(i @ f_, 0.1)\n    return np.sum(h * h)\n",
    "product_in": "def f(i, n):\n    h = np.maximum(i @ n, 0.1)\n    return np.sum(h * h)\n",
    "product_or": "def f(o, r):\n    h = np.maximum(o @ r, 0.1)\n    return np.sum(h * h)\n",
    "product_is": "def f(i, s):\n    h = np.maximum(i @ s, 0.1)\n    return np.sum(h * h)\n",
}


@pytest.mark.parametrize("case", sorted(KEYWORD_NAMES))
def test_generated_names_are_not_keywords(case, tmp_path, capsys):
    """Found by the fuzzer (``as = a @ s``): a name gradgen makes up must not be a Python keyword.
    The decorator raised a raw SyntaxError, and the CLI wrote a module that does not compile,
    with exit 0."""
    source = H + KEYWORD_NAMES[case]
    module = load(source, tmp_path)
    f = no_crash(gradgen.derive, module.f)
    rng = np.random.default_rng(5)
    nargs = module.f.__code__.co_argcount
    shapes = {1: [(3, 3)], 2: [(3, 3), (3, 3)], 3: [(3, 3), (1,), (3, 3)]}[nargs]
    _check(f, *[rng.standard_normal(s) for s in shapes])
    path = tmp_path / "model.py"
    path.write_text(source, encoding="utf-8")
    rc, out, err = run_cli([path.name, "-f", "f"], tmp_path, capsys)
    assert rc == 0, err
    compile(out, "model_grad.py", "exec")

@pytest.mark.parametrize("enabled", [True, False])
def test_generation_leaves_garbage_collection_as_it_found_it(tmp_path, enabled):
    """gradgen pauses the cyclic collector while it builds a backward (pipeline.gc_paused),
    and gives it back as it was, also when it refuses the function."""
    import gc
    good = load(_long_chain(3), tmp_path)
    bad = load("import numpy as np\n\ndef f(x):\n    return eval('x')\n", tmp_path)
    try:
        gc.enable() if enabled else gc.disable()
        gradgen.derive(good.f)
        assert gc.isenabled() is enabled
        with pytest.raises(gradgen.GradgenError):
            gradgen.derive(bad.f)
        assert gc.isenabled() is enabled
    finally:
        gc.enable()
