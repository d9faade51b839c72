"""The publish layer: what a run leaves behind, and how it leaves it safely.

- :mod:`.state`: the SQLite state database (servers, runs) with recorded :mod:`.migrations`.
- :mod:`.lock`: one run at a time per state database (``flock`` on ``<state_path>.lock``).
- :mod:`.writer`: atomic writes into the output folder, and cleanup after a crashed run.
- :mod:`.published`: read back a management pack already in the output folder.
- :mod:`.versions`: management-pack version numbers.
- :mod:`.report`: the per-run change report in ``<output.directory>/reports/``.
- :mod:`.status`: the integration's health (``status.json``, a Prometheus file) after every run.

Only the standard library is used here. Every failure leaves as
:class:`~servicemap_sync.errors.StateError`, :class:`~servicemap_sync.errors.LockedError` or
:class:`~servicemap_sync.errors.PublishError`.
"""

from __future__ import annotations

from .lock import lock_path, run_lock
from .published import PublishedPack, read_published
from .report import (
    REMOVED_FOLDER, REPORTS_FOLDER, ChangeReport, ServerChange, append_run_log, prune_reports, write_change_report,
)
from .state import RunRecord, ServerState, StateStore, iso_utc
from .status import PROMETHEUS_FILE, STATUS_FILE, write_status
from .versions import FIRST_VERSION, next_version, version_tuple
from .writer import check_writable, cleanup_temp_files, move_aside, publish_file

__all__ = [
    "FIRST_VERSION",
    "PROMETHEUS_FILE",
    "REMOVED_FOLDER",
    "REPORTS_FOLDER",
    "STATUS_FILE",
    "ChangeReport",
    "PublishedPack",
    "RunRecord",
    "ServerChange",
    "ServerState",
    "append_run_log",
    "StateStore",
    "check_writable",
    "cleanup_temp_files",
    "iso_utc",
    "lock_path",
    "move_aside",
    "next_version",
    "prune_reports",
    "publish_file",
    "read_published",
    "run_lock",
    "version_tuple",
    "write_change_report",
    "write_status",
]
