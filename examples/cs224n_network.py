"""The 1-layer network with embeddings of the CS224n gradient notes (course note 002).

x = [L_w0, ..., L_w(m-1)] (an embedding lookup), z = x W + b1, h = ReLU(z),
theta = h U + b2, yhat = softmax(theta), J = CE(y, yhat), over n examples.
The notes' two shared terms: delta1 = dJ/dtheta = (yhat - y) / n (identity (7)),
delta2 = dJ/dz = delta1 U^T o sgn(h) (identities (2) and (4)). Then
dU = h^T delta1 and dW = x^T delta2 (identity (6)), db2 and db1 sum delta1 and
delta2 over rows, and dL adds each row of delta2 W^T back at the word it came
from (a word used twice gets both). words holds integer indices and has no
gradient (gradgen leaves it out of the default wrt, and refuses it in wrt);
the labels y would be in the default wrt, so wrt names the parameters.
"""

import sys

import numpy as np

import gradgen


@gradgen.derive(wrt=("L", "W", "b1", "U", "b2"))
def loss(L: "f[V, d]", words: "i[B, m]", W: "f[m*d, Dh]", b1: "f[Dh]", U: "f[Dh, Nc]", b2: "f[Nc]",
         y: "f[B, Nc]"):
    n = words.shape[0]
    x = L[words].reshape(n, -1)
    z = x @ W + b1
    h = np.maximum(z, 0.0)
    theta = h @ U + b2
    e = np.exp(theta - theta.max(axis=1, keepdims=True))
    yhat = e / e.sum(axis=1, keepdims=True)
    J = -np.sum(y * np.log(yhat)) / n
    return J


if __name__ == "__main__":
    from cs224n_network_grad import loss_backward

    rng = np.random.default_rng(224)
    vocab, d, m, Dh, Nc, n = 10, 3, 4, 6, 3, 5
    L = rng.standard_normal((vocab, d))
    words = rng.integers(0, vocab, size=(n, m))
    words[0, :2] = 7  # a word used twice in one window
    W = rng.standard_normal((m * d, Dh)) * 0.5
    b1 = rng.standard_normal(Dh) * 0.1
    U = rng.standard_normal((Dh, Nc)) * 0.5
    b2 = rng.standard_normal(Nc) * 0.1
    y = np.eye(Nc)[rng.integers(0, Nc, size=n)]  # one-hot rows

    print("wrt:", loss.wrt)
    args = (L, words, W, b1, U, b2, y)
    grads = loss.backward(*args)
    for name, g in zip(loss.wrt, grads):
        print(f"d{name}: shape {g.shape}, values {np.round(g.ravel()[:4], 4)}")

    x = L[words].reshape(n, -1)
    h = np.maximum(x @ W + b1, 0.0)
    theta = h @ U + b2
    yhat = np.exp(theta - theta.max(axis=1, keepdims=True))
    yhat /= yhat.sum(axis=1, keepdims=True)
    delta1 = (yhat - y) / n
    delta2 = delta1 @ U.T * np.sign(h)
    dL = np.zeros_like(L)
    np.add.at(dL, words, (delta2 @ W.T).reshape(n, m, d))
    expected = {"L": dL, "W": x.T @ delta2, "b1": delta2.sum(axis=0), "U": h.T @ delta1,
                "b2": delta1.sum(axis=0)}
    as_noted = all(np.allclose(g, expected[name]) for name, g in zip(loss.wrt, grads))
    print("matches the notes (delta1 = yhat - y, delta2 = delta1 U^T o sgn(h)):", as_noted)

    result = gradgen.check_grad(loss, *args)
    print(result)
    same = all(np.shape(g) == np.shape(e) and np.allclose(g, e, rtol=1e-12, atol=0)
               for g, e in zip(grads, loss_backward(*args)))
    print("cs224n_network_grad.loss_backward returns the same arrays:", same)
    if not (as_noted and result.ok and same):
        sys.exit(1)
    print("check passed")
