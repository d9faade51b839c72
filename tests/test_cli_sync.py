"""sync, rebuild, export, overrides and validate through the real CLI against the emulator."""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime
from pathlib import Path

from cli_harness import config_file, invoke
from scenario_lookup import drawn_name, machine_named
from test_overrides import override_mp, rule_override

from servicemap_sync.mp.validate import validate_file
from servicemap_sync.publish import StateStore

def overrides_file(directory: Path, *, window: int) -> Path:
    """An exported override MP setting IntervalSeconds 1800 and TimeWindowMinutes ``window``."""
    path = directory / "overrides.xml"
    path.write_text(override_mp(rule_override("Contoso.Override.Interval", "IntervalSeconds", "1800")
                                + rule_override("Contoso.Override.Window", "TimeWindowMinutes", str(window))),
                    encoding="utf-8")
    return path


def published(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.xml"))}


def versions(state_path: Path) -> dict[str, str]:
    with StateStore(state_path) as state:
        return {s.server: s.version for s in state.all()}


def test_second_sync_writes_nothing_and_one_changed_server_is_republished(sample_emu, tmp_path) -> None:
    config, out = config_file(sample_emu, tmp_path), tmp_path / "out"
    first = invoke(config, sample_emu, "sync")
    assert first.exit_code == 0, first.output
    files = published(out)
    assert len(files) == len(sample_emu.scenario.servers_group) == 9
    assert all(validate_file(out / name) == [] for name in files)
    v1 = versions(tmp_path / "out" / "state.db")
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.xml")}

    second = invoke(config, sample_emu, "sync")
    assert second.exit_code == 0 and "0 synced, 9 unchanged" in second.output
    assert published(out) == files
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.xml")} == mtimes
    assert versions(out / "state.db") == v1

    # sql01 loses its connections from one client: only its management pack changes.
    sql = machine_named(sample_emu.scenario, "sql01.contoso.com")
    changed = copy.deepcopy(sample_emu.scenario.maps[sql])
    changed["edges"]["connections"] = changed["edges"]["connections"][1:]
    sample_emu.set_map(sql, changed)
    third = invoke(config, sample_emu, "sync", "--fresh")  # at once: no waiting for the arrow to retire
    assert third.exit_code == 0 and "1 synced, 8 unchanged" in third.output
    after = published(out)
    assert [n for n in files if after[n] != files[n]] == ["ServiceMapSync.sql01.contoso.com.xml"]
    v3 = versions(out / "state.db")
    assert {s for s in v3 if v3[s] != v1[s]} == {"sql01.contoso.com"}
    assert v3["sql01.contoso.com"] == "1.0.0.1" and v1["sql01.contoso.com"] == "1.0.0.0"
    assert validate_file(out / "ServiceMapSync.sql01.contoso.com.xml") == []
    report = json.loads(sorted((out / "reports").glob("changes-*.json"), key=lambda p: p.stat().st_mtime_ns)[-1].read_text())
    by_server = {entry["server"]: entry for entry in report["servers"]}
    assert set(by_server) == {drawn_name(sample_emu.scenario, s) for s in sample_emu.scenario.servers_group}
    sql_change = by_server.pop("sql01.contoso.com")
    assert sql_change["status"] == "published" and sql_change["version"] == "1.0.0.1"
    # an arrow key is "<from class>-><to class>" plus ":<port>" when Service Map gave one
    assert sql_change["connections_removed"] and all(
        re.fullmatch(r"[^:]+->[^:]+(:[0-9]+)?", key) for key in sql_change["connections_removed"])
    assert sql_change["connections_added"] == [] and sql_change["components_added"] == []
    for entry in by_server.values():
        assert entry["status"] == "unchanged", entry
        assert not any(entry[k] for k in ("components_added", "components_removed", "connections_added",
                                          "connections_removed")), entry


def test_without_a_terminal_json_logs_carry_each_server_and_the_summary(sample_emu, tmp_path) -> None:
    config = config_file(sample_emu, tmp_path)
    run = invoke(config, sample_emu, "--log-format", "json", "sync")
    assert run.exit_code == 0, run.output
    records = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    per_server = {r["server"]: r for r in records if r.get("status")}
    assert set(per_server) == {drawn_name(sample_emu.scenario, s) for s in sample_emu.scenario.servers_group}
    assert {r["status"] for r in per_server.values()} == {"published"}
    assert all(Path(r["path"]).is_file() and r["version"] for r in per_server.values())
    [summary] = [r for r in records if r.get("command") == "sync"]
    assert (summary["synced"], summary["unchanged"], summary["failed"]) == (9, 0, 0)


def test_rebuild_republishes_one_server_with_a_higher_version(sample_emu, tmp_path) -> None:
    config, out = config_file(sample_emu, tmp_path), tmp_path / "out"
    assert invoke(config, sample_emu, "sync").exit_code == 0
    before = published(out)
    result = invoke(config, sample_emu, "rebuild", "WEB01.contoso.com")
    assert result.exit_code == 0, result.output
    after = published(out)
    assert [n for n in before if after[n] != before[n]] == ["ServiceMapSync.web01.contoso.com.xml"]
    assert b"<Version>1.0.0.1</Version>" in after["ServiceMapSync.web01.contoso.com.xml"]
    assert versions(out / "state.db")["web01.contoso.com"] == "1.0.0.1"


def test_export_leaves_state_and_published_files_untouched(sample_emu, tmp_path) -> None:
    config, out = config_file(sample_emu, tmp_path), tmp_path / "out"
    assert invoke(config, sample_emu, "sync").exit_code == 0
    state_bytes = (out / "state.db").read_bytes()
    listing = sorted(p.relative_to(out) for p in out.rglob("*"))
    files = published(out)
    review = tmp_path / "review"
    result = invoke(config, sample_emu, "export", "--server", "sql01.contoso.com", "--server", "app01", "--out", str(review))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in review.glob("*.xml")) == ["ServiceMapSync.app01.contoso.com.xml",
                                                            "ServiceMapSync.sql01.contoso.com.xml"]
    assert sorted(p.name for p in review.glob("*.html")) == [  # a review page per pack, and their index
        "ServiceMapSync.app01.contoso.com.html", "ServiceMapSync.sql01.contoso.com.html", "index.html"]
    assert all(validate_file(p) == [] for p in review.glob("*.xml"))
    assert published(out) == files
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == listing
    assert (out / "state.db").read_bytes() == state_bytes


