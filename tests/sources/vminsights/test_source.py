"""The VM insights source against the emulator over HTTPS, with the real credential."""

from __future__ import annotations

import copy
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from servicemap_sync.emulator import Emulator, synthetic_scenario
from servicemap_sync.errors import ConfigError, SourceError, WorkspaceError
from servicemap_sync.graph.build import build_graph
from servicemap_sync.model import ServerMap
from servicemap_sync.sources.servicemap.parse import parse_map_response
from servicemap_sync.sources.vminsights.source import BATCHES_AHEAD, VmInsightsSource

from .diagrams import structure
from .support import NOW, START, credential, fetch_all, matched, queries


def service_map_graph(emu: Emulator, machine: str, server: str):
    """The graph of ``machine``'s Service Map map, as the sample serves it."""
    body = {"id": "map", "kind": "map:single-machine-dependency", "startTime": START.isoformat(),
            "endTime": NOW.isoformat(), "map": emu.arm.map_of(machine)}
    return build_graph(parse_map_response(body, server=server, focus_machine=machine))


def test_every_sample_server_draws_the_same_diagram_as_from_service_map(sample_emu, make_source) -> None:
    source = make_source()
    items = matched(source, sample_emu.scenario.servers_group)
    maps = fetch_all(source, items)
    seen = {"failed": 0, "mixed": 0, "agentless clients": 0, "discovered": 0}
    for item in items:
        assert isinstance(maps[item.server], ServerMap), maps[item.server]
        ours = structure(build_graph(maps[item.server]))
        theirs = structure(service_map_graph(sample_emu, item.machine.name, item.server))
        assert ours == theirs, item.server
        assert ours["arrows"] and ours["acceptors"], item.server
        states = [arrow[4] for arrow in ours["arrows"]]
        seen["failed"] += states.count("failed")
        seen["mixed"] += states.count("mixed")
        seen["agentless clients"] += sum(box[0] == "agentless clients" for box in ours["boxes"])
        seen["discovered"] += sum(box[0] == "machine" and not box[2] for box in ours["boxes"])
    # the comparison covered the awkward cases, not only the easy ones
    assert all(seen.values()), seen


def test_nine_servers_cost_four_queries_whatever_the_threads(sample_emu, make_source) -> None:
    source = make_source(batch_size=100)
    items = matched(source, sample_emu.scenario.servers_group)
    source.plan(items, start=START, end=NOW)
    with ThreadPoolExecutor(8) as pool:
        maps = list(pool.map(lambda item: source.fetch(item, start=START, end=NOW), items))
    assert all(m.server_map is not None for m in maps)
    shapes = [q["shape"] for q in queries(sample_emu)]
    # the processes and ports queries need the connections' peers, and then go out together
    assert shapes[:2] == ["machines", "connections"] and sorted(shapes[2:]) == ["ports", "processes"]
    assert source.stats.requests == 4


def test_batches_split_the_servers_and_each_query_lists_only_its_batch_and_peers(sample_emu, make_source) -> None:
    source = make_source(batch_size=4)
    items = matched(source, sample_emu.scenario.servers_group)
    assert all(isinstance(m, ServerMap) for m in fetch_all(source, items).values())
    sent = queries(sample_emu)
    connections = [q["machines"] for q in sent if q["shape"] == "connections"]
    assert [len(m) for m in connections] == [4, 4, 1]
    assert sorted(sum(connections, [])) == sorted(i.machine.name for i in items)
    assert len(sent) == 1 + 3 * 3


def test_many_servers_cost_tens_of_queries() -> None:
    scenario = synthetic_scenario(servers=120, connections_per_server=6)
    with Emulator(scenario) as emu:
        source = VmInsightsSource(credential(emu), workspace_id=scenario.customer_id,
                                  logs_query_url=emu.logs_query_url, ca_bundle=str(emu.ca_path), timeout_seconds=30,
                                  batch_size=50)
        try:
            items = matched(source, scenario.servers_group)
            maps = fetch_all(source, items)
        finally:
            source.close()
    assert len(items) == 120 and all(isinstance(m, ServerMap) for m in maps.values())
    assert source.stats.requests == 1 + 3 * 3  # 120 servers in 3 batches, against 120 generateMap calls


