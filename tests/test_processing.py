"""Large maps in worker processes: same bytes as in-process, errors intact, a dead worker fails one map."""

from __future__ import annotations

import json
import multiprocessing
import os

import pytest

from cli_harness import config_file, invoke
from servicemap_sync.emulator import synthetic_map
from servicemap_sync.errors import ParseError, RenderError, ServiceMapRequestError
from servicemap_sync.processing import MapJob, MapProcessor, process_map


@pytest.fixture(scope="module")
def big_job() -> MapJob:
    the_map = synthetic_map(connections=300)
    focus = next(m["name"] for m in the_map["nodes"]["machines"] if m["properties"]["displayName"] == "srv0000")
    raw = json.dumps({"startTime": "2024-05-01T10:00:00Z", "endTime": "2024-05-01T10:10:00Z", "map": the_map}).encode()
    return MapJob(server="srv0000", focus_machine=focus, raw=raw, mp_id_prefix="Contoso.Maps", version="1.0.0.3",
                  size=len(raw))


class DiesInWorker(bytes):
    """A body whose unpickling ends the worker process at once, as an out-of-memory kill would."""

    def __reduce__(self):
        return os._exit, (3,)


def test_a_large_map_goes_to_a_worker_and_renders_the_same_bytes(big_job: MapJob) -> None:
    with MapProcessor(processes=2, large_map_bytes=len(big_job.raw)) as process:
        pooled = process(big_job)
    assert (process.pooled, process.inline) == (1, 0)
    here = process_map(big_job)  # this process has another hash seed than the spawned worker
    assert pooled.rendered.xml == here.rendered.xml
    assert pooled.rendered.content_hash == here.rendered.content_hash
    assert pooled.os_family == here.os_family is not None
    assert b'Version>1.0.0.3<' in pooled.rendered.xml


def test_a_large_parsed_map_goes_to_a_worker_too(big_job: MapJob) -> None:
    """VM insights and netstat maps arrive parsed; their size is counted per node and edge."""
    from servicemap_sync.sources import FetchedMap
    from servicemap_sync.sources.servicemap.parse import parse_map_body

    server_map = parse_map_body(big_job.raw, server=big_job.server, focus_machine=big_job.focus_machine)
    fetched = FetchedMap(server_map=server_map)
    assert fetched.size > len(server_map.connections) * 1000
    job = MapJob(**{**big_job.__dict__, "raw": b"", "server_map": server_map, "size": fetched.size})
    with MapProcessor(processes=1, large_map_bytes=fetched.size) as process:
        pooled = process(job)
    assert (process.pooled, process.inline) == (1, 0)
    assert pooled.rendered.xml == process_map(big_job).rendered.xml


def test_a_map_below_the_threshold_or_with_no_processes_stays_in_the_caller(big_job: MapJob) -> None:
    with MapProcessor(processes=2, large_map_bytes=len(big_job.raw) + 1) as below, \
            MapProcessor(processes=0, large_map_bytes=0) as none:
        below(big_job)
        none(big_job)
    assert (below.inline, below.pooled, none.inline, none.pooled) == (1, 0, 1, 0)


@pytest.mark.parametrize("raw, error, message", [
    (b'{"map": ' + b" " * 64, ServiceMapRequestError, "generateMap for srv0000: the response is not valid JSON"),
    (b'{"startTime": "2024-05-01T10:00:00Z", "map": {}}' + b" " * 64, ParseError, "endTime: missing"),
])
def test_a_broken_map_fails_in_a_worker_as_it_does_in_the_caller(big_job: MapJob, raw, error, message) -> None:
    job = MapJob(**{**big_job.__dict__, "raw": raw})
    with pytest.raises(error) as here:
        process_map(job)
    with MapProcessor(processes=1, large_map_bytes=0) as process, pytest.raises(error) as there:
        process(job)
    assert message in str(here.value)
    assert str(there.value) == str(here.value)


def test_a_dead_worker_fails_its_map_only_and_the_next_map_gets_a_new_worker(big_job: MapJob) -> None:
    doomed = MapJob(**{**big_job.__dict__, "server": "web-07", "raw": DiesInWorker(big_job.raw)})
    with MapProcessor(processes=1, large_map_bytes=0) as process:
        with pytest.raises(RenderError) as failed:
            process(doomed)
        after = process(big_job)
    assert "web-07: the worker process given its map" in str(failed.value)
    assert "sync.processes" in str(failed.value)
    assert after.rendered.xml == process_map(big_job).rendered.xml


def test_sync_with_every_map_in_workers_publishes_what_an_in_process_sync_does(sample_emu, tmp_path) -> None:
    packs = {}
    for processes in (0, 2):
        directory = tmp_path / f"processes-{processes}"
        directory.mkdir()
        config = config_file(sample_emu, directory, processes=processes, large_map_kb=0)
        result = invoke(config, sample_emu, "sync")
        assert result.exit_code == 0, result.output
        assert ("in 2 worker processes" in result.output) == (processes == 2)
        packs[processes] = {p.name: p.read_bytes() for p in (directory / "out").glob("*.xml")}
    assert len(packs[0]) == 9
    assert packs[2] == packs[0]


def _process_in_daemon(conn, job: MapJob) -> None:
    with MapProcessor(processes=2, large_map_bytes=0) as process:
        xml = process(job).rendered.xml
    conn.send((process.inline, process.pooled, xml))


def test_a_daemonic_process_which_may_not_start_workers_processes_large_maps_itself(big_job: MapJob) -> None:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    daemon = context.Process(target=_process_in_daemon, args=(child, big_job), daemon=True)
    daemon.start()
    try:
        assert parent.poll(60), f"the daemonic process sent nothing (exit code {daemon.exitcode})"
        inline, pooled, xml = parent.recv()
    finally:
        daemon.join(60)
    assert (inline, pooled) == (1, 0)
    assert xml == process_map(big_job).rendered.xml
