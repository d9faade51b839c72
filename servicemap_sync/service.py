"""Orchestration: one pass over the Servers Group (sync, rebuild, export).

Per server the pipeline is fetch → parse → graph → render → validate → publish, run by a pool
of threads so the slow part (waiting on Azure) overlaps; large maps are processed in worker
processes (see :mod:`.processing`). Each thread turns its server's map into a management pack
and drops it before taking the next, so memory stays bounded by the pool size, not the estate. A failing server is recorded with its reason and never stops the
others; configuration, sign-in and workspace errors stop the run before any server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from functools import partial
from datetime import datetime, timezone
from pathlib import Path

from .config import Settings
from .errors import ConfigError, SourceError, SyncError
from .model import Machine, MatchedServer, ServerFailure
from .processing import MapJob, MapProcessor
from .sources.base import FetchedMap
from .publish.report import ChangeReport, ServerChange
from .publish.state import FAILED, PUBLISHED, REMOVED, UNCHANGED
from .review import page_filename

log = logging.getLogger(__name__)

EXPORTED = "exported"  # export's status; the others are the state's
#: the exit code of a run stopped by Ctrl-C (128 + SIGINT, as shells report it)
INTERRUPTED_EXIT = 130


@dataclass(frozen=True)
class Target:
    """One machine to draw, and the one name it is drawn under.

    ``name`` decides the management-pack ID (``<prefix>.<name>``). It is the name the state
    already knows the machine by, else the machine's own label (its FQDN when Service Map has
    one), never the spelling that happened to match it: ``web01`` and ``web01.contoso.com`` are
    one machine, one pack. ``entries`` are the Servers Group spellings that matched it.
    """

    name: str
    machine: Machine
    entries: tuple[str, ...]
    mp_id: str | None = None

    @property
    def matched(self) -> MatchedServer:
        return MatchedServer(self.name, self.machine)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped the run; the servers in hand were finished and are in ``summary``."""

    def __init__(self, summary: RunSummary) -> None:
        super().__init__()
        self.summary = summary


@dataclass(frozen=True)
class ServerResult:
    """What happened to one server in a run."""

    server: str
    status: str
    machine: str | None = None
    mp_id: str | None = None
    version: str | None = None
    path: Path | None = None
    reason: str | None = None
    #: what a published management pack added and removed, on its way to the change report
    #: (which takes it: a result kept in :class:`RunSummary` has none)
    change: ServerChange | None = None
    #: the server's row of the review index (``review.IndexEntry``), on its way to the index page
    index_entry: object | None = None


@dataclass
class RunSummary:
    """The outcome of a run, for the summary line, the change report and the exit code."""

    command: str
    started: datetime
    finished: datetime | None = None
    results: list[ServerResult] = field(default_factory=list)
    report_paths: tuple[Path, ...] = ()
    #: requests the source sent and 429s it received (the benchmark prints them)
    requests: int = 0
    throttled: int = 0
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def written(self) -> int:
        """Management packs written: the servers synced (published, or exported for review)."""
        return self.count(PUBLISHED) + self.count(EXPORTED)

    @property
    def failures(self) -> list[ServerResult]:
        return [r for r in self.results if r.status == FAILED]

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return INTERRUPTED_EXIT
        return 1 if self.failures else 0


Progress = Callable[[ServerResult], None]


