"""The graph in Graphviz DOT. networkx's own DOT writers need pydot or pygraphviz; DOT is small
enough to write directly, which keeps the dependency out and the output byte-stable."""

from __future__ import annotations

from typing import TextIO

import networkx as nx

_SHAPES = {"machine": "box3d", "process": "box", "port": "circle", "clientGroup": "folder"}


def write_dot(graph: nx.MultiDiGraph, out: TextIO) -> None:
    """Write ``graph`` (a plain graph) as a DOT digraph to ``out``: a node per box with its
    label, an edge per connection with its port; failed-only connections dashed and red."""
    out.write(f"digraph {_quote(str(graph.graph.get('server', 'server')))} {{\n  rankdir=LR;\n")
    for node, attrs in graph.nodes(data=True):
        shape = _SHAPES.get(str(attrs.get("kind")), "box")
        out.write(f"  {_quote(node)} [label={_quote(str(attrs.get('label', node)))}, shape={shape}];\n")
    for source, target, attrs in graph.edges(data=True):
        extra = [f"label={_quote(':' + str(attrs['port']))}"] if "port" in attrs else []
        if attrs.get("failed_only"):
            extra += ["style=dashed", "color=red"]
        out.write(f"  {_quote(source)} -> {_quote(target)}" + (f" [{', '.join(extra)}]" if extra else "") + ";\n")
    out.write("}\n")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
