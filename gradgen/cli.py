"""``python -m gradgen``: print, write or check backward modules, without ever running the input.

Conventions follow black and ruff. Exit codes: 0 done (or everything up to date),
1 ``--check`` found a stale or missing generated file, 2 an input was refused
(each message on stderr) or the command line was wrong.

One SRC prints its module (or writes ``-o OUT``). Several SRCs, or a folder, write
``<name>_grad.py`` beside each file that has ``@gradgen.derive`` functions.
``--check`` and ``--diff`` compare instead of writing: against ``-o OUT``, or
against ``<name>_grad.py``.
"""

from __future__ import annotations

import argparse
import difflib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .errors import GradgenError
from .paths import project_root, shown_path
from .pipeline import generate, generate_graph

_SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", "env", "__pycache__", "build", "dist",
              "node_modules", "site-packages", ".tox", ".nox", ".mypy_cache", ".pytest_cache"}
_SUFFIX = "_grad.py"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gradgen",
        description="Generate plain-NumPy backward functions for the @gradgen.derive functions "
                    "in each SRC. Files are parsed, never imported or run.",
        epilog="exit codes: 0 ok or up to date, 1 --check found stale files, 2 refused input "
               "or usage error")
    parser.add_argument("sources", nargs="*", metavar="SRC",
                        help="a Python file, a folder (searched for files that use gradgen.derive), "
                             "or - for standard input")
    parser.add_argument("-o", "--output", metavar="OUT",
                        help="with one SRC: the generated file (written atomically); "
                             "default: print it, or with --check/--diff compare with SRC's <name>_grad.py")
    parser.add_argument("-f", "--function", metavar="NAME",
                        help="derive only this function (it need not be decorated)")
    parser.add_argument("--wrt", metavar="A,B", help="parameters to differentiate, comma-separated")
    parser.add_argument("-w", "--write", action="store_true",
                        help="write <name>_grad.py beside each SRC, even for a single file")
    parser.add_argument("--check-shapes", action="store_true",
                        help="add asserts that each gradient has its parameter's shape")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="write nothing; exit 1 if a generated file is not what SRC generates now")
    mode.add_argument("--diff", action="store_true",
                      help="write nothing; print a unified diff for each stale generated file")
    mode.add_argument("--graph", nargs="?", const="dot", metavar="{dot,svg}",
                      help="print the forward and backward graph as Graphviz DOT (or SVG, which "
                           "needs Graphviz's dot program)")
    parser.add_argument("-q", "--quiet", action="store_true", help="report only errors")
    parser.add_argument("--version", action="version", version=f"gradgen {__version__}")
    return parser


@dataclass
class _Job:
    source: str  # a path, or "-"
    output: str | None  # where the module goes (None: stdout)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.graph not in (None, "dot", "svg"):  # --graph FILE: the format was left out
        args.sources.insert(0, args.graph)
        args.graph = "dot"
    if not args.sources:
        parser.error("the following arguments are required: SRC")
    single = len(args.sources) == 1 and (args.sources[0] == "-" or not os.path.isdir(args.sources[0]))
    if args.output and not single:
        parser.error("-o OUT needs exactly one SRC file")
    if "-" in args.sources and len(args.sources) > 1:
        parser.error("- (standard input) cannot be combined with other SRCs")
    if (args.function or args.wrt) and not single:
        parser.error("-f and --wrt need exactly one SRC file")
    if args.output and args.sources[0] != "-" and os.path.exists(args.output) and \
            os.path.exists(args.sources[0]) and os.path.samefile(args.output, args.sources[0]):
        parser.error(f"-o {args.output} is the source file itself; choose another output")
    report = _Report(quiet=args.quiet)
    if args.graph:
        return _graph(args, report)
    jobs = _jobs(args, single, report)
    # a file named on its own must have something to derive; files found in a folder, or
    # passed in bulk (pre-commit, --check, --write), are skipped when they have nothing
    explicit = single and not (args.check or args.diff or args.write)
    for job in jobs:
        _run(job, args, explicit=explicit, report=report)
    return report.finish(args)


