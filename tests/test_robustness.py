"""What the generated code does at extreme inputs and at the boundary points of its primitives.

Part 1, extreme inputs (logits of +-1000 and friends): wherever the forward, as written, is
finite, the generated gradient must be finite and accurate against an analytic reference
computed in np.longdouble. Where it is not, the test fails with a clear assertion (these
are bugs to report, not xfail).

Part 2, boundary points (sqrt and x ** 0.5 at 0, abs at 0, maximum/minimum/max ties,
where at its threshold): the current convention is pinned where it is sensible, next to
what other systems document:

    point                    gradgen   JAX                          autograd (HIPS)
    abs'(0)                  0         0 (sign(x) * g)              0 (x / replace_zero(|x|, 1))
    np.maximum(z, 0.0), z=0  0.5 (*)   0.5 jnp.maximum (balanced),  0.5 (balanced_eq)
                                       0 jax.nn.relu (custom_jvp)
    np.maximum(a, b), a==b   1/2 each  1/2 each (_balanced_eq)      1/2 each (balanced_eq)
    max reduction, k ties    1/k each  1/k each                     1/k each (grad_chooser)
    sqrt'(0), (x**0.5)'(0)   +inf      +inf                         +inf (0.5 * x ** -0.5)
    where(c, f(x), g(x))     routes to the selected branch, but a non-finite f' in the
                             other branch poisons it (JAX FAQ: "gradients contain NaN where
                             using where"; autograd and PyTorch alike)

(*) 0 (the ReLU convention) until 7ca9d6a, which split the tie after the stable-softplus and
logistic-loss tests below showed the 0 convention giving wrong gradients of smooth functions.

(JAX: jax.nn.relu documents relu'(0) = 0; jax.lax max_p's JVP uses _balanced_eq; JAX FAQ on
NaN through where. autograd: autograd/numpy/numpy_vjps.py, balanced_eq, grad_chooser, the
abs and sqrt vjps.)

Where a documented convention combines into a wrong gradient of a smooth, finite function
(the stable softplus max(x, 0) + log(1 + exp(-|x|)) at x = 0), or a NaN appears where the
function is locally constant (sqrt(relu(z)) for z < 0, the where trap, the norm at 0), the
test fails on purpose. (The owner has since marked the four NaN cases xfail(strict=True) as a
limitation documented in the README, shared with JAX and autograd.)
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gradgen
from support import derive_source

LD = np.longdouble


def grads(f, *args, seed=None):
    """f.backward(*args) with warnings silenced (overflow in the forward is part of the point)."""
    kwargs = {} if seed is None else {f.seed_name: seed}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return f.backward(*args, **kwargs)


def forward(f, *args):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return f(*args)


def assert_accurate(got, want, what, rtol=1e-12, atol=1e-300):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert np.all(np.isfinite(got)), f"{what}: non-finite gradient {got} (reference {want})"
    scale = max(np.max(np.abs(want), initial=0.0), 1e-300)
    err = np.max(np.abs(got - want), initial=0.0) / scale
    assert err <= rtol or np.allclose(got, want, rtol=rtol, atol=atol), \
        f"{what}: gradient {got}, reference {want} (relative error {err:.3g})"


def softmax_ld(theta):
    t = np.asarray(theta, dtype=LD)
    e = np.exp(t - t.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid_ld(z):
    z = np.asarray(z, dtype=LD)
    return np.where(z >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z)))


LOGITS = np.array([[1000.0, -1000.0, 0.0, 3.0],
                   [-1000.0, 1000.0, 999.0, -1.0],
                   [2.0, -3.0, 0.5, 0.25]])


# == part 1: extreme inputs ================================================================


def test_softmax_cross_entropy_picked_labels_at_1000(tmp_path):
    """The notes' softmax with the max subtracted, log, and labels picked by index: finite at
    +-1000 whenever the label is a likely class; the fused log-softmax gradient p - y must be
    finite and exact (the unfused chain would divide by p = 0)."""
    f = derive_source("""
        def f(theta, labels):
            e = np.exp(theta - theta.max(axis=1, keepdims=True))
            p = e / e.sum(axis=1, keepdims=True)
            logp = np.log(p)
            return -np.mean(logp[np.arange(theta.shape[0]), labels])
    """, tmp_path)
    labels = np.array([0, 1, 2])
    assert np.isfinite(forward(f, LOGITS, labels))
    (dtheta,) = grads(f, LOGITS, labels)
    want = (softmax_ld(LOGITS) - np.eye(4, dtype=LD)[labels]) / 3
    assert_accurate(dtheta, want, "d theta", rtol=1e-15)


def test_softmax_cross_entropy_unlikely_label_at_1000(tmp_path):
    """The label on a class of probability exp(-2000): the loss is inf (log 0), but the true
    gradient p - y is finite, and the fused rule delivers exactly that."""
    f = derive_source("""
        def f(theta, labels):
            e = np.exp(theta - theta.max(axis=1, keepdims=True))
            p = e / e.sum(axis=1, keepdims=True)
            return -np.sum(np.log(p)[np.arange(theta.shape[0]), labels])
    """, tmp_path)
    labels = np.array([1, 0, 1])
    assert np.isinf(forward(f, LOGITS, labels))
    (dtheta,) = grads(f, LOGITS, labels)
    assert_accurate(dtheta, softmax_ld(LOGITS) - np.eye(4, dtype=LD)[labels], "d theta", rtol=1e-15)


def test_stable_log_softmax_cross_entropy_at_1000(tmp_path):
    """log-softmax written as theta - m - log(sum(exp(theta - m))): finite for every label."""
    f = derive_source("""
        def f(theta, y):
            m = theta.max(axis=1, keepdims=True)
            logp = theta - m - np.log(np.sum(np.exp(theta - m), axis=1, keepdims=True))
            return -np.sum(y * logp)
    """, tmp_path)
    y = np.eye(4)[[1, 0, 3]]
    assert np.isfinite(forward(f, LOGITS, y))
    dtheta, dy = grads(f, LOGITS, y)
    p = softmax_ld(LOGITS)
    assert_accurate(dtheta, p - y, "d theta", rtol=1e-15)
    t = LOGITS.astype(LD)
    logp = t - t.max(axis=1, keepdims=True) - np.log(np.exp(t - t.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True))
    assert_accurate(dy, -logp, "d y", rtol=1e-15)


def test_softmax_vjp_at_1000(tmp_path):
    """softmax itself, an array result, with a seed: yhat * (s - sum(s * yhat))."""
    f = derive_source("""
        def f(theta):
            e = np.exp(theta - theta.max(axis=1, keepdims=True))
            p = e / e.sum(axis=1, keepdims=True)
            return p
    """, tmp_path)
    s = np.array([[1.0, 2.0, 3.0, -1.0], [0.5, -1.0, 2.0, 4.0], [1.0, 1.0, -2.0, 0.0]])
    (dtheta,) = grads(f, LOGITS, seed=s)
    p = softmax_ld(LOGITS)
    assert_accurate(dtheta, p * (s - (s * p).sum(axis=1, keepdims=True)), "d theta", rtol=1e-14)


def test_logsumexp_at_1000(tmp_path):
    f = derive_source("""
        def f(x):
            m = x.max(axis=1, keepdims=True)
            return np.sum(m + np.log(np.sum(np.exp(x - m), axis=1, keepdims=True)))
    """, tmp_path)
    (dx,) = grads(f, LOGITS)
    # recognised as log-sum-exp: dx = dout * np.exp(x - out), autograd's formula, which carries
    # the rounding of out (a few ulps of 1000) into the exponent: about 1e-14 relative
    assert_accurate(dx, softmax_ld(LOGITS), "d x", rtol=1e-13)


Z = np.array([1000.0, -1000.0, 0.0, 30.0, -30.0, 36.0, 40.0])


def test_sigmoid_at_1000(tmp_path):
    """1 / (1 + exp(-z)) at +-1000: exp(1000) overflows to inf, h = 0 exactly, finite; the
    fused rule dh * h * (1 - h) gives 0 (the truth is e**-1000). Accurate at the scale of the
    gradient; elementwise, 1 - h loses digits for z >~ 30 (documented below)."""
    f = derive_source("""
        def f(z):
            h = 1 / (1 + np.exp(-z))
            return h
    """, tmp_path)
    assert np.all(np.isfinite(forward(f, Z)))
    (dz,) = grads(f, Z, seed=np.ones_like(Z))
    s = sigmoid_ld(Z)
    want = s * (1 - s)
    assert_accurate(dz, want, "d z", rtol=1e-15)  # relative to the largest entry (0.25)
    # elementwise: exact where h is not within a few ulps of 1
    for z, got, ref in zip(Z, dz, want):
        if z <= 0:
            assert np.isclose(got, float(ref), rtol=1e-12, atol=0), (z, got, ref)
    # the current behaviour at z = 30 and z = 40 (cancellation in 1 - h, as in the forward):
    assert abs(dz[3] / float(want[3]) - 1) < 2e-3  # 0.1 % off at z = 30
    assert dz[6] == 0.0 and float(want[6]) > 0  # 4.2e-18 rounds to 0 at z = 40


def test_sigmoid_binary_cross_entropy_at_30(tmp_path):
    """y log p + (1 - y) log(1 - p): at z = +-1000 the forward is already 0 * -inf = nan (out
    of scope); at z = +-30 it is finite. The fused dz = p - y is accurate at the gradient's
    scale, and dy = -(log p - log(1 - p)) matches the forward as computed (1 - p carries the
    same rounding), which is 3e-5 from the exact -z."""
    f = derive_source("""
        def f(z, y):
            p = 1 / (1 + np.exp(-z))
            return -np.sum(y * np.log(p) + (1 - y) * np.log(1 - p))
    """, tmp_path)
    z = np.array([30.0, -30.0, 5.0, -0.5])
    y = np.array([1.0, 0.0, 0.3, 1.0])
    assert np.isfinite(forward(f, z, y))
    dz, dy = grads(f, z, y)
    assert_accurate(dz, sigmoid_ld(z) - y, "d z", rtol=1e-14)
    p = 1 / (1 + np.exp(-z))  # float64, as the forward computes it
    assert_accurate(dy, -(np.log(p) - np.log(1 - p)), "d y (against the forward's own p)", rtol=1e-12)
    assert np.allclose(dy, -z, rtol=1e-4)  # and within 1e-4 of the exact derivative


def test_binary_cross_entropy_nan_forward_at_1000(tmp_path):
    """Recorded: at z = 1000, y = 1 the forward itself is nan (0 * log(0)); gradgen still gives
    the exact dz = p - y = 0."""
    f = derive_source("""
        def f(z, y):
            p = 1 / (1 + np.exp(-z))
            return -np.sum(y * np.log(p) + (1 - y) * np.log(1 - p))
    """, tmp_path)
    z, y = np.array([1000.0, -1000.0]), np.array([1.0, 0.0])
    assert np.isnan(forward(f, z, y))
    dz, _ = grads(f, z, y)
    assert np.array_equal(dz, [0.0, 0.0])


def test_softplus_written_naively(tmp_path):
    """np.log(1 + np.exp(x)) is finite up to x = 709 and its gradient is sigmoid(x)."""
    f = derive_source("""
        def f(x):
            return np.sum(np.log(1 + np.exp(x)))
    """, tmp_path)
    x = np.array([-1000.0, -30.0, 0.0, 30.0, 700.0])
    assert np.isfinite(forward(f, x))
    (dx,) = grads(f, x)
    assert_accurate(dx, sigmoid_ld(x), "d x", rtol=1e-14)


def test_softplus_stable_form_at_1000(tmp_path):
    """np.maximum(x, 0) + np.log(1 + np.exp(-np.abs(x))): finite everywhere; at +-1000 and
    away from 0 the gradient is sigmoid(x)."""
    f = derive_source("""
        def f(x):
            return np.sum(np.maximum(x, 0.0) + np.log(1 + np.exp(-np.abs(x))))
    """, tmp_path)
    x = np.array([-1000.0, -3.0, 2.5, 1000.0])
    (dx,) = grads(f, x)
    assert_accurate(dx, sigmoid_ld(x), "d x", rtol=1e-15)


def test_softplus_stable_form_at_zero(tmp_path):
    """Was a BUG (convention-induced) until 7ca9d6a: the same smooth function at x = 0, where its
    derivative is sigmoid(0) = 0.5. gradgen's kink conventions (maximum against a constant: 0
    at the tie; abs: sign(0) = 0) combined into 0. JAX (jnp.maximum balanced: 0.5) and autograd
    (balanced_eq: 0.5) both give 0.5 here. The forward is finite and smooth; the gradient is
    wrong by 0.5."""
    f = derive_source("""
        def f(x):
            return np.sum(np.maximum(x, 0.0) + np.log(1 + np.exp(-np.abs(x))))
    """, tmp_path)
    (dx,) = grads(f, np.array([0.0]))
    assert np.isclose(dx[0], 0.5), f"softplus'(0) should be 0.5, gradgen gives {dx[0]}"


def test_stable_logistic_loss_at_zero_logits(tmp_path):
    """Was a BUG (convention-induced) until 7ca9d6a, the case that matters: the numerically
    stable logistic loss
    max(z, 0) - z * y + log(1 + exp(-|z|)) (TensorFlow's sigmoid_cross_entropy_with_logits
    formula) at z = 0, which is exactly where zero-initialised weights start training. The
    true dz is sigmoid(0) - y = 0.5 - y; gradgen gives -y, so the first gradient step of a
    zero-initialised logistic regression is wrong."""
    f = derive_source("""
        def f(W, x, y):
            z = x @ W
            return np.mean(np.maximum(z, 0.0) - z * y + np.log(1 + np.exp(-np.abs(z))))
    """, tmp_path, wrt=("W",))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3))
    y = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    W = np.zeros(3)  # z = 0 for every sample
    (dW,) = grads(f, W, x, y)
    want = x.T @ (0.5 - y) / 5
    assert np.allclose(dW, want), f"dW = {dW}, expected x.T @ (sigmoid(0) - y) / n = {want}"


def test_tanh_and_exp_near_overflow(tmp_path):
    f = derive_source("""
        def f(x, u):
            return np.sum(np.tanh(x)) + np.sum(np.exp(u))
    """, tmp_path)
    x = np.array([1000.0, -1000.0, 20.0, 0.0])
    u = np.array([700.0, 709.0, -1000.0])
    assert np.isfinite(forward(f, x, u))
    dx, du = grads(f, x, u)
    assert_accurate(dx, 1 - np.tanh(x.astype(LD)) ** 2, "d x", rtol=1e-15)
    assert_accurate(du, np.exp(u.astype(LD)), "d u", rtol=1e-15)


# == part 2: boundary points ===============================================================


def test_sqrt_at_zero_is_inf(tmp_path):
    """Pinned: sqrt'(0) = +inf, the one-sided derivative (JAX and autograd give the same)."""
    f = derive_source("""
        def f(x):
            return np.sum(np.sqrt(x))
    """, tmp_path)
    (dx,) = grads(f, np.array([0.0, 4.0]))
    assert dx[0] == np.inf and dx[1] == 0.25


