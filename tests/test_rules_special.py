"""scipy.special functions gradgen accepts when the forward imports them (expit, logit, erf,
gammaln, logsumexp, softmax, log_softmax), in every import spelling, against float64
central differences. A refusal (GradgenError) is skipped; whatever is accepted must be right."""

from __future__ import annotations

import numpy as np
import pytest

import gradgen
from rules_support import check_fd, derive_cached, rng_for

pytest.importorskip("scipy")

SPELLINGS = {
    "from-import": ("from scipy.special import {name}\n", "{name}"),
    "from-import-as": ("from scipy.special import {name} as fn_\n", "fn_"),
    "module-alias": ("import scipy.special as sp\n", "sp.{name}"),
    "from-scipy-import-special": ("from scipy import special\n", "special.{name}"),
    "full-path": ("import scipy.special\n", "scipy.special.{name}"),
}

# (name, call tail, input flavour)
UNARY = [("expit", "", "normal"), ("logit", "", "unit01"), ("erf", "", "normal"), ("gammaln", "", "positive")]
AXIS = [
    ("logsumexp", "", "normal"), ("logsumexp", ", axis=1", "normal"), ("logsumexp", ", axis=0, keepdims=True", "normal"),
    ("logsumexp", ", axis=-1, keepdims=True", "normal"), ("logsumexp", ", axis=(0, 1)", "normal"),
    ("softmax", "", "normal"), ("softmax", ", axis=1", "normal"), ("softmax", ", axis=0", "normal"),
    ("softmax", ", axis=-1", "normal"), ("log_softmax", ", axis=1", "normal"), ("log_softmax", "", "normal"),
    ("log_softmax", ", axis=0", "normal"),
]


def _draw(label, flavour, shape):
    rng = rng_for(label)
    if flavour == "unit01":
        return rng.uniform(0.1, 0.9, shape)
    x = rng.standard_normal(shape)
    return np.abs(x) + 0.5 if flavour == "positive" else x


def _source(header, expr):
    return header + f"\n\ndef f(x):\n    return {expr}\n"


def _run(label, source, args):
    try:
        fn = derive_cached(source)
    except gradgen.GradgenError as err:
        pytest.skip("refused: " + str(err).splitlines()[0].split("error: ", 1)[-1])
    check_fd(fn, args, label=label)


def _cases():
    for name, tail, flavour in UNARY:
        for spelling in SPELLINGS:
            for shape in [(3, 4), ()]:
                yield pytest.param(name, tail, flavour, spelling, shape, "vjp",
                                   id=f"{name}-{spelling}-{'x'.join(map(str, shape)) or '0d'}")
        yield pytest.param(name, tail, flavour, "from-import", (3, 4), "sum", id=f"{name}-sum")
    for name, tail, flavour in AXIS:
        for spelling in ("from-import", "module-alias"):
            yield pytest.param(name, tail, flavour, spelling, (3, 4), "vjp",
                               id=f"{name}{tail.replace(' ', '')}-{spelling}")
        if name != "softmax":  # a softmax sums to a constant
            yield pytest.param(name, tail, flavour, "from-import", (3, 4), "sum",
                               id=f"{name}{tail.replace(' ', '')}-sum")
        if name != "logsumexp":  # same shape as x
            yield pytest.param(name, tail, flavour, "from-import", (3, 4), "weighted",
                               id=f"{name}{tail.replace(' ', '')}-weighted")


@pytest.mark.parametrize("name, tail, flavour, spelling, shape, form", list(_cases()))
def test_special_function(name, tail, flavour, spelling, shape, form):
    header, call = SPELLINGS[spelling]
    header = header.format(name=name)
    expr = f"{call.format(name=name)}(x{tail})"
    if form == "sum":
        expr = f"np.sum({expr})"
    elif form == "weighted":
        expr = f"np.sum({expr} * np.arange(12.0).reshape(3, 4))"
    label = f"{name}{tail}-{spelling}-{shape}-{form}"
    _run(label, _source(header, expr), [_draw(label, flavour, shape)])


@pytest.mark.parametrize("annotation", ['"f[3, 4]"', '"f[B, D]"'])
@pytest.mark.parametrize("expr", ["np.sum(expit(x) * x)", "np.sum(logsumexp(x, axis=1))",
                                  "np.sum(softmax(x, axis=1) * x)", "np.sum(log_softmax(x, axis=0) ** 2)",
                                  "np.sum(gammaln(x * x + 1.0))"])
def test_special_function_annotated(expr, annotation):
    header = "from scipy.special import expit, logsumexp, softmax, log_softmax, gammaln\n"
    source = header + f"\n\ndef f(x: {annotation}):\n    return {expr}\n"
    _run(expr, source, [_draw(expr, "normal", (3, 4))])


def test_expit_cross_entropy():
    header = "from scipy.special import expit\n"
    source = header + '''

def f(w, X, y):
    p = expit(X @ w)
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
'''
    rng = rng_for("expit-ce")
    _run("expit-ce", source, [rng.standard_normal(4), rng.standard_normal((6, 4)),
                              (rng.random(6) > 0.5).astype(float)])
