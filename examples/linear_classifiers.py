"""The multiclass SVM and softmax losses of a linear classifier, vectorized, written the way the
CS231n assignment writes them: updating arrays in place (scores -= ..., margins[...] = 0,
loss += ...).

SVM: margins = max(0, s_j - s_y + 1) for j != y; dW = X^T B / N + 2 reg W, where B holds 1 where
a margin is positive and minus the row's count of those at the true class.
Softmax: p = softmax(s); dW = X^T (p - Y) / N + 2 reg W, with Y the one-hot labels.
gradgen finds both from the forward alone; the check below compares them with those closed
forms and with central differences.
"""

import sys

import numpy as np

import gradgen


@gradgen.derive(wrt=("W",))
def svm_loss(W: "f[D, C]", X: "f[N, D]", y: "i[N]", reg: float):
    N = X.shape[0]
    scores = X.dot(W)
    correct = scores[np.arange(N), y][:, np.newaxis]
    margins = np.maximum(0, scores - correct + 1)
    margins[np.arange(N), y] = 0
    loss = np.sum(margins) / N
    loss += reg * np.sum(W * W)
    return loss


@gradgen.derive(wrt=("W",))
def softmax_loss(W: "f[D, C]", X: "f[N, D]", y: "i[N]", reg: float):
    N = X.shape[0]
    scores = X.dot(W)
    scores -= np.max(scores, axis=1, keepdims=True)
    probs = np.exp(scores)
    probs /= np.sum(probs, axis=1, keepdims=True)
    loss = -np.sum(np.log(probs[np.arange(N), y])) / N
    loss += reg * np.sum(W * W)
    return loss


if __name__ == "__main__":
    from linear_classifiers_grad import softmax_loss_backward, svm_loss_backward

    rng = np.random.default_rng(7)
    N, D, C = 16, 5, 4
    X = rng.standard_normal((N, D))
    y = rng.integers(0, C, size=N)
    W = 0.01 * rng.standard_normal((D, C))
    reg = 0.1

    margins = np.maximum(0, X @ W - (X @ W)[np.arange(N), y][:, None] + 1)
    margins[np.arange(N), y] = 0
    B = (margins > 0).astype(float)
    B[np.arange(N), y] = -B.sum(axis=1)
    svm_by_hand = X.T @ B / N + 2 * reg * W
    s = X @ W
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    softmax_by_hand = X.T @ (p - np.eye(C)[y]) / N + 2 * reg * W

    ok = True
    for f, backward, by_hand in ((svm_loss, svm_loss_backward, svm_by_hand),
                                 (softmax_loss, softmax_loss_backward, softmax_by_hand)):
        (dW,) = f.backward(W, X, y, reg)
        as_noted = np.allclose(dW, by_hand)
        result = gradgen.check_grad(f, W, X, y, reg)
        same = np.allclose(backward(W, X, y, reg)[0], dW, rtol=1e-12, atol=0)
        print(f"{f.__name__}: dW matches the closed form: {as_noted}; {result}; "
              f"linear_classifiers_grad gives the same: {same}")
        ok = ok and as_noted and result.ok and same
    if not ok:
        sys.exit(1)
    print("check passed")