def test_a_server_without_rows_fails_alone_saying_what_to_check(sample_emu, make_source) -> None:
    quiet = copy.deepcopy(next(iter(sample_emu.scenario.machines.values())))
    quiet["name"] = "m-00000000-0000-4000-8000-000000000001"
    quiet["properties"].update(displayName="quiet01", computerName="QUIET01",
                               fullyQualifiedDomainName="quiet01.contoso.com")
    quiet["properties"]["networking"]["ipv4Interfaces"] = [{"ipAddress": "10.0.7.7"}]
    sample_emu.set_machines([*sample_emu.scenario.machines.values(), quiet])  # listed, but its agent sends nothing
    source = make_source()
    items = matched(source, ("quiet01.contoso.com", "sql01.contoso.com"))
    maps = fetch_all(source, items)
    assert isinstance(maps["sql01.contoso.com"], ServerMap)
    error = maps["quiet01.contoso.com"]
    assert type(error) is SourceError and error.server == "quiet01.contoso.com"
    assert "no VM insights rows" in str(error) and "Dependency Agent" in str(error) and "retention" in str(error)


def test_construction_refuses_a_missing_customer_id_and_a_bad_batch_size(make_source) -> None:
    with pytest.raises(WorkspaceError, match="not a GUID"):
        make_source(workspace_id=None)
    with pytest.raises(ConfigError, match="source.batch_size"):
        make_source(batch_size=0)



def meeting_answers(emu: Emulator, monkeypatch) -> dict[str, int]:
    """Make the emulator hold queries until a partner arrives: the first two connections queries
    meet each other, and each processes query meets the ports query for the same machines. A
    query whose partner is never sent while it waits breaks its barrier (counted in the result)."""
    answer = emu.logs.answer
    lock = threading.Lock()
    barriers: dict[object, threading.Barrier] = {}
    seen = {"broken": 0, "connections": 0}

    def held(query, **kwargs):
        with lock:
            if query.shape == "connections":
                seen["connections"] += 1
                key = "connections" if seen["connections"] <= 2 else None
            else:
                key = query.machines if query.shape in ("processes", "ports") else None
            barrier = barriers.setdefault(key, threading.Barrier(2, timeout=20)) if key is not None else None
        if barrier is not None:
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                with lock:
                    seen["broken"] += 1
        return answer(query, **kwargs)

    monkeypatch.setattr(emu.logs, "answer", held)
    return seen


def test_batches_are_read_ahead_and_a_batch_asks_for_processes_and_ports_at_once(sample_emu, make_source,
                                                                                   monkeypatch) -> None:
    # one caller thread, fetching one server after another: any overlap comes from the source itself
    source = make_source(batch_size=3, timeout_seconds=60)
    items = matched(source, sample_emu.scenario.servers_group)
    seen = meeting_answers(sample_emu, monkeypatch)
    maps = fetch_all(source, items)
    assert all(isinstance(m, ServerMap) for m in maps.values()), maps
    # the second batch's connections were asked while the first batch's were in flight, and each
    # batch's processes and ports were in the emulator together: no barrier waited in vain
    assert seen["broken"] == 0
    assert sample_emu.stats()["peak_concurrency"] >= 2
    shapes = [q["shape"] for q in queries(sample_emu)]
    assert shapes[:3] == ["machines", "connections", "connections"]
    assert sorted(shapes) == sorted(["machines"] + ["connections", "processes", "ports"] * 3)
    assert source.stats.requests == 1 + 3 * 3


def test_read_ahead_is_bounded_and_follows_the_fetches(sample_emu, make_source) -> None:
    source = make_source(batch_size=1)
    items = matched(source, sample_emu.scenario.servers_group)
    started = lambda: [b.future is not None for b in source._planned]  # noqa: E731
    source.plan(items, start=START, end=NOW)
    assert started() == [True] * (1 + BATCHES_AHEAD) + [False] * (len(items) - 1 - BATCHES_AHEAD)
    source.fetch(items[3], start=START, end=NOW)
    assert started() == [True] * (4 + BATCHES_AHEAD) + [False] * (len(items) - 4 - BATCHES_AHEAD)
    for item in items[:3] + items[4:]:
        assert source.fetch(item, start=START, end=NOW).server_map is not None
    assert source.stats.requests == 1 + 3 * len(items)
    # an outcome is handed out once and then released: asking again reads that server alone
    again = source.fetch(items[3], start=START, end=NOW).server_map
    assert again is not None and again.focus.name == items[3].machine.name
    assert source.stats.requests == 1 + 3 * (len(items) + 1)


def test_the_maps_do_not_depend_on_how_the_batches_overlap(sample_emu, make_source) -> None:
    def drawn(maps):
        return {server: structure(build_graph(m)) for server, m in maps.items()}

    one = make_source()  # a single batch
    many = make_source(batch_size=2)  # five batches, read ahead and overlapping
    assert drawn(fetch_all(one, matched(one, sample_emu.scenario.servers_group))) == \
        drawn(fetch_all(many, matched(many, sample_emu.scenario.servers_group)))
