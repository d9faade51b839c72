"""Sources: where a run gets machines and dependency maps, behind one small interface.

:mod:`.base` says what a source is (:class:`~.base.Source`); :func:`open_source` signs in,
resolves what the configured source needs once per run, and hands it to the service. The
shared plumbing sits beside the sources, one module each: :mod:`.auth` (the credential),
:mod:`.transport` (bounded reads, retries), :mod:`.ratelimit`, :mod:`.workspace`,
:mod:`.matching` (Servers Group names to machines).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from ..config import AzureSettings, Settings
from .base import KINDS, PARSERS, FetchedMap, Source

__all__ = ["KINDS", "PARSERS", "FetchedMap", "Source", "open_source"]


@contextmanager
def open_source(settings: Settings) -> Iterator[Source]:
    """The configured source, signed in and ready; closed afterwards. With several workspaces,
    one source each behind a :class:`~.multi.MultiSource`.

    Raises:
        AuthError, WorkspaceError: the run cannot start.
    """
    if settings.source_kind == "netstat":
        from .netstat import NetstatSource

        with _closing(NetstatSource(settings.snapshot_dir, settings.hosts_file)) as source:
            yield source
        return
    workspaces = settings.all_workspaces
    if len(workspaces) == 1:
        with _workspace_source(settings, workspaces[0], None) as source:
            yield source
        return
    from .multi import MultiSource
    from .ratelimit import RateLimiter

    limiters: dict[str, RateLimiter] = {}  # ARM counts reads per subscription
    with ExitStack() as stack:
        sources = [(azure.workspace_name, stack.enter_context(_workspace_source(
            settings, azure, limiters.setdefault(azure.subscription_id.lower(), RateLimiter()))))
            for azure in workspaces]
        yield MultiSource(sources)


@contextmanager
def _workspace_source(settings: Settings, azure: AzureSettings, limiter) -> Iterator[Source]:
    """The Service Map or VM insights source of one workspace."""
    if settings.source_kind == "vminsights":
        from .auth import build_credential, get_token
        from .vminsights import VmInsightsSource
        from .workspace import resolve_workspace

        credential = build_credential(azure)
        try:
            get_token(credential, azure)
            workspace = resolve_workspace(credential, azure)  # its customer ID is what the query API takes
            source: Source = VmInsightsSource(credential, workspace_id=workspace.customer_id,
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

        with open_session(settings, azure, limiter) as session:
            with _closing(ServiceMapSource(session.client, session.transport)) as source:
                yield source


@contextmanager
def _closing(source: Source) -> Iterator[Source]:
    try:
        yield source
    finally:
        source.close()
