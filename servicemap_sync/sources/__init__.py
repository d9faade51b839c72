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
    if settings.source_kind == "netstat":
        from .netstat import NetstatSource

        source: Source = NetstatSource(settings.snapshot_dir, settings.hosts_file)
        with _closing(source):
            yield source
    elif settings.source_kind == "vminsights":
        from .auth import build_credential, get_token
        from .vminsights import VmInsightsSource
        from .workspace import resolve_workspace

        azure = settings.azure
        credential = build_credential(azure)
        try:
            get_token(credential, azure)
            workspace = resolve_workspace(credential, azure)  # its customer ID is what the query API takes
            source = VmInsightsSource(credential, workspace_id=workspace.customer_id,
                                      logs_query_url=azure.logs_query_url, ca_bundle=azure.ca_bundle,
                                      timeout_seconds=settings.schedule.timeout_seconds,
                                      batch_size=settings.batch_size)
            with _closing(source):
                yield source
        finally:
            close = getattr(credential, "close", None)
            if close is not None:
                close()
    else:
        from .servicemap import ServiceMapSource, open_session

        with open_session(settings) as session:
            source = ServiceMapSource(session.client, session.transport)
            with _closing(source):
                yield source


@contextmanager
def _closing(source: Source) -> Iterator[Source]:
    try:
        yield source
    finally:
        source.close()
