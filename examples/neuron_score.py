"""s = u^T f(W x + b) with f the sigmoid: one neuron's score (course notes 001 and 004).

With z = W x + b and h = f(z), the notes share one term,
delta = ds/dh * dh/dz = u * f'(z) (f'(z) = h (1 - h) for the sigmoid),
and reuse it: ds/db = delta, ds/dW = delta x^T, ds/dx = W^T delta, ds/du = h.
The elementwise f has a diagonal Jacobian, so delta is a product, not a matrix.
"""

import sys

import numpy as np

import gradgen


@gradgen.derive
def score(W: "f[H, D]", b: "f[H]", u: "f[H]", x: "f[D]"):
    z = W @ x + b
    h = 1 / (1 + np.exp(-z))
    s = u @ h
    return s


if __name__ == "__main__":
    from neuron_score_grad import score_backward

    rng = np.random.default_rng(1)
    W = rng.standard_normal((3, 4))
    b = rng.standard_normal(3)
    u = rng.standard_normal(3)
    x = rng.standard_normal(4)

    grads = score.backward(W, b, u, x)
    for name, g in zip(score.wrt, grads):
        print(f"d{name}: shape {g.shape}, values {np.round(g.ravel()[:4], 4)}")
    h = 1 / (1 + np.exp(-(W @ x + b)))
    delta = u * h * (1 - h)
    expected = (np.outer(delta, x), delta, h, W.T @ delta)
    as_noted = all(np.allclose(g, e) for g, e in zip(grads, expected))
    print("matches the note (delta x^T, delta, h, W^T delta):", as_noted)
    result = gradgen.check_grad(score, W, b, u, x)
    print(result)
    same = all(np.shape(g) == np.shape(e) and np.allclose(g, e, rtol=1e-12, atol=0)
               for g, e in zip(grads, score_backward(W, b, u, x)))
    print("neuron_score_grad.score_backward returns the same arrays:", same)
    if not (as_noted and result.ok and same):
        sys.exit(1)
    print("check passed")
