"""``python -m gradgen``: print, write or check the backward module of a file, without running it.

Exit codes follow black and ruff: 0 done (or up to date), 1 ``--check`` found a
stale file, 2 the input was refused (the message goes to stderr) or the call was wrong.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tempfile

from . import __version__
from .errors import GradgenError
from .paths import project_root, shown_path
from .pipeline import generate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gradgen",
        description="Generate plain-NumPy backward functions for the @gradgen.derive "
                    "functions in FILE. FILE is parsed, never imported or run.")
    parser.add_argument("file", metavar="FILE", help="a Python file, or - to read standard input")
    parser.add_argument("-f", "--function", metavar="NAME",
                        help="derive only this function (it need not be decorated)")
    parser.add_argument("--wrt", metavar="A,B", help="parameters to differentiate, comma-separated")
    parser.add_argument("-o", "--output", metavar="OUT", help="write the module to OUT (atomically)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="write nothing; exit 1 if OUT is not what FILE generates now")
    mode.add_argument("--diff", action="store_true",
                      help="write nothing; print a unified diff of OUT against what FILE generates now")
    parser.add_argument("--version", action="version", version=f"gradgen {__version__}")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.check or args.diff) and not args.output:
        parser.error("--check and --diff compare against a file: give it with -o OUT")
    try:
        text = _generate(args)
    except GradgenError as err:
        print(err, file=sys.stderr)
        return 2
    except OSError as err:
        print(f"gradgen: error: cannot read {args.file}: {err.strerror or err}", file=sys.stderr)
        return 2
    if args.check or args.diff:
        return _compare(args.output, text, show_diff=args.diff)
    if args.output:
        _write_atomically(args.output, text)
        print(f"gradgen: wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _generate(args) -> str:
    if args.file == "-":
        source, filename, source_name = sys.stdin.read(), "<stdin>", "<stdin>"
    else:
        with open(args.file, "rb") as handle:
            raw = handle.read()
        try:
            source = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise GradgenError(f"the file is not UTF-8 text (byte {err.start})", filename=args.file,
                               hint="save the file as UTF-8") from None
        filename = args.file
    root = project_root(args.file if args.file != "-" else args.output or "-")
    if args.file != "-":
        source_name = shown_path(args.file, root)
    wrt = tuple(n.strip() for n in args.wrt.split(",") if n.strip()) if args.wrt else None
    command = ["python -m gradgen", source_name if args.file != "-" else "-"]
    if args.function:
        command += ["-f", args.function]
    if args.wrt:
        command += ["--wrt", ",".join(wrt)]
    if args.output:
        command += ["-o", shown_path(args.output, root)]
    return generate(source, filename, function=args.function, wrt=wrt, source_name=source_name,
                    command=" ".join(command))


def _compare(path: str, text: str, *, show_diff: bool) -> int:
    try:
        with open(path, encoding="utf-8") as handle:
            current = handle.read()
    except FileNotFoundError:
        current = None
    if current == text:
        if not show_diff:
            print(f"gradgen: {path} is up to date", file=sys.stderr)
        return 0
    if show_diff:
        sys.stdout.writelines(difflib.unified_diff(
            (current or "").splitlines(True), text.splitlines(True),
            fromfile=f"{path} (committed)", tofile=f"{path} (generated)"))
        return 0
    reason = "is missing" if current is None else "is stale"
    print(f"gradgen: {path} {reason}; regenerate it with the command in its header", file=sys.stderr)
    return 1


def _write_atomically(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".gradgen-", suffix=".py", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
