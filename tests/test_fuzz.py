"""The differential fuzzer (gradgen/fuzz.py) in CI, and the bugs it found as regression tests.

- ``test_fuzz_campaign``: a bounded, seeded run (a few hundred random programs, unannotated
  and annotated) must have zero failures: no wrong gradient, no crash other than GradgenError.
- ``test_oracle_*``: the fuzzer's own oracle catches a planted wrong gradient and refuses
  inputs sitting on a kink, so a green campaign means something.
- ``test_regression_*``: each failure the fuzzer found, minimized by hand to a forward and
  inputs. They fail until gradgen is fixed; they are deliberately not xfail.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("hypothesis")

import gradgen  # noqa: E402
from gradgen import fuzz  # noqa: E402
from support import derive_source  # noqa: E402

# -- the campaign ---------------------------------------------------------------------------

CAMPAIGN = [  # (annotated, extended grammar, seed, programs): 10-15 s each on one core
    (False, True, 20240, 300),
    (True, True, 20241, 300),
    (False, False, 20242, 150),
]


@pytest.mark.parametrize("annotated, extended, seed, count", CAMPAIGN,
                         ids=["unannotated", "annotated", "basic-grammar"])
def test_fuzz_campaign(annotated, extended, seed, count):
    summary = fuzz.run_campaign(count, seed=seed, annotated=annotated, extended=extended)
    assert summary.programs == count
    assert summary.invalid == 0, "the fuzzer wrote programs that do not run:\n\n" + \
        "\n\n".join(fuzz.describe(o, generated=False) for o in summary.invalids[:3])
    # most programs must get through, or the campaign tests little
    assert summary.ok >= 0.8 * count, summary.counts() + f"\nrefusals: {summary.refusals.most_common(5)}"
    if summary.failures:
        shown = [fuzz.describe(fuzz.minimize(o)) for o in summary.failures[:3]]
        pytest.fail(f"{summary.counts()}\n\n" + "\n\n".join(shown), pytrace=False)


def test_campaign_is_reproducible():
    one = [o.program.source for o in _outcomes(12, seed=7)]
    two = [o.program.source for o in _outcomes(12, seed=7)]
    assert one == two
    assert len(set(one)) == len(one)  # and the programs differ from each other


def _outcomes(count, seed, annotated=False):
    seen = []
    fuzz.run_campaign(count, seed=seed, annotated=annotated, on_outcome=seen.append)
    return seen


def test_programs_strategy_draws_valid_programs():
    from hypothesis import HealthCheck, given, settings

    seen = []

    @settings(max_examples=15, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(fuzz.programs(annotated=True, shrinkable=True))
    def check(prog):
        compile(prog.source, "<fuzz>", "exec")
        compile(prog.check_source, "<fuzz check>", "exec")
        seen.append(prog)

    check()
    assert seen


# -- the oracle catches what it should ------------------------------------------------------


def test_oracle_catches_a_wrong_gradient(monkeypatch):
    """A backward off by 1% is reported as a gradient mismatch."""
    real = gradgen.derive

    def off_by_one_percent(fn, **kwargs):
        derived = real(fn, **kwargs)
        backward, value_and_grad = derived.backward, derived.value_and_grad
        derived.backward = lambda *a, **k: tuple(g * 1.01 for g in backward(*a, **k))

        def vg(*a, **k):
            value, grads = value_and_grad(*a, **k)
            return value, tuple(g * 1.01 for g in grads)
        derived.value_and_grad = vg
        return derived

    monkeypatch.setattr(gradgen, "derive", off_by_one_percent)
    summary = fuzz.run_campaign(6, seed=3, engine="random")
    assert summary.failures, summary.counts()
    # the CLI module (not patched) now disagrees with backward, or central differences disagree
    assert {o.category for o in summary.failures} <= {
        "backward differs from value_and_grad", "CLI module backward differs from value_and_grad",
        "gradient mismatch"}


def test_oracle_rejects_inputs_on_a_kink():
    margins = fuzz._Margins()
    with pytest.raises(fuzz._Reject):
        margins.abs(np.array([1.0, 1e-5]))
    with pytest.raises(fuzz._Reject):
        margins.red(np.array([[1.0, 1.0 + 1e-6], [0.0, 2.0]]), "max", 1, False)
    with pytest.raises(fuzz._Reject):
        margins.log(np.array([1e-3]))
    # a structural tie (broadcast copies of one entry) is smooth and is kept
    x = np.broadcast_to(np.array([[1.0], [2.0]]), (2, 3))
    assert np.array_equal(margins.red(x, "max", 1, False), [1.0, 2.0])
    assert np.array_equal(margins.mm(np.maximum, x, x), x)
    # but a clip bound met exactly is not: there the gradient goes to neither (the convention),
    # while a two-sided difference sees 1/2 (seed 96 drew np.clip(np.maximum(t, 0.5), -0.5, 0.5))
    with pytest.raises(fuzz._Reject):
        margins.clip(np.array([0.5, 0.1]), -0.5, 0.5)


def test_oracle_rejects_ties_in_sort_and_fabs_and_heaviside_near_zero():
    """np.sort's kinks are ties (where two entries swap places), np.fabs's and np.heaviside's
    are at 0; a structural tie (broadcast copies of one entry) is smooth and is kept."""
    margins = fuzz._Margins()
    with pytest.raises(fuzz._Reject):
        margins.sort(np.array([[3.0, 1.0, 1.0 + 1e-5]]), -1)
    with pytest.raises(fuzz._Reject):
        margins.sort(np.array([[1.0, 2.0], [1.0 + 1e-5, 0.0]]), 0)
    with pytest.raises(fuzz._Reject):
        margins.sort(np.array([[1.0, 2.0], [2.0 + 1e-5, 0.0]]), None)  # flattened: 2.0 and 2.00001
    assert np.array_equal(margins.sort(np.array([[1.0, 2.0], [1.5, 0.0]]), 0), [[1.0, 0.0], [1.5, 2.0]])
    x = np.broadcast_to(np.array([[2.0], [1.0]]), (2, 3))
    assert np.array_equal(margins.sort(x, None), [1.0, 1.0, 1.0, 2.0, 2.0, 2.0])
    with pytest.raises(fuzz._Reject):
        fuzz._Margins(strict=True).sort(np.array([2.0, 2.0]), -1)  # integer inputs: a coincidence
    with pytest.raises(fuzz._Reject):
        margins.fabs(np.array([1.0, -1e-5]))
    with pytest.raises(fuzz._Reject):
        margins.heaviside(np.array([1e-5, 2.0]), 0.5)
    assert np.array_equal(margins.heaviside(np.array([-1.0, 0.5]), 0.5), [0.0, 1.0])


_NEWER = ["inner", "vdot", "diff", "sort", "average", "logaddexp2", "deg2rad", "radians", "rad2deg",
          "degrees", "fabs", "fliplr", "flipud", "asarray", "array", "asanyarray", "ascontiguousarray",
          "dstack", "column_stack", "full_like", "heaviside"]


@pytest.mark.parametrize("annotated", [False, True], ids=["unannotated", "annotated"])
def test_extended_grammar_writes_the_newer_functions(annotated):
    """Every function of the newer surface (np.inner ... np.heaviside) turns up in the extended
    grammar's programs, none in the basic grammar's."""
    import re

    def calls(extended, count):
        found = set()
        for i in range(count):
            prog = fuzz.make_program(fuzz.RandomChooser(5 * 1_000_003 + i), annotated=annotated,
                                     extended=extended)
            source = re.sub(r"\b(?:numpy|onp|N_)\.", "np.", prog.source)
            found |= {fn for fn in _NEWER if f"np.{fn}(" in source}
        return found

    assert calls(True, 1500) == set(_NEWER)
    assert calls(False, 300) == set()


def _forms(source):
    """The helper-function and loop forms a program's module uses (read from its AST)."""
    import ast

    tree = ast.parse(source)
    defs = {d.name: d for d in tree.body if isinstance(d, ast.FunctionDef)}
    f = defs.pop("f")
    found = set()

    def calls(node):
        return [c for c in ast.walk(node) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
                and c.func.id in defs]

    if defs:
        found.add("helper")
    f_names = {a.arg for a in f.args.args} | {n.id for n in ast.walk(f) if isinstance(n, ast.Name)}
    for name, d in defs.items():
        params = [a.arg for a in d.args.args]
        if set(params) & (f_names - {a.id for c in calls(f) for a in c.args if isinstance(a, ast.Name)}):
            found.add("helper parameter named like another name of f")
        if d.args.defaults:
            found.add("parameter with a default")
        if calls(d):
            found.add("helper calling a helper")
        if any(isinstance(n, ast.For) for n in ast.walk(d)):
            found.add("loop in a helper")
    all_calls = calls(tree)
    if len({id(c) for c in all_calls}) > len({c.func.id for c in all_calls}):
        found.add("a helper called twice")
    for c in all_calls:
        d = defs[c.func.id]
        if c.keywords:
            found.add("keyword argument")
        if len(c.args) + len(c.keywords) < len(d.args.args):
            found.add("default left out")
        given = set(p.arg for p in d.args.args[:len(c.args)]) | {k.arg for k in c.keywords}
        if d.args.defaults and given & {a.arg for a in d.args.args[len(d.args.args) - len(d.args.defaults):]}:
            found.add("default given")
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple):
            if isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name) and \
                    node.value.func.id in defs:
                found.add("several results unpacked")
            if isinstance(node.value, ast.Tuple):
                found.add("parallel assignment")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Call) and \
                isinstance(node.value.func, ast.Name) and node.value.func.id in defs:
            found.add("one result")
        if not isinstance(node, ast.For):
            continue
        found.add("loop in f" if node in list(ast.walk(f)) else "loop")
        var, args = node.target.id, node.iter.args
        if calls(node):
            found.add("loop calling a helper")
        if len(args) == 1 and isinstance(args[0], ast.Constant):
            found.add("range(k)")
        elif len(args) == 1 and isinstance(args[0], ast.Name):
            found.add("range(CONSTANT)" if args[0].id.isupper() else "range(n), n a local number")
        elif len(args) == 1:
            found.add("range(x.shape[0])")
        elif len(args) == 2:
            found.add("range(a, b)")
        elif ast.literal_eval(args[2]) < 0:
            found.add("range with a negative step")
        for sub in ast.walk(node):
            if isinstance(sub, ast.Subscript):
                text = ast.unparse(sub.slice)
                if text == var or text.endswith(", " + var):
                    found.add("x[i]")
                if f"{var}:{var} + 2" in text:
                    found.add("x[i:i + 2]")
        after = f.body[f.body.index(node) + 1:] if node in f.body else []
        if any(isinstance(n, ast.Name) and n.id == var for stmt in after for n in ast.walk(stmt)):
            found.add("loop variable read after the loop")
    return found


