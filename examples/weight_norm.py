"""f(x, W) = ||W x||^2, the vectorized example of the CS231n lecture (course note 000).

With q = W x and f = sum(q ** 2): df/dq = 2q, then through the product
df/dW = 2 q x^T and df/dx = 2 W^T q. Never a Jacobian: each gradient has the
shape of its variable.
"""

import sys

import numpy as np

import gradgen


@gradgen.derive
def f(x: "f[D]", W: "f[N, D]"):
    q = W @ x
    return np.sum(q ** 2)


if __name__ == "__main__":
    from weight_norm_grad import f_backward

    rng = np.random.default_rng(0)
    x = rng.standard_normal(2)
    W = rng.standard_normal((2, 2))

    grads = f.backward(x, W)
    for name, g in zip(f.wrt, grads):
        print(f"d{name}: shape {g.shape}, values {np.round(g.ravel()[:4], 4)}")
    q = W @ x
    as_noted = np.allclose(grads[0], 2 * W.T @ q) and np.allclose(grads[1], 2 * np.outer(q, x))
    print("matches the note (dx = 2 W^T q, dW = 2 q x^T):", as_noted)
    result = gradgen.check_grad(f, x, W)
    print(result)
    same = all(np.shape(g) == np.shape(h) and np.allclose(g, h, rtol=1e-12, atol=0)
               for g, h in zip(grads, f_backward(x, W)))
    print("weight_norm_grad.f_backward returns the same arrays:", same)
    if not (as_noted and result.ok and same):
        sys.exit(1)
    print("check passed")
