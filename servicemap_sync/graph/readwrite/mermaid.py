"""The graph as a Mermaid flowchart, for Markdown pages (Azure DevOps and GitHub wikis draw it)."""

from __future__ import annotations

from typing import TextIO

import networkx as nx

_SHAPES = {"machine": ("[[", "]]"), "process": ("[", "]"), "port": ("((", "))"), "clientGroup": ("[/", "/]")}


def write_mermaid(graph: nx.MultiDiGraph, out: TextIO) -> None:
    """Write ``graph`` (a plain graph) as ``flowchart LR`` to ``out``; node ids are ``n0``, ``n1``…
    in the graph's (sorted) order, labels are quoted with Mermaid's entity codes, failed-only
    connections are dotted."""
    ids = {node: f"n{i}" for i, node in enumerate(graph.nodes)}
    out.write("flowchart LR\n")
    for node, attrs in graph.nodes(data=True):
        left, right = _SHAPES.get(str(attrs.get("kind")), ("[", "]"))
        out.write(f"  {ids[node]}{left}\"{_escape(str(attrs.get('label', node)))}\"{right}\n")
    for source, target, attrs in graph.edges(data=True):
        arrow = "-.->" if attrs.get("failed_only") else "-->"
        label = f"|\":{attrs['port']}\"|" if "port" in attrs else ""
        out.write(f"  {ids[source]} {arrow}{label} {ids[target]}\n")


def _escape(text: str) -> str:
    return (text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
            .replace("\n", " "))
