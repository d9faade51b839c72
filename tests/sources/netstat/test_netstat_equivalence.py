"""One diagram whatever the source: the sample estate through Service Map and through its snapshots.

For every monitored sample server, the graph built from the Service Map sample map and the one
built from the netstat/ss snapshots must have the same boxes (kind and label), arrows (source
label -> destination label) and ports. What a socket capture cannot know is taken out of the
Service Map side, exactly and only that:

* process display names: netstat shows executables, so a Service Map process is compared by its
  executable name;
* ss shows the kernel's process name, cut to 15 characters, for processes on ss-captured servers;
* failed connections never reach a socket table: failed-only arrows, and the peers only they
  reached, are dropped (mixed ones were established, so they stay; failure states are not compared);
* how agentless clients are grouped: Service Map groups them by port, process or machine,
  snapshots by port, so client groups compare as "the clients of this server".
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import networkx as nx
import pytest

from servicemap_sync.emulator import Scenario, synthetic_scenario
from servicemap_sync.emulator.snapshots import CAPTURED_AT, INTERVAL, synthetic_snapshot_files, write_snapshots
from servicemap_sync.graph import build_graph
from servicemap_sync.model import MatchedServer
from servicemap_sync.sources.netstat import NetstatSource
from servicemap_sync.sources.servicemap.parse import parse_map_response

REPO = Path(__file__).resolve().parents[3]
SNAPSHOTS = REPO / "samples" / "snapshots"
START = CAPTURED_AT - INTERVAL
END = CAPTURED_AT + 2 * INTERVAL
COMM = 15


def _ss_hosts() -> set[str]:
    return {path.name.split("__")[0] for path in SNAPSHOTS.glob("*.ss.txt")}


def _label(graph: nx.MultiDiGraph, node, ss_hosts: set[str]) -> tuple[str, str]:
    attrs = graph.nodes[node]
    if attrs["kind"] == "clientGroup":
        return "clientGroup", f"clients of {graph.nodes[graph.graph['focus']]['label']}"
    if attrs["kind"] == "process":
        obj = attrs["obj"]
        name = obj.executable_name or attrs["label"]
        machine = graph.nodes[attrs["machine"]]["label"]
        return "process", f"{name[:COMM] if machine in ss_hosts else name} on {machine}"
    if attrs["kind"] == "port":
        return "port", f"{graph.nodes[attrs['machine']]['label']}{attrs['label']}"
    return attrs["kind"], attrs["label"]


def diagram(graph: nx.MultiDiGraph, ss_hosts: set[str], *, drop_failed: bool = False) -> dict[str, set]:
    """Boxes, arrows and ports of a graph, labelled, without ids."""
    graph = graph.copy()
    if drop_failed:
        graph.remove_edges_from([(u, v, k) for u, v, k, failed in graph.edges(keys=True, data="failed_only")
                                 if failed])
        focus = graph.graph["focus"]
        graph.remove_nodes_from([n for n, kind in graph.nodes(data="kind") if kind in ("process", "clientGroup")
                                 and n.machine != focus.name and graph.degree(n) == 0])
        used = {graph.nodes[n]["machine"] for n, kind in graph.nodes(data="kind") if kind == "process"}
        graph.remove_nodes_from([n for n, kind in graph.nodes(data="kind") if kind == "machine"
                                 and n != focus and n not in used])
    label = {node: _label(graph, node, ss_hosts) for node in graph}
    return {
        "boxes": set(label.values()),
        "arrows": {(label[u][1], label[v][1], kind, port) for u, v, kind, port in
                   ((u, v, d["kind"], d.get("port")) for u, v, d in graph.edges(data=True))},
        "ports": {label[n][1] for n, kind in graph.nodes(data="kind") if kind == "port"},
    }


@pytest.fixture(scope="module")
def netstat_source() -> NetstatSource:
    return NetstatSource(SNAPSHOTS, SNAPSHOTS / "hosts")


def _monitored(sample_scenario: Scenario) -> list[tuple[str, str]]:
    return sorted((m["properties"]["fullyQualifiedDomainName"], name) for name, m in sample_scenario.machines.items())


def test_every_server_of_the_sample_estate_has_snapshots(sample_scenario: Scenario,
                                                        netstat_source: NetstatSource) -> None:
    listed = {m.fqdn: m for m in netstat_source.list_machines(start=START, end=END)}
    assert sorted(listed) == [fqdn for fqdn, _name in _monitored(sample_scenario)]
    for machine in sample_scenario.machines.values():
        props = machine["properties"]
        ours = listed[props["fullyQualifiedDomainName"]]
        assert (ours.computer_name, ours.os_family) == (props["computerName"], props["operatingSystem"]["family"])
    assert listed["file01.contoso.com"].display_name == "Finance File Server"
    assert {p.name.rsplit(".", 2)[-2] if p.name.endswith(".txt") else "csv" for p in SNAPSHOTS.glob("*__*")} == {
        "csv", "ss", "netstat"}


def test_diagrams_from_snapshots_equal_the_service_map_diagrams(sample_scenario: Scenario,
                                                                netstat_source: NetstatSource) -> None:
    machines = {m.fqdn: m for m in netstat_source.list_machines(start=START, end=END)}
    ss_hosts = _ss_hosts()
    compared = 0
    for fqdn, name in _monitored(sample_scenario):
        body = {"startTime": START.isoformat(), "endTime": END.isoformat(), "map": sample_scenario.maps[name]}
        expected = diagram(build_graph(parse_map_response(body, server=fqdn, focus_machine=name)), ss_hosts,
                           drop_failed=True)
        fetched = netstat_source.fetch(MatchedServer(fqdn, machines[fqdn]), start=START, end=END)
        assert diagram(build_graph(fetched.server_map), ss_hosts) == expected, fqdn
        with_self_links = build_graph(fetched.server_map, include_self_links=True)
        expected_self = build_graph(parse_map_response(body, server=fqdn, focus_machine=name), include_self_links=True)
        assert diagram(with_self_links, ss_hosts) == diagram(expected_self, ss_hosts, drop_failed=True), fqdn
        compared += 1
    assert compared == 10


def test_the_exclusions_are_real_differences(sample_scenario: Scenario, netstat_source: NetstatSource) -> None:
    """Each exclusion above removes something the sample has (else the comparison proves less than it says)."""
    graphs = [build_graph(parse_map_response({"startTime": START.isoformat(), "endTime": END.isoformat(),
                                              "map": sample_scenario.maps[n]}, server=n, focus_machine=n))
              for n in sample_scenario.maps]
    processes = [d["obj"] for g in graphs for _n, d in g.nodes(data=True) if d["kind"] == "process"]
    assert any(p.executable_name and p.label != p.executable_name for p in processes)
    assert any(p.executable_name and len(p.executable_name) > COMM for p in processes)
    assert any(failed for g in graphs for _u, _v, failed in g.edges(data="failed_only"))


def test_same_snapshots_give_equal_maps(netstat_source: NetstatSource) -> None:
    again = NetstatSource(SNAPSHOTS, SNAPSHOTS / "hosts")
    for machine in netstat_source.list_machines(start=START, end=END):
        item = MatchedServer(machine.fqdn, machine)
        assert (netstat_source.fetch(item, start=START, end=END) == again.fetch(item, start=START, end=END))


def test_committed_snapshots_match_their_generator(tmp_path: Path) -> None:
    write_snapshots(tmp_path)
    generated = sorted(p.name for p in tmp_path.iterdir())
    assert generated == sorted(p.name for p in SNAPSHOTS.iterdir())
    for name in generated:
        assert (SNAPSHOTS / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_snapshots_can_be_taken_at_another_time(tmp_path: Path) -> None:
    now = datetime(2031, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    write_snapshots(tmp_path, now)
    source = NetstatSource(tmp_path, tmp_path / "hosts")
    assert len(source.list_machines(start=now, end=now + INTERVAL)) == 10
    assert source.list_machines(start=START, end=END) == []


def test_synthetic_estate_snapshots_list_every_server_with_the_service_map_diagram(tmp_path: Path) -> None:
    """The snapshots of a synthetic estate (the benchmark's netstat source) are read, list every
    server of the scenario's Servers Group, and draw the diagrams its Service Map maps draw."""
    servers, connections = 40, 12
    write_snapshots(tmp_path, CAPTURED_AT, files=synthetic_snapshot_files(CAPTURED_AT, servers, connections))
    scenario = synthetic_scenario(servers=servers, connections_per_server=connections)
    source = NetstatSource(tmp_path, tmp_path / "hosts")
    machines = {m.fqdn: m for m in source.list_machines(start=START, end=END)}
    assert sorted(machines) == sorted(scenario.servers_group)
    assert {p.name.rsplit(".", 2)[-2] if p.name.endswith(".txt") else "csv" for p in tmp_path.glob("*__*")} == {
        "csv", "ss", "netstat"}
    ss_hosts = {path.name.split("__")[0] for path in tmp_path.glob("*.ss.txt")}
    for name, machine in scenario.machines.items():
        fqdn = machine["properties"]["fullyQualifiedDomainName"]
        body = {"startTime": START.isoformat(), "endTime": END.isoformat(), "map": scenario.maps[name]}
        expected = diagram(build_graph(parse_map_response(body, server=fqdn, focus_machine=name)), ss_hosts,
                           drop_failed=True)
        fetched = source.fetch(MatchedServer(fqdn, machines[fqdn]), start=START, end=END)
        assert diagram(build_graph(fetched.server_map), ss_hosts) == expected, fqdn


def test_synthetic_snapshots_keep_client_addresses_and_ports_valid_at_scale() -> None:
    from servicemap_sync.emulator.snapshots import _client_ip, _client_port

    assert _client_ip("192.0.2.0", 0) == "192.0.2.10"
    assert _client_ip("192.0.2.0", 4500) == "192.0.19.158"
    assert all(1024 < _client_port(n) < 65536 for n in (0, 15_000, 40_000, 1_000_000))
