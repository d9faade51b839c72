"""Write a server's graph for other tools, one module per format (as networkx's readwrite):
:mod:`.nodelink` (JSON), :mod:`.graphml` (networkx's own writer), :mod:`.dot` (Graphviz) and
:mod:`.mermaid` (Markdown diagrams). Every writer streams lines to a text file object and gives
the same bytes for the same graph.

:func:`plain_graph` is the shared first step: node keys become their text form
(``process:m-…/p-…``) and attributes keep only plain values, so every format sees the same data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TextIO

import networkx as nx

from .dot import write_dot
from .graphml import write_graphml
from .mermaid import write_mermaid
from .nodelink import write_json

__all__ = ["FORMATS", "plain_graph", "write_dot", "write_graphml", "write_json", "write_mermaid"]

#: format name -> writer(graph, text file); the graph is a plain one (see :func:`plain_graph`)
FORMATS: dict[str, Callable[[nx.MultiDiGraph, TextIO], None]] = {
    "json": write_json, "graphml": write_graphml, "dot": write_dot, "mermaid": write_mermaid,
}

_SCALARS = (str, int, float, bool)


def plain_graph(graph: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """A copy of ``graph`` with text node ids and only plain attribute values (no model objects,
    no None), in the same sorted order."""
    plain = nx.MultiDiGraph()
    plain.graph.update({k: _plain(v) for k, v in graph.graph.items() if _plain(v) is not None})
    # a machine group's graph: its members and missing members, as one text each
    plain.graph.update({k: " ".join(str(_plain(e)) for e in v) for k, v in graph.graph.items()
                        if k in ("members", "missing") and isinstance(v, tuple)})
    for node, attrs in graph.nodes(data=True):
        plain.add_node(str(node), **{k: _plain(v) for k, v in attrs.items() if _plain(v) is not None})
    for source, target, key, attrs in graph.edges(keys=True, data=True):
        plain.add_edge(str(source), str(target), str(key),
                       **{k: _plain(v) for k, v in attrs.items() if _plain(v) is not None})
    return plain


def _plain(value: object) -> str | int | float | bool | None:
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple) and type(value).__name__ == "NodeKey":
        return str(value)
    return None
