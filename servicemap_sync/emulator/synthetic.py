"""Deterministic synthetic estates for load tests and benchmarks.

``synthetic_scenario(servers=1000)`` gives a workspace of ``srvNNNN.synthetic.example`` servers
(web, application and database tiers, Windows and Linux), each linked to other servers, to
agentless discovered peers and to client groups; ``synthetic_map(connections=10000)`` gives one
very large map. Everything is derived from ``seed`` through one :class:`random.Random`, so the
same arguments always give the same JSON. ``synthetic_estate`` gives the estate behind a
synthetic scenario, from which :mod:`.snapshots` writes the same world as snapshot files.
"""

from __future__ import annotations

import ipaddress
import random
import uuid
from dataclasses import dataclass

from .estate import Clients, Estate, Host, Listener, Proc
from .scenario import LazyMaps, Scenario
from .shapes import WorkspaceRef, machine_resource, render_map

DOMAIN = "synthetic.example"


@dataclass(frozen=True)
class _Tier:
    name: str
    linux: tuple[str, int, str]     # executable, port, role
    windows: tuple[str, int, str]


_TIERS = (
    _Tier("web", ("nginx", 443, "webServer"), ("w3wp.exe", 443, "webServer")),
    _Tier("app", ("java", 8080, "appServer"), ("dotnet.exe", 8443, "appServer")),
    _Tier("db", ("postgres", 5432, "databaseServer"), ("sqlservr.exe", 1433, "databaseServer")),
)


def estate_scenario(ws: WorkspaceRef, estate: Estate, *, tenant_id: str, client_id: str, location: str,
                    servers_group: tuple[str, ...], machine_groups: tuple[dict, ...] = (),
                    other_workspaces: tuple[Scenario, ...] = ()) -> Scenario:
    """A :class:`Scenario` serving ``estate``: every monitored host is listed and has a map;
    ``machine_groups`` are MachineGroup resources (see :func:`~.shapes.machine_group_resource`)."""
    hosts = sorted(estate.monitored_hosts(), key=lambda h: h.name.lower())
    return Scenario(
        tenant_id=tenant_id, client_id=client_id, subscription_id=ws.subscription_id,
        resource_group=ws.resource_group, workspace_name=ws.workspace_name, customer_id=ws.customer_id,
        location=location, servers_group=servers_group,
        machines={h.name: machine_resource(ws, h) for h in hosts},
        maps=LazyMaps([h.name for h in hosts], lambda name: render_map(ws, estate, estate.hosts[name])),
        machine_groups={g["name"]: g for g in machine_groups}, other_workspaces=other_workspaces,
    )


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _workspace(rng: random.Random) -> WorkspaceRef:
    return WorkspaceRef(subscription_id=_guid(rng), resource_group="rg-synthetic", workspace_name="law-synthetic",
                        customer_id=_guid(rng))


def _add_server(estate: Estate, rng: random.Random, number: int) -> tuple[Host, Proc, Listener]:
    """Server ``number``: host, its tier process (which is also its client) and that process's listener."""
    windows = rng.random() < 0.5
    short = f"srv{number:04d}"
    ip = str(ipaddress.IPv4Address(0x0A000000 + 256 + number))
    host = estate.add_host(Host(
        name=f"m-{_guid(rng)}", display_name=short, ipv4=(ip,), computer_name=short.upper() if windows else short,
        fqdn=f"{short}.{DOMAIN}", dns_names=(f"{short}.{DOMAIN}",),
        os_family="windows" if windows else "linux",
        os_full_name="Microsoft Windows Server 2022 Datacenter" if windows else "Ubuntu 22.04.4 LTS",
        id_form=1 + number % 3,
    ))
    tier = _TIERS[number % len(_TIERS)]
    executable, port, role = tier.windows if windows else tier.linux
    proc = estate.run(host, executable, role=role, group=f"synthetic {tier.name} tier",
                      command_line=f"{executable} --tier {tier.name}")
    exporter = estate.run(host, "windows_exporter.exe" if windows else "node_exporter")
    estate.listen(exporter, 9182 if windows else 9100)
    return host, proc, estate.listen(proc, port)


