"""A residual block and a softmax classifier, written as small functions.

gradgen writes each call out in place, so the generated module needs only NumPy and its
backward reads layer by layer: the cross-entropy over the called softmax is still the
identity dlogits = (yhat - y) / N, and the residual sum hands dh to both branches.
"""

import sys

import numpy as np

import gradgen

EPS = 1e-5


def layer_norm(x: "f[N, D]", gain: "f[D]", shift: "f[D]"):
    """Each row scaled to mean 0 and variance 1, then by gain and shift."""
    mu = x.mean(axis=1, keepdims=True)
    centered = x - mu
    var = (centered ** 2).mean(axis=1, keepdims=True)
    return centered / np.sqrt(var + EPS) * gain + shift


def dense(x, W, b):
    return x @ W + b


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@gradgen.derive(wrt=("gain", "shift", "W1", "b1", "W2", "b2", "Wo", "bo"))
def loss(x: "f[N, D]", gain: "f[D]", shift: "f[D]", W1: "f[D, H]", b1: "f[H]", W2: "f[H, D]",
         b2: "f[D]", Wo: "f[D, C]", bo: "f[C]", y: "f[N, C]"):
    a = np.maximum(dense(layer_norm(x, gain, shift), W1, b1), 0.0)
    h = x + dense(a, W2, b2)
    yhat = softmax(dense(h, Wo, bo))
    return -np.sum(y * np.log(yhat)) / x.shape[0]


if __name__ == "__main__":
    from residual_net_grad import loss_backward

    rng = np.random.default_rng(7)
    n, d, hidden, classes = 8, 6, 16, 4
    x = rng.standard_normal((n, d))
    y = np.eye(classes)[rng.integers(0, classes, n)]
    params = dict(gain=1.0 + 0.1 * rng.standard_normal(d), shift=0.1 * rng.standard_normal(d),
                  W1=rng.standard_normal((d, hidden)) / np.sqrt(d), b1=0.1 * rng.standard_normal(hidden),
                  W2=rng.standard_normal((hidden, d)) / np.sqrt(hidden), b2=0.1 * rng.standard_normal(d),
                  Wo=rng.standard_normal((d, classes)) / np.sqrt(d), bo=0.1 * rng.standard_normal(classes))
    args = (x, *params.values(), y)

    value, grads = loss.value_and_grad(*args)
    print(f"loss {value:.4f}")
    for name, g in zip(loss.wrt, grads):
        print(f"d{name}: shape {g.shape}")
    result = gradgen.check_grad(loss, *args)
    print(result)
    same = all(np.allclose(g, e, rtol=1e-12, atol=0) for g, e in zip(grads, loss_backward(*args)))
    print("residual_net_grad.loss_backward returns the same arrays:", same)
    if not (result.ok and same):
        sys.exit(1)
    print("check passed")
