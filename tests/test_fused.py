"""Fused identities: each checked against central differences and in the text it writes."""

import numpy as np
import pytest

from support import assert_grad_ok, derive_source

RNG = np.random.default_rng(7)


def logits(*shape):
    return RNG.normal(size=shape)


SOFTMAX_CE = '''
    def f(theta{ann}, y):
        e = np.exp(theta - theta.max(axis={axis}, keepdims=True))
        yhat = e / e.sum(axis={axis}, keepdims=True)
        return -np.sum(y * np.log(yhat)) / theta.shape[0]
'''


@pytest.mark.parametrize("ann", ["", ': "f[B, C]"'])
@pytest.mark.parametrize("axis", [1, -1])
def test_softmax_cross_entropy(ann, axis, tmp_path):
    f = derive_source(SOFTMAX_CE.format(ann=ann, axis=axis), tmp_path, wrt=("theta",))
    assert f"dtheta = dlog_yhat - yhat * np.sum(dlog_yhat, axis={axis}, keepdims=True)" in f.source
    assert "theta_is_max" not in f.source  # the max subtraction has no gradient
    y = np.eye(4)[RNG.integers(0, 4, 6)]
    assert_grad_ok(f, logits(6, 4), y)
    soft = np.full((6, 4), 0.25)  # soft labels: the rows of y need not be one-hot
    assert_grad_ok(f, logits(6, 4), soft)


def test_softmax_along_axis_0_without_max_subtraction(tmp_path):
    f = derive_source('''
        def f(theta, w):
            e = np.exp(theta)
            p = e / np.sum(e, axis=0, keepdims=True)
            return np.sum(w * p)
    ''', tmp_path)
    assert "dtheta = p * (dp - (dp * p).sum(axis=0, keepdims=True))" in f.source
    assert_grad_ok(f, logits(3, 5), logits(3, 5))


def test_softmax_intermediate_used_elsewhere_still_gets_its_gradient(tmp_path):
    f = derive_source('''
        def f(theta):
            e = np.exp(theta - theta.max(axis=1, keepdims=True))
            p = e / e.sum(axis=1, keepdims=True)
            return np.sum(p * p) + np.sum(e)
    ''', tmp_path)
    assert "yhat" not in f.source and "(dp - (dp * p).sum(axis=1, keepdims=True))" in f.source
    assert_grad_ok(f, logits(4, 3))


def test_sigmoid_through_its_value(tmp_path):
    f = derive_source('''
        def f(z, y):
            h = 1 / (1 + np.exp(-z))
            return np.sum((h - y) ** 2)
    ''', tmp_path, wrt=("z",))
    assert "dz = dh * h * (1.0 - h)" in f.source
    assert_grad_ok(f, logits(5), logits(5))


def test_sigmoid_binary_cross_entropy(tmp_path):
    f = derive_source('''
        def f(w: "f[D]", X: "f[N, D]", y: "f[N]"):
            p = 1 / (1 + np.exp(-(X @ w)))
            return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    ''', tmp_path, wrt=("w",))
    assert "dXw = (p - y) / np.size(y)" in f.source, f.source
    assert "sigmoid + binary cross-entropy" in f.source
    after = f.source.split("def f_value_and_grad")[1].split("# return")[1]
    backward = [line for line in after.splitlines()[1:] if not line.strip().startswith("#")]
    assert not any("np.log" in line for line in backward)  # the backward never takes a log
    assert_grad_ok(f, logits(3), logits(8, 3), (RNG.random(8) > 0.5).astype(float))


def test_sigmoid_binary_cross_entropy_labels_get_their_gradient(tmp_path):
    f = derive_source('''
        def f(z, y):
            p = 1 / (1 + np.exp(-z))
            return -np.sum(y * np.log(p) + (1 - y) * np.log(1 - p))
    ''', tmp_path)
    assert f.wrt == ("z", "y")
    assert_grad_ok(f, logits(6), RNG.random(6))