_FORMS = {"helper", "one result", "several results unpacked", "keyword argument", "parameter with a default",
          "default left out", "default given", "helper calling a helper", "a helper called twice",
          "helper parameter named like another name of f", "loop in f", "loop in a helper",
          "loop calling a helper", "range(k)", "range(CONSTANT)", "range(n), n a local number", "range(a, b)",
          "range with a negative step", "x[i]", "x[i:i + 2]", "loop variable read after the loop",
          "parallel assignment"}


@pytest.mark.parametrize("annotated", [False, True], ids=["unannotated", "annotated"])
def test_extended_grammar_writes_helpers_and_loops(annotated):
    """The extended grammar calls functions of the module (several results, keywords, defaults,
    nesting, a second call) and loops over range(...) in every form gradgen writes out; a
    modest share of programs does, and the basic grammar never does."""
    found, helpers, loops = set(), 0, 0
    for i in range(800):
        prog = fuzz.make_program(fuzz.RandomChooser(9 * 1_000_003 + i), annotated=annotated)
        forms = _forms(prog.source)
        found |= forms
        helpers += "helper" in forms
        loops += bool(forms & {"loop", "loop in f"})
    expected = _FORMS | ({"range(x.shape[0])"} if annotated else set())
    assert found >= expected, sorted(expected - found)
    assert 0.05 * 800 <= helpers <= 0.3 * 800 and 0.05 * 800 <= loops <= 0.3 * 800, (helpers, loops)
    for i in range(300):
        prog = fuzz.make_program(fuzz.RandomChooser(9 * 1_000_003 + i), annotated=annotated, extended=False)
        assert not _forms(prog.source), prog.source


