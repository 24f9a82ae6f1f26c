"""f(x, y, z) = (x + y) max(y, z): "+ distributes, max routes, * switches" (course note 004).

With the lecture's x=1, y=2, z=0: q = x + y = 3 and m = max(y, z) = 2.
* switches: dq = m = 2 and dm = q = 3. + distributes dq to x and y alike.
max routes dm to y, the larger input, and nothing to z. So df/dx = 2,
df/dy = 2 + 3 = 5, df/dz = 0. The same code runs elementwise on vectors.
"""

import sys

import numpy as np

import gradgen


@gradgen.derive
def f(x: float, y: float, z: float):
    q = x + y  # + distributes
    m = np.maximum(y, z)  # max routes
    out = q * m  # * switches
    return out


@gradgen.derive
def f_sum(x: "f[N]", y: "f[N]", z: "f[N]"):
    return np.sum((x + y) * np.maximum(y, z))


def report(fn, backward, *args):
    """Print the gradients of fn, check them numerically and against the committed module."""
    grads = fn.backward(*args)
    for name, g in zip(fn.wrt, grads):
        print(f"  d{name}: shape {np.shape(g)}, values {np.round(np.ravel(g)[:4], 4)}")
    result = gradgen.check_grad(fn, *args)
    print(result)
    same = all(np.shape(g) == np.shape(h) and np.allclose(g, h, rtol=1e-12, atol=0)
               for g, h in zip(grads, backward(*args)))
    print(f"  max_routes_grad.{backward.__name__} returns the same arrays: {same}")
    return result.ok and same


if __name__ == "__main__":
    from max_routes_grad import f_backward, f_sum_backward

    print("scalars, x=1, y=2, z=0 (expect 2, 5, 0):")
    ok = report(f, f_backward, 1.0, 2.0, 0.0)
    ok = ok and np.allclose(f.backward(1.0, 2.0, 0.0), (2.0, 5.0, 0.0))

    rng = np.random.default_rng(4)
    x, y, z = rng.standard_normal((3, 5))
    print("vectors of 5, summed:")
    ok = report(f_sum, f_sum_backward, x, y, z) and ok
    if not ok:
        sys.exit(1)
    print("check passed")
