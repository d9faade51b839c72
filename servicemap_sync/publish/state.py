"""What servicemap-sync remembers between runs, in one SQLite file (``output.state_path``).

Per server: the matched machine, the last published management pack (ID, version, content
hash, its component IDs and arrow keys, so the next run can report what changed), and the last
success and failure. Per run: the command, times and counts. The schema comes from the recorded
migrations in :mod:`.migrations`.

The store takes every timestamp from its caller (no clock inside) and stores it as ISO 8601
UTC with second precision (``2024-05-01T10:00:00Z``), so values sort as text. The connection is
shared by the sync workers, so every call holds one lock; SQLite's WAL journal lets the
``servers`` command read while a run writes. Every sqlite3 error leaves as :class:`StateError`
naming the file and what to do about it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

from ..errors import StateError
from .migrations import migrate

__all__ = ["RunRecord", "ServerState", "StateStore", "iso_utc"]

log = logging.getLogger(__name__)

BUSY_TIMEOUT_SECONDS = 10.0

PUBLISHED, UNCHANGED, FAILED, REMOVED = "published", "unchanged", "failed", "removed"


@dataclass(frozen=True)
class ServerState:
    """One server as the state database remembers it.

    ``last_status`` is the outcome of the latest run that touched the server
    (``published``, ``unchanged`` or ``failed``); it decides "failing" even when the last
    success and failure fall in the same second.
    """

    server: str
    machine: str | None
    os_family: str | None
    mp_id: str | None
    version: str | None
    content_hash: str | None
    published_at: str | None
    last_success: str | None
    last_failure: str | None
    last_failure_reason: str | None
    components: tuple[str, ...]
    connections: tuple[str, ...]
    last_status: str | None = None
    fqdn: str | None = None
    source: str | None = None
    last_attempt: str | None = None
    #: class ID -> label of the last published pack's boxes
    names: dict[str, str] = field(default_factory=dict)
    removed_at: str | None = None
    removal_acknowledged: bool = False
    #: boxes of the last rendered pack whose members SCOM cannot find, as sentences
    warnings: tuple[str, ...] = ()

    @property
    def failing(self) -> bool:
        """True when the latest run that touched this server failed it."""
        return self.last_status == FAILED

    @property
    def removed(self) -> bool:
        """True when the server left the group and its pack was moved out of the import folder."""
        return self.removed_at is not None


@dataclass(frozen=True)
class RunRecord:
    """One run: counts and exit code are None until the run finished."""

    id: int
    command: str
    started_at: str
    finished_at: str | None
    synced: int | None
    unchanged: int | None
    failed: int | None
    written: int | None
    exit_code: int | None


def iso_utc(at: datetime) -> str:
    """Return ``at`` as ISO 8601 UTC with second precision, e.g. ``2024-05-01T10:00:00Z``.

    Raises:
        ValueError: ``at`` is naive; a time without a zone cannot be stored unambiguously.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at!r} has no time zone; pass an aware datetime")
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class StateStore:
    """The state database.

    Args:
        path: the SQLite file; created (with its folder) if missing, migrated to the current
            schema on open.

    Raises:
        StateError: the file cannot be created or opened, is not a SQLite database, or has a
            schema newer than this version knows.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(
                f"cannot create the folder of state database {self.path}: {exc.strerror}; "
                "point output.state_path at a writable folder"
            ) from exc
        try:
            # check_same_thread=False: the sync workers share this connection under self._lock.
            self._conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise _state_error(self.path, exc, "opening it") from exc
        try:
            self._conn.execute("PRAGMA journal_mode=WAL").fetchone()
            migrate(self._conn, self.path)
        except sqlite3.Error as exc:
            self._conn.close()
            raise _state_error(self.path, exc, "opening it") from exc
        except StateError:
            self._conn.close()
            raise

    def close(self) -> None:
        """Close the connection; further calls raise StateError."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _db(self, doing: str) -> Iterator[sqlite3.Connection]:
        """Hold the lock and translate sqlite3 errors raised while ``doing`` something."""
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise _state_error(self.path, exc, doing) from exc

    # --- servers -----------------------------------------------------------------------

    def get(self, server: str) -> ServerState | None:
        """Return what is known about ``server`` (any letter case), or None if nothing is."""
        with self._db(f"reading server {server}") as conn:
            row = conn.execute(f"SELECT {_SERVER_COLUMNS} FROM servers WHERE server = ?", (server,)).fetchone()
        return _server_state(row) if row else None

    def history(self, server: str) -> dict | None:
        """What the stability step saw of ``server``'s boxes and arrows, or None. Read on its own,
        not with :meth:`get` or :meth:`all`: for a large map it is megabytes, and listing every
        server must not load every one."""
        with self._db(f"reading the history of {server}") as conn:
            row = conn.execute("SELECT history FROM servers WHERE server = ?", (server,)).fetchone()
        return json.loads(row[0]) if row and row[0] else None

    def aliases(self) -> dict[str, tuple[str, ...]]:
        """Every Servers Group spelling that resolved to a server, by the server's lower-cased name."""
        with self._db("listing server names") as conn:
            rows = conn.execute("SELECT server, name FROM aliases ORDER BY server, name").fetchall()
        found: dict[str, tuple[str, ...]] = {}
        for server, name in rows:
            found[server.lower()] = (*found.get(server.lower(), ()), name)
        return found

    def record_aliases(self, server: str, names: Iterable[str]) -> None:
        """Remember that each of ``names`` (Servers Group entries) resolved to ``server``."""
        with self._db(f"recording the names of {server}") as conn:
            conn.executemany("INSERT INTO aliases (name, server) VALUES (?, ?) "
                             "ON CONFLICT (name) DO UPDATE SET server = excluded.server",
                             [(name, server) for name in names])

    def mark_removed(self, server: str, *, at: datetime) -> None:
        """Remember that ``server`` left the group and its pack left the import folder."""
        with self._db(f"recording the removal of {server}") as conn:
            conn.execute("UPDATE servers SET removed_at = ?, removal_acknowledged = 0 WHERE server = ?",
                         (iso_utc(at), server))

    def acknowledge_removed(self) -> list[str]:
        """Stop listing removed servers (their packs were removed from SCOM); returns their names."""
        with self._db("acknowledging removed servers") as conn:
            rows = conn.execute("SELECT server FROM servers WHERE removed_at IS NOT NULL "
                                "AND removal_acknowledged = 0 ORDER BY server").fetchall()
            conn.execute("UPDATE servers SET removal_acknowledged = 1 WHERE removed_at IS NOT NULL")
        return [r[0] for r in rows]

    def all(self) -> list[ServerState]:
        """Return every server the database knows, sorted by name (case-insensitively)."""
        with self._db("listing servers") as conn:
            rows = conn.execute(f"SELECT {_SERVER_COLUMNS} FROM servers ORDER BY server, rowid").fetchall()
        return [_server_state(row) for row in rows]

    def record_published(
        self,
        server: str,
        *,
        machine: str | None,
        os_family: str | None,
        mp_id: str,
        version: str,
        content_hash: str,
        components: Iterable[str],
        connections: Iterable[str],
        at: datetime,
        names: dict[str, str] | None = None,
        fqdn: str | None = None,
        source: str | None = None,
        warnings: Iterable[str] = (),
        history: dict | None = None,
    ) -> None:
        """Remember that ``version`` of ``server``'s management pack was written at ``at``
        (a server that had been removed is back: its removal is cleared)."""
        when = iso_utc(at)
        with self._db(f"recording the publish of {server}") as conn:
            conn.execute(
                """INSERT INTO servers (server, machine, os_family, mp_id, version, content_hash, published_at,
                                        last_success, last_attempt, last_status, components, connections, names,
                                        fqdn, source, warnings, history, removed_at, removal_acknowledged)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0)
                   ON CONFLICT (server) DO UPDATE SET
                       server = excluded.server, machine = excluded.machine, os_family = excluded.os_family,
                       mp_id = excluded.mp_id, version = excluded.version, content_hash = excluded.content_hash,
                       published_at = excluded.published_at, last_success = excluded.last_success,
                       last_attempt = excluded.last_attempt, last_status = excluded.last_status,
                       components = excluded.components, connections = excluded.connections, names = excluded.names,
                       fqdn = excluded.fqdn, source = excluded.source, warnings = excluded.warnings,
                       history = excluded.history, removed_at = NULL, removal_acknowledged = 0""",
                (server, machine, os_family, mp_id, version, content_hash, when, when, when, PUBLISHED,
                 _json_list(components), _json_list(connections), json.dumps(names or {}, sort_keys=True),
                 fqdn, source, json.dumps(list(warnings)), _json_or_null(history)),
            )

    def record_unchanged(self, server: str, *, machine: str | None, os_family: str | None, at: datetime,
                         fqdn: str | None = None, source: str | None = None, warnings: Iterable[str] = (),
                         history: dict | None = None) -> None:
        """Remember a successful run for ``server`` that had nothing new to publish."""
        when = iso_utc(at)
        with self._db(f"recording {server}") as conn:
            conn.execute(
                """INSERT INTO servers (server, machine, os_family, last_success, last_attempt, last_status, fqdn,
                                        source, warnings, history)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (server) DO UPDATE SET
                       server = excluded.server, machine = excluded.machine, os_family = excluded.os_family,
                       last_success = excluded.last_success, last_attempt = excluded.last_attempt,
                       last_status = excluded.last_status, fqdn = excluded.fqdn, source = excluded.source,
                       warnings = excluded.warnings, history = excluded.history""",
                (server, machine, os_family, when, when, UNCHANGED, fqdn, source, json.dumps(list(warnings)),
                 _json_or_null(history)),
            )

    def record_failure(self, server: str, reason: str, *, at: datetime, machine: str | None = None,
                       source: str | None = None) -> None:
        """Remember that ``server`` failed; its last published version and hash are kept."""
        when = iso_utc(at)
        with self._db(f"recording the failure of {server}") as conn:
            conn.execute(
                """INSERT INTO servers (server, machine, last_failure, last_attempt, last_failure_reason, last_status,
                                        source)
                   VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (server) DO UPDATE SET
                       server = excluded.server, machine = coalesce(excluded.machine, machine),
                       last_failure = excluded.last_failure, last_attempt = excluded.last_attempt,
                       last_failure_reason = excluded.last_failure_reason, last_status = excluded.last_status,
                       source = coalesce(excluded.source, source)""",
                (server, machine, when, when, reason, FAILED, source),
            )

    # --- runs --------------------------------------------------------------------------

    def start_run(self, command: str, *, at: datetime) -> int:
        """Record the start of a run and return its id (increasing, never reused)."""
        when = iso_utc(at)
        with self._db("recording the start of a run") as conn:
            cursor = conn.execute("INSERT INTO runs (command, started_at) VALUES (?, ?)", (command, when))
        return int(cursor.lastrowid)

    def finish_run(
        self, run_id: int, *, at: datetime, synced: int, unchanged: int, failed: int, written: int, exit_code: int
    ) -> None:
        """Record how run ``run_id`` ended.

        Raises:
            StateError: there is no run ``run_id``.
        """
        when = iso_utc(at)
        with self._db(f"recording the end of run {run_id}") as conn:
            cursor = conn.execute(
                """UPDATE runs SET finished_at = ?, synced = ?, unchanged = ?, failed = ?, written = ?, exit_code = ?
                   WHERE id = ?""",
                (when, synced, unchanged, failed, written, exit_code, run_id),
            )
        if cursor.rowcount != 1:
            raise StateError(f"state database {self.path} has no run {run_id} to finish")

    def runs(self, limit: int = 20) -> list[RunRecord]:
        """Return the latest ``limit`` runs, newest first."""
        with self._db("listing runs") as conn:
            rows = conn.execute(
                """SELECT id, command, started_at, finished_at, synced, unchanged, failed, written, exit_code
                   FROM runs ORDER BY id DESC LIMIT ?""",
                (limit,),
            ).fetchall()
        return [RunRecord(*row) for row in rows]


