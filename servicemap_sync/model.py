"""Typed, immutable objects for what Service Map reports about a server.

Everything after the parser works with these, never with raw JSON. Identity is the
Service Map resource *name* (``m-…``, ``t-…``, ``p-…``, ``b-…``, ``m!m-…!p!p-…``), because
resource ids come in several path forms for the same thing and display names are often
``???`` or empty. :class:`NodeKey` carries that identity, lower-cased, since the GUIDs inside
names change case between responses.

Enumerations the spec marks as open (process roles) or that grow over time are kept as
plain strings so new values pass through instead of failing the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import NamedTuple

MONITORED = "monitored"
DISCOVERED = "discovered"

FAILURE_OK = "ok"
FAILURE_FAILED = "failed"
FAILURE_MIXED = "mixed"


class NodeKey(NamedTuple):
    """Stable identity of a map node.

    ``kind`` is ``machine``, ``process``, ``port`` or ``clientGroup``; ``machine`` is the
    owning machine's name (for a machine, its own name; for a client group, the machine whose
    clients it groups); ``name`` is the resource name. All lower-case.
    """

    kind: str
    machine: str
    name: str

    def __str__(self) -> str:
        if self.kind == "machine":
            return f"machine:{self.name}"
        return f"{self.kind}:{self.machine}/{self.name}"


#: A NodeKey from a (kind, machine, name) tuple, without NamedTuple's Python-level __new__:
#: half the cost, and a large map makes tens of thousands of keys.
make_key = partial(tuple.__new__, NodeKey)


def usable_name(text: str | None) -> str | None:
    """``text`` stripped, or None if nothing is left or it is Service Map's ``"???"`` placeholder."""
    text = text.strip() if text else ""
    return text if text and text != "???" else None


def machine_key(name: str) -> NodeKey:
    """Key of the machine called ``name``."""
    low = name.lower()
    return make_key(("machine", low, low))


@dataclass(frozen=True, slots=True)
class Machine:
    """A monitored (agent) or discovered (inferred) machine."""

    key: NodeKey
    id: str
    name: str
    display_name: str
    monitoring_state: str
    computer_name: str | None = None
    fqdn: str | None = None
    os_family: str | None = None
    os_full_name: str | None = None
    ipv4_addresses: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The best human name available: FQDN, computer name, display name, DNS name, IP, resource name."""
        candidates = (self.fqdn, self.computer_name, self.display_name, *self.dns_names, *self.ipv4_addresses)
        return next(filter(None, map(usable_name, candidates)), self.name)

    @property
    def is_monitored(self) -> bool:
        return self.monitoring_state == MONITORED


@dataclass(frozen=True, slots=True)
class Process:
    """A pool of OS processes sharing a command line, on one machine."""

    key: NodeKey
    id: str
    name: str
    display_name: str
    monitoring_state: str = MONITORED
    executable_name: str | None = None
    role: str | None = None
    group: str | None = None
    description: str | None = None
    product_name: str | None = None

    @property
    def label(self) -> str:
        """Executable or display name, else the resource name."""
        return next(filter(None, map(usable_name, (self.display_name, self.executable_name))), self.name)


@dataclass(frozen=True, slots=True)
class Port:
    """A server port (IPv4 address and TCP port) on a machine."""

    key: NodeKey
    id: str
    name: str
    display_name: str
    ip_address: str | None
    port_number: int | None
    monitoring_state: str = MONITORED


@dataclass(frozen=True, slots=True)
class ClientGroup:
    """Agentless clients of a machine, process or port, collapsed into one node."""

    key: NodeKey
    id: str
    name: str
    display_name: str
    clients_of: NodeKey


@dataclass(frozen=True, slots=True)
class PortRef:
    """The server port of a connection, as the reference carries it."""

    key: NodeKey
    ip_address: str | None
    port_number: int | None


@dataclass(frozen=True, slots=True)
class Connection:
    """TCP traffic from ``source`` (a process or client group) to ``destination`` (a process)."""

    id: str
    source: NodeKey
    destination: NodeKey
    server_port: PortRef | None = None
    failure_state: str = FAILURE_OK


@dataclass(frozen=True, slots=True)
class Acceptor:
    """Port ``port`` is accepted (listened on) by process ``process``."""

    id: str
    port: NodeKey
    process: NodeKey


@dataclass(frozen=True, slots=True)
class ServerMap:
    """The single-machine dependency map of one server over one time window."""

    server: str
    focus: NodeKey
    start_time: datetime
    end_time: datetime
    machines: tuple[Machine, ...] = ()
    processes: tuple[Process, ...] = ()
    ports: tuple[Port, ...] = ()
    client_groups: tuple[ClientGroup, ...] = ()
    connections: tuple[Connection, ...] = ()
    acceptors: tuple[Acceptor, ...] = ()

    def machine(self) -> Machine:
        """The server's own machine node (the parser guarantees it exists)."""
        for m in self.machines:
            if m.key == self.focus:
                return m
        raise KeyError(self.focus)


@dataclass(frozen=True, slots=True)
class MachineGroup:
    """A Service Map machine group: a user's (or Azure's) set of machines making up an application.

    ``name`` is the group's resource name (a GUID); ``id`` its resource id as the service gave
    it (any of the id forms), which a ``map:machine-group-dependency`` request sends back.
    ``members`` are the member machines' resource names in the group's order; ``member_hints``
    the display-name hint of each (``""`` when the service gives none; hints are a snapshot
    from the group's last update, not current values). ``count`` is the service's member count,
    which may exceed ``len(members)`` when the service truncated the group.
    """

    name: str
    id: str
    display_name: str
    members: tuple[str, ...] = ()
    member_hints: tuple[str, ...] = ()
    group_type: str | None = None
    count: int | None = None

    @property
    def label(self) -> str:
        """The display name, else the resource name (display names may be ``???``)."""
        return usable_name(self.display_name) or self.name

    @property
    def truncated(self) -> bool:
        """Whether the service says the group has more members than it listed."""
        return self.count is not None and self.count > len(self.members)


@dataclass(frozen=True, slots=True)
class GroupMap:
    """The dependency map of a machine group over one time window: what its members' maps imply
    together. The nodes and edges have the same fields, types and keys as a :class:`ServerMap`'s.

    ``members`` are the keys of the group's member machines that are nodes of the map, in the
    group's order; ``missing`` the resource names of members the map does not hold.
    """

    group: str
    start_time: datetime
    end_time: datetime
    members: tuple[NodeKey, ...] = ()
    missing: tuple[str, ...] = ()
    machines: tuple[Machine, ...] = ()
    processes: tuple[Process, ...] = ()
    ports: tuple[Port, ...] = ()
    client_groups: tuple[ClientGroup, ...] = ()
    connections: tuple[Connection, ...] = ()
    acceptors: tuple[Acceptor, ...] = ()

    def member_machines(self) -> tuple[Machine, ...]:
        """The member machines' nodes, in the group's order."""
        by_key = {m.key: m for m in self.machines}
        return tuple(by_key[key] for key in self.members)


@dataclass(frozen=True, slots=True)
class Workspace:
    """The resolved Log Analytics workspace."""

    subscription_id: str
    resource_group: str
    name: str
    id: str
    customer_id: str | None = None
    location: str | None = None


@dataclass(frozen=True, slots=True)
class MatchedServer:
    """A server of the Servers Group and the Service Map machine it resolved to."""

    server: str
    machine: Machine


@dataclass(frozen=True, slots=True)
class ServerFailure:
    """Why one server produced no management pack in a run."""

    server: str
    stage: str
    reason: str
    candidates: tuple[str, ...] = field(default=())
