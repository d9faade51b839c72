"""Reader of raw Windows output: ``netstat -ano`` followed by ``tasklist /fo csv /nh``, one file.

A scheduled task or SCOM agent task writes both into one file
(``cmd /c "netstat -ano & tasklist /fo csv /nh" > file``): netstat gives each socket's PID,
the process list gives each PID's image name. Lines are told apart by their shape:

* ``TCP  local  foreign  state  PID`` rows are sockets; ``UDP`` rows (no state) are skipped;
* lines in double quotes are process-list rows (``"image","PID",...``);
* text before the first socket row (``Active Connections``, the column header) is skipped;
  anything else is a :class:`BadLine`.

State names must be English (netstat translates them; run the task with an English UI
culture). PID 0 (a closed socket in TIME_WAIT) has no process; a PID the list lacks (a process
that ended between the two commands) is unknown too.
"""

from __future__ import annotations

import csv
from dataclasses import replace

from .sockets import BadLine, Socket, parse_endpoint, parse_state

__all__ = ["read_netstat"]


def read_netstat(text: str) -> tuple[Socket, ...]:
    """The sockets of a ``netstat -ano`` + ``tasklist /fo csv /nh`` capture, with process names.

    Raises:
        BadLine: an unreadable line, or socket rows with PIDs but no process list (a capture
            cut short, or written without ``tasklist``).
    """
    rows: list[tuple[int, Socket, int]] = []
    images: dict[int, str] = {}
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith('"'):
            image, pid = _task(stripped, number)
            images[pid] = image
            continue
        fields = stripped.split()
        proto = fields[0].upper() if fields else ""
        if proto == "UDP":
            continue
        if proto == "TCP":
            socket, pid = _tcp(fields, number)
            rows.append((number, socket, pid))
        elif stripped and (rows or images):
            raise BadLine(number, f"{stripped[:60]!r} is neither a `netstat -ano` row nor a tasklist CSV row")
    if not rows:
        raise BadLine(1, "no TCP rows: not `netstat -ano` output")
    if not images and any(pid for _n, _s, pid in rows):
        raise BadLine(len(lines) + 1, "the process list (`tasklist /fo csv /nh`) is missing after the netstat "
                                      "rows: the file is cut short or was written without it")
    return tuple(replace(socket, process=images.get(pid) if pid else None) for _n, socket, pid in rows)


def _tcp(fields: list[str], number: int) -> tuple[Socket, int]:
    if len(fields) != 5:
        raise BadLine(number, f"{len(fields)} columns; a TCP row of `netstat -ano` has Proto, Local Address, "
                              "Foreign Address, State and PID")
    state = parse_state(fields[3], number)
    if not fields[4].isdigit():
        raise BadLine(number, f"PID {fields[4][:20]!r} is not a number")
    local_ip, local_port = parse_endpoint(fields[1], number)
    remote_ip, remote_port = parse_endpoint(fields[2], number, wildcard_ok=True)
    socket = Socket(line=number, state=state, local_ip=local_ip, local_port=local_port, remote_ip=remote_ip,
                    remote_port=remote_port)
    return socket, int(fields[4])


def _task(line: str, number: int) -> tuple[str, int]:
    """(image name, PID) of a ``tasklist /fo csv /nh`` row."""
    fields = next(csv.reader([line]))
    if len(fields) < 2 or not fields[0] or not fields[1].isdigit():
        raise BadLine(number, f"{line[:60]!r} is not a tasklist CSV row (\"image\",\"PID\",...)")
    return fields[0], int(fields[1])