class SyncService:
    """Runs sync, rebuild and export for one configuration.

    Args:
        settings: validated settings.
        now: the clock (injectable so tests can pin the time window).
        stop: set it to stop taking new servers (the scheduler's SIGTERM handler does).
        log_servers: tell each server as a log record (a service, JSON logs); the CLI's text
            summary already lists them, and each server is told once.
        fresh: ignore what earlier syncs saw (stability): draw the data as it is now.

    Raises:
        ConfigError: a rule, the curation file or a ``[diagram]`` value is wrong (at once).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        stop: threading.Event | None = None,
        log_servers: bool = True,
        fresh: bool = False,
    ) -> None:
        from .processing import Shaping

        self.settings = settings
        self._now = now
        self._stop = stop or threading.Event()
        self._log_servers = log_servers
        self._shaping = Shaping(settings.diagram, fresh=fresh)
        self._shaping.load()  # a rule that can never match, a bad curation line: stop now, before any request

    def sync(self, *, progress: Progress | None = None, servers: Iterable[str] | None = None,
             force: bool = False, command: str = "sync", groups: Sequence[str] | None = None) -> RunSummary:
        """Publish every server whose management pack changed (``force``: publish regardless).

        A full pass (``servers`` None) also moves the packs of servers that left the group out of
        the output folder. Ctrl-C finishes the servers in hand, writes the report of what was
        done, marked interrupted, and raises :class:`Interrupted`.

        Raises:
            ConfigError, AuthError, WorkspaceError, LockedError, StateError, PublishError: nothing
            could run; Interrupted: Ctrl-C.
        """
        from .publish import StateStore, check_writable, cleanup_temp_files, run_lock

        out = self.settings.output_directory
        check_writable(out)
        if not self.settings.servers and servers is None:
            log.warning("the Servers Group is empty: add servers to sync.servers or sync.servers_file in %s",
                        self.settings.config_path or "the configuration")
        with run_lock(self.settings.state_path, command=command), StateStore(self.settings.state_path) as state, \
                ChangeReport() as changes:
            cleanup_temp_files(out)
            summary = RunSummary(command, self._now())
            run_id = state.start_run(command, at=summary.started)
            publisher = _Publisher(self.settings, self._shaping, state, changes, force=force, now=self._now)
            try:
                self._pass(summary, progress, servers, publisher=publisher, state=state,
                           members_only=command == "rebuild", remove_departed=servers is None,
                           groups=groups if groups is not None else
                           (self.settings.synced_groups if servers is None else None))
            except KeyboardInterrupt:
                summary.interrupted = changes.interrupted = True
                summary.report_paths = self._report(changes, summary, run_id)
                self._finish(state, run_id, summary, exit_code=INTERRUPTED_EXIT)
                raise Interrupted(summary) from None
            except BaseException:  # the run stopped as a whole (sign-in, workspace): nothing was published
                self._finish(state, run_id, summary, exit_code=2)
                raise
            summary.report_paths = self._report(changes, summary, run_id)
            _write_index(out, publisher.index)
            _write_lab_kit(out)
            _write_integration_pack(self.settings)
            self._finish(state, run_id, summary, exit_code=summary.exit_code)
            if self._log_servers:
                _log_summary(summary)
            return summary

    def _report(self, changes: ChangeReport, summary: RunSummary, run_id: int) -> tuple[Path, ...]:
        """The change report when the run changed or failed anything; a line in the run log
        always; reports older than ``output.keep_reports_days`` pruned."""
        from .publish import append_run_log, iso_utc, prune_reports, write_change_report

        out = self.settings.output_directory
        try:
            paths = write_change_report(changes, out, run_id=run_id, started_at=summary.started) \
                if changes.worth_writing else ()
            append_run_log(out, f"{iso_utc(summary.started)} run {run_id} {summary.command}: {changes.summary()}"
                                + (f" -> {paths[1].name}" if paths else ""))
            prune_reports(out, keep_days=self.settings.keep_reports_days, now=summary.started)
        except SyncError as exc:
            log.error("change report not written: %s", exc)
            return ()
        return paths

    def _finish(self, state, run_id: int, summary: RunSummary, *, exit_code: int) -> None:
        """Record the run's end, and rewrite the status files from the state (a failure to write
        them is logged: the run itself is done)."""
        from .publish import write_status

        summary.finished = self._now()
        state.finish_run(
            run_id, at=summary.finished, synced=summary.written, unchanged=summary.count(UNCHANGED),
            failed=summary.count(FAILED), written=summary.written, exit_code=exit_code,
        )
        members = {e.lower() for e in self.settings.servers}
        aliases = state.aliases()
        rows = [row for row in state.all() if row.removed and not row.removal_acknowledged
                or members & _spellings(row, aliases)]
        try:
            write_status(self.settings.output_directory, run=state.runs(1)[0], servers=rows,
                         interval_seconds=self.settings.schedule.interval_seconds)
        except SyncError as exc:
            log.error("status file not written: %s", exc)

    def rebuild_group(self, group: str) -> RunSummary:
        """One machine group's DA now, published as a new version whatever change detection says."""
        return self.sync(servers=[], force=True, command="rebuild", groups=[group])

    def rebuild(self, server: str, *, progress: Progress | None = None) -> RunSummary:
        """One server of the Servers Group now (any spelling of it), published as a new version
        whatever change detection says.

        Raises:
            ConfigError: ``server`` is not a member of the Servers Group (nothing is published).
        """
        return self.sync(progress=progress, servers=[server], force=True, command="rebuild")

    def export(self, directory: Path, *, servers: Iterable[str] | None = None,
               progress: Progress | None = None) -> RunSummary:
        """Render management packs into ``directory`` for review, each with the version ``sync``
        would publish (an unchanged server's current one); no state is changed, nothing published.

        Raises:
            ConfigError: ``directory`` is the output folder, which only ``sync`` writes.
        """
        from .publish import REMOVED_FOLDER, REPORTS_FOLDER, check_writable, publish_file

        published = self.settings.output_directory.resolve()
        if directory.resolve() in (published, published / REMOVED_FOLDER, published / REPORTS_FOLDER):
            raise ConfigError(
                f"--out {directory} is the output folder ({published}) that sync publishes into and SCOM imports "
                f"from: export into another folder, e.g. --out review/"
            )
        check_writable(directory, setting="--out")
        summary = RunSummary("export", self._now())

        def write(target: Target, fetched, process: MapProcessor) -> ServerResult:
            processed, previous, before = _render(self.settings, self._shaping, process, target, fetched, state)
            rendered = processed.rendered
            if _unchanged(before, rendered, previous):  # what sync leaves in place: the published pack
                xml, version = previous.xml, before.version
            else:
                xml, version = rendered.xml, rendered.version
            path = publish_file(directory, rendered.filename, xml, setting="--out")
            publish_file(directory, page_filename(rendered.mp_id), processed.page, setting="--out")
            return ServerResult(target.name, EXPORTED, machine=target.machine.name, mp_id=rendered.mp_id,
                                version=version, path=path,
                                index_entry=replace(processed.index_entry, status=EXPORTED, version=version))

        with _read_only_state(self.settings.state_path) as state:
            self._pass(summary, progress, servers, publisher=write, state=state,
                       groups=self.settings.synced_groups if servers is None else None)
        _write_index(directory, [_index_row(r) for r in summary.results])
        summary.results = [replace(r, index_entry=None) for r in summary.results]
        summary.finished = self._now()
        if self._log_servers:
            _log_summary(summary)
        return summary

    def plan(self, *, servers: Iterable[str] | None = None, progress: Progress | None = None) -> RunSummary:
        """What the next ``sync`` would publish, without publishing or changing any state: per
        server a ``published`` result whose change lists the boxes and arrows it would add and
        remove (and the version it would get), ``unchanged``, ``failed``, or ``removed`` for a
        server that left the group."""
        summary = RunSummary("plan", self._now())
        with _read_only_state(self.settings.state_path) as state:

            def preview(target: Target, fetched, process: MapProcessor) -> ServerResult:
                processed, previous, before = _render(self.settings, self._shaping, process, target, fetched, state)
                rendered = processed.rendered
                if _unchanged(before, rendered, previous):
                    return ServerResult(target.name, UNCHANGED, machine=target.machine.name, mp_id=rendered.mp_id,
                                        version=before.version)
                return ServerResult(target.name, PUBLISHED, machine=target.machine.name, mp_id=rendered.mp_id,
                                    version=rendered.version, change=_change(target.name, before, processed))

            self._pass(summary, progress, servers, publisher=preview, state=state, remove_departed=servers is None,
                       groups=self.settings.synced_groups if servers is None else None)
        summary.finished = self._now()
        return summary

    def graph(self, server: str):
        """The graph ``server``'s management pack is rendered from (any spelling of a machine).

        Raises:
            SyncError: the server matches no machine, or its map cannot be read.
        """
        return self.explain(server).graph

    def explain(self, server: str):
        """``server``'s graph shaped as the next sync would shape it (with what earlier syncs saw),
        and why each box and arrow is kept, dropped or merged (a :class:`~servicemap_sync.graph.Shaped`).

        Raises:
            SyncError: the server matches no machine, or its map cannot be read.
        """
        from .processing import shaped_graph

        shaped = []

        def keep(target: Target, fetched, process: MapProcessor) -> ServerResult:
            before, history = _remembered(state, target.name)
            shaped.append(shaped_graph(_job(self.settings, self._shaping, target, fetched, version="1.0.0.0",
                                            previous=None, before=before, history=history)))
            return ServerResult(target.name, EXPORTED, machine=target.machine.name)

        summary = RunSummary("explain", self._now())
        with _read_only_state(self.settings.state_path) as state:
            self._pass(summary, None, [server], publisher=keep, state=state)
        if not shaped:
            raise SourceError(summary.failures[0].reason if summary.failures else f"{server}: no map", server=server)
        return shaped[0]

    def _pass(self, summary: RunSummary, progress: Progress | None, servers: Iterable[str] | None, *, publisher,
              state, members_only: bool = False, remove_departed: bool = False,
              groups: Sequence[str] | None = None) -> None:
        """Match, then draw each target with ``publisher`` in the worker threads.

        Args:
            servers: the names asked for (rebuild, export --server); None: the Servers Group.
            state: the state store (None for an export before any sync).
            members_only: refuse names that are not members of the Servers Group (rebuild).
            remove_departed: move the packs of servers that left the group aside (a full sync).
            groups: the machine groups whose DAs to draw after the servers (``("*",)``: all).
        """
        from .gctuning import relaxed_gc
        from .sources import open_source
        from .sources.matching import match_servers
        from .sources.window import window_ending

        start, end = window_ending(self._now(), self.settings.schedule.time_window_minutes)
        with open_source(self.settings) as source, relaxed_gc(), \
                MapProcessor(self.settings.processes, self.settings.large_map_bytes) as process:
            machines = list(source.list_machines(start=start, end=end))
            if servers is None:
                matched, failures = match_servers(self.settings.servers, machines)
            else:
                matched, failures = match_servers(list(servers), machines)
                if members_only:
                    members = {m.machine.key for m in match_servers(self.settings.servers, machines)[0]}
                    _refuse_outsiders(matched, members, self.settings)
            rows = state.all() if state is not None else []
            targets = _targets(matched, rows, self.settings.mp_id_prefix)
            if isinstance(publisher, _Publisher):
                for target in targets:
                    state.record_aliases(target.name, target.entries)
            if remove_departed and isinstance(publisher, _Publisher):
                for result in _remove_departed(self.settings, state, rows, targets, at=self._now()):
                    self._record(summary, progress, publisher, result)
            elif remove_departed:  # plan: say what sync would move, move nothing
                for row in _departed(self.settings, state, rows, targets):
                    self._record(summary, progress, publisher, ServerResult(
                        row.server, REMOVED, machine=row.machine, mp_id=row.mp_id, version=row.version,
                        reason=f"{row.mp_id}.xml would move to removed/"))
            for failure in failures:
                self._record(summary, progress, publisher, _failed(failure))
            source.plan([t.matched for t in targets], start=start, end=end)
            one = partial(self._one, source, publisher, process, start, end)
            self._run_workers(summary, progress, publisher, targets, one)
            if groups is not None:
                for result in self._groups(groups, source, machines, publisher, process, start, end):
                    self._record(summary, progress, publisher, result)
            stats = getattr(source, "stats", None)
            if stats is not None:
                summary.requests, summary.throttled = stats.requests, stats.throttled

    def _groups(self, wanted: Sequence[str], source, machines: list[Machine], publisher, process: MapProcessor,
                start: datetime, end: datetime) -> Iterator[ServerResult]:
        """Each wanted group's DA, one after the other: ``[[groups]]`` of the configuration (its
        members' maps, merged), else the source's own groups (Service Map: one group map each).
        A member without data leaves the group drawn with the others and is named as a failure."""
        from .mp.ids import group_mp_id
        from .processing import parse_fetched
        from .sources.matching import match_servers

        defined = {name.lower(): (name, servers) for name, servers in self.settings.groups}
        native = {}
        every = "*" in wanted
        if hasattr(source, "list_groups") and (every or any(w.lower() not in defined for w in wanted)):
            native = {g.label.lower(): g for g in source.list_groups(start=start, end=end)}
        labels = {**{k: g.label for k, g in native.items()}, **{k: v[0] for k, v in defined.items()}}
        names = sorted(labels) if every else [w.lower() for w in wanted]
        for key in names:
            label = labels.get(key) or next(w for w in wanted if w.lower() == key)
            target = Target(f"group:{label}", _group_machine(label), (), group_mp_id(self.settings.mp_id_prefix, label))
            try:
                if key in defined:
                    matched, failures = match_servers(defined[key][1], machines)
                    members, missing = [], [f"{f.server}: {f.reason}" for f in failures]
                    for item in {m.machine.key: m for m in matched}.values():
                        try:
                            fetched = source.fetch(item, start=start, end=end)
                            members.append(parse_fetched(fetched, server=item.server, focus_machine=item.machine.name))
                        except SyncError as exc:
                            missing.append(f"{item.server}: {exc}")
                    fetched = FetchedMap(group=label, members=tuple(members), missing=tuple(missing))
                elif key in native:
                    fetched = source.fetch_group(native[key], start=start, end=end)
                else:
                    raise ConfigError(f"no machine group named {label!r}: define it as [[groups]] in the configuration"
                                      f"{' or in Service Map' if hasattr(source, 'list_groups') else ''}")
                result = publisher(target, fetched, process)
            except ConfigError as exc:
                result = ServerResult(target.name, FAILED, reason=str(exc))
            except SyncError as exc:
                result = ServerResult(target.name, FAILED, mp_id=target.mp_id, reason=str(exc))
            yield result
            for member in fetched.missing if result.status != FAILED else ():
                yield ServerResult(member.split(":", 1)[0], FAILED,
                                   reason=f"member of group {label!r}, drawn without it: {member.split(': ', 1)[-1]}")

    def _run_workers(self, summary, progress, publisher, targets: list[Target],
                     one: Callable[[Target], ServerResult]) -> None:
        """Keep ``concurrency`` servers in flight; on Ctrl-C take no new one, finish and record
        those in hand (they may have published), then let the interrupt go on."""
        pending = iter(targets)
        running: dict[Future, Target] = {}
        with ThreadPoolExecutor(max_workers=self.settings.concurrency, thread_name_prefix="server") as pool:
            try:
                while True:
                    while not self._stop.is_set() and len(running) < self.settings.concurrency:
                        item = next(pending, None)
                        if item is None:
                            break
                        running[pool.submit(one, item)] = item
                    if not running:
                        break
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        running.pop(future)
                        self._record(summary, progress, publisher, future.result())
            except KeyboardInterrupt:
                self._stop.set()
                for future in list(running):
                    self._record(summary, progress, publisher, future.result())
                raise

    def _one(self, source, publisher, process: MapProcessor, start: datetime, end: datetime,
             target: Target) -> ServerResult:
        try:
            fetched = source.fetch(target.matched, start=start, end=end)
            return publisher(target, fetched, process)
        except ConfigError:
            raise
        except SyncError as exc:
            return ServerResult(target.name, FAILED, machine=target.machine.name, reason=str(exc))
        except Exception as exc:  # the per-server isolation boundary: a bug must not stop the other servers
            log.exception("%s: internal error", target.name)
            return ServerResult(target.name, FAILED, machine=target.machine.name,
                                reason=f"internal error {type(exc).__name__}: {exc} (please report it)")

    def _record(self, summary: RunSummary, progress, publisher, result: ServerResult) -> None:
        """Keep the result, and tell it: to ``progress`` if there is one, else as a log record
        when this service tells servers in its log (see ``log_servers``)."""
        if isinstance(publisher, _Publisher):
            result = publisher.settle(result, at=self._now())
        summary.results.append(result)
        fields = {"server": result.server, "status": result.status, "version": result.version,
                  "path": str(result.path) if result.path else None}
        if progress is not None:
            progress(result)
        elif not self._log_servers:
            return
        if result.status == FAILED:
            log.warning("%s: failed: %s", result.server, result.reason, extra={**fields, "reason": result.reason})
        elif progress is None:
            log.info("%s: %s%s", result.server, result.status,
                     f" version {result.version} at {result.path}" if result.path else "", extra=fields)