def _failure(rng: random.Random) -> str:
    roll = rng.random()
    return "failed" if roll < 0.04 else "mixed" if roll < 0.08 else "ok"


def _discovered(estate: Estate, rng: random.Random, pool: int) -> Listener:
    index = rng.randrange(pool)
    ip = str(ipaddress.IPv4Address(0xAC100000 + 1 + index))
    port = (443, 8080, 25, 3306)[index % 4]
    return estate.discovered(ip, port, display_name=f"ext{index:04d}.partner.example" if index % 5 else "???",
                             dns_names=(f"ext{index:04d}.partner.example",) if index % 5 else ())


@dataclass(frozen=True)
class SyntheticEstate:
    """A synthetic estate and the ids of the workspace that serves it."""

    workspace: WorkspaceRef
    tenant_id: str
    client_id: str
    estate: Estate
    servers_group: tuple[str, ...]

    def scenario(self) -> Scenario:
        """The :class:`Scenario` serving this estate."""
        return estate_scenario(self.workspace, self.estate, tenant_id=self.tenant_id, client_id=self.client_id,
                               location="westeurope", servers_group=self.servers_group)


def synthetic_estate(servers: int = 1000, connections_per_server: int = 20, seed: int = 0) -> SyntheticEstate:
    """The estate behind :func:`synthetic_scenario` (same arguments, same estate), e.g. to write its
    netstat/ss snapshots with :mod:`.snapshots`.

    Each server sends ~40 % of its links to other servers (and receives as many), ~10 % to
    discovered agentless peers, and has one or two client groups on its tier port.
    """
    if servers < 1 or connections_per_server < 1:
        raise ValueError("servers and connections_per_server must be at least 1")
    rng = random.Random(seed)
    ws = _workspace(rng)
    tenant_id, client_id = _guid(rng), _guid(rng)
    estate = Estate()
    built = [_add_server(estate, rng, n) for n in range(1, servers + 1)]
    outbound = min(servers - 1, round(connections_per_server * 0.4))
    to_discovered = max(1, round(connections_per_server * 0.1))
    pool = max(4, servers // 10)
    for index, (_, proc, listener) in enumerate(built):
        for other in rng.sample(range(servers - 1), outbound):
            estate.connect(proc, built[other + (other >= index)][2], _failure(rng))
        for _ in range(to_discovered):
            target = _discovered(estate, rng, pool)
            if not any(link.source == proc and link.target == target for link in estate.links[proc.host.name]):
                estate.connect(proc, target, _failure(rng))
        scopes = ("process", "machine") if index % 2 else ("process",)
        for scope in scopes:
            estate.connect(Clients(listener, scope), listener)
    group = tuple(host.fqdn or host.display_name for host, _, _ in built)
    return SyntheticEstate(ws, tenant_id, client_id, estate, group)


def synthetic_scenario(servers: int = 1000, connections_per_server: int = 20, seed: int = 0) -> Scenario:
    """A workspace of ``servers`` synthetic servers, each map holding about ``connections_per_server``
    links (see :func:`synthetic_estate`)."""
    return synthetic_estate(servers, connections_per_server, seed).scenario()


def synthetic_map(connections: int = 10000, seed: int = 0) -> dict:
    """One single-machine dependency map (the ``map`` object) with exactly ``connections`` links."""
    if connections < 1:
        raise ValueError("connections must be at least 1")
    rng = random.Random(seed)
    ws = _workspace(rng)
    estate = Estate()
    focus, proc, listener = _add_server(estate, rng, 0)
    to_discovered = connections // 10
    inbound = (connections - to_discovered) // 2
    outbound = connections - to_discovered - inbound
    peers = [_add_server(estate, rng, n) for n in range(1, max(inbound, outbound) + 1)]
    for _, _, target in peers[:outbound]:
        estate.connect(proc, target, _failure(rng))
    for _, peer_proc, _ in peers[:inbound]:
        estate.connect(peer_proc, listener, _failure(rng))
    for index in range(to_discovered):
        ip = str(ipaddress.IPv4Address(0xAC100000 + 1 + index))
        estate.connect(proc, estate.discovered(ip, 443, display_name=f"ext{index:05d}.partner.example"))
    return render_map(ws, estate, focus)
