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
from collections.abc import Iterable
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
    """What :meth:`ChangeReport.from_results` reads from each per-server result."""

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


@dataclass(frozen=True)
class ChangeReport:
    """The outcome of every server in one run, sorted by server name."""

    changes: tuple[ServerChange, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "changes", tuple(sorted(self.changes, key=lambda c: (c.server.casefold(), c.server))))

    @classmethod
    def from_results(cls, results: Iterable[ResultLike]) -> ChangeReport:
        """Build the report from per-server results: a result's own change (what it published
        added and removed), else its status alone."""
        return cls(tuple(
            r.change or ServerChange(r.server, r.status, version=r.version, mp_id=r.mp_id, reason=r.reason)
            for r in results
        ))

    def counts(self) -> dict[str, int]:
        """How many servers ended in each status."""
        return {status: sum(1 for c in self.changes if c.status == status) for status in STATUSES}

    def to_json(self, *, run_id: int, started_at: datetime) -> bytes:
        """The JSON report: run id, start, counts and every server, keys sorted, indent 2."""
        document = {
            "run_id": run_id,
            "started_at": iso_utc(started_at),
            "counts": self.counts(),
            "servers": [c.as_dict() for c in self.changes],
        }
        return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")

    def to_text(self, *, run_id: int, started_at: datetime) -> bytes:
        """The human summary: a head line, then each published or failed server with its details."""
        counts = self.counts()
        lines = [
            f"servicemap-sync run {run_id}, started {iso_utc(started_at)}: "
            f"{counts[PUBLISHED]} published, {counts[UNCHANGED]} unchanged, {counts[FAILED]} failed"
        ]
        listed = [c for c in self.changes if c.status != UNCHANGED]
        width = max((len(c.server) for c in listed), default=0)
        for change in listed:
            lines.append(change.summary_line(width))
            lines.extend(change.detail_lines())
        if not listed:
            lines.append("no management pack changed")
        return ("\n".join(lines) + "\n").encode("utf-8")


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
