"""One server's :class:`~servicemap_sync.model.ServerMap` from the merged snapshots of a window.

The map has what Service Map's single-machine map has, in the same shapes, so that the graph
and the management pack cannot tell the sources apart:

* the server, every process that owned a socket on it, its ports (outside loopback) and an
  acceptor from each port to each process listening on it;
* for each connected socket that leaves the machine (loopback is dropped):

  - **outbound** to a snapshotted server: that server (monitored) and the process that
    listens on the port there, else a ``Port N`` process standing for it;
  - **outbound** to anything else: a discovered machine named by the hosts file or the
    reverse name (else its address) with a ``Port N`` process, as Service Map shows a peer
    without an agent;
  - **inbound** from a snapshotted server: the processes there that called this address and
    port, else, like every unknown caller, the **client group** of the server port.

A connection seen in several sockets or captures is one connection; the server port is
Service Map's: the listening end's address and port. Sockets through the server's own address
(a process calling another on the same machine) are self-links, which the graph drops unless
asked to keep them.
"""

from __future__ import annotations

from datetime import datetime

from ...model import (
    DISCOVERED, MONITORED, Acceptor, ClientGroup, Connection, Machine, NodeKey, PortRef, Port, Process, ServerMap,
    machine_key, make_key,
)
from ..names import client_group_name, discovered_machine_name, discovered_process_name, port_name
from .index import ProcessId, ServerCapture, WindowIndex
from .names import process_name
from .sockets import Socket

__all__ = ["build_server_map"]


def build_server_map(index: WindowIndex, focus: ServerCapture, *, server: str, start: datetime,
                     end: datetime) -> ServerMap:
    """The map of ``focus`` (a healthy server of ``index``), for the Servers Group name ``server``."""
    nodes = _Nodes()
    nodes.add_machine(focus.machine)
    for proc in focus.processes:
        nodes.process(focus, proc)
    acceptors = {}
    for number, names in focus.listeners.items():
        port = nodes.port(focus, number)
        for proc in names:
            key = nodes.process(focus, proc)
            acceptors[(port, key)] = Acceptor(id=f"{port.name}!{key.name}", port=port, process=key)
    connections: dict[tuple[NodeKey, NodeKey, NodeKey], Connection] = {}
    for sock, inbound, owners in focus.sockets:
        ends = (_inbound if inbound else _outbound)(index, nodes, focus, sock, owners)
        for source, destination, server_port in ends:
            conn_id = f"{source.machine}!{source.name}!{destination.machine}!{destination.name}!{server_port.key.name}"
            connections.setdefault((source, destination, server_port.key), Connection(
                id=conn_id, source=source, destination=destination, server_port=server_port))
    return ServerMap(
        server=server, focus=focus.machine.key, start_time=start, end_time=end,
        machines=_sorted(nodes.machines), processes=_sorted(nodes.processes), ports=_sorted(nodes.ports),
        client_groups=_sorted(nodes.groups),
        connections=tuple(connections[k] for k in sorted(connections)),
        acceptors=tuple(acceptors[k] for k in sorted(acceptors)),
    )


Ends = list[tuple[NodeKey, NodeKey, PortRef]]


def _outbound(index: WindowIndex, nodes: _Nodes, focus: ServerCapture, sock: Socket,
              owners: frozenset[ProcessId]) -> Ends:
    """A focus process called ``sock.remote_ip:remote_port``: who answered."""
    ip, number = sock.remote_ip, sock.remote_port
    names = index.names(ip, sock.remote_name)
    peer = index.server_at(ip, names)
    if peer is not None:
        nodes.add_machine(peer.machine)
        listeners = peer.listeners.get(number)
        port = make_key(("port", peer.machine.key.name,
                         peer.port_name(number) if number in peer.port_ips else port_name(ip, number)))
        targets = ([nodes.process(peer, p) for p in sorted(listeners, key=_order)] if listeners
                   else [nodes.stand_in(peer.machine, port.name, number)])
    else:
        machine = nodes.add_machine(_discovered(ip, names))
        port = make_key(("port", machine.key.name, port_name(ip, number)))
        targets = [nodes.stand_in(machine, port.name, number)]
    server_port = PortRef(key=port, ip_address=ip, port_number=number)
    sources = [nodes.process(focus, p) for p in sorted(owners, key=_order)]
    return [(src, dst, server_port) for src in sources for dst in targets]


