"""The state database schema as numbered, recorded migrations.

Each migration runs once, in number order, inside its own ``BEGIN IMMEDIATE`` transaction
together with the row that records it in ``schema_migrations``; so a crash mid-migration leaves
the database at the previous step, and two processes opening the same file at once cannot apply
a step twice (the second re-checks under the write lock). A database recording a migration this
code does not know was written by a newer servicemap-sync and is refused rather than guessed at.

Never edit a released migration: add a new one with the next number.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import StateError

__all__ = ["MIGRATIONS", "Migration", "applied_migrations", "migrate"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    """One schema step: its number, a short name, and the SQL statements it runs."""

    number: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "servers", (
        # Server names are DNS names, so the key ignores case; the latest spelling is kept.
        # components/connections are JSON arrays of sorted strings (the last published MP's).
        """CREATE TABLE servers (
            server TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
            machine TEXT,
            os_family TEXT,
            mp_id TEXT,
            version TEXT,
            content_hash TEXT,
            published_at TEXT,
            last_success TEXT,
            last_failure TEXT,
            last_failure_reason TEXT,
            last_status TEXT,
            components TEXT NOT NULL DEFAULT '[]',
            connections TEXT NOT NULL DEFAULT '[]'
        )""",
    )),
    Migration(2, "runs", (
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            command TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            synced INTEGER,
            unchanged INTEGER,
            failed INTEGER,
            written INTEGER,
            exit_code INTEGER
        )""",
    )),
    Migration(3, "machine identity and removal", (
        # A server's row is found by its machine, whatever spelling named it (a run reads every
        # row once); the spellings seen in the Servers Group point at it from `aliases`.
        "ALTER TABLE servers ADD COLUMN fqdn TEXT",
        "ALTER TABLE servers ADD COLUMN source TEXT",
        "ALTER TABLE servers ADD COLUMN last_attempt TEXT",
        # class ID -> label of the last published pack's boxes, so reports show names
        "ALTER TABLE servers ADD COLUMN names TEXT NOT NULL DEFAULT '{}'",
        # set when the server left the group and its pack was moved out of the import folder
        "ALTER TABLE servers ADD COLUMN removed_at TEXT",
        "ALTER TABLE servers ADD COLUMN removal_acknowledged INTEGER NOT NULL DEFAULT 0",
        """CREATE TABLE aliases (
            name TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
            server TEXT NOT NULL COLLATE NOCASE
        )""",
    )),
    Migration(4, "box warnings", (
        # the last rendered pack's boxes whose membership SCOM cannot express (JSON list of text)
        "ALTER TABLE servers ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]'",
    )),
    Migration(5, "diagram stability", (
        # what the stability step saw of each box and arrow in the last syncs (graph.stability)
        "ALTER TABLE servers ADD COLUMN history TEXT",
    )),
)


def applied_migrations(conn: sqlite3.Connection) -> list[int]:
    """Return the numbers recorded in ``schema_migrations``, ascending."""
    return [row[0] for row in conn.execute("SELECT number FROM schema_migrations ORDER BY number")]


def migrate(conn: sqlite3.Connection, path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Apply every migration of ``migrations`` not yet recorded, in number order.

    Args:
        conn: an autocommit connection (``isolation_level=None``); transactions are explicit.
        path: the database file, for messages.
        migrations: the known steps (tests pass a prefix to build an older database).

    Returns:
        The numbers applied by this call (empty when the schema was already current).

    Raises:
        StateError: the database records a migration newer than any known here.
        sqlite3.Error: a statement failed; the failing migration is rolled back.
    """
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (number INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    known = max((m.number for m in migrations), default=0)
    newest = max(applied_migrations(conn), default=0)
    if newest > known:
        raise StateError(
            f"state database {path} has schema version {newest}, newer than this servicemap-sync knows ({known}): "
            "upgrade servicemap-sync or point output.state_path elsewhere"
        )
    done: list[int] = []
    for migration in sorted(migrations, key=lambda m: m.number):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT 1 FROM schema_migrations WHERE number = ?", (migration.number,)).fetchone():
                conn.execute("COMMIT")
                continue
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (number, name) VALUES (?, ?)", (migration.number, migration.name))
            conn.execute("COMMIT")
        except sqlite3.Error:
            if conn.in_transaction:  # some errors (disk full) already rolled it back
                conn.execute("ROLLBACK")
            raise
        log.info("state database %s: applied migration %d (%s)", path, migration.number, migration.name)
        done.append(migration.number)
    return done
