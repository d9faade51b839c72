"""The SQLite state database: migrations, round trips, and errors as StateError."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from servicemap_sync.errors import StateError
from servicemap_sync.publish import StateStore
from servicemap_sync.publish.migrations import MIGRATIONS, Migration, migrate

T0 = datetime(2024, 5, 1, 10, 0, 0, tzinfo=timezone.utc)


def migration_rows(path: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT number, name FROM schema_migrations ORDER BY number").fetchall()


def publish(store: StateStore, server: str = "web01.contoso.com", **overrides) -> None:
    values = dict(machine="m-1", os_family="windows", mp_id="SMS.web01", version="1.0.0.0", content_hash="h0",
                  components=["c2", "c1", "c2"], connections=["a->b:80"], at=T0)
    values.update(overrides)
    store.record_published(server, **values)


def test_migrations_are_recorded_once_however_often_the_file_is_opened(tmp_path):
    path = tmp_path / "state.db"
    StateStore(path).close()
    StateStore(path).close()
    assert migration_rows(path) == [(1, "servers"), (2, "runs"), (3, "machine identity and removal"), (4, "box warnings"), (5, "diagram stability")]


def test_the_database_uses_the_wal_journal(tmp_path):
    path = tmp_path / "state.db"
    with StateStore(path):
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_older_database_gets_the_missing_migrations_in_order(tmp_path):
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, path, MIGRATIONS[:1]) == [1]
    conn.execute("INSERT INTO servers (server, version) VALUES ('web01', '1.0.0.4')")
    conn.close()
    with StateStore(path) as store:
        assert store.get("web01").version == "1.0.0.4"
        assert store.start_run("sync", at=T0) == 1
    assert [n for n, _ in migration_rows(path)] == [1, 2, 3, 4, 5]


def test_a_failing_migration_is_rolled_back_and_not_recorded(tmp_path):
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    broken = (*MIGRATIONS[:2], Migration(3, "broken", ("CREATE TABLE half (a)", "THIS IS NOT SQL")))
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, path, broken)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert "half" not in tables and {"servers", "runs"} <= tables
    assert [n for n, _ in migration_rows(path)] == [1, 2]


def test_a_database_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "state.db"
    StateStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_migrations (number, name) VALUES (99, 'future')")
    with pytest.raises(StateError, match=r"schema version 99, newer .*upgrade servicemap-sync"):
        StateStore(path)


def test_a_file_that_is_not_sqlite_gives_state_error_naming_it(tmp_path):
    path = tmp_path / "state.db"
    path.write_bytes(b"this is a text file, not a database\n" * 200)
    with pytest.raises(StateError) as caught:
        StateStore(path)
    message = str(caught.value)
    assert f"state database {path} is not a SQLite database" in message
    assert "move it away or point output.state_path elsewhere" in message
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


def test_a_damaged_sqlite_file_gives_state_error(tmp_path):
    path = tmp_path / "state.db"
    with StateStore(path) as store:
        for i in range(300):
            publish(store, f"server{i:03}.contoso.com", components=[f"component-{i}-{j}" for j in range(20)])
    data = bytearray(path.read_bytes())
    assert len(data) > 3 * 4096
    data[4096:len(data) - 4096] = b"\xa5" * (len(data) - 8192)
    path.write_bytes(bytes(data))
    with pytest.raises(StateError, match=str(path)) as caught:
        with StateStore(path) as store:
            store.all()
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


def test_a_folder_in_place_of_the_file_gives_state_error(tmp_path):
    path = tmp_path / "state.db"
    path.mkdir()
    with pytest.raises(StateError, match=f"state database {path} cannot be opened"):
        StateStore(path)


def test_the_folder_of_the_database_is_created(tmp_path):
    path = tmp_path / "var" / "lib" / "state.db"
    with StateStore(path) as store:
        assert store.all() == []
    assert path.is_file()


def test_published_state_round_trips_and_survives_reopening(tmp_path):
    path = tmp_path / "state.db"
    with StateStore(path) as store:
        publish(store, at=datetime(2024, 5, 1, 12, 30, 15, 999, tzinfo=timezone(timedelta(hours=2))))
    with StateStore(path) as store:
        state = store.get("web01.contoso.com")
    assert state.server == "web01.contoso.com"
    assert (state.machine, state.os_family, state.mp_id) == ("m-1", "windows", "SMS.web01")
    assert (state.version, state.content_hash) == ("1.0.0.0", "h0")
    assert state.published_at == state.last_success == "2024-05-01T10:30:15Z"
    assert state.components == ("c1", "c2")
    assert state.connections == ("a->b:80",)
    assert (state.last_failure, state.last_failure_reason) == (None, None)
    assert state.last_status == "published" and not state.failing


def test_servers_are_looked_up_ignoring_case_and_keep_the_latest_spelling(tmp_path):
    with StateStore(tmp_path / "state.db") as store:
        publish(store, "WEB01.contoso.com")
        publish(store, "web01.CONTOSO.com", version="1.0.0.1")
        assert store.get("Web01.Contoso.Com").version == "1.0.0.1"
        assert [s.server for s in store.all()] == ["web01.CONTOSO.com"]


def test_unknown_server_is_none(tmp_path):
    with StateStore(tmp_path / "state.db") as store:
        assert store.get("nobody") is None


def test_a_failure_keeps_the_last_published_version_and_hash(tmp_path):
    with StateStore(tmp_path / "state.db") as store:
        publish(store, version="1.0.0.3", content_hash="h3")
        store.record_failure("web01.contoso.com", "Service Map answered 500", at=T0 + timedelta(hours=1))
        state = store.get("web01.contoso.com")
    assert (state.version, state.content_hash, state.components) == ("1.0.0.3", "h3", ("c1", "c2"))
    assert state.last_success == "2024-05-01T10:00:00Z"
    assert state.last_failure == "2024-05-01T11:00:00Z"
    assert state.last_failure_reason == "Service Map answered 500"
    assert state.failing


def test_a_failure_of_a_never_published_server_is_recorded(tmp_path):
    with StateStore(tmp_path / "state.db") as store:
        store.record_failure("ghost.contoso.com", "no Service Map machine matches", at=T0)
        state = store.get("ghost.contoso.com")
    assert state.failing and state.version is None and state.machine is None
    assert state.components == () and state.connections == ()


def test_unchanged_is_a_success_that_keeps_the_published_data(tmp_path):
    with StateStore(tmp_path / "state.db") as store:
        publish(store, version="1.0.0.3")
        store.record_failure("web01.contoso.com", "timeout", at=T0)
        store.record_unchanged("web01.contoso.com", machine="m-2", os_family="linux", at=T0)
        state = store.get("web01.contoso.com")
    # Same second as the failure: the latest outcome still decides.
    assert not state.failing and state.last_status == "unchanged"
    assert (state.machine, state.os_family, state.version, state.published_at) == ("m-2", "linux", "1.0.0.3", "2024-05-01T10:00:00Z")
    assert state.last_failure_reason == "timeout"


def test_all_is_sorted_by_server(tmp_path):
    with StateStore(tmp_path / "state.db") as store:
        for name in ["sql01", "Web01", "app01"]:
            store.record_unchanged(name, machine=None, os_family=None, at=T0)
        assert [s.server for s in store.all()] == ["app01", "sql01", "Web01"]


def test_runs_are_recorded_and_listed_newest_first(tmp_path):
    with StateStore(tmp_path / "state.db") as store:
        first = store.start_run("sync", at=T0)
        store.finish_run(first, at=T0 + timedelta(seconds=42), synced=2, unchanged=3, failed=1, written=2, exit_code=1)
        second = store.start_run("rebuild", at=T0 + timedelta(hours=1))
        runs = store.runs()
        assert second > first
        assert [r.id for r in runs] == [second, first]
        assert runs[0].command == "rebuild" and runs[0].finished_at is None and runs[0].exit_code is None
        done = runs[1]
        assert (done.started_at, done.finished_at) == ("2024-05-01T10:00:00Z", "2024-05-01T10:00:42Z")
        assert (done.synced, done.unchanged, done.failed, done.written, done.exit_code) == (2, 3, 1, 2, 1)
        assert [r.id for r in store.runs(limit=1)] == [second]


def test_finishing_an_unknown_run_is_an_error(tmp_path):
    with StateStore(tmp_path / "state.db") as store:
        with pytest.raises(StateError, match="no run 7"):
            store.finish_run(7, at=T0, synced=0, unchanged=0, failed=0, written=0, exit_code=0)


def test_naive_times_are_refused(tmp_path):
    with StateStore(tmp_path / "state.db") as store:
        with pytest.raises(ValueError, match="no time zone"):
            store.start_run("sync", at=datetime(2024, 5, 1, 10, 0, 0))


def test_a_closed_store_raises_state_error(tmp_path):
    store = StateStore(tmp_path / "state.db")
    store.close()
    with pytest.raises(StateError):
        store.get("web01")


def test_worker_threads_can_share_one_store(tmp_path):
    errors: list[BaseException] = []
    with StateStore(tmp_path / "state.db") as store:
        def work(n: int) -> None:
            try:
                for i in range(20):
                    publish(store, f"s{n}-{i}.contoso.com")
                    store.get(f"s{n}-{i}.contoso.com")
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(store.all()) == 80


def test_the_stability_history_is_read_on_its_own_never_with_every_server(tmp_path):
    with StateStore(tmp_path / "state.db") as store:
        store.record_published("web01", machine="m-1", os_family="windows", mp_id="S.web01", version="1.0.0.0",
                               content_hash="h", components=["a"], connections=[], at=T0,
                               history={"version": 1, "items": {"node x": {"seen": 1}}})
        store.record_unchanged("sql01", machine="m-2", os_family="linux", at=T0)
        assert store.history("web01") == {"version": 1, "items": {"node x": {"seen": 1}}}
        assert store.history("sql01") is None and store.history("nosuch") is None
        assert not any(hasattr(s, "history") for s in store.all())  # listing servers loads no history