def test_fractional_power_at_zero_is_inf(tmp_path):
    """Pinned: (x ** 0.5)'(0) = 0.5 * 0 ** -0.5 = +inf, like sqrt; (x ** 1.5)'(0) = 0."""
    f = derive_source("""
        def f(x):
            return np.sum(x ** 0.5) + np.sum(x ** 1.5)
    """, tmp_path)
    (dx,) = grads(f, np.array([0.0, 4.0]))
    assert dx[0] == np.inf and np.isclose(dx[1], 0.25 + 3.0)


def test_abs_at_zero_is_zero(tmp_path):
    """Pinned (README; JAX, autograd and PyTorch agree): abs'(0) = sign(0) = 0."""
    f = derive_source("""
        def f(x):
            return np.sum(np.abs(x)) + np.sum(abs(x))
    """, tmp_path)
    (dx,) = grads(f, np.array([0.0, -2.0, 3.0]))
    assert np.array_equal(dx, [0.0, -2.0, 2.0])


def test_relu_at_zero_splits_the_tie(tmp_path):
    """Pinned (README, like jnp.maximum and autograd's np.maximum): np.maximum(z, 0.0) at z = 0
    passes half, and np.minimum(z, 0.0) the other half, so their sum, z, has gradient 1."""
    f = derive_source("""
        def f(z):
            return np.sum(np.maximum(z, 0.0)) + np.sum(np.minimum(z, 0.0))
    """, tmp_path)
    (dz,) = grads(f, np.array([0.0, -1.0, 2.0]))
    assert np.array_equal(dz, [1.0, 1.0, 1.0])


