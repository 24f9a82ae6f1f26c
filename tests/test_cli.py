"""``python -m gradgen`` end to end, in a subprocess, the way a user or CI runs it.

Each test works in its own tmp_path, with PYTHONPATH pointing at this checkout so
the checkout's gradgen is the one that runs (an installed copy would be shadowed).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

MODEL = '''\
import numpy as np
import gradgen

EPS = 1e-8


@gradgen.derive
def loss(W, b, x, y):
    z = x @ W + b
    h = np.tanh(z)
    e = np.exp(h - h.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    return -np.sum(y * np.log(p + EPS)) / x.shape[0]
'''

LOOP = '''\
import numpy as np
import gradgen


@gradgen.derive
def f(x):
    s = 0.0
    for row in x.T:
        s = s + row
    return np.sum(s)
'''
LOOP_LINE, LOOP_COL = 8, 5  # where 'for' starts (a loop over an expression, not a range or a name)

SYNTAX_ERROR = '''\
import numpy as np

def f(x:
    return x
'''

PLAIN = '''\
import numpy as np


def g(a, b):
    return np.sum(np.tanh(a * b))


def h(a):
    return np.sum(a ** 3)
'''


@pytest.fixture(autouse=True)
def project(tmp_path):
    """Each test's folder is a project root (gradgen shows paths relative to the nearest folder
    with pyproject.toml, setup.py, setup.cfg or .git), whatever lies above the temp folder."""
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    return tmp_path


def run(*args, cwd, stdin=None, check_rc=None):
    """Run ``python -m gradgen ARGS`` in ``cwd``; stdout and stderr as bytes and text."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
    proc = subprocess.run([sys.executable, "-m", "gradgen", *map(str, args)], cwd=cwd, env=env,
                          input=stdin, capture_output=True, timeout=120)
    proc.err = proc.stderr.decode("utf-8", "replace")
    proc.out = proc.stdout.decode("utf-8", "replace")
    if check_rc is not None:
        assert proc.returncode == check_rc, f"exit {proc.returncode}\nstdout:\n{proc.out}\nstderr:\n{proc.err}"
    return proc


def python(code: str, cwd, *, gradgen_on_path=True):
    """Run a Python snippet in ``cwd`` (where the user's files are) and return its stdout."""
    env = dict(os.environ)
    if gradgen_on_path:
        env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def function_def(module_text: str, name: str) -> ast.FunctionDef:
    tree = ast.parse(module_text)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    raise AssertionError(f"no function {name} in the generated module:\n{module_text}")


def returned_grads(module_text: str, name: str) -> list[str]:
    """The gradient expressions in ``return value, (grads...)`` of NAME_value_and_grad."""
    ret = function_def(module_text, f"{name}_value_and_grad").body[-1]
    assert isinstance(ret, ast.Return) and isinstance(ret.value, ast.Tuple)
    grads = ret.value.elts[1]
    assert isinstance(grads, ast.Tuple)
    # a gradient that could alias another array is handed out as np.copy(name)
    return [re.sub(r"^np\.copy\((\w+)\)$", r"\1", ast.unparse(g)) for g in grads.elts]