def test_helper_and_loop_programs_check():
    """Programs with helpers and loops run through the whole check: instrumented copies of the
    helpers find inputs away from kinks, and gradgen's gradients agree with central differences."""
    import tempfile

    directory = tempfile.mkdtemp(prefix="gradgen-fuzz-")
    outcomes = []
    for i in range(400):
        prog = fuzz.make_program(fuzz.RandomChooser(13 * 1_000_003 + i), annotated=i % 2 == 1)
        if _forms(prog.source) & {"helper", "loop", "loop in f"}:
            outcomes.append(fuzz.run_program(prog, directory))
        if len(outcomes) == 40:
            break
    assert len(outcomes) == 40
    bad = [o for o in outcomes if o.status in ("failure", "invalid")]
    assert not bad, "\n\n".join(fuzz.describe(o) for o in bad[:3])
    assert sum(o.status == "ok" for o in outcomes) >= 32, [(o.status, o.message[:80]) for o in outcomes]


def test_minimize_leaves_out_the_helpers_nothing_calls():
    """Dropping the statements that call a helper drops the helper, and the parameters of f
    that were passed only to it."""
    import re

    for i in range(200):
        prog = fuzz.make_program(fuzz.RandomChooser(17 * 1_000_003 + i))
        helpers = re.findall(r"^def (?!f\()(\w+)\(", prog.source, re.M)
        if helpers:
            break
    user = fuzz._Render(prog.gen.np, False)
    calling = re.compile(r"\b(%s)\(" % "|".join(helpers))
    keep = {k for k, stmt in enumerate(prog.gen.stmts)
            if not any(calling.search(line) for line in fuzz._stmt_lines(stmt, user, False))}
    small = fuzz.render_program(prog.gen, prog.wrt, prog.check_shapes, prog.input_seed, prog.scalar_seed,
                                keep=keep)
    compile(small.source, "<fuzz>", "exec")
    compile(small.check_source, "<fuzz check>", "exec")
    if not calling.search(small.source.split("def f(")[1]):  # (the result may call one itself)
        assert not re.search(r"^def (?!f\()", small.source, re.M), small.source
    assert len(small.params) <= len(prog.params)


def test_minimize_keeps_the_failure(monkeypatch):
    """minimize() drops statements that do not matter and keeps the failure's category."""
    real = gradgen.derive

    def zero_grads(fn, **kwargs):
        derived = real(fn, **kwargs)
        derived.backward = lambda *a, **k: tuple(np.zeros(np.shape(g)) for g in real(fn, **kwargs).backward(*a, **k))
        return derived

    monkeypatch.setattr(gradgen, "derive", zero_grads)
    summary = fuzz.run_campaign(4, seed=11, engine="random")
    assert summary.failures
    first = summary.failures[0]
    small = fuzz.minimize(first)
    assert small.category == first.category
    assert len(small.program.source) <= len(first.program.source)


