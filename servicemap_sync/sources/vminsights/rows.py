"""Rows of the VM insights tables → the domain model, one :class:`ServerMap` per server.

The tables carry Service Map's own identities (``Machine`` is the ``m-…`` name, ``Process`` the
``p-…`` name), so every monitored node keeps the key it has in a Service Map map, and the rest is
named as Service Map names it: an agentless server is machine ``t-<hex IPv4>`` with process
``ts-m@t-…@b@b-<hex IPv4>_<port>`` ("Port N"), a server port is ``b-<hex IPv4>_<port>``, and a
connection is named ``<source>!<destination>!<server port>``. The graph, and the management pack's
IDs derived from its keys, then come out the same whichever source a run reads.

How one flow shows in the rows: the client's agent reports it ``outbound`` (with failures), the
server's agent ``inbound``. A connection is therefore taken from the client's outbound row when the
client is monitored, and from the server's inbound row only when the client is agentless (it then
joins the server process's client group). Failure state comes from the outbound counters:
failed (none established), mixed (both) or ok.
"""

from __future__ import annotations

import ipaddress
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..names import discovered_machine_name, discovered_process_name, port_name
from ...model import (
    DISCOVERED, FAILURE_FAILED, FAILURE_MIXED, FAILURE_OK, MONITORED, Acceptor, ClientGroup, Connection, Machine,
    NodeKey, Port, PortRef, Process, ServerMap, machine_key, make_key,
)

WILDCARD_IPS = ("0.0.0.0", "::", "*")


def dynamic_strings(value: Any) -> tuple[str, ...]:
    """A ``dynamic`` column (the SDK hands over the JSON text) as strings: ``'["a"]'`` → ``("a",)``."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return (value,)
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value if isinstance(v, str) and v)
    return ()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def machine_from_row(row: Mapping[str, Any], workspace_id: str) -> Machine:
    """A monitored machine from its latest ``VMComputer`` row (``Computer`` is its FQDN,
    ``HostName`` its computer name), as Service Map's Machine resource describes it."""
    name = str(row["Machine"])
    return Machine(
        key=machine_key(name), id=f"/api/workspaces/{workspace_id}/machines/{name}", name=name,
        display_name=_text(row.get("DisplayName")) or "", monitoring_state=MONITORED,
        computer_name=_text(row.get("HostName")), fqdn=_text(row.get("Computer")),
        os_family=_text(row.get("OperatingSystemFamily")), os_full_name=_text(row.get("OperatingSystemFullName")),
        ipv4_addresses=dynamic_strings(row.get("Ipv4Addresses")), dns_names=dynamic_strings(row.get("DnsNames")),
    )


def _is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Inventory:
    """The workspace's monitored machines (from the ``machines`` query) and who owns each address.

    An address two machines claim (duplicate ranges in separate networks) goes to the first by
    name, as deterministic as a guess can be; VM insights' own map has the same limitation.
    """

    workspace_id: str
    machines: Mapping[str, Machine]
    by_ip: Mapping[str, str]

    @classmethod
    def of(cls, machines: Iterable[Machine], workspace_id: str) -> Inventory:
        by_name = {m.key.name: m for m in sorted(machines, key=lambda m: m.key.name)}
        by_ip: dict[str, str] = {}
        for name, machine in by_name.items():
            for ip in machine.ipv4_addresses:
                by_ip.setdefault(ip, name)
        return cls(workspace_id, by_name, by_ip)

    def peers(self, connections: Iterable[Mapping[str, Any]]) -> set[str]:
        """Monitored machines at the far end of ``connections``: whose processes and ports a map needs."""
        found = set()
        for row in connections:
            found.add(str(row["Machine"]).lower())
            owner = self.by_ip.get(str(row["RemoteIp"]))
            if owner is not None:
                found.add(owner)
        return found


@dataclass
class BatchRows:
    """One batch's answers, indexed for building each server's map."""

    connections: list[dict[str, Any]] = field(default_factory=list)
    processes: list[dict[str, Any]] = field(default_factory=list)
    ports: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.own: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.outbound_to: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.process_rows: dict[tuple[str, str], dict[str, Any]] = {}
        self.port_rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in self.connections:
            self.own[str(row["Machine"]).lower()].append(row)
            if row["Direction"] == "outbound":
                self.outbound_to[str(row["DestinationIp"])].append(row)
        for row in self.processes:
            self.process_rows[(str(row["Machine"]).lower(), str(row["Process"]).lower())] = row
        for row in self.ports:
            self.port_rows[str(row["Machine"]).lower()].append(row)
        self.process_machines = {machine for machine, _process in self.process_rows}

    def has_rows(self, machine: str) -> bool:
        """Whether the machine reported anything in the window (processes, ports or connections)."""
        return machine in self.own or machine in self.port_rows or machine in self.process_machines


