"""The snapshot folder through NetstatSource: window, merging, peers, and every fault failing only its server."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from servicemap_sync.errors import ConfigError, SourceError
from servicemap_sync.model import DISCOVERED, MatchedServer
from servicemap_sync.sources.netstat import NetstatSource

START = datetime(2024, 5, 6, 7, 0, tzinfo=timezone.utc)
END = datetime(2024, 5, 6, 8, 0, tzinfo=timezone.utc)

WEB = "web02.contoso.com"
APP = "app02.contoso.com"
WEB_0705 = ("LISTEN 0 511 *:80 *:* users:((\"nginx\",pid=812,fd=6))\n"
            "ESTAB 0 0 [::ffff:10.0.1.12]:80 [::ffff:192.0.2.7]:51234 users:((\"nginx\",pid=812,fd=9))\n"
            "ESTAB 0 0 10.0.1.12:40001 10.0.2.22:8080 users:((\"nginx\",pid=812,fd=10))\n")
WEB_0740 = ("LISTEN 0 511 *:80 *:* users:((\"nginx\",pid=812,fd=6))\n"
            "ESTAB 0 0 10.0.1.12:40002 203.0.113.10:443 users:((\"nginx\",pid=812,fd=11))\n")
APP_0706 = ("LISTEN 0 100 *:8080 *:* users:((\"java\",pid=77,fd=3))\n"
            "ESTAB 0 0 [::ffff:10.0.2.22]:8080 [::ffff:10.0.1.12]:40001 users:((\"java\",pid=77,fd=9))\n"
            "ESTAB 0 0 127.0.0.1:45000 127.0.0.1:6379 users:((\"java\",pid=77,fd=12))\n"
            "LISTEN 0 100 127.0.0.1:6379 0.0.0.0:* users:((\"redis-server\",pid=55,fd=6))\n")


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "snapshots"
    root.mkdir()
    write(root, f"{WEB}__20240506T070500Z.ss.txt", WEB_0705)
    write(root, f"{WEB}__20240506T074000Z.ss.txt", WEB_0740)
    write(root, f"{APP}__20240506T070600Z.ss.txt", APP_0706)
    write(root, f"{APP}__20240506T090000Z.ss.txt", "garbage outside the window\n")
    write(root, "README.txt", "not a snapshot\n")
    (tmp_path / "hosts").write_text(
        "# peers\n203.0.113.10  api.payments.example\n10.0.2.22 app02.contoso.com app02\n")
    return root


def fetch(source: NetstatSource, host: str, start: datetime = START, end: datetime = END):
    machine = next(m for m in source.list_machines(start=start, end=end) if m.fqdn == host)
    return source.fetch(MatchedServer(host, machine), start=start, end=end).server_map


def edges(server_map) -> set[tuple[str, str, int]]:
    label = {**{p.key: p.label for p in server_map.processes}, **{g.key: "clients" for g in server_map.client_groups}}
    return {(label[c.source], label[c.destination], c.server_port.port_number) for c in server_map.connections}


def test_window_selects_files_by_capture_time_and_merges_them(folder: Path) -> None:
    source = NetstatSource(folder, folder.parent / "hosts")
    machines = {m.fqdn: m for m in source.list_machines(start=START, end=END)}
    assert set(machines) == {WEB, APP}  # the 09:00 garbage is outside the window and never read
    assert (machines[WEB].os_family, machines[WEB].computer_name) == ("linux", "web02")
    web = fetch(source, WEB)
    assert edges(web) == {("clients", "nginx", 80), ("nginx", "java", 8080), ("nginx", "Port 443", 443)}
    peers = {m.label: m for m in web.machines}
    assert peers["api.payments.example"].monitoring_state == DISCOVERED
    assert peers[APP].is_monitored
    only_first = fetch(NetstatSource(folder, folder.parent / "hosts"), WEB, end=datetime(2024, 5, 6, 7, 30,
                                                                                          tzinfo=timezone.utc))
    assert edges(only_first) == {("clients", "nginx", 80), ("nginx", "java", 8080)}


def test_a_peer_calling_in_is_that_server_and_process_and_loopback_is_dropped(folder: Path) -> None:
    app = fetch(NetstatSource(folder), APP)
    assert edges(app) == {("nginx", "java", 8080)}  # named by the peer's address alone, without a hosts file
    assert {p.label for p in app.processes} >= {"java", "redis-server", "nginx"}
    assert [p.port_number for p in app.ports] == [8080]  # the loopback-only 6379 is no port


def test_same_snapshots_give_equal_maps(folder: Path) -> None:
    first = fetch(NetstatSource(folder, folder.parent / "hosts"), WEB)
    again = fetch(NetstatSource(folder, folder.parent / "hosts"), WEB)
    assert first == again
    assert [c.id for c in first.connections] == sorted(c.id for c in first.connections)


BINARY = bytes(range(256)) * 4


@pytest.mark.parametrize(("name", "content", "line", "what"), [
    ("empty", b"", 1, "empty"),
    ("blank", b"\n\n  \n", 1, "empty"),
    ("truncated", WEB_0705[:-25].encode(), 3, "cut off"),
    ("binary", b"LISTEN 0 1 *:80 *:*\n" + BINARY, 3, "not text"),
    ("nul", b"LISTEN 0 1 *:80 *:*\nESTAB\x00\x00\n", 2, "NUL"),
    ("wrong columns", b"LISTEN 0 1 *:80\n", 1, "4 columns"),
    ("foreign", b'{"kind": "machine", "id": "x", "name": "y"}\n', 1, "unknown TCP state"),
    ("windows output in an ss file", b"\r\nActive Connections\r\n", 2, "columns"),
])
def test_a_bad_file_fails_its_server_alone_naming_file_and_line(
        folder: Path, name: str, content: bytes, line: int, what: str) -> None:
    bad = write(folder, f"{WEB}__20240506T071000Z.ss.txt", content)
    source = NetstatSource(folder, folder.parent / "hosts")
    with pytest.raises(SourceError, match=what) as caught:
        fetch(source, WEB)
    message = str(caught.value)
    assert str(bad) in message and f"line {line}:" in message, message
    assert "fix or remove the file" in message and caught.value.server == WEB
    app = fetch(source, APP)  # the other server is drawn, and web02 is no longer a known peer of it
    assert edges(app) == {("clients", "java", 8080)}


def test_a_csv_with_wrong_columns_fails_its_server(folder: Path) -> None:
    bad = write(folder, f"{WEB}__20240506T071000Z.csv", "Computername,PID,ProcessName\nWEB02,1,nginx\n")
    with pytest.raises(SourceError, match="line 1: the header lacks") as caught:
        fetch(NetstatSource(folder), WEB)
    assert str(bad) in str(caught.value)
    assert fetch(NetstatSource(folder), APP).connections


@pytest.mark.parametrize("target", ["absolute", "dotdot"])
def test_a_link_out_of_the_folder_is_refused(folder: Path, target: str) -> None:
    outside = write(folder.parent, "elsewhere.ss.txt", WEB_0740)
    link = folder / f"{WEB}__20240506T071000Z.ss.txt"
    os.symlink(outside if target == "absolute" else Path("..") / outside.name, link)
    with pytest.raises(SourceError, match="leads outside the snapshot folder") as caught:
        fetch(NetstatSource(folder), WEB)
    assert str(link) in str(caught.value)
    assert fetch(NetstatSource(folder), APP).connections


def test_a_link_inside_the_folder_is_read(folder: Path) -> None:
    kept = folder / "archive"
    kept.mkdir()
    write(kept, "web.txt", WEB_0740)
    os.symlink(Path("archive") / "web.txt", folder / f"{WEB}__20240506T071000Z.ss.txt")
    assert ("nginx", "Port 443", 443) in edges(fetch(NetstatSource(folder), WEB))


def test_a_server_without_snapshots_in_the_window_is_named(folder: Path) -> None:
    source = NetstatSource(folder)
    machine = next(m for m in source.list_machines(start=START, end=END) if m.fqdn == APP)
    later = datetime(2024, 5, 6, 7, 30, tzinfo=timezone.utc)
    with pytest.raises(SourceError, match="no snapshot in .* captured between"):
        source.fetch(MatchedServer(APP, machine), start=later, end=END)


def test_a_missing_folder_or_bad_hosts_file_stops_the_run(folder: Path) -> None:
    with pytest.raises(ConfigError, match="snapshot_dir .*not a folder"):
        NetstatSource(folder / "nope").list_machines(start=START, end=END)
    hosts = write(folder.parent, "bad-hosts", "10.0.0.1 ok\nnot-an-address name\n")
    with pytest.raises(ConfigError, match=r"bad-hosts: line 2: 'not-an-address' is not an IP address"):
        NetstatSource(folder, hosts).list_machines(start=START, end=END)
