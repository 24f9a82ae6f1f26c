"""gradgen: readable, plain-NumPy backward functions generated from NumPy forward code."""

__version__ = "0.1.0"

from .errors import GradgenError  # noqa: E402
from .api import DerivedFunction, derive  # noqa: E402
from .check import GradCheck, check_grad  # noqa: E402
from .user_rules import rule  # noqa: E402

__all__ = ["GradgenError", "DerivedFunction", "derive", "rule", "check_grad", "GradCheck", "__version__"]
