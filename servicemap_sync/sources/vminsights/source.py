"""The VM insights source: the run's machines and each server's map from the VM insights tables.

Queries go out per *batch* of servers, not per server: :meth:`VmInsightsSource.plan` groups the
matched servers (``batch_size`` each) and starts the first batches' queries at once, in the
background, so they overlap with the processing of the maps already fetched. A batch asks for its
connections, then (at the same time) for the processes and the ports of its servers and of every
monitored peer they talked to; it needs the connections first to know the peers. A
:meth:`~VmInsightsSource.fetch` waits for its server's batch, and each batch it reaches lets the
next one start, so at most :data:`BATCHES_AHEAD` batches beyond the one being fetched are read
ahead and held in memory. The client keeps the queries in flight to its limit (4) and under its
rate limiter whatever the batches ask. 1,000 servers cost ``3 × ceil(1000 / batch_size)`` queries
plus one for the machine list.

An answer the service marks partial, or that reaches the row limit, is never used: the machine
list is halved and each half asked again, down to one machine, whose answer alone is then too
large and fails that server only. A query that keeps failing (after the client's retries) fails
the servers it was for, each named with the reason, and no other. The outcome of a batch does not
depend on the order its queries finish in.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
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


#: batches whose queries may run ahead of the one the fetches have reached (each holds its maps
#: until they are fetched, so this bounds the memory read ahead, not only the requests)
BATCHES_AHEAD = 2


@dataclass
class _Batch:
    """Servers whose maps come from the same queries; ``future`` is set when they are started."""

    index: int
    items: tuple[MatchedServer, ...]
    future: Future | None = None
    #: servers whose outcome has not been handed out yet (the outcomes are released as they are)
    waiting: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.waiting = {item.server for item in self.items}


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
        self._inventory_lock = threading.Lock()
        self._inventory: Inventory | None = None
        self._batches: dict[str, _Batch] = {}
        self._planned: list[_Batch] = []
        self._closed = False
        # a batch's own thread asks for its connections and processes; its ports go to the second
        # pool, whose threads never wait for another task, so neither pool can deadlock
        self._batch_pool = ThreadPoolExecutor(max(1, max_concurrent_queries // 2),
                                              thread_name_prefix="vminsights-batch")
        self._query_pool = ThreadPoolExecutor(max(1, max_concurrent_queries), thread_name_prefix="vminsights-query")

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
        """Group ``items`` into batches of ``batch_size``, in the order given, and start the queries
        of the first ``1 + BATCHES_AHEAD`` batches in the background."""
        with self._lock:
            for first in range(0, len(items), self._batch_size):
                batch = _Batch(len(self._planned), tuple(items[first:first + self._batch_size]))
                self._planned.append(batch)
                for item in batch.items:
                    self._batches[item.server] = batch
            if self._planned:
                self._start_through(self._planned[0].index + BATCHES_AHEAD, start, end)

    def fetch(self, item: MatchedServer, *, start: datetime, end: datetime) -> FetchedMap:
        """The map of ``item``, from its batch's answers (waiting for them; starting them if they are
        not yet, and letting the batches after it start).

        Raises:
            QueryError: a query for this server failed after its retries or was too large.
            SourceError: the tables hold no rows for this server in the window.
        """
        with self._lock:
            batch = self._batches.get(item.server)
            if batch is None or item.server not in batch.waiting:  # not planned, or fetched before: on its own
                batch = _Batch(-1, (item,))
                batch.future = self._submit(batch.items, start, end)
            else:
                self._start_through(batch.index + BATCHES_AHEAD, start, end)
                batch.waiting.discard(item.server)
                if not batch.waiting:
                    self._batches = {s: b for s, b in self._batches.items() if b is not batch}
            future = batch.future
        outcome = future.result()[item.server]
        if isinstance(outcome, SyncError):
            raise outcome
        return FetchedMap(server_map=outcome)

    def close(self) -> None:
        """Drop the batches not started, let the running ones end without sending another query
        (what they still needed fails their servers), and close the client."""
        with self._lock:
            self._closed = True
        self._batch_pool.shutdown(wait=True, cancel_futures=True)
        self._query_pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    # -- batches ----------------------------------------------------------------------------------
    def _start_through(self, last: int, start: datetime, end: datetime) -> None:
        """Start the planned batches up to index ``last`` that have not started (under ``_lock``)."""
        for batch in self._planned[:last + 1]:
            if batch.future is None:
                batch.future = self._submit(batch.items, start, end)

    def _submit(self, items: tuple[MatchedServer, ...], start: datetime, end: datetime) -> Future:
        """``_run(items)`` in the batch pool (under ``_lock``); after :meth:`close`, a batch whose
        servers fail at once instead."""
        if self._closed:
            future: Future = Future()
            future.set_result({item.server: QueryError(f"{item.server}: the run is stopping", server=item.server)
                               for item in items})
            return future
        return self._batch_pool.submit(self._run, items, start, end)

    def _load_inventory(self, start: datetime, end: datetime) -> Inventory:
        with self._inventory_lock:
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
        """Every server of ``items``: its map, or the error that fails it.

        Each shape records its failed machines apart and they are merged in a fixed order
        (connections, processes, ports), so the reason a server is given does not depend on which
        query answered first.
        """
        inventory = self._load_inventory(start, end)
        focus = sorted({item.machine.name for item in items})
        failed_connections: dict[str, str] = {}
        connections = {connection_rows_key(r): r
                       for r in self._split("connections", focus, start, end, failed_connections)}
        conn_rows = [connections[k] for k in sorted(connections, key=_sort_key)]
        needed = sorted({inventory.machines[m].name for m in inventory.peers(conn_rows) if m in inventory.machines}
                        | set(focus))
        detail = [m for m in needed if m.lower() not in failed_connections]  # its keys are lower-case
        failed_processes: dict[str, str] = {}
        failed_ports: dict[str, str] = {}
        ports = self._query_pool.submit(self._split, "ports", detail, start, end, failed_ports)
        try:
            processes = self._split("processes", detail, start, end, failed_processes)
        finally:
            port_rows = ports.result()  # never leave a query of this batch running behind it
        failed = dict(failed_connections)
        for more in (failed_processes, failed_ports):
            for machine, reason in more.items():
                failed.setdefault(machine, reason)
        rows = BatchRows(conn_rows, processes, port_rows)
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
        if self._closed:  # the run is stopping: send nothing more
            for machine in machines:
                failed.setdefault(machine.lower(), "the run is stopping")
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
