"""Test helpers: derive functions written as source text, and compare with central differences."""

from __future__ import annotations

import importlib.util
import itertools
import sys
import textwrap
from pathlib import Path

import numpy as np

import gradgen

_counter = itertools.count()


def load_source(source: str, directory: Path, stem: str = "fwd"):
    """Write ``source`` to a fresh module file under ``directory`` and import it."""
    name = f"gradgen_test_{stem}_{next(_counter)}"
    path = Path(directory) / f"{name}.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def derive_source(source: str, directory: Path, name: str = "f", wrt=None):
    """The derived version of function ``name`` defined in ``source``."""
    module = load_source("import numpy as np\n" + textwrap.dedent(source), directory)
    return gradgen.derive(getattr(module, name), wrt=wrt)


def assert_grad_ok(fn, *args, wrt=None, tol=1e-6):
    """Derive (if needed) and check against float64 central differences."""
    result = gradgen.check_grad(fn, *args, wrt=wrt, tol=tol)
    assert result.ok, str(result)
    return result


def rand(rng: np.random.Generator, *shape, positive=False):
    x = rng.standard_normal(shape) if shape else float(rng.standard_normal())
    return np.abs(x) + 0.5 if positive else x
