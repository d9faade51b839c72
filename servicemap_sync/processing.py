"""A fetched map body → its management pack (decode → parse → graph → render + validate).

This is the CPU-bound part of a run. Threads overlap the waiting on Azure, but the GIL keeps
their Python code on one core, so a large map is handed to a pool of worker processes instead:
an estate of 1,000-connection maps (about 0.1 s each) would otherwise be held to about ten maps a
second by one core, below what ARM lets a sync fetch. A small map is processed in the fetch
thread, where it costs less than the round trip to a process would.

The pool uses ``spawn`` (a fork of a process with running threads can inherit a held lock), is
started only when the first large map arrives, and lives for one pass. What crosses to a worker
is plain data: the undecoded body, the previous management pack and a few settings out, the
rendered pack back. A worker that dies (out of memory, killed) fails only the map it held.
"""

from __future__ import annotations

import functools
import gc
import importlib
import json
import logging
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from .config import DiagramSettings
from .errors import RenderError
from .gctuning import RUN_THRESHOLDS

if TYPE_CHECKING:
    from .graph import Shaped
    from .model import ServerMap
    from .mp import RenderedMP

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shaping:
    """How a server's graph is shaped: the ``[diagram]`` settings and whether to ignore what
    earlier syncs saw (``--fresh``); :meth:`load` compiles them once per process."""

    diagram: DiagramSettings = DiagramSettings()
    fresh: bool = False

    def load(self):
        """(rules, curation, guards, stability), compiled.

        Raises:
            ConfigError: a rule, the curation file or a setting is wrong, named.
        """
        return _compiled(self.diagram)


@functools.lru_cache(maxsize=8)
def _compiled(diagram: DiagramSettings):
    from .graph import Guards, Stability, load_curation, load_rules

    rules = tuple(rule for source, tables in diagram.rules for rule in load_rules(json.loads(tables), source=source))
    curation = load_curation(diagram.curation[1], source=diagram.curation[0]) if diagram.curation else None
    return (rules, curation, Guards(max_per_layer=diagram.max_per_layer, max_boxes=diagram.max_boxes),
            Stability(appear_after=diagram.appear_after, retire_after=diagram.retire_after))


@dataclass(frozen=True)
class MapJob:
    """One server's map (a body and the :data:`~servicemap_sync.sources.PARSERS` key that reads
    it, or a parsed map) and what rendering it needs."""

    server: str
    focus_machine: str
    raw: bytes
    mp_id_prefix: str
    version: str
    previous_xml: bytes | None = None
    include_self_links: bool = False
    parser: str = "servicemap"
    server_map: ServerMap | None = None
    #: the map's work in bytes of Service Map JSON (``FetchedMap.size``): large ones go to a worker
    size: int = 0
    #: the management-pack ID when it is not the plain one of ``server`` (see ``mp.ids.distinct_mp_id``)
    mp_id: str | None = None
    scom_version: str | None = None
    #: (algorithm, percentage) of the DA's and the boxes' health rollups
    da_rollup: tuple[str, int | None] = ("WorstOf", None)
    box_rollup: tuple[str, int | None] = ("WorstOf", None)
    shaping: Shaping = Shaping()
    #: what the stability step remembered of this server (the state keeps it between syncs)
    history: dict | None = None
    #: the last published pack, for the HTML page's "changed since" marks (``review.Previous``)
    page_previous: object | None = None
    #: a machine group's DA instead of a server's: its name, its members' maps (or the source's
    #: group map), the members without data, and the detail of its boxes
    group: str | None = None
    members: tuple[ServerMap, ...] = ()
    group_map: object | None = None
    missing: tuple[str, ...] = ()
    group_detail: str = "process"


@dataclass(frozen=True)
class ProcessedMap:
    """The rendered management pack, the focus machine's OS family, what shaping decided (its
    history to keep, its notes, and why each box of the map that is not drawn was left out), and
    the review page with its index row."""

    rendered: RenderedMP
    os_family: str | None
    history: dict
    notes: tuple[str, ...]
    left_out: dict[str, str]
    page: bytes
    index_entry: object


