"""Reader of raw ``ss -tanpH`` output (Linux, iproute2): the capture a cron job writes as it is.

Each line is ``State Recv-Q Send-Q Local:Port Peer:Port [Process]``, columns separated by any
run of spaces, the process field ``users:(("nginx",pid=812,fd=6),...)`` present only when ss
could see the owner (run it as root). A header line (``ss`` without ``-H``) is accepted. ss
prints the kernel's process name (``comm``), which the kernel cuts to 15 characters: that name
is what the diagram shows. Owners beyond the first of a shared socket are the same program
(forked workers) and are not read.
"""

from __future__ import annotations

import re

from .sockets import BadLine, Socket, parse_endpoint, parse_state

__all__ = ["read_ss"]

_USERS = re.compile(r'users:\(\("((?:[^"\\]|\\.)*)",pid=\d+,fd=\d+\)')


def read_ss(text: str) -> tuple[Socket, ...]:
    """The sockets in ``ss -tanpH`` output.

    Raises:
        BadLine: a line is not an ss socket line (wrong column count, state, queue or address).
    """
    sockets = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split(None, 5)
        if not fields or (number == 1 and fields[0] == "State" and "Recv-Q" in fields):
            continue
        if len(fields) < 5:
            raise BadLine(number, f"{len(fields)} columns; an `ss -tanpH` line has State, Recv-Q, Send-Q, "
                                  "local and peer address")
        state = parse_state(fields[0], number)
        if not (fields[1].isdigit() and fields[2].isdigit()):
            raise BadLine(number, f"Recv-Q/Send-Q {fields[1][:20]!r} {fields[2][:20]!r} are not numbers")
        local_ip, local_port = parse_endpoint(fields[3], number)
        remote_ip, remote_port = parse_endpoint(fields[4], number, wildcard_ok=True)
        owner = _USERS.search(fields[5]) if len(fields) > 5 else None
        sockets.append(Socket(
            line=number, state=state, local_ip=local_ip, local_port=local_port, remote_ip=remote_ip,
            remote_port=remote_port, process=owner.group(1) if owner else None,
        ))
    return tuple(sockets)
