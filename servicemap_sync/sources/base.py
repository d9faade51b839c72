"""What a source is: where a run gets its machines and each server's dependency map.

A run signs in and resolves what it needs once (:func:`servicemap_sync.sources.open_source`),
lists the machines live in the time window, matches the Servers Group against them, lets the
source plan its requests for the matched servers (a batch source groups them here), and then
asks for each server's map from a pool of threads. A map comes back either as the domain model
(:class:`~servicemap_sync.model.ServerMap`) or, when it is cheaper to parse elsewhere (a large
Service Map body handed to a worker process), as raw bytes plus the name of the parser that
reads them (:data:`PARSERS`).

Every source keeps the same contract: the window is ``[now - TimeWindowMinutes, now]`` and at
most 60 minutes; a server whose data is missing or broken fails alone, with a reason that
names the input and what to do (:class:`~servicemap_sync.errors.SourceError` or another
:class:`~servicemap_sync.errors.SyncError`); sign-in and workspace errors stop the run before
any server.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ..config import SOURCE_KINDS
from ..model import GroupMap, Machine, MatchedServer, ServerMap

#: Service Map JSON bytes per node or edge of a map (the sample estate's maps average 1.5 to 2 KB)
BYTES_PER_ITEM = 1536

#: the source kinds a configuration may name
KINDS = SOURCE_KINDS


@dataclass(frozen=True)
class FetchedMap:
    """One server's map: parsed (``server_map``), or raw bytes and the :data:`PARSERS` key that reads them."""

    server_map: ServerMap | None = None
    raw: bytes | None = None
    parser: str | None = None
    #: a machine group's DA instead: the group's name, and its map as the source gave it
    #: (Service Map's group map) or its members' maps, with the members that have none
    group: str | None = None
    group_map: GroupMap | None = None
    members: tuple[ServerMap, ...] = ()
    missing: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """The work the map is, in bytes of Service Map JSON: decides whether a worker process
        takes it. A parsed map counts :data:`BYTES_PER_ITEM` per node and edge, about what
        each costs as ``generateMap`` JSON, so ``sync.large_map_kb`` means the same for every source."""
        if self.raw is not None:
            return len(self.raw)
        m = self.server_map
        if m is None:
            return 0  # a group is processed in the fetch thread
        items = (len(m.machines) + len(m.processes) + len(m.ports) + len(m.client_groups) + len(m.connections)
                 + len(m.acceptors))
        return items * BYTES_PER_ITEM


class Source(Protocol):
    """The calls the service makes on a source, in this order, within one run."""

    #: one of :data:`KINDS`, shown by ``servers`` and kept in the state
    kind: str

    def list_machines(self, *, start: datetime, end: datetime) -> Iterable[Machine]:
        """Every machine the source knows in ``[start, end]``, for matching the Servers Group."""

    def plan(self, items: Sequence[MatchedServer], *, start: datetime, end: datetime) -> None:
        """Told the matched servers before any :meth:`fetch` (a batch source groups them here)."""

    def fetch(self, item: MatchedServer, *, start: datetime, end: datetime) -> FetchedMap:
        """The map of one matched server; raises a SyncError that fails this server alone."""

    def close(self) -> None:
        """Release connections and files; called once when the run ends."""


#: parser key -> "module:function" taking (raw, server=, focus_machine=) and returning a ServerMap;
#: a worker process imports the function by name, so only plain data crosses to it
PARSERS = {
    "servicemap": "servicemap_sync.sources.servicemap.parse:parse_map_body",
}
