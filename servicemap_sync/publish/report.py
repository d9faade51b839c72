"""The change report of a run: what each server's management pack gained and lost.

Operators want to know why SCOM shows a new version without diffing XML, so every sync writes
two files into ``<output.directory>/reports/``: ``changes-<run id>.json`` for scripts and
``changes-<run id>.txt`` for people. They live in a subfolder so that whatever imports
``*.xml`` from the output folder never sees them, and they are named by the run id from the
state database, which never repeats. Content depends only on the inputs: servers and every list
are sorted, JSON keys are sorted, and the only time in it is the run start passed in.
"""

from __future__ import annotations

import json
import os
import tempfile
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from ..errors import PublishError
from .state import FAILED, PUBLISHED, UNCHANGED, iso_utc
from .writer import cleanup_temp_files, publish_file

__all__ = ["REPORTS_FOLDER", "ChangeReport", "ServerChange", "write_change_report"]

REPORTS_FOLDER = "reports"
STATUSES = (PUBLISHED, UNCHANGED, FAILED)


class ResultLike(Protocol):
    """What :meth:`ChangeReport.add_result` reads from a per-server result."""

    server: str
    status: str
    version: str | None
    mp_id: str | None
    reason: str | None
    change: ServerChange | None


@dataclass(frozen=True)
class ServerChange:
    """One server's outcome in a run; the lists are sorted and free of duplicates."""

    server: str
    status: str
    version: str | None = None
    mp_id: str | None = None
    reason: str | None = None
    components_added: tuple[str, ...] = ()
    components_removed: tuple[str, ...] = ()
    connections_added: tuple[str, ...] = ()
    connections_removed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {', '.join(STATUSES)}")
        for name in ("components_added", "components_removed", "connections_added", "connections_removed"):
            object.__setattr__(self, name, tuple(sorted(set(getattr(self, name)))))

    @classmethod
    def compare(
        cls,
        server: str,
        *,
        status: str,
        old_components: Iterable[str] = (),
        new_components: Iterable[str] = (),
        old_connections: Iterable[str] = (),
        new_connections: Iterable[str] = (),
        version: str | None = None,
        mp_id: str | None = None,
        reason: str | None = None,
    ) -> ServerChange:
        """Build the change of one server from the previous and new component IDs and arrow keys."""
        old_c, new_c = set(old_components), set(new_components)
        old_a, new_a = set(old_connections), set(new_connections)
        return cls(
            server, status, version=version, mp_id=mp_id, reason=reason,
            components_added=tuple(new_c - old_c), components_removed=tuple(old_c - new_c),
            connections_added=tuple(new_a - old_a), connections_removed=tuple(old_a - new_a),
        )

    def as_dict(self) -> dict[str, object]:
        """Every field, lists as lists, for JSON."""
        return {
            "server": self.server, "status": self.status, "version": self.version, "mp_id": self.mp_id,
            "reason": self.reason,
            "components_added": list(self.components_added), "components_removed": list(self.components_removed),
            "connections_added": list(self.connections_added),
            "connections_removed": list(self.connections_removed),
        }

    def summary_line(self, width: int) -> str:
        """One line for the text report, the server name padded to ``width``."""
        name = self.server.ljust(width)
        if self.status == FAILED:
            return f"{name}  FAILED  {' '.join((self.reason or 'no reason given').split())}"
        counts = [
            _count("+", self.components_added, "component"), _count("-", self.components_removed, "component"),
            _count("+", self.connections_added, "connection"), _count("-", self.connections_removed, "connection"),
        ]
        changed = ", ".join(c for c in counts if c) or "no component or connection changes"
        return f"{name}  v{self.version or '?'}  {changed}"

    def detail_lines(self) -> list[str]:
        """The added and removed names, indented under the summary line."""
        return (
            [f"    + component {c}" for c in self.components_added]
            + [f"    - component {c}" for c in self.components_removed]
            + [f"    + connection {a}" for a in self.connections_added]
            + [f"    - connection {a}" for a in self.connections_removed]
        )


