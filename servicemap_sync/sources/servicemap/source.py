"""The Service Map API as a source (see :mod:`servicemap_sync.sources.base`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from ...model import Machine, MachineGroup, MatchedServer
from ..base import FetchedMap
from ..transport import ArmTransport
from .client import ServiceMapClient


class ServiceMapSource:
    """The Service Map API as a :class:`~servicemap_sync.sources.base.Source`: machines from
    ``machines``, each map one ``generateMap`` call, returned undecoded so that a large body can
    be parsed in a worker process."""

    kind = "servicemap"

    def __init__(self, client: ServiceMapClient, transport: ArmTransport) -> None:
        self._client = client
        #: the run's request and 429 counters (the benchmark prints them)
        self.stats = transport.stats

    def list_machines(self, *, start: datetime, end: datetime) -> Iterator[Machine]:
        return self._client.list_machines(start=start, end=end)

    def plan(self, items: Sequence[MatchedServer], *, start: datetime, end: datetime) -> None:
        """Nothing to plan: Service Map answers one server per request."""

    def fetch(self, item: MatchedServer, *, start: datetime, end: datetime) -> FetchedMap:
        raw = self._client.fetch_map(item.server, item.machine, start=start, end=end)
        return FetchedMap(raw=raw, parser="servicemap")

    def list_groups(self, *, start: datetime, end: datetime) -> Iterator[MachineGroup]:
        return self._client.list_machine_groups(start=start, end=end)

    def fetch_group(self, group: MachineGroup, *, start: datetime, end: datetime) -> FetchedMap:
        """One ``map:machine-group-dependency`` request: fewer than one map per member."""
        return FetchedMap(group=group.label, group_map=self._client.generate_group_map(group, start=start, end=end))

    def close(self) -> None:
        """The session that made the client closes the transport."""