def leftovers(directory: Path) -> list[str]:
    """Temporary files an interrupted atomic write could leave behind."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".gradgen-"))


# -- printing and writing -----------------------------------------------------------


def test_prints_the_module_on_stdout(tmp_path):
    write(tmp_path, "model.py", MODEL)
    proc = run("model.py", cwd=tmp_path, check_rc=0)
    text = proc.out
    compile(text, "model_grad.py", "exec")
    assert "def loss_backward(" in text and "def loss_value_and_grad(" in text
    assert "import gradgen" not in text and "from gradgen" not in text
    assert "EPS = 1e-08" in text  # the module constant is copied, not imported from model.py
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py", "pyproject.toml"]  # wrote nothing


def test_output_file_has_the_same_bytes_as_stdout(tmp_path):
    write(tmp_path, "model.py", MODEL)
    printed = run("model.py", "-o", "model_grad.py", cwd=tmp_path, check_rc=0)
    assert printed.stdout == b""
    assert "model_grad.py" in printed.err
    on_stdout = run("model.py", cwd=tmp_path, check_rc=0).stdout
    written = (tmp_path / "model_grad.py").read_bytes()
    # the header names the command that regenerates the file, which includes -o OUT
    [command] = [line for line in written.splitlines() if b"python -m gradgen" in line]
    assert command.endswith(b"python -m gradgen model.py -o model_grad.py")
    [command_stdout] = [line for line in on_stdout.splitlines() if b"python -m gradgen" in line]
    assert command_stdout.endswith(b"python -m gradgen model.py")
    assert written == on_stdout.replace(command_stdout, command)
    assert leftovers(tmp_path) == []


def test_output_in_another_directory(tmp_path):
    write(tmp_path, "model.py", MODEL)
    (tmp_path / "gen").mkdir()
    run("model.py", "-o", Path("gen") / "model_grad.py", cwd=tmp_path, check_rc=0)
    assert (tmp_path / "gen" / "model_grad.py").exists()
    run("model.py", "--check", "-o", Path("gen") / "model_grad.py", cwd=tmp_path, check_rc=0)
    assert leftovers(tmp_path / "gen") == []


# -- --check and --diff ----------------------------------------------------------------


def test_check_passes_on_a_fresh_file(tmp_path):
    write(tmp_path, "model.py", MODEL)
    run("model.py", "-o", "model_grad.py", cwd=tmp_path, check_rc=0)
    before = (tmp_path / "model_grad.py").read_bytes()
    proc = run("model.py", "--check", "-o", "model_grad.py", cwd=tmp_path, check_rc=0)
    assert proc.stdout == b""
    assert (tmp_path / "model_grad.py").read_bytes() == before


def test_check_fails_on_a_stale_file_and_names_it(tmp_path):
    write(tmp_path, "model.py", MODEL)
    run("model.py", "-o", "model_grad.py", cwd=tmp_path, check_rc=0)
    # the forward changes; the committed backward does not
    write(tmp_path, "model.py", MODEL.replace("np.tanh(z)", "np.maximum(z, 0.0)"))
    stale = (tmp_path / "model_grad.py").read_bytes()
    proc = run("model.py", "--check", "-o", "model_grad.py", cwd=tmp_path, check_rc=1)
    assert "model_grad.py" in proc.err
    assert "stale" in proc.err
    assert (tmp_path / "model_grad.py").read_bytes() == stale  # --check writes nothing


def test_check_fails_on_a_hand_edited_file(tmp_path):
    write(tmp_path, "model.py", MODEL)
    run("model.py", "-o", "model_grad.py", cwd=tmp_path, check_rc=0)
    out = tmp_path / "model_grad.py"
    out.write_text(out.read_text(encoding="utf-8") + "# tweak\n", encoding="utf-8")
    proc = run("model.py", "--check", "-o", "model_grad.py", cwd=tmp_path, check_rc=1)
    assert "model_grad.py" in proc.err


def test_check_fails_on_a_missing_file_and_names_it(tmp_path):
    write(tmp_path, "model.py", MODEL)
    proc = run("model.py", "--check", "-o", "model_grad.py", cwd=tmp_path, check_rc=1)
    assert "model_grad.py" in proc.err
    assert "missing" in proc.err
    assert not (tmp_path / "model_grad.py").exists()


def test_diff_prints_a_unified_diff_for_a_stale_file(tmp_path):
    write(tmp_path, "model.py", MODEL)
    run("model.py", "-o", "model_grad.py", cwd=tmp_path, check_rc=0)
    write(tmp_path, "model.py", MODEL.replace("np.tanh(z)", "np.maximum(z, 0.0)"))
    stale = (tmp_path / "model_grad.py").read_bytes()
    proc = run("model.py", "--diff", "-o", "model_grad.py", cwd=tmp_path)
    assert proc.returncode in (0, 1)
    lines = proc.out.splitlines()
    assert lines[0].startswith("--- ") and "model_grad.py" in lines[0]
    assert lines[1].startswith("+++ ") and "model_grad.py" in lines[1]
    assert any(line.startswith("@@ ") for line in lines)
    removed = [line for line in lines if line.startswith("-") and not line.startswith("---")]
    added = [line for line in lines if line.startswith("+") and not line.startswith("+++")]
    assert any("np.tanh(z)" in line for line in removed)
    assert any("np.maximum(z, 0.0)" in line for line in added)
    assert (tmp_path / "model_grad.py").read_bytes() == stale  # --diff writes nothing


def test_diff_is_empty_for_a_fresh_file(tmp_path):
    write(tmp_path, "model.py", MODEL)
    run("model.py", "-o", "model_grad.py", cwd=tmp_path, check_rc=0)
    proc = run("model.py", "--diff", "-o", "model_grad.py", cwd=tmp_path, check_rc=0)
    assert proc.out == ""


def test_check_and_diff_without_o_compare_with_name_grad(tmp_path):
    write(tmp_path, "model.py", MODEL)
    proc = run("model.py", "--check", cwd=tmp_path, check_rc=1)
    assert "model_grad.py" in proc.err and "missing" in proc.err
    assert not (tmp_path / "model_grad.py").exists()
    run("model.py", "-o", "model_grad.py", cwd=tmp_path, check_rc=0)
    run("model.py", "--check", cwd=tmp_path, check_rc=0)
    assert run("model.py", "--diff", cwd=tmp_path, check_rc=0).out == ""
    # naming the generated file stands for its source, as pre-commit passes either
    run("model_grad.py", "--check", cwd=tmp_path, check_rc=0)


@pytest.mark.parametrize("flag", ["--check", "--diff"])
def test_check_and_diff_of_stdin_need_an_output_file(tmp_path, flag):
    proc = run("-", flag, cwd=tmp_path, stdin=MODEL.encode("utf-8"), check_rc=2)
    assert "-o" in proc.err


def test_write_puts_name_grad_beside_the_source(tmp_path):
    (tmp_path / "pkg").mkdir()
    write(tmp_path / "pkg", "model.py", MODEL)
    run(Path("pkg") / "model.py", "-w", cwd=tmp_path, check_rc=0)
    written = (tmp_path / "pkg" / "model_grad.py").read_text(encoding="utf-8")
    assert "def loss_backward(" in written
    # the header's command is relative to the project root, and regenerates the same file
    assert "python -m gradgen pkg/model.py -o pkg/model_grad.py" in written
    run(Path("pkg") / "model.py", "--check", "-o", Path("pkg") / "model_grad.py", cwd=tmp_path, check_rc=0)


def test_a_folder_writes_and_checks_every_derived_file(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    write(tmp_path / "pkg", "model.py", MODEL)
    write(tmp_path / "pkg" / "sub", "plain.py", PLAIN)  # nothing decorated: skipped
    write(tmp_path / "pkg" / "sub", "penalty.py", "import numpy as np\nimport gradgen\n\n\n"
          "@gradgen.derive\ndef penalty(W):\n    return 0.5 * np.sum(W ** 2)\n")
    run("pkg", "--check", cwd=tmp_path, check_rc=1)
    run("pkg", cwd=tmp_path, check_rc=0)
    made = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*_grad.py"))
    assert made == ["pkg/model_grad.py", "pkg/sub/penalty_grad.py"]
    run("pkg", "--check", cwd=tmp_path, check_rc=0)
    stale = tmp_path / "pkg" / "sub" / "penalty_grad.py"
    stale.write_text(stale.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    proc = run("pkg", "--check", cwd=tmp_path, check_rc=1)
    assert "penalty_grad.py" in proc.err and "pkg/model_grad.py" not in proc.err.replace("\\", "/")


# -- refusals and unreadable input -------------------------------------------------------


def _assert_refused(proc, tmp_path, existing: bytes | None):
    assert proc.returncode == 2, proc.err
    assert proc.stdout == b""
    out = tmp_path / "out_grad.py"
    if existing is None:
        assert not out.exists()
    else:
        assert out.read_bytes() == existing
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("existing", [None, b"# the committed module\n"], ids=["no-out", "out-exists"])
def test_for_loop_is_a_located_error_and_writes_nothing(tmp_path, existing):
    write(tmp_path, "loop.py", LOOP)
    if existing is not None:
        (tmp_path / "out_grad.py").write_bytes(existing)
    proc = run("loop.py", "-o", "out_grad.py", cwd=tmp_path)
    _assert_refused(proc, tmp_path, existing)
    first = proc.err.splitlines()[0]
    assert first.startswith(f"loop.py:{LOOP_LINE}:{LOOP_COL}: error: "), proc.err
    assert "'for' loops" in first
    assert "for row in x.T:" in proc.err  # the offending line is quoted
    assert "hint:" in proc.err
    assert "Traceback" not in proc.err


@pytest.mark.parametrize("existing", [None, b"# the committed module\n"], ids=["no-out", "out-exists"])
def test_syntax_error_is_a_located_error_and_writes_nothing(tmp_path, existing):
    write(tmp_path, "broken.py", SYNTAX_ERROR)
    if existing is not None:
        (tmp_path / "out_grad.py").write_bytes(existing)
    proc = run("broken.py", "-o", "out_grad.py", cwd=tmp_path)
    _assert_refused(proc, tmp_path, existing)
    assert re.match(r"broken\.py:3:\d+: error: syntax error", proc.err), proc.err
    assert "Traceback" not in proc.err


@pytest.mark.parametrize("existing", [None, b"# the committed module\n"], ids=["no-out", "out-exists"])
def test_non_utf8_file_is_refused_and_writes_nothing(tmp_path, existing):
    (tmp_path / "latin.py").write_bytes(
        b"import numpy as np\nimport gradgen\n# caf\xe9\n\n@gradgen.derive\ndef f(x):\n    return np.sum(x)\n")
    if existing is not None:
        (tmp_path / "out_grad.py").write_bytes(existing)
    proc = run("latin.py", "-o", "out_grad.py", cwd=tmp_path)
    _assert_refused(proc, tmp_path, existing)
    assert proc.err.startswith("latin.py:"), proc.err
    assert "error:" in proc.err and "UTF-8" in proc.err
    assert "Traceback" not in proc.err


@pytest.mark.parametrize("existing", [None, b"# the committed module\n"], ids=["no-out", "out-exists"])
def test_missing_input_file_exits_2_and_writes_nothing(tmp_path, existing):
    if existing is not None:
        (tmp_path / "out_grad.py").write_bytes(existing)
    proc = run("nowhere.py", "-o", "out_grad.py", cwd=tmp_path)
    _assert_refused(proc, tmp_path, existing)
    assert "nowhere.py" in proc.err
    assert "Traceback" not in proc.err


def test_refusal_under_check_exits_2_not_1(tmp_path):
    write(tmp_path, "loop.py", LOOP)
    (tmp_path / "out_grad.py").write_bytes(b"# committed\n")
    proc = run("loop.py", "--check", "-o", "out_grad.py", cwd=tmp_path)
    _assert_refused(proc, tmp_path, b"# committed\n")
    assert proc.err.startswith(f"loop.py:{LOOP_LINE}:{LOOP_COL}: error: ")


def test_file_without_derived_functions_is_refused(tmp_path):
    write(tmp_path, "plain.py", PLAIN)
    proc = run("plain.py", cwd=tmp_path, check_rc=2)
    assert proc.err.startswith("plain.py")
    assert "-f" in proc.err  # the hint says how to name an undecorated function


# -- stdin, -f, --wrt ------------------------------------------------------------------


def test_dash_reads_standard_input(tmp_path):
    from_stdin = run("-", cwd=tmp_path, stdin=MODEL.encode("utf-8"), check_rc=0).out
    write(tmp_path, "model.py", MODEL)
    from_file = run("model.py", cwd=tmp_path, check_rc=0).out
    compile(from_stdin, "<stdin>", "exec")
    # only the header (which names the source) may differ
    marker = "def loss_value_and_grad("
    assert marker in from_stdin
    assert from_stdin[from_stdin.index(marker):] == from_file[from_file.index(marker):]


def test_dash_reports_errors_against_stdin(tmp_path):
    proc = run("-", cwd=tmp_path, stdin=LOOP.encode("utf-8"), check_rc=2)
    assert proc.err.startswith(f"<stdin>:{LOOP_LINE}:{LOOP_COL}: error: "), proc.err


def test_f_derives_an_undecorated_function(tmp_path):
    write(tmp_path, "plain.py", PLAIN)
    text = run("plain.py", "-f", "g", cwd=tmp_path, check_rc=0).out
    assert "def g_backward(a, b" in text
    assert "h_backward" not in text  # only the function named
    assert returned_grads(text, "g") == ["da", "db"]


def test_f_picks_one_of_several_derived_functions(tmp_path):
    two = MODEL + textwrap.dedent('''

        @gradgen.derive
        def penalty(W):
            return 0.5 * np.sum(W ** 2)
    ''')
    write(tmp_path, "model.py", two)
    both = run("model.py", cwd=tmp_path, check_rc=0).out
    assert "def loss_backward(" in both and "def penalty_backward(" in both
    one = run("model.py", "-f", "penalty", cwd=tmp_path, check_rc=0).out
    assert "def penalty_backward(" in one and "loss_backward" not in one


def test_f_with_an_unknown_name_exits_2(tmp_path):
    write(tmp_path, "plain.py", PLAIN)
    proc = run("plain.py", "-f", "nope", cwd=tmp_path, check_rc=2)
    assert "nope" in proc.err


def test_wrt_selects_parameters_in_the_order_given(tmp_path):
    write(tmp_path, "model.py", MODEL)
    default = run("model.py", cwd=tmp_path, check_rc=0).out
    assert "w.r.t. (W, b, x, y)" in default
    text = run("model.py", "--wrt", "b,W", cwd=tmp_path, check_rc=0).out
    assert "loss_backward: gradients of loss w.r.t. (b, W)" in text
    assert "Gradients of loss w.r.t. (b, W), in that order." in text
    grads = returned_grads(text, "loss")
    assert len(grads) == 2
    assert grads == ["db", "dW"]
    # the backward still takes every parameter of the forward
    args = [a.arg for a in function_def(text, "loss_backward").args.args]
    assert args[:4] == ["W", "b", "x", "y"]


def test_wrt_overrides_the_decorator_and_is_checked(tmp_path):
    write(tmp_path, "model.py", MODEL.replace("@gradgen.derive", '@gradgen.derive(wrt=("W",))'))
    assert returned_grads(run("model.py", cwd=tmp_path, check_rc=0).out, "loss") == ["dW"]
    text = run("model.py", "--wrt", "x", cwd=tmp_path, check_rc=0).out
    assert returned_grads(text, "loss") == ["dx"]
    proc = run("model.py", "--wrt", "W,nope", cwd=tmp_path, check_rc=2)
    assert re.match(r"model\.py:\d+:\d+: error: .*'nope'", proc.err), proc.err


def test_version(tmp_path):
    import gradgen

    proc = run("--version", cwd=tmp_path, check_rc=0)
    assert proc.out.strip() == f"gradgen {gradgen.__version__}"


# -- the CLI reads FILE, it never runs it ---------------------------------------------------


SIDE_EFFECTS = '''\
import numpy as np
import gradgen

open("MARKER", "w").write("the CLI ran this file")
import a_module_that_does_not_exist


@gradgen.derive
def f(x):
    return np.sum(x ** 2)


def g(x):
    return np.sum(np.exp(x))


if __name__ == "__main__":
    open("MAIN_MARKER", "w").write("the CLI ran this file as __main__")
'''


@pytest.mark.parametrize("args", [
    ["effects.py"], ["effects.py", "-f", "g"], ["effects.py", "-o", "out_grad.py"],
    ["effects.py", "--check", "-o", "out_grad.py"], ["effects.py", "--diff"], ["effects.py", "-w"],
    ["effects.py", "--graph"], ["."], [".", "--check"],
], ids=["stdout", "-f", "-o", "--check", "--diff", "-w", "--graph", "folder", "folder-check"])
def test_the_file_is_never_executed(tmp_path, args):
    write(tmp_path, "effects.py", SIDE_EFFECTS)
    proc = run(*args, cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.err
    assert not (tmp_path / "MARKER").exists()
    assert not (tmp_path / "MAIN_MARKER").exists()
    assert "a_module_that_does_not_exist" not in proc.err


def test_stdin_is_never_executed(tmp_path):
    proc = run("-", cwd=tmp_path, stdin=SIDE_EFFECTS.encode("utf-8"), check_rc=0)
    assert "def f_backward(" in proc.out
    assert not (tmp_path / "MARKER").exists() and not (tmp_path / "MAIN_MARKER").exists()


# -- the generated module next to the user's file ------------------------------------------


def test_generated_module_imports_beside_the_model_and_matches(tmp_path):
    write(tmp_path, "model.py", MODEL)
    run("model.py", "-o", "model_grad.py", cwd=tmp_path, check_rc=0)
    result = python('''
        import sys
        import numpy as np

        # 1. the generated module needs NumPy only: gradgen is made unimportable
        sys.modules["gradgen"] = None
        from model_grad import loss_backward, loss_value_and_grad
        assert "gradgen" not in [m.split(".")[0] for m in sys.modules if sys.modules[m] is not None]
        del sys.modules["gradgen"]

        # 2. it agrees with the forward in model.py and with its decorator
        import model
        rng = np.random.default_rng(0)
        W = rng.standard_normal((4, 3))
        b = rng.standard_normal(3)
        x = rng.standard_normal((5, 4))
        y = np.eye(3)[rng.integers(0, 3, size=5)]
        args = [W, b, x, y]

        grads = loss_backward(*args)
        value, grads_vg = loss_value_and_grad(*args)
        assert len(grads) == 4
        assert np.isclose(value, model.loss(*args))
        for g, g_vg, g_dec in zip(grads, grads_vg, model.loss.backward(*args)):
            assert np.array_equal(g, g_vg)
            assert np.allclose(g, g_dec, rtol=1e-12, atol=1e-14)

        # 3. central differences on the user's own forward
        eps = 1e-6
        for i, g in enumerate(grads):
            num = np.zeros_like(args[i])
            for k in np.ndindex(args[i].shape):
                plus = [a.copy() for a in args]
                minus = [a.copy() for a in args]
                plus[i][k] += eps
                minus[i][k] -= eps
                num[k] = (model.loss(*plus) - model.loss(*minus)) / (2 * eps)
            err = np.max(np.abs(g - num)) / max(np.max(np.abs(num)), 1e-8)
            assert err < 1e-6, (i, err)

        # 4. seeding with 2.0 doubles every gradient
        for g, g2 in zip(grads, loss_backward(*args, 2.0)):
            assert np.allclose(2 * g, g2)
        print("ok")
    ''', tmp_path)
    assert result.strip() == "ok"


# -- awkward inputs and outputs fail cleanly (no traceback, exit 2) or are read as Python would --


def _assert_clean_failure(proc, codes=(2,)):
    assert "Traceback" not in proc.err, proc.err
    assert proc.returncode in codes, (proc.returncode, proc.err)


def test_output_into_a_missing_directory_is_a_clean_error(tmp_path):
    write(tmp_path, "model.py", MODEL)
    proc = run("model.py", "-o", Path("no_such_dir") / "model_grad.py", cwd=tmp_path)
    _assert_clean_failure(proc)
    assert "no_such_dir" in proc.err


def test_check_against_a_directory_is_a_clean_error(tmp_path):
    write(tmp_path, "model.py", MODEL)
    (tmp_path / "model_grad.py").mkdir()
    proc = run("model.py", "--check", "-o", "model_grad.py", cwd=tmp_path)
    _assert_clean_failure(proc)


def test_check_against_a_non_utf8_output_is_stale_not_a_crash(tmp_path):
    write(tmp_path, "model.py", MODEL)
    (tmp_path / "model_grad.py").write_bytes(b"\xff\xfe not a module\n")
    proc = run("model.py", "--check", "-o", "model_grad.py", cwd=tmp_path)
    _assert_clean_failure(proc, codes=(1, 2))


def test_utf8_file_with_a_byte_order_mark_is_read(tmp_path):
    (tmp_path / "model.py").write_bytes(b"\xef\xbb\xbf" + MODEL.encode("utf-8"))
    proc = run("model.py", cwd=tmp_path, check_rc=0)
    assert "def loss_backward(" in proc.out


def test_non_utf8_stdin_is_a_clean_error(tmp_path):
    proc = run("-", "-f", "f", cwd=tmp_path,
               stdin=b"import numpy as np\n# caf\xe9\ndef f(x):\n    return np.sum(x)\n")
    _assert_clean_failure(proc)
    assert "<stdin>" in proc.err


def test_o_onto_the_source_itself_is_refused(tmp_path):
    (tmp_path / "model.py").write_text(MODEL, encoding="utf-8")
    proc = run("model.py", "-o", "model.py", cwd=tmp_path, check_rc=2)
    assert "is the source file itself" in proc.err
    assert (tmp_path / "model.py").read_text(encoding="utf-8") == MODEL


def test_check_flags_a_generated_file_whose_source_lost_its_functions(tmp_path):
    (tmp_path / "model.py").write_text(MODEL, encoding="utf-8")
    run("model.py", "-w", cwd=tmp_path, check_rc=0)
    (tmp_path / "model.py").write_text(MODEL.replace("@gradgen.derive\n", ""), encoding="utf-8")
    proc = run("--check", "model.py", cwd=tmp_path, check_rc=1)
    assert "model_grad.py is stale" in proc.err and "no longer has" in proc.err


def test_a_generated_file_given_to_check_stands_for_its_source(tmp_path):
    """pre-commit passes whichever file changed: a hand-edited model_grad.py is caught too."""
    (tmp_path / "model.py").write_text(MODEL, encoding="utf-8")
    run("model.py", "-w", cwd=tmp_path, check_rc=0)
    grad = tmp_path / "model_grad.py"
    grad.write_text(grad.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    proc = run("--check", "model_grad.py", cwd=tmp_path, check_rc=1)
    assert "model_grad.py is stale" in proc.err


def _dot_graph(text):
    """Parse the DOT we emit: node statements and edges; every edge's ends must be declared."""
    nodes, edges = set(), []
    assert text.startswith("digraph gradgen {") and text.rstrip().endswith("}")
    assert text.count("{") == text.count("}")
    for line in text.splitlines():
        m = re.match(r'\s*(\w+) -> (\w+) \[label="([^"]*)"(.*)\];$', line)
        if m:
            edges.append((m.group(1), m.group(2), m.group(3), m.group(4)))
            continue
        m = re.match(r'\s*(\w+) \[label="[^"]*", .*\];$', line)
        if m:
            nodes.add(m.group(1))
    assert all(a in nodes and b in nodes for a, b, _, _ in edges)
    return nodes, edges


