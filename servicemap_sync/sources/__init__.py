"""Sources: where a run gets machines and dependency maps, behind one small interface.

:mod:`.base` says what a source is (:class:`~.base.Source`); :func:`open_source` signs in,
resolves what the configured source needs once per run, and hands it to the service. The
shared plumbing sits beside the sources, one module each: :mod:`.auth` (the credential),
:mod:`.transport` (bounded reads, retries), :mod:`.ratelimit`, :mod:`.workspace`,
:mod:`.matching` (Servers Group names to machines).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..config import Settings
from .base import KINDS, PARSERS, FetchedMap, Source

__all__ = ["KINDS", "PARSERS", "FetchedMap", "Source", "open_source"]


@contextmanager
def open_source(settings: Settings) -> Iterator[Source]:
    """The configured source, signed in and ready; closed afterwards.

    Raises:
        AuthError, WorkspaceError: the run cannot start.
    """
    from .servicemap import ServiceMapSource
    from .session import open_session

    with open_session(settings) as session:
        source = ServiceMapSource(session.client, session.transport)
        try:
            yield source
        finally:
            source.close()
