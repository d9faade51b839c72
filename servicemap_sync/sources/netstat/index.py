"""What the snapshots of one time window say, per server, and who a peer address is.

Every server's snapshots in the window are merged into one :class:`ServerCapture`: its
processes (everything that owned a socket, loopback included, as Service Map lists a server's
processes), the ports it listens on outside loopback, and which of its processes called which
``address:port``. A server with a file that cannot be read keeps its error and takes no part
in naming peers: no diagram is drawn from half of its captures.

A socket is *inbound* when its local port is one the server listens on, else *outbound*. A
socket whose owner the capture could not see (TIME_WAIT, ss without root) is credited to the
port's listeners when inbound and dropped when outbound.

:class:`WindowIndex` answers "who is ``address``?": the one healthy server that holds it as a
local address, else the server the hosts file or the snapshot's reverse name calls it by.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from ...errors import SourceError
from ...model import MONITORED, Machine, machine_key
from .folder import Snapshot
from ..names import port_name
from .names import machine_name
from .sockets import Socket, is_loopback

__all__ = ["ProcessId", "ServerCapture", "WindowIndex", "server_machine"]

#: a process pool: (executable, command line or None)
ProcessId = tuple[str, str | None]


def server_machine(host: str, os_family: str | None, display_name: str | None,
                   addresses: Iterable[str] = ()) -> Machine:
    """The :class:`Machine` of a snapshotted server, named as Service Map would show it: FQDN,
    computer name (the first label; upper case on Windows, as Windows reports it), display name
    (the capture's, else the computer name)."""
    name = machine_name(host)
    short = host.split(".", 1)[0]
    computer = short.upper() if os_family == "windows" else short
    return Machine(
        key=machine_key(name), id=f"snapshots/machines/{name}", name=name, display_name=display_name or computer,
        monitoring_state=MONITORED, computer_name=computer, fqdn=host if "." in host else None,
        os_family=os_family, ipv4_addresses=tuple(sorted(a for a in addresses if ":" not in a)), dns_names=(host,),
    )


@dataclass
class ServerCapture:
    """One server's snapshots in the window, merged."""

    host: str
    machine: Machine
    processes: set[ProcessId] = field(default_factory=set)
    #: port -> the processes accepting on it (outside loopback)
    listeners: dict[int, set[ProcessId]] = field(default_factory=lambda: defaultdict(set))
    #: port -> its address (the listening one, or for a wildcard the server's first IPv4 address):
    #: every port listened on outside loopback, owner known or not
    port_ips: dict[int, str | None] = field(default_factory=dict)
    addresses: set[str] = field(default_factory=set)
    #: (remote address, remote port) -> the processes that called it
    calls: dict[tuple[str, int], set[ProcessId]] = field(default_factory=lambda: defaultdict(set))
    #: connected sockets, each with its direction (True: inbound) and owners
    sockets: list[tuple[Socket, bool, frozenset[ProcessId]]] = field(default_factory=list)

    @classmethod
    def merge(cls, snapshots: list[Snapshot]) -> ServerCapture:
        """Merge a server's snapshots (in capture order: the latest names the machine)."""
        latest = snapshots[-1]
        all_sockets = [s for snap in snapshots for s in snap.sockets]
        addresses = {s.local_ip for s in all_sockets if s.local_ip is not None and not is_loopback(s.local_ip)}
        os_family = latest.os_family or next((s.os_family for s in reversed(snapshots) if s.os_family), None)
        display = next((s.display_name for s in reversed(snapshots) if s.display_name), None)
        capture = cls(latest.file.host, server_machine(latest.file.host, os_family, display, addresses))
        capture.addresses = addresses
        listen_ips: dict[int, set[str | None]] = defaultdict(set)
        for sock in all_sockets:
            owner = _process_id(sock)
            if owner is not None:
                capture.processes.add(owner)
            if sock.listening and not is_loopback(sock.local_ip):
                listen_ips[sock.local_port].add(sock.local_ip)
                if owner is not None:
                    capture.listeners[sock.local_port].add(owner)
        primary = min((a for a in addresses if ":" not in a), default=None)
        for port, ips in listen_ips.items():
            specific = sorted(ip for ip in ips if ip is not None)
            capture.port_ips[port] = specific[0] if specific else primary
        for sock in all_sockets:
            if sock.connected and not is_loopback(sock.local_ip) and not is_loopback(sock.remote_ip):
                capture._add_connected(sock)
        return capture

    def port_name(self, number: int) -> str:
        """The name of a port this server listens on, else of the port as a caller saw it."""
        return port_name(self.port_ips[number], number)

    def _add_connected(self, sock: Socket) -> None:
        inbound = sock.local_port in self.port_ips
        owner = _process_id(sock)
        if inbound:
            owners = frozenset({owner}) if owner is not None else frozenset(self.listeners.get(sock.local_port, ()))
        else:
            owners = frozenset({owner}) if owner is not None else frozenset()
            if owners:
                self.calls[(sock.remote_ip, sock.remote_port)].update(owners)
        if owners:
            self.sockets.append((sock, inbound, owners))


def _process_id(sock: Socket) -> ProcessId | None:
    return (sock.process, sock.command_line) if sock.process else None


class WindowIndex:
    """Every snapshotted server of a window, healthy or not, and the peer lookup over them."""

    def __init__(self, captures: dict[str, ServerCapture], errors: dict[str, SourceError],
                 hosts: dict[str, tuple[str, ...]]) -> None:
        self.captures = captures
        self.errors = errors
        self._hosts = hosts
        owners: dict[str, set[str]] = defaultdict(set)
        self._by_name: dict[str, str] = {}
        for key, capture in captures.items():
            for address in capture.addresses:
                owners[address].add(key)
            machine = capture.machine
            for name in (machine.fqdn, machine.computer_name):
                if name:
                    self._by_name.setdefault(name.casefold(), key)
        # an address two servers claim (a shared virtual IP, NAT) names neither
        self._by_address = {address: next(iter(keys)) for address, keys in owners.items() if len(keys) == 1}

    def names(self, address: str, remote_name: str | None) -> tuple[str, ...]:
        """The names of ``address``: the hosts file's, else the snapshot's reverse name."""
        return self._hosts.get(address) or ((remote_name,) if remote_name else ())

    def server_at(self, address: str, names: tuple[str, ...]) -> ServerCapture | None:
        """The healthy snapshotted server behind ``address``, if any."""
        key = self._by_address.get(address)
        if key is None:
            key = next((self._by_name[n.casefold()] for n in names if n.casefold() in self._by_name), None)
        return None if key is None else self.captures[key]
