"""Central differences: the numeric gradient check from the CS224n lecture, in float64."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class GradCheck:
    """Worst error of the derived gradient against central differences, per argument.

    The error of an argument is max|analytic - numeric|, less the rounding noise of
    central differences, divided by the largest entry of either gradient (at least
    1e-8): a relative error that stays meaningful where entries are near zero.
    """

    errors: dict[str, float]
    tol: float
    analytic: dict[str, np.ndarray] = field(repr=False, default_factory=dict)
    numeric: dict[str, np.ndarray] = field(repr=False, default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(err <= self.tol for err in self.errors.values())

    @property
    def max_error(self) -> float:
        return max(self.errors.values(), default=0.0)

    def __str__(self):
        rows = [f"  {name:<12} {err:.2e}  {'ok' if err <= self.tol else 'MISMATCH'}"
                for name, err in self.errors.items()]
        return "gradient check against central differences (relative error):\n" + "\n".join(rows)


def check_grad(fn, *args, wrt=None, eps=1e-6, tol=1e-6, seed=0) -> GradCheck:
    """Compare ``fn.backward`` with float64 central differences at ``args``.

    ``fn`` is a derived function (a plain one is derived first). For an array
    result a random seed vector is used, so the vector-Jacobian product is checked.
    """
    from .api import DerivedFunction, derive

    if not isinstance(fn, DerivedFunction):
        fn = derive(fn, wrt=wrt)
    elif wrt is not None and tuple(wrt) != fn.wrt:
        fn = derive(fn.forward, wrt=wrt)
    names = list(fn.__wrapped__.__code__.co_varnames[:fn.__wrapped__.__code__.co_argcount])
    args = list(args)
    positions = [names.index(n) for n in fn.wrt]
    # a Python number stays one when passed (perturbed): as a 0-d array, s += 1.0 in the forward
    # would change it in place, which a float never is
    numbers = {i for i in positions if isinstance(args[i], (int, float)) and not isinstance(args[i], bool)}
    for i in positions:
        args[i] = np.array(args[i], dtype=np.float64)

    def passed():
        return [float(a) if i in numbers else a for i, a in enumerate(args)]

    out = np.asarray(fn(*passed()), dtype=np.float64)
    rng = np.random.default_rng(seed)
    dout = None if out.ndim == 0 else rng.standard_normal(out.shape)

    def objective():
        value = np.asarray(fn(*passed()), dtype=np.float64)
        return float(value) if dout is None else float(np.sum(dout * value))

    # central differences carry rounding noise of about eps_machine * |f| / eps: differences
    # below a few times that are not evidence of a wrong gradient (a true zero stays zero)
    noise = 10 * np.finfo(np.float64).eps * max(abs(objective()), 1.0) / eps
    kwargs = {} if dout is None else {fn.seed_name: dout}
    grads = fn.backward(*passed(), **kwargs)
    errors, analytic, numeric = {}, {}, {}
    for name, i, grad in zip(fn.wrt, positions, grads):
        x = args[i]
        num = np.zeros(x.shape)
        flat = x.reshape(-1)  # a view: perturbing it perturbs the argument
        for k in range(flat.size):
            keep = flat[k]
            flat[k] = keep + eps
            plus = objective()
            flat[k] = keep - eps
            minus = objective()
            flat[k] = keep
            num.reshape(-1)[k] = (plus - minus) / (2 * eps)
        grad = np.asarray(grad, dtype=np.float64)
        if grad.shape != num.shape:
            errors[name] = float("inf")
        else:
            scale = max(np.max(np.abs(num), initial=0.0), np.max(np.abs(grad), initial=0.0), 1e-8)
            worst = max(np.max(np.abs(grad - num), initial=0.0) - noise, 0.0)
            errors[name] = float(worst / scale)
        analytic[name], numeric[name] = grad, num
    return GradCheck(errors, tol, analytic, numeric)
