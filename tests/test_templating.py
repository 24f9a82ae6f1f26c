"""The on-disk cache of compiled templates (gradgen/templating.py): used when it can be,
never in the way when it cannot, and never a change to what gradgen writes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jinja2

from gradgen import templating

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "examples" / "cs224n_network.py"


def _generate(env_changes: dict) -> tuple[bytes, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("GRADGEN_CACHE_DIR", "GRADGEN_NO_CACHE")}
    env.update(env_changes)
    code = ("import sys, time; from gradgen.pipeline import generate; t = time.perf_counter(); "
            "text = generate(open(sys.argv[1]).read(), 'model.py'); "
            "sys.stderr.write(repr(time.perf_counter() - t)); sys.stdout.write(text)")
    proc = subprocess.run([sys.executable, "-c", code, str(MODEL)], capture_output=True, env=env,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout, float(proc.stderr)


def test_a_second_process_reads_the_compiled_templates_and_writes_the_same(tmp_path):
    cache = tmp_path / "cache"
    first, _ = _generate({"GRADGEN_CACHE_DIR": str(cache)})
    files = sorted((cache / "templates").iterdir())
    assert files and all(f.name.endswith(".jinja2-cache") for f in files)
    stamps = [f.stat().st_mtime_ns for f in files]
    second, _ = _generate({"GRADGEN_CACHE_DIR": str(cache)})
    assert second == first
    assert [f.stat().st_mtime_ns for f in files] == stamps  # read, not written again
    uncached, _ = _generate({"GRADGEN_NO_CACHE": "1", "GRADGEN_CACHE_DIR": str(tmp_path / "unused")})
    assert uncached == first and not (tmp_path / "unused").exists()


def test_a_cache_folder_that_cannot_be_made_is_left_aside(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    text, _ = _generate({"GRADGEN_CACHE_DIR": str(blocker / "cache")})
    assert b"def loss_value_and_grad(" in text


def test_a_corrupt_cache_entry_is_compiled_afresh(tmp_path):
    loader = jinja2.FileSystemLoader(str(templating.template_dir()))
    cache = templating._Cache(str(tmp_path), pattern="%s.jinja2-cache")
    env = jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined, bytecode_cache=cache)
    expected = env.get_template("arith.j2").module.mul_a("da", "dout", "b")
    (entry,) = tmp_path.iterdir()
    entry.write_bytes(entry.read_bytes()[:40] + b"\x00garbage")  # right magic, broken code
    fresh = jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined, bytecode_cache=cache)
    assert fresh.get_template("arith.j2").module.mul_a("da", "dout", "b") == expected


def test_cache_location_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("GRADGEN_NO_CACHE", raising=False)
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(tmp_path))
    assert templating.cache_dir() == tmp_path
    monkeypatch.setenv("GRADGEN_NO_CACHE", "1")
    assert templating.cache_dir() is None
    monkeypatch.setenv("GRADGEN_NO_CACHE", "0")
    monkeypatch.delenv("GRADGEN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform not in ("win32", "darwin"):
        assert templating.cache_dir() == tmp_path / "xdg" / "gradgen"


def test_no_home_means_no_cache(monkeypatch):
    def nowhere():
        raise RuntimeError("Could not determine home directory.")

    for name in ("GRADGEN_NO_CACHE", "GRADGEN_CACHE_DIR", "XDG_CACHE_HOME", "LOCALAPPDATA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(templating.Path, "home", staticmethod(nowhere))
    assert templating.cache_dir() is None