# -- regressions: each failure the fuzzer found, minimized ----------------------------------


def _fd(fn, args, i, seed=None, eps=1e-6):
    """Central differences of sum(seed * fn(args)) along args[i] (in float64)."""
    args = [np.array(a, dtype=np.float64) if k == i else a for k, a in enumerate(args)]
    x = args[i]
    grad = np.zeros(x.shape)
    for k in np.ndindex(x.shape):
        vals = []
        for sign in (1, -1):
            xp = x.copy()
            xp[k] += sign * eps
            trial = list(args)
            trial[i] = xp
            out = fn(*trial)
            vals.append(float(np.sum(out if seed is None else seed * out)))
        grad[k] = (vals[0] - vals[1]) / (2 * eps)
    return grad


def test_regression_max_of_a_python_float(tmp_path):
    """np.max / np.amin of a Python float parameter: the generated tie count reads x.dtype,
    which a Python float does not have (AttributeError in the backward). Found by the fuzzer
    (unannotated and annotated, e.g. ``e = np.maximum(np.amax(w), 0.5)``)."""
    f = derive_source("""
        def f(w):
            e = np.maximum(np.amax(w), 0.5)
            return e
    """, tmp_path)
    (dw,) = f.backward(1.25)
    assert float(dw) == 1.0


def test_regression_min_keepdims_of_a_python_float_expression(tmp_path):
    """The same with a Python-float intermediate: (1.5 / (y ** 2 + 1.5)) stays a Python float
    when y is one, and its min reduction's backward crashed."""
    f = derive_source("""
        def f(y):
            m = np.min(1.5 / ((y ** 2) + 1.5), keepdims=True)
            return np.sum(m)
    """, tmp_path)
    (dy,) = f.backward(0.7)
    expected = -1.5 * 2 * 0.7 / (0.7 ** 2 + 1.5) ** 2
    assert np.isclose(float(dy), expected, rtol=1e-10)


def test_regression_integer_input_fractional_seed(tmp_path):
    """An integer array passed for a differentiable parameter: the seed is cast to the result's
    dtype (int64), so a seed of 0.1 becomes 0 and every gradient is 0 (README: integer inputs
    get float gradients)."""
    f = derive_source("""
        def f(c):
            a = c * c
            loss = np.sum(a ** 2)
            return loss
    """, tmp_path)
    c = np.array([1, 2])
    (dc,) = f.backward(c, **{f.seed_name: 0.1})
    assert np.asarray(dc).dtype.kind == "f", dc
    assert np.allclose(dc, 0.1 * 4 * c.astype(float) ** 3), dc


def test_regression_integer_input_gets_a_float_gradient(tmp_path):
    """With the default seed the values happen to be integers, but the gradient comes back as
    int64 (a caller's ``x -= lr * dx`` then works, ``dx *= 0.5`` silently truncates)."""
    f = derive_source("""
        def f(u):
            h = np.reshape(+u, (1, -1))
            return h.sum()
    """, tmp_path)
    (du,) = f.backward(np.array([3, -1]))
    assert np.asarray(du).dtype.kind == "f", du
    assert np.array_equal(du, [1.0, 1.0])


def test_regression_integer_input_gather_scatter(tmp_path):
    """An integer array gathered by an index array: the scattered adjoint is truncated to int."""
    f = derive_source("""
        def f(g, idx):
            e = np.negative(g.copy())[idx]
            return e.sum()
    """, tmp_path)
    g, idx = np.array([1, 2, 3, 4]), np.array([0, 2, 0])
    (dg,) = f.backward(g, idx, **{f.seed_name: 0.5})
    assert np.allclose(dg, [-1.0, 0.0, -0.5, 0.0]), dg


def test_regression_integer_input_array_result(tmp_path):
    """An array result with a float seed over an integer input (a slice): truncated to zeros."""
    f = derive_source("""
        def f(u):
            m = u[::2]
            return m
    """, tmp_path)
    u = np.array([5, -3, 2])
    seed = np.array([0.25, -0.75])
    (du,) = f.backward(u, **{f.seed_name: seed})
    assert np.allclose(du, [0.25, 0.0, -0.75]), du


def test_regression_float_annotated_parameter_given_integers(tmp_path):
    """``q: "f[1, D]"`` promises floats, but a caller passing np.array([[-1, -4, -2, 2]]) gets a
    silently wrong gradient: the slice's adjoint is written into np.zeros_like(q), an int
    array, and truncated. (Debatable: the annotation is violated; but the gradient is wrong
    without any error, and np.zeros_like(q, dtype=float) costs nothing.)"""
    f = derive_source("""
        def f(a: "f[1, D]", q: "f[1, D]", w: "f[]"):
            h = (q + a) * w
            loss = (h + (-1.0)) * q[:, None]
            return loss
    """, tmp_path)
    a = np.array([[1.8035869937383477, -0.3364086453647122, 0.4906287381308049, -0.1867900249722118]])
    q = np.array([[-1, -4, -2, 2]])
    w = np.array(1.3699444767357944)
    seed = np.random.default_rng(0).standard_normal((1, 1, 4))
    _, dq, _ = f.backward(a, q, w, **{f.seed_name: seed})
    expected = _fd(f.forward, [a, q, w], 1, seed)
    assert np.allclose(dq, expected, rtol=1e-6, atol=1e-8), (dq, expected)


