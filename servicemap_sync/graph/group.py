"""One machine group's dependency graph: the servers of an application and how they talk.

A group's graph is what its members' single-server graphs (:func:`~servicemap_sync.graph.build_graph`)
show together, each node and edge once: every connection with at least one end on a member
(loopback and, unless ``include_self_links``, self-links left out, as for one server), every
member's processes and listening ports, the peers outside the group and the client groups.
It is made the same way from the members' own maps (``Sequence[ServerMap]``) or from one
Service Map group map (:class:`~servicemap_sync.model.GroupMap`, ``map:machine-group-dependency``),
so both give the same graph for the same data.

Drawn (:mod:`servicemap_sync.mp.diagram`): one ``server`` box per member holding its SCOM
computer; with ``detail="process"`` its processes as boxes of their own (each showing its
member's computer), as the per-server DA draws them, and arrows between members joining the
two processes' boxes; with ``detail="server"`` a member's processes are drawn as its box, so
arrows join member boxes (labelled with the processes and port). Outside peers are drawn as
their machines, client groups as themselves. Health rolls up member computer → box → DA.

The graph is shaped by :func:`~servicemap_sync.graph.shape` like a server's: rules, curation,
guards and stability see the members where they see the server (``is_local``: a member or a
member's process), and a rule's or curation line's server scope (``servers``) is matched
against the group's name. Arrows between members are never collapsed by the guards.

Graph attributes (besides each node's and edge's, as :func:`build_graph` documents):

* ``group``: the group's name, as given (the MP ID is made from it:
  :func:`~servicemap_sync.mp.ids.group_mp_id`); ``server``: the same (messages and notes);
* ``members``: the member machines' keys found in the data, in the group's order;
* ``missing``: the members not in the data, named as the caller (or the group map) named them;
* ``detail``: ``"process"`` or ``"server"``;
* ``focus``: a key standing for the group itself (kind ``group``), which is no node: code
  written for one server's graph that only compares with the focus keeps working;
* ``start_time``, ``end_time``: the window (the earliest start and latest end of the maps).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import networkx as nx

from servicemap_sync.errors import ConfigError, RenderError
from servicemap_sync.graph.build import build_graph
from servicemap_sync.model import GroupMap, NodeKey, ServerMap

__all__ = ["DETAILS", "GROUP_KEY_KIND", "build_group_graph", "group_focus"]

DETAILS = ("process", "server")
GROUP_KEY_KIND = "group"


def group_focus(name: str) -> NodeKey:
    """The key a group's graph has as ``focus``: stands for the group, is never a node."""
    low = name.strip().lower()
    return NodeKey(GROUP_KEY_KIND, low, low)


def build_group_graph(
    name: str,
    members: Sequence[ServerMap] | GroupMap,
    *,
    detail: Literal["process", "server"] = "process",
    include_self_links: bool = False,
    missing: Iterable[str] = (),
) -> nx.MultiDiGraph:
    """Build the dependency graph of machine group ``name`` (see the module docstring).

    Args:
        name: the group's name (its display name; the MP ID is made from it).
        members: the members' single-machine maps (one per member found; a second map of the
            same machine is ignored), or the group's map from Service Map, whose ``missing``
            members are reported.
        detail: ``"process"`` (a box per member process, as the per-server DA) or ``"server"``
            (one box per member).
        include_self_links: keep connections between two processes of one member (never with
            ``detail="server"``, where they would be an arrow from a box to itself).
        missing: members the caller has no map for (not found, failed), as it names them;
            added to ``graph.graph["missing"]``.

    Returns:
        The graph; ``graph.graph["missing"]`` names the members left out.

    Raises:
        ConfigError: ``detail`` is not ``process`` or ``server``.
        RenderError: no member is in the data, or a map is inconsistent (as :func:`build_graph`).
    """
    if detail not in DETAILS:
        raise ConfigError(f"groups.detail: {detail!r} is not one of {', '.join(DETAILS)}")
    missing = list(missing)
    if isinstance(members, GroupMap):
        maps = _member_maps(members)
        missing = [*members.missing, *missing]
        start, end = members.start_time, members.end_time
    else:
        maps, seen = [], set()
        for server_map in members:
            if server_map.focus not in seen:
                seen.add(server_map.focus)
                maps.append(server_map)
        start = min((m.start_time for m in maps), default=None)
        end = max((m.end_time for m in maps), default=None)
    if not maps:
        shown = f" (missing: {', '.join(missing)})" if missing else ""
        raise RenderError(f"group {name}: none of its members is in the data{shown}")

    self_links = include_self_links and detail == "process"
    graphs = [build_graph(m, include_self_links=self_links) for m in maps]
    keys = tuple(g.graph["focus"] for g in graphs)

    nodes: dict[NodeKey, dict] = {}
    for graph in graphs:  # a member's own machine and processes as its own map tells them
        here = graph.graph["focus"].name
        for key, attrs in graph.nodes(data=True):
            if key.machine == here and key.kind in ("machine", "process"):
                nodes[key] = attrs
    connections: dict[tuple[NodeKey, NodeKey, str], dict] = {}
    acceptors: dict[tuple[NodeKey, NodeKey, str], dict] = {}
    for graph in graphs:  # everything else as the first member's map that has it
        for key, attrs in graph.nodes(data=True):
            nodes.setdefault(key, attrs)
        for u, v, k, attrs in graph.edges(keys=True, data=True):
            (acceptors if attrs["kind"] == "acceptor" else connections).setdefault((u, v, k), attrs)
    if detail == "server":  # no process boxes: listening ports draw nothing
        acceptors = {}
        named = {a.get("clients_of") for a in nodes.values() if a["kind"] == "clientGroup"}
        nodes = {k: a for k, a in nodes.items() if k.kind != "port" or k in named}

    graph = nx.MultiDiGraph(
        server=name,
        group=name,
        focus=group_focus(name),
        members=keys,
        missing=tuple(missing),
        detail=detail,
        start_time=start,
        end_time=end,
    )
    # the same order as build_graph's: nodes by key, connections by (from, to, port, id), acceptors
    graph.add_nodes_from((key, nodes[key]) for key in sorted(nodes))
    for (u, v, k), attrs in sorted(connections.items(), key=lambda item: (*item[0][:2], _port(item[1]), item[0][2])):
        graph.add_edge(u, v, k, **attrs)
    for (u, v, k), attrs in sorted(acceptors.items()):
        graph.add_edge(u, v, k, **attrs)
    return graph


def _port(attrs: dict) -> int:
    return attrs.get("port") or -1  # as build_graph sorts


def _member_maps(group_map: GroupMap) -> list[ServerMap]:
    """One single-machine view of the group map per member found (the same nodes and edges)."""
    return [
        ServerMap(
            server=machine.label, focus=machine.key, start_time=group_map.start_time, end_time=group_map.end_time,
            machines=group_map.machines, processes=group_map.processes, ports=group_map.ports,
            client_groups=group_map.client_groups, connections=group_map.connections, acceptors=group_map.acceptors,
        )
        for machine in group_map.member_machines()
    ]

