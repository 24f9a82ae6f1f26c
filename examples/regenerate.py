"""Regenerate every committed examples/<name>_grad.py from examples/<name>.py.

Run from anywhere: python examples/regenerate.py
Each module is written by the CLI, exactly as tests/test_examples.py checks it:
    python -m gradgen examples/<name>.py -o examples/<name>_grad.py
"""

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
ROOT = EXAMPLES.parent


def example_files():
    """The example sources, sorted: every .py here except generated modules and this script."""
    return sorted(p for p in EXAMPLES.glob("*.py")
                  if not p.name.endswith("_grad.py") and p.name != Path(__file__).name)


def main() -> int:
    failed = []
    for path in example_files():
        source = path.relative_to(ROOT).as_posix()
        output = source[:-len(".py")] + "_grad.py"
        command = [sys.executable, "-m", "gradgen", source, "-o", output]
        if subprocess.run(command, cwd=ROOT).returncode != 0:
            failed.append(source)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