def test_maximum_and_minimum_ties_split_evenly(tmp_path):
    """Pinned (README; JAX _balanced_eq and autograd balanced_eq agree): half each."""
    f = derive_source("""
        def f(a, b):
            return np.sum(np.maximum(a, b)) + 2 * np.sum(np.minimum(a, b))
    """, tmp_path)
    a, b = np.array([1.0, 2.0, 5.0]), np.array([1.0, 3.0, 4.0])
    da, db = grads(f, a, b)
    assert np.array_equal(da, [1.5, 2.0, 1.0])
    assert np.array_equal(db, [1.5, 1.0, 2.0])


def test_max_and_min_reduction_ties_share(tmp_path):
    """Pinned (README; JAX and autograd's grad_chooser agree): k ties get 1/k each."""
    f = derive_source("""
        def f(x):
            return np.max(x) + x.min(axis=1).sum()
    """, tmp_path)
    x = np.array([[3.0, 1.0, 3.0], [3.0, 1.0, 1.0]])
    (dx,) = grads(f, x)
    assert np.allclose(dx, [[1 / 3, 1.0, 1 / 3], [1 / 3, 0.5, 0.5]])


def test_where_at_its_threshold_routes_to_the_selected_branch(tmp_path):
    """Pinned: at x = 0, (x > 0) is False, so a leaky ReLU's gradient is the slope 0.1."""
    f = derive_source("""
        def f(x):
            return np.sum(np.where(x > 0, x, 0.1 * x))
    """, tmp_path)
    (dx,) = grads(f, np.array([0.0, -1.0, 2.0]))
    assert np.allclose(dx, [0.1, 0.1, 1.0])


