"""The graph as node-link JSON (networkx's ``node_link_data``), keys sorted, two-space indent.

Shape: ``{"directed": true, "multigraph": true, "graph": {server, focus, start_time, end_time},
"nodes": [{"id", "kind", "label", ...}], "edges": [{"source", "target", "key", "kind", "port",
"failed_only", ...}]}``; the attributes are those of :func:`servicemap_sync.graph.build_graph`.
"""

from __future__ import annotations

import json
from typing import TextIO

import networkx as nx


def write_json(graph: nx.MultiDiGraph, out: TextIO) -> None:
    """Write ``graph`` (a plain graph) as node-link JSON to ``out``."""
    data = nx.node_link_data(graph, edges="edges")
    for chunk in json.JSONEncoder(indent=2, sort_keys=True, ensure_ascii=False).iterencode(data):
        out.write(chunk)
    out.write("\n")
