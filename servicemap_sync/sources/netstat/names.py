"""Deterministic resource names for what snapshots show, in Service Map's own name forms.

The model's identity is a Service Map resource name. Snapshots have no agent GUIDs, so a
server's ``m-`` name is a UUID derived from its FQDN and a process's ``p-`` name a hash of its
machine, executable and command line: the same snapshots give the same names, run after run
and machine after machine. Names that Service Map itself derives from addresses come from
:mod:`servicemap_sync.sources.names`, as the VM insights source takes them.
"""

from __future__ import annotations

import hashlib
import uuid

__all__ = ["machine_name", "process_name"]

_NAMESPACE = uuid.UUID("5f0c5a36-2d1e-4b7a-9d43-6e0a8a1c7b21")  # servicemap-sync netstat snapshots


def machine_name(fqdn: str) -> str:
    """``m-{uuid}`` of a snapshotted server, from its FQDN (case-insensitive)."""
    return f"m-{uuid.uuid5(_NAMESPACE, fqdn.casefold())}"


def process_name(machine: str, executable: str, command_line: str | None) -> str:
    """``p-{40 hex}`` of a process pool: one per executable and command line on a machine."""
    return "p-" + hashlib.sha1(f"{machine}|{executable}|{command_line or ''}".encode()).hexdigest()
