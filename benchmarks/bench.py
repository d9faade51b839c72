"""Estate-scale benchmark of servicemap-sync, run by hand (not in CI).

    python benchmarks/bench.py [--servers 1000] [--latency 0.05] [--bucket 250] [--refill 25]
                               [--concurrency N] [--large-servers 100] [--large-connections 1000]
                               [--source-servers N] [--quick]

The real sync (``SyncService(settings).sync()``, real azure-identity sign-in over HTTPS) runs
against the emulator on 127.0.0.1. The emulator lives in its own process and every sync in a
fresh one, so the sync's CPU is not shared with the server's and its peak RSS is its own. The
targets are the ones of "Fast and unbreakable at estate scale" and apply to the defaults; the
sources' targets (VM insights: at most 1/20 of the Service Map requests and at least 5x faster)
are issue 9's and apply from 1,000 servers.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

IDENTITY_OPERATIONS = frozenset({"discovery", "keys", "token"})
SOURCES = ("servicemap", "vminsights", "netstat")
WINDOW = {"startTime": "2024-05-01T10:00:00.000Z", "endTime": "2024-05-01T10:10:00.000Z"}
TIMEOUT = 900.0  # no part of the benchmark may run longer than this


def _receive(conn, proc: mp.Process, timeout: float, what: str):
    """The next message from ``proc``; fails fast if it dies, and after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not conn.poll(0.5):
        if not proc.is_alive():
            raise RuntimeError(f"{what}: the process exited with code {proc.exitcode} (see its traceback above)")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: nothing within {timeout:g} s")
    return conn.recv()


# -- the emulator process -------------------------------------------------------------------------

def _serve(conn, servers: int, connections: int, latency: float, bucket: int, refill: float, source: str,
           snapshot_dir: str) -> None:
    """Child: serve a synthetic estate until SIGTERM; answer "stats" requests on ``conn``.

    For the netstat source it first writes the estate's snapshot files into ``snapshot_dir``
    (captured 10 and 5 minutes ago, inside the sync's window); for the VM insights source it
    derives its tables before it says it is ready, since a real workspace holds them already.
    """
    from datetime import datetime, timedelta, timezone

    from servicemap_sync.emulator import serve_forever, synthetic_scenario
    from servicemap_sync.emulator.snapshots import synthetic_snapshot_files, write_snapshots

    scenario = synthetic_scenario(servers=servers, connections_per_server=connections)
    if source == "netstat":
        captured_at = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=10)
        write_snapshots(snapshot_dir, captured_at, files=synthetic_snapshot_files(captured_at, servers, connections))

    def ready(emu) -> None:
        if source == "vminsights":
            emu.logs.tables()
        conn.send({"url": emu.url, "logs_query_url": emu.logs_query_url, "tenant_id": emu.tenant_id,
                   "client_id": emu.client_id, "subscription_id": emu.subscription_id,
                   "resource_group": emu.resource_group, "workspace_name": emu.workspace_name,
                   "client_secret": emu.client_secret, "ca_path": str(emu.ca_path),
                   "servers": list(scenario.servers_group),
                   "connections": statistics.mean(len(m["edges"]["connections"]) for m in scenario.maps.values())})

        def answer() -> None:
            while conn.recv() == "stats":
                sent = [r for r in list(emu.requests) if r.operation not in IDENTITY_OPERATIONS]
                arm = [r for r in sent if r.operation != "query"]
                conn.send({**emu.stats(), "arm_requests": len(arm),
                           "arm_needed": sum(1 for r in arm if r.status != 429),
                           "sent": len(sent), "sent_needed": sum(1 for r in sent if r.status != 429),
                           "operations": dict(Counter(r.operation for r in sent))})

        threading.Thread(target=answer, daemon=True).start()

    serve_forever(scenario, port=0, on_ready=ready, latency=latency, rate_limit=(bucket, refill))


