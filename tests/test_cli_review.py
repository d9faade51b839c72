"""Review before SCOM sees it: ``plan`` and ``graph`` through the real CLI against the emulator."""

from __future__ import annotations

import copy
import json
import re

import networkx as nx
import pytest
from cli_harness import config_file, invoke
from scenario_lookup import machine_named

from servicemap_sync.emulator import Fault
from servicemap_sync.graph import build_graph
from servicemap_sync.sources.servicemap.parse import parse_map_response


def snapshot(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_plan_shows_what_sync_would_do_and_changes_nothing(sample_emu, tmp_path) -> None:
    config = config_file(sample_emu, tmp_path, servers=["web01.contoso.com", "sql01", "pg01.contoso.com"])
    out = tmp_path / "out"

    first = invoke(config, sample_emu, "plan", "--detailed-exitcode", "--json")
    assert first.exit_code == 2, first.output
    planned = json.loads(first.stdout)
    assert planned["would_change"] == 3 and {s["status"] for s in planned["servers"]} == {"published"}
    assert all(s["components_added"] and s["version"] == "1.0.0.0" for s in planned["servers"])
    assert not out.exists() or snapshot(out) == {}  # no pack, no state, no report

    assert invoke(config, sample_emu, "sync").exit_code == 0
    before = snapshot(out)
    quiet = invoke(config, sample_emu, "plan", "--detailed-exitcode")
    assert quiet.exit_code == 0 and "plan: 0 would publish, 0 would be removed, 3 unchanged, 0 failed" in quiet.stdout

    sql = machine_named(sample_emu.scenario, "sql01.contoso.com")
    changed = copy.deepcopy(sample_emu.scenario.maps[sql])
    changed["edges"]["connections"] = changed["edges"]["connections"][1:]
    sample_emu.set_map(sql, changed)
    config_file(sample_emu, tmp_path, servers=["web01.contoso.com", "sql01"])  # pg01 leaves the group
    plan = invoke(config, sample_emu, "plan", "--detailed-exitcode", "--json", "--fresh")
    assert plan.exit_code == 2, plan.output
    by_server = {s["server"]: s for s in json.loads(plan.stdout)["servers"]}
    assert by_server["sql01.contoso.com"]["status"] == "published"
    assert by_server["sql01.contoso.com"]["version"] == "1.0.0.1" and by_server["sql01.contoso.com"]["connections_removed"]
    assert by_server["pg01.contoso.com"]["status"] == "removed"
    assert by_server["web01.contoso.com"]["status"] == "unchanged"
    assert snapshot(out) == before  # the plan published, moved and recorded nothing


def test_plan_exits_1_when_a_server_fails(sample_emu, tmp_path) -> None:
    config = config_file(sample_emu, tmp_path, servers=["web01.contoso.com", "sql01"])
    sample_emu.add_fault(Fault(status=404, operation="generateMap", machine=machine_named(sample_emu.scenario, "sql01")))
    run = invoke(config, sample_emu, "plan", "--detailed-exitcode")
    assert run.exit_code == 1 and "! sql01.contoso.com: FAILED" in run.stdout


def expected_graph(emu, server: str) -> nx.MultiDiGraph:
    machine = machine_named(emu.scenario, server)
    body = {"startTime": "2026-11-23T10:00:00Z", "endTime": "2026-11-23T11:00:00Z", "map": emu.scenario.maps[machine]}
    return build_graph(parse_map_response(body, server=server, focus_machine=machine))


@pytest.mark.parametrize("fmt", ["json", "graphml", "dot", "mermaid"])
def test_graph_exports_the_graph_the_pack_is_drawn_from(sample_emu, tmp_path, fmt) -> None:
    config = config_file(sample_emu, tmp_path)
    target = tmp_path / f"web01.{fmt}"
    run = invoke(config, sample_emu, "graph", "WEB01", "--format", fmt, "--out", str(target))
    assert run.exit_code == 0, run.output
    expected = expected_graph(sample_emu, "web01.contoso.com")
    nodes = {str(n) for n in expected.nodes}
    edges = sorted((str(a), str(b)) for a, b in expected.edges())
    text = target.read_text(encoding="utf-8")
    if fmt == "json":
        read = nx.node_link_graph(json.loads(text), edges="edges")
        assert set(read.nodes) == nodes and sorted(read.edges()) == edges
    elif fmt == "graphml":
        read = nx.read_graphml(target, force_multigraph=True)
        assert set(read.nodes) == nodes and sorted(read.edges()) == edges
        assert {d["label"] for _, d in read.nodes(data=True)} == {d["label"] for _, d in expected.nodes(data=True)}
    elif fmt == "dot":
        assert all(f'"{a}" -> "{b}"' in text for a, b in edges) and text.startswith('digraph "web01.contoso.com"')
    else:
        assert text.startswith("flowchart LR\n")
        assert sum(1 for line in text.splitlines() if "-->" in line or "-.->" in line) == len(edges)
    again = tmp_path / f"again.{fmt}"
    assert invoke(config, sample_emu, "graph", "web01.contoso.com", "--format", fmt, "--out", str(again)).exit_code == 0
    # the same map gives the same bytes; only the window's times (graph attributes) move between runs
    moment = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00")
    assert moment.sub("T", again.read_text()) == moment.sub("T", text)


def test_graph_of_an_unknown_server_is_an_error(sample_emu, tmp_path) -> None:
    run = invoke(config_file(sample_emu, tmp_path), sample_emu, "graph", "nosuch01")
    assert run.exit_code == 2 and "nosuch01" in run.stderr


def test_every_run_leaves_a_status_file_and_prometheus_figures(sample_emu, tmp_path) -> None:
    config = config_file(sample_emu, tmp_path, servers=["web01.contoso.com", "sql01"])
    out = tmp_path / "out"
    sql = machine_named(sample_emu.scenario, "sql01")
    sample_emu.add_fault(Fault(status=404, operation="generateMap", machine=sql, count=1))
    assert invoke(config, sample_emu, "sync").exit_code == 1

    status = json.loads((out / "status.json").read_text())
    assert status["last_run"]["exit_code"] == 1 and status["interval_seconds"] == 3600
    by_server = {s["server"]: s for s in status["servers"]}
    assert by_server["sql01.contoso.com"]["status"] == "failed" and "404" in by_server["sql01.contoso.com"]["reason"]
    assert by_server["web01.contoso.com"]["status"] == "ok" and by_server["web01.contoso.com"]["last_success"]
    prom = (out / "servicemap-sync.prom").read_text().splitlines()
    samples = [line for line in prom if not line.startswith("#")]
    assert all(re.fullmatch(r'[a-z_]+(\{server="[^"]+"\})? -?\d+', line) for line in samples), samples
    assert 'servicemap_sync_server_failing{server="sql01.contoso.com"} 1' in samples
    assert "servicemap_sync_last_run_exit_code 1" in samples

    run = invoke(config, sample_emu, "sync", env={"AZURE_CLIENT_SECRET": "wrong"})
    assert run.exit_code == 2
    assert json.loads((out / "status.json").read_text())["last_run"]["exit_code"] == 2


def test_the_integration_pack_is_written_when_configured_and_only_when_it_changes(sample_emu, tmp_path) -> None:
    from servicemap_sync.mp.validate import validate_file

    config = config_file(sample_emu, tmp_path, servers=["web01.contoso.com"])
    config.write_text(config.read_text() + '\n[integration]\nhost = "ms01.contoso.com"\n'
                      'status_path = "\\\\\\\\files01\\\\sync\\\\status.json"\n', encoding="utf-8")
    pack = tmp_path / "out" / "ServiceMapSync.Integration.xml"
    assert invoke(config, sample_emu, "sync").exit_code == 0
    assert validate_file(pack) == [] and b"<Version>1.0.0.0</Version>" in pack.read_bytes()
    text = pack.read_text()
    assert "ms01.contoso.com" in text and "\\\\files01\\sync\\status.json" in text
    first = pack.stat().st_mtime_ns
    assert invoke(config, sample_emu, "sync").exit_code == 0
    assert pack.stat().st_mtime_ns == first  # unchanged: not rewritten
    assert invoke(config, sample_emu, "sync", "--interval-seconds", "5").exit_code == 2  # sync has no such flag
    config.write_text(config.read_text().replace('servers = ["web01.contoso.com"]',
                                                 'servers = ["web01.contoso.com"]\ninterval_seconds = 1800'))
    assert invoke(config, sample_emu, "sync").exit_code == 0
    assert b"<Version>1.0.0.1</Version>" in pack.read_bytes() and validate_file(pack) == []


def test_integration_needs_both_keys(tmp_path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[source]\nkind = "netstat"\nsnapshot_dir = "s"\n[integration]\nhost = "ms01"\n')
    run = invoke(config, None, "overrides")
    assert run.exit_code == 2 and "status_path" in run.stderr
