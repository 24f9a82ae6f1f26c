"""A rule of your own: gradgen inlines the adjoint you give for a function it cannot see into.

softplus(z) = log(1 + e^z) is written with np.logaddexp to stay finite for large z; its
derivative is the sigmoid. Registering that once lets every derived function that calls
softplus use it, through the decorator and the CLI alike (the rule lives in this file).
"""

import sys

import numpy as np

import gradgen


def softplus(z):
    return np.logaddexp(0.0, z)


@gradgen.rule(softplus)
def _(z, out, dout):
    return dout * np.exp(z - out)  # sigmoid(z) = e^z / (1 + e^z), through the forward value


@gradgen.derive(wrt=("W", "b"))
def loss(W: "f[D, H]", b: "f[H]", x: "f[B, D]", y: "f[B, H]"):
    h: "f[B, H]" = softplus(x @ W + b)  # gradgen cannot see the shape through softplus: say it
    return np.mean((h - y) ** 2)


if __name__ == "__main__":
    from custom_rule_grad import loss_backward

    rng = np.random.default_rng(7)
    W, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    x, y = rng.standard_normal((6, 3)) * 40, rng.standard_normal((6, 4))  # large pre-activations too
    dW, db = loss.backward(W, b, x, y)
    print("dW:", np.round(dW.ravel()[:4], 4), "db:", np.round(db, 4))
    result = gradgen.check_grad(loss, W, b, x / 40, y)
    print(result)
    same = all(np.allclose(a, c, rtol=1e-12) for a, c in zip(loss_backward(W, b, x, y), (dW, db)))
    print("committed module agrees:", same)
    print("finite at large inputs:", bool(np.all(np.isfinite(dW))))
    if not (result.ok and same):
        sys.exit(1)
    print("check passed")
