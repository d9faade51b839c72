"""The KQL the VM insights source sends, built as text from a machine list and a time window.

Each query starts with a ``// servicemap-sync: <shape>`` line naming its shape (the emulator,
which cannot run KQL, answers by shape; a workspace ignores the comment), then binds its only
inputs (the window and the machines) in ``let`` statements at the top, every value written as a
KQL literal by :func:`string_literal` / :func:`datetime_literal`, so nothing a workspace or a
user names can change the query. Everything is aggregated in the workspace (``summarize … by``):
an answer holds one row per flow, process or port over the window, never one per minute.

Inventory tables (``VMComputer``, ``VMProcess``) are written about once an hour, so they are
read from :data:`INVENTORY_LOOKBACK` before the window; activity tables (``VMConnection``,
``VMBoundPort``) strictly within it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

#: how far before the window the hourly inventory tables are read
INVENTORY_LOOKBACK = timedelta(hours=2)

#: the query shapes, in the order a batch sends them (``machines`` is sent once per run)
SHAPES = ("machines", "connections", "processes", "ports")

#: the columns each shape answers with, in order (the emulator answers with the same)
COLUMNS: dict[str, tuple[str, ...]] = {
    "machines": ("Machine", "Computer", "HostName", "DisplayName", "OperatingSystemFamily",
                 "OperatingSystemFullName", "Ipv4Addresses", "DnsNames"),
    "connections": ("Machine", "Process", "Direction", "SourceIp", "DestinationIp", "DestinationPort", "RemoteIp",
                    "LinksEstablished", "LinksFailed", "RemoteDnsCanonicalNames"),
    "processes": ("Machine", "Process", "DisplayName", "ExecutableName", "Role", "Group", "Description",
                  "ProductName"),
    "ports": ("Machine", "Process", "Ip", "Port"),
}

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def string_literal(value: str) -> str:
    """``value`` as a double-quoted KQL string literal.

    Backslash, quote and line breaks are escaped; any other control character is refused
    (no machine name holds one, and a literal must not be able to end early).

    Raises:
        ValueError: ``value`` holds a control character other than tab, CR or LF.
    """
    if any(ord(ch) < 32 and ch not in "\t\r\n" or ord(ch) == 127 for ch in value):
        raise ValueError(f"refusing to quote {value!r}: it holds a control character")
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'


def datetime_literal(moment: datetime) -> str:
    """``datetime(2026-11-23T12:00:00.0000000Z)`` for an aware ``moment`` (converted to UTC).

    Raises:
        ValueError: ``moment`` is naive (its time zone would be a guess).
    """
    if moment.tzinfo is None:
        raise ValueError(f"refusing a naive datetime {moment.isoformat()}: give it a time zone")
    utc = moment.astimezone(timezone.utc)
    return f"datetime({utc.strftime('%Y-%m-%dT%H:%M:%S')}.{utc.microsecond:06d}0Z)"


def _header(shape: str, start: datetime, end: datetime) -> list[str]:
    return [
        f"// servicemap-sync: {shape}",
        f"let WindowStart = {datetime_literal(start)};",
        f"let WindowEnd = {datetime_literal(end)};",
        f"let InventoryStart = {datetime_literal(start - INVENTORY_LOOKBACK)};",
    ]


def _machines(machines: Sequence[str]) -> str:
    if not machines:
        raise ValueError("a map query needs at least one machine")
    return f"let Machines = dynamic([{', '.join(string_literal(m) for m in sorted(set(machines)))}]);"


def _project(shape: str) -> str:
    return f"| project {', '.join(_name(c) for c in COLUMNS[shape])}"


def _name(column: str) -> str:
    """A column name as KQL wants it: ``Group`` is a keyword, so it is bracketed."""
    return f"['{column}']" if column == "Group" else column


def machines_query(*, start: datetime, end: datetime) -> str:
    """Every machine with a ``VMComputer`` row from :data:`INVENTORY_LOOKBACK` before the window
    to its end, one row each (its latest), for matching the Servers Group."""
    return "\n".join([
        *_header("machines", start, end),
        "VMComputer",
        "| where TimeGenerated between (InventoryStart .. WindowEnd)",
        "| summarize arg_max(TimeGenerated, Computer, HostName, DisplayName, OperatingSystemFamily, "
        "OperatingSystemFullName, Ipv4Addresses, DnsNames) by Machine",
        _project("machines"),
        "| order by Machine asc",
    ])


def connections_query(machines: Sequence[str], *, start: datetime, end: datetime) -> str:
    """The connections of ``machines`` in the window: every row they reported (both directions),
    plus the outbound rows other machines reported towards their addresses, because the client
    process of an inbound connection is known only on the client's own row, and a connection that
    failed exists only there. One row per flow (machine, process, direction, addresses, port)."""
    return "\n".join([
        *_header("connections", start, end),
        _machines(machines),
        "let MachineIps = VMComputer",
        "    | where TimeGenerated between (InventoryStart .. WindowEnd) and Machine in (Machines)",
        "    | summarize arg_max(TimeGenerated, Ipv4Addresses) by Machine",
        "    | mv-expand Ip = Ipv4Addresses to typeof(string)",
        "    | distinct Ip;",
        "VMConnection",
        "| where TimeGenerated between (WindowStart .. WindowEnd) and Protocol == \"tcp\"",
        "| where Machine in (Machines) or (Direction == \"outbound\" and DestinationIp in (MachineIps))",
        "| summarize LinksEstablished = sum(LinksEstablished), LinksFailed = sum(LinksFailed), "
        "RemoteDnsCanonicalNames = take_any(RemoteDnsCanonicalNames) "
        "by Machine, Process, Direction, SourceIp, DestinationIp, DestinationPort, RemoteIp",
        _project("connections"),
        "| order by Machine asc, Process asc, Direction asc, SourceIp asc, DestinationIp asc, DestinationPort asc",
    ])


def processes_query(machines: Sequence[str], *, start: datetime, end: datetime) -> str:
    """The latest ``VMProcess`` row of every process of ``machines`` (the servers and the peers
    their connections reach), for the names and roles the diagram shows."""
    return "\n".join([
        *_header("processes", start, end),
        _machines(machines),
        "VMProcess",
        "| where TimeGenerated between (InventoryStart .. WindowEnd) and Machine in (Machines)",
        "| summarize arg_max(TimeGenerated, DisplayName, ExecutableName, Role, ['Group'], Description, ProductName) "
        "by Machine, Process",
        _project("processes"),
        "| order by Machine asc, Process asc",
    ])


def ports_query(machines: Sequence[str], *, start: datetime, end: datetime) -> str:
    """The TCP ports ``machines`` listened on in the window and the process accepting on each
    (``VMBoundPort``): the servers' own ports, and which process of a peer a connection reached."""
    return "\n".join([
        *_header("ports", start, end),
        _machines(machines),
        "VMBoundPort",
        "| where TimeGenerated between (WindowStart .. WindowEnd) and Machine in (Machines) and Protocol == \"tcp\"",
        "| summarize by Machine, Process, Ip, Port",
        _project("ports"),
        "| order by Machine asc, Process asc, Ip asc, Port asc",
    ])


#: shape -> builder taking (machines, start=, end=), for the batch shapes
MAP_QUERIES = {"connections": connections_query, "processes": processes_query, "ports": ports_query}
