"""'if' statements and conditional expressions whose condition is known when the code is read
(parse.py, _Parser._static_condition): only the branch taken is written out. Gradients are
checked against float64 central differences; a condition that needs the function to run is
refused with a hint."""

from __future__ import annotations

import numpy as np
import pytest

import gradgen
from gradgen.pipeline import generate
from support import assert_grad_ok, derive_source

rng = np.random.default_rng(13)


def normal(*shape):
    return rng.standard_normal(shape)


@pytest.mark.parametrize("flags, expected", [
    ("USE_BIAS = True\nACT = 'tanh'\n", "np.tanh("),
    ("USE_BIAS = False\nACT = 'relu'\n", "np.maximum("),
])
def test_module_constants_pick_the_branch(flags, expected, tmp_path):
    f = derive_source(flags + '''

def f(x, W, b):
    z = x @ W
    if USE_BIAS:
        z = z + b
    if ACT == "relu":
        h = np.maximum(z, 0.0)
    elif ACT in ("tanh", "tan_h"):
        h = np.tanh(z)
    else:
        h = z
    return np.sum(h ** 2)
''', tmp_path, wrt=["x", "W", "b"])
    assert_grad_ok(f, normal(3, 4), normal(4, 2), normal(2))
    assert expected in f.source
    assert ("z + b" in f.source) == ("USE_BIAS = True" in flags)
    # the generated module shows what it was generated for
    assert flags.splitlines()[0] in f.source and flags.splitlines()[1] in f.source


def test_the_module_keeps_the_constants_it_was_generated_for():
    """The condition's constant and what the taken branch reads are copied to the generated
    module; a constant only the branch not taken reads is not."""
    text = generate("import numpy as np\nLEAKY = False\nSLOPE = 0.1\nSCALE = 2.0\n\n\n"
                    "def f(x):\n"
                    "    h = np.maximum(x, SLOPE * x) if LEAKY else np.maximum(x, 0.0)\n"
                    "    return SCALE * np.sum(h)\n", "model.py", function="f")
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "\nLEAKY = False\n" in code and "\nSCALE = 2.0\n" in code and "SLOPE" not in code


def test_shapes_and_local_numbers_pick_the_branch(tmp_path):
    f = derive_source('''
def f(x: "f[B, 3]", w):
    n = 2
    scale = 2.0 if x.shape[1] == 3 else 1.0
    if n > 1 and not x.shape[1] < 3:
        y = np.sin(x) * w
    else:
        y = x
    return np.sum(y) * scale
''', tmp_path)
    assert_grad_ok(f, normal(4, 3), normal(3))
    assert "np.sin(x)" in f.source and "* 2.0" in f.source


def test_a_name_assigned_only_in_the_branch_not_taken_is_unbound(tmp_path):
    source = "import numpy as np\nDEBUG = False\n\n\ndef f(x):\n    if DEBUG:\n        y = x\n    return np.sum(y)\n"
    with pytest.raises(gradgen.GradgenError, match="'y' is used before it is assigned"):
        generate(source, "model.py", function="f")


@pytest.mark.parametrize("body, needle, message", [
    ("    if x.sum() > 0:\n        x = x * 2\n    return np.sum(x)\n", "if x.sum()",
     "'if' on a value known only when the function runs is not supported"),
    ("    y = x if x.sum() > 0 else -x\n    return np.sum(y)\n", "x if x.sum()",
     "a conditional expression on a value known only when the function runs"),
    ("    if x.shape[0] == 3:\n        x = x * 2\n    return np.sum(x)\n", "if x.shape",
     "'if' on a value known only when the function runs"),
])
def test_conditions_known_only_at_run_time_are_refused(body, needle, message):
    source = "import numpy as np\n\n\ndef f(x):\n" + body
    with pytest.raises(gradgen.GradgenError) as info:
        generate(source, "model.py", function="f")
    err = info.value
    assert message in err.message, str(err)
    assert err.lineno == next(i for i, t in enumerate(source.splitlines(), 1) if needle in t)
    assert "np.where" in err.hint
