"""The integration's own health, for whatever watches it: a JSON status file and a Prometheus
text-format file, rewritten (atomically) at the end of every run.

``status.json`` holds the last run (command, times, exit code), the interval the service runs
at, and each server's status, reason, last success and last attempt; the integration management
pack's monitors read it from a path or share. ``servicemap-sync.prom`` carries the same figures
for Prometheus' node-exporter textfile collector. Both list servers sorted by name, so the same
state gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from .state import FAILED, RunRecord, ServerState
from .writer import publish_file

__all__ = ["PROMETHEUS_FILE", "STATUS_FILE", "write_status"]

STATUS_FILE = "status.json"
PROMETHEUS_FILE = "servicemap-sync.prom"


def write_status(directory: Path, *, run: RunRecord, servers: Iterable[ServerState],
                 interval_seconds: int) -> tuple[Path, Path]:
    """Write ``status.json`` and ``servicemap-sync.prom`` into ``directory``.

    Raises:
        PublishError: a file could not be written.
    """
    rows = sorted(servers, key=lambda s: (s.server.casefold(), s.server))
    document = {
        "last_run": {"id": run.id, "command": run.command, "started_at": run.started_at,
                     "finished_at": run.finished_at, "exit_code": run.exit_code},
        "interval_seconds": interval_seconds,
        "servers": [{"server": s.server, "status": _status(s), "reason": s.last_failure_reason if s.failing else None,
                     "last_success": s.last_success, "last_attempt": s.last_attempt, "mp_id": s.mp_id,
                     "version": s.version, "source": s.source} for s in rows],
    }
    status = publish_file(directory, STATUS_FILE,
                          (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))
    return status, publish_file(directory, PROMETHEUS_FILE, _prometheus(run, rows, interval_seconds).encode("utf-8"))


def _status(server: ServerState) -> str:
    if server.removed:
        return "removed"
    return "failed" if server.failing else ("ok" if server.last_success else "never synced")


def _prometheus(run: RunRecord, rows: list[ServerState], interval_seconds: int) -> str:
    lines = [
        "# HELP servicemap_sync_last_run_finished_timestamp_seconds When the last run finished.",
        "# TYPE servicemap_sync_last_run_finished_timestamp_seconds gauge",
        f"servicemap_sync_last_run_finished_timestamp_seconds {_epoch(run.finished_at)}",
        "# HELP servicemap_sync_last_run_exit_code Exit code of the last run (0 ok, 1 some servers failed, 2 none ran).",
        "# TYPE servicemap_sync_last_run_exit_code gauge",
        f"servicemap_sync_last_run_exit_code {run.exit_code if run.exit_code is not None else -1}",
        "# HELP servicemap_sync_interval_seconds IntervalSeconds of the service.",
        "# TYPE servicemap_sync_interval_seconds gauge",
        f"servicemap_sync_interval_seconds {interval_seconds}",
        "# HELP servicemap_sync_server_failing 1 when the server's last attempt failed.",
        "# TYPE servicemap_sync_server_failing gauge",
        *(f"servicemap_sync_server_failing{{server=\"{_label(s.server)}\"}} {int(s.last_status == FAILED)}"
          for s in rows if not s.removed),
        "# HELP servicemap_sync_server_last_success_timestamp_seconds When the server last synced successfully.",
        "# TYPE servicemap_sync_server_last_success_timestamp_seconds gauge",
        *(f"servicemap_sync_server_last_success_timestamp_seconds{{server=\"{_label(s.server)}\"}} "
          f"{_epoch(s.last_success)}" for s in rows if not s.removed and s.last_success),
    ]
    return "\n".join(lines) + "\n"


def _epoch(stamp: str | None) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()) if stamp else 0


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