def test_log_of_a_clipped_value_at_zero(tmp_path):
    """Pinned: log(maximum(x, 1e-12)) at x = 0 is finite and its gradient 0 (the clip)."""
    f = derive_source("""
        def f(x):
            return np.sum(np.log(np.maximum(x, 1e-12)))
    """, tmp_path)
    (dx,) = grads(f, np.array([0.0, 2.0]))
    assert np.array_equal(dx, [0.0, 0.5])


@pytest.mark.xfail(strict=True, reason="known limitation, shared with JAX and autograd: an adjoint of 0 times an infinite local derivative (sqrt at 0, x / |x| at 0, an unselected np.where branch) gives nan; documented in the README")
def test_sqrt_of_relu_is_nan_where_the_function_is_constant(tmp_path):
    """BUG: sqrt(maximum(z, 0)) is identically 0 for z < 0 (finite forward, derivative 0), but
    the backward multiplies sqrt'(0) = inf by relu'(z) = 0 and returns nan. (JAX and autograd
    return nan as well; a nan gradient silently destroys a training run.)"""
    f = derive_source("""
        def f(z):
            return np.sum(np.sqrt(np.maximum(z, 0.0)))
    """, tmp_path)
    z = np.array([-1.0, -0.5, 4.0])
    assert np.isfinite(forward(f, z))
    (dz,) = grads(f, z)
    assert np.all(np.isfinite(dz)), f"gradient {dz} for a function that is constant 0 for z < 0"
    assert np.allclose(dz, [0.0, 0.0, 0.25])


