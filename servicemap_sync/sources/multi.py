"""Several workspaces read as one source: machines of all of them, each map from its own.

Large estates report to several Log Analytics workspaces (subscriptions, regions, tenants).
The Servers Group is matched across all of them, so a group may span workspaces; a name that
two workspaces know is ambiguous and reported with both (see :mod:`.matching`). A machine whose
agent reports to two workspaces (same resource name) is read from the first that lists it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from types import SimpleNamespace

from ..model import Machine, MatchedServer
from .base import FetchedMap, Source

log = logging.getLogger(__name__)


class MultiSource:
    """The sources of several workspaces, each labelled with its workspace name."""

    def __init__(self, sources: Sequence[tuple[str, Source]]) -> None:
        self._sources = list(sources)
        self.kind = self._sources[0][1].kind
        self._owner: dict = {}

    @property
    def stats(self) -> SimpleNamespace:
        """Requests and 429s of every workspace's client, added up."""
        counted = [s.stats for _, s in self._sources if getattr(s, "stats", None) is not None]
        return SimpleNamespace(requests=sum(c.requests for c in counted), throttled=sum(c.throttled for c in counted))

    def list_machines(self, *, start: datetime, end: datetime) -> Iterator[Machine]:
        for label, source in self._sources:
            for machine in source.list_machines(start=start, end=end):
                first = self._owner.setdefault(machine.key, (label, source))
                if first[1] is source:
                    yield machine
                else:
                    log.info("machine %s (%s) reports to workspaces %s and %s; read from %s", machine.name,
                             machine.label, first[0], label, first[0])

    def plan(self, items: Sequence[MatchedServer], *, start: datetime, end: datetime) -> None:
        for _label, source in self._sources:
            source.plan([i for i in items if self._owner[i.machine.key][1] is source], start=start, end=end)

    def fetch(self, item: MatchedServer, *, start: datetime, end: datetime) -> FetchedMap:
        return self._owner[item.machine.key][1].fetch(item, start=start, end=end)

    def close(self) -> None:
        """Each workspace's source is closed by the context that opened it."""
