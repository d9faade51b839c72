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
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from functools import partial
from datetime import datetime, timezone
from pathlib import Path

from .config import Settings
from .errors import ConfigError, SyncError
from .model import MatchedServer, ServerFailure
from .processing import MapJob, MapProcessor
from .publish.report import ChangeReport, ServerChange
from .publish.state import FAILED, PUBLISHED, UNCHANGED

log = logging.getLogger(__name__)

EXPORTED = "exported"  # export's status; the others are the state's


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


@dataclass
class RunSummary:
    """The outcome of a run, for the summary line, the change report and the exit code."""

    command: str
    started: datetime
    finished: datetime | None = None
    results: list[ServerResult] = field(default_factory=list)
    report_paths: tuple[Path, ...] = ()
    #: ARM requests the transport sent and 429s it received (the benchmark prints them)
    requests: int = 0
    throttled: int = 0

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
        return 1 if self.failures else 0


Progress = Callable[[ServerResult], None]


class SyncService:
    """Runs sync, rebuild and export for one configuration.

    Args:
        settings: validated settings.
        now: the clock (injectable so tests can pin the time window).
        stop: set it to stop taking new servers (the scheduler's SIGTERM handler does).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        stop: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self._now = now
        self._stop = stop or threading.Event()

    def sync(self, *, progress: Progress | None = None, servers: Iterable[str] | None = None,
             force: bool = False, command: str = "sync") -> RunSummary:
        """Publish every server whose management pack changed (``force``: publish regardless).

        Raises:
            ConfigError, AuthError, WorkspaceError, LockedError, StateError: nothing could run.
        """
        from .publish import StateStore, cleanup_temp_files, run_lock

        out = self.settings.output_directory
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"output.directory {out} cannot be created: {exc.strerror}") from None
        with run_lock(self.settings.state_path, command=command), StateStore(self.settings.state_path) as state, \
                ChangeReport() as changes:
            cleanup_temp_files(out)
            summary = RunSummary(command, self._now())
            run_id = state.start_run(command, at=summary.started)
            publisher = _Publisher(self.settings, state, changes, force=force, now=self._now)
            try:
                self._pass(summary, progress, servers, publisher=publisher)
            except BaseException:  # the run stopped as a whole (sign-in, workspace, Ctrl-C): no report of it
                self._finish(state, run_id, summary, exit_code=2)
                raise
            summary.report_paths = _write_report(changes, summary, out, run_id)
            self._finish(state, run_id, summary, exit_code=summary.exit_code)
            if progress is None:
                _log_summary(summary)
            return summary

    def _finish(self, state, run_id: int, summary: RunSummary, *, exit_code: int) -> None:
        summary.finished = self._now()
        state.finish_run(
            run_id, at=summary.finished, synced=summary.written, unchanged=summary.count(UNCHANGED),
            failed=summary.count(FAILED), written=summary.written, exit_code=exit_code,
        )

    def rebuild(self, server: str, *, progress: Progress | None = None) -> RunSummary:
        """One server now, published as a new version whatever change detection says."""
        known = {s.lower(): s for s in self.settings.servers}
        return self.sync(progress=progress, servers=[known.get(server.lower(), server)], force=True, command="rebuild")

    def export(self, directory: Path, *, servers: Iterable[str] | None = None,
               progress: Progress | None = None) -> RunSummary:
        """Render management packs into ``directory`` for review; no state, nothing published."""
        from .publish import publish_file

        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--out {directory} cannot be created: {exc.strerror}") from None
        summary = RunSummary("export", self._now())

        def write(item: MatchedServer, raw: bytes, process: MapProcessor) -> ServerResult:
            rendered = _render(self.settings, process, item, raw, None)[0].rendered
            path = publish_file(directory, rendered.filename, rendered.xml, setting="--out")
            return ServerResult(item.server, EXPORTED, machine=item.machine.name, mp_id=rendered.mp_id,
                                version=rendered.version, path=path)

        self._pass(summary, progress, servers, publisher=write)
        summary.finished = self._now()
        if progress is None:
            _log_summary(summary)
        return summary

    def _pass(self, summary: RunSummary, progress: Progress | None, servers: Iterable[str] | None, *, publisher) -> None:
        from .gctuning import relaxed_gc
        from .sources.matching import match_servers
        from .sources.servicemap import window_ending
        from .sources.session import open_session

        wanted = list(servers) if servers is not None else list(self.settings.servers)
        start, end = window_ending(self._now(), self.settings.schedule.time_window_minutes)
        with open_session(self.settings) as session, relaxed_gc(), \
                MapProcessor(self.settings.processes, self.settings.large_map_bytes) as process:
            matched, failures = match_servers(wanted, session.client.list_machines(start=start, end=end))
            matched, clashes = _one_pack_per_id(matched, self.settings.mp_id_prefix)
            for failure in [*failures, *clashes]:
                self._record(summary, progress, publisher, _failed(failure))
            one = partial(self._one, session, publisher, process, start, end)
            self._run_workers(summary, progress, publisher, matched, one)
            summary.requests = session.transport.stats.requests
            summary.throttled = session.transport.stats.throttled

    def _run_workers(self, summary, progress, publisher, matched: list[MatchedServer],
                     one: Callable[[MatchedServer], ServerResult]) -> None:
        pending = iter(matched)
        running: dict[Future, MatchedServer] = {}
        with ThreadPoolExecutor(max_workers=self.settings.concurrency, thread_name_prefix="server") as pool:
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

    def _one(self, session, publisher, process: MapProcessor, start: datetime, end: datetime,
             item: MatchedServer) -> ServerResult:
        try:
            raw = session.client.fetch_map(item.server, item.machine, start=start, end=end)
            return publisher(item, raw, process)
        except ConfigError:
            raise
        except SyncError as exc:
            return ServerResult(item.server, FAILED, machine=item.machine.name, reason=str(exc))
        except Exception as exc:  # the per-server isolation boundary: a bug must not stop the other servers
            log.exception("%s: internal error", item.server)
            return ServerResult(item.server, FAILED, machine=item.machine.name,
                                reason=f"internal error {type(exc).__name__}: {exc} (please report it)")

    def _record(self, summary: RunSummary, progress, publisher, result: ServerResult) -> None:
        """Keep the result, and tell it: to ``progress`` if there is one, else as a log line
        (a failure is always logged: it must reach the log whoever watches)."""
        if isinstance(publisher, _Publisher):
            result = publisher.settle(result, at=self._now())
        summary.results.append(result)
        fields = {"server": result.server, "status": result.status, "version": result.version,
                  "path": str(result.path) if result.path else None}
        if result.status == FAILED:
            log.warning("%s: failed: %s", result.server, result.reason, extra={**fields, "reason": result.reason})
        elif progress is None:
            log.info("%s: %s%s", result.server, result.status,
                     f" version {result.version} at {result.path}" if result.path else "", extra=fields)
        if progress is not None:
            progress(result)


class _Publisher:
    """Renders with the previous version in hand, publishes only what changed, and settles each
    result into the state and the change report.

    Workers call it concurrently; the state store serialises its own calls, and each server
    is in the hands of one worker only. :meth:`settle` runs in the thread that collects results.
    """

    def __init__(self, settings: Settings, state, changes: ChangeReport, *, force: bool,
                 now: Callable[[], datetime]) -> None:
        self._settings = settings
        self._now = now
        self._state = state
        self._changes = changes
        self._force = force

    def __call__(self, item: MatchedServer, raw: bytes, process: MapProcessor) -> ServerResult:
        from .publish import publish_file

        server, machine = item.server, item.machine
        out = self._settings.output_directory
        before = self._state.get(server)
        processed, previous = _render(self._settings, process, item, raw, before.version if before else None)
        rendered = processed.rendered
        version = rendered.version
        mp_id = rendered.mp_id
        now = self._now()
        if (not self._force and before is not None and previous is not None
                and before.content_hash == rendered.content_hash and previous.version == before.version):
            self._state.record_unchanged(server, machine=machine.name, os_family=processed.os_family, at=now)
            return ServerResult(server, UNCHANGED, machine=machine.name, mp_id=mp_id, version=before.version,
                                path=out / rendered.filename)
        path = publish_file(out, rendered.filename, rendered.xml)
        arrows = sorted(f"{a}->{b}{port}" for a, b, port in rendered.arrows)  # port is ":1433" or ""
        self._state.record_published(
            server, machine=machine.name, os_family=processed.os_family, mp_id=rendered.mp_id, version=version,
            content_hash=rendered.content_hash, components=sorted(rendered.components), connections=arrows, at=now,
        )
        change = ServerChange.compare(
            server, status=PUBLISHED, version=version, mp_id=rendered.mp_id,
            old_components=before.components if before else (), new_components=rendered.components,
            old_connections=before.connections if before else (), new_connections=arrows,
        )
        return ServerResult(server, PUBLISHED, machine=machine.name, mp_id=rendered.mp_id, version=version, path=path,
                            change=change)

    def settle(self, result: ServerResult, *, at: datetime) -> ServerResult:
        """Record a failure in the state, spool the result's change into the report, and return
        the result without it: the run keeps a few fields per server, not every name."""
        if result.status == FAILED:
            self._state.record_failure(result.server, result.reason or "unknown", at=at)
        self._changes.add_result(result)
        return replace(result, change=None)


def _one_pack_per_id(matched: list[MatchedServer], prefix: str) -> tuple[list[MatchedServer], list[ServerFailure]]:
    """Keep the first server for each management-pack ID; later ones would overwrite its file.

    Two entries can name one machine (``app01`` and ``app01.contoso.com``), or two names can
    clean to the same ID (``web-01`` and ``web_01``).
    """
    from .mp.ids import mp_id

    owners: dict[str, MatchedServer] = {}
    kept: list[MatchedServer] = []
    clashes: list[ServerFailure] = []
    for item in matched:
        key = mp_id(prefix, item.server).lower()
        first = owners.setdefault(key, item)
        if first is item:
            kept.append(item)
        else:
            same = "is the same machine as" if first.machine.key == item.machine.key else "gets the same management-pack ID as"
            clashes.append(ServerFailure(
                item.server, "match",
                f"'{item.server}' {same} '{first.server}' ({mp_id(prefix, first.server)}): list each server once, "
                f"by a name that tells it apart",
            ))
    return kept, clashes


def _render(settings: Settings, process: MapProcessor, item: MatchedServer, raw: bytes, state_version: str | None):
    """Process ``raw`` into the next version after the published file and the state, whichever is newer.

    The previous file (read, never written here) carries the public types SCOM already has,
    so the new version keeps them (retired) and imports as an upgrade.
    """
    from .mp.ids import mp_id
    from .publish import next_version, read_published

    previous = read_published(settings.output_directory / f"{mp_id(settings.mp_id_prefix, item.server)}.xml")
    job = MapJob(
        server=item.server, focus_machine=item.machine.name, raw=raw, mp_id_prefix=settings.mp_id_prefix,
        version=next_version(_newest(state_version, previous.version if previous else None)),
        previous_xml=previous.xml if previous else None, include_self_links=settings.include_self_links,
    )
    return process(job), previous


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


def _write_report(changes: ChangeReport, summary: RunSummary, out: Path, run_id: int) -> tuple[Path, ...]:
    from .publish import write_change_report

    try:
        return write_change_report(changes, out, run_id=run_id, started_at=summary.started)
    except SyncError as exc:
        log.error("change report not written: %s", exc)
        return ()
