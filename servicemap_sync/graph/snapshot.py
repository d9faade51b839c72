"""A graph's nodes and edges as JSON-ready items, and back: what stability remembers.

:func:`graph_items` names every node (``node <kind>:<machine>/<name>``) and edge
(``edge <u> -> <v> #<key>``) of a graph and gives the data to draw it again;
:func:`apply_items` turns a stability decision back into a graph: items drawn but missing from
the data are added from their stored data, items in the data not drawn yet are taken out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import networkx as nx

from servicemap_sync.graph.items import prune
from servicemap_sync.model import ClientGroup, Machine, NodeKey, Port, Process

__all__ = ["apply_items", "decode", "encode", "graph_items", "node_item", "edge_item"]

_TYPES = {cls.__name__: cls for cls in (Machine, Process, Port, ClientGroup)}


def node_item(key: NodeKey) -> str:
    return f"node {key}"


def edge_item(u: NodeKey, v: NodeKey, k: str) -> str:
    return f"edge {u} -> {v} #{k}"


def encode(value: Any) -> Any:
    """``value`` as JSON-ready data (NodeKeys, model objects and tuples included)."""
    if isinstance(value, NodeKey):
        return {"$key": list(value)}
    if dataclasses.is_dataclass(value) and type(value).__name__ in _TYPES:
        return {"$obj": type(value).__name__,
                "fields": {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    return value


def decode(value: Any) -> Any:
    """The inverse of :func:`encode` (lists come back as tuples).

    Raises:
        ValueError, TypeError, KeyError: the data was not written by :func:`encode`.
    """
    if isinstance(value, Mapping):
        if "$key" in value:
            return NodeKey(*value["$key"])
        if "$obj" in value:
            cls = _TYPES[value["$obj"]]
            return cls(**{k: decode(v) for k, v in value["fields"].items()})
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(decode(v) for v in value)
    return value


def graph_items(graph: nx.MultiDiGraph) -> dict[str, Any]:
    """Every node and edge of ``graph`` except the server itself, as ``{item key: data}``."""
    focus = graph.graph["focus"]
    items: dict[str, Any] = {}
    for key, attrs in graph.nodes(data=True):
        if key != focus:
            items[node_item(key)] = {"key": list(key), "attrs": encode(attrs)}
    for u, v, k, attrs in graph.edges(keys=True, data=True):
        items[edge_item(u, v, k)] = {"u": list(u), "v": list(v), "k": k, "attrs": encode(attrs)}
    return items


def apply_items(graph: nx.MultiDiGraph, current: Mapping[str, Any], draw: Mapping[str, Any]) -> None:
    """Make ``graph`` (whose items are ``current``) show exactly the items of ``draw``, in place;
    stored data that cannot be decoded is skipped."""
    added = False
    nodes_in = sorted(k for k in draw if k.startswith("node ") and k not in current)
    edges_in = sorted(k for k in draw if k.startswith("edge ") and k not in current)
    for item in nodes_in:
        try:
            key = NodeKey(*draw[item]["key"])
            attrs = decode(draw[item]["attrs"])
        except (KeyError, TypeError, ValueError):
            continue
        if key not in graph:
            graph.add_node(key, **attrs)
            added = True
    for item in edges_in:
        try:
            data = draw[item]
            u, v, k = NodeKey(*data["u"]), NodeKey(*data["v"]), data["k"]
            attrs = decode(data["attrs"])
        except (KeyError, TypeError, ValueError):
            continue
        if u in graph and v in graph and not graph.has_edge(u, v, k):
            graph.add_edge(u, v, k, **attrs)
            added = True
    out_edges = sorted(k for k in current if k.startswith("edge ") and k not in draw)
    touched: set[NodeKey] = set()
    for item in out_edges:
        data = current[item]
        u, v, k = NodeKey(*data["u"]), NodeKey(*data["v"]), data["k"]
        if graph.has_edge(u, v, k):
            graph.remove_edge(u, v, k)
            touched.update((u, v))
    held_nodes = {NodeKey(*current[k]["key"]) for k in current if k.startswith("node ") and k not in draw}
    prune(graph, touched | held_nodes)
    if added:  # keep the graph's sorted node and edge order, which rendering relies on for determinism
        _resort(graph)


def _resort(graph: nx.MultiDiGraph) -> None:
    nodes = sorted(graph.nodes(data=True), key=lambda item: item[0])
    edges = sorted(graph.edges(keys=True, data=True), key=lambda e: (e[0], e[1], str(e[2])))
    graph.clear_edges()
    graph.remove_nodes_from(list(graph.nodes))
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