def _jobs(args, single: bool, report) -> list[_Job]:
    if single:
        source = args.sources[0]
        if args.output:
            return [_Job(source, args.output)]
        if args.check or args.diff or args.write:
            if source == "-":
                report.usage("--check, --diff and --write with - need -o OUT")
                return []
            return [_Job(_source_of(source), _default_output(_source_of(source)))]
        return [_Job(source, None)]
    jobs = []
    for source in args.sources:
        if os.path.isdir(source):
            jobs.extend(_Job(p, _default_output(p)) for p in _discover(source))
        elif os.path.exists(source) or source.endswith(".py"):
            jobs.append(_Job(_source_of(source), _default_output(_source_of(source))))
        else:
            report.error(f"gradgen: error: {source}: no such file or folder")
    return _unique(jobs)


def _unique(jobs):
    seen, out = set(), []
    for job in jobs:
        key = os.path.normpath(job.source)
        if key not in seen:
            seen.add(key)
            out.append(job)
    return out


def _source_of(path: str) -> str:
    """A generated file stands for the file it was generated from (pre-commit passes either)."""
    if path.endswith(_SUFFIX):
        source = path[:-len(_SUFFIX)] + ".py"
        if os.path.exists(source):
            return source
    return path


def _default_output(source: str) -> str:
    return source[:-3] + _SUFFIX if source.endswith(".py") else source + _SUFFIX


def _discover(folder: str) -> list[str]:
    """Python files under ``folder`` that use gradgen.derive, in sorted order."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            if name.endswith(".py") and not name.endswith(_SUFFIX):
                path = os.path.join(root, name)
                if _mentions_derive(path):
                    found.append(path)
    return found


def _mentions_derive(path: str) -> bool:
    try:
        data = Path(path).read_bytes()
    except OSError:
        return False
    return b"derive" in data and b"gradgen" in data


def _run(job: _Job, args, *, explicit: bool, report) -> None:
    try:
        text = _generate(job.source, job.output, args, explicit=explicit)
    except GradgenError as err:
        if not explicit and err.message.startswith("no function decorated"):
            if (args.check or args.diff) and job.output and os.path.exists(job.output):
                report.orphan(job.output, job.source)  # its functions are gone: stale
            else:
                report.skipped(job.source)
            return
        report.error(str(err))
        return
    except _Unreadable as err:
        report.error(str(err))
        return
    if args.check or args.diff:
        _compare(job.output, text, args, report)
    elif job.output is None:
        sys.stdout.write(text)
    else:
        _write(job.output, text, report)


class _Unreadable(Exception):
    pass


def _read_source(source: str) -> tuple[str, str]:
    """(text, filename) of a source file or standard input, decoded as Python does (UTF-8, BOM ok)."""
    if source == "-":
        raw, filename = sys.stdin.buffer.read(), "<stdin>"
    else:
        filename = source
        try:
            raw = Path(source).read_bytes()
        except IsADirectoryError:
            raise _Unreadable(f"gradgen: error: {source}: is a folder; give a .py file") from None
        except OSError as err:
            raise _Unreadable(f"gradgen: error: cannot read {source}: {err.strerror or err}") from None
    try:  # as Python reads source: UTF-8 (a BOM is fine), or the encoding a coding line names
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
        return raw.decode(encoding), filename
    except (SyntaxError, LookupError, UnicodeDecodeError) as err:
        where = f" (byte {err.start})" if isinstance(err, UnicodeDecodeError) else ""
        raise GradgenError(f"the file is not valid text in its encoding{where}", filename=filename,
                           hint="save the file as UTF-8, or declare its encoding in a coding line") from None


def _generate(source: str, output: str | None, args, *, explicit: bool) -> str:
    text, filename = _read_source(source)
    root = project_root(source if source != "-" else (output or "."))
    source_name = shown_path(source, root) if source != "-" else "<stdin>"
    wrt = tuple(n.strip() for n in args.wrt.split(",") if n.strip()) if args.wrt else None
    command = ["python -m gradgen", source_name if source != "-" else "-"]
    if args.function:
        command += ["-f", args.function]
    if args.wrt:
        command += ["--wrt", ",".join(wrt)]
    if args.check_shapes:
        command += ["--check-shapes"]
    if output is not None and (not explicit or args.output):
        command += ["-o", shown_path(output, root)]
    return generate(text, filename, function=args.function, wrt=wrt, source_name=source_name,
                    command=" ".join(command), check_shapes=args.check_shapes)


def _compare(path: str, text: str, args, report) -> None:
    try:
        current = Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        current = None
    except IsADirectoryError:
        report.error(f"gradgen: error: {path}: is a folder, not a generated file")
        return
    except (OSError, UnicodeDecodeError) as err:
        current = f"<unreadable: {err}>"
    if current == text:
        report.fresh(path)
        return
    if args.diff:
        sys.stdout.writelines(difflib.unified_diff(
            (current or "").splitlines(True), text.splitlines(True),
            fromfile=f"{path} (on disk)", tofile=f"{path} (generated)"))
    report.stale(path, missing=current is None)


def _write(path: str, text: str, report) -> None:
    try:
        current = Path(path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        current = None
    if current == text:
        report.fresh(path)
        return
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".gradgen-", suffix=".py", dir=directory)
    except OSError as err:
        report.error(f"gradgen: error: cannot write {path}: {err.strerror or err}")
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, _file_mode(path))  # mkstemp makes 0600; a written file is an ordinary file
        os.replace(tmp, path)
    except OSError as err:
        os.unlink(tmp)
        report.error(f"gradgen: error: cannot write {path}: {err.strerror or err}")
        return
    report.wrote(path)


def _file_mode(path: str) -> int:
    """The mode an existing file has, else what a plain open() would give under the umask."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _graph(args, report) -> int:
    if len(args.sources) != 1 or os.path.isdir(args.sources[0]):
        report.usage("--graph needs exactly one SRC file")
        return report.finish(args)
    source = args.sources[0]
    try:
        text, filename = _read_source(source)
        wrt = tuple(n.strip() for n in args.wrt.split(",") if n.strip()) if args.wrt else None
        dot = generate_graph(text, filename, function=args.function, wrt=wrt)
    except (GradgenError, _Unreadable) as err:
        report.error(str(err))
        return report.finish(args)
    if args.graph == "svg":
        program = shutil.which("dot")
        if program is None:
            report.error("gradgen: error: --graph svg needs Graphviz's dot program on PATH "
                         "(e.g. apt-get install graphviz); --graph prints DOT without it")
            return report.finish(args)
        dot = subprocess.run([program, "-Tsvg"], input=dot, capture_output=True, text=True,
                             check=True).stdout
    if args.output:
        _write(args.output, dot, report)
    else:
        sys.stdout.write(dot)
    return report.finish(args)