@pytest.mark.parametrize("body, text", [
    ("h = np.maximum(z, 0.0)\n    return np.sum(h * w)", "dz = dh * (0.5 * (1.0 + np.sign(z)))"),
    ("h = np.tanh(z)\n    return np.sum(h * w)", "dz = dh * (1.0 - h ** 2)"),
    ("h = np.exp(z)\n    return np.sum(h * w)", "dz = dh * h"),
])
def test_activation_derivatives_through_the_forward_value(body, text, tmp_path):
    f = derive_source(f'''
def f(z: "f[B, H]", w: "f[B, H]"):
    {body}
''', tmp_path, wrt=("z",))
    assert text in f.source, f.source
    assert_grad_ok(f, logits(3, 4) + 0.01, logits(3, 4))


def test_sum_of_squares_reads_like_the_cs231n_example(tmp_path):
    f = derive_source('''
        def f(W: "f[N, D]", x: "f[D]"):
            q = W @ x
            return np.sum(q ** 2)
    ''', tmp_path)
    assert "dq = 2.0 * q" in f.source  # written for the seed 1.0, scaled at the end otherwise
    assert "dW = np.outer(dq, x)" in f.source and "dx = W.T @ dq" in f.source
    assert_grad_ok(f, logits(3, 4), logits(4))


def test_log_sum_exp_written_out_with_max_subtraction(tmp_path):
    f = derive_source('''
        def f(x: "f[B, C]", w: "f[B, 1]"):
            m = x.max(axis=1, keepdims=True)
            lse = m + np.log(np.sum(np.exp(x - m), axis=1, keepdims=True))
            return np.sum(lse * w)
    ''', tmp_path, wrt=("x",))
    assert "dx = dlse * np.exp(x - lse)" in f.source and "log-sum-exp" in f.source
    assert "x_is_max" not in f.source  # the max's zero gradient is not computed
    assert_grad_ok(f, logits(4, 5), logits(4, 1))
    (dx,) = f.backward(np.array([[1000.0, -1000.0, 999.0]]), np.ones((1, 1)))
    assert np.all(np.isfinite(dx)) and np.isclose(dx.sum(), 1.0)


def test_log_softmax_written_out_with_max_subtraction(tmp_path):
    f = derive_source('''
        def f(theta: "f[B, C]", y: "f[B, C]"):
            m = theta.max(axis=1, keepdims=True)
            logp = theta - m - np.log(np.sum(np.exp(theta - m), axis=1, keepdims=True))
            return -np.sum(y * logp)
    ''', tmp_path, wrt=("theta",))
    assert "np.exp(logp) * np.sum(dlogp, axis=1, keepdims=True)" in f.source, f.source
    assert "theta_is_max" not in f.source
    y = np.eye(5)[RNG.integers(0, 5, 4)]
    assert_grad_ok(f, logits(4, 5), y)
    (dtheta,) = f.backward(np.array([[1000.0, -1000.0, 0.0]]), np.array([[0.0, 1.0, 0.0]]))
    assert np.allclose(dtheta, [[1.0, -1.0, 0.0]])


def test_softmax_cross_entropy_closed_form_with_shapes(tmp_path):
    """Identity (7) of the notes: with y's shape known, dtheta = (yhat * y.sum(axis) - y) / n, which
    is the notes' (yhat - y) / n for one-hot rows."""
    f = derive_source(SOFTMAX_CE.format(ann=': "f[B, C]"', axis=1).replace("y):", 'y: "f[B, C]"):'),
                      tmp_path)
    assert "dtheta = (yhat * y.sum(axis=1, keepdims=True) - y) / theta.shape[0]" in f.source, f.source
    assert "softmax + cross-entropy" in f.source
    assert_grad_ok(f, logits(6, 4), np.eye(4)[RNG.integers(0, 4, 6)])
    assert_grad_ok(f, logits(6, 4), np.full((6, 4), 0.25))  # soft labels, and y's own gradient


AT_LABELS = '''
    def f(X: "f[N, D]", W: "f[D, C]", y: "i[N]"{extra}):
        N = X.shape[0]
        scores = X @ W
        scores -= np.max(scores, axis=1, keepdims=True)
        probs = np.exp(scores)
        probs /= np.sum(probs, axis=1, keepdims=True)
        loss = -np.sum(np.log(probs[{rows}, y])) / N
        return loss{more}
'''


