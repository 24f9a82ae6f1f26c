"""The classifiers of CS231n's first assignment, vectorized and written the way the assignment
writes them, updating arrays in place (scores -= ..., margins[...] = 0, loss += ...):

- the multiclass SVM loss: margins = max(0, s_j - s_y + 1) for j != y; dW = X^T B / N + 2 reg W,
  where B holds 1 where a margin is positive and minus the row's count of those at the label;
- the softmax loss: p = softmax(s); dW = X^T (p - Y) / N + 2 reg W, with Y the one-hot labels;
- the two-layer net, affine - ReLU - affine - softmax: the same dscores = (p - Y) / N, then
  back through the second layer (dh = dscores W2^T) and the ReLU (dh where h > 0).

gradgen finds all three from the forward alone; the check below compares them with those
closed forms and with central differences.
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


@gradgen.derive(wrt=("W1", "b1", "W2", "b2"))
def two_layer_net(W1: "f[D, H]", b1: "f[H]", W2: "f[H, C]", b2: "f[C]", X: "f[N, D]", y: "i[N]",
                  reg: float):
    N, D = X.shape
    h1 = np.maximum(0, X.dot(W1) + b1)
    scores = h1.dot(W2) + b2
    scores -= np.max(scores, axis=1, keepdims=True)
    exp_scores = np.exp(scores)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    loss = -np.sum(np.log(probs[np.arange(N), y])) / N
    loss += reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    return loss


def two_layer_net_by_hand(W1, b1, W2, b2, X, y, reg):
    """The assignment's backward: dscores, then the second layer, the ReLU and the first."""
    N = X.shape[0]
    h1 = np.maximum(0, X @ W1 + b1)
    s = h1 @ W2 + b2
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dscores = (p - np.eye(W2.shape[1])[y]) / N
    dh = dscores @ W2.T * (h1 > 0)
    return (X.T @ dh + 2 * reg * W1, dh.sum(axis=0), h1.T @ dscores + 2 * reg * W2, dscores.sum(axis=0))


if __name__ == "__main__":
    from cs231n_classifiers_grad import softmax_loss_backward, svm_loss_backward, two_layer_net_backward

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
              f"cs231n_classifiers_grad gives the same: {same}")
        ok = ok and as_noted and result.ok and same

    H = 6
    W1, b1 = 0.5 * rng.standard_normal((D, H)), 0.1 * rng.standard_normal(H)
    W2, b2 = 0.5 * rng.standard_normal((H, C)), 0.1 * rng.standard_normal(C)
    net = (W1, b1, W2, b2, X, y, reg)
    grads = two_layer_net.backward(*net)
    as_noted = all(np.allclose(g, e) for g, e in zip(grads, two_layer_net_by_hand(*net)))
    result = gradgen.check_grad(two_layer_net, *net)
    same = all(np.allclose(g, e, rtol=1e-12, atol=0) for g, e in zip(two_layer_net_backward(*net), grads))
    print(f"two_layer_net: the gradients match the assignment's backward: {as_noted}; {result}; "
          f"cs231n_classifiers_grad gives the same: {same}")
    ok = ok and as_noted and result.ok and same
    if not ok:
        sys.exit(1)
    print("check passed")
