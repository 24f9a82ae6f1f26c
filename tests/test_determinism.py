"""Generated modules are committed and diffed, so the same input must give the same bytes.

Every run here is a separate process with its own PYTHONHASHSEED, so set and dict
iteration orders that depend on string hashes differ between the runs compared.
"""

from __future__ import annotations

import datetime
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Many names, constants, imports, helpers and ops, so any ordering that leaks from a
# set or a hash would show.
MODEL = '''\
import numpy as np
import gradgen
from numpy import exp as np_exp

EPS = 1e-8
SCALE = 0.5 * (1.0 + EPS)
OFFSET = -3.0


@gradgen.derive(wrt=("L", "W", "b"))
def parser_loss(L, words, W, b, U, y):
    n = words.shape[0]
    x = L[words].reshape(n, -1)
    z = x @ W + b
    h = np.maximum(z, 0.0)
    theta = h @ U
    e = np_exp(theta - theta.max(axis=1, keepdims=True))
    yhat = e / e.sum(axis=1, keepdims=True)
    return -np.sum(y * np.log(yhat + EPS)) / n


@gradgen.derive
def mixed(alpha, beta, gamma, delta):
    m = np.maximum(alpha, beta)
    s = np.concatenate([m, gamma], axis=0)
    t = np.stack([alpha, beta], axis=1)
    q = np.where(alpha > 0, np.sqrt(np.abs(alpha) + EPS), np.sin(beta) * np.cos(gamma[:alpha.shape[0]]))
    r = np.minimum(delta, OFFSET) + np.outer(alpha, beta).mean(axis=0)
    return SCALE * (np.mean(s ** 2) + t.min() + np.sum(q) + np.tanh(alpha).T @ beta + r.sum())
'''

HASH_SEEDS = ["0", "1", "4242", "random"]


def _env(hash_seed: str) -> dict:
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = hash_seed
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def cli(args, cwd, hash_seed: str) -> bytes:
    proc = subprocess.run([sys.executable, "-m", "gradgen", *map(str, args)], cwd=cwd,
                          env=_env(hash_seed), capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def decorator_source(directory: Path, hash_seed: str) -> bytes:
    code = "import sys, model; sys.stdout.write(model.parser_loss.source + model.mixed.source)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=directory, env=_env(hash_seed),
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def assert_no_environment_leaks(text: str, *paths: Path):
    """No absolute path, user directory or time of generation in the output."""
    for path in paths:
        for form in {str(path), str(path.resolve()), path.as_posix()}:
            assert form not in text, f"the output contains the path {form}"
    for directory in {os.getcwd(), str(Path.home()), str(REPO)}:
        assert directory not in text, f"the output contains the path {directory}"
    today = datetime.date.today()
    for stamp in (str(today.year), today.isoformat(), today.strftime("%d/%m"), today.strftime("%b %d")):
        assert stamp not in text, f"the output contains something like a date: {stamp!r}"
    assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", text), "a date"
    assert not re.search(r"\b\d{2}:\d{2}:\d{2}\b", text), "a time of day"
    assert not re.search(r"/tmp/|/home/|/root/|/Users/|/var/|[A-Za-z]:\\\\", text), "a path"


def make_project(directory: Path):
    """gradgen shows paths relative to the nearest folder with pyproject.toml (or setup.py,
    setup.cfg, .git): make ``directory`` that folder, whatever lies above the temp folder."""
    (directory / "pyproject.toml").write_text("", encoding="utf-8")


@pytest.fixture
def model(tmp_path):
    make_project(tmp_path)
    path = tmp_path / "model.py"
    path.write_text(MODEL, encoding="utf-8")
    return path


def test_same_file_same_bytes_across_processes_and_hash_seeds(model):
    outputs = [cli(["model.py"], model.parent, seed) for seed in HASH_SEEDS]
    assert outputs[0], "nothing was generated"
    for seed, out in zip(HASH_SEEDS[1:], outputs[1:]):
        assert out == outputs[0], f"PYTHONHASHSEED={seed} changed the output"


def test_written_file_is_identical_across_processes(model):
    texts = []
    for seed in HASH_SEEDS[:2]:
        out = model.parent / "model_grad.py"
        if out.exists():
            out.unlink()
        cli(["model.py", "-o", out.name], model.parent, seed)
        texts.append(out.read_bytes())
    assert texts[0] == texts[1]
    # and --check in a third process agrees that the file is up to date
    proc = subprocess.run([sys.executable, "-m", "gradgen", "model.py", "--check", "-o", "model_grad.py"],
                          cwd=model.parent, env=_env(HASH_SEEDS[2]), capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()


def test_no_absolute_path_or_timestamp_in_the_output(model, tmp_path):
    # give the file by its absolute path and write to an absolute path: neither may leak
    absolute_out = tmp_path / "out" / "model_grad.py"
    absolute_out.parent.mkdir()
    printed = cli([model.resolve()], "/", "0").decode()
    cli([model.resolve(), "-o", absolute_out], "/", "0")
    written = absolute_out.read_text(encoding="utf-8")
    for text in (printed, written):
        assert "model.py" in text  # the source is named, by its base name only
        assert_no_environment_leaks(text, tmp_path, model, absolute_out)


def test_output_does_not_depend_on_where_the_file_lives(tmp_path):
    outputs = []
    for i, where in enumerate(["a", "deeper/and/deeper"]):
        directory = tmp_path / where
        directory.mkdir(parents=True)
        make_project(directory)
        (directory / "model.py").write_text(MODEL, encoding="utf-8")
        outputs.append(cli([directory / "model.py"], tmp_path, HASH_SEEDS[i]))
    assert outputs[0] == outputs[1]


def test_decorator_source_is_deterministic_and_has_no_path(model):
    sources = [decorator_source(model.parent, seed) for seed in HASH_SEEDS[:3]]
    assert sources[0]
    assert sources[1] == sources[0] and sources[2] == sources[0]
    assert_no_environment_leaks(sources[0].decode(), model.parent, model)


def test_repeated_generation_in_one_process_is_stable(model):
    code = textwrap.dedent('''
        import sys
        import gradgen
        import model
        first = model.mixed.source
        for _ in range(3):
            assert gradgen.derive(model.mixed.forward).source == first
        sys.stdout.write(first)
    ''')
    proc = subprocess.run([sys.executable, "-c", code], cwd=model.parent, env=_env("7"),
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"def mixed_backward(" in proc.stdout


def test_generation_leaves_the_parsed_module_as_it_was():
    """The decorator parses a module once and reuses the tree for each derived function in it
    (api._parsed_module), which is only right while no stage changes the tree or the scope."""
    import ast
    import copy

    from gradgen.pipeline import build_unit, derived_functions, module_text, parse_source

    ctx, tree, scope = parse_source(MODEL, "model.py")
    tree_before, scope_before = ast.dump(tree, include_attributes=True), copy.deepcopy(scope)
    texts = []
    for _ in range(2):
        units = [build_unit(ctx, scope, spec.node, spec.wrt, tree=tree) for spec in derived_functions(ctx, tree)]
        texts.append(module_text(units, "model.py"))
    assert texts[0] == texts[1]
    assert ast.dump(tree, include_attributes=True) == tree_before
    assert ast.dump(ast.Module(body=list(scope.bindings.values()), type_ignores=[])) == \
        ast.dump(ast.Module(body=list(scope_before.bindings.values()), type_ignores=[]))
    assert (scope.numpy_aliases, scope.numpy_names) == (scope_before.numpy_aliases, scope_before.numpy_names)