@contextmanager
def emulator(servers: int, connections: int, latency: float, bucket: int, refill: float, source: str,
             snapshot_dir: str) -> Iterator[tuple[dict, Callable[[], dict]]]:
    """An emulator process: yields its connection details and a function returning its stats."""
    parent, child = mp.Pipe()
    proc = mp.Process(target=_serve, args=(child, servers, connections, latency, bucket, refill, source,
                                           snapshot_dir), daemon=True)
    proc.start()
    try:
        info = _receive(parent, proc, 120, "starting the emulator")

        def stats() -> dict:
            parent.send("stats")
            return _receive(parent, proc, 60, "emulator stats")

        yield info, stats
    finally:
        proc.terminate()  # SIGTERM: serve_forever stops cleanly and removes its CA directory
        proc.join(10)
        if proc.is_alive():
            proc.kill()


# -- the sync process -----------------------------------------------------------------------------

def _sync(conn, info: dict, servers: list[str], sync: dict, out: str, source: dict) -> None:
    """Child: one real sync into ``out``, reading maps as ``source`` (the ``[source]`` settings) says;
    sends wall time, counters and the peak RSS of this process and of its largest map worker (if
    large maps started any)."""
    from servicemap_sync.demo import emulator_settings
    from servicemap_sync.service import FAILED, PUBLISHED, SyncService

    emu = SimpleNamespace(**{k: v for k, v in info.items() if k not in ("servers", "connections")})
    emu.ca_path = Path(info["ca_path"])
    settings = emulator_settings(emu, output=Path(out), servers=servers, sync=sync, source=source)
    started = time.perf_counter()
    summary = SyncService(settings).sync()
    wall = time.perf_counter() - started
    conn.send({"wall": wall, "concurrency": settings.concurrency, "processes": settings.processes,
               "published": summary.count(PUBLISHED), "failed": summary.count(FAILED),
               "requests": summary.requests, "throttled": summary.throttled,
               "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               "worker_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024})


def run_sync(args: argparse.Namespace, servers: int, connections: int = 20, source: str = "servicemap",
             **sync: object) -> dict:
    """Sync ``servers`` servers of a fresh emulator (its bucket full) in a fresh process, reading
    maps from ``source`` (one of :data:`SOURCES`; netstat reads the estate's snapshot files, which
    the emulator process writes first); ``sync`` holds ``[sync]`` settings beyond ``--concurrency``."""
    if args.concurrency:
        sync["concurrency"] = args.concurrency
    with tempfile.TemporaryDirectory(prefix="servicemap-bench-") as tmp:
        snapshots = Path(tmp) / "snapshots"
        settings: dict[str, object] = {"kind": source}
        if source == "netstat":
            settings.update(snapshot_dir=str(snapshots), hosts_file=str(snapshots / "hosts"))
        with emulator(servers, connections, args.latency, args.bucket, args.refill, source,
                      str(snapshots)) as (info, stats):
            parent, child = mp.Pipe()
            # Not a daemon: a daemonic process may not start the map workers.
            proc = mp.Process(target=_sync, args=(child, info, info["servers"], sync, str(Path(tmp) / "out"),
                                                  settings))
            proc.start()
            try:
                result = _receive(parent, proc, TIMEOUT, f"sync of {servers} servers from {source}")
            finally:
                proc.join(10)
                if proc.is_alive():
                    proc.kill()
                    proc.join()
            return {**result, "source": source, "servers": servers, "emulator": stats(),
                    "connections": info["connections"]}


# -- per-server processing cost -------------------------------------------------------------------

def _median_time(work: Callable[[], object], repeats: int, clock: Callable[[], float] = time.perf_counter) -> float:
    """Median seconds of ``work()``; each run starts from a collected heap, so the cyclic GC
    passes a run pays for are its own garbage's, not the previous run's."""
    times = []
    for _ in range(repeats):
        gc.collect()
        started = clock()
        work()
        times.append(clock() - started)
    return statistics.median(times)