class ChangeReport:
    """The outcome of every server in one run, read back sorted by server name.

    A first run over large maps lists every component and connection as added: hundreds of
    thousands of names. So each change goes to a temporary spool file as it is added, memory
    keeps a few fields per server, and the report is written by reading the changes back one
    at a time. Use it as a context manager (or call :meth:`close`) to drop the spool.
    """

    def __init__(self, changes: Iterable[ServerChange] = ()) -> None:
        self._spool = tempfile.TemporaryFile(prefix="servicemap-sync-changes-")
        #: (sort key, server, status, offset, length) per change
        self._index: list[tuple[tuple[str, str], str, str, int, int]] = []
        for change in changes:
            self.add(change)

    def add_result(self, result: ResultLike) -> None:
        """Add a result's own change (what it published added and removed), else its status alone."""
        self.add(result.change or ServerChange(result.server, result.status, version=result.version,
                                               mp_id=result.mp_id, reason=result.reason))

    def add(self, change: ServerChange) -> None:
        line = json.dumps(change.as_dict(), ensure_ascii=False).encode("utf-8") + b"\n"
        offset = self._spool.seek(0, os.SEEK_END)
        self._spool.write(line)
        self._index.append(((change.server.casefold(), change.server), change.server, change.status, offset, len(line)))

    @property
    def changes(self) -> Iterator[ServerChange]:
        """Every change, sorted by server name, read back one at a time."""
        for *_, offset, length in sorted(self._index):
            self._spool.seek(offset)
            fields = json.loads(self._spool.read(length))
            yield ServerChange(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})

    def counts(self) -> dict[str, int]:
        """How many servers ended in each status."""
        return {status: sum(1 for _, _, s, _, _ in self._index if s == status) for status in STATUSES}

    def to_json(self, *, run_id: int, started_at: datetime) -> Iterator[bytes]:
        """The JSON report in pieces: run id, start, counts and every server, keys sorted, indent 2
        (the same bytes as ``json.dumps`` of the whole document with those options)."""
        marker = "servers-go-here"
        document = {"run_id": run_id, "started_at": iso_utc(started_at), "counts": self.counts(), "servers": marker}
        head, tail = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False).split(f'"{marker}"')
        yield head.encode("utf-8")
        separator = "[\n"
        for change in self.changes:
            item = json.dumps(change.as_dict(), indent=2, sort_keys=True, ensure_ascii=False)
            yield (separator + textwrap.indent(item, "    ")).encode("utf-8")
            separator = ",\n"
        yield ("[]" if separator == "[\n" else "\n  ]").encode("utf-8")
        yield (tail + "\n").encode("utf-8")

    def to_text(self, *, run_id: int, started_at: datetime) -> Iterator[bytes]:
        """The human summary in pieces: a head line, then each published or failed server with its details."""
        counts = self.counts()
        yield (f"servicemap-sync run {run_id}, started {iso_utc(started_at)}: "
               f"{counts[PUBLISHED]} published, {counts[UNCHANGED]} unchanged, {counts[FAILED]} failed\n").encode("utf-8")
        listed = [server for _, server, status, _, _ in self._index if status != UNCHANGED]
        if not listed:
            yield b"no management pack changed\n"
        width = max(map(len, listed), default=0)
        for change in self.changes:
            if change.status != UNCHANGED:
                yield "".join(f"{line}\n" for line in [change.summary_line(width), *change.detail_lines()]).encode("utf-8")

    def close(self) -> None:
        self._spool.close()

    def __enter__(self) -> ChangeReport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def write_change_report(report: ChangeReport, directory: Path, *, run_id: int, started_at: datetime) -> tuple[Path, Path]:
    """Write ``changes-<run_id>.json`` and ``.txt`` into ``directory/reports/``, each atomically.

    Args:
        report: the run's changes.
        directory: the output folder (``output.directory``); ``reports/`` is created in it.
        run_id: the run id from :meth:`StateStore.start_run`.
        started_at: when the run started (aware datetime).

    Returns:
        The JSON and text report paths.

    Raises:
        PublishError: the folder or a file could not be written.
    """
    folder = Path(directory) / REPORTS_FOLDER
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublishError(
            f"cannot create {folder}: [Errno {exc.errno}] {exc.strerror}; make output.directory writable"
        ) from exc
    cleanup_temp_files(folder)
    json_path = publish_file(folder, f"changes-{run_id}.json", report.to_json(run_id=run_id, started_at=started_at))
    text_path = publish_file(folder, f"changes-{run_id}.txt", report.to_text(run_id=run_id, started_at=started_at))
    return json_path, text_path


def _count(sign: str, names: tuple[str, ...], noun: str) -> str:
    if not names:
        return ""
    return f"{sign}{len(names)} {noun}{'' if len(names) == 1 else 's'}"