def _assert_own_array(grad, name, *others):
    assert isinstance(grad, np.ndarray), f"{name} is {type(grad).__name__}"
    assert grad.flags.writeable, f"{name} is a read-only view"
    for label, other in others:
        assert not np.shares_memory(grad, other), f"{name} shares memory with {label}"
    grad += 1.0  # a caller accumulating into it must be able to


def test_regression_pad_gradient_is_a_view_of_the_seed(tmp_path):
    """np.pad's adjoint (_unpad) slices the incoming adjoint and the result is handed out as is:
    the gradient is a view of the caller's seed array (changing one changes the other)."""
    f = derive_source("""
        def f(c):
            m = np.pad(c, 1)
            return m
    """, tmp_path)
    c = np.array([[0.5, -1.0], [2.0, 0.25]])
    seed = np.arange(16.0).reshape(4, 4)
    (dc,) = f.backward(c, **{f.seed_name: seed})
    assert np.array_equal(dc, seed[1:3, 1:3])
    _assert_own_array(dc, "dc", ("the seed", seed), ("c", c))
    assert np.array_equal(seed, np.arange(16.0).reshape(4, 4)), "the caller's seed was changed"


def test_regression_pad_gradient_is_read_only(tmp_path):
    """Under a sum, np.pad's adjoint slices a broadcast (read-only) array, and the gradient
    comes back read-only: ``dq *= lr`` or ``dq += other`` raises."""
    f = derive_source("""
        def f(q):
            e = np.sum(np.pad(q, 0), axis=0, keepdims=True)
            return e.sum()
    """, tmp_path)
    q = np.array([[0.5, -1.0, 2.0], [0.3, 0.1, -0.7]])
    (dq,) = f.backward(q)
    assert np.array_equal(dq, np.ones_like(q))
    _assert_own_array(dq, "dq", ("q", q))


def test_regression_einsum_transpose_gradient_is_a_view_of_the_seed(tmp_path):
    """np.einsum('ij->ji', v): the adjoint np.einsum('ji->ij', dout) is a view of the seed, and
    is returned without a copy."""
    f = derive_source("""
        def f(v):
            s = np.einsum('ij->ji', v)
            return s
    """, tmp_path)
    v = np.array([[0.5, -1.0, 2.0], [0.3, 0.1, -0.7]])
    seed = np.arange(6.0).reshape(3, 2)
    (dv,) = f.backward(v, **{f.seed_name: seed})
    assert np.array_equal(dv, seed.T)
    _assert_own_array(dv, "dv", ("the seed", seed), ("v", v))


def test_regression_astype_gradient_is_the_seed(tmp_path):
    """x.astype(np.float64) on a float64 x: the adjoint np.asarray(dout, dtype=...) is the seed
    array itself."""
    f = derive_source("""
        def f(a):
            return a.astype(np.float64)
    """, tmp_path)
    a = np.array([0.5, -1.0])
    seed = np.array([3.0, 4.0])
    (da,) = f.backward(a, **{f.seed_name: seed})
    assert np.array_equal(da, seed)
    _assert_own_array(da, "da", ("the seed", seed), ("a", a))


def test_regression_constant_base_power_keeps_float32(tmp_path):
    """README: float32 in, float32 out. ``3 ** np.tanh(b)``'s adjoint multiplied by np.log(3), a
    float64 NumPy scalar, which promoted every gradient below it to float64."""
    f = derive_source("""
        def f(b):
            o = 3 ** np.tanh(b)
            return np.sum(o)
    """, tmp_path)
    b = np.array([0.25, -0.5], dtype=np.float32)
    (db,) = f.backward(b)
    assert db.dtype == np.float32, db.dtype
    expected = np.log(3) * 3 ** np.tanh(b.astype(np.float64)) * (1 - np.tanh(b.astype(np.float64)) ** 2)
    assert np.allclose(db, expected, rtol=1e-5)


def test_regression_check_grad_flags_a_correct_zero_gradient(tmp_path):
    """gradgen.check_grad divides by max(|numeric|, |analytic|, 1e-8): for a parameter whose true
    gradient is exactly 0 (a bias added along the softmax axis), central differences leave
    ~1e-10 of rounding noise, and a correct gradient (~1e-17) is reported as a MISMATCH
    (relative error 0.011). The floor should scale with the rounding noise of the objective."""
    f = derive_source("""
        def f(x, b):
            t = x + b
            e = np.exp(t - t.max(axis=0, keepdims=True))
            p = e / e.sum(axis=0, keepdims=True)
            return p
    """, tmp_path)
    rng = np.random.default_rng(3)
    x, b = rng.standard_normal((3, 4)) * 3, rng.standard_normal((1, 4)) * 3
    (_, db) = f.backward(x, b, **{f.seed_name: np.random.default_rng(0).standard_normal((3, 4))})
    assert np.max(np.abs(db)) < 1e-15  # the gradient is right: softmax ignores a per-column shift
    result = gradgen.check_grad(f, x, b)
    assert result.ok, str(result)


