"""Which NumPy functions and array methods gradgen understands, and how their arguments bind.

Kept apart from the parser so the supported surface can be read (and listed in
the README) in one place.
"""

# np.<name>(x) -> elementwise primitive
UNARY = {
    "exp": "exp", "log": "log", "tanh": "tanh", "sqrt": "sqrt", "abs": "abs",
    "absolute": "abs", "sin": "sin", "cos": "cos", "negative": "neg",
    "log1p": "log1p", "expm1": "expm1", "log2": "log2", "log10": "log10", "exp2": "exp2",
    "square": "square", "reciprocal": "reciprocal", "sinh": "sinh", "cosh": "cosh", "tan": "tan",
    "arcsin": "arcsin", "arccos": "arccos", "arctan": "arctan", "arcsinh": "arcsinh",
    "arccosh": "arccosh", "arctanh": "arctanh", "cbrt": "cbrt", "positive": "copy", "copy": "copy",
    "fabs": "abs", "deg2rad": "deg2rad", "radians": "deg2rad", "rad2deg": "rad2deg",
    "degrees": "rad2deg",
}

# elementwise primitives with one input whose adjoint is written by a macro of the same name
# in templates/elementwise.j2
UNARY_OPS = frozenset(UNARY.values()) - {"neg", "copy"}

# np.<name>(a, b) -> binary primitive
BINARY = {
    "add": "add", "subtract": "sub", "multiply": "mul", "divide": "div",
    "true_divide": "div", "power": "pow", "maximum": "maximum", "minimum": "minimum",
    "fmax": "maximum", "fmin": "minimum", "matmul": "matmul", "dot": "dot", "outer": "outer",
    "arctan2": "arctan2", "hypot": "hypot", "logaddexp": "logaddexp", "logaddexp2": "logaddexp2",
    "inner": "inner", "vdot": "vdot",
}

# binary elementwise functions whose adjoints are written by macros <op>_a and <op>_b in
# templates/elementwise.j2 (their operands broadcast against each other)
BINARY_FUNCS = frozenset({"arctan2", "hypot", "logaddexp", "logaddexp2"})

# np.<name>(a): a new array with a's values (np.asarray and its kin), or a's values converted
# when dtype= is given; name -> the name of its first parameter
CONVERSIONS = {"asarray": "a", "asanyarray": "a", "array": "object", "ascontiguousarray": "a"}

# np.<name>(a, axis=None, keepdims=False) -> reduction primitive
REDUCTIONS = {"sum": "sum", "mean": "mean", "max": "max", "amax": "max", "min": "min", "amin": "min",
              "nansum": "nansum", "nanmean": "nanmean"}

# functions whose result carries no gradient, whatever their arguments
NONDIFF = frozenset({
    "zeros_like", "ones_like", "empty_like", "shape", "ndim", "size", "argmax", "argmin",
    "argsort", "sign", "isnan", "isfinite", "isinf", "floor", "ceil", "round", "rint",
    "greater", "greater_equal", "less", "less_equal", "equal", "not_equal", "logical_and",
    "logical_or", "logical_not", "logical_xor", "nonzero", "flatnonzero", "count_nonzero",
})

# binary Python operators -> primitive
OPERATORS = {"Add": "add", "Sub": "sub", "Mult": "mul", "Div": "div", "Pow": "pow",
             "MatMult": "matmul"}

# array methods on a differentiable receiver
METHOD_REDUCTIONS = {"sum": "sum", "mean": "mean", "max": "max", "min": "min"}
METHOD_NONDIFF = frozenset({"argmax", "argmin", "argsort", "nonzero"})

# elementwise primitives: the output has the shape of the (broadcast) inputs
ELEMENTWISE = frozenset(set(UNARY.values()) | BINARY_FUNCS | {
    "add", "sub", "mul", "div", "pow", "maximum", "minimum", "where", "copy", "clip", "astype",
    "expit", "logit", "erf", "gammaln"})

