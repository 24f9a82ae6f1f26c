"""Shared machinery for tests/test_rules_*.py: forwards written as source text, random
arguments from readable specs, and an independent float64 central-difference check.

The check deliberately does not use gradgen.check_grad: it perturbs every entry of every
wrt argument itself (Python floats stay Python floats, 0-d arrays stay 0-d arrays), so a
bug in check_grad cannot hide a wrong gradient. For an array result it checks the
vector-Jacobian product against the central differences of np.sum(seed * f(...)).
"""

from __future__ import annotations

import textwrap
import zlib
from dataclasses import dataclass, field

import numpy as np

from support import derive_source

EPS = 1e-6
TOL = 1e-6


# -- argument specs ------------------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    """How to draw one argument: kind normal | positive | signed | unit | gt1 | wellcond (arrays),
    pyfloat:<one of those> (a Python float), const (``value`` as given)."""

    kind: str
    shape: tuple = ()
    value: object = None

    def draw(self, rng):
        if self.kind == "const":
            return np.array(self.value, copy=True) if isinstance(self.value, np.ndarray) else self.value
        if self.kind.startswith("pyfloat:"):
            return float(_draw(rng, self.kind[len("pyfloat:"):], ()))
        return np.asarray(_draw(rng, self.kind, self.shape), dtype=np.float64)


def _draw(rng, kind, shape):
    x = rng.standard_normal(shape)
    if kind == "positive":
        return np.abs(x) + 0.5
    if kind == "signed":  # away from 0, both signs
        return np.where(x < 0, -1.0, 1.0) * (np.abs(x) + 0.5)
    if kind == "unit":  # inside (-0.8, 0.8): arcsin, arccos, arctanh, tan
        return rng.uniform(-0.8, 0.8, shape)
    if kind == "gt1":  # above 1.5: arccosh
        return np.abs(x) + 1.5
    if kind == "wellcond":  # square matrices (in the last two axes) far from singular
        n = shape[-1]
        return x + 2.0 * n * np.eye(n)
    return x


def N(*shape):
    """Standard normal float64 array (0-d when no shape)."""
    return Spec("normal", tuple(shape))


def P(*shape):
    """Positive float64 array, entries >= 0.5 (for log, sqrt, division, powers)."""
    return Spec("positive", tuple(shape))


def S(*shape):
    """Float64 array with entries of both signs and |x| >= 0.5 (away from kinks at 0)."""
    return Spec("signed", tuple(shape))


def U(*shape):
    """Entries uniform in (-0.8, 0.8)."""
    return Spec("unit", tuple(shape))


def G1(*shape):
    """Entries above 1.5."""
    return Spec("gt1", tuple(shape))


def WC(*shape):
    """Well-conditioned square matrices (stacks of them): normal + 2n I."""
    return Spec("wellcond", tuple(shape))


FLOAT = Spec("pyfloat:normal")      # a Python float
FLOAT_POS = Spec("pyfloat:positive")
FLOAT_SIGNED = Spec("pyfloat:signed")


def K(value):
    """A fixed argument (index arrays, masks, ints), passed as given."""
    return Spec("const", value=value)


def scalar_spec(kind: str, flavour: str = "normal") -> Spec:
    """'f' -> Python float, '0d' -> 0-d float64 array."""
    if kind == "f":
        return Spec("pyfloat:" + flavour)
    return Spec(flavour, ())


def spec_for(shape, flavour="normal") -> Spec:
    """shape tuple -> array spec; 'f' -> Python float; '0d' -> 0-d array."""
    if isinstance(shape, str):
        return scalar_spec(shape, flavour)
    return Spec(flavour, tuple(shape))


def shape_label(shape) -> str:
    if isinstance(shape, str):
        return {"f": "float", "0d": "0d"}[shape]
    return "x".join(map(str, shape)) if shape else "0d"


def rng_for(label: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(label.encode()))


def draw_args(label: str, specs) -> list:
    rng = rng_for(label)
    return [s.draw(rng) for s in specs]


# -- forwards as source -----------------------------------------------------------------------

def fsrc(params: str, body: str) -> str:
    """``def f(params):`` with ``body``; a body without 'return' is the returned expression."""
    body = textwrap.dedent(body).strip("\n")
    if "return" not in body:
        body = f"return {body}"
    return f"def f({params}):\n" + textwrap.indent(body, "    ") + "\n"


@dataclass
class Case:
    id: str
    params: str
    body: str
    specs: list = field(default_factory=list)
    wrt: tuple | None = None
    tol: float = TOL
    annot: str | None = None  # None | "named" | "literal" | "partial": shape annotations on params

    @property
    def source(self) -> str:
        return fsrc(self.params, self.body)

    def source_for(self, args) -> str:
        if self.annot is None:
            return self.source
        return fsrc(annotate_params(self.params, args, self.annot), self.body)


def case(id, params, body, *specs, wrt=None, tol=TOL):
    import pytest
    return pytest.param(Case(id, params, body, list(specs), wrt, tol), id=id)


# -- shape annotations ------------------------------------------------------------------------

ANNOTATION_MODES = ("named", "literal", "partial")
_NAMES = {2: "P", 3: "Q", 4: "R", 5: "S", 6: "T", 7: "U", 8: "V", 9: "Y", 12: "W"}


def annotation_for(arg, mode: str) -> str:
    """A truthful annotation of ``arg``: "f[Q, R]" (named dims, 1 stays 1), "f[3, 4]", float, int."""
    if isinstance(arg, bool):
        return "bool"
    if isinstance(arg, int):
        return "int"
    if isinstance(arg, float) and not isinstance(arg, np.ndarray):
        return "float"
    arr = np.asarray(arg)
    kind = {"f": "f", "i": "i", "u": "i", "b": "b"}[arr.dtype.kind]
    dims = [str(n) if mode == "literal" or n == 1 else _NAMES.get(n, f"D{n}") for n in arr.shape]
    return f'"{kind}[{", ".join(dims)}]"'


def annotate_params(params: str, args, mode: str) -> str:
    out = []
    for k, part in enumerate(p.strip() for p in params.split(",")):
        name, eq, default = (s.strip() for s in part.partition("="))
        text = name
        if k < len(args) and not (mode == "partial" and k % 2 == 1):
            text += f": {annotation_for(args[k], mode)}"
        if eq:
            text += f" = {default}" if ":" in text else f"={default}"
        out.append(text)
    return ", ".join(out)


def annotated(params_list, *, keep=lambda c: not c.id.endswith("-loss"), modes=ANNOTATION_MODES,
              share=1.0):
    """The same cases again with shape annotations on the parameters (one mode per case).

    ``share`` < 1 keeps that fraction of the cases, chosen by a hash of the id (so the same
    ones every run): annotated forwards are derived one by one, which is what costs time.
    """
    import pytest
    for p in params_list:
        c = p.values[0]
        if not keep(c) or zlib.crc32(("share:" + c.id).encode()) % 1000 >= share * 1000:
            continue
        mode = modes[zlib.crc32(c.id.encode()) % len(modes)]
        new = Case(c.id, c.params, c.body, list(c.specs), c.wrt, c.tol, mode)
        yield pytest.param(new, id=f"{c.id}-annot:{mode}")


def derive(tmp_path, params_or_source, body=None, wrt=None):
    source = params_or_source if body is None else fsrc(params_or_source, body)
    return derive_source(source, tmp_path, wrt=wrt)


_CACHE: dict = {}
_CACHE_DIR = None


def derive_cached(source: str, wrt=None):
    """derive_source, once per (source, wrt) per session: the same forward derived for many
    argument shapes, as a user would use it."""
    global _CACHE_DIR
    key = (source, wrt)
    if key not in _CACHE:
        if _CACHE_DIR is None:
            import atexit
            import shutil
            import tempfile
            from pathlib import Path
            _CACHE_DIR = Path(tempfile.mkdtemp(prefix="gradgen_rules_"))
            atexit.register(shutil.rmtree, _CACHE_DIR, True)
        try:
            _CACHE[key] = derive_source(source, _CACHE_DIR, wrt=wrt)
        except Exception as err:  # remember refusals too, and raise them for every case
            _CACHE[key] = err
    fn = _CACHE[key]
    if isinstance(fn, Exception):
        raise fn
    return fn


def run_case(c: Case, tmp_path=None, *, allow_refusal=False):
    """Derive the case's forward and check it. ``allow_refusal``: a GradgenError (gradgen
    declining the construct) skips the case instead of failing it; what is accepted must
    still be right."""
    args = draw_args(c.id, c.specs)
    try:
        fn = derive_cached(c.source_for(args), c.wrt)
    except Exception as err:
        import gradgen
        import pytest
        if allow_refusal and isinstance(err, gradgen.GradgenError):
            pytest.skip("refused: " + str(err).splitlines()[0].split("error: ", 1)[-1])
        raise
    check_fd(fn, args, tol=c.tol, label=c.id + (f" [annotated: {c.annot}]" if c.annot else ""))
    return fn


# -- the check ----------------------------------------------------------------------------------

def _param_names(fn):
    code = fn.forward.__code__
    return list(code.co_varnames[:code.co_argcount])


def _copy_arg(x):
    return np.array(x, copy=True) if isinstance(x, np.ndarray) else x


def _objective(fn, args, seed):
    out = np.asarray(fn.forward(*args), dtype=np.float64)
    if seed is None:
        assert out.ndim == 0
        return float(out)
    return float(np.sum(seed * out))


def numeric_grad(fn, args, i, seed, eps=EPS):
    """Central differences of the (seeded) objective w.r.t. args[i]."""
    x = args[i]
    args = list(args)
    if not isinstance(x, np.ndarray):  # a Python scalar
        x = float(x)
        args[i] = x + eps
        plus = _objective(fn, args, seed)
        args[i] = x - eps
        minus = _objective(fn, args, seed)
        return np.asarray((plus - minus) / (2 * eps))
    base = np.array(x, dtype=np.float64, copy=True)
    num = np.zeros(base.shape)
    for k in range(base.size):
        pert = base.copy()
        pert.reshape(-1)[k] += eps
        args[i] = pert
        plus = _objective(fn, args, seed)
        pert = base.copy()
        pert.reshape(-1)[k] -= eps
        args[i] = pert
        minus = _objective(fn, args, seed)
        num.reshape(-1)[k] = (plus - minus) / (2 * eps)
    return num


def rel_error(analytic, numeric) -> float:
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    scale = max(np.max(np.abs(numeric), initial=0.0), np.max(np.abs(analytic), initial=0.0), 1e-8)
    return float(np.max(np.abs(analytic - numeric), initial=0.0) / scale)


def make_seed(fn, args, label=""):
    out = fn.forward(*[_copy_arg(a) for a in args])
    if np.ndim(out) == 0:
        return None
    return rng_for("seed:" + label).standard_normal(np.shape(out))


def check_fd(fn, args, *, tol=TOL, label="", seed="auto"):
    """Assert fn.backward matches float64 central differences for every wrt argument.

    Also asserts: backward returns a tuple in wrt order with each gradient shaped like its
    argument, it does not mutate its arguments or the seed, and value_and_grad returns the
    forward's value and the same gradients.
    """
    names = _param_names(fn)
    wrt = fn.wrt
    if seed == "auto":
        seed = make_seed(fn, args, label)
    kwargs = {} if seed is None else {fn.seed_name: seed}
    before = [_copy_arg(a) for a in args]
    seed_before = None if seed is None else seed.copy()
    grads = fn.backward(*args, **kwargs)
    assert isinstance(grads, tuple), f"backward returned {type(grads).__name__}, not a tuple"
    assert len(grads) == len(wrt), (len(grads), wrt)
    for a, b in zip(args, before):
        np.testing.assert_array_equal(a, b, err_msg="backward mutated an argument")
    if seed is not None:
        np.testing.assert_array_equal(seed, seed_before, err_msg="backward mutated the seed")
    problems = []
    for name, grad in zip(wrt, grads):
        i = names.index(name)
        if np.shape(grad) != np.shape(args[i]):
            problems.append(f"d{name}: shape {np.shape(grad)}, expected {np.shape(args[i])}")
            continue
        num = numeric_grad(fn, args, i, seed)
        err = rel_error(grad, num)
        if not err <= tol:
            problems.append(f"d{name}: relative error {err:.3e} > {tol:g}\n"
                            f"  analytic = {np.array2string(np.asarray(grad), precision=5)}\n"
                            f"  numeric  = {np.array2string(num, precision=5)}")
    if problems:
        shapes = ", ".join(f"{n}: {np.shape(a)}{'' if isinstance(a, np.ndarray) else ' ' + type(a).__name__}"
                           for n, a in zip(names, args))
        raise AssertionError(f"wrong gradient for {label or fn.__name__} ({shapes}, seed "
                             f"{'None' if seed is None else np.shape(seed)})\n" + "\n".join(problems)
                             + "\n--- generated ---\n" + fn.source)
    value, grads2 = fn.value_and_grad(*args, **kwargs)
    expected = fn.forward(*args)
    np.testing.assert_allclose(np.asarray(value, dtype=np.float64), np.asarray(expected, dtype=np.float64),
                               rtol=1e-12, atol=1e-12, err_msg="value_and_grad value != forward")
    assert np.shape(value) == np.shape(expected)
    assert isinstance(grads2, tuple) and len(grads2) == len(grads)
    for g1, g2 in zip(grads, grads2):
        np.testing.assert_allclose(np.asarray(g2, dtype=np.float64), np.asarray(g1, dtype=np.float64),
                                   rtol=1e-12, atol=1e-12)
    return grads
