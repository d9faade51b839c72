"""Deterministic resource names for what snapshots show, in Service Map's own name forms.

The model's identity is a Service Map resource name. Snapshots have no agent GUIDs, so a
server's ``m-`` name is a UUID derived from its FQDN and a process's ``p-`` name a hash of its
machine, executable and command line: the same snapshots give the same names, run after run
and machine after machine. Names that Service Map itself derives from addresses (``t-``
discovered machines, ``b-`` ports, ``ts-`` discovered processes) are spelled exactly as
Service Map spells them, so an IPv4 peer has the same name from either source.
"""

from __future__ import annotations

import hashlib
import ipaddress
import uuid

__all__ = ["client_group_name", "discovered_machine_name", "discovered_process_name", "machine_name",
           "port_name", "process_name"]

_NAMESPACE = uuid.UUID("5f0c5a36-2d1e-4b7a-9d43-6e0a8a1c7b21")  # servicemap-sync netstat snapshots


def machine_name(fqdn: str) -> str:
    """``m-{uuid}`` of a snapshotted server, from its FQDN (case-insensitive)."""
    return f"m-{uuid.uuid5(_NAMESPACE, fqdn.casefold())}"


def process_name(machine: str, executable: str, command_line: str | None) -> str:
    """``p-{40 hex}`` of a process pool: one per executable and command line on a machine."""
    return "p-" + hashlib.sha1(f"{machine}|{executable}|{command_line or ''}".encode()).hexdigest()


def _hex(ip: str | None) -> str:
    """An address in hex, as Service Map writes it inside names (IPv4 8 digits, IPv6 32); a
    wildcard is the unspecified address."""
    if ip is None:
        return "00000000"
    addr = ipaddress.ip_address(ip)
    return f"{int(addr):0{8 if addr.version == 4 else 32}x}"


def port_name(ip: str | None, port: int) -> str:
    """``b-{hex ip}_{port}``."""
    return f"b-{_hex(ip)}_{port}"


def discovered_machine_name(ip: str) -> str:
    """``t-{hex ip}`` of a peer without snapshots."""
    return f"t-{_hex(ip)}"


def discovered_process_name(machine: str, port: str) -> str:
    """``ts-m@{machine}@b@{port}``: what listens on ``port`` of a peer whose processes are unknown."""
    return f"ts-m@{machine}@b@{port}"


def client_group_name(machine: str, port: str) -> str:
    """``m!{machine}!b!{port}``: the agentless clients of one server port."""
    return f"m!{machine}!b!{port}"
