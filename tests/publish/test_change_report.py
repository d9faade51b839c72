"""The per-run change report, checked against the inputs given to it."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from servicemap_sync.errors import PublishError
from servicemap_sync.publish import ChangeReport, ServerChange, write_change_report

STARTED = datetime(2024, 5, 1, 10, 0, 0, tzinfo=timezone.utc)


def sample_changes() -> list[ServerChange]:
    return [
        ServerChange.compare(
            "web01.contoso.com", status="published", version="1.0.0.3", mp_id="SMS.web01",
            old_components={"W.P.iis", "W.P.sqlc"}, new_components={"W.P.iis", "W.P.redis", "W.P.nginx"},
            old_connections={"W.P.iis->S.P.sql:1433"}, new_connections={"W.P.iis->S.P.sql:1433", "W.P.nginx->W.P.redis:6379"},
            names={"W.P.iis": "IIS", "W.P.sqlc": "SQL client", "W.P.redis": "Redis", "W.P.nginx": "Nginx",
                   "S.P.sql": "sqlservr (sql01)"},
        ),
        ServerChange.compare("sql01.contoso.com", status="unchanged", version="1.0.0.9", mp_id="SMS.sql01",
                             old_components={"SQL"}, new_components={"SQL"}),
        ServerChange("app01.contoso.com", "failed", reason="Service Map answered 503\nafter 4 tries"),
        ServerChange.compare("db02.contoso.com", status="published", version="1.0.0.0", mp_id="SMS.db02",
                             new_components={"Postgres"}, old_connections={"db02->nas:2049", "db02->bk:22"}),
    ]


def test_compare_finds_what_was_added_and_removed():
    web = sample_changes()[0]
    assert web.components_added == ("Nginx", "Redis")
    assert web.components_removed == ("SQL client",)
    assert web.connections_added == ("Nginx -> Redis :6379",)
    assert web.connections_removed == ()


def test_add_result_takes_a_results_change_or_else_its_status():
    published = ServerChange("web01", "published", version="1.0.0.1", mp_id="SMS.web01",
                             components_added=("b", "a", "a"), connections_removed=("x->y:80",))
    results = [
        SimpleNamespace(server="web01", status="published", version="1.0.0.1", mp_id="SMS.web01", reason=None,
                        change=published),
        SimpleNamespace(server="app01", status="failed", version=None, mp_id=None, reason="503", change=None),
    ]
    with ChangeReport() as report:
        for result in results:
            report.add_result(result)
        app, web = report.changes
    assert web == published and web.components_added == ("a", "b")
    assert app == ServerChange("app01", "failed", reason="503")


def test_an_unknown_status_is_refused():
    with pytest.raises(ValueError, match="exported"):
        ServerChange("web01", "exported")


def test_json_report_holds_every_server_sorted(tmp_path):
    json_path, _ = write_change_report(ChangeReport(tuple(sample_changes())), tmp_path, run_id=7, started_at=STARTED)
    assert json_path == tmp_path / "reports" / "changes-7.json"
    document = json.loads(json_path.read_text())
    assert document["run_id"] == 7
    assert document["started_at"] == "2024-05-01T10:00:00Z"
    assert document["counts"] == {"published": 2, "unchanged": 1, "failed": 1, "removed": 0}
    assert document["interrupted"] is False
    assert [s["server"] for s in document["servers"]] == [
        "app01.contoso.com", "db02.contoso.com", "sql01.contoso.com", "web01.contoso.com"]
    assert document["servers"][1] == {
        "server": "db02.contoso.com", "status": "published", "version": "1.0.0.0", "mp_id": "SMS.db02",
        "reason": None, "components_added": ["Postgres"], "components_removed": [],
        "connections_added": [], "connections_removed": ["db02 -> bk :22", "db02 -> nas :2049"], "notes": [],
    }
    assert document["servers"][0]["reason"] == "Service Map answered 503\nafter 4 tries"
    text = json_path.read_text()
    assert text.endswith("}\n") and '\n  "counts": {\n    "failed": 1,' in text  # indent 2, sorted keys


def test_text_report_lists_changed_and_failed_servers(tmp_path):
    _, text_path = write_change_report(ChangeReport(tuple(sample_changes())), tmp_path, run_id=7, started_at=STARTED)
    assert text_path == tmp_path / "reports" / "changes-7.txt"
    assert text_path.read_text().splitlines() == [
        "servicemap-sync run 7, started 2024-05-01T10:00:00Z: 2 published, 1 unchanged, 1 failed, 0 removed",
        "app01.contoso.com  FAILED  Service Map answered 503 after 4 tries",
        "db02.contoso.com   v1.0.0.0  +1 component, -2 connections",
        "    + component Postgres",
        "    - connection db02 -> bk :22",
        "    - connection db02 -> nas :2049",
        "web01.contoso.com  v1.0.0.3  +2 components, -1 component, +1 connection",
        "    + component Nginx",
        "    + component Redis",
        "    - component SQL client",
        "    + connection Nginx -> Redis :6379",
    ]


def test_a_run_without_changes_says_so(tmp_path):
    changes = (ServerChange("web01", "unchanged", version="1.0.0.1"),
               ServerChange("sql01", "published", version="1.0.0.2"))
    _, text_path = write_change_report(ChangeReport(changes[:1]), tmp_path, run_id=1, started_at=STARTED)
    assert text_path.read_text().splitlines()[1:] == ["no management pack changed"]
    _, text_path = write_change_report(ChangeReport(changes), tmp_path, run_id=2, started_at=STARTED)
    assert text_path.read_text().splitlines()[1:] == ["sql01  v1.0.0.2  no component or connection changes"]


def test_the_same_inputs_in_any_order_give_the_same_bytes(tmp_path):
    changes = sample_changes()
    first = write_change_report(ChangeReport(tuple(changes)), tmp_path / "a", run_id=3, started_at=STARTED)
    second = write_change_report(ChangeReport(tuple(reversed(changes))), tmp_path / "b", run_id=3, started_at=STARTED)
    for left, right in zip(first, second):
        assert left.read_bytes() == right.read_bytes()


def test_leftovers_of_a_crashed_report_are_removed(tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / ".changes-4.json.abc123.tmp").write_bytes(b"partial")
    write_change_report(ChangeReport(), tmp_path, run_id=5, started_at=STARTED)
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["changes-5.json", "changes-5.txt"]


def test_an_unwritable_reports_folder_is_a_publish_error(tmp_path):
    (tmp_path / "reports").write_bytes(b"a file where the folder should be")
    with pytest.raises(PublishError, match=f"cannot create {tmp_path / 'reports'}"):
        write_change_report(ChangeReport(), tmp_path, run_id=1, started_at=STARTED)


def test_the_streamed_json_is_the_bytes_json_dumps_gives_for_the_whole_document(tmp_path):
    odd = ServerChange("Ünïcode «srv»", "failed", reason='quote " and\nnewline')
    for changes in ([], sample_changes(), [odd, *sample_changes()]):
        with ChangeReport(changes) as report:
            json_path, _ = write_change_report(report, tmp_path, run_id=9, started_at=STARTED)
            servers = sorted(changes, key=lambda c: (c.server.casefold(), c.server))
            document = {"run_id": 9, "started_at": "2024-05-01T10:00:00Z", "counts": report.counts(),
                        "interrupted": False, "servers": [c.as_dict() for c in servers]}
        expected = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        assert json_path.read_bytes() == expected.encode("utf-8")


def test_changes_come_back_from_the_spool_as_they_went_in_sorted_by_server():
    changes = [ServerChange("Ünïcode «srv»", "failed", reason="a\nb"), *sample_changes()]
    with ChangeReport(changes) as report:
        assert list(report.changes) == sorted(changes, key=lambda c: (c.server.casefold(), c.server))
        assert list(report.changes) == list(report.changes)  # reading does not consume


def test_removed_servers_get_a_removal_script_and_an_interrupted_run_says_so(tmp_path):
    removed = ServerChange("build01.contoso.com", "removed", version="1.0.0.2", mp_id="SMS.build01.contoso.com",
                           reason="SMS.build01.contoso.com.xml moved to removed/")
    with ChangeReport([removed, *sample_changes()]) as report:
        report.interrupted = True
        paths = write_change_report(report, tmp_path, run_id=4, started_at=STARTED)
    assert [p.name for p in paths] == ["changes-4.json", "changes-4.txt", "remove-4.ps1"]
    script = paths[2].read_text().splitlines()
    assert [line for line in script if "Remove-SCOMManagementPack" in line and not line.startswith("#")] == [
        "Get-SCOMManagementPack -Name 'SMS.build01.contoso.com' | Remove-SCOMManagementPack  # build01.contoso.com"]
    text = paths[1].read_text()
    assert "1 removed (interrupted" in text.splitlines()[0]
    assert "build01.contoso.com  REMOVED  left the Servers Group" in text
    assert json.loads(paths[0].read_text())["interrupted"] is True


def test_old_reports_are_pruned_and_the_run_log_is_kept(tmp_path):
    import os

    from servicemap_sync.publish import append_run_log, prune_reports

    old = write_change_report(ChangeReport(sample_changes()), tmp_path, run_id=1, started_at=STARTED)
    new = write_change_report(ChangeReport(sample_changes()), tmp_path, run_id=2, started_at=STARTED)
    log_path = append_run_log(tmp_path, "run 1")
    append_run_log(tmp_path, "run 2\n")
    now = datetime(2024, 6, 1, tzinfo=timezone.utc)
    for path in (*old, log_path):
        os.utime(path, (now.timestamp() - 31 * 86400,) * 2)
    for path in new:
        os.utime(path, (now.timestamp() - 29 * 86400,) * 2)
    assert prune_reports(tmp_path, keep_days=0, now=now) == []
    assert prune_reports(tmp_path, keep_days=30, now=now) == sorted(old)
    assert all(p.exists() for p in new) and not any(p.exists() for p in old)
    assert log_path.read_text() == "run 1\nrun 2\n"
