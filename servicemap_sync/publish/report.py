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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from ..errors import PublishError
from .state import FAILED, PUBLISHED, REMOVED, UNCHANGED, iso_utc
from .writer import cleanup_temp_files, publish_file

__all__ = ["REMOVED_FOLDER", "REPORTS_FOLDER", "RUN_LOG", "ChangeReport", "ServerChange", "append_run_log",
           "prune_reports", "write_change_report"]

REPORTS_FOLDER = "reports"
#: where the packs of servers that left the group go, out of the import folder's ``*.xml``
REMOVED_FOLDER = "removed"
#: one line per run, in the reports folder, so a run with nothing to report still leaves a trace
RUN_LOG = "runs.log"
STATUSES = (PUBLISHED, UNCHANGED, FAILED, REMOVED)
_REPORT_PATTERNS = ("changes-*.json", "changes-*.txt", "remove-*.ps1")


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
    #: why the diagram is as it is: the rule, guard or curation line behind a removal, a cut to
    #: ``diagram.max_boxes``, a curation line that names nothing
    notes: tuple[str, ...] = ()

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
        names: Mapping[str, str] | None = None,
    ) -> ServerChange:
        """Build the change of one server from the previous and new component IDs and arrow keys
        (``<from ID>-><to ID>`` and ``:<port>`` if any), compared by ID and told by the boxes'
        labels in ``names`` (ID -> label), as the management pack shows them."""
        old_c, new_c = set(old_components), set(new_components)
        old_a, new_a = set(old_connections), set(new_connections)
        names = names or {}
        box = names.get
        return cls(
            server, status, version=version, mp_id=mp_id, reason=reason,
            components_added=tuple(box(c, c) for c in new_c - old_c),
            components_removed=tuple(box(c, c) for c in old_c - new_c),
            connections_added=tuple(_arrow_label(a, names) for a in new_a - old_a),
            connections_removed=tuple(_arrow_label(a, names) for a in old_a - new_a),
        )

    def as_dict(self) -> dict[str, object]:
        """Every field, lists as lists, for JSON."""
        return {
            "server": self.server, "status": self.status, "version": self.version, "mp_id": self.mp_id,
            "reason": self.reason,
            "components_added": list(self.components_added), "components_removed": list(self.components_removed),
            "connections_added": list(self.connections_added),
            "connections_removed": list(self.connections_removed),
            "notes": list(self.notes),
        }

    def summary_line(self, width: int) -> str:
        """One line for the text report, the server name padded to ``width``."""
        name = self.server.ljust(width)
        if self.status == FAILED:
            return f"{name}  FAILED  {' '.join((self.reason or 'no reason given').split())}"
        if self.status == REMOVED:
            return f"{name}  REMOVED  left the Servers Group: {self.reason}"
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
            + [f"    note: {n}" for n in self.notes]
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
        #: set when the run was stopped (Ctrl-C) before every server was done: the report holds
        #: the servers that were finished
        self.interrupted = False
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

    @property
    def worth_writing(self) -> bool:
        """Whether the run changed or failed anything (or was cut short): else it needs no report."""
        return self.interrupted or any(s != UNCHANGED for _, _, s, _, _ in self._index)

    def removed(self) -> list[ServerChange]:
        """The servers whose packs left the import folder in this run."""
        return [c for c in self.changes if c.status == REMOVED]

    def summary(self) -> str:
        """The counts in one line: ``3 published, 5 unchanged, 1 failed, 0 removed``."""
        counts = self.counts()
        text = ", ".join(f"{counts[s]} {s}" for s in STATUSES)
        return text + (" (interrupted: the servers not listed were not synced)" if self.interrupted else "")
    def to_json(self, *, run_id: int, started_at: datetime) -> Iterator[bytes]:
        """The JSON report in pieces: run id, start, counts and every server, keys sorted, indent 2
        (the same bytes as ``json.dumps`` of the whole document with those options)."""
        marker = "servers-go-here"
        document = {"run_id": run_id, "started_at": iso_utc(started_at), "counts": self.counts(),
                    "interrupted": self.interrupted, "servers": marker}
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
        yield f"servicemap-sync run {run_id}, started {iso_utc(started_at)}: {self.summary()}\n".encode("utf-8")
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


def write_change_report(report: ChangeReport, directory: Path, *, run_id: int,
                        started_at: datetime) -> tuple[Path, ...]:
    """Write ``changes-<run_id>.json`` and ``.txt`` into ``directory/reports/``, each atomically,
    and ``remove-<run_id>.ps1`` when servers left the group: the PowerShell that removes their
    management packs from SCOM, one ``Remove-SCOMManagementPack`` line each.

    Args:
        report: the run's changes.
        directory: the output folder (``output.directory``); ``reports/`` is created in it.
        run_id: the run id from :meth:`StateStore.start_run`.
        started_at: when the run started (aware datetime).

    Returns:
        The JSON and text report paths, and the removal script if one was written.

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
    removed = report.removed()
    if not removed:
        return json_path, text_path
    script = [
        f"# servicemap-sync run {run_id}: management packs of servers that left the Servers Group.\n",
        "# Their files were moved to the removed/ folder; run this on a management server to remove them from SCOM,\n",
        "# then acknowledge with: servicemap-sync servers --acknowledge-removed\n",
        "Import-Module OperationsManager\n",
        *(f"Get-SCOMManagementPack -Name '{c.mp_id}' | Remove-SCOMManagementPack  # {c.server}\n" for c in removed),
    ]
    return json_path, text_path, publish_file(folder, f"remove-{run_id}.ps1", "".join(script).encode("utf-8"))


def append_run_log(directory: Path, line: str) -> Path:
    """Append one line to ``reports/runs.log`` (every run, changed or not).

    Raises:
        PublishError: the file cannot be written.
    """
    path = Path(directory) / REPORTS_FOLDER / RUN_LOG
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log_file:
            log_file.write(line.rstrip("\n") + "\n")
    except OSError as exc:
        raise PublishError(f"cannot write {path}: {exc.strerror}; make output.directory writable") from None
    return path


def prune_reports(directory: Path, *, keep_days: int, now: datetime) -> list[Path]:
    """Delete change reports and removal scripts older than ``keep_days`` (0 keeps them all).

    Returns:
        The files deleted, sorted.
    """
    if keep_days <= 0:
        return []
    cutoff = now.timestamp() - keep_days * 86400
    folder = Path(directory) / REPORTS_FOLDER
    old = sorted(p for pattern in _REPORT_PATTERNS for p in folder.glob(pattern)
                 if p.is_file() and p.stat().st_mtime < cutoff)
    for path in old:
        path.unlink(missing_ok=True)
    return old


def _arrow_label(key: str, names: Mapping[str, str]) -> str:
    """``<from ID>-><to ID>[:port]`` as ``<from label> -> <to label> :port`` (IDs hold no ``-`` or ``:``)."""
    ends, _, port = key.partition(":")
    source, _, target = ends.partition("->")
    return f"{names.get(source, source)} -> {names.get(target, target)}" + (f" :{port}" if port else "")


def _count(sign: str, names: tuple[str, ...], noun: str) -> str:
    if not names:
        return ""
    return f"{sign}{len(names)} {noun}{'' if len(names) == 1 else 's'}"