def test_graph_prints_forward_and_adjoint_edges_as_dot(tmp_path):
    (tmp_path / "model.py").write_text(MODEL, encoding="utf-8")
    proc = run("--graph", "model.py", cwd=tmp_path, check_rc=0)
    nodes, edges = _dot_graph(proc.out)
    forward = [e for e in edges if "color=red" not in e[3]]
    adjoint = [e for e in edges if "color=red" in e[3]]
    assert forward and adjoint
    assert {label for _, _, label, _ in adjoint} >= {"dW", "db"}
    # every adjoint edge runs against a chain of forward edges
    assert all(label.startswith("d") for _, _, label, _ in adjoint)
    assert re.search(r'\w+ \[label="W", shape=ellipse', proc.out)  # parameters by their names


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")
def test_graph_svg_renders_with_graphviz(tmp_path):
    (tmp_path / "model.py").write_text(MODEL, encoding="utf-8")
    proc = run("--graph", "svg", "model.py", cwd=tmp_path, check_rc=0)
    assert proc.out.lstrip().startswith("<?xml") and "<svg" in proc.out
    check = subprocess.run(["dot", "-Tcanon"], input=run("--graph", "model.py", cwd=tmp_path).out,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_the_cli_does_not_import_numpy():
    """It reads files and never runs them, so it has no use for NumPy: importing it took a fifth
    of a run (gradgen/__init__.py imports check_grad, which needs it, on first use)."""
    code = textwrap.dedent('''
        import runpy, sys
        sys.argv = ["gradgen", "examples/mlp.py"]
        try:
            runpy.run_module("gradgen", run_name="__main__")
        except SystemExit as exit:
            assert not exit.code, exit.code
        sys.stderr.write("numpy imported" if "numpy" in sys.modules else "no numpy")
    ''')
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.stderr.endswith("no numpy"), proc.stderr
    assert "def mse_value_and_grad(" in proc.stdout
