"""The supported surface as a table of what gradgen writes for each function.

Every row is produced by deriving a one-line forward, so the README's table (kept equal
to ``python -m gradgen.surface`` by a test) shows the code gradgen really emits.
"""

from __future__ import annotations

import re

# (what the user writes, the parameters it reads)
FORMS = [
    ("a + b", "a, b"), ("a - b", "a, b"), ("a * b", "a, b"), ("a / b", "a, b"), ("-x", "x"),
    ("x ** 3", "x"), ("a ** b", "a, b"), ("a @ b", "a, b"), ("np.dot(a, b)", "a, b"),
    ("np.outer(a, b)", "a, b"), ("np.inner(a, b)", "a, b"), ("np.vdot(a, b)", "a, b"),
    ("np.convolve(a, v)", "a, v"), ("np.correlate(a, v, 'same')", "a, v"), ("x.T", "x"),
    ("np.transpose(x, (1, 0, 2))", "x"),
    ("np.exp(x)", "x"), ("np.log(x)", "x"), ("np.tanh(x)", "x"), ("np.sqrt(x)", "x"),
    ("np.abs(x)", "x"), ("np.sin(x)", "x"), ("np.cos(x)", "x"), ("np.tan(x)", "x"),
    ("np.log1p(x)", "x"), ("np.expm1(x)", "x"), ("np.log2(x)", "x"), ("np.log10(x)", "x"),
    ("np.exp2(x)", "x"), ("np.square(x)", "x"), ("np.reciprocal(x)", "x"), ("np.cbrt(x)", "x"),
    ("np.sinh(x)", "x"), ("np.cosh(x)", "x"), ("np.arcsin(x)", "x"), ("np.arccos(x)", "x"),
    ("np.arctan(x)", "x"), ("np.arcsinh(x)", "x"), ("np.arccosh(x)", "x"), ("np.arctanh(x)", "x"),
    ("np.arctan2(a, b)", "a, b"), ("np.hypot(a, b)", "a, b"), ("np.logaddexp(a, b)", "a, b"),
    ("np.logaddexp2(a, b)", "a, b"), ("np.deg2rad(x)", "x"),
    ("np.maximum(x, 0.0)", "x"), ("np.maximum(a, b)", "a, b"), ("np.minimum(a, b)", "a, b"),
    ("np.clip(x, lo, hi)", "x, lo, hi"), ("np.where(c > 0, a, b)", "c, a, b"),
    ("1 / (1 + np.exp(-z))", "z"),
    ("np.sum(x, axis=0)", "x"), ("np.nansum(x, axis=0)", "x"), ("x.mean(axis=1, keepdims=True)", "x"),
    ("np.max(x, axis=-1)", "x"),
    ("np.prod(x, axis=0)", "x"), ("np.var(x, axis=0, ddof=1)", "x"), ("np.std(x)", "x"),
    ("np.cumsum(x, axis=1)", "x"), ("np.diff(x, axis=0)", "x"), ("np.sort(x, axis=-1)", "x"),
    ("np.linalg.norm(x)", "x"),
    ("np.linalg.norm(x, 1, axis=0)", "x"), ("np.linalg.norm(x, 'nuc')", "x"), ("np.trace(x)", "x"),
    ("x.reshape(n, -1)", "x, n"), ("np.squeeze(x)", "x"), ("np.swapaxes(x, 0, 1)", "x"),
    ("np.moveaxis(x, 0, -1)", "x"), ("np.flip(x, 0)", "x"), ("np.roll(x, 2, axis=1)", "x"),
    ("np.broadcast_to(x, (4, 3))", "x"), ("np.triu(x)", "x"), ("np.diag(x)", "x"),
    ("x[1:3]", "x"), ("L[words]", "L, words"), ("x[x > 0]", "x"),
    ("np.take(x, idx, axis=1)", "x, idx"), ("np.take_along_axis(x, idx, axis=1)", "x, idx"),
    ("np.tile(x, (2, 1))", "x"), ("np.repeat(x, 2, axis=0)", "x"), ("np.pad(x, 1)", "x"),
    ("np.concatenate([a, b], axis=1)", "a, b"), ("np.stack([a, b])", "a, b"),
    ("np.hstack([a, b])", "a, b"), ("np.einsum('ij,jk->ik', a, b)", "a, b"),
    ("np.einsum('ii->i', a)", "a"),
    ("np.split(x, 2, axis=1)[0]", "x"), ("np.tensordot(a, b, axes=1)", "a, b"),
    ("np.linalg.inv(a)", "a"), ("np.linalg.det(a)", "a"), ("np.linalg.slogdet(a)[1]", "a"),
    ("np.linalg.solve(a, b)", "a, b"), ("np.linalg.cholesky(a)", "a"),
    ("np.linalg.eigvalsh(a)", "a"), ("np.linalg.svd(a, compute_uv=False)", "a"),
    ("x.astype(np.float32)", "x"), ("np.asarray(x)", "x"),
]

SPECIAL = [("expit(x)", "x"), ("logit(x)", "x"), ("erf(x)", "x"), ("gammaln(x)", "x"),
           ("logsumexp(x, axis=1)", "x"), ("softmax(x, axis=1)", "x"), ("log_softmax(x, axis=1)", "x")]

_HEADER = "import numpy as np\nfrom scipy.special import expit, logit, erf, gammaln, logsumexp, softmax, log_softmax\n\n"


def rows() -> list[tuple[str, str]]:
    """(forward, the adjoint statements gradgen writes for it) for every form."""
    from .pipeline import generate

    out = []
    for expr, params in FORMS + SPECIAL:
        wrt = [p.strip() for p in params.split(",") if p.strip() not in ("n", "words", "idx", "c")]
        source = f"{_HEADER}def f({params}):\n    out = {expr}\n    return out\n"
        text = generate(source, "surface.py", function="f", wrt=tuple(wrt))
        body = text.split(f"# out = {expr}")[1]
        lines = [line.strip() for line in body.splitlines()[1:]]
        lines = lines[:next(i for i, line in enumerate(lines) if line.startswith("return"))]
        adjoint = "; ".join(re.sub(r"\s+#.*$", "", line) for line in lines if not line.startswith("#"))
        out.append((expr, adjoint))
    return out


def table() -> str:
    lines = ["| you write | gradgen writes (`dout` is the adjoint of `out`) |", "|---|---|"]
    for expr, adjoint in rows():
        lines.append(f"| `{expr}` | `{adjoint}` |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(table(), end="")
