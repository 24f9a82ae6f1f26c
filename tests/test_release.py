"""Dead adjoints are dropped (gradgen/emit.py, _release_dead): what gets a ``del`` and where,
what never does, that the gradients stay right, and that a deep backward's peak memory is
the hand-written one's instead of growing with every named adjoint."""

from __future__ import annotations

import numpy as np

from benchmarks.timing import peak_memory
from support import assert_grad_ok, derive_source

RNG = np.random.default_rng(5)

THREE_LAYERS = '''
    def f(W1: "f[D, H]", W2: "f[H, H]", W3: "f[H, K]", X: "f[N, D]", Y: "f[N, K]"):
        h1 = np.tanh(X @ W1)
        h2 = np.tanh(h1 @ W2)
        Yhat = h2 @ W3
        return np.mean((Yhat - Y) ** 2)
'''


def _backward_lines(derived):
    source = derived.source
    body = source[source.index("def f_value_and_grad"):source.index("def f_backward")]
    return [line.strip() for line in body.splitlines()]


def _three_layer_args(n=6, d=5, h=4, k=3):
    return [RNG.standard_normal(s) for s in [(d, h), (h, h), (h, k), (n, d), (n, k)]]


def test_an_adjoint_is_dropped_right_after_its_last_reader(tmp_path):
    derived = derive_source(THREE_LAYERS, tmp_path, wrt=("W1", "W2", "W3"))
    lines = _backward_lines(derived)
    # dh2 is read once, by the tanh rule; it is dropped at once, not at the return
    reader = next(i for i, line in enumerate(lines) if line.startswith("dh1W2 = dh2 *"))
    assert lines[reader + 1] == "del dh2"
    reader = next(i for i, line in enumerate(lines) if line.startswith("dXW1 = dh1 *"))
    assert lines[reader + 1] == "del dh1"
    assert_grad_ok(derived, *_three_layer_args(), wrt=("W1", "W2", "W3"))


def test_returned_gradients_and_the_last_statement_keep_their_names(tmp_path):
    derived = derive_source(THREE_LAYERS, tmp_path, wrt=("W1", "W2", "W3", "X"))
    lines = _backward_lines(derived)
    dropped = {name.strip() for line in lines if line.startswith("del ")
               for name in line[4:].split(",")}
    assert dropped.isdisjoint({"dW1", "dW2", "dW3", "dX"})
    # dXW1 is last read by the final statement: the return frees it, a del would be noise
    assert "dXW1" not in dropped
    assert lines[lines.index("if dout != 1.0:") - 1].startswith("dW1 = X.T @ dXW1")


def test_a_view_is_dropped_together_with_the_array_it_shares(tmp_path):
    derived = derive_source('''
        def f(X: "f[T, E]", Wq: "f[E, A]", Wk: "f[E, A]"):
            Q = X @ Wq
            K = X @ Wk
            S = Q @ K.T
            return 0.5 * np.sum(np.tanh(S) @ X)
    ''', tmp_path)
    lines = _backward_lines(derived)
    assert any(line.startswith("dK = np.transpose(dKT)") for line in lines)
    deletes = [line for line in lines if line.startswith("del ")]
    # the transposed adjoint and its view die together, after the view's last reader
    assert "del dKT, dK" in deletes
    assert not any(line == "del dKT" for line in deletes)
    args = [RNG.standard_normal(s) for s in [(4, 5), (5, 3), (5, 3)]]
    assert_grad_ok(derived, *args)


def test_an_alias_of_a_forward_value_is_not_dropped(tmp_path):
    derived = derive_source('''
        def f(X: "f[T, E]", W: "f[E, A]", V: "f[A, B]"):
            O = X @ W
            P = O @ V
            return 0.5 * np.sum(P ** 2) + 0.5 * np.sum(O ** 2)
    ''', tmp_path)
    lines = _backward_lines(derived)
    assert "dP = P" in " ".join(lines).replace("  ", " ")  # the adjoint is the forward's array
    assert not any(line.startswith("del ") and "dP" in line for line in lines)  # frees nothing
    args = [RNG.standard_normal(s) for s in [(4, 5), (5, 3), (3, 2)]]
    assert_grad_ok(derived, *args)


def test_scalars_vectors_and_row_statistics_are_not_worth_a_line(tmp_path):
    derived = derive_source('''
        EPS = 1e-5

        def f(x: "f[N, D]", g: "f[D]", b: "f[D]"):
            mu = x.mean(axis=1, keepdims=True)
            xc = x - mu
            var = (xc ** 2).mean(axis=1, keepdims=True)
            xhat = xc / np.sqrt(var + EPS)
            y = g * xhat + b
            return 0.5 * np.sum(y ** 2)
    ''', tmp_path)
    lines = _backward_lines(derived)
    deletes = [line for line in lines if line.startswith("del ")]
    assert deletes == ["del dxhat"]  # (N, D); dsqrt_var_plus_EPS and dvar_plus_EPS are (N, 1)
    assert_grad_ok(derived, *[RNG.standard_normal(s) for s in [(3, 4), (4,), (4,)]])


def test_unannotated_arrays_are_dropped_too(tmp_path):
    source = THREE_LAYERS.replace('"f[D, H]"', "").replace('"f[H, H]"', "").replace('"f[H, K]"', "")
    source = source.replace('"f[N, D]"', "").replace('"f[N, K]"', "").replace(": ,", ",").replace(": )", ")")
    derived = derive_source(source, tmp_path, wrt=("W1", "W2", "W3"))
    assert "del dh2" in derived.source
    assert_grad_ok(derived, *_three_layer_args(), wrt=("W1", "W2", "W3"))


def _by_hand(W1, W2, W3, X, Y):
    """The backward a person writes: no intermediate adjoint outlives its use."""
    h1 = np.tanh(X @ W1)
    h2 = np.tanh(h1 @ W2)
    r = h2 @ W3 - Y
    J = np.mean(r ** 2)
    d3 = r * (2.0 / r.size)
    d2 = (d3 @ W3.T) * (1.0 - h2 ** 2)
    d1 = (d2 @ W2.T) * (1.0 - h1 ** 2)
    return J, (X.T @ d1, h1.T @ d2, h2.T @ d3)


def test_peak_memory_of_a_deep_backward_is_the_hand_written_one(tmp_path):
    """Without the drops, dh1 and dh2 (N x H each) live to the return: 1.2x here."""
    derived = derive_source(THREE_LAYERS, tmp_path, wrt=("W1", "W2", "W3"))
    args = _three_layer_args(n=256, d=64, h=256, k=4)
    value, grads = derived.value_and_grad(*args)
    hand_value, hand_grads = _by_hand(*args)
    assert np.isclose(value, hand_value) and all(np.allclose(g, h) for g, h in zip(grads, hand_grads))
    generated = peak_memory(lambda: derived.value_and_grad(*args))
    hand = peak_memory(lambda: _by_hand(*args))
    assert generated <= 1.05 * hand, (generated, hand)