def _inbound(index: WindowIndex, nodes: _Nodes, focus: ServerCapture, sock: Socket,
             owners: frozenset[ProcessId]) -> Ends:
    """``sock.remote_ip`` called a focus port: who called."""
    port = nodes.port(focus, sock.local_port)
    server_port = PortRef(key=port, ip_address=sock.local_ip, port_number=sock.local_port)
    peer = index.server_at(sock.remote_ip, index.names(sock.remote_ip, sock.remote_name))
    callers = peer.calls.get((sock.local_ip, sock.local_port)) if peer is not None else None
    if callers:
        nodes.add_machine(peer.machine)
        sources = [nodes.process(peer, p) for p in sorted(callers, key=_order)]
    else:
        sources = [nodes.clients(focus.machine, port)]
    targets = [nodes.process(focus, p) for p in sorted(owners, key=_order)]
    return [(src, dst, server_port) for src in sources for dst in targets]


def _discovered(ip: str, names: tuple[str, ...]) -> Machine:
    """A peer without snapshots, as Service Map shows a machine without an agent."""
    name = discovered_machine_name(ip)
    return Machine(
        key=machine_key(name), id=f"snapshots/machines/{name}", name=name, display_name=names[0] if names else ip,
        monitoring_state=DISCOVERED, ipv4_addresses=(ip,) if ":" not in ip else (), dns_names=names,
    )


def _order(proc: ProcessId) -> tuple[str, str]:
    return proc[0], proc[1] or ""


def _sorted(nodes: dict) -> tuple:
    return tuple(nodes[k] for k in sorted(nodes))


class _Nodes:
    """The map's nodes, each made once and keyed by its NodeKey."""

    def __init__(self) -> None:
        self.machines: dict[NodeKey, Machine] = {}
        self.processes: dict[NodeKey, Process] = {}
        self.ports: dict[NodeKey, Port] = {}
        self.groups: dict[NodeKey, ClientGroup] = {}

    def add_machine(self, machine: Machine) -> Machine:
        return self.machines.setdefault(machine.key, machine)

    def process(self, owner: ServerCapture, proc: ProcessId) -> NodeKey:
        """The key of a process of a snapshotted server."""
        machine = owner.machine.name
        executable, command_line = proc
        key = make_key(("process", machine.lower(), process_name(machine, executable, command_line)))
        if key not in self.processes:
            self.processes[key] = Process(key=key, id=f"snapshots/machines/{machine}/processes/{key.name}",
                                          name=key.name, display_name="", monitoring_state=MONITORED,
                                          executable_name=executable)
        return key

    def stand_in(self, machine: Machine, port: str, number: int) -> NodeKey:
        """A ``Port N`` process: what listens on a peer's port when no capture shows it."""
        name = discovered_process_name(machine.name, port)
        key = make_key(("process", machine.key.name, name.lower()))
        self.processes.setdefault(key, Process(key=key, id=f"snapshots/machines/{machine.name}/processes/{name}",
                                               name=name, display_name=f"Port {number}",
                                               monitoring_state=DISCOVERED))
        return key

    def port(self, owner: ServerCapture, number: int) -> NodeKey:
        """The key of a port ``owner`` listens on."""
        machine = owner.machine.name
        name = owner.port_name(number)
        key = make_key(("port", machine.lower(), name.lower()))
        if key not in self.ports:
            self.ports[key] = Port(key=key, id=f"snapshots/machines/{machine}/ports/{name}", name=name,
                                   display_name=f":{number}", ip_address=owner.port_ips[number], port_number=number)
        return key

    def clients(self, machine: Machine, port: NodeKey) -> NodeKey:
        """The client group of the agentless callers of ``port``."""
        name = client_group_name(machine.name, port.name)
        key = make_key(("clientGroup", machine.key.name, name.lower()))
        self.groups.setdefault(key, ClientGroup(key=key, id=f"snapshots/clientGroups/{name}", name=name,
                                                display_name="", clients_of=port))
        return key