# primitives whose result is a new array (or a scalar), never one of its inputs or a view of
# one: a name holding such a result owns its array, so `h += b` on it changes nothing else and
# reads as `h = h + b`. Views (transpose, reshape, indexing, diagonal, np.asarray, einsum) are
# left out, and so are np.diff (n=0 hands its input back) and user rules, whose results gradgen
# cannot see into.
NEW_ARRAYS = (ELEMENTWISE - {"copy", "astype"}) | frozenset({
    "matmul", "dot", "outer", "inner", "vdot", "convolve", "correlate", "tensordot",
    "sum", "mean", "max", "min", "nansum", "nanmean", "prod", "var", "std", "norm", "trace",
    "logsumexp", "softmax_fn", "log_softmax_fn", "cumsum", "sort", "roll", "take",
    "take_along_axis", "tile", "repeat", "pad", "triu", "tril", "concatenate", "stack",
    "hstack", "vstack", "dstack", "column_stack", "inv", "cholesky", "eigvalsh", "svdvals", "det",
    "solve"})

# NumPy functions on arrays, bound by name: name -> (primitive, parameters, the parameters that
# carry a gradient, the parameters that must be literals (they shape the generated code),
# the parameters that must not need a gradient, how many parameters are required)
ARRAY_FUNCS = {
    "clip": ("clip", ["a", "a_min", "a_max"], ["a", "a_min", "a_max"], [], [], 3),
    "prod": ("prod", ["a", "axis", "keepdims"], ["a"], ["axis", "keepdims"], [], 1),
    "var": ("var", ["a", "axis", "ddof", "keepdims"], ["a"], ["axis", "ddof", "keepdims"], [], 1),
    "std": ("std", ["a", "axis", "ddof", "keepdims"], ["a"], ["axis", "ddof", "keepdims"], [], 1),
    "cumsum": ("cumsum", ["a", "axis"], ["a"], ["axis"], [], 1),
    "diff": ("diff", ["a", "n", "axis"], ["a"], ["n", "axis"], [], 1),
    "sort": ("sort", ["a", "axis", "kind"], ["a"], ["axis", "kind"], [], 1),
    "squeeze": ("reshape", ["a", "axis"], ["a"], ["axis"], [], 1),
    "expand_dims": ("reshape", ["a", "axis"], ["a"], ["axis"], [], 2),
    "ravel": ("reshape", ["a"], ["a"], [], [], 1),
    "atleast_1d": ("reshape", ["a"], ["a"], [], [], 1),
    "atleast_2d": ("reshape", ["a"], ["a"], [], [], 1),
    "swapaxes": ("swapaxes", ["a", "axis1", "axis2"], ["a"], ["axis1", "axis2"], [], 3),
    "moveaxis": ("moveaxis", ["a", "source", "destination"], ["a"], ["source", "destination"], [], 3),
    "flip": ("flip", ["m", "axis"], ["m"], ["axis"], [], 1),
    "roll": ("roll", ["a", "shift", "axis"], ["a"], ["shift", "axis"], [], 2),
    "broadcast_to": ("broadcast_to", ["array", "shape"], ["array"], [], [], 2),
    "triu": ("triu", ["m", "k"], ["m"], ["k"], [], 1),
    "tril": ("tril", ["m", "k"], ["m"], ["k"], [], 1),
    "diag": ("diag", ["v", "k"], ["v"], ["k"], [], 1),
    "diagonal": ("diagonal", ["a", "offset", "axis1", "axis2"], ["a"], ["offset", "axis1", "axis2"], [], 1),
    "trace": ("trace", ["a"], ["a"], [], [], 1),
    "take": ("take", ["a", "indices", "axis"], ["a"], ["axis"], [], 2),
    "take_along_axis": ("take_along_axis", ["arr", "indices", "axis"], ["arr"], ["axis"], [], 3),
    "tile": ("tile", ["A", "reps"], ["A"], [], [], 2),
    "repeat": ("repeat", ["a", "repeats", "axis"], ["a"], ["axis"], [], 2),
    "pad": ("pad", ["array", "pad_width"], ["array"], [], [], 2),
    "tensordot": ("tensordot", ["a", "b", "axes"], ["a", "b"], ["axes"], [], 2),
    "linalg.inv": ("inv", ["a"], ["a"], [], [], 1),
    "linalg.cholesky": ("cholesky", ["a"], ["a"], [], [], 1),
    "linalg.eigvalsh": ("eigvalsh", ["a"], ["a"], [], [], 1),
    "linalg.svdvals": ("svdvals", ["x"], ["x"], [], [], 1),
    "linalg.det": ("det", ["a"], ["a"], [], [], 1),
    "linalg.solve": ("solve", ["a", "b"], ["a", "b"], [], [], 2),
    "linalg.norm": ("norm", ["x", "ord", "axis", "keepdims"], ["x"], ["ord", "axis", "keepdims"], [], 1),
}

