"""gradgen: readable, plain-NumPy backward functions generated from NumPy forward code."""

from typing import TYPE_CHECKING

__version__ = "0.1.0"

from .errors import GradgenError  # noqa: E402
from .api import DerivedFunction, derive  # noqa: E402
from .user_rules import rule  # noqa: E402

if TYPE_CHECKING:
    from .check import GradCheck, check_grad

__all__ = ["GradgenError", "DerivedFunction", "derive", "rule", "check_grad", "GradCheck", "__version__"]


def __getattr__(name):
    """check_grad and GradCheck on first use: they need NumPy, which the CLI (it only reads
    files) and generation do not, and importing it took a fifth of each CLI run."""
    if name in ("check_grad", "GradCheck"):
        from . import check
        return getattr(check, name)
    raise AttributeError(f"module 'gradgen' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