@pytest.mark.xfail(strict=True, reason="known limitation, shared with JAX and autograd: an adjoint of 0 times an infinite local derivative (sqrt at 0, x / |x| at 0, an unselected np.where branch) gives nan; documented in the README")
def test_where_trap(tmp_path):
    """BUG: np.where(x > 0, np.sqrt(x), 0.0) is finite (the nan of sqrt(-1) is not selected),
    but the backward divides the zero adjoint of the unselected branch by 2 * sqrt(x) = nan and
    returns nan (the JAX FAQ's "gradients contain NaN where using where"; gradgen could mask
    the adjoint after the rule as well as before)."""
    f = derive_source("""
        def f(x):
            return np.sum(np.where(x > 0, np.sqrt(x), 0.0))
    """, tmp_path)
    x = np.array([-1.0, 0.0, 4.0])
    assert np.isfinite(forward(f, x))
    (dx,) = grads(f, x)
    assert np.all(np.isfinite(dx)), f"gradient {dx}: the where's unselected branch leaks nan"
    assert np.allclose(dx, [0.0, 0.0, 0.25])


@pytest.mark.xfail(strict=True, reason="known limitation, shared with JAX and autograd: an adjoint of 0 times an infinite local derivative (sqrt at 0, x / |x| at 0, an unselected np.where branch) gives nan; documented in the README")
def test_euclidean_norm_at_zero(tmp_path):
    """BUG: np.sqrt(np.sum(x ** 2)) at x = 0: forward 0, gradient 0 * inf = nan. 0 is a valid
    subgradient (the one np.linalg.norm's usual rule x / |x| with 0/0 -> 0 gives). JAX
    returns nan here too."""
    f = derive_source("""
        def f(x):
            return np.sqrt(np.sum(x ** 2))
    """, tmp_path)
    x = np.zeros(3)
    assert forward(f, x) == 0.0
    (dx,) = grads(f, x)
    assert np.all(np.isfinite(dx)), f"gradient {dx} of |x| at 0"


