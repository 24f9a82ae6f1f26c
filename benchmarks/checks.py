"""Correctness before timing: the hand-written gradients against float64 central differences,
then every system's value and gradients against the hand-written ones."""

from __future__ import annotations

import numpy as np

RTOL = 1e-8  # systems must agree with the hand-written gradients this closely
ATOL_SCALE = 1e-11  # ... with an absolute slack of this times the gradient's largest entry
FD_TOL = 1e-6  # central differences (float64) against the hand-written gradients


def central_differences(wl, args, grads, entries: int, rng) -> float:
    """Worst relative error of ``grads`` (hand-written, in ``wl.wrt`` order) against central
    differences of ``wl.forward``, at up to ``entries`` entries per parameter: half of them the
    largest entries of the gradient, half at random. The error of an entry is its absolute
    difference divided by the gradient's largest entry (as ``gradgen.check_grad``).

    Each entry gets two estimates and keeps the closer: the three-point difference with step
    1e-6 (steps this small do not cross a ReLU's kink) and the five-point one with step 1e-4
    (error O(h^4); its larger step keeps rounding small when the loss is a sum of 1e4 and more)."""
    worst = 0.0
    for pos, grad in zip(wl.positions, grads):
        grad = np.asarray(grad, dtype=np.float64)
        x = np.array(args[pos], dtype=np.float64)  # a copy, perturbed in place
        flat = x.reshape(-1)
        picks = np.argsort(-np.abs(grad).reshape(-1), kind="stable")[:entries // 2]
        picks = np.unique(np.concatenate([picks, rng.choice(flat.size, min(flat.size, entries // 2),
                                                            replace=False)]))
        call_args = list(args)
        call_args[pos] = x
        scale = max(float(np.max(np.abs(grad))), 1e-8)
        for k in picks:
            keep = flat[k]

            def f(step):
                flat[k] = keep + step
                return float(wl.forward(*call_args))

            three = (f(1e-6) - f(-1e-6)) / 2e-6
            five = (f(-2e-4) - 8 * f(-1e-4) + 8 * f(1e-4) - f(2e-4)) / 12e-4
            flat[k] = keep
            analytic = grad.reshape(-1)[k]
            worst = max(worst, min(abs(three - analytic), abs(five - analytic)) / scale)
    return worst


def compare(value, grads, ref_value, ref_grads) -> tuple[bool, float]:
    """(all close, worst relative deviation) of one system's result against the reference."""
    ok = bool(np.isclose(value, ref_value, rtol=RTOL, atol=0.0)) and len(grads) == len(ref_grads)
    worst = abs(value - ref_value) / max(abs(ref_value), 1e-300)
    for g, r in zip(grads, ref_grads):
        g, r = np.asarray(g, dtype=np.float64), np.asarray(r, dtype=np.float64)
        if g.shape != r.shape:
            return False, float("inf")
        scale = max(float(np.max(np.abs(r), initial=0.0)), 1e-300)
        ok = ok and bool(np.allclose(g, r, rtol=RTOL, atol=ATOL_SCALE * scale))
        worst = max(worst, float(np.max(np.abs(g - r), initial=0.0)) / scale)
    return ok, worst
