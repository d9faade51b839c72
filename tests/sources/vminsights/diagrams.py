"""Diagram structure of a server's graph, for comparing sources: boxes, arrows and ports by what
they show (kind, owning machine, label), never by bytes or by resource ids.

Agentless clients are compared as "agentless clients of machine X": how Service Map splits them
into client groups (per machine, process or port) is its own choice, which no VM insights table
records; the arrows from them (to which process, on which port) are compared in full.
"""

from __future__ import annotations

from collections import Counter

import networkx as nx


def _box(graph: nx.MultiDiGraph, node) -> tuple:
    attrs = graph.nodes[node]
    if attrs["kind"] == "machine":
        return ("machine", attrs["label"], attrs["monitored"])
    owner = graph.nodes[attrs["machine"]]["label"] if attrs["machine"] in graph else attrs["machine"].name
    if attrs["kind"] == "clientGroup":
        return ("agentless clients", owner)
    if attrs["kind"] == "port":
        return ("port", owner, attrs["label"], attrs["obj"].ip_address)
    return (attrs["kind"], owner, attrs["label"])


def structure(graph: nx.MultiDiGraph) -> dict[str, Counter]:
    """``boxes``, ``arrows`` (connections, with port and failure state) and ``acceptors`` as multisets."""
    boxes = Counter(_box(graph, n) for n, a in graph.nodes(data=True) if a["kind"] != "clientGroup")
    boxes.update(set(_box(graph, n) for n, a in graph.nodes(data=True) if a["kind"] == "clientGroup"))
    arrows, acceptors = Counter(), Counter()
    for src, dst, attrs in graph.edges(data=True):
        if attrs["kind"] == "connection":
            arrows[(_box(graph, src), _box(graph, dst), attrs["port"], attrs["ip"], attrs["failure_state"])] += 1
        else:
            acceptors[(_box(graph, src), _box(graph, dst))] += 1
    return {"boxes": boxes, "arrows": arrows, "acceptors": acceptors}
