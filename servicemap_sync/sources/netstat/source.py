"""The netstat/ss snapshot source: a folder of captures instead of an API.

A run reads every snapshot file of its window once (the first call that needs them), since a
server's map needs its peers' captures too: who listens on the port it called, which process
called its port. Reading is cached per window and guarded by a lock, because the service
fetches servers from a pool of threads.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from ...errors import SourceError
from ...model import Machine, MatchedServer
from ..base import FetchedMap
from .folder import FORMATS, Snapshot, SnapshotFile, list_snapshots, read_snapshot
from .hosts import read_hosts
from .index import ServerCapture, WindowIndex, server_machine
from .mapping import build_server_map

__all__ = ["NetstatSource"]

log = logging.getLogger(__name__)


class NetstatSource:
    """Servers and their maps from snapshot files in ``snapshot_dir``, peers named by ``hosts_file``."""

    kind = "netstat"

    def __init__(self, snapshot_dir: Path, hosts_file: Path | None = None) -> None:
        self._root = Path(snapshot_dir)
        self._hosts_file = hosts_file
        self._lock = threading.Lock()
        self._cached: tuple[tuple[datetime, datetime], WindowIndex, dict[str, Machine]] | None = None

    def list_machines(self, *, start: datetime, end: datetime) -> list[Machine]:
        """One machine per server with snapshot files captured in ``[start, end]``, by host name.

        Raises:
            ConfigError: the folder or the hosts file is missing or unreadable.
        """
        _index, machines = self._window(start, end)
        return list(machines.values())

    def plan(self, items: Sequence[MatchedServer], *, start: datetime, end: datetime) -> None:
        """Nothing to plan: the window's files are read once, on the first call that needs them."""

    def fetch(self, item: MatchedServer, *, start: datetime, end: datetime) -> FetchedMap:
        """The map of ``item`` from the merged snapshots of the window.

        Raises:
            SourceError: one of the server's files cannot be read (naming the file and line), or
                it has no snapshot in the window.
        """
        index, machines = self._window(start, end)
        host = next((h for h, m in machines.items() if m.key == item.machine.key), None)
        if host is None:
            raise SourceError(
                f"{item.server}: no snapshot in {self._root} captured between {start:%Y-%m-%d %H:%M:%S} and "
                f"{end:%Y-%m-%d %H:%M:%S} UTC; check that the capture job runs and writes there", server=item.server)
        if host in index.errors:
            raise SourceError(str(index.errors[host]), server=item.server)
        server_map = build_server_map(index, index.captures[host], server=item.server, start=start, end=end)
        return FetchedMap(server_map=server_map)

    def close(self) -> None:
        """Forget the window's captures (nothing stays open between calls)."""
        with self._lock:
            self._cached = None

    def _window(self, start: datetime, end: datetime) -> tuple[WindowIndex, dict[str, Machine]]:
        with self._lock:
            if self._cached is None or self._cached[0] != (start, end):
                self._cached = ((start, end), *self._read(start, end))
            return self._cached[1], self._cached[2]

    def _read(self, start: datetime, end: datetime) -> tuple[WindowIndex, dict[str, Machine]]:
        hosts = read_hosts(self._hosts_file)
        by_host: dict[str, list[SnapshotFile]] = defaultdict(list)
        for file in list_snapshots(self._root, start=start, end=end):
            by_host[file.host.casefold()].append(file)
        captures: dict[str, ServerCapture] = {}
        errors: dict[str, SourceError] = {}
        machines: dict[str, Machine] = {}
        for host, files in by_host.items():
            read: list[Snapshot] = []
            for file in files:
                try:
                    read.append(read_snapshot(file, self._root))
                except SourceError as exc:
                    log.warning("%s", exc)
                    errors.setdefault(host, exc)
            if read:
                capture = ServerCapture.merge(read)
                machines[host] = capture.machine
                if host not in errors:
                    captures[host] = capture
            else:
                latest = files[-1]
                machines[host] = server_machine(latest.host, FORMATS[latest.format].os_family, None)
        log.debug("snapshots %s..%s: %d servers, %d unreadable", start, end, len(machines), len(errors))
        return WindowIndex(captures, errors, hosts), machines
