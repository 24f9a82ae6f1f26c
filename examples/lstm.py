"""An LSTM over a fixed number of steps, with a softmax classifier on its last state.

The cell is a function of its own, called once per step, returning the new hidden and cell
states; gradgen writes the loop out step by step and each call in place, so the generated
backward reads as backpropagation through time done by hand: each block names the step it
reverses, and the steps' slices of xs add into one dxs.
"""

import sys

import numpy as np

import gradgen


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def lstm_cell(x, h, c, W, U, b):
    """One step: the four gates from the input and the last hidden state."""
    z = x @ W + h @ U + b
    i, f, o, g = np.split(z, 4, axis=1)
    c_next = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    h_next = sigmoid(o) * np.tanh(c_next)
    return h_next, c_next


@gradgen.derive(wrt=("W", "U", "b", "V", "d"))
def loss(xs: "f[4, N, D]", W: "f[D, 4*H]", U: "f[H, 4*H]", b: "f[4*H]", V: "f[H, C]", d: "f[C]",
         y: "f[N, C]"):
    n = xs.shape[1]
    h = np.zeros((n, U.shape[0]))
    c = np.zeros((n, U.shape[0]))
    for x_t in xs:
        h, c = lstm_cell(x_t, h, c, W, U, b)
    logits = h @ V + d
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    yhat = e / e.sum(axis=1, keepdims=True)
    return -np.sum(y * np.log(yhat)) / n


if __name__ == "__main__":
    from lstm_grad import loss_backward

    rng = np.random.default_rng(3)
    steps, n, d_in, hidden, classes = 4, 5, 3, 6, 4
    xs = rng.standard_normal((steps, n, d_in))
    y = np.eye(classes)[rng.integers(0, classes, n)]
    W = rng.standard_normal((d_in, 4 * hidden)) / np.sqrt(d_in)
    U = rng.standard_normal((hidden, 4 * hidden)) / np.sqrt(hidden)
    b = 0.1 * rng.standard_normal(4 * hidden)
    V = rng.standard_normal((hidden, classes)) / np.sqrt(hidden)
    d = 0.1 * rng.standard_normal(classes)
    args = (xs, W, U, b, V, d, y)

    value, grads = loss.value_and_grad(*args)
    print(f"loss {value:.4f}")
    for name, g in zip(loss.wrt, grads):
        print(f"d{name}: shape {g.shape}")
    result = gradgen.check_grad(loss, *args)
    print(result)
    same = all(np.allclose(g, e, rtol=1e-12, atol=0) for g, e in zip(grads, loss_backward(*args)))
    print("lstm_grad.loss_backward returns the same arrays:", same)
    if not (result.ok and same):
        sys.exit(1)
    print("check passed")
