"""Logistic regression with the binary cross-entropy loss (course notes 002 and 003).

z = X w + b, p = sigmoid(z), J = -mean(y log p + (1 - y) log(1 - p)).
The sigmoid and the cross-entropy cancel to dJ/dz = (p - y) / n, and then
identity (6) of the CS224n notes gives dJ/dw = X^T dz; b is broadcast over
the n rows, so dJ/db = sum(dz).
"""

import sys

import numpy as np

import gradgen


@gradgen.derive(wrt=("w", "b"))
def loss(w: "f[D]", b: float, X: "f[N, D]", y: "f[N]"):
    z = X @ w + b
    p = 1 / (1 + np.exp(-z))
    J = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    return J


if __name__ == "__main__":
    from logistic_regression_grad import loss_backward

    rng = np.random.default_rng(2)
    n, d = 8, 3
    X = rng.standard_normal((n, d))
    y = (rng.random(n) < 0.5).astype(np.float64)
    w = rng.standard_normal(d)
    b = 0.1

    grads = loss.backward(w, b, X, y)
    for name, g in zip(loss.wrt, grads):
        print(f"d{name}: shape {np.shape(g)}, values {np.round(np.ravel(g)[:4], 4)}")
    dz = (1 / (1 + np.exp(-(X @ w + b))) - y) / n
    as_noted = np.allclose(grads[0], X.T @ dz) and np.allclose(grads[1], dz.sum())
    print("matches the note (dw = X^T dz, db = sum(dz), dz = (p - y) / n):", as_noted)
    result = gradgen.check_grad(loss, w, b, X, y)
    print(result)
    same = all(np.shape(g) == np.shape(e) and np.allclose(g, e, rtol=1e-12, atol=0)
               for g, e in zip(grads, loss_backward(w, b, X, y)))
    print("logistic_regression_grad.loss_backward returns the same arrays:", same)
    if not (as_noted and result.ok and same):
        sys.exit(1)
    print("check passed")