@pytest.mark.parametrize("annotate", [False, True], ids=["plain", "annotated"])
def test_regression_minimum_and_maximum_against_zero(annotate, tmp_path):
    """np.minimum / np.maximum against a literal 0, each operand order, away from the kink:
    the derivative is 1 where the variable is selected and 0 where the 0 is. (The fuzzer caught
    an in-progress template in which the const-0 shortcut rendered np.heaviside(0.0, 0.5) for
    the minimum: a constant 1/2 whatever the sign of x, through an embedding gather, 2.175
    instead of 4.350.)"""
    note = ': "f[K]"' if annotate else ""
    f = derive_source(f"""
        def f(x{note}, w{note}):
            a = np.minimum(x, 0.0) * w
            b = np.minimum(0.0, x) * 2.0
            c = np.maximum(x, 0.0) * 3.0
            d = np.maximum(0.0, x) * w
            return np.sum(a + b + c + d)
    """, tmp_path)
    x = np.array([-1.5, 2.0, -0.25, 0.75])
    w = np.array([0.5, -1.0, 2.0, 1.5])
    dx, dw = f.backward(x, w)
    neg, pos = (x < 0).astype(float), (x > 0).astype(float)
    assert np.allclose(dx, neg * w + 2.0 * neg + 3.0 * pos + pos * w), dx
    assert np.allclose(dw, np.minimum(x, 0.0) + np.maximum(0.0, x)), dw


def test_regression_minimum_against_zero_through_a_gather(tmp_path):
    """The fuzzer's program, minimized: the two copies of x[2] gathered by [2, 2] must add up."""
    f = derive_source("""
        def f(x: "f[K]", idx: "i[P]", c: float):
            h = np.minimum(x, 0.0)[idx]
            return np.sum(h * c)
    """, tmp_path)
    x = np.array([1.29, 1.62, -1.93, 0.83])
    (dx, dc) = f.backward(x, np.array([2, 2]), 1.0875)
    assert np.allclose(dx, [0.0, 0.0, 2 * 1.0875, 0.0]), dx
    assert np.isclose(dc, 2 * -1.93)


def test_regression_product_named_as(tmp_path):
    """The fuzzer's program (annotated, wrt=("w", "s")), minimized: the unnamed a @ s is named
    ``as`` in the generated module, a keyword, and derive raises a raw SyntaxError."""
    f = derive_source("""
        def f(s: "f[P, C, M]", w: "f[1]", a: "f[M, C]"):
            tmp = np.maximum((a @ s), w.sum(-1))
            return np.mean(tmp)
    """, tmp_path, wrt=("w", "s"))
    rng = np.random.default_rng(0)
    s, w, a = rng.standard_normal((3, 3, 2)), np.array([0.05]), rng.standard_normal((2, 3))
    result = gradgen.check_grad(f, s, w, a)
    assert result.ok, str(result)


def test_regression_diff_n0_gradient_is_the_seed(tmp_path):
    """np.diff(x, n=0) is x itself, and _undiff(dout, 0, axis) hands back dout untouched: the
    gradient is the caller's seed array (found by the fuzzer: ``m = np.diff(k, n=0, axis=1).T``)."""
    f = derive_source("""
        def f(k):
            return np.diff(k, n=0, axis=1)
    """, tmp_path)
    k = np.array([[0.4, 0.5, 0.6]])
    seed = np.array([[1.0, 2.0, 3.0]])
    (dk,) = f.backward(k, **{f.seed_name: seed})
    assert np.array_equal(dk, seed)
    _assert_own_array(dk, "dk", ("the seed", seed), ("k", k))


def test_regression_diff_n0_gradient_is_read_only(tmp_path):
    """Under a sum the seed of np.diff(w, n=0) is a broadcast (read-only) array, and it comes
    back as the gradient: ``dw *= lr`` raises (found by the fuzzer, annotated)."""
    f = derive_source("""
        def f(w):
            return np.sum(np.diff(w, n=0, axis=0))
    """, tmp_path)
    w = np.array([1.03, -0.5])
    (dw,) = f.backward(w)
    assert np.array_equal(dw, [1.0, 1.0])
    _assert_own_array(dw, "dw", ("w", w))


def test_regression_ascontiguousarray_of_a_scalar_gradient_shape(tmp_path):
    """np.ascontiguousarray gives a 0-d input one axis (shape (1,)), unlike np.asarray; its
    adjoint is passed through as is, so the gradient of a 0-d parameter has shape (1,)
    (found by the fuzzer: ``tmp = np.ascontiguousarray(h, dtype=np.float64); return tmp.sum()``)."""
    f = derive_source("""
        def f(h):
            return np.ascontiguousarray(h).sum()
    """, tmp_path)
    for h in (np.array(-0.84), -0.84):
        (dh,) = f.backward(h)
        assert np.shape(dh) == (), f"dh has shape {np.shape(dh)} for h of shape {np.shape(h)}"
        assert float(dh) == 1.0