@pytest.mark.parametrize("extra, more, fused", [
    ("", "", True),
    ("", " + np.sum(probs ** 2)", True),             # probs also used elsewhere: both paths
    (", K: int = 3", "", False),                     # np.arange(K): the shapes cannot tell K == N
])
def test_softmax_cross_entropy_at_integer_labels(extra, more, fused, tmp_path):
    """The CS231n softmax loss: yhat[np.arange(N), y] picks one entry per row, so the adjoint
    of the scores is the notes' (yhat - y) / N, written as yhat scaled and the label entries
    moved; with np.arange over something the shapes cannot match to N it is not fused."""
    rows = "np.arange(K)" if "K" in extra else "np.arange(N)"
    f = derive_source(AT_LABELS.format(extra=extra, more=more, rows=rows), tmp_path, wrt=("W",))
    X, W, y = logits(5, 3), logits(3, 4), np.array([0, 3, 3, 1, 2])
    if fused:
        assert "softmax + cross-entropy at labels" in f.source
        # as CS231n writes it: the probabilities over N, the label entries moved by 1 / N
        assert "[arange_N, y] -= 1.0 / N\n" in f.source and "np.add.at" not in f.source
        assert_grad_ok(f, X, W, y)
        probs = np.exp(X @ W - (X @ W).max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        if not more:
            (dW,) = f.backward(X, W, y)
            assert np.allclose(dW, X.T @ (probs - np.eye(4)[y]) / 5)
            (dW2,) = f.backward(X, W, y, dloss=2.0)
            assert np.allclose(dW2, 2.0 * dW)
    else:
        assert "at labels" not in f.source
        X, y = logits(3, 3), np.array([0, 3, 3])  # K == N == 3 here, for the check
        assert_grad_ok(f, X, W, y, 3)


def test_softmax_cross_entropy_at_labels_needs_the_shapes(tmp_path):
    f = derive_source('''
    def f(X, W, y):
        e = np.exp(X @ W)
        p = e / np.sum(e, axis=1, keepdims=True)
        return -np.sum(np.log(p[np.arange(X.shape[0]), y]))
''', tmp_path, wrt=("W",))
    assert "at labels" not in f.source  # p's shape is unknown: the gather is scattered back
    assert_grad_ok(f, logits(4, 3), logits(3, 5), np.array([4, 0, 0, 2]))


def test_softmax_cross_entropy_at_labels_never_updates_the_probabilities(tmp_path):
    """Regression: without the 1 / N the folded seed left dscores = probs, and the label update
    then changed probs itself, which the other term's adjoint reads (relative error 0.17). The
    rule takes a copy where folding leaves a bare name."""
    f = derive_source('''
    def f(W: "f[D, C]", X: "f[N, D]", y: "i[N]"):
        N = X.shape[0]
        e = np.exp(X @ W)
        probs = e / np.sum(e, axis=1, keepdims=True)
        return -np.sum(np.log(probs[np.arange(N), y])) + np.sum(probs ** 2)
''', tmp_path, wrt=("W",))
    assert "softmax + cross-entropy at labels" in f.source
    assert "= probs.copy()\n" in f.source
    assert "[arange_N, y] -= 1.0\n" in f.source
    assert_grad_ok(f, logits(3, 4), logits(5, 3), np.array([0, 1, 3, 3, 2]))


@pytest.mark.parametrize("reduce, scale", [("np.sum", 1.0), ("np.mean", 1 / 5)])
def test_softmax_cross_entropy_at_labels_summed_or_averaged(reduce, scale, tmp_path):
    f = derive_source(f'''
    def f(W: "f[D, C]", X: "f[N, D]", y: "i[N]"):
        e = np.exp(X @ W)
        probs = e / np.sum(e, axis=1, keepdims=True)
        return -{reduce}(np.log(probs[np.arange(X.shape[0]), y]))
''', tmp_path, wrt=("W",))
    assert "softmax + cross-entropy at labels" in f.source
    X, W, y = logits(5, 3), logits(3, 4), np.array([1, 1, 0, 3, 2])
    assert_grad_ok(f, W, X, y)
    p = np.exp(X @ W)
    p /= p.sum(axis=1, keepdims=True)
    (dW,) = f.backward(W, X, y)
    assert np.allclose(dW, scale * X.T @ (p - np.eye(4)[y]))