@pytest.mark.xfail(strict=True, reason="known limitation, shared with JAX and autograd: an adjoint of 0 times an infinite local derivative (sqrt at 0, x / |x| at 0, an unselected np.where branch) gives nan; documented in the README")
def test_sqrt_of_square_at_zero(tmp_path):
    """BUG: np.sqrt(x ** 2) is |x|; at 0 the gradient is 0 * inf = nan, where np.abs gives 0."""
    f = derive_source("""
        def f(x):
            return np.sum(np.sqrt(x ** 2))
    """, tmp_path)
    (dx,) = grads(f, np.array([0.0, -2.0]))
    assert np.all(np.isfinite(dx)), f"gradient {dx} of sqrt(x**2) at 0"


def test_check_grad_agrees_away_from_the_boundaries(tmp_path):
    """A sanity anchor for this file: the same functions are right at ordinary points."""
    f = derive_source("""
        def f(x, z):
            a = np.sqrt(np.maximum(z, 0.0) + 1.0)
            b = np.where(x > 0, np.sqrt(np.abs(x) + 1e-3), 0.0)
            return np.sum(a) + np.sum(b) + np.sqrt(np.sum(x ** 2))
    """, tmp_path)
    result = gradgen.check_grad(f, np.array([0.7, -0.4, 1.3]), np.array([0.5, -0.8, 2.0]))
    assert result.ok, str(result)


@pytest.mark.parametrize("dtype", [np.float64])
def test_gradients_keep_float64(tmp_path, dtype):
    f = derive_source("""
        def f(x):
            e = np.exp(x - x.max(axis=1, keepdims=True))
            return -np.sum(np.log(e / e.sum(axis=1, keepdims=True))[:, 0])
    """, tmp_path)
    (dx,) = grads(f, LOGITS.astype(dtype))
    assert dx.dtype == dtype and np.all(np.isfinite(dx))