class _Publisher:
    """Renders with the previous version in hand, publishes only what changed, and settles each
    result into the state and the change report.

    Workers call it concurrently; the state store serialises its own calls, and each server
    is in the hands of one worker only. :meth:`settle` runs in the thread that collects results.
    """

    def __init__(self, settings: Settings, shaping, state, changes: ChangeReport, *, force: bool,
                 now: Callable[[], datetime]) -> None:
        self._settings = settings
        self._shaping = shaping
        self._now = now
        self._state = state
        self._changes = changes
        self._force = force
        #: the review index's rows, collected as results settle
        self.index: list = []

    def __call__(self, target: Target, fetched, process: MapProcessor) -> ServerResult:
        from .publish import publish_file

        server, machine = target.name, target.machine
        out = self._settings.output_directory
        processed, previous, before = _render(self._settings, self._shaping, process, target, fetched, self._state)
        rendered = processed.rendered
        version = rendered.version
        mp_id = rendered.mp_id
        now = self._now()
        known = {"fqdn": machine.fqdn, "source": self._settings.source_kind,
                 "warnings": [w.message for w in rendered.warnings], "history": processed.history}
        if not self._force and _unchanged(before, rendered, previous):
            self._state.record_unchanged(server, machine=machine.name, os_family=processed.os_family, at=now, **known)
            return ServerResult(server, UNCHANGED, machine=machine.name, mp_id=mp_id, version=before.version,
                                path=out / rendered.filename,
                                index_entry=replace(processed.index_entry, status=UNCHANGED, version=before.version))
        path = publish_file(out, rendered.filename, rendered.xml)
        publish_file(out, page_filename(mp_id), processed.page)
        self._state.record_published(
            server, machine=machine.name, os_family=processed.os_family, mp_id=rendered.mp_id, version=version,
            content_hash=rendered.content_hash, components=sorted(rendered.components),
            connections=_arrow_keys(rendered), at=now, names=rendered.components, **known,
        )
        change = _change(server, before, processed)
        return ServerResult(server, PUBLISHED, machine=machine.name, mp_id=rendered.mp_id, version=version, path=path,
                            change=change, index_entry=replace(processed.index_entry, status=PUBLISHED))

    def settle(self, result: ServerResult, *, at: datetime) -> ServerResult:
        """Record a failure in the state, spool the result's change into the report, and return
        the result without it: the run keeps a few fields per server, not every name."""
        if result.status == FAILED:
            self._state.record_failure(result.server, result.reason or "unknown", at=at, machine=result.machine,
                                       source=self._settings.source_kind)
        self._changes.add_result(result)
        self.index.append(_index_row(result))
        return replace(result, change=None, index_entry=None)


