"""One server's Service Map data as a networkx graph, shaped the way every user wants it.

The graph is the hand-off between the source layer (:mod:`servicemap_sync.model`) and the
management-pack renderer, so it carries Service Map identities (:class:`~servicemap_sync.model.NodeKey`)
as node keys and never display names: display names repeat (``java`` twice on one box),
are ``???`` or empty, and change between responses.

Shaping applied here, because no consumer wants the raw map:

* **Only the server's own traffic.** Connections with neither end on the server are dropped.
* **Self-links** (process to process on the same machine) are dropped unless
  ``include_self_links``; the Service Map UI hides them by default too.
* **Loopback** (server port on ``127.x`` or ``::1``) is always dropped, self-link flag or not:
  it never leaves the machine, so it is no dependency. Ports listening only on loopback are
  dropped for the same reason.
* **Agentless clients** stay one client-group node each, as Service Map groups them.
* **Failed connections** keep their edge; ``failed_only`` marks those that never succeeded.

Nodes and edges are added in sorted key order so that iteration order, and everything
rendered from it, does not depend on the order of the response.
"""

from __future__ import annotations

import ipaddress
import logging
from operator import itemgetter

import networkx as nx

from servicemap_sync.errors import RenderError
from servicemap_sync.model import (
    FAILURE_FAILED, ClientGroup, Connection, Machine, NodeKey, Port, PortRef, Process, ServerMap, machine_key,
    usable_name,
)

__all__ = ["build_graph", "is_loopback"]

logger = logging.getLogger(__name__)

_MAX_PORT = 65535


def build_graph(server_map: ServerMap, *, include_self_links: bool = False) -> nx.MultiDiGraph:
    """Build the dependency graph of one server.

    Args:
        server_map: the parsed single-machine map.
        include_self_links: keep connections between two processes of the same machine.

    Returns:
        A :class:`networkx.MultiDiGraph` keyed by :class:`NodeKey`. Node attributes: ``kind``
        (``machine``/``process``/``port``/``clientGroup``), ``label``, ``obj`` (the model
        object); machines add ``monitored``, ``os_family`` and ``principal_name``; processes,
        ports and client groups add ``machine`` (the owning machine's key). Edges have
        ``kind`` ``connection`` (process→process or clientGroup→process; ``port``, ``ip``,
        ``failure_state``, ``failed_only``, ``id``) or ``acceptor`` (port→process). Graph
        attributes: ``server``, ``focus``, ``start_time``, ``end_time``.

    Raises:
        RenderError: the focus machine is missing, or an edge names a node the map lacks.
    """
    machines = {m.key: m for m in server_map.machines}
    processes = {p.key: p for p in server_map.processes}
    ports = {p.key: p for p in server_map.ports}
    groups = {g.key: g for g in server_map.client_groups}
    if server_map.focus not in machines:
        raise RenderError(f"{server_map.server}: the map has no node for its own machine {server_map.focus}")
    # Keys are used as the node objects themselves (each node's own key), never as equal copies
    # from references: dict lookups (ours and networkx's) then match by identity, without
    # comparing the strings of the key.
    focus = machines[server_map.focus].key
    here = focus.name
    endpoints: dict[NodeKey, Process | ClientGroup] = {**processes, **groups}

    # (sort key, port number, connection); the sort key is (source, destination, port or -1, id)
    kept: list[tuple[tuple[NodeKey, NodeKey, int, str], int | None, Connection]] = []
    dropped = {"other": 0, "loopback": 0, "self": 0}
    for conn in server_map.connections:
        ends = []
        for key in (conn.source, conn.destination):
            obj = endpoints.get(key)
            if obj is None:
                raise RenderError(f"{server_map.server}: connection {conn.id} names {key}, which the map lacks")
            ends.append(obj.key)
        src, dst = ends
        port = conn.server_port
        if here != src.machine and here != dst.machine:
            dropped["other"] += 1
        elif is_loopback(port):
            dropped["loopback"] += 1
        elif src.kind == "process" and src.machine == dst.machine and not include_self_links:
            dropped["self"] += 1
        else:
            number = _port_number(port)
            kept.append(((src, dst, number or -1, conn.id), number, conn))
    kept.sort(key=itemgetter(0))

    accepted: list[tuple[Port, Process, str]] = []
    for acc in server_map.acceptors:
        proc = processes.get(acc.process)
        port = ports.get(acc.port)
        if proc is None or port is None:
            raise RenderError(f"{server_map.server}: acceptor {acc.id} names a node the map lacks")
        if proc.key.machine == here and not _is_loopback_ip(port.ip_address):
            accepted.append((port, proc, acc.id))
    accepted.sort(key=lambda item: (item[0].key, item[1].key, item[2]))

    # machine name -> that machine's own key, for the "machine" attribute of what runs on it
    owners = {key.machine: key for key in machines if key == machine_of(key)}
    nodes: dict[NodeKey, dict[str, object]] = {focus: _machine_attrs(machines[focus])}
    for proc in processes.values():
        if proc.key.machine == here:
            nodes[proc.key] = _process_attrs(proc, owners)
    for (src, dst, _number, _id), _port, _conn in kept:
        for key in (src, dst):
            if key in nodes:
                continue
            obj = endpoints[key]
            if isinstance(obj, ClientGroup):
                nodes[key] = _group_attrs(obj, owners)
                port = ports.get(obj.clients_of)
                if port is not None:  # named in the group's label ("clients of web01:80")
                    nodes.setdefault(port.key, _port_attrs(port, owners))
                continue
            attrs = nodes[key] = _process_attrs(obj, owners)
            owner = attrs["machine"]
            if owner not in machines:
                raise RenderError(f"{server_map.server}: process {key} runs on {owner.name}, which the map lacks")
            if owner not in nodes:
                nodes[owner] = _machine_attrs(machines[owner])
    for port, _proc, _id in accepted:
        nodes[port.key] = _port_attrs(port, owners)

    graph = nx.MultiDiGraph(
        server=server_map.server,
        focus=focus,
        start_time=server_map.start_time,
        end_time=server_map.end_time,
    )
    graph.add_nodes_from((key, nodes[key]) for key in sorted(nodes))
    add_edge = graph.add_edge  # one call per edge: add_edges_from copies every attribute dict twice more
    for (src, dst, _number, conn_id), number, conn in kept:
        port = conn.server_port
        add_edge(
            src, dst, conn_id,
            kind="connection",
            id=conn_id,
            port=number,
            ip=port.ip_address if port is not None else None,
            failure_state=conn.failure_state,
            failed_only=conn.failure_state == FAILURE_FAILED,
        )
    for port, proc, acc_id in accepted:
        add_edge(port.key, proc.key, acc_id, kind="acceptor", id=acc_id)
    if logger.isEnabledFor(logging.DEBUG):  # counting a multigraph's edges walks all of them
        logger.debug(
            "%s: graph has %d nodes, %d edges; dropped %d foreign, %d loopback, %d self-link connections",
            server_map.server, graph.number_of_nodes(), graph.number_of_edges(),
            dropped["other"], dropped["loopback"], dropped["self"],
        )
    return graph