_SERVER_COLUMNS = (
    "server, machine, os_family, mp_id, version, content_hash, published_at, last_success, last_failure, "
    "last_failure_reason, components, connections, last_status, fqdn, source, last_attempt, names, removed_at, "
    "removal_acknowledged, warnings"
)


def _server_state(row: tuple) -> ServerState:
    (*head, components, connections, last_status, fqdn, source, last_attempt, names, removed_at, acknowledged,
     warnings) = row
    return ServerState(*head, tuple(json.loads(components)), tuple(json.loads(connections)), last_status,
                       fqdn=fqdn, source=source, last_attempt=last_attempt, names=json.loads(names),
                       removed_at=removed_at, removal_acknowledged=bool(acknowledged),
                       warnings=tuple(json.loads(warnings)))


def _json_or_null(value: dict | None) -> str | None:
    return json.dumps(value, sort_keys=True, separators=(",", ":")) if value is not None else None


def _json_list(values: Iterable[str]) -> str:
    return json.dumps(sorted(set(values)))


# Primary result codes (the low byte of an extended code), with what the user can do.
_HINTS: dict[int, str] = {
    sqlite3.SQLITE_NOTADB: "is not a SQLite database ({error}): move it away or point output.state_path elsewhere",
    sqlite3.SQLITE_CORRUPT: "is damaged ({error}): move it away or point output.state_path elsewhere",
    sqlite3.SQLITE_CANTOPEN: "cannot be opened ({error}): check that its folder exists and is writable, "
                             "or point output.state_path elsewhere",
    sqlite3.SQLITE_READONLY: "is read-only ({error}): make it and its folder writable, "
                             "or point output.state_path elsewhere",
    sqlite3.SQLITE_PERM: "cannot be accessed ({error}): fix its permissions or point output.state_path elsewhere",
    sqlite3.SQLITE_FULL: "cannot grow ({error}): free disk space or point output.state_path elsewhere",
    sqlite3.SQLITE_IOERR: "cannot be read or written ({error}): check the disk it is on",
    sqlite3.SQLITE_BUSY: "is busy ({error}): another program keeps it locked; close it and try again",
    sqlite3.SQLITE_LOCKED: "is busy ({error}): another program keeps it locked; close it and try again",
}


def _state_error(path: Path, exc: sqlite3.Error, doing: str) -> StateError:
    """Turn a sqlite3 error into a StateError that says what to do."""
    code = getattr(exc, "sqlite_errorcode", None)
    hint = _HINTS.get(code & 0xFF) if isinstance(code, int) else None
    if hint is not None:
        message = f"state database {path} " + hint.format(error=exc)
    else:
        message = f"state database {path} failed while {doing}: {exc}"
    log.debug("sqlite3 error on %s while %s: %r", path, doing, exc)
    return StateError(message)