def _targets(matched: list[MatchedServer], rows: list, prefix: str) -> list[Target]:
    """One target per machine, named as the state knows it or by the machine's label, each with
    a management-pack ID of its own.

    The ID is the one the state recorded for the machine; else the plain ``<prefix>.<name>``;
    else, when another machine has that (``web-01`` and ``web_01`` clean to one ID), the plain
    ID with a hash of the machine: the later name in sorted order gets it, and the state keeps
    it, so the ID never moves when the group is reordered.
    """
    from .mp.ids import distinct_mp_id, mp_id

    known_machines: dict[str, object] = {}  # a machine's row: the published one, if any
    for row in rows:
        if row.machine and (row.machine.lower() not in known_machines or row.published_at is not None
                            and known_machines[row.machine.lower()].published_at is None):
            known_machines[row.machine.lower()] = row
    owners = {row.mp_id.lower(): row for row in rows if row.mp_id}
    by_machine: dict[str, Target] = {}
    for item in matched:
        seen = by_machine.get(item.machine.key)
        if seen is not None:
            by_machine[item.machine.key] = replace(seen, entries=(*seen.entries, item.server))
            continue
        known = known_machines.get(item.machine.name.lower())
        by_machine[item.machine.key] = Target(known.server if known else item.machine.label, item.machine,
                                              (item.server,), known.mp_id if known and known.mp_id else None)
    taken = {t.mp_id.lower(): t for t in by_machine.values() if t.mp_id}
    for target in sorted(by_machine.values(), key=lambda t: (t.name.casefold(), t.machine.key)):
        if target.mp_id:
            continue
        plain = mp_id(prefix, target.name)
        owner = owners.get(plain.lower())
        clash = taken.get(plain.lower()) or (owner if owner and owner.machine != target.machine.name else None)
        chosen = distinct_mp_id(prefix, target.name, target.machine.name) if clash else plain
        if clash:
            log.warning("%s: the management-pack ID %s is taken by %s; this server's pack is %s", target.name,
                        plain, getattr(clash, "name", None) or clash.server, chosen)
        by_machine[target.machine.key] = taken[chosen.lower()] = replace(target, mp_id=chosen)
    return list(by_machine.values())


