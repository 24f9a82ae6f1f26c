"""The examples run, pass their gradient checks, and their committed generated modules are current.

Regenerate the committed modules with: python examples/regenerate.py
"""

from __future__ import annotations

import ast
import builtins
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _example_names() -> list[str]:
    """Example sources, as examples/regenerate.py finds them."""
    return sorted(p.name for p in EXAMPLES.glob("*.py")
                  if not p.name.endswith("_grad.py") and p.name != "regenerate.py")


NAMES = _example_names()


def _generated(name: str) -> Path:
    return EXAMPLES / (name[:-len(".py")] + "_grad.py")


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    # the examples import gradgen from this checkout, wherever they are run from
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, **kwargs)


def test_examples_exist():
    assert len(NAMES) >= 7, NAMES


def test_no_orphan_generated_files():
    sources = {_generated(name).name for name in NAMES}
    orphans = sorted(p.name for p in EXAMPLES.glob("*_grad.py") if p.name not in sources)
    assert not orphans, f"generated modules without an example: {orphans}"


@pytest.mark.parametrize("name", NAMES)
def test_generated_module_is_up_to_date(name):
    source = f"examples/{name}"
    output = f"examples/{_generated(name).name}"
    proc = _run(["-m", "gradgen", source, "-o", output, "--check"])
    if proc.returncode == 1:
        pytest.fail(f"{output} is not what gradgen generates from {source} now "
                    f"(run: python examples/regenerate.py)\n{proc.stderr}")
    assert proc.returncode == 0, f"gradgen failed on {source}:\n{proc.stdout}{proc.stderr}"


@pytest.mark.parametrize("name", NAMES)
def test_example_runs_and_passes_its_check(name):
    proc = _run([f"examples/{name}"])
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "check passed" in proc.stdout, output
    assert "MISMATCH" not in proc.stdout, output


def _numpy_only_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level != 0 or name.split(".")[0] != "numpy":
        raise ImportError(f"generated code imports {name!r}; it may import only numpy")
    return builtins.__import__(name, globals, locals, fromlist, level)


@pytest.mark.parametrize("name", NAMES)
def test_generated_module_is_standalone(name):
    path = _generated(name)
    assert path.is_file(), f"{path.name} is missing (run: python examples/regenerate.py)"
    text = path.read_text(encoding="utf-8")
    assert "import gradgen" not in text and "from gradgen" not in text

    tree = ast.parse(text, filename=str(path))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or "").split(".")[0])
    assert imported <= {"numpy"}, f"{path.name} imports {sorted(imported - {'numpy'})}"

    # a fresh namespace whose import statement can only reach numpy
    restricted = dict(vars(builtins), __import__=_numpy_only_import)
    namespace = {"__name__": path.stem, "__builtins__": restricted}
    exec(compile(text, str(path), "exec"), namespace)
    backwards = [k for k in namespace if k.endswith("_backward")]
    assert backwards, f"{path.name} defines no <fn>_backward"
    for backward in backwards:
        stem = backward[:-len("_backward")]
        assert callable(namespace[backward])
        assert callable(namespace.get(f"{stem}_value_and_grad")), f"no {stem}_value_and_grad"
