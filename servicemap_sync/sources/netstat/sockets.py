"""One socket as a snapshot shows it, and the text rules every snapshot format shares.

The three readers (:mod:`.csvformat`, :mod:`.ss`, :mod:`.windows`) turn their format into
:class:`Socket` records and nothing else, so address spelling, TCP state names and what
counts as a connection are decided here once. A reader refuses a line it cannot read with
:class:`BadLine`, which :mod:`.folder` turns into a :class:`~servicemap_sync.errors.SourceError`
naming the file and the line.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = ["CONNECTED", "LISTEN", "BadLine", "Socket", "is_loopback", "parse_endpoint", "parse_host",
           "parse_port", "parse_state"]

LISTEN = "LISTEN"
#: states of a socket whose TCP handshake completed: the connection happened, even if closing.
#: SYN_SENT / SYN_RECV (not yet, perhaps never) and CLOSED are no evidence of a connection.
CONNECTED = frozenset({"ESTABLISHED", "TIME_WAIT", "CLOSE_WAIT", "FIN_WAIT1", "FIN_WAIT2", "LAST_ACK", "CLOSING"})

#: every spelling ss, netstat (Linux and Windows) and our CSV use -> one canonical name
_STATES = {
    "LISTEN": LISTEN, "LISTENING": LISTEN,
    "ESTAB": "ESTABLISHED", "ESTABLISHED": "ESTABLISHED",
    "TIME-WAIT": "TIME_WAIT", "TIME_WAIT": "TIME_WAIT",
    "CLOSE-WAIT": "CLOSE_WAIT", "CLOSE_WAIT": "CLOSE_WAIT",
    "FIN-WAIT-1": "FIN_WAIT1", "FIN_WAIT_1": "FIN_WAIT1", "FIN_WAIT1": "FIN_WAIT1",
    "FIN-WAIT-2": "FIN_WAIT2", "FIN_WAIT_2": "FIN_WAIT2", "FIN_WAIT2": "FIN_WAIT2",
    "LAST-ACK": "LAST_ACK", "LAST_ACK": "LAST_ACK",
    "CLOSING": "CLOSING",
    "SYN-SENT": "SYN_SENT", "SYN_SENT": "SYN_SENT",
    "SYN-RECV": "SYN_RECV", "SYN_RECV": "SYN_RECV", "SYN_RECEIVED": "SYN_RECV",
    "CLOSED": "CLOSED", "UNCONN": "CLOSED", "DELETE_TCB": "CLOSED", "BOUND": "CLOSED",
}
_WILDCARDS = frozenset({"*", "0.0.0.0", "::", ""})


class BadLine(Exception):
    """A line a reader cannot read: its 1-based number and what is wrong (the folder adds the file)."""

    def __init__(self, line: int, what: str) -> None:
        super().__init__(f"line {line}: {what}")
        self.line = line
        self.what = what


@dataclass(frozen=True, slots=True)
class Socket:
    """One TCP socket at capture time.

    ``local_ip`` is None for a wildcard listener (``*``, ``0.0.0.0``, ``::``); ``remote_ip`` and
    ``remote_port`` are None for a listener. IPv4-mapped IPv6 addresses are stored as IPv4, so
    one peer has one spelling. ``process`` is the executable name, None when the capture could
    not see the owner (no privileges, a closed socket in TIME_WAIT).
    """

    line: int
    state: str
    local_ip: str | None
    local_port: int
    remote_ip: str | None = None
    remote_port: int | None = None
    process: str | None = None
    command_line: str | None = None
    remote_name: str | None = None

    @property
    def listening(self) -> bool:
        return self.state == LISTEN

    @property
    def connected(self) -> bool:
        return self.state in CONNECTED and self.remote_ip is not None and self.remote_port is not None


def parse_state(text: str, line: int) -> str:
    """The canonical state name of ``text`` (``ESTAB``, ``LISTENING``, ``TIME-WAIT`` ...)."""
    state = _STATES.get(text.strip().upper())
    if state is None:
        raise BadLine(line, f"unknown TCP state {text.strip()[:40]!r}")
    return state


def parse_host(text: str, line: int) -> str | None:
    """An address without its port: brackets, ``%scope`` and the IPv4-mapped prefix removed;
    None for a wildcard."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.split("%", 1)[0]
    if text in _WILDCARDS:
        return None
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise BadLine(line, f"{text[:60]!r} is not an IP address") from None
    mapped = getattr(addr, "ipv4_mapped", None)
    if mapped is not None:
        return str(mapped)
    return None if addr.is_unspecified else str(addr)


def parse_port(text: str, line: int, *, wildcard_ok: bool = False) -> int | None:
    """A TCP port number; ``*`` and ``0`` (a listener's unknown peer) are None when ``wildcard_ok``."""
    text = text.strip()
    if wildcard_ok and text in {"*", "0", ""}:
        return None
    if not text.isdigit() or not 0 < int(text) <= 65535:
        raise BadLine(line, f"{text[:20]!r} is not a TCP port (1..65535)")
    return int(text)


def parse_endpoint(text: str, line: int, *, wildcard_ok: bool = False) -> tuple[str | None, int | None]:
    """``address:port`` as ss and netstat print it: ``10.0.0.1:443``, ``[::ffff:10.0.0.1]:443``,
    ``*:80``, ``[::]:80``, ``:::80``, ``127.0.0.53%lo:53``."""
    host, sep, port = text.strip().rpartition(":")
    if not sep:
        raise BadLine(line, f"{text.strip()[:60]!r} is not address:port")
    return parse_host(host, line), parse_port(port, line, wildcard_ok=wildcard_ok)


def is_loopback(ip: str | None) -> bool:
    """Whether ``ip`` (as :func:`parse_host` returns it) never leaves its machine."""
    return ip is not None and ipaddress.ip_address(ip).is_loopback
