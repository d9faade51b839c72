"""Reader of the servicemap-sync snapshot CSV: one row per TCP socket, with a header row.

The columns are documented in the README ("Snapshot files"); :data:`REQUIRED` must all be in
the header, :data:`OPTIONAL` may be, and any other column is ignored so that a capture script
can add its own. The ``host`` and ``captured_at`` of every row must agree with the file name
(:mod:`.folder`), so a file copied under the wrong name is refused instead of drawn on the
wrong server. UDP rows are skipped; everything else a row cannot say is a :class:`BadLine`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from .sockets import BadLine, Socket, parse_host, parse_port, parse_state

__all__ = ["OPTIONAL", "REQUIRED", "CsvCapture", "read_csv"]

REQUIRED = ("captured_at", "host", "state", "protocol", "local_address", "local_port", "remote_address",
            "remote_port", "process")
OPTIONAL = ("pid", "os", "display_name", "command_line", "remote_name")
_TCP = frozenset({"tcp", "tcp6"})
_UDP = frozenset({"udp", "udp6"})


@dataclass(frozen=True, slots=True)
class CsvCapture:
    """What one CSV holds: its sockets and the server's OS family and display name, if given."""

    sockets: tuple[Socket, ...]
    os_family: str | None
    display_name: str | None


def read_csv(text: str, *, host: str, captured_at: datetime) -> CsvCapture:
    """The sockets of a snapshot CSV taken on ``host`` at ``captured_at`` (from the file name).

    Raises:
        BadLine: the header lacks a required column, or a row is malformed or disagrees with
            the file name.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [name.strip().lower() for name in next(reader, [])]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise BadLine(1, f"the header lacks {', '.join(missing)}: not a servicemap-sync snapshot CSV "
                         f"(its header names at least {','.join(REQUIRED)})")
    column = {name: header.index(name) for name in (*REQUIRED, *OPTIONAL) if name in header}
    sockets: list[Socket] = []
    facts: dict[str, str] = {}
    for row in reader:
        line = reader.line_num
        if not any(field.strip() for field in row):
            continue
        if len(row) != len(header):
            raise BadLine(line, f"{len(row)} fields where the header has {len(header)}")
        value = {name: row[i].strip() for name, i in column.items()}
        _check_origin(value, line, host, captured_at)
        for fact in ("os", "display_name"):
            _same_fact(facts, fact, value.get(fact, ""), line)
        protocol = value["protocol"].lower()
        if protocol in _UDP:
            continue
        if protocol not in _TCP:
            raise BadLine(line, f"protocol {value['protocol'][:20]!r} is neither TCP nor UDP")
        if value.get("pid") and not value["pid"].isdigit():
            raise BadLine(line, f"pid {value['pid'][:20]!r} is not a number")
        sockets.append(_socket(value, line))
    os_family = facts.get("os")
    return CsvCapture(tuple(sockets), os_family.lower() if os_family else None, facts.get("display_name"))


def _socket(value: dict[str, str], line: int) -> Socket:
    state = parse_state(value["state"], line)
    remote_ip = parse_host(value["remote_address"], line)
    remote_port = parse_port(value["remote_port"], line, wildcard_ok=True)
    if state != "LISTEN" and (remote_ip is None or remote_port is None):
        raise BadLine(line, f"a {state} socket needs a remote address and port")
    return Socket(
        line=line, state=state, local_ip=parse_host(value["local_address"], line),
        local_port=parse_port(value["local_port"], line), remote_ip=remote_ip, remote_port=remote_port,
        process=value["process"] or None, command_line=value.get("command_line") or None,
        remote_name=value.get("remote_name") or None,
    )


def _check_origin(value: dict[str, str], line: int, host: str, captured_at: datetime) -> None:
    """The row was captured where and when the file name says."""
    if value["host"].casefold() != host.casefold():
        raise BadLine(line, f"host {value['host'][:80]!r}, but the file name says {host!r}")
    try:
        when = datetime.fromisoformat(value["captured_at"])
    except ValueError:
        raise BadLine(line, f"captured_at {value['captured_at'][:40]!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise BadLine(line, f"captured_at {value['captured_at']!r} has no time zone (write UTC, ending in Z)")
    if when != captured_at:
        raise BadLine(line, f"captured_at {value['captured_at']!r}, but the file name says "
                            f"{captured_at:%Y-%m-%dT%H:%M:%SZ}")


def _same_fact(facts: dict[str, str], name: str, value: str, line: int) -> None:
    """A per-server column (``os``, ``display_name``) holds one value in the whole file."""
    if not value:
        return
    known = facts.setdefault(name, value)
    if known != value:
        raise BadLine(line, f"{name} {value[:80]!r}, but earlier rows say {known!r}")