def machine_of(key: NodeKey) -> NodeKey:
    """Key of the machine owning ``key`` (a process, port or client group)."""
    return machine_key(key.machine)


def is_loopback(port: PortRef | None) -> bool:
    """Whether a connection's server port is on a loopback address (``127.0.0.0/8``, ``::1``)."""
    return port is not None and _is_loopback_ip(port.ip_address)


def _is_loopback_ip(ip: str | None) -> bool:
    if not ip:
        return False
    ip = ip.strip()
    if ":" not in ip:  # IPv4 (the only kind Service Map reports): 127.0.0.0/8, no parsing needed
        return ip.startswith("127.")
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    mapped = getattr(addr, "ipv4_mapped", None)
    return bool(addr.is_loopback or (mapped is not None and mapped.is_loopback))


def _port_number(port: PortRef | None) -> int | None:
    """The TCP port, or None when absent or out of range (nothing to label an arrow with)."""
    if port is None or port.port_number is None:
        return None
    number = port.port_number
    return number if isinstance(number, int) and 0 <= number <= _MAX_PORT else None


def _machine_attrs(machine: Machine) -> dict[str, object]:
    label = machine.label  # FQDN first, then computer name: what SCOM's PrincipalName holds
    return {
        "kind": "machine",
        "label": label,
        "obj": machine,
        "monitored": machine.is_monitored,
        "os_family": machine.os_family.lower() if machine.os_family else None,
        "principal_name": label,
    }


def _owner(key: NodeKey, owners: dict[str, NodeKey]) -> NodeKey:
    """:func:`machine_of`, as the machine's own key object when the map has the machine."""
    return owners.get(key.machine) or machine_of(key)


def _process_attrs(proc: Process, owners: dict[str, NodeKey]) -> dict[str, object]:
    return {"kind": "process", "label": proc.label, "obj": proc, "machine": _owner(proc.key, owners)}


def _port_attrs(port: Port, owners: dict[str, NodeKey]) -> dict[str, object]:
    name = usable_name(port.display_name) or (f":{port.port_number}" if port.port_number is not None else port.name)
    return {"kind": "port", "label": name, "obj": port, "machine": _owner(port.key, owners)}


def _group_attrs(group: ClientGroup, owners: dict[str, NodeKey]) -> dict[str, object]:
    return {
        "kind": "clientGroup",
        "label": usable_name(group.display_name) or group.name,
        "obj": group,
        "machine": _owner(group.key, owners),
        "clients_of": group.clients_of,
    }