def test_regression_ascontiguousarray_of_a_float_is_an_array(tmp_path):
    """Annotated as a Python float, the result of np.ascontiguousarray(v) is taken for a scalar:
    no seed is asked for (the result has shape (1,)), and a seed given gives dv of shape (1,).
    The same wrong rank refuses valid programs (``np.amax(np.ascontiguousarray(v), axis=-1)``:
    'axis -1 is out of range for an array of rank 0')."""
    f = derive_source("""
        def f(v: float):
            return np.ascontiguousarray(v)
    """, tmp_path)
    assert np.shape(f(-1.33)) == (1,)
    with pytest.raises(ValueError):
        f.backward(-1.33)
    (dv,) = f.backward(-1.33, **{f.seed_name: np.array([2.0])})
    assert np.shape(dv) == () and float(dv) == 2.0, dv


def test_regression_softmax_fusion_of_a_squared_log(tmp_path):
    """With the ranks known, sum(log(softmax(b)) * log(softmax(b))) looks like the
    softmax-cross-entropy pattern sum(y * log p) with y the log itself, and the fusion crashes
    (IndexError in simplify._softmax_cross_entropy: no factor other than y). Found by the fuzzer
    (annotated, in the existing grammar)."""
    f = derive_source("""
        def f(b: "f[D]"):
            r = np.exp(b)
            s = r / r.sum(axis=0, keepdims=True)
            loss = np.log(s)
            return np.sum(loss * loss)
    """, tmp_path)
    b = np.array([0.3, -0.2])
    (db,) = f.backward(b)
    assert np.allclose(db, _fd(f.forward, [b], 0), rtol=1e-6, atol=1e-8), db


def test_regression_zero_gradient_keeps_float32(tmp_path):
    """README: float32 in, float32 out. A parameter named in wrt that the result does not read
    gets ``np.zeros(np.shape(s))``, float64 whatever s is (reverse.py, the gradient with no
    path). Found by the fuzzer while helpers were being added (a parameter passed to a called
    function that ignores it, asked for in wrt): ``state = head(state, state * (t + 1), s)`` with
    ``def head(state, b, s): return tanh(state + sin(b))``, wrt=('w', 's', 'p'): ds float64."""
    f = derive_source("""
        def f(w, s):
            return np.sum(np.tanh(w))
    """, tmp_path, wrt=("w", "s"))
    w = np.array([0.5, -1.0], dtype=np.float32)
    s = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    dw, ds = f.backward(w, s)
    assert dw.dtype == np.float32, dw.dtype
    assert np.shape(ds) == s.shape and not np.any(ds), ds
    assert ds.dtype == np.float32, f"ds is {ds.dtype} for a float32 s"


@pytest.mark.parametrize("use", ["np.heaviside(g(x), 0.5) * x", "np.full_like(g(x), 2.0) * x",
                                 "np.sign(g(x)) * x"])
def test_regression_module_function_called_where_no_gradient_flows(use, tmp_path):
    """A call to a function of the same module is written out in place (README), also where its
    value only feeds something with no gradient (np.heaviside's x, np.full_like's template,
    np.sign). There gradgen refuses it: "call to 'g', a function gradgen cannot see into",
    though it writes g out anywhere else (np.where(g(x) > 0, ...) and x[g(x) > 0] work). Found by
    the fuzzer: ``m = np.heaviside(dense(p, g, p).sum(), 1.0)``, ``np.full_like(branch(...), 0.5,
    dtype=float)``."""
    f = derive_source(f"""
        def g(v):
            return v * 2.0 - 0.5

        def f(x):
            return np.sum({use})
    """, tmp_path)
    result = gradgen.check_grad(f, np.array([0.75, -1.5, 2.0]))
    assert result.ok, str(result)


def test_regression_module_function_with_a_parameter_named_out(tmp_path):
    """A function of the module with a parameter called ``out``, called with ``out=...``: gradgen
    takes it for NumPy's in-place out= and refuses ("'out=' writes into an array in place"),
    though the call is written out like any other (by position it works). Found by the fuzzer
    (hostile names): ``def branch(out, c): ...`` called as ``branch(out=o, c=o)``."""
    f = derive_source("""
        def scaled(out, c):
            return out * c

        def f(x):
            return np.sum(scaled(out=np.tanh(x), c=2.0))
    """, tmp_path)
    x = np.array([0.75, -1.5, 2.0])
    (dx,) = f.backward(x)
    assert np.allclose(dx, 2.0 * (1 - np.tanh(x) ** 2)), dx


# -- float32 in, float32 out: the adjoints of the new surface (found by the fuzzer) ---------


def _spd(n, seed=0):
    b = np.random.default_rng(seed).standard_normal((n, n))
    return b @ b.T / n + 0.5 * np.eye(n)


