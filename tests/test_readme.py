"""The README's claims that code can check: the supported-surface table, and its example."""

import re
from pathlib import Path

from gradgen.surface import table

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_surface_table_is_what_gradgen_writes():
    shown = README.split("<!-- surface:start -->\n")[1].split("<!-- surface:end -->")[0]
    assert shown == table(), "regenerate the README table with: python -m gradgen.surface"


def test_readme_gives_the_two_commands():
    assert "python3 -m venv .venv && .venv/bin/pip install '.[test]' && .venv/bin/python examples/cs224n_network.py" in README
    assert re.search(r"^\.venv/bin/python -m pytest -q$", README, re.M)


def test_readme_example_output_is_what_gradgen_writes(tmp_path):
    from gradgen.pipeline import generate

    model = README.split("```python\n# model.py\n")[1].split("```")[0]
    text = generate(model, "model.py")
    shown = README.split("```python\ndef loss_value_and_grad")[1].split("```")[0]
    assert "def loss_value_and_grad" + shown in text