# array methods that are the function of the same name with the array first
ARRAY_METHODS = {
    "clip": "clip", "prod": "prod", "var": "var", "std": "std", "cumsum": "cumsum",
    "squeeze": "squeeze", "ravel": "ravel", "flatten": "ravel", "swapaxes": "swapaxes",
    "diagonal": "diagonal", "trace": "trace", "take": "take", "repeat": "repeat",
}

# functions that return several arrays: name -> what they return (for messages)
MULTI_OUTPUT = {
    "split": "a list of arrays", "array_split": "a list of arrays", "hsplit": "a list of arrays",
    "vsplit": "a list of arrays", "dsplit": "a list of arrays",
    "linalg.slogdet": "two results, (sign, logabsdet)",
    "linalg.eigh": "two results, (eigenvalues, eigenvectors)",
}
MULTI_OUTPUT_EXAMPLES = {
    "split": "a, b = np.split(x, 2, axis=1)", "array_split": "a, b = np.array_split(x, 2)",
    "hsplit": "a, b = np.hsplit(x, 2)", "vsplit": "a, b = np.vsplit(x, 2)",
    "dsplit": "a, b = np.dsplit(x, 2)", "linalg.slogdet": "sign, logdet = np.linalg.slogdet(a)",
    "linalg.eigh": "w, U = np.linalg.eigh(a)",
}

def show_ord(ord_) -> str:
    """A norm order as written in code: np.inf rather than inf."""
    if isinstance(ord_, float) and ord_ in (float("inf"), float("-inf")):
        return "np.inf" if ord_ > 0 else "-np.inf"
    return repr(ord_)


# np.hstack / np.vstack / np.dstack / np.column_stack of a literal list
STACKS = frozenset({"hstack", "vstack", "dstack", "column_stack"})

# np.fliplr / np.flipud: np.flip along a fixed axis
FLIPS = {"fliplr": 1, "flipud": 0}

# functions whose result carries no gradient as long as these arguments carry none: the array
# argument gives only a shape (np.full_like) or a step (np.heaviside) -> the ones that must not
# be differentiable, with what to write instead when one is
CONSTANT_FILLS = {
    "full_like": (["a", "fill_value", "dtype"], ["fill_value"], "write np.ones_like(a) * fill_value"),
    "heaviside": (["x1", "x2"], ["x2"], "write np.where(x1 == 0, x2, (x1 > 0) * 1.0)"),
}

# scipy.special functions, when the user imports them: name -> primitive
SPECIAL = {"expit": "expit", "logit": "logit", "erf": "erf", "gammaln": "gammaln",
           "logsumexp": "logsumexp", "softmax": "softmax_fn", "log_softmax": "log_softmax_fn"}
SPECIAL_UNARY = frozenset({"expit", "logit", "erf", "gammaln"})

# names a rule template may use that the generated module must import
TEMPLATE_IMPORTS = {"digamma": "from scipy.special import digamma"}