def processing_cost(connections: int, repeats: int) -> dict:
    """Seconds for one server's parse → graph → render+validate, and the bare JSON + XML cost."""
    from lxml import etree

    from servicemap_sync.emulator import synthetic_map
    from servicemap_sync.gctuning import relaxed_gc
    from servicemap_sync.graph import build_graph
    from servicemap_sync.mp import render_management_pack
    from servicemap_sync.sources.servicemap.parse import parse_map_response

    the_map = synthetic_map(connections=connections)
    focus = next(m["name"] for m in the_map["nodes"]["machines"] if m["properties"]["displayName"] == "srv0000")
    raw = json.dumps({**WINDOW, "map": the_map}).encode()
    del the_map

    def pipeline():
        server_map = parse_map_response(json.loads(raw), server="srv0000", focus_machine=focus)
        graph = build_graph(server_map)
        return render_management_pack(graph, mp_id_prefix="ServiceMapSync", version="1.0.0.0")

    # SyncService holds relaxed_gc for a whole run, so a server's processing runs inside it and
    # the collection when the run ends is paid once per run, not per server.
    with relaxed_gc():
        rendered = pipeline()  # warm-up, and the MP whose size the bare cost copies
        # CPU time, not wall time: the work is single-threaded, and a busy machine must not move the ratio.
        pipeline_s = _median_time(pipeline, repeats, time.process_time)
    tree = etree.fromstring(rendered.xml)
    bare_s = _median_time(lambda: (json.loads(raw), etree.tostring(tree, encoding="utf-8")), repeats, time.process_time)
    return {"connections": connections, "json_mb": len(raw) / 1e6, "elements": sum(1 for _ in tree.iter()),
            "pipeline": pipeline_s, "bare": bare_s, "ratio": pipeline_s / bare_s}


# -- start-up -------------------------------------------------------------------------------------

def startup(runs: int) -> tuple[float, float]:
    """Median seconds of ``servicemap-sync --help`` and of ``python -c pass``."""
    script = Path(sys.executable).with_name("servicemap-sync")
    help_cmd = [str(script), "--help"] if script.exists() else [sys.executable, "-m", "servicemap_sync", "--help"]

    def median(cmd: list[str]) -> float:
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)  # warm the file cache
        return _median_time(lambda: subprocess.run(cmd, check=True, capture_output=True, timeout=60), runs)

    return median(help_cmd), median([sys.executable, "-c", "pass"])


# -- sources --------------------------------------------------------------------------------------

#: the sources' targets hold from this many servers (issue 9: "at 1,000 servers"); a smaller
#: estate needs few batches less, so they are shown there but not checked
SOURCE_TARGET_SERVERS = 1000


def compare_sources(args: argparse.Namespace, servicemap_run: dict) -> dict[str, dict]:
    """One real sync per source at ``--source-servers``, each against a fresh emulator; the Service Map
    row is ``servicemap_run`` when that was the same estate. Prints the table and returns the runs."""
    servers = args.source_servers
    runs = {"servicemap": servicemap_run if servicemap_run["servers"] == servers else run_sync(args, servers)}
    for kind in SOURCES[1:]:
        runs[kind] = run_sync(args, servers, source=kind)
    base = runs["servicemap"]
    needed = base["emulator"]["sent_needed"]
    print(f"\nsources: {servers} servers, latency {args.latency * 1000:g} ms, concurrency {base['concurrency']} "
          f"(requests: as the emulator counts them, sign-in left out; the ratio is to the Service Map requests "
          f"that were not throttled)")
    print(f"  {'source':<11} {'wall':>9} {'requests':>9} {'(429)':>6}  {'published':>9} {'failed':>6}  "
          f"{'requests vs Service Map':>23}  {'wall vs Service Map':>19}")
    for kind, r in runs.items():
        emu = r["emulator"]
        share = "-" if kind == "servicemap" else "0" if not emu["sent"] else f"1/{needed / emu['sent']:.1f}"
        faster = "-" if kind == "servicemap" else f"{base['wall'] / r['wall']:.1f}x faster"
        print(f"  {kind:<11} {r['wall']:7.2f} s {emu['sent']:>9} {emu['sent'] - emu['sent_needed']:>6}  "
              f"{r['published']:>9} {r['failed']:>6}  {share:>23}  {faster:>19}")
    for kind, r in runs.items():
        ops = ", ".join(f"{op} {n}" for op, n in sorted(r["emulator"]["operations"].items())) or "none"
        print(f"  {kind:<11} requests by operation: {ops}")
    return runs