def test_override_mp_sets_the_window_and_shows_in_overrides(sample_emu, tmp_path) -> None:
    overrides_file(tmp_path, window=30)
    config = config_file(sample_emu, tmp_path, servers=["sql01.contoso.com"], override_mp="overrides.xml")
    shown = invoke(config, sample_emu, "overrides")
    assert shown.exit_code == 0
    lines = {line.split()[0]: line for line in shown.output.splitlines()}
    assert lines["IntervalSeconds"].split()[1] == "1800" and "Contoso.Override.Interval" in lines["IntervalSeconds"]
    assert lines["TimeWindowMinutes"].split()[1] == "30" and "Contoso.Override.Window" in lines["TimeWindowMinutes"]
    assert lines["TimeoutSeconds"].split()[1] == "300" and "default" in lines["TimeoutSeconds"]

    assert invoke(config, sample_emu, "sync").exit_code == 0
    windows = [datetime.fromisoformat(r.json_body["endTime"]) - datetime.fromisoformat(r.json_body["startTime"])
               for r in sample_emu.requests if r.operation == "generateMap"]
    assert [w.total_seconds() for w in windows] == [30 * 60]  # the one server, over the override's window
    flag = invoke(config, sample_emu, "overrides", "--time-window-minutes", "15")
    assert "TimeWindowMinutes  15" in flag.output and "command-line flag" in flag.output


def test_override_out_of_range_stops_the_start_naming_the_override(sample_emu, tmp_path) -> None:
    overrides_file(tmp_path, window=90)
    config = config_file(sample_emu, tmp_path, override_mp="overrides.xml")
    result = invoke(config, sample_emu, "sync")
    assert result.exit_code == 2
    assert "Contoso.Override.Window" in result.output and "1..60" in result.output
    assert not [r for r in sample_emu.requests if r.operation != "discovery"]


def test_bad_secret_exits_2_without_the_secret(sample_emu, tmp_path) -> None:
    config = config_file(sample_emu, tmp_path)
    wrong = "Wr0ng~" + sample_emu.client_secret[::-1]
    result = invoke(config, sample_emu, "sync", env={"AZURE_CLIENT_SECRET": wrong})
    assert result.exit_code == 2
    assert sample_emu.client_id in result.output and sample_emu.tenant_id in result.output
    assert wrong not in result.output and sample_emu.client_secret not in result.output
    assert not list((tmp_path / "out").glob("*.xml"))
    # the run is on record as stopped (exit 2), with no change report claiming "nothing changed"
    with StateStore(tmp_path / "out" / "state.db") as state:
        [record] = state.runs()
    assert (record.command, record.exit_code, record.synced) == ("sync", 2, 0) and record.finished_at
    assert not (tmp_path / "out" / "reports").exists() or not list((tmp_path / "out" / "reports").iterdir())


def test_a_server_whose_map_keeps_failing_is_reported_and_the_others_come_through(sample_emu, tmp_path) -> None:
    from servicemap_sync.emulator import Fault

    sql = machine_named(sample_emu.scenario, "sql01.contoso.com")
    sample_emu.add_fault(Fault(kind="status", status=500, operation="generateMap", machine=sql))
    config = config_file(sample_emu, tmp_path, servers=[*sample_emu.scenario.servers_group, "nosuch01.contoso.com"])
    result = invoke(config, sample_emu, "sync")
    assert result.exit_code == 1
    assert "FAILED sql01.contoso.com: generateMap for sql01.contoso.com: HTTP 500" in result.output
    assert "FAILED nosuch01.contoso.com: no Service Map machine" in result.output
    files = published(tmp_path / "out")
    assert len(files) == 8 and "ServiceMapSync.sql01.contoso.com.xml" not in files
    servers = invoke(config, sample_emu, "servers").output
    assert "sql01.contoso.com" in servers and "HTTP 500" in servers


def test_validate_reports_problems_with_file_and_element(tmp_path) -> None:
    bad = tmp_path / "Wrong.Name.xml"
    bad.write_text('<ManagementPack ContentReadable="True" SchemaVersion="2.0"><Manifest><Identity><ID>Contoso.X</ID>'
                   '<Version>1.0</Version></Identity><Name>x</Name></Manifest></ManagementPack>', encoding="utf-8")
    result = invoke(tmp_path / "unused.toml", None, "validate", str(bad))
    assert result.exit_code == 1
    assert str(bad) in result.output and "Version" in result.output and "filename" in result.output
