"""gradgen.rule: users give the adjoint of a function gradgen cannot see into."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gradgen
from support import assert_grad_ok, load_source

REPO = Path(__file__).resolve().parents[1]

MODEL = '''
import numpy as np
import gradgen


def softplus(x):
    return np.logaddexp(0.0, x)


@gradgen.rule(softplus)
def _(x, out, dout):
    return dout / (1 + np.exp(-x))


def scaled(a, b):
    return a * b + np.sin(a)


@gradgen.rule(scaled)
def _scaled(a, b, out, dout):
    return dout * (b + np.cos(a)), dout * a


def cube(x):
    return x ** 3


@gradgen.rule(cube)
def _cube(x, out, dout):
    return "3 * {{ x }} ** 2 * {{ dout }}"


@gradgen.derive
def loss(W: "f[D, H]", x: "f[B, D]", c):
    h = softplus(x @ W)
    return np.sum(scaled(h, c) ** 2) + np.sum(cube(h))
'''


def inputs():
    r = np.random.default_rng(5)
    return r.normal(size=(3, 4)), r.normal(size=(5, 3)), r.normal(size=4)


def test_rules_in_the_same_file_are_inlined(tmp_path):
    module = load_source(MODEL, tmp_path)
    text = module.loss.source
    assert "dh * (1 / (1 + np.exp(-" in text or "/ (1 + np.exp(-" in text  # the rule's expression
    assert "3 * h ** 2" in text  # the template rule
    assert "def softplus(x):" in text  # the forward function is copied: the module stands alone
    assert_grad_ok(module.loss, *inputs())


def test_the_cli_reads_rules_from_the_file_and_writes_a_standalone_module(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "model.py").write_text(MODEL)
    subprocess.run([sys.executable, "-m", "gradgen", "model.py", "-o", "model_grad.py"], cwd=tmp_path,
                   check=True, env={"PYTHONPATH": str(REPO), "PATH": ""})
    code = ("import sys; sys.modules['gradgen'] = None\n"
            "import numpy as np, model_grad\n"
            "r = np.random.default_rng(5)\n"
            "g = model_grad.loss_backward(r.normal(size=(3, 4)), r.normal(size=(5, 3)), r.normal(size=4))\n"
            "print(repr(g[0].tolist()))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    module = load_source(MODEL, tmp_path)
    assert np.allclose(eval(out.stdout), module.loss.backward(*inputs())[0])


def test_a_rule_registered_in_another_module_is_found(tmp_path):
    load_source('''
        import numpy as np
        import gradgen

        def smooth_abs(x):
            return np.sqrt(x * x + 1e-3)

        @gradgen.rule(smooth_abs)
        def _(x, out, dout):
            return dout * x / out
    ''', tmp_path, stem="rules_lib")
    lib = sorted(tmp_path.glob("gradgen_test_rules_lib_*.py"))[-1].stem
    module = load_source(f'''
        import numpy as np
        import gradgen
        from {lib} import smooth_abs

        @gradgen.derive
        def f(x):
            return np.sum(smooth_abs(x) * 2.0)
    ''', tmp_path)
    assert "dx = dsmooth_abs_x * x / smooth_abs_x" in module.f.source
    assert_grad_ok(module.f, np.array([-1.0, 0.2, 3.0]))


def test_a_rule_for_a_parameter_without_gradient(tmp_path):
    module = load_source('''
        import numpy as np
        import gradgen

        def shift(x, k):
            return x + k

        @gradgen.rule(shift)
        def _(x, k, out, dout):
            return dout, None

        @gradgen.derive
        def f(x, k):
            return np.sum(shift(x, k) ** 2)
    ''', tmp_path)
    assert module.f.wrt == ("x",)
    assert_grad_ok(module.f, np.array([1.0, 2.0]), 3)


def test_unknown_function_hint_shows_how_to_register(tmp_path):
    with pytest.raises(gradgen.GradgenError) as info:
        load_source('''
            import numpy as np
            import gradgen

            def opaque(fn):
                return fn

            @opaque
            def mystery(x):
                return x

            @gradgen.derive
            def f(x):
                return np.sum(mystery(x))
        ''', tmp_path)
    assert "@gradgen.rule(mystery)" in info.value.hint


def test_a_rule_with_the_wrong_parameters_is_refused(tmp_path):
    with pytest.raises(gradgen.GradgenError, match=r"write it as def _\(x, out, dout\)"):
        load_source('''
            import numpy as np
            import gradgen

            def g(x):
                return x

            @gradgen.rule(g)
            def _(x, dout):
                return dout

            @gradgen.derive
            def f(x):
                return np.sum(g(x))
        ''', tmp_path)
