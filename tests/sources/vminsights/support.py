"""Helpers for the VM insights tests: the window, the real credential, and what the emulator saw."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from azure.identity import ClientSecretCredential

from servicemap_sync.emulator import Emulator
from servicemap_sync.model import MatchedServer
from servicemap_sync.sources.matching import match_servers
from servicemap_sync.sources.transport import RetryPolicy
from servicemap_sync.sources.vminsights.source import VmInsightsSource

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
START = NOW - timedelta(minutes=60)
#: retries that give up within a second, so fault tests stay fast
QUICK_RETRY = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_cap=0.05, max_total_wait=2.0)


def credential(emu: Emulator, secret: str | None = None) -> ClientSecretCredential:
    """The real azure-identity credential, pointed at ``emu`` and trusting its CA."""
    return ClientSecretCredential(emu.tenant_id, emu.client_id, secret or emu.client_secret, authority=emu.url,
                                  disable_instance_discovery=True, connection_verify=str(emu.ca_path))


def matched(source: VmInsightsSource, servers: tuple[str, ...]) -> list[MatchedServer]:
    """The Servers Group matched against the source's machine list (every server must match)."""
    found, failures = match_servers(servers, list(source.list_machines(start=START, end=NOW)))
    assert failures == []
    return found


def fetch_all(source: VmInsightsSource, items: list[MatchedServer]) -> dict[str, object]:
    """server -> its ServerMap, or the error its fetch raised (after planning all of them)."""
    source.plan(items, start=START, end=NOW)
    outcome: dict[str, object] = {}
    for item in items:
        try:
            outcome[item.server] = source.fetch(item, start=START, end=NOW).server_map
        except Exception as exc:  # noqa: BLE001 - the test inspects what each server got
            outcome[item.server] = exc
    return outcome


def queries(emu: Emulator) -> list[dict]:
    """The query requests the emulator answered, each as ``{"shape", "machines", "status"}``."""
    found = []
    for r in emu.requests:
        if r.operation == "query" and isinstance(r.json_body, dict):
            text = r.json_body["query"]
            shape = text.splitlines()[0].split(":")[1].strip()
            listed = [line for line in text.splitlines() if line.startswith("let Machines = ")]
            machines = json.loads(listed[0][len("let Machines = dynamic("):-2]) if listed else []
            found.append({"shape": shape, "machines": machines, "status": r.status})
    return found