def shaped_graph(job: MapJob) -> Shaped:
    """``job``'s map as its graph, shaped by rules, curation, guards and stability: what the
    management pack is rendered from, what ``graph`` exports and ``explain`` tells.

    Raises:
        ServiceMapRequestError: the body is not JSON; ParseError: it is not a map.
    """
    from .graph import build_graph, shape
    from .graph.group import build_group_graph

    if job.group is not None:
        graph = build_group_graph(job.group, job.group_map or job.members, detail=job.group_detail,
                                  include_self_links=job.include_self_links, missing=job.missing)
    else:
        server_map = parse_fetched(job, server=job.server, focus_machine=job.focus_machine)
        graph = build_graph(server_map, include_self_links=job.include_self_links)
        del server_map  # the graph holds what it needs; the model goes before rendering allocates
    rules, curation, guards, stability = job.shaping.load()
    shaped = shape(graph, rules=rules, guards=guards, curation=curation, history=job.history, stability=stability,
                   fresh=job.shaping.fresh)
    if job.mp_id:
        shaped.graph.graph["mp_id"] = job.mp_id
    return shaped


def process_map(job: MapJob) -> ProcessedMap:
    """Decode, parse, graph and render ``job`` (top-level, so a spawned worker can import it).

    Raises:
        what :func:`shaped_graph` raises; RenderError/ValidationError: the map cannot become a
        valid management pack.
    """
    from .mp import HealthRollup, render_management_pack
    from .mp.diagram import build_diagram
    from .review import index_entry, render_server_page

    shaped = shaped_graph(job)
    graph = shaped.graph
    rendered = render_management_pack(graph, mp_id_prefix=job.mp_id_prefix, version=job.version,
                                      previous=job.previous_xml, scom_version=job.scom_version,
                                      da_rollup=HealthRollup(*job.da_rollup), box_rollup=HealthRollup(*job.box_rollup))
    diagram = build_diagram(graph, mp_id_prefix=job.mp_id_prefix)
    left_out = {d.label: f"{d.decision} by {d.name}" for d in shaped.explanation
                if d.item == "box" and d.decision != "kept" and d.by != "default"}
    return ProcessedMap(
        rendered, graph.nodes[graph.graph["focus"]].get("os_family") if graph.graph["focus"] in graph else None,
        shaped.history, shaped.notes, left_out,
        render_server_page(diagram, previous=job.page_previous, version=job.version),
        index_entry(diagram, status="", previous=job.page_previous, version=job.version),
    )


def parse_fetched(fetched, *, server: str, focus_machine: str) -> ServerMap:
    """A fetched map (or a job: both carry ``server_map``, ``raw`` and ``parser``) as the model."""
    return fetched.server_map or _parser(fetched.parser)(fetched.raw, server=server, focus_machine=focus_machine)


def _parser(key: str) -> Callable[..., ServerMap]:
    """The parse function registered for ``key`` (imported by name, so a worker can too)."""
    from .sources import PARSERS

    module, _, function = PARSERS[key].partition(":")
    return getattr(importlib.import_module(module), function)


def _start_worker() -> None:
    """A worker does nothing but process maps for one run: it keeps the run's GC thresholds."""
    gc.set_threshold(*RUN_THRESHOLDS)


class MapProcessor:
    """Processes maps in the calling thread, or in worker processes when they are large.

    Args:
        processes: worker processes for large maps; 0 processes everything in the caller.
        large_map_bytes: a body at least this long is large.

    Thread-safe: the fetch threads call it concurrently. Use it as a context manager; leaving
    it stops the workers.
    """

    def __init__(self, processes: int, large_map_bytes: int) -> None:
        if processes and multiprocessing.current_process().daemon:
            log.info("running in a daemonic process, which may not start worker processes: all maps are "
                     "processed in this process")
            processes = 0
        self._processes = processes
        self._large_map_bytes = large_map_bytes
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        #: maps processed in this process and in workers (the benchmark prints them)
        self.inline = 0
        self.pooled = 0

    def __enter__(self) -> MapProcessor:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(cancel_futures=True)

    def __call__(self, job: MapJob) -> ProcessedMap:
        """The processed map.

        Raises:
            what :func:`process_map` raises; RenderError: the worker holding it died.
        """
        if self._processes == 0 or job.size < self._large_map_bytes:
            with self._lock:
                self.inline += 1
            return process_map(job)
        pool = self._worker_pool()
        try:
            return pool.submit(process_map, job).result()
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:  # the first thread to notice starts a new pool next time
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise RenderError(
                f"{job.server}: the worker process given its map ({job.size / 1e6:.1f} MB) stopped before it "
                f"finished (out of memory, or killed); the other servers carry on and the next run tries again. "
                f"If it recurs, lower sync.processes or sync.concurrency"
            ) from None

    def _worker_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            self.pooled += 1
            if self._pool is None:
                log.info("processing maps of %d KiB or more in %d worker processes",
                         self._large_map_bytes // 1024, self._processes)
                self._pool = ProcessPoolExecutor(self._processes, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_start_worker)
            return self._pool
