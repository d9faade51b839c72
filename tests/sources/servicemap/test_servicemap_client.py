"""The real sign-in and HTTP path against the emulator over HTTPS, checked against the spec."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest

from servicemap_sync.emulator import Fault
from servicemap_sync.errors import ConfigError, ServiceMapResponseError
from servicemap_sync.sources.matching import match_servers
from servicemap_sync.sources.servicemap.session import open_session
from servicemap_sync.sources.window import window_ending

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
START = NOW - timedelta(minutes=60)


def _spec_problems(emu, checker) -> list[str]:
    """Every Service Map request the client sent, checked against the published spec.

    Pages after the first follow ``nextLink`` verbatim, as ARM clients must; its ``$skipToken``
    is the server's continuation token, which the spec (like most ARM specs) does not list, so
    it is the one parameter left out of the check.
    """
    problems = []
    for r in emu.requests:
        if r.operation in ("machines", "machine", "generateMap"):
            query = {k: v for k, v in r.query.items() if k != "$skipToken"}
            problems += [f"{r.method} {r.path}: {p}" for p in checker.check_request(r.method, r.raw_path, query, r.json_body)]
    return problems


def test_sign_in_resolve_list_two_pages_and_parse_every_sample_map(sample_emu, make_settings, request) -> None:
    settings = make_settings(sample_emu)
    with open_session(settings) as session:
        assert session.workspace.name == sample_emu.workspace_name
        assert session.workspace.customer_id == sample_emu.scenario.customer_id
        machines = list(session.client.list_machines(start=START, end=NOW, page_size=4))
        matched, failures = match_servers(settings.servers, machines)
        maps = {m.server: session.client.generate_map(m.server, m.machine, start=START, end=NOW) for m in matched}

    assert sorted(m.name.lower() for m in machines) == sorted(n.lower() for n in sample_emu.scenario.machines)
    pages = [r for r in sample_emu.requests if r.operation == "machines"]
    assert len(pages) == -(-len(machines) // 4) >= 2
    assert failures == []
    assert set(maps) == set(sample_emu.scenario.servers_group)
    for server, server_map in maps.items():
        focus = server_map.machine()
        assert focus.key.name == next(m.machine.key.name for m in matched if m.server == server)
        assert server_map.connections, f"{server} has no connections in the sample"
        assert server_map.start_time == START and server_map.end_time == NOW
    tokens = [r for r in sample_emu.requests if r.operation == "token"]
    assert len(tokens) == 1, "the credential must cache its token across requests"
    # last: the spec check skips where ../shared is absent, after everything above has run
    assert _spec_problems(sample_emu, request.getfixturevalue("checker")) == []


def test_generate_map_sends_the_window_and_the_machine_id(sample_emu, make_settings) -> None:
    with open_session(make_settings(sample_emu)) as session:
        machine = next(m for m in session.client.list_machines(start=START, end=NOW) if m.fqdn == "sql01.contoso.com")
        session.client.generate_map("sql01.contoso.com", machine, start=NOW - timedelta(minutes=30), end=NOW)
    body = [r for r in sample_emu.requests if r.operation == "generateMap"][-1].json_body
    assert body["kind"] == "map:single-machine-dependency"
    assert body["machineId"] == machine.id
    assert datetime.fromisoformat(body["endTime"]) - datetime.fromisoformat(body["startTime"]) == timedelta(minutes=30)


@pytest.mark.parametrize("minutes", [61, 0])
def test_window_outside_1_to_60_minutes_is_refused_before_any_request(sample_emu, make_settings, minutes) -> None:
    with open_session(make_settings(sample_emu)) as session:
        machine = next(iter(session.client.list_machines(start=START, end=NOW)))
        before = len(sample_emu.requests)
        with pytest.raises(ConfigError, match="TimeWindowMinutes"):
            session.client.generate_map("x", machine, start=NOW - timedelta(minutes=minutes), end=NOW)
    assert len(sample_emu.requests) == before


@pytest.mark.parametrize("minutes", [61, 0])
def test_a_window_ending_now_is_checked_like_any_other(minutes: int) -> None:
    with pytest.raises(ConfigError, match=r"TimeWindowMinutes must be 1\.\.60"):
        window_ending(NOW, minutes)
    assert window_ending(NOW, 60) == (NOW - timedelta(minutes=60), NOW)


def test_429_with_retry_after_then_success(sample_emu, make_settings) -> None:
    sample_emu.add_fault(Fault(kind="status", status=429, retry_after=1, operation="generateMap", count=1))
    with open_session(make_settings(sample_emu)) as session:
        machine = next(iter(session.client.list_machines(start=START, end=NOW)))
        server_map = session.client.generate_map("any", machine, start=START, end=NOW)
        assert session.transport.stats.throttled == 1
    assert server_map.machine().name == machine.name
    assert [r.status for r in sample_emu.requests if r.operation == "generateMap"] == [429, 200]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_then_success(sample_emu, make_settings, status) -> None:
    sample_emu.add_fault(Fault(kind="status", status=status, operation="machines", count=2))
    with open_session(make_settings(sample_emu)) as session:
        machines = list(session.client.list_machines(start=START, end=NOW))
    assert len(machines) == len(sample_emu.scenario.machines)
    assert [r.status for r in sample_emu.requests if r.operation == "machines"][:3] == [status, status, 200]


def test_persistent_error_is_reported_with_status_and_request_id(sample_emu, make_settings) -> None:
    sample_emu.add_fault(Fault(kind="status", status=404, operation="generateMap"))
    with open_session(make_settings(sample_emu)) as session:
        machine = next(iter(session.client.list_machines(start=START, end=NOW)))
        with pytest.raises(ServiceMapResponseError) as err:
            session.client.generate_map("web01.contoso.com", machine, start=START, end=NOW)
    assert err.value.status == 404 and err.value.server == "web01.contoso.com"
    assert "request id" in str(err.value)


def test_names_with_bang_and_at_are_percent_encoded(sample_emu, make_settings) -> None:
    with open_session(make_settings(sample_emu)) as session, pytest.raises(ServiceMapResponseError):
        session.client.get_machine("m!weird@name")
    raw = [r.raw_path for r in sample_emu.requests if r.operation in ("machine", "unknown")][-1]
    assert urlsplit(raw).path.endswith("/machines/m%21weird%40name")
