"""The benchmark workloads: an annotated NumPy forward, a hand-written forward + backward,
a PyTorch forward, and an input maker for each.

The NumPy forwards are plain functions (not decorated): the runner derives them itself, so
that it can time what ``@gradgen.derive`` costs. autograd and JAX run the very same function
objects' code with ``np`` bound to ``autograd.numpy`` or ``jax.numpy`` (see systems.py).
The PyTorch forwards repeat each NumPy forward op for op, so every system computes the same
function the same way.

The hand-written versions run the forward exactly as the annotated one writes it (so only the
backward differs), then the closed-form identities a person would write (``dW = x.T @ dz``,
``dz = dh * (z > 0)``, the softmax-cross-entropy ``yhat - y``, the layer-norm and attention
backwards), computing each shared term once. Each returns ``(value, grads)`` in the order of
``Workload.wrt``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

EPS = 1e-5  # layer norm's variance floor (a module constant: gradgen copies it)


@dataclass
class Workload:
    name: str
    forward: Callable  # annotated NumPy forward, undecorated
    wrt: tuple[str, ...]
    make_args: Callable[[np.random.Generator], tuple]  # every argument, in order
    hand: Callable  # (*args) -> (value, grads)
    torch_forward: Callable | None = None
    quick: bool = True  # part of --quick
    params: dict = field(default_factory=dict)  # sizes, for the report

    @property
    def positions(self) -> tuple[int, ...]:
        code = self.forward.__code__
        names = code.co_varnames[:code.co_argcount]
        return tuple(names.index(n) for n in self.wrt)


# -- J = 3 (a + b c) on Python floats: pure per-call overhead ----------------------------

def scalar(a: float, b: float, c: float):
    J = 3 * (a + b * c)
    return J


def scalar_hand(a, b, c):
    return 3 * (a + b * c), (3.0, 3.0 * c, 3.0 * b)


def scalar_torch(a, b, c):
    return 3 * (a + b * c)


def scalar_args(rng):
    return tuple(float(v) for v in rng.standard_normal(3))


# -- ||W x||^2: a matrix-vector product and a squared norm ----------------------------------------------------------------------------

def sqnorm(W: "f[N, N]", x: "f[N]"):
    y = W @ x
    J = np.sum(y ** 2)
    return J


def sqnorm_hand(W, x):
    y = W @ x
    J = np.sum(y ** 2)
    dy = 2.0 * y
    return J, (np.outer(dy, x), W.T @ dy)


def sqnorm_torch(W, x):
    import torch
    y = W @ x
    return torch.sum(y ** 2)


def sqnorm_args(n):
    def make(rng):
        return rng.standard_normal((n, n)) / np.sqrt(n), rng.standard_normal(n)
    return make


# -- sum((x + y) * max(y, z)): "+ distributes, max routes, * switches" -----------------

def max_routes(x: "f[N]", y: "f[N]", z: "f[N]"):
    q = x + y
    m = np.maximum(y, z)
    J = np.sum(q * m)
    return J


def max_routes_hand(x, y, z):
    q = x + y
    m = np.maximum(y, z)
    # max routes dm = q to the larger input; a tie is split evenly (as autograd, JAX, torch)
    to_y = q * ((y > z) + 0.5 * (y == z))
    return np.sum(q * m), (m, m + to_y, q - to_y)


def max_routes_torch(x, y, z):
    import torch
    return torch.sum((x + y) * torch.maximum(y, z))


def max_routes_args(n):
    def make(rng):
        return rng.standard_normal(n), rng.standard_normal(n), rng.standard_normal(n)
    return make


# -- the CS224n network: embedding -> ReLU -> softmax cross-entropy ----------------------
# the forward as examples/cs224n_network.py writes it

def cs224n(L: "f[V, d]", words: "i[B, m]", W: "f[m*d, Dh]", b1: "f[Dh]", U: "f[Dh, Nc]", b2: "f[Nc]",
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


def cs224n_hand(L, words, W, b1, U, b2, y):
    n = words.shape[0]
    x = L[words].reshape(n, -1)
    z = x @ W + b1
    h = np.maximum(z, 0.0)
    theta = h @ U + b2
    e = np.exp(theta - theta.max(axis=1, keepdims=True))
    yhat = e / e.sum(axis=1, keepdims=True)
    J = -np.sum(y * np.log(yhat)) / n
    # the rows of y are one-hot (they sum to 1), so dJ/dtheta = (yhat - y) / n
    delta1 = (yhat - y) / n
    delta2 = (delta1 @ U.T) * (z > 0)
    # each window's row of delta2 W^T goes back to its m words; a repeated word adds up. One
    # bincount over flat (word, column) positions does that scatter-add (np.add.at is slower)
    d = L.shape[1]
    cells = (words.reshape(-1, 1) * d + np.arange(d)).reshape(-1)
    dL = np.bincount(cells, weights=(delta2 @ W.T).reshape(-1), minlength=L.size).reshape(L.shape)
    return J, (dL, x.T @ delta2, delta2.sum(axis=0), h.T @ delta1, delta1.sum(axis=0))


def cs224n_torch(L, words, W, b1, U, b2, y):
    import torch
    n = words.shape[0]
    x = L[words].reshape(n, -1)
    z = x @ W + b1
    h = torch.maximum(z, torch.zeros((), dtype=z.dtype))
    theta = h @ U + b2
    e = torch.exp(theta - theta.max(dim=1, keepdim=True).values)
    yhat = e / e.sum(dim=1, keepdim=True)
    return -torch.sum(y * torch.log(yhat)) / n


def cs224n_args(batch, V=1000, d=50, m=6, Dh=200, Nc=10):
    def make(rng):
        L = rng.standard_normal((V, d)) * 0.1
        words = rng.integers(0, V, size=(batch, m))
        W = rng.standard_normal((m * d, Dh)) / np.sqrt(m * d)
        b1 = rng.standard_normal(Dh) * 0.1
        U = rng.standard_normal((Dh, Nc)) / np.sqrt(Dh)
        b2 = rng.standard_normal(Nc) * 0.1
        y = np.eye(Nc)[rng.integers(0, Nc, size=batch)]
        return L, words, W, b1, U, b2, y
    return make


# -- a 4-layer tanh MLP with mean squared error -----------------------------------------

def mlp(W1: "f[D, H1]", b1: "f[H1]", W2: "f[H1, H2]", b2: "f[H2]", W3: "f[H2, H3]", b3: "f[H3]",
        W4: "f[H3, K]", b4: "f[K]", X: "f[N, D]", Y: "f[N, K]"):
    h1 = np.tanh(X @ W1 + b1)
    h2 = np.tanh(h1 @ W2 + b2)
    h3 = np.tanh(h2 @ W3 + b3)
    Yhat = h3 @ W4 + b4
    J = np.mean((Yhat - Y) ** 2)
    return J


def mlp_hand(W1, b1, W2, b2, W3, b3, W4, b4, X, Y):
    h1 = np.tanh(X @ W1 + b1)
    h2 = np.tanh(h1 @ W2 + b2)
    h3 = np.tanh(h2 @ W3 + b3)
    Yhat = h3 @ W4 + b4
    r = Yhat - Y
    J = np.mean(r ** 2)
    d4 = r * (2.0 / r.size)
    d3 = (d4 @ W4.T) * (1.0 - h3 ** 2)
    d2 = (d3 @ W3.T) * (1.0 - h2 ** 2)
    d1 = (d2 @ W2.T) * (1.0 - h1 ** 2)
    return J, (X.T @ d1, d1.sum(axis=0), h1.T @ d2, d2.sum(axis=0),
               h2.T @ d3, d3.sum(axis=0), h3.T @ d4, d4.sum(axis=0))


def mlp_torch(W1, b1, W2, b2, W3, b3, W4, b4, X, Y):
    import torch
    h1 = torch.tanh(X @ W1 + b1)
    h2 = torch.tanh(h1 @ W2 + b2)
    h3 = torch.tanh(h2 @ W3 + b3)
    Yhat = h3 @ W4 + b4
    return torch.mean((Yhat - Y) ** 2)


def mlp_args(N=128, sizes=(784, 512, 512, 512, 10)):
    def make(rng):
        args = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            args += [rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in),
                     rng.standard_normal(fan_out) * 0.1]
        return (*args, rng.standard_normal((N, sizes[0])), rng.standard_normal((N, sizes[-1])))
    return make


# -- layer norm over the last axis, with gain and bias -----------------------------------

def layer_norm(x: "f[N, D]", g: "f[D]", b: "f[D]"):
    mu = x.mean(axis=1, keepdims=True)
    xc = x - mu
    var = (xc ** 2).mean(axis=1, keepdims=True)
    xhat = xc / np.sqrt(var + EPS)
    y = g * xhat + b
    J = 0.5 * np.sum(y ** 2)
    return J


def layer_norm_hand(x, g, b):
    mu = x.mean(axis=1, keepdims=True)
    xc = x - mu
    var = (xc ** 2).mean(axis=1, keepdims=True)
    std = np.sqrt(var + EPS)
    xhat = xc / std
    y = g * xhat + b
    J = 0.5 * np.sum(y ** 2)
    dy = y
    dxhat = dy * g
    # dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / std, per row
    dx = (dxhat - dxhat.mean(axis=1, keepdims=True)
          - xhat * (dxhat * xhat).mean(axis=1, keepdims=True)) / std
    return J, (dx, (dy * xhat).sum(axis=0), dy.sum(axis=0))


def layer_norm_torch(x, g, b):
    import torch
    mu = x.mean(dim=1, keepdim=True)
    xc = x - mu
    var = (xc ** 2).mean(dim=1, keepdim=True)
    xhat = xc / torch.sqrt(var + EPS)
    y = g * xhat + b
    return 0.5 * torch.sum(y ** 2)


def layer_norm_args(N=128, D=512):
    def make(rng):
        return rng.standard_normal((N, D)), 1.0 + 0.1 * rng.standard_normal(D), 0.1 * rng.standard_normal(D)
    return make


# -- single-head attention ---------------------------------------------------------------

def attention(X: "f[T, E]", Wq: "f[E, A]", Wk: "f[E, A]", Wv: "f[E, A]"):
    Q = X @ Wq
    K = X @ Wk
    V = X @ Wv
    S = Q @ K.T / np.sqrt(Q.shape[1])
    e = np.exp(S - S.max(axis=1, keepdims=True))
    P = e / e.sum(axis=1, keepdims=True)
    O = P @ V
    J = 0.5 * np.sum(O ** 2)
    return J


def attention_hand(X, Wq, Wk, Wv):
    Q, K, V = X @ Wq, X @ Wk, X @ Wv
    root_d = np.sqrt(Q.shape[1])
    S = Q @ K.T / root_d
    e = np.exp(S - S.max(axis=1, keepdims=True))
    P = e / e.sum(axis=1, keepdims=True)
    O = P @ V
    J = 0.5 * np.sum(O ** 2)
    dO = O
    dP = dO @ V.T
    dS = P * (dP - (dP * P).sum(axis=1, keepdims=True)) / root_d  # softmax, then the scaling
    dQ, dK, dV = dS @ K, dS.T @ Q, P.T @ dO
    dX = dQ @ Wq.T + dK @ Wk.T + dV @ Wv.T
    return J, (dX, X.T @ dQ, X.T @ dK, X.T @ dV)


def attention_torch(X, Wq, Wk, Wv):
    import math

    import torch
    Q = X @ Wq
    K = X @ Wk
    V = X @ Wv
    S = Q @ K.T / math.sqrt(Q.shape[1])
    e = torch.exp(S - S.max(dim=1, keepdim=True).values)
    P = e / e.sum(dim=1, keepdim=True)
    O = P @ V
    return 0.5 * torch.sum(O ** 2)


def attention_args(T=64, E=128, A=64):
    def make(rng):
        return (rng.standard_normal((T, E)),
                *(rng.standard_normal((E, A)) / np.sqrt(E) for _ in range(3)))
    return make


# -- CS231n's two-layer net, written as the assignment writes it ---------------------------
# in-place updates (scores -=, loss +=) and the softmax loss at integer labels

def two_layer(W1: "f[D, H]", b1: "f[H]", W2: "f[H, C]", b2: "f[C]", X: "f[N, D]", y: "i[N]", reg: float):
    N, D = X.shape
    h1 = np.maximum(0, X @ W1 + b1)  # @, not .dot: autograd's boxes have no .dot method
    scores = h1 @ W2 + b2
    scores -= np.max(scores, axis=1, keepdims=True)
    exp_scores = np.exp(scores)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    loss = -np.sum(np.log(probs[np.arange(N), y])) / N
    loss += reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    return loss


def two_layer_hand(W1, b1, W2, b2, X, y, reg):
    N, D = X.shape
    h1 = np.maximum(0, X @ W1 + b1)
    scores = h1 @ W2 + b2
    scores -= np.max(scores, axis=1, keepdims=True)
    exp_scores = np.exp(scores)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    loss = -np.sum(np.log(probs[np.arange(N), y])) / N
    loss += reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    dscores = probs  # the assignment's backward: probs is not read again
    dscores[np.arange(N), y] -= 1
    dscores /= N
    dh1 = dscores.dot(W2.T)
    dh1[h1 <= 0] = 0
    return loss, (X.T.dot(dh1) + 2 * reg * W1, dh1.sum(axis=0), h1.T.dot(dscores) + 2 * reg * W2,
                  dscores.sum(axis=0))


def two_layer_torch(W1, b1, W2, b2, X, y, reg):
    import torch
    N = X.shape[0]
    h1 = torch.clamp(X @ W1 + b1, min=0)
    scores = h1 @ W2 + b2
    scores = scores - scores.max(dim=1, keepdim=True).values
    exp_scores = torch.exp(scores)
    probs = exp_scores / exp_scores.sum(dim=1, keepdim=True)
    loss = -torch.sum(torch.log(probs[torch.arange(N), y])) / N
    return loss + reg * (torch.sum(W1 * W1) + torch.sum(W2 * W2))


def two_layer_args(N=200, D=3072, H=100, C=10):
    def make(rng):
        return (rng.standard_normal((D, H)) * 1e-2, np.zeros(H), rng.standard_normal((H, C)) * 1e-2,
                np.zeros(C), rng.standard_normal((N, D)), rng.integers(0, C, N), 0.05)
    return make


# -- the list ----------------------------------------------------------------------------

def all_workloads() -> list[Workload]:
    w = [Workload("scalar 3(a+bc)", scalar, ("a", "b", "c"), scalar_args, scalar_hand, scalar_torch)]
    for n in (2, 64, 512):
        w.append(Workload(f"‖Wx‖² n={n}", sqnorm, ("W", "x"), sqnorm_args(n), sqnorm_hand,
                          sqnorm_torch, quick=n != 64, params={"n": n}))
    w.append(Workload("(x+y)*max(y,z) n=4096", max_routes, ("x", "y", "z"), max_routes_args(4096),
                      max_routes_hand, max_routes_torch, params={"n": 4096}))
    for batch in (1, 64, 1024):
        w.append(Workload(f"cs224n B={batch}", cs224n, ("L", "W", "b1", "U", "b2"), cs224n_args(batch),
                          cs224n_hand, cs224n_torch, quick=batch != 1,
                          params=dict(B=batch, V=1000, d=50, m=6, Dh=200, Nc=10)))
    w.append(Workload("MLP 784-512x3-10 B=128", mlp, ("W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4"),
                      mlp_args(), mlp_hand, mlp_torch, params={"B": 128}))
    w.append(Workload("layer norm 128x512", layer_norm, ("x", "g", "b"), layer_norm_args(),
                      layer_norm_hand, layer_norm_torch, params={"N": 128, "D": 512}))
    w.append(Workload("attention T=64 E=128 A=64", attention, ("X", "Wq", "Wk", "Wv"),
                      attention_args(), attention_hand, attention_torch, params={"T": 64, "E": 128, "A": 64}))
    w.append(Workload("CS231n two-layer net N=200", two_layer, ("W1", "b1", "W2", "b2"), two_layer_args(),
                      two_layer_hand, two_layer_torch, params=dict(N=200, D=3072, H=100, C=10)))
    return w


_CHAIN_DIR = None


def synthetic_chain(statements: int):
    """A straight-line forward of ``statements`` layers ``x = np.tanh(x * w + b)``, loaded from a
    temporary file (gradgen reads a function's source), for timing how generation grows with size."""
    import importlib.util
    import tempfile

    body = "\n".join("    x = np.tanh(x * w + b)" for _ in range(statements))
    source = (f'import numpy as np\n\n\ndef chain(x: "f[N]", w: "f[N]", b: "f[N]"):\n{body}\n'
              f"    J = np.sum(x)\n    return J\n")
    global _CHAIN_DIR
    if _CHAIN_DIR is None:  # removed when the process exits
        _CHAIN_DIR = tempfile.TemporaryDirectory(prefix="gradgen-bench-")
    path = os.path.join(_CHAIN_DIR.name, f"chain{statements}.py")
    with open(path, "w") as f:
        f.write(source)
    spec = importlib.util.spec_from_file_location(f"chain{statements}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.chain
