"""The bundled sample estate and the synthetic generator: consistent, spec-shaped, covering the hard cases."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servicemap_sync.emulator import (Emulator, Scenario, load_scenario, synthetic_map, synthetic_scenario,
                                      write_scenario)
from servicemap_sync.emulator.sample import sample_scenario
from scenario_lookup import machine_named
from spec_check import SpecChecker

from .conftest import Client
from .mapcheck import map_problems

REPO = Path(__file__).resolve().parents[2]
PATH = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/law/features/serviceMap"
WINDOW = {"startTime": "2024-05-06T07:00:00Z", "endTime": "2024-05-06T07:10:00Z"}
ROLES = {"webServer", "appServer", "databaseServer", "ldapServer", "smbServer"}


def _connections(sample: Scenario) -> list[tuple[str, dict]]:
    return [(name, c) for name in sample.maps for c in sample.maps[name]["edges"]["connections"]]


def test_sample_maps_are_consistent_and_conform_to_the_spec(sample: Scenario, checker: SpecChecker) -> None:
    assert len(sample.maps) == len(sample.machines) == 10
    for name in sample.maps:
        assert map_problems(sample.maps[name]) == [], name
        response = {**WINDOW, "map": sample.maps[name]}
        assert checker.check_response("POST", f"{PATH}/generateMap", 200, response) == [], name
    for name, machine in sample.machines.items():
        assert checker.check_response("GET", f"{PATH}/machines/{name}", 200, machine) == [], name
        assert machine["name"] == name
        for key in ("displayName", "computerName", "fullyQualifiedDomainName", "agent", "networking",
                    "operatingSystem", "monitoringState"):
            assert machine["properties"][key], (name, key)


def test_committed_sample_files_match_their_generator(tmp_path: Path) -> None:
    committed = REPO / "samples" / "estate"
    write_scenario(sample_scenario(), tmp_path)
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.json"))
    assert generated == sorted(p.relative_to(committed) for p in committed.rglob("*.json"))
    for relative in generated:
        assert (committed / relative).read_text("utf-8") == (tmp_path / relative).read_text("utf-8"), relative
    assert "secret" not in (committed / "scenario.json").read_text("utf-8").lower()


def test_servers_group_names_each_match_one_machine(sample: Scenario) -> None:
    assert len(sample.servers_group) == 9
    matched = {machine_named(sample, server) for server in sample.servers_group}
    assert len(matched) == 9
    outside = set(sample.machines) - matched
    assert [sample.machines[n]["properties"]["computerName"] for n in outside] == ["BUILD01"]
    (build01,) = outside
    peers = {m["name"].lower() for name in sample.maps if name != build01
             for m in sample.maps[name]["nodes"]["machines"]}
    assert build01.lower() in peers
    assert {m["properties"]["operatingSystem"]["family"] for m in sample.machines.values()} == {"windows", "linux"}


def test_sample_holds_the_awkward_cases(sample: Scenario) -> None:
    connections = _connections(sample)
    states = Counter(c["properties"]["failureState"] for _, c in connections)
    assert states["failed"] and states["mixed"] and states["ok"]
    same_host = [c for _, c in connections if c["properties"]["source"]["kind"] == "ref:process"
                 and c["properties"]["source"]["properties"]["machine"]["name"]
                 == c["properties"]["destination"]["properties"]["machine"]["name"]]
    assert any(c["properties"]["serverPort"]["properties"]["ipAddress"].startswith("127.") for c in same_host)
    assert any(not c["properties"]["serverPort"]["properties"]["ipAddress"].startswith("127.") for c in same_host)
    nodes = [n for name in sample.maps for kind in sample.maps[name]["nodes"].values() for n in kind]
    assert any(n["kind"] == "machine" and n["properties"]["monitoringState"] == "discovered"
               and n["properties"]["displayName"] == "???" for n in nodes)
    assert any(n["kind"] == "process" and n["name"].startswith("ts-") and "acceptorOf" in n["properties"]
               for n in nodes)
    assert any(n["kind"] == "process" and n["properties"].get("role") not in (None, *ROLES) for n in nodes)
    assert {n["properties"]["clientsOf"]["kind"] for n in nodes if n["kind"] == "clientGroup"} == {
        "ref:machine", "ref:process", "ref:port"}
    ids = [n["id"] for n in nodes] + [m["id"] for m in sample.machines.values()]
    assert any("/features/serviceMap/machines/" in i for i in ids)
    assert any(i.startswith("/api/workspaces/") for i in ids)
    assert any(f"/workspaces/{sample.workspace_name}/machines/" in i for i in ids)
    names = [n["name"] for n in nodes if n["kind"] == "machine"]
    assert any(n != n.lower() for n in names) and any(n == n.lower() and n.startswith("m-") for n in names)


def test_domain_controller_and_monitoring_reach_everyone(sample: Scenario) -> None:
    dc01 = machine_named(sample, "dc01.contoso.com").lower()
    mon01 = machine_named(sample, "mon01.contoso.com").lower()
    for name, machine in sample.machines.items():
        ports = {(c["properties"]["destination"]["properties"]["machine"]["name"].lower(),
                  c["properties"]["serverPort"]["properties"]["portNumber"])
                 for c in sample.maps[name]["edges"]["connections"]}
        sources = {c["properties"]["source"]["properties"]["machine"]["name"].lower()
                   for c in sample.maps[name]["edges"]["connections"] if c["properties"]["source"]["kind"] == "ref:process"}
        if name.lower() != dc01 and machine["properties"]["operatingSystem"]["family"] == "windows":
            assert {(dc01, 53), (dc01, 88), (dc01, 389), (dc01, 445)} <= ports, name
        if name.lower() != mon01:
            assert mon01 in sources, name


def test_links_between_monitored_servers_appear_in_both_maps(sample: Scenario) -> None:
    monitored = {n.lower() for n in sample.machines}
    seen: dict[str, set[str]] = {}
    for focus, c in _connections(sample):
        props = c["properties"]
        if props["source"]["kind"] != "ref:process":
            continue
        ends = {props["source"]["properties"]["machine"]["name"].lower(),
                props["destination"]["properties"]["machine"]["name"].lower()}
        if ends <= monitored:
            seen.setdefault(c["name"].lower(), set()).add(focus.lower())
    assert seen
    for name, maps in seen.items():
        ends = {part.split("@")[1] for part in name.split("!")[:2]}
        assert maps == ends, name


def test_synthetic_scenario_is_deterministic_and_consistent(checker: SpecChecker) -> None:
    first, again, other = (synthetic_scenario(servers=30, connections_per_server=10, seed=s) for s in (1, 1, 2))
    assert json.dumps(first.machines) == json.dumps(again.machines)
    assert all(first.maps[n] == again.maps[n] for n in first.maps)
    assert json.dumps(first.machines) != json.dumps(other.machines)
    assert len(first.machines) == 30
    fqdns = sorted(m["properties"]["fullyQualifiedDomainName"] for m in first.machines.values())
    assert fqdns == [f"srv{i:04d}.synthetic.example" for i in range(1, 31)]
    assert sorted(first.servers_group) == fqdns
    assert {m["properties"]["operatingSystem"]["family"] for m in first.machines.values()} == {"windows", "linux"}
    sizes = []
    for name in first.maps:
        graph = first.maps[name]
        assert map_problems(graph) == [], name
        assert checker.check_response("POST", f"{PATH}/generateMap", 200, {**WINDOW, "map": graph}) == []
        assert graph["nodes"]["clientGroups"] and graph["edges"]["acceptors"]
        sizes.append(len(graph["edges"]["connections"]))
    assert 5 <= sum(sizes) / len(sizes) <= 15


@settings(max_examples=15, deadline=None)
@given(servers=st.integers(1, 8), per_server=st.integers(1, 12), seed=st.integers(0, 2**32))
def test_every_synthetic_map_is_consistent(servers: int, per_server: int, seed: int) -> None:
    scenario = synthetic_scenario(servers=servers, connections_per_server=per_server, seed=seed)
    assert sorted(scenario.maps) == sorted(scenario.machines)
    for name in scenario.maps:
        graph = scenario.maps[name]
        assert map_problems(graph) == []
        names = [c["name"] for c in graph["edges"]["connections"]]
        assert len(names) == len(set(names))


def test_synthetic_map_has_exactly_the_requested_connections() -> None:
    graph = synthetic_map(connections=500, seed=3)
    connections = graph["edges"]["connections"]
    assert len(connections) == 500
    assert len({c["name"] for c in connections}) == 500
    assert map_problems(graph) == []
    assert graph == synthetic_map(connections=500, seed=3)


def test_scenarios_round_trip_through_disk_and_serve(tmp_path: Path) -> None:
    original = synthetic_scenario(servers=12, connections_per_server=6, seed=5)
    loaded = load_scenario(write_scenario(original, tmp_path / "estate"))
    assert loaded.identity() == original.identity()
    assert loaded.machines == original.machines
    assert sorted(loaded.maps) == sorted(original.maps)
    assert all(loaded.maps[n] == original.maps[n] for n in original.maps)
    with Emulator(loaded) as emu:
        client = Client(emu)
        for machine in loaded.machines.values():  # every id form the generator uses
            assert client.generate(machine["id"]).json()["map"] == original.maps[machine["name"]]


def test_load_scenario_refuses_a_directory_without_scenario_json(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_scenario(tmp_path)
    (tmp_path / "scenario.json").write_text('{"tenant_id": "t"}', encoding="utf-8")
    with pytest.raises(ValueError, match="client_id"):
        load_scenario(tmp_path)
