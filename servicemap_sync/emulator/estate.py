"""An estate as Service Map sees it: hosts, processes, listening ports and the links between them.

The sample estate and the synthetic generator both describe their world with these objects;
:mod:`.shapes` turns them into the API's JSON. Keeping one graph and rendering every map from
it is what makes the maps agree with each other: a connection between two monitored servers
shows up, with the same names, in both servers' maps.

Names follow the formats Service Map uses (``m-{guid}``, ``t-{hex ip}``, ``p-{40 hex}``,
``b-{hex ip}_{port}``, ``ts-m@t-…@b@b-…``, ``m!m-…[!p!p-…|!b!b-…]``).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections import defaultdict
from dataclasses import dataclass, field

FAILURE_STATES = ("ok", "failed", "mixed")


def hex_ip(ip: str) -> str:
    """``10.0.1.11`` → ``0a00010b``, the IPv4 spelling inside ``t-`` and ``b-`` names."""
    return f"{int(ipaddress.IPv4Address(ip)):08x}"


def process_name(*parts: str) -> str:
    """A stable ``p-{40 hex}`` name; Service Map derives it from the process pool's identity."""
    return "p-" + hashlib.sha1("|".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class Host:
    """A machine: monitored (``m-{agent guid}``) or discovered (``t-{hex ip}``).

    ``id_form`` picks which of the three id shapes (1 = ``…/workspaces/{ws}/machines``,
    2 = ``…/features/serviceMap/machines``, 3 = ``/api/workspaces/{customerId}/machines``)
    this machine's resources carry, so consumers meet all of them. ``peer_upper`` spells the
    GUID in upper case when the host appears in *other* machines' maps, as the real service does.
    """

    name: str
    display_name: str
    ipv4: tuple[str, ...]
    computer_name: str | None = None
    fqdn: str | None = None
    dns_names: tuple[str, ...] = ()
    os_family: str | None = None
    os_full_name: str | None = None
    bitness: str = "64bit"
    virtual: bool = True
    id_form: int = 1
    peer_upper: bool = False

    @property
    def monitored(self) -> bool:
        return self.name.startswith("m-")

    @property
    def agent_id(self) -> str:
        return self.name[2:]


@dataclass(frozen=True)
class Proc:
    """A process pool on a host. ``executable`` is None for discovered (``ts-…``) processes."""

    host: Host
    name: str
    display_name: str
    executable: str | None = None
    role: str | None = None
    group: str | None = None
    description: str | None = None
    company: str | None = None
    product: str | None = None
    product_version: str | None = None
    command_line: str | None = None
    path: str | None = None
    user: str | None = None
    services: tuple[str, ...] = ()

    @property
    def monitored(self) -> bool:
        return self.executable is not None


@dataclass(frozen=True)
class Listener:
    """A server port (``ip:port``) on a host and the process accepting on it."""

    process: Proc
    ip: str
    port: int

    @property
    def host(self) -> Host:
        return self.process.host

    @property
    def name(self) -> str:
        return f"b-{hex_ip(self.ip)}_{self.port}"


@dataclass(frozen=True)
class Clients:
    """Agentless clients of a listener, collapsed into a client group of ``scope``.

    ``scope`` is ``machine``, ``process`` or ``port``: which resource the group is "clients of".
    """

    listener: Listener
    scope: str = "process"


@dataclass(frozen=True)
class Link:
    """Traffic from a process (or a client group) to a listener."""

    source: Proc | Clients
    target: Listener
    failure_state: str = "ok"

    def hosts(self) -> tuple[Host, ...]:
        """The hosts this link appears in the map of: both ends (once for a self-link)."""
        src = self.source.host if isinstance(self.source, Proc) else self.source.listener.host
        return (src,) if src == self.target.host else (src, self.target.host)


@dataclass
class Estate:
    """A mutable builder for hosts, processes, listeners and links, indexed per host."""

    hosts: dict[str, Host] = field(default_factory=dict)
    processes: dict[str, list[Proc]] = field(default_factory=lambda: defaultdict(list))
    listeners: dict[str, list[Listener]] = field(default_factory=lambda: defaultdict(list))
    links: dict[str, list[Link]] = field(default_factory=lambda: defaultdict(list))
    _discovered: dict[tuple[str, int], Listener] = field(default_factory=dict)

    def add_host(self, host: Host) -> Host:
        if host.name in self.hosts:
            raise ValueError(f"duplicate host {host.name}")
        self.hosts[host.name] = host
        return host

    def add_process(self, proc: Proc) -> Proc:
        self.processes[proc.host.name].append(proc)
        return proc

    def run(self, host: Host, executable: str, *, display_name: str | None = None, command_line: str | None = None,
            role: str | None = None, group: str | None = None, description: str | None = None,
            company: str | None = None, product: str | None = None, product_version: str | None = None,
            path: str | None = None, user: str | None = None, services: tuple[str, ...] = ()) -> Proc:
        """A monitored process; its ``p-`` name is derived from host, executable and command line."""
        command_line = command_line or executable
        return self.add_process(Proc(
            host=host, name=process_name(host.name.lower(), executable, command_line),
            display_name=display_name or executable, executable=executable, role=role, group=group,
            description=description, company=company, product=product, product_version=product_version,
            command_line=command_line, path=path, user=user, services=services,
        ))

    def listen(self, proc: Proc, port: int, ip: str | None = None) -> Listener:
        """``proc`` accepts on ``ip:port`` (default: the host's first address)."""
        listener = Listener(proc, ip or proc.host.ipv4[0], port)
        self.listeners[proc.host.name].append(listener)
        return listener

    def accepted_by(self, proc: Proc) -> list[Listener]:
        return [lsn for lsn in self.listeners[proc.host.name] if lsn.process == proc]

    def discovered(self, ip: str, port: int, *, display_name: str, dns_names: tuple[str, ...] = (),
                   role: str | None = None) -> Listener:
        """The listener of an agentless server ``ip:port``, creating its ``t-``/``ts-`` nodes once."""
        known = self._discovered.get((ip, port))
        if known:
            return known
        name = f"t-{hex_ip(ip)}"
        host = self.hosts.get(name) or self.add_host(
            Host(name=name, display_name=display_name, ipv4=(ip,), dns_names=dns_names, virtual=False)
        )
        port_name = f"b-{hex_ip(ip)}_{port}"
        proc = self.add_process(Proc(host=host, name=f"ts-m@{name}@b@{port_name}", display_name=f"Port {port}",
                                     role=role))
        listener = self.listen(proc, port, ip)
        self._discovered[(ip, port)] = listener
        return listener

    def connect(self, source: Proc | Clients, target: Listener, failure_state: str = "ok") -> Link:
        if failure_state not in FAILURE_STATES:
            raise ValueError(f"failure state {failure_state!r}")
        link = Link(source, target, failure_state)
        for host in link.hosts():
            self.links[host.name].append(link)
        return link

    def monitored_hosts(self) -> list[Host]:
        return [h for h in self.hosts.values() if h.monitored]
