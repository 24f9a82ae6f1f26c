"""User rules (gradgen.rule) inlined into generated backwards, against float64 central
differences: one- and two-parameter rules, template rules, keyword calls, nesting, rule
globals that a forward local shadows, and parameters named like the rule's own names."""

from __future__ import annotations

import pytest

from rules_support import check_fd, rng_for
from support import load_source

MODULE = '''
import numpy as np
import gradgen

ALPHA = 2.0


def softplus(x):
    return np.log1p(np.exp(x))


@gradgen.rule(softplus)
def _(x, out, dout):
    return dout / (1 + np.exp(-x))


def scaled(x):
    return ALPHA * x


@gradgen.rule(scaled)
def _(x, out, dout):
    return dout * ALPHA


def mul2(a, b):
    return a * b


@gradgen.rule(mul2)
def _(a, b, out, dout):
    return dout * b, dout * a


def cube(x):
    return x ** 3


@gradgen.rule(cube)
def _(x, out, dout):
    return "{{ dout }} * 3 * {{ x }} ** 2"


def first_only(a, b):
    return a * np.sign(b)


@gradgen.rule(first_only)
def _(a, b, out, dout):
    return dout * np.sign(b), None


@gradgen.derive
def plain(x):
    return np.sum(softplus(x) * 2.0)


@gradgen.derive
def global_shadowed_by_local(x):
    ALPHA = x * 3.0
    return np.sum(scaled(ALPHA) * ALPHA)


@gradgen.derive
def two_parameters_broadcast(a, b):
    return np.sum(np.tanh(mul2(a, b)))


@gradgen.derive
def nested_and_reused(x):
    return np.sum(softplus(softplus(x)) + softplus(x * 2))


@gradgen.derive
def keyword_call(x, y):
    return np.sum(mul2(b=x, a=y) ** 2)


@gradgen.derive
def template_rule(x):
    return np.sum(cube(x + 1.0) * x)


@gradgen.derive
def parameters_named_out_and_dout(out, dout):
    return np.sum(mul2(out, dout) * out)


@gradgen.derive
def rule_on_an_indexed_value(x):
    return np.sum(softplus(x[0]) * x)


@gradgen.derive(wrt=("a",))
def rule_with_no_gradient_for_one_parameter(a, b):
    return np.sum(first_only(a, b) ** 2)
'''

CASES = {
    "plain": [(4,)],
    "global_shadowed_by_local": [(4,)],
    "two_parameters_broadcast": [(3, 4), (4,)],
    "nested_and_reused": [(4,)],
    "keyword_call": [(3, 4), (4,)],
    "template_rule": [(4,)],
    "parameters_named_out_and_dout": [(4,), (4,)],
    "rule_on_an_indexed_value": [(3, 4)],
    "rule_with_no_gradient_for_one_parameter": [(3, 4), (4,)],
}


@pytest.fixture(scope="module")
def module(tmp_path_factory):
    return load_source(MODULE, tmp_path_factory.mktemp("user_rules"), stem="rules")


@pytest.mark.parametrize("name", list(CASES))
def test_user_rule(module, name):
    rng = rng_for("user:" + name)
    args = [rng.standard_normal(shape) for shape in CASES[name]]
    check_fd(getattr(module, name), args, label=name)