def _refuse_outsiders(asked: list[MatchedServer], members: set, settings: Settings) -> None:
    """``rebuild`` publishes into the import folder, so only for members of the Servers Group."""
    for item in asked:
        if item.machine.key not in members:
            raise ConfigError(
                f"{item.server} ({item.machine.label}) is not in the Servers Group, so rebuild will not publish it: "
                f"add it to sync.servers or sync.servers_file in {settings.config_path or 'the configuration'}, or "
                f"review it without publishing with: servicemap-sync export --server {item.server} --out review/"
            )


def _group_machine(name: str) -> Machine:
    """A stand-in machine for a group's target (a group is drawn from several)."""
    from .model import DISCOVERED, machine_key

    return Machine(key=machine_key(f"group:{name}"), id="", name=f"group:{name}", display_name=name,
                   monitoring_state=DISCOVERED)


def _index_row(result: ServerResult):
    """The result's row of the review index: its page's, or one without a page."""
    from .review import IndexEntry

    if result.index_entry is not None:
        return result.index_entry
    return IndexEntry(server=result.server, href=None, status=result.status, mp_id=result.mp_id or "",
                      version=result.version, reason=result.reason)


def _write_index(folder: Path, rows: list) -> None:
    """``index.html``: every server of the run with its page, counts and change."""
    from .publish import publish_file
    from .review import render_index_page

    try:
        publish_file(folder, "index.html", render_index_page(rows))
    except SyncError as exc:
        log.error("review index not written: %s", exc)


