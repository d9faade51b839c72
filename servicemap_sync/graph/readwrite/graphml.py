"""The graph as GraphML, with networkx's own streaming writer (yEd, Gephi and Cytoscape read it)."""

from __future__ import annotations

from typing import TextIO

import networkx as nx


def write_graphml(graph: nx.MultiDiGraph, out: TextIO) -> None:
    """Write ``graph`` (a plain graph) as GraphML to ``out``, line by line."""
    for line in nx.generate_graphml(graph, prettyprint=True):
        out.write(line + "\n")
