"""The boxes and arrows a server's graph will be drawn with, seen from the graph layer.

Shaping (rules, curation, guards, stability) decides about *boxes* and *arrows*, the things
an operator sees, while the graph holds Service Map nodes and edges. This module is the one
place that maps one to the other, mirroring :mod:`servicemap_sync.mp.diagram`:

* the **server** (the focus machine) is always a box; on a machine group's graph
  (:mod:`~servicemap_sync.graph.group`), each **member server** (``graph.graph["members"]``);
* a **process of the server** (of a member) is a box when it has a connection or listens on a
  port; on a group graph drawn with ``graph.graph["detail"] == "server"``, a member's processes
  are drawn as their member's box, as peer processes are;
* a **peer process** is drawn as its machine: the peer *machine* is the box;
* a **client group** and a **peer group** (:data:`GROUP_KIND`, made by guards and curation)
  are boxes of their own.

An *arrow* here is one connection edge ``(u, v, key)``; the diagram merges connections with
the same boxes and port into one drawn arrow.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator
from functools import lru_cache

import networkx as nx

from servicemap_sync.model import NodeKey, machine_key

__all__ = [
    "GROUP_KIND", "arrow_key", "box_key", "box_label", "box_names", "connections", "drawn_boxes", "glob_match",
    "group_key", "is_local", "local_machines", "prune",
]

GROUP_KIND = "peerGroup"
"""Node kind of a box that stands for several peers (a collapsed layer or a curated group).

