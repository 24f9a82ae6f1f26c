"""Turns generated module text into live functions that read the forward's own globals.

The generated functions must see the module's globals as the forward does, live (a
constant rebound after decoration is seen by both), and look them up at full speed. So
the module is wrapped in a factory function whose globals are the forward's module dict:
helpers become closure variables of the factory, everything else is an ordinary global.
The text is registered in linecache, so tracebacks through the backward show its lines.
"""

from __future__ import annotations

import linecache
import textwrap
import types

_FACTORY = "__gradgen_factory__"


def load_functions(text: str, label: str, module_globals: dict, bindings: dict,
                   names: list[str]) -> list:
    """The functions ``names`` defined by ``text``, with ``module_globals`` as their globals.

    ``bindings`` are extra names the text reads that the module does not have (the
    forward's closure variables, the globals of a user rule from another module).
    """
    params = ", ".join(sorted(bindings))
    source = (f"def {_FACTORY}({params}):\n{textwrap.indent(text, '    ')}\n"
              f"    return {', '.join(names)},\n")
    filename = f"<gradgen: {label}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    scratch: dict = {}
    exec(compile(source, filename, "exec"), scratch)
    factory = types.FunctionType(scratch[_FACTORY].__code__, module_globals, _FACTORY)
    return list(factory(**bindings))
