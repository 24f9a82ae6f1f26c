"""The forward and backward graph as Graphviz DOT, drawn like the course notes' figures:
forward edges black and solid, each labelled with its value; adjoint edges red and dashed,
flowing back and labelled with the adjoint they carry."""

from __future__ import annotations

from . import shapes
from .emit import Unit
from .reverse import reaching_output

_OP_LABEL = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**", "neg": "-", "matmul": "@",
             "dot": "dot", "getitem": "[ ]", "nondiff": "no grad"}


def to_dot(units: list[Unit]) -> str:
    lines = ["digraph gradgen {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=10];']
    for index, unit in enumerate(units):
        lines.extend(_cluster(unit, index))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _cluster(unit: Unit, index: int) -> list[str]:
    graph, wrt = unit.graph, set(unit.backward.wrt)
    reach = reaching_output(graph)
    prefix = f"f{index}_"
    out = [f"  subgraph cluster_{index} {{", f'    label="{_escape(graph.name)}";']

    def node_id(value):
        return f"{prefix}v{value.id}"

    def label(value, op=None):
        parts = [value.hint]
        if op:
            parts.append(_OP_LABEL.get(op, op))
        if value.shape is not None:
            parts.append(shapes.show(value.shape))
        return _escape("\\n".join(parts))

    drawn = set()
    for p in graph.params:
        style = "bold" if p.name in wrt else "solid"
        out.append(f'    {node_id(p.value)} [label="{label(p.value)}", shape=ellipse, style={style}];')
        drawn.add(p.value.id)
    nodes = [n for n in graph.body.nodes() if n.out.id in reach or n.op == "nondiff"]
    for node in nodes:
        v = node.out
        if node.op == "nondiff":
            attrs = 'shape=box, color=gray50, fontcolor=gray40'
        else:
            attrs = "shape=box, style=rounded"
        out.append(f'    {node_id(v)} [label="{label(v, node.op)}", {attrs}];')
        drawn.add(v.id)
    for node in nodes:
        diff = set(node.diff_inputs)
        for i, x in enumerate(node.inputs):
            if x.id not in drawn:
                if x.kind not in ("const", "global"):
                    continue
                out.append(f'    {node_id(x)} [label="{_escape(_literal(x))}", shape=plaintext];')
                drawn.add(x.id)
            style = "" if i in diff else ", style=dotted, color=gray50"
            out.append(f'    {node_id(x)} -> {node_id(node.out)} [label="{_escape(x.hint)}"{style}];')
    for source, target in unit.backward.flows:  # the adjoint edges the backward really has
        if source.id in drawn and target.id in drawn:
            out.append(f'    {node_id(source)} -> {node_id(target)} [label="d{_escape(target.hint)}", '
                       'color=red, fontcolor=red, style=dashed, constraint=false];')
    out.append("  }")
    return out


def _literal(value) -> str:
    import ast
    return ast.unparse(value.literal) if value.literal is not None else value.hint


def _escape(text: str) -> str:
    return text.replace('"', '\\"')