def _write_integration_pack(settings: Settings) -> None:
    """``<prefix>.Integration.xml`` when ``[integration]`` is set: SCOM's own view of the sync's
    health. Published only when its content changed, with the next version, like a server's pack."""
    from .mp import integration_mp_id, render_integration_pack
    from .publish import next_version, publish_file, read_published

    if settings.integration is None:
        return
    host, status_path = settings.integration
    filename = f"{integration_mp_id(settings.mp_id_prefix)}.xml"
    previous = read_published(settings.output_directory / filename)

    def render(version: str) -> bytes:
        return render_integration_pack(mp_id_prefix=settings.mp_id_prefix, host=host, status_path=status_path,
                                       interval_seconds=settings.schedule.interval_seconds, version=version,
                                       scom_version=settings.scom_version)

    try:
        if previous is not None and render(previous.version) == previous.xml:
            return
        publish_file(settings.output_directory, filename, render(next_version(previous.version if previous else None)))
    except SyncError as exc:
        log.error("integration management pack not written: %s", exc)


def _write_lab_kit(out: Path) -> None:
    """``Test-ServiceMapSync.ps1`` beside the packs, for proving them on a lab management group."""
    from .publish.labkit import write_lab_script

    try:
        write_lab_script(out)
    except SyncError as exc:
        log.error("lab kit not written: %s", exc)


