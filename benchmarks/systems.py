"""One adapter per system. ``prepare(workload, args)`` returns a ``Prepared``: a zero-argument
callable doing one gradient evaluation (forward + backward) on inputs already converted to
the system's own arrays, and a function turning its result into ``(value, [numpy grads])``
for the cross-check.

autograd and JAX run the workload's NumPy forward itself, with ``np`` rebound to their NumPy
look-alike (same code object, so the same operations in the same order); PyTorch runs the
workload's op-for-op translation. Optional systems whose package does not import are
reported as skipped, with the import error.
"""

from __future__ import annotations

import importlib
import sys
import time
import types
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np


class Unsupported(Exception):
    """The system refused or failed on this workload (the message says how)."""


@dataclass
class Prepared:
    call: Callable[[], object]
    result: Callable[[object], tuple]  # raw result -> (value, [np.ndarray, ...]) in wrt order
    compile_seconds: float | None = None


def _rebind(fn, numpy_module):
    """``fn`` with its global ``np`` bound to ``numpy_module`` (autograd.numpy, jax.numpy)."""
    namespace = dict(fn.__globals__, np=numpy_module)
    return types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)


def _numpy_result(out):
    value, grads = out
    return float(value), [np.asarray(g, dtype=np.float64) for g in grads]


# -- the two NumPy references ----------------------------------------------------------

def prepare_gradgen(wl, args):
    import gradgen
    try:
        derived = gradgen.derive(wl.forward, wrt=wl.wrt)
    except gradgen.GradgenError as err:
        raise Unsupported(f"GradgenError: {err}") from err
    vg = derived.value_and_grad
    return Prepared(lambda: vg(*args), _numpy_result)


def prepare_hand(wl, args):
    hand = wl.hand  # bound like every other system's function, no attribute lookup per call
    return Prepared(lambda: hand(*args), _numpy_result)


# -- optional frameworks ---------------------------------------------------------------

def prepare_autograd(wl, args):
    import autograd
    import autograd.numpy as anp
    vg = autograd.value_and_grad(_rebind(wl.forward, anp), wl.positions)
    return Prepared(lambda: vg(*args), _numpy_result)


def _jax_args(args):
    import jax.numpy as jnp
    return [jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in args]


def prepare_jax(wl, args):
    import jax
    import jax.numpy as jnp
    vg = jax.value_and_grad(_rebind(wl.forward, jnp), argnums=wl.positions)
    jargs = _jax_args(args)
    return Prepared(lambda: jax.block_until_ready(vg(*jargs)), _numpy_result)


def prepare_jax_jit(wl, args):
    import jax
    import jax.numpy as jnp
    vg = jax.jit(jax.value_and_grad(_rebind(wl.forward, jnp), argnums=wl.positions))
    jargs = _jax_args(args)
    start = time.perf_counter()
    jax.block_until_ready(vg(*jargs))  # trace + compile
    compile_seconds = time.perf_counter() - start
    return Prepared(lambda: jax.block_until_ready(vg(*jargs)), _numpy_result, compile_seconds)


def prepare_torch(wl, args):
    import torch
    if wl.torch_forward is None:
        raise Unsupported("no PyTorch forward for this workload")
    targs = []
    for i, a in enumerate(args):
        t = torch.from_numpy(a) if isinstance(a, np.ndarray) else torch.tensor(a, dtype=torch.float64)
        targs.append(t.requires_grad_(True) if i in wl.positions else t)
    params = [targs[i] for i in wl.positions]
    forward = wl.torch_forward

    def call():
        out = forward(*targs)
        return out, torch.autograd.grad(out, params)

    def result(out):
        value, grads = out
        return float(value.detach()), [g.numpy() for g in grads]

    return Prepared(call, result)


def prepare_tangent(wl, args):
    import tangent
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its generated code trips SyntaxWarnings
            df = tangent.grad(wl.forward, wrt=wl.positions, preserve_result=True, verbose=0)
    except Exception as err:  # tangent raises many kinds on what it does not support
        raise Unsupported(f"{type(err).__name__}: {err}") from err

    def result(out):  # (*grads, value)
        return float(out[-1]), [np.asarray(g, dtype=np.float64) for g in out[:-1]]

    return Prepared(lambda: df(*args), result)


@dataclass
class System:
    name: str
    module: str | None  # the package whose import decides availability
    prepare: Callable
    numpy_memory: bool = False  # its arrays are NumPy's, so tracemalloc sees them


SYSTEMS = [
    System("gradgen", None, prepare_gradgen, numpy_memory=True),
    System("hand NumPy", None, prepare_hand, numpy_memory=True),
    System("autograd", "autograd", prepare_autograd, numpy_memory=True),
    System("JAX eager", "jax", prepare_jax),
    System("JAX jit", "jax", prepare_jax_jit),
    System("PyTorch", "torch", prepare_torch),
    System("tangent-ad", "tangent", prepare_tangent, numpy_memory=True),
]
REFERENCE = "hand NumPy"
_DIST = {"tangent": "tangent-ad"}  # import name -> distribution name


def available_systems(threads: int):
    """(systems that import, {skipped name: reason}, {package: version})."""
    ok, skipped, versions = [], {}, {}
    for system in SYSTEMS:
        if system.module is None:
            ok.append(system)
            continue
        try:
            mod = importlib.import_module(system.module)
        except Exception as err:  # ImportError, or a broken install
            skipped[system.name] = f"`import {system.module}` failed: {type(err).__name__}: {err}"
            continue
        versions[_DIST.get(system.module, system.module)] = _version(system.module, mod)
        ok.append(system)
    if "jax" in sys.modules:
        import jax
        jax.config.update("jax_enable_x64", True)  # float64, as every other system
        jax.config.update("jax_platforms", "cpu")
    if "torch" in sys.modules:
        import torch
        torch.set_num_threads(threads)
    return ok, skipped, versions


def _version(name, mod):
    try:
        from importlib.metadata import version
        return version(_DIST.get(name, name))
    except Exception:
        return getattr(mod, "__version__", "?")