class _Report:
    """Counts what happened and says it on stderr, black-style."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.errors = self.stale_count = self.fresh_count = self.written = 0

    def _say(self, text):
        if not self.quiet:
            print(text, file=sys.stderr)

    def error(self, text):
        self.errors += 1
        print(text, file=sys.stderr)

    def usage(self, text):
        self.errors += 1
        print(f"gradgen: error: {text}", file=sys.stderr)

    def stale(self, path, missing):
        self.stale_count += 1
        print(f"gradgen: {path} is {'missing' if missing else 'stale'}: regenerate it with the "
              "command in its header", file=sys.stderr)

    def fresh(self, path):
        self.fresh_count += 1

    def orphan(self, output, source):
        self.stale_count += 1
        print(f"gradgen: {output} is stale: {source} no longer has a @gradgen.derive function "
              "(delete the generated file)", file=sys.stderr)

    def skipped(self, path):
        self._say(f"gradgen: {path}: nothing to derive (no @gradgen.derive function), skipped")

    def wrote(self, path):
        self.written += 1
        self._say(f"gradgen: wrote {path}")

    def finish(self, args) -> int:
        if args.check or args.diff:
            total = self.stale_count + self.fresh_count
            if total and not (self.quiet and not self.stale_count):
                self._say(f"gradgen: {self.stale_count} of {total} generated file"
                          f"{'s' if total != 1 else ''} stale" if self.stale_count else
                          f"gradgen: {total} generated file{'s' if total != 1 else ''} up to date")
        if self.errors:
            return 2
        return 1 if self.stale_count and args.check else 0