def source_targets(runs: dict[str, dict], servers: int) -> list[tuple[str, bool, str, str | None]]:
    """The sources' targets, as :func:`main`'s checks."""
    base, vmi, netstat = runs["servicemap"], runs["vminsights"], runs["netstat"]
    needed, sent = base["emulator"]["sent_needed"], vmi["emulator"]["sent"]
    speed = base["wall"] / vmi["wall"]
    small = (None if servers >= SOURCE_TARGET_SERVERS
             else f"the target holds from {SOURCE_TARGET_SERVERS} servers; this run has {servers}")
    return [
        (f"VM insights source sends <= 1/20 of the Service Map requests at {servers} servers", sent * 20 <= needed,
         f"{sent} vs {needed} (1/{needed / max(sent, 1):.1f})", small),
        (f"VM insights source >= 5x faster than Service Map at {servers} servers", speed >= 5, f"{speed:.1f}x", small),
        ("netstat source sends no requests", netstat["emulator"]["sent"] == 0,
         f"{netstat['emulator']['sent']} requests", None),
    ]


# -- report ---------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=None, help="estate size (default 1000; 100 with --quick)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the emulator waits per ARM request")
    parser.add_argument("--bucket", type=int, default=250, help="ARM read bucket size")
    parser.add_argument("--refill", type=float, default=25.0, help="ARM bucket refill per second")
    parser.add_argument("--concurrency", type=int, default=None, help="sync.concurrency (default: the product's)")
    parser.add_argument("--large-servers", type=int, default=None,
                        help="servers of the large-map estate (default 400; 100 with --quick)")
    parser.add_argument("--large-connections", type=int, default=1000,
                        help="connections per server of the large-map estate")
    parser.add_argument("--source-servers", type=int, default=None,
                        help="estate size of the per-source rows (default --servers; 40 with --quick)")
    parser.add_argument("--quick", action="store_true", help="small estate, maps up to 1,000 connections, fewer runs")
    args = parser.parse_args(argv)
    args.servers = args.servers or (100 if args.quick else 1000)
    args.source_servers = args.source_servers or (40 if args.quick else args.servers)
    args.large_servers = args.large_servers or (100 if args.quick else 400)
    sizes = (100, 1000) if args.quick else (100, 1000, 10000)
    repeats = {100: 5 if args.quick else 20, 1000: 3 if args.quick else 10, 10000: 5}
    small = max(1, args.servers // 10)
    print(f"servicemap-sync benchmark: {args.servers} servers, latency {args.latency * 1000:g} ms, "
          f"bucket {args.bucket}, refill {args.refill:g}/s, emulator and sync in separate processes", flush=True)

    # Both syncs run before the parent grows: on Linux a spawned child's ru_maxrss starts at the
    # parent's peak (it survives exec), so a large parent would mask the child's own figure.
    small_run = run_sync(args, small)
    run = run_sync(args, args.servers)
    emu = run["emulator"]
    conc = run["concurrency"]
    needed = emu["arm_needed"]
    # The minimum counts only the requests the work needs (not the 429s), so provoking throttling
    # cannot lower the bar; the emulator counts them, as ARM would (sign-in is not ARM).
    minimum = max(needed * args.latency / conc, (needed - args.bucket) / args.refill)
    efficiency = minimum / run["wall"]
    print(f"\nsync of {args.servers} servers (concurrency {conc}): {run['published']} published, "
          f"{run['failed']} failed")
    print(f"  wall time              {run['wall']:.2f} s")
    print(f"  ARM requests           {emu['arm_requests']} ({needed} not throttled, "
          f"{emu['arm_requests'] / run['wall']:.1f}/s); transport counted {run['requests']}")
    print(f"  429s received          emulator {emu['throttled']}, transport {run['throttled']}")
    print(f"  peak concurrent reqs   {emu['peak_concurrency']}")
    print(f"  theoretical minimum    {minimum:.2f} s = max({needed} x {args.latency:g} / {conc}, "
          f"({needed} - {args.bucket}) / {args.refill:g})")
    print(f"  fetch efficiency       {efficiency:.3f}", flush=True)

    sources = compare_sources(args, run)

    # Large maps make processing, not ARM, the bottleneck: the same estate in the fetch threads
    # only, then with the worker processes the product starts by default on this machine.
    threads = run_sync(args, args.large_servers, args.large_connections, processes=0, large_map_kb=0)
    workers = run_sync(args, args.large_servers, args.large_connections, large_map_kb=0)
    speedup = threads["wall"] / workers["wall"]
    print(f"\nlarge maps: {args.large_servers} servers, {threads['connections']:.0f} connections per map on average "
          f"(--large-connections {args.large_connections}; a server links to at most all the others)")
    for label, r in (("fetch threads only (processes = 0)", threads),
                     (f"{workers['processes']} worker processes (the default here)", workers)):
        worker_rss = f" + {r['worker_rss_mb']:.0f} MB per worker" if r["processes"] else ""
        print(f"  {label:<40} wall {r['wall']:6.2f} s  {r['published'] / r['wall']:5.1f} maps/s  "
              f"peak RSS {r['rss_mb']:.0f} MB{worker_rss}")
    print(f"  speed-up               {speedup:.2f}x", flush=True)

    print("\nper-server processing (parse + graph + render/validate) vs bare json.loads + etree.tostring:")
    costs = [processing_cost(n, repeats[n]) for n in sizes]
    for c in costs:
        print(f"  {c['connections']:>6} connections  {c['json_mb']:6.2f} MB JSON  {c['elements']:>7} XML elements  "
              f"pipeline {c['pipeline'] * 1000:9.1f} ms  bare {c['bare'] * 1000:8.1f} ms  ratio {c['ratio']:.2f}",
              flush=True)

    print(f"\npeak RSS of the sync process: {small} servers {small_run['rss_mb']:.0f} MB, "
          f"{args.servers} servers {run['rss_mb']:.0f} MB")

    help_s, bare_s = startup(5 if args.quick else 11)
    print(f"start-up: servicemap-sync --help {help_s * 1000:.0f} ms, python -c pass {bare_s * 1000:.0f} ms, "
          f"ratio {help_s / bare_s:.2f}")

    largest = costs[-1]
    # A check is (name, passed, figure, why it is not checked here or None). What depends on scale is
    # a target at the defaults only (--quick shows it, unchecked): on a smaller estate the sign-in is
    # a larger share of the wall time, a smaller map a larger share of fixed costs, and fewer large
    # maps leave the worker processes less to overlap.
    checks: list[tuple[str, bool, str, str | None]] = [
        (f"fetch efficiency >= 0.85 at {args.servers} servers", efficiency >= 0.85, f"{efficiency:.3f}",
         None if args.servers >= 1000 else f"the target holds from 1000 servers; this run has {args.servers}"),
        (f"processing ratio <= 3 at {largest['connections']} connections", largest["ratio"] <= 3,
         f"{largest['ratio']:.2f}", None if largest["connections"] >= 10000 else
         f"the target holds at 10000 connections; this run's largest map has {largest['connections']}"),
        (f"peak RSS at {args.servers} servers < 300 MB", run["rss_mb"] < 300, f"{run['rss_mb']:.0f} MB", None),
        (f"peak RSS at {args.servers} servers < 2x the {small}-server figure", run["rss_mb"] < 2 * small_run["rss_mb"],
         f"{run['rss_mb'] / small_run['rss_mb']:.2f}x", None),
        ("--help within 5x of a bare interpreter", help_s <= 5 * bare_s, f"{help_s / bare_s:.2f}x", None),
        ("every server synced", not any(r["failed"] for r in (run, small_run, threads, workers, *sources.values())),
         f"{sum(r['failed'] for r in (run, small_run, threads, workers, *sources.values()))} failed", None),
    ]
    if workers["processes"]:  # a single core starts no workers, so there is nothing to compare
        checks.append(("worker processes speed large maps up", speedup > 1.2, f"{speedup:.2f}x",
                       None if args.large_servers >= 400 else
                       f"the target holds from 400 large-map servers; this run has {args.large_servers}"))
    checks += source_targets(sources, args.source_servers)
    print("\ntargets:")
    for name, ok, figure, skipped in checks:
        verdict = "SKIP" if skipped else "PASS" if ok else "FAIL"
        print(f"  {verdict}  {name}: {figure}" + (f" (not checked: {skipped})" if skipped else ""))
    return 0 if all(ok or skipped for _, ok, _, skipped in checks) else 1


if __name__ == "__main__":
    mp.set_start_method("spawn")
    sys.exit(main())