def connection_rows_key(row: Mapping[str, Any]) -> tuple:
    """The ``summarize … by`` key of a connections row: two answers that both hold a flow hold the
    same row, so a merged answer keeps one."""
    return tuple(row[c] for c in ("Machine", "Process", "Direction", "SourceIp", "DestinationIp", "DestinationPort",
                                  "RemoteIp"))


class MapBuilder:
    """Builds the map of one server from a batch's rows (see the module docstring for the rules)."""

    def __init__(self, server: str, focus: Machine, rows: BatchRows, inventory: Inventory, *,
                 start: datetime, end: datetime) -> None:
        self._server, self._focus, self._rows, self._inv = server, focus, rows, inventory
        self._start, self._end = start, end
        self._here = focus.key.name
        self._ips = frozenset(focus.ipv4_addresses)
        self._machines: dict[NodeKey, Machine] = {focus.key: focus}
        self._processes: dict[NodeKey, Process] = {}
        self._ports: dict[NodeKey, Port] = {}
        self._acceptors: dict[str, Acceptor] = {}
        self._groups: dict[NodeKey, ClientGroup] = {}
        # connection name -> [source, destination, port ref, established seen, failed seen]
        self._links: dict[str, list[Any]] = {}

    def build(self) -> ServerMap:
        for row in self._rows.processes:
            if str(row["Machine"]).lower() == self._here:
                self._process(self._focus, str(row["Process"]))
        for row in self._rows.port_rows.get(self._here, ()):
            self._port(self._focus, str(row["Ip"]), int(row["Port"]), str(row["Process"]))
        for row in self._rows.own.get(self._here, ()):
            if row["Direction"] == "outbound":
                self._outbound(row, self._focus)
            else:
                self._inbound(row)
        for ip in sorted(self._ips):
            for row in self._rows.outbound_to.get(ip, ()):
                client = self._inv.machines.get(str(row["Machine"]).lower())
                if client is not None and client.key.name != self._here:
                    self._outbound(row, client)
        return ServerMap(
            server=self._server, focus=self._focus.key, start_time=self._start, end_time=self._end,
            machines=_sorted(self._machines), processes=_sorted(self._processes), ports=_sorted(self._ports),
            client_groups=_sorted(self._groups), connections=tuple(self._connections()),
            acceptors=tuple(self._acceptors[k] for k in sorted(self._acceptors)),
        )

    # -- flows --------------------------------------------------------------------------------
    def _outbound(self, row: Mapping[str, Any], client: Machine) -> None:
        """A flow from its client's outbound row: ``client``'s process to whoever owns the destination."""
        source = self._process(client, str(row["Process"]))
        ip, port = str(row["DestinationIp"]), int(row["DestinationPort"])
        if ip in client.ipv4_addresses or _is_loopback(ip):
            server = client
        else:
            owner = self._inv.by_ip.get(ip)
            server = self._inv.machines[owner] if owner is not None else self._discovered(ip, row)
        target = self._acceptor_of(server, ip, port)
        self._link(_part(source), target, ip, port, row)

    def _inbound(self, row: Mapping[str, Any]) -> None:
        """A flow from the server's inbound row: kept only when no monitored client reported it."""
        remote = str(row["RemoteIp"])
        if remote in self._ips or _is_loopback(remote):
            return  # a self-link: the outbound row of the same machine has it
        owner = self._inv.by_ip.get(remote)
        if owner is not None and self._client_reported(owner, row):
            return
        target = self._process(self._focus, str(row["Process"]))
        ip, port = str(row["DestinationIp"]), int(row["DestinationPort"])
        self._port(self._focus, ip, port, target.name)
        name = f"m!{self._focus.name}!p!{target.name}"
        key = make_key(("clientGroup", self._here, name.lower()))
        if key not in self._groups:
            self._groups[key] = ClientGroup(
                key=key, id=f"/api/workspaces/{self._inv.workspace_id}/clientGroups/{name}", name=name,
                display_name="", clients_of=target.key)
        self._link("c@" + name.replace("!", "@"), target, ip, port, row, source=key)

    def _client_reported(self, owner: str, row: Mapping[str, Any]) -> bool:
        return any(r["Machine"].lower() == owner and r["SourceIp"] == row["SourceIp"]
                   and r["DestinationPort"] == row["DestinationPort"]
                   for r in self._rows.outbound_to.get(str(row["DestinationIp"]), ()))

    def _link(self, source_part: str, target: Process, ip: str, port: int, row: Mapping[str, Any], *,
              source: NodeKey | None = None) -> None:
        owner = self._machines[machine_key(target.key.machine)]
        server_port = port_name(ip, port)
        name = f"{source_part}!{_part(target)}!m@{owner.name}@b@{server_port}"
        ref = PortRef(key=make_key(("port", target.key.machine, server_port.lower())), ip_address=ip, port_number=port)
        link = self._links.setdefault(name, [source or self._source_key(source_part), target.key, ref, False, False])
        link[3] |= int(row.get("LinksEstablished") or 0) > 0
        link[4] |= int(row.get("LinksFailed") or 0) > 0

    def _source_key(self, part: str) -> NodeKey:
        _, machine, _, process = part.split("@", 3)
        return make_key(("process", machine.lower(), process.lower()))

    def _connections(self) -> Iterable[Connection]:
        for name in sorted(self._links):
            source, destination, ref, established, failed = self._links[name]
            state = FAILURE_OK if not failed else FAILURE_MIXED if established else FAILURE_FAILED
            yield Connection(id=name, source=source, destination=destination, server_port=ref, failure_state=state)

    # -- nodes --------------------------------------------------------------------------------
    def _acceptor_of(self, server: Machine, ip: str, port: int) -> Process:
        """The process of ``server`` accepting on ``ip:port`` (an exact bind before a wildcard one);
        an agentless server, or a port no process of a monitored one was seen on, gets Service Map's
        port process ``ts-m@<machine>@b@<port>``."""
        candidates = [r for r in self._rows.port_rows.get(server.key.name, ()) if int(r["Port"]) == port]
        exact = [r for r in candidates if r["Ip"] == ip] or [r for r in candidates if r["Ip"] in WILDCARD_IPS]
        if exact:
            process_name = str(min(r["Process"] for r in exact))
            process = self._process(server, process_name)
        else:
            process = self._process(server, discovered_process_name(server.name, port_name(ip, port)),
                                    display_name=f"Port {port}",
                                    state=DISCOVERED)
        self._port(server, ip, port, process.name)
        return process

    def _discovered(self, ip: str, row: Mapping[str, Any]) -> Machine:
        names = dynamic_strings(row.get("RemoteDnsCanonicalNames"))
        name = discovered_machine_name(ip)
        machine = self._machines.get(machine_key(name))
        if machine is None:
            machine = Machine(key=machine_key(name), id=f"/api/workspaces/{self._inv.workspace_id}/machines/{name}",
                              name=name, display_name=names[0] if names else "", monitoring_state=DISCOVERED,
                              ipv4_addresses=(ip,), dns_names=names)
        return machine

    def _process(self, machine: Machine, name: str, *, display_name: str = "", state: str = MONITORED) -> Process:
        self._machines.setdefault(machine.key, machine)
        key = make_key(("process", machine.key.name, name.lower()))
        known = self._processes.get(key)
        if known is not None:
            return known
        row = self._rows.process_rows.get((machine.key.name, name.lower()), {})
        process = self._processes[key] = Process(
            key=key, id=f"{machine.id}/processes/{name}", name=name,
            display_name=_text(row.get("DisplayName")) or display_name, monitoring_state=state,
            executable_name=_text(row.get("ExecutableName")), role=_text(row.get("Role")),
            group=_text(row.get("Group")), description=_text(row.get("Description")),
            product_name=_text(row.get("ProductName")),
        )
        return process

    def _port(self, machine: Machine, ip: str, port: int, process: str) -> None:
        self._machines.setdefault(machine.key, machine)
        name = port_name(ip, port)
        key = make_key(("port", machine.key.name, name))
        if key not in self._ports:
            self._ports[key] = Port(key=key, id=f"{machine.id}/ports/{name}", name=name, display_name=f":{port}",
                                    ip_address=ip, port_number=port,
                                    monitoring_state=MONITORED if machine.is_monitored else DISCOVERED)
        owner = self._process(machine, process)
        acceptor = f"m@{machine.name}@b@{name}!{_part(owner)}"
        self._acceptors.setdefault(acceptor, Acceptor(id=acceptor, port=key, process=owner.key))


def _part(process: Process) -> str:
    """``m@<machine>@p@<process>``: a process's part of a connection name."""
    return f"m@{process.key.machine}@p@{process.name}"


def _sorted(nodes: Mapping[NodeKey, Any]) -> tuple:
    return tuple(nodes[k] for k in sorted(nodes))
