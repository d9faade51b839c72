"""One signed-in connection to a workspace: credential, workspace, transport and client.

Sign-in and workspace resolution happen here, once per run and before any server, so a bad
secret or a missing role stops the run with one clear error instead of one per server.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ...config import AzureSettings, Settings
from ...model import Workspace
from ..auth import build_credential, get_token
from ..ratelimit import RateLimiter
from .client import ServiceMapClient
from ..transport import ArmTransport
from ..workspace import resolve_workspace


@dataclass(frozen=True)
class Session:
    """What a run needs to talk to Service Map."""

    workspace: Workspace
    transport: ArmTransport
    client: ServiceMapClient


@contextmanager
def open_session(settings: Settings, azure: AzureSettings | None = None,
                 limiter: RateLimiter | None = None) -> Iterator[Session]:
    """Sign in, resolve the workspace (``azure``, default the first configured) and open a pooled
    transport; closes it afterwards. ``limiter`` is shared by the workspaces of one subscription,
    as ARM counts requests per subscription.

    Raises:
        AuthError: the service principal cannot sign in.
        WorkspaceError: the workspace is missing or forbidden.
    """
    azure = azure or settings.azure
    credential = build_credential(azure)
    try:
        get_token(credential, azure)
        workspace = resolve_workspace(credential, azure)
        transport = ArmTransport(
            credential, azure, timeout=settings.schedule.timeout_seconds, limiter=limiter,
            max_response_bytes=settings.max_response_bytes, pool_size=settings.concurrency,
        )
        with transport:
            yield Session(workspace, transport, ServiceMapClient(
                transport, workspace, resource_manager_url=azure.resource_manager_url))
    finally:
        close = getattr(credential, "close", None)
        if close is not None:
            close()
