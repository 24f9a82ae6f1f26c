"""Which NumPy functions and array methods gradgen understands, and how their arguments bind.

Kept apart from the parser so the supported surface can be read (and listed in
the README) in one place.
"""

# np.<name>(x) -> elementwise primitive
UNARY = {
    "exp": "exp", "log": "log", "tanh": "tanh", "sqrt": "sqrt", "abs": "abs",
    "absolute": "abs", "sin": "sin", "cos": "cos", "negative": "neg",
}

# np.<name>(a, b) -> binary primitive
BINARY = {
    "add": "add", "subtract": "sub", "multiply": "mul", "divide": "div",
    "true_divide": "div", "power": "pow", "maximum": "maximum", "minimum": "minimum",
    "matmul": "matmul", "dot": "dot", "outer": "outer",
}

# np.<name>(a, axis=None, keepdims=False) -> reduction primitive
REDUCTIONS = {"sum": "sum", "mean": "mean", "max": "max", "amax": "max", "min": "min", "amin": "min"}

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
ELEMENTWISE = frozenset(set(UNARY.values()) | {"add", "sub", "mul", "div", "pow", "maximum",
                                               "minimum", "where", "copy"})