def _spellings(row, aliases: dict[str, tuple[str, ...]]) -> set[str]:
    """A server's own name and every Servers Group spelling that named it, lower-cased."""
    return {row.server.lower(), *(a.lower() for a in aliases.get(row.server.lower(), ()))}


def _departed(settings: Settings, state, rows: list, targets: list[Target]) -> list:
    """The published servers that left the Servers Group (their state rows).

    A server still listed under any spelling it was matched by stays, even if it matched
    nothing in this window (an agent that is down is not a server that left).
    """
    if state is None:
        return []
    drawn = {t.name.lower() for t in targets}
    entries = {e.lower() for e in settings.servers}
    aliases = state.aliases()
    return [row for row in rows
            if not row.removed and row.mp_id and row.server.lower() not in drawn and not row.server.startswith("group:")
            and not _spellings(row, aliases) & entries]


def _remove_departed(settings: Settings, state, rows: list, targets: list[Target], *,
                     at: datetime) -> list[ServerResult]:
    """Move the packs of servers that left the Servers Group into ``removed/`` and mark them."""
    from .publish import REMOVED_FOLDER, move_aside

    results = []
    for row in _departed(settings, state, rows, targets):
        moved = move_aside(settings.output_directory, f"{row.mp_id}.xml", REMOVED_FOLDER)
        move_aside(settings.output_directory, page_filename(row.mp_id), REMOVED_FOLDER)
        state.mark_removed(row.server, at=at)
        where = f"{moved.parent.name}/{moved.name}" if moved else "no file was left in the output folder"
        log.warning("%s left the Servers Group: its management pack %s moved to %s; remove it from SCOM",
                    row.server, row.mp_id, where)
        results.append(ServerResult(row.server, REMOVED, machine=row.machine, mp_id=row.mp_id, version=row.version,
                                    path=moved, reason=f"{row.mp_id}.xml moved to {where}"))
    return results


