"""Match the names in the Servers Group to Service Map machines.

Administrators type whatever they know a server by: its FQDN, its computer name or the name
the portal shows. We try those in that order, case-insensitively, and take the first tier that
gives exactly one machine. No match, or several machines in the deciding tier, is reported
for that server with the candidates, and the other servers carry on.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterable

from ..model import Machine, MatchedServer, ServerFailure


def match_servers(
    servers: Iterable[str], machines: Iterable[Machine]
) -> tuple[list[MatchedServer], list[ServerFailure]]:
    """Resolve each server name to one machine.

    Returns:
        (matched, failures), both in the order of ``servers``.
    """
    tiers: list[dict[str, list[Machine]]] = [defaultdict(list) for _ in range(3)]
    for machine in machines:
        for tier, name in zip(tiers, (machine.fqdn, machine.computer_name, machine.display_name)):
            if name and name.strip():
                tier[name.strip().lower()].append(machine)
    matched: list[MatchedServer] = []
    failures: list[ServerFailure] = []
    known: list[str] | None = None  # every name, for "closest names" hints; made on first need
    for server in servers:
        key = server.strip().lower()
        for tier, label in zip(tiers, ("FQDN", "computer name", "display name")):
            found = _unique(tier.get(key, []))
            if len(found) == 1:
                matched.append(MatchedServer(server, found[0]))
                break
            if len(found) > 1:
                candidates = tuple(f"{m.name} ({m.label}{_workspace_of(m)})" for m in found)
                failures.append(ServerFailure(
                    server, "match",
                    f"{len(found)} Service Map machines have the {label} '{server}': "
                    f"{', '.join(candidates)}; list the server by its FQDN in sync.servers",
                    candidates,
                ))
                break
        else:
            known = known if known is not None else sorted(set().union(*tiers))
            close = tuple(difflib.get_close_matches(key, known, n=3, cutoff=0.6))
            hint = f" (closest names: {', '.join(close)})" if close else ""
            failures.append(ServerFailure(
                server, "match",
                f"no Service Map machine has the FQDN, computer name or display name '{server}'{hint}: check the "
                f"name and that the Dependency Agent on it reports to this workspace",
                close,
            ))
    return matched, failures


def _workspace_of(machine: Machine) -> str:
    """`` in workspace <name>`` when the machine's resource id says which (several workspaces)."""
    parts = machine.id.split("/")
    lowered = [p.lower() for p in parts]
    if "workspaces" in lowered:
        index = lowered.index("workspaces")
        if index + 1 < len(parts):
            return f" in workspace {parts[index + 1]}"
    return ""


def _unique(machines: list[Machine]) -> list[Machine]:
    by_name = {m.key: m for m in machines}
    return [by_name[k] for k in sorted(by_name)]
