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

import networkx as nx

from servicemap_sync.errors import RenderError
from servicemap_sync.model import (
    FAILURE_FAILED,
    ClientGroup,
    Connection,
    Machine,
    NodeKey,
    Port,
    PortRef,
    Process,
    ServerMap,
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
    focus = server_map.focus
    if focus not in machines:
        raise RenderError(f"{server_map.server}: the map has no node for its own machine {focus}")
    here = focus.name
    endpoints: dict[NodeKey, Process | ClientGroup] = {**processes, **groups}

    kept: list[Connection] = []
    dropped = {"other": 0, "loopback": 0, "self": 0}
    for conn in server_map.connections:
        src = _lookup(endpoints, conn.source, server_map.server, conn.id)
        dst = _lookup(endpoints, conn.destination, server_map.server, conn.id)
        if here not in (src.key.machine, dst.key.machine):
            dropped["other"] += 1
        elif is_loopback(conn.server_port):
            dropped["loopback"] += 1
        elif src.key.kind == "process" and src.key.machine == dst.key.machine and not include_self_links:
            dropped["self"] += 1
        else:
            kept.append(conn)
    kept.sort(key=lambda c: (c.source, c.destination, _port_number(c.server_port) or -1, c.id))

    accepted: list[tuple[Port, Process, str]] = []
    for acc in server_map.acceptors:
        proc = processes.get(acc.process)
        port = ports.get(acc.port)
        if proc is None or port is None:
            raise RenderError(f"{server_map.server}: acceptor {acc.id} names a node the map lacks")
        if proc.key.machine == here and not _is_loopback_ip(port.ip_address):
            accepted.append((port, proc, acc.id))
    accepted.sort(key=lambda item: (item[0].key, item[1].key, item[2]))

    nodes: dict[NodeKey, dict[str, object]] = {focus: _machine_attrs(machines[focus])}
    for proc in processes.values():
        if proc.key.machine == here:
            nodes[proc.key] = _process_attrs(proc)
    for conn in kept:
        for key in (conn.source, conn.destination):
            if key in nodes:
                continue
            obj = endpoints[key]
            if isinstance(obj, ClientGroup):
                nodes[key] = _group_attrs(obj)
                if obj.clients_of in ports:  # named in the group's label ("clients of web01:80")
                    nodes.setdefault(obj.clients_of, _port_attrs(ports[obj.clients_of]))
                continue
            nodes[key] = _process_attrs(obj)
            owner = machine_of(key)
            if owner not in machines:
                raise RenderError(f"{server_map.server}: process {key} runs on {owner.name}, which the map lacks")
            if owner not in nodes:
                nodes[owner] = _machine_attrs(machines[owner])
    for port, _proc, _id in accepted:
        nodes[port.key] = _port_attrs(port)

    graph = nx.MultiDiGraph(
        server=server_map.server,
        focus=focus,
        start_time=server_map.start_time,
        end_time=server_map.end_time,
    )
    graph.add_nodes_from((key, nodes[key]) for key in sorted(nodes))
    graph.add_edges_from(
        (
            conn.source,
            conn.destination,
            conn.id,
            {
                "kind": "connection",
                "id": conn.id,
                "port": _port_number(conn.server_port),
                "ip": conn.server_port.ip_address if conn.server_port else None,
                "failure_state": conn.failure_state,
                "failed_only": conn.failure_state == FAILURE_FAILED,
            },
        )
        for conn in kept
    )
    graph.add_edges_from(
        (port.key, proc.key, acc_id, {"kind": "acceptor", "id": acc_id}) for port, proc, acc_id in accepted
    )
    logger.debug(
        "%s: graph has %d nodes, %d edges; dropped %d foreign, %d loopback, %d self-link connections",
        server_map.server, graph.number_of_nodes(), graph.number_of_edges(),
        dropped["other"], dropped["loopback"], dropped["self"],
    )
    return graph


def machine_of(key: NodeKey) -> NodeKey:
    """Key of the machine owning ``key`` (a process, port or client group)."""
    return NodeKey("machine", key.machine, key.machine)


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


def _lookup(
    endpoints: dict[NodeKey, Process | ClientGroup], key: NodeKey, server: str, conn_id: str
) -> Process | ClientGroup:
    try:
        return endpoints[key]
    except KeyError:
        raise RenderError(f"{server}: connection {conn_id} names {key}, which the map lacks") from None


def _machine_attrs(machine: Machine) -> dict[str, object]:
    label = machine.label
    principal = next(
        (n.strip() for n in (machine.fqdn, machine.computer_name) if n and n.strip() and n.strip() != "???"),
        label,
    )
    return {
        "kind": "machine",
        "label": label,
        "obj": machine,
        "monitored": machine.is_monitored,
        "os_family": machine.os_family.lower() if machine.os_family else None,
        "principal_name": principal,
    }


def _process_attrs(proc: Process) -> dict[str, object]:
    return {"kind": "process", "label": proc.label, "obj": proc, "machine": machine_of(proc.key)}


def _port_attrs(port: Port) -> dict[str, object]:
    name = port.display_name.strip() if port.display_name else ""
    if not name or name == "???":
        name = f":{port.port_number}" if port.port_number is not None else port.name
    return {"kind": "port", "label": name, "obj": port, "machine": machine_of(port.key)}


def _group_attrs(group: ClientGroup) -> dict[str, object]:
    name = group.display_name.strip() if group.display_name else ""
    return {
        "kind": "clientGroup",
        "label": name if name and name != "???" else group.name,
        "obj": group,
        "machine": machine_of(group.key),
        "clients_of": group.clients_of,
    }