def _render(settings: Settings, shaping, process: MapProcessor, target: Target, fetched, state):
    """Process ``fetched`` into the next version after the published file and the state, whichever
    is newer; returns it with the published pack and the state's row (``state`` may be None).

    The previous file (read, never written here) carries the public types SCOM already has,
    so the new version keeps them (retired) and imports as an upgrade.
    """
    from .publish import next_version, read_published

    before, history = _remembered(state, target.name)
    previous = read_published(settings.output_directory / f"{target.mp_id}.xml")
    version = next_version(_newest(before.version if before else None, previous.version if previous else None))
    processed = process(_job(settings, shaping, target, fetched, version=version, previous=previous, before=before,
                             history=history))
    return processed, previous, before


def _remembered(state, name: str):
    """What the state knows of ``name`` (None without a state or a row) and its stability history."""
    before = state.get(name) if state is not None else None
    return before, state.history(name) if before is not None else None


def _arrow_keys(rendered) -> list[str]:
    """The pack's arrows as the state keeps them: ``<from ID>-><to ID>`` and ``:<port>`` if any."""
    return sorted(f"{a}->{b}{port}" for a, b, port in rendered.arrows)


def _change(server: str, before, processed) -> ServerChange:
    """What publishing ``processed`` adds and removes against the last published pack, with the
    rule, guard or curation line behind each box it loses, and the shaping notes."""
    rendered = processed.rendered
    change = ServerChange.compare(
        server, status=PUBLISHED, version=rendered.version, mp_id=rendered.mp_id,
        old_components=before.components if before else (), new_components=rendered.components,
        old_connections=before.connections if before else (), new_connections=_arrow_keys(rendered),
        names={**(before.names if before else {}), **rendered.components},
    )
    why = [f"{box}: {processed.left_out[box]}" for box in change.components_removed if box in processed.left_out]
    return replace(change, notes=(*processed.notes, *why))


def _job(settings: Settings, shaping, target: Target, fetched, *, version: str, previous, before,
         history: dict | None) -> MapJob:
    from .review import Previous

    return MapJob(
        server=target.name, focus_machine=target.machine.name, raw=fetched.raw or b"",
        mp_id_prefix=settings.mp_id_prefix, version=version, previous_xml=previous.xml if previous else None,
        include_self_links=settings.include_self_links, parser=fetched.parser or "", server_map=fetched.server_map,
        size=fetched.size,
        mp_id=target.mp_id, scom_version=settings.scom_version, da_rollup=settings.da_rollup,
        box_rollup=settings.box_rollup, shaping=shaping, history=history,
        page_previous=Previous.from_state(before), group=fetched.group, members=fetched.members,
        group_map=fetched.group_map, missing=fetched.missing, group_detail=settings.group_detail,
    )


@contextmanager
def _read_only_state(path: Path):
    """The state store if the database exists, else None: reading commands create no state."""
    from .publish import StateStore

    if not path.exists():
        yield None
        return
    with StateStore(path) as state:
        yield state


def _unchanged(before, rendered, previous) -> bool:
    """Whether the rendered pack is the one already published (same content, same version on disk)."""
    return (before is not None and previous is not None and before.content_hash == rendered.content_hash
            and previous.version == before.version)


def _newest(*versions: str | None) -> str | None:
    from .publish import version_tuple

    present = [v for v in versions if v]
    return max(present, key=version_tuple) if present else None


def _log_summary(summary: RunSummary) -> None:
    """The run's figures as one log line (with them as fields, for JSON logs)."""
    seconds = (summary.finished - summary.started).total_seconds() if summary.finished else 0.0
    counts = {"synced": summary.written, "unchanged": summary.count(UNCHANGED), "failed": summary.count(FAILED)}
    log.info("%s finished: %d synced, %d unchanged, %d failed, %.1f s", summary.command, *counts.values(), seconds,
             extra={"command": summary.command, **counts, "seconds": round(seconds, 1),
                    "reports": [str(p) for p in summary.report_paths]})


def _failed(failure: ServerFailure) -> ServerResult:
    return ServerResult(failure.server, FAILED, reason=failure.reason)