def _float32_grad_agrees(f, x64):
    """The gradient for float32 input is float32 and agrees with the float64 one, which agrees
    with central differences."""
    (dx64,) = f.backward(x64)
    assert np.allclose(dx64, _fd(f.forward, [x64], 0), rtol=1e-6, atol=1e-8), dx64
    (dx32,) = f.backward(x64.astype(np.float32))
    assert np.asarray(dx32).dtype == np.float32, np.asarray(dx32).dtype
    assert np.allclose(dx32, dx64, rtol=1e-3, atol=1e-4), (dx32, dx64)


def test_regression_cholesky_float32(tmp_path):
    """np.linalg.cholesky of a float32 matrix: _cholesky_adjoint multiplies by
    ``half_diagonal = 1.0 - 0.5 * np.eye(n)``, a float64 array, so da comes back float64.
    Found by the fuzzer (``c = np.linalg.cholesky(u); return c``, unannotated and annotated)."""
    f = derive_source("""
        def f(a):
            return np.linalg.cholesky(a).sum()
    """, tmp_path)
    _float32_grad_agrees(f, _spd(3))


@pytest.mark.parametrize("order", ["np.inf", "-np.inf"])
def test_regression_vector_inf_norm_float32(order, tmp_path):
    """np.linalg.norm(x, ord=±np.inf, axis=1) of float32 x: the adjoint divides by
    ``x_is_max.sum(axis=1, keepdims=True)``, an int64 count, and dx comes back float64
    (the max reduction's template passes dtype=np.result_type(x, 1.0) to that sum)."""
    f = derive_source(f"""
        def f(x):
            return np.sum(np.linalg.norm(x, ord={order}, axis=1))
    """, tmp_path)
    _float32_grad_agrees(f, np.array([[0.5, -1.25, 2.0], [1.5, 0.75, -0.25]]))


@pytest.mark.parametrize("order", ["1", "-1", "np.inf", "-np.inf"])
def test_regression_matrix_norm_float32(order, tmp_path):
    """np.linalg.norm(x, ord, axis=(0, 1)) with ord ±1 / ±np.inf of float32 x: in
    _matrix_norm_adjoint, ``selected / np.sum(selected, ...)`` divides by an int64 count, and
    dx comes back float64 (ord 2, -2, 'nuc' and 'fro' keep float32)."""
    f = derive_source(f"""
        def f(x):
            return np.linalg.norm(x, ord={order}, axis=(0, 1))
    """, tmp_path)
    _float32_grad_agrees(f, np.array([[0.5, -1.25, 2.0], [1.5, 0.75, -0.25]]))


def test_richardson_forgives_rounding_of_a_large_objective_but_not_a_wrong_gradient():
    """The last look before reporting a mismatch: with a large objective and a small gradient,
    central differences at 1e-6 are mostly rounding (seed 802 --annotated once reported such a
    gradient as wrong); Richardson extrapolation from wider steps is not, and a gradient off by
    one percent still fails."""
    def f(g):
        return 400.0 + np.sum(np.exp2(np.cos(g) - 20.0)) + 1e-3 * np.sum(np.sin(g))

    g = np.linspace(-1.0, 1.0, 6)
    exact = -np.sin(g) * np.exp2(np.cos(g) - 20.0) * np.log(2.0) + 1e-3 * np.cos(g)
    assert fuzz._richardson_agrees(f, [g], 0, None, None, exact)
    assert not fuzz._richardson_agrees(f, [g], 0, None, None, exact * 1.01)
    assert not fuzz._richardson_agrees(f, [g], 0, None, None, exact + 1e-5)


_UPDATE = re.compile(r"^    \w+ [-+*/]= |^    \w+\[[^\]]+\] = ", re.M)


@pytest.mark.parametrize("extended", [False, True], ids=["basic", "extended"])
def test_grammar_writes_in_place_updates_that_check(extended):
    """h += b and h[index] = v on arrays f made: a share of programs writes them, and they run
    through the whole check (gradgen writes them out, or refuses an update another name or a
    view would see; never a failure or an invalid program)."""
    import tempfile

    sources = [fuzz.make_program(fuzz.RandomChooser(17 * 1_000_003 + i), extended=extended).source
               for i in range(400)]
    updated = [s for s in sources if _UPDATE.search(s)]
    assert 0.08 * 400 <= len(updated) <= 0.4 * 400, len(updated)
    assert any(re.search(r"^    \w+ [-+*/]= ", s, re.M) for s in updated)
    assert any(re.search(r"^    \w+\[[^\]]+\] = ", s, re.M) for s in updated)
    directory = tempfile.mkdtemp(prefix="gradgen-fuzz-")
    outcomes = []
    for i in range(400):
        prog = fuzz.make_program(fuzz.RandomChooser(19 * 1_000_003 + i), annotated=i % 2 == 1, extended=extended)
        if _UPDATE.search(prog.source):
            outcomes.append(fuzz.run_program(prog, directory))
        if len(outcomes) == 30:
            break
    assert len(outcomes) == 30
    bad = [o for o in outcomes if o.status in ("failure", "invalid")]
    assert not bad, fuzz.describe(bad[0])
    assert sum(o.status == "ok" for o in outcomes) >= 20
