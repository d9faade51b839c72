"""The VM insights source: the run's machines and each server's map from the VM insights tables.

Queries go out per *batch* of servers, not per server: :meth:`VmInsightsSource.plan` groups the
matched servers (``batch_size`` each), and the first :meth:`~VmInsightsSource.fetch` of a server
runs its batch's three queries (connections, then the processes and ports of the servers and
of every monitored peer they talked to) while the pool's other threads asking for servers of the
same batch wait for it. 1,000 servers cost ``3 × ceil(1000 / batch_size)`` queries plus one for
the machine list.

An answer the service marks partial, or that reaches the row limit, is never used: the machine
list is halved and each half asked again, down to one machine, whose answer alone is then too
large and fails that server only. A query that keeps failing (after the client's retries) fails
the servers it was for, each named with the reason, and no other.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from azure.core.credentials import TokenCredential

from ...errors import ConfigError, QueryError, SourceError, SyncError, WorkspaceError
from ...model import Machine, MatchedServer, ServerMap
from ..base import FetchedMap
from ..transport import RetryPolicy
from .client import DEFAULT_LOGS_QUERY_URL, DEFAULT_MAX_CONCURRENT, LogsClient, PartialAnswer, QueryFailed
from .queries import MAP_QUERIES, machines_query
from .rows import BatchRows, Inventory, MapBuilder, connection_rows_key, machine_from_row

DEFAULT_BATCH_SIZE = 100
#: ``source.batch_size`` bounds: one server per query at worst, and a machine list that keeps
#: the query text (about 45 characters a machine) far below what the API accepts
BATCH_SIZE_RANGE = (1, 1000)


@dataclass
class _Batch:
    """Servers whose maps come from the same queries; the first fetch runs them, under the lock."""

    items: tuple[MatchedServer, ...]
    lock: threading.Lock = field(default_factory=threading.Lock)
    results: dict[str, ServerMap | SyncError] | None = None

    def result(self, server: str, run: Callable[[tuple[MatchedServer, ...]], dict[str, ServerMap | SyncError]]
               ) -> ServerMap | SyncError:
        with self.lock:
            if self.results is None:
                self.results = run(self.items)
            return self.results[server]


class VmInsightsSource:
    """Reads machines and maps from a workspace's VM insights tables (:class:`~..base.Source`).

    Args:
        credential: the run's azure-identity credential.
        workspace_id: the workspace's customer ID (a GUID: ``Workspace.customer_id``).
        logs_query_url: ``azure.logs_query_url``, the query API of the cloud (token scope ``<url>/.default``).
        ca_bundle: CA file to trust, as for every other request of the run.
        timeout_seconds: TimeoutSeconds, per request.
        batch_size: servers per query (``source.batch_size``, 1..1000).
        max_concurrent_queries: queries in flight at once (the API runs 5 per user at a time).
        retry: attempts and total wait for 429, 5xx, timeouts and dropped connections.

    Raises:
        WorkspaceError: ``workspace_id`` is not a GUID (the workspace was resolved without one).
        ConfigError: ``batch_size`` is out of range.
    """

    kind = "vminsights"

    def __init__(self, credential: TokenCredential, *, workspace_id: str | None,
                 logs_query_url: str = DEFAULT_LOGS_QUERY_URL, ca_bundle: str | None = None,
                 timeout_seconds: float, batch_size: int = DEFAULT_BATCH_SIZE,
                 max_concurrent_queries: int = DEFAULT_MAX_CONCURRENT, retry: RetryPolicy = RetryPolicy()) -> None:
        try:
            self._workspace_id = str(uuid.UUID(workspace_id or ""))
        except ValueError:
            raise WorkspaceError(
                f"the workspace's customer ID {workspace_id!r} is not a GUID: the query API names a workspace by it; "
                f"check that the principal may read the workspace's properties") from None
        low, high = BATCH_SIZE_RANGE
        if not low <= batch_size <= high:
            raise ConfigError(f"source.batch_size = {batch_size}: must be {low}..{high}")
        self._batch_size = batch_size
        self._client = LogsClient(credential, workspace_id=self._workspace_id, endpoint=logs_query_url,
                                  ca_bundle=ca_bundle, timeout_seconds=timeout_seconds, retry=retry,
                                  max_concurrent=max_concurrent_queries)
        self._lock = threading.Lock()
        self._inventory: Inventory | None = None
        self._batches: dict[str, _Batch] = {}

    @property
    def stats(self):
        """Requests sent and 429s met, for the run's summary and the benchmark."""
        return self._client.stats

    # -- Source ---------------------------------------------------------------------------------
    def list_machines(self, *, start: datetime, end: datetime) -> Iterable[Machine]:
        """Every machine with a ``VMComputer`` row near the window (see :mod:`.queries`).

        Raises:
            QueryError: the machine list could not be read (it fails the run, not a server).
        """
        return tuple(self._load_inventory(start, end).machines.values())

    def plan(self, items: Sequence[MatchedServer], *, start: datetime, end: datetime) -> None:
        """Group ``items`` into batches of ``batch_size``, in the order given; nothing is sent yet."""
        with self._lock:
            for first in range(0, len(items), self._batch_size):
                batch = _Batch(tuple(items[first:first + self._batch_size]))
                for item in batch.items:
                    self._batches[item.server] = batch

    def fetch(self, item: MatchedServer, *, start: datetime, end: datetime) -> FetchedMap:
        """The map of ``item``, from its batch's answers (running them on the batch's first fetch).

        Raises:
            QueryError: a query for this server failed after its retries or was too large.
            SourceError: the tables hold no rows for this server in the window.
        """
        with self._lock:
            batch = self._batches.get(item.server)
            if batch is None:  # not planned: a batch of its own
                batch = self._batches[item.server] = _Batch((item,))
        outcome = batch.result(item.server, lambda items: self._run(items, start, end))
        if isinstance(outcome, SyncError):
            raise outcome
        return FetchedMap(server_map=outcome)

    def close(self) -> None:
        self._client.close()

    # -- batches ----------------------------------------------------------------------------------
    def _load_inventory(self, start: datetime, end: datetime) -> Inventory:
        with self._lock:
            if self._inventory is None:
                try:
                    rows = self._client.query("machines", machines_query(start=start, end=end), start=start,
                                              end=end, what="VM insights machine list (VMComputer)")
                except (QueryFailed, PartialAnswer) as exc:
                    raise QueryError(str(exc)) from None
                self._inventory = Inventory.of((machine_from_row(r, self._workspace_id) for r in rows),
                                               self._workspace_id)
            return self._inventory

    def _run(self, items: tuple[MatchedServer, ...], start: datetime, end: datetime) -> dict[str, ServerMap | SyncError]:
        inventory = self._load_inventory(start, end)
        failed: dict[str, str] = {}
        focus = sorted({item.machine.name for item in items})
        connections = {connection_rows_key(r): r for r in self._split("connections", focus, start, end, failed)}
        conn_rows = [connections[k] for k in sorted(connections, key=_sort_key)]
        needed = sorted({inventory.machines[m].name for m in inventory.peers(conn_rows) if m in inventory.machines}
                        | set(focus))
        detail = [m for m in needed if m not in failed]
        rows = BatchRows(conn_rows, self._split("processes", detail, start, end, failed),
                         self._split("ports", detail, start, end, failed))
        return {item.server: self._outcome(item, rows, inventory, failed, start, end) for item in items}

    def _outcome(self, item: MatchedServer, rows: BatchRows, inventory: Inventory, failed: dict[str, str],
                 start: datetime, end: datetime) -> ServerMap | SyncError:
        name = item.machine.key.name
        own = rows.own.get(name, [])
        inbound = [r for ip in item.machine.ipv4_addresses for r in rows.outbound_to.get(ip, ())]
        needed = sorted({name} | inventory.peers([*own, *inbound]))
        reasons = [failed[m] for m in needed if m in failed]
        if reasons:
            peer = "" if name in failed else " (for a peer its map needs)"
            return QueryError(f"{item.server}: {reasons[0]}{peer}", server=item.server)
        if not rows.has_rows(name):
            return SourceError(
                f"{item.server}: no VM insights rows for machine {item.machine.name} in {_iso(start)} .. {_iso(end)} "
                f"(VMProcess, VMBoundPort and VMConnection hold none): check that the Dependency Agent runs on it "
                f"and reports to workspace {self._workspace_id}, and that the window lies within the workspace's "
                f"retention", server=item.server)
        return MapBuilder(item.server, item.machine, rows, inventory, start=start, end=end).build()

    def _split(self, shape: str, machines: list[str], start: datetime, end: datetime,
               failed: dict[str, str]) -> list[dict[str, Any]]:
        """The rows of ``shape`` for ``machines``, halving the list while answers come back partial;
        machines whose query fails for good are recorded in ``failed`` (lower-cased name → reason)."""
        if not machines:
            return []
        what = f"VM insights {shape} query for {len(machines)} machine{'s' if len(machines) > 1 else ''}"
        try:
            return self._client.query(shape, MAP_QUERIES[shape](machines, start=start, end=end), start=start,
                                      end=end, what=what)
        except PartialAnswer as exc:
            if len(machines) == 1:
                failed.setdefault(machines[0].lower(), f"{exc}, even for this machine alone: shorten "
                                                       f"TimeWindowMinutes")
                return []
            half = len(machines) // 2
            return (self._split(shape, machines[:half], start, end, failed)
                    + self._split(shape, machines[half:], start, end, failed))
        except QueryFailed as exc:
            for machine in machines:
                failed.setdefault(machine.lower(), str(exc))
            return []


def _sort_key(key: tuple) -> tuple:
    return tuple(str(part) for part in key)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
