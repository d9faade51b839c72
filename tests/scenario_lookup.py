"""Finding a scenario's machine the way a user names a server, for tests across folders."""

from __future__ import annotations

from servicemap_sync.emulator import Scenario

_NAME_FIELDS = ("fullyQualifiedDomainName", "computerName", "displayName")


def machine_named(scenario: Scenario, server: str) -> str:
    """The resource name of the one machine whose FQDN, computer name or display name is
    ``server`` (case-insensitive); what a ``Fault``'s ``machine`` and ``scenario.maps`` take."""
    wanted = server.lower()
    found = [name for name, machine in scenario.machines.items()
             if wanted in {str(machine["properties"].get(f) or "").lower() for f in _NAME_FIELDS}]
    assert len(found) == 1, (server, found)
    return found[0]


def drawn_name(scenario: Scenario, server: str) -> str:
    """The name a server's pack is drawn under whatever spelling the group used: its machine's
    FQDN, else computer name, else display name (skipping Service Map's ``???`` placeholder)."""
    props = scenario.machines[machine_named(scenario, server)]["properties"]
    names = (str(props.get(f) or "").strip() for f in _NAME_FIELDS)
    return next(n for n in names if n and n != "???")
