"""Faults of the query API: the servers a failing query was for are named with the reason; the
others get their whole, correct map. Expectations come from the sample estate itself."""

from __future__ import annotations

import time

import pytest

from servicemap_sync.emulator import Emulator, Fault
from servicemap_sync.errors import QueryError
from servicemap_sync.graph.build import build_graph
from servicemap_sync.model import ServerMap
from servicemap_sync.sources.transport import RetryPolicy

from .diagrams import structure
from .support import NOW, QUICK_RETRY, START, fetch_all, matched, queries
from .test_source import service_map_graph

FAULTY = "pg01.contoso.com"


def machine_of(emu: Emulator, fqdn: str) -> str:
    return next(name for name, m in emu.scenario.machines.items()
                if m["properties"]["fullyQualifiedDomainName"] == fqdn)


def needing(emu: Emulator, machine: str) -> set[str]:
    """Servers of the group whose Service Map map shows ``machine``: their maps need its rows."""
    by_fqdn = {m["properties"]["fullyQualifiedDomainName"]: name for name, m in emu.scenario.machines.items()}
    found = set()
    for server in emu.scenario.servers_group:
        name = by_fqdn.get(server.lower()) or next(
            n for n, m in emu.scenario.machines.items()
            if server.lower() in (m["properties"]["computerName"].lower(), m["properties"]["displayName"].lower()))
        nodes = emu.arm.map_of(name)["nodes"]["machines"]
        if any(node["name"].lower() == machine.lower() for node in nodes):
            found.add(server)
    return found


def assert_only(emu: Emulator, maps: dict[str, object], failing: set[str], reason: str) -> None:
    """``failing`` servers raised a QueryError naming them and ``reason``; every other one has the
    map Service Map draws (so no answer was used in part)."""
    assert {s for s, m in maps.items() if not isinstance(m, ServerMap)} == failing
    for server, outcome in maps.items():
        if server in failing:
            assert isinstance(outcome, QueryError) and outcome.server == server, outcome
            assert server in str(outcome) and reason in str(outcome), str(outcome)
        else:
            machine = outcome.focus.name
            assert structure(build_graph(outcome)) == structure(service_map_graph(emu, machine, server)), server


PERSISTENT = {
    "429 storm": (Fault(status=429, retry_after=0), "HTTP 429"),
    "5xx burst": (Fault(status=503), "HTTP 503"),
    "malformed body": (Fault(kind="malformed"), "not valid JSON"),
    "timeout": (Fault(kind="delay", seconds=1.5), "no answer within TimeoutSeconds=0.5"),
    "partial result": (Fault(kind="partial"), "marked the answer partial"),
}


@pytest.mark.parametrize("name", PERSISTENT)
def test_a_query_that_keeps_failing_fails_only_the_servers_that_need_it(sample_emu, make_source, name) -> None:
    fault, reason = PERSISTENT[name]
    pg01 = machine_of(sample_emu, FAULTY)
    sample_emu.add_fault(Fault(kind=fault.kind, status=fault.status, retry_after=fault.retry_after,
                               seconds=fault.seconds, operation="query", machine=pg01))
    # one attempt for the slow fault: each attempt costs the whole timeout, and retries are shown below
    source = make_source(batch_size=1, timeout_seconds=0.5,
                         retry=RetryPolicy(max_attempts=1) if fault.kind == "delay" else QUICK_RETRY)
    maps = fetch_all(source, matched(source, sample_emu.scenario.servers_group))
    expected = needing(sample_emu, pg01)
    assert FAULTY in expected and 0 < len(expected) < len(maps)
    assert_only(sample_emu, maps, expected, reason)


def test_a_partial_answer_is_split_until_the_machine_is_alone(sample_emu, make_source) -> None:
    pg01 = machine_of(sample_emu, FAULTY)
    sample_emu.add_fault(Fault(kind="partial", operation="query", machine=pg01))
    source = make_source()  # one batch of all nine
    maps = fetch_all(source, matched(source, sample_emu.scenario.servers_group))
    assert_only(sample_emu, maps, needing(sample_emu, pg01), "even for this machine alone")
    connections = [q["machines"] for q in queries(sample_emu) if q["shape"] == "connections"]
    assert connections[0] and [pg01] in connections and len(connections) > 2  # halved down to pg01


@pytest.mark.parametrize("fault", [Fault(status=429, retry_after=0, count=2), Fault(status=500, count=2),
                                   Fault(status=504, count=1), Fault(kind="delay", seconds=1.5, count=1),
                                   Fault(kind="reset", count=1)],
                         ids=["429 twice", "500 twice", "504 once", "slow once", "reset once"])
def test_a_passing_fault_is_retried_and_every_server_succeeds(sample_emu, make_source, fault) -> None:
    sample_emu.add_fault(Fault(kind=fault.kind, status=fault.status, retry_after=fault.retry_after,
                               seconds=fault.seconds, count=fault.count, operation="query"))
    source = make_source(timeout_seconds=1)
    maps = fetch_all(source, matched(source, sample_emu.scenario.servers_group))
    assert all(isinstance(m, ServerMap) for m in maps.values()), maps
    assert source.stats.requests == 4 + fault.count
    assert source.stats.throttled == (fault.count if fault.status == 429 and fault.kind == "status" else 0)


def test_retry_after_is_waited_for(sample_emu, make_source) -> None:
    sample_emu.add_fault(Fault(status=429, retry_after=1, count=1, operation="query"))
    source = make_source()
    began = time.monotonic()
    source.list_machines(start=START, end=NOW)
    assert time.monotonic() - began >= 1.0
    assert source.stats.requests == 2 and source.stats.throttled == 1


def test_a_revoked_secret_fails_each_server_by_name_once_its_token_expires(sample_emu, make_source) -> None:
    source = make_source()
    items = matched(source, sample_emu.scenario.servers_group)
    sample_emu.revoke_secret()
    sample_emu.expire_tokens()
    maps = fetch_all(source, items)
    for server, outcome in maps.items():
        assert isinstance(outcome, QueryError) and outcome.server == server
        assert "AADSTS7000222" in str(outcome) and "client secret" in str(outcome)
        assert sample_emu.client_secret not in str(outcome)


def test_a_secret_revoked_mid_run_does_not_stop_a_run_whose_token_is_valid(sample_emu, make_source) -> None:
    source = make_source()
    items = matched(source, sample_emu.scenario.servers_group)
    sample_emu.revoke_secret()
    assert all(isinstance(m, ServerMap) for m in fetch_all(source, items).values())
