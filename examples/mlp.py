"""A 2-layer perceptron, tanh hidden layer, mean squared error (course note 002).

h = tanh(X W1 + b1), Yhat = h W2 + b2, J = mean((Yhat - Y) ** 2).
Backwards, layer by layer: dYhat = 2 (Yhat - Y) / Yhat.size, then identity (6)
dW2 = h^T dYhat and identity (2) dh = dYhat W2^T; the biases are broadcast over
rows, so db2 = dYhat summed over rows. tanh' is written through the activation
itself (identity (4)): dz = dh * (1 - h ** 2), and again dW1 = X^T dz.
"""

import sys

import numpy as np

import gradgen


@gradgen.derive(wrt=("W1", "b1", "W2", "b2"))
def mse(W1: "f[D, H]", b1: "f[H]", W2: "f[H, K]", b2: "f[K]", X: "f[N, D]", Y: "f[N, K]"):
    h = np.tanh(X @ W1 + b1)
    Yhat = h @ W2 + b2
    return np.mean((Yhat - Y) ** 2)


if __name__ == "__main__":
    from mlp_grad import mse_backward

    rng = np.random.default_rng(5)
    n, d_in, d_hidden, d_out = 6, 4, 5, 2
    X = rng.standard_normal((n, d_in))
    Y = rng.standard_normal((n, d_out))
    W1 = rng.standard_normal((d_in, d_hidden)) * 0.5
    b1 = rng.standard_normal(d_hidden) * 0.1
    W2 = rng.standard_normal((d_hidden, d_out)) * 0.5
    b2 = rng.standard_normal(d_out) * 0.1

    grads = mse.backward(W1, b1, W2, b2, X, Y)
    for name, g in zip(mse.wrt, grads):
        print(f"d{name}: shape {g.shape}, values {np.round(g.ravel()[:4], 4)}")
    h = np.tanh(X @ W1 + b1)
    dYhat = 2 * (h @ W2 + b2 - Y) / Y.size
    dz = dYhat @ W2.T * (1 - h ** 2)
    expected = (X.T @ dz, dz.sum(axis=0), h.T @ dYhat, dYhat.sum(axis=0))
    as_noted = all(np.allclose(g, e) for g, e in zip(grads, expected))
    print("matches the layer-by-layer identities:", as_noted)
    result = gradgen.check_grad(mse, W1, b1, W2, b2, X, Y)
    print(result)
    same = all(np.shape(g) == np.shape(e) and np.allclose(g, e, rtol=1e-12, atol=0)
               for g, e in zip(grads, mse_backward(W1, b1, W2, b2, X, Y)))
    print("mlp_grad.mse_backward returns the same arrays:", same)
    if not (as_noted and result.ok and same):
        sys.exit(1)
    print("check passed")
