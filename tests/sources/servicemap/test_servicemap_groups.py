"""Machine groups and a second workspace through the real sign-in and HTTP path against the emulator,
every request the client sends checked against the published spec."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from servicemap_sync.emulator import Fault
from servicemap_sync.errors import ConfigError, ServiceMapResponseError
from servicemap_sync.model import Workspace, machine_key
from servicemap_sync.sources.matching import match_servers
from servicemap_sync.sources.servicemap.client import ServiceMapClient
from servicemap_sync.sources.servicemap.session import open_session

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
START = NOW - timedelta(minutes=60)
CHECKED = ("machines", "machine", "machineGroups", "machineGroup", "generateMap")


def _spec_problems(emu, checker) -> list[str]:
    """Every Service Map request sent, checked against the spec (``$skipToken`` is nextLink's own)."""
    problems = []
    for r in emu.requests:
        if r.operation in CHECKED:
            query = {k: v for k, v in r.query.items() if k != "$skipToken"}
            problems += [f"{r.method} {r.path}: {p}" for p in checker.check_request(r.method, r.raw_path, query, r.json_body)]
    return problems


def _expected(scenario, members: list[str]) -> dict[str, set[str]]:
    """What the members' maps in the estate imply: node names and edge ids, lower-cased."""
    out: dict[str, set[str]] = {"machines": set(), "processes": set(), "connections": set(), "acceptors": set()}
    for name in members:
        graph = scenario.maps[name]
        out["machines"] |= {m["name"].lower() for m in graph["nodes"]["machines"]}
        out["processes"] |= {p["name"].lower() for p in graph["nodes"]["processes"]}
        out["connections"] |= {c["id"] for c in graph["edges"]["connections"]}
        out["acceptors"] |= {a["id"] for a in graph["edges"]["acceptors"]}
    return out


def test_list_get_and_map_every_sample_group(sample_emu, make_settings, request) -> None:
    scenario = sample_emu.scenario
    sample_emu.arm.group_page_size = 1  # two pages
    with open_session(make_settings(sample_emu)) as session:
        groups = list(session.client.list_machine_groups(start=START, end=NOW))
        got = {g.name: session.client.get_machine_group(g.name, start=START, end=NOW) for g in groups}
        maps = {g.name: session.client.generate_group_map(g, start=START, end=NOW) for g in groups}

    assert len([r for r in sample_emu.requests if r.operation == "machineGroups"]) == 2
    assert sorted(g.name for g in groups) == sorted(scenario.machine_groups)
    assert {g.name: g for g in groups} == got
    shop = next(g for g in groups if g.display_name == "Contoso Web Shop")
    fqdns = [scenario.machines[m]["properties"]["fullyQualifiedDomainName"] for m in shop.members]
    assert fqdns == ["web01.contoso.com", "web02.contoso.com", "app01.contoso.com", "sql01.contoso.com"]
    assert shop.member_hints == ("web01", "web02", "app01", "sql01") and not shop.truncated
    for group in groups:
        raw = scenario.machine_groups[group.name]
        assert group.members == tuple(m["name"] for m in raw["properties"]["machines"])
        group_map = maps[group.name]
        expected = _expected(scenario, list(group.members))
        assert {m.key.name for m in group_map.machines} == expected["machines"]
        assert {p.key.name for p in group_map.processes} == expected["processes"]
        assert {c.id for c in group_map.connections} == expected["connections"]
        assert {a.id for a in group_map.acceptors} == expected["acceptors"]
        assert group_map.members == tuple(machine_key(m) for m in group.members) and group_map.missing == ()
        assert group_map.start_time == START and group_map.end_time == NOW
    bodies = [r.json_body for r in sample_emu.requests if r.operation == "generateMap"]
    assert [(b["kind"], b["machineGroupId"], b["filterProcesses"]) for b in bodies] == [
        ("map:machine-group-dependency", g.id, False) for g in groups]
    # the legacy-form group id is sent back as the service gave it
    assert any(b["machineGroupId"].startswith("/api/workspaces/") for b in bodies)
    assert _spec_problems(sample_emu, request.getfixturevalue("checker")) == []


def test_a_member_gone_from_the_workspace_is_missing_from_the_group_map(sample_emu, make_settings) -> None:
    scenario = sample_emu.scenario
    with open_session(make_settings(sample_emu)) as session:
        shop = next(g for g in session.client.list_machine_groups(start=START, end=NOW)
                    if g.display_name == "Contoso Web Shop")
        gone = shop.members[1]
        sample_emu.set_machines([m for n, m in scenario.machines.items() if n != gone])
        group_map = session.client.generate_group_map(shop, start=START, end=NOW)
    # no other member's map shows web02, so it is absent altogether
    assert group_map.missing == (gone,)
    assert [k.name for k in group_map.members] == [m.lower() for m in shop.members if m != gone]
    assert {c.id for c in group_map.connections} == _expected(scenario, [m for m in shop.members if m != gone])[
        "connections"]


def test_unknown_group_and_faults(sample_emu, make_settings) -> None:
    with open_session(make_settings(sample_emu)) as session:
        with pytest.raises(ServiceMapResponseError) as err:
            session.client.get_machine_group("no-such-group", start=START, end=NOW)
        assert err.value.status == 404
        shop = next(g for g in session.client.list_machine_groups(start=START, end=NOW)
                    if g.display_name == "Contoso Web Shop")
        member = shop.members[2]
        sample_emu.add_fault(Fault(kind="status", status=429, retry_after=1, operation="generateMap",
                                   machine=member, count=1))
        group_map = session.client.generate_group_map(shop, start=START, end=NOW)
        assert session.transport.stats.throttled == 1 and len(group_map.members) == 4
        before = len(sample_emu.requests)
        with pytest.raises(ConfigError, match="TimeWindowMinutes"):
            session.client.fetch_group_map(shop, start=NOW - timedelta(minutes=61), end=NOW)
        assert len(sample_emu.requests) == before


def test_second_workspace_through_the_same_credential(sample_emu, make_settings, request) -> None:
    scenario = sample_emu.scenario
    dev = scenario.other_workspaces[0]
    settings = make_settings(sample_emu)
    with open_session(settings) as session:
        prod_machines = list(session.client.list_machines(start=START, end=NOW))
        workspace = Workspace(subscription_id=dev.subscription_id, resource_group=dev.resource_group,
                              name=dev.workspace_name, id=dev.arm_id, customer_id=dev.customer_id)
        dev_client = ServiceMapClient(session.transport, workspace,
                                      resource_manager_url=settings.azure.resource_manager_url)
        dev_machines = list(dev_client.list_machines(start=START, end=NOW, page_size=2))
        matched, failures = match_servers(list(dev.servers_group), dev_machines)
        maps = {m.server: dev_client.generate_map(m.server, m.machine, start=START, end=NOW) for m in matched}
        (group,) = list(dev_client.list_machine_groups(start=START, end=NOW))
        group_map = dev_client.generate_group_map(group, start=START, end=NOW)

    assert sorted(m.name for m in prod_machines) == sorted(scenario.machines)  # the default workspace as before
    assert sorted(m.name for m in dev_machines) == sorted(dev.machines)
    assert failures == [] and set(maps) == set(dev.servers_group)
    build = [m for m in (*prod_machines, *dev_machines) if m.fqdn == "build01.contoso.com"]
    assert len(build) == 2 and build[0].name != build[1].name  # the ambiguous name, one machine in each
    assert {m.key.name for m in group_map.machines} == _expected(dev, list(group.members))["machines"]
    tokens = [r for r in sample_emu.requests if r.operation == "token"]
    assert len(tokens) == 1
    assert _spec_problems(sample_emu, request.getfixturevalue("checker")) == []
