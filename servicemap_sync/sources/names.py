"""Service Map's own names for what it derives from addresses, for the sources that rebuild maps.

Service Map names a discovered machine ``t-<hex address>``, a server port ``b-<hex address>_<port>``,
the process listening on a port of a discovered machine ``ts-m@<machine>@b@<port>`` and the
agentless clients of a port ``m!<machine>!b!<port>``. The VM insights and netstat sources spell
them exactly so, so a peer has the same identity (and the same management-pack IDs) whichever
source drew it.
"""

from __future__ import annotations

import ipaddress

__all__ = ["client_group_name", "discovered_machine_name", "discovered_process_name", "hex_ip", "port_name"]


def hex_ip(ip: str | None) -> str:
    """An address in hex, as Service Map writes it inside names (``10.0.1.11`` → ``0a00010b``;
    IPv6 32 digits); a wildcard (None) is the unspecified address; text that is no address is
    kept, lower-cased."""
    if ip is None:
        return "00000000"
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip.lower()
    return f"{int(addr):0{8 if addr.version == 4 else 32}x}"


def port_name(ip: str | None, port: int) -> str:
    """``b-{hex ip}_{port}``."""
    return f"b-{hex_ip(ip)}_{port}"


def discovered_machine_name(ip: str) -> str:
    """``t-{hex ip}`` of a peer without snapshots."""
    return f"t-{hex_ip(ip)}"


def discovered_process_name(machine: str, port: str) -> str:
    """``ts-m@{machine}@b@{port}``: what listens on ``port`` of a peer whose processes are unknown."""
    return f"ts-m@{machine}@b@{port}"


def client_group_name(machine: str, port: str) -> str:
    """``m!{machine}!b!{port}``: the agentless clients of one server port."""
    return f"m!{machine}!b!{port}"
