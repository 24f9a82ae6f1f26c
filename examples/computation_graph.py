"""J(a, b, c) = 3(a + bc) on a computation graph (course note 003).

The note computes J in three steps, u = bc, v = a + u, J = 3v, and walks back
along the graph with the chain rule: dJ/dv = 3, dJ/da = dJ/dv * dv/da = 3,
dJ/du = 3, so dJ/db = 3c and dJ/dc = 3b. At the note's a=5, b=3, c=2 (v = 11,
J = 33) that is dJ/da = 3, dJ/db = 6, dJ/dc = 9. Plain Python floats, no arrays.
"""

import sys

import numpy as np

import gradgen


@gradgen.derive
def cost(a: float, b: float, c: float):
    u = b * c
    v = a + u
    J = 3 * v
    return J


if __name__ == "__main__":
    from computation_graph_grad import cost_backward

    a, b, c = 5.0, 3.0, 2.0
    grads = cost.backward(a, b, c)
    print(f"J({a}, {b}, {c}) = {cost(a, b, c)}")
    for name, g in zip(cost.wrt, grads):
        print(f"dJ/d{name} = {g}")
    as_noted = np.allclose(grads, (3.0, 3 * c, 3 * b))
    print("matches the note (3, 3c, 3b):", as_noted)

    rng = np.random.default_rng(3)
    a, b, c = (float(v) for v in rng.standard_normal(3))
    result = gradgen.check_grad(cost, a, b, c)
    print(result)
    same = all(np.shape(g) == np.shape(h) and np.allclose(g, h, rtol=1e-12, atol=0)
               for g, h in zip(cost.backward(a, b, c), cost_backward(a, b, c)))
    print("computation_graph_grad.cost_backward returns the same values:", same)
    if not (as_noted and result.ok and same):
        sys.exit(1)
    print("check passed")