Attributes: ``label`` (shown), ``id_name`` (the stable name its SCOM IDs are made from),
``members`` (the labels of the peers inside, sorted), ``note`` (why it exists) and
``machine`` (the server's key)."""

Edge = tuple[NodeKey, NodeKey, str]


def group_key(focus: NodeKey, name: str) -> NodeKey:
    """Key of a peer-group node on ``focus``'s graph."""
    return NodeKey(GROUP_KIND, focus.name, name.lower())


def local_machines(graph: nx.MultiDiGraph) -> tuple[NodeKey, ...]:
    """The machines whose diagram this is: the server (``(focus,)``), or a group's members
    (``graph.graph["members"]``, those that are nodes of the graph)."""
    members = graph.graph.get("members")
    if members is None:
        return (graph.graph["focus"],)
    return tuple(m for m in members if m in graph)


def is_local(graph: nx.MultiDiGraph, key: NodeKey) -> bool:
    """Whether ``key`` is the server itself or one of its processes (not a peer, client group or group);
    on a group's graph, a member server or one of its processes."""
    members = graph.graph.get("members")
    if members is None:
        focus: NodeKey = graph.graph["focus"]
        return key == focus or (key.kind == "process" and key.machine == focus.name)
    return key.kind in ("machine", "process") and any(key.machine == m.name for m in members)


def box_key(graph: nx.MultiDiGraph, key: NodeKey) -> NodeKey:
    """The box ``key`` is drawn in: a peer process in its machine, everything else in itself
    (on a group graph drawn at server detail, a member's process in its member too)."""
    if _in_machine(graph, key):
        return graph.nodes[key].get("machine") or machine_key(key.machine)
    return key


def _in_machine(graph: nx.MultiDiGraph, key: NodeKey) -> bool:
    """Whether ``key`` is a process drawn as its machine's box."""
    return key.kind == "process" and (graph.graph.get("detail") == "server" or not is_local(graph, key))


def connections(graph: nx.MultiDiGraph) -> Iterator[tuple[NodeKey, NodeKey, str, dict]]:
    """Every connection edge ``(u, v, key, data)``, in the graph's (sorted) order."""
    for u, v, k, data in graph.edges(keys=True, data=True):
        if data.get("kind") == "connection":
            yield u, v, k, data


def arrow_key(u: NodeKey, v: NodeKey, k: str) -> str:
    """The explanation's and history's name of one connection edge."""
    return f"{u} -> {v} #{k}"


def drawn_boxes(graph: nx.MultiDiGraph) -> set[NodeKey]:
    """The boxes the diagram will draw for ``graph`` (see the module docstring)."""
    boxes = set(local_machines(graph))
    for u, v, data in graph.edges(data=True):
        if data.get("kind") == "acceptor":
            boxes.add(box_key(graph, v))
        else:
            boxes.add(box_key(graph, u))
            boxes.add(box_key(graph, v))
    return boxes


def box_label(graph: nx.MultiDiGraph, key: NodeKey) -> str:
    """A human name for a box or node: its label (renamed if curation renamed it), else its resource name."""
    attrs = graph.nodes[key] if key in graph else {}
    label = attrs.get("renamed") or attrs.get("label") or key.name
    if key.kind == "clientGroup" and not attrs.get("renamed") and str(label).lower() == key.name:
        target = attrs.get("clients_of")
        label = f"Clients of {box_label(graph, target) if target in graph else key.machine}"
    if _in_machine(graph, key):
        owner = attrs.get("machine")
        if owner is not None and owner in graph:
            label = f"{label} on {box_label(graph, owner)}"
    return str(label)


def box_names(graph: nx.MultiDiGraph, key: NodeKey) -> tuple[str, ...]:
    """Every name a glob may match for a box or node, case-folded.

    Machines: label, FQDN, computer name, display name, DNS names, IPv4 addresses, resource
    name. Processes: label, display name, executable name, resource name. Client groups and
    peer groups: label and resource name. Curation's new label is included too.
    """
    attrs = graph.nodes[key] if key in graph else {}
    obj = attrs.get("obj")
    names: list[str | None] = [attrs.get("label"), attrs.get("renamed"), key.name]
    if key.kind == "machine" and obj is not None:
        names += [obj.fqdn, obj.computer_name, obj.display_name, *obj.dns_names, *obj.ipv4_addresses]
    elif key.kind == "process" and obj is not None:
        names += [obj.display_name, obj.executable_name]
    elif key.kind == "clientGroup" and obj is not None:
        names.append(obj.display_name)
    out: list[str] = []
    for name in names:
        if name and isinstance(name, str):
            folded = name.strip().casefold()
            if folded and folded != "???" and folded not in out:
                out.append(folded)
    return tuple(out)


def glob_match(patterns: Iterable[str], names: Iterable[str]) -> bool:
    """Whether any case-folded glob of ``patterns`` matches any (case-folded) name of ``names``."""
    names = tuple(names)
    return any(_compiled(p)(n) for p in patterns for n in names)


@lru_cache(maxsize=4096)
def _compiled(pattern: str):
    import re

    return re.compile(fnmatch.translate(pattern.casefold()), re.DOTALL).match


def prune(graph: nx.MultiDiGraph, candidates: Iterable[NodeKey]) -> list[NodeKey]:
    """Remove the ``candidates`` left without any edge, and what only they needed.

    A peer machine goes when none of its processes is left; the server, a peer machine that is
    itself an arrow's end (a pin), and the port a remaining client group is named after stay.

    Returns:
        The removed nodes, sorted.
    """
    kept = set(local_machines(graph)) | {graph.graph["focus"]}  # the server (members) always stay
    removed: list[NodeKey] = []
    queue = sorted(set(candidates), reverse=True)
    named = {attrs.get("clients_of") for _k, attrs in graph.nodes(data=True) if attrs.get("kind") == "clientGroup"}
    live: dict[NodeKey, int] = {}  # peer machine -> its processes that still have an edge
    for key, attrs in graph.nodes(data=True):
        if attrs.get("kind") == "process" and attrs.get("machine") not in kept and graph.degree(key) > 0:
            live[attrs["machine"]] = live.get(attrs["machine"], 0) + 1
    while queue:
        key = queue.pop()
        if key is None or key not in graph or key in kept or graph.degree(key) > 0 or key in named:
            continue
        if key.kind == "machine" and live.get(key, 0) > 0:
            continue
        attrs = graph.nodes[key]
        graph.remove_node(key)
        removed.append(key)
        owner = attrs.get("machine")
        if key.kind == "process" and owner is not None and owner not in kept:
            queue.append(owner)
        elif key.kind == "clientGroup":
            named.discard(attrs.get("clients_of"))
            queue.append(attrs.get("clients_of"))
    return sorted(removed)
