"""Every error servicemap-sync raises, rooted in :class:`SyncError`.

The tree follows the pipeline so callers can act on the layer that failed::

    SyncError
    ├── ConfigError          a setting or override is wrong; the run cannot start   (exit 2)
    ├── AuthError            Entra ID refused the service principal                   (exit 2)
    ├── WorkspaceError       the Log Analytics workspace is missing or forbidden      (exit 2)
    ├── ServiceMapError      one Service Map call failed
    │   ├── ServiceMapRequestError   no usable response (connection, timeout, too large)
    │   └── ServiceMapResponseError  the service answered with an error status
    ├── SourceError          one server's data from a source is missing or unreadable
    │   └── QueryError               a Log Analytics query failed (after retries)
    ├── ParseError           a response does not have the shape the spec promises
    ├── MatchError           a server of the group matches no machine, or several
    ├── RenderError          a graph could not be turned into a management pack
    ├── ValidationError      a management pack breaks SCOM's or our rules
    ├── PublishError         a management pack could not be written
    └── StateError           the state database is unusable
        └── LockedError      another run holds the state database

Messages never carry secrets: the credential layer builds its messages from the tenant and
client id only.
"""

from __future__ import annotations

from collections.abc import Sequence


class SyncError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(SyncError):
    """A configuration value, flag or override is missing or out of range."""


class AuthError(SyncError):
    """The service principal could not get a token."""


class WorkspaceError(SyncError):
    """The Log Analytics workspace could not be resolved."""


class ServiceMapError(SyncError):
    """A Service Map request failed; ``server`` names the server it was for, if any."""

    def __init__(self, message: str, *, server: str | None = None) -> None:
        super().__init__(message)
        self.server = server


class ServiceMapRequestError(ServiceMapError):
    """No usable response arrived: connection error, timeout, or a body over the size cap."""


class ServiceMapResponseError(ServiceMapError):
    """The service answered with an error status (after retries, for retryable ones)."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        request_id: str | None = None,
        server: str | None = None,
    ) -> None:
        super().__init__(message, server=server)
        self.status = status
        self.code = code
        self.request_id = request_id


class SourceError(SyncError):
    """One server's data is missing or unreadable (no rows in the window, a corrupt snapshot
    file); ``server`` names it. The message names the input (file and line, query) and what to do."""

    def __init__(self, message: str, *, server: str | None = None) -> None:
        super().__init__(message)
        self.server = server


class QueryError(SourceError):
    """A Log Analytics query failed after its retries, or its answer was partial or malformed."""


class ParseError(SyncError):
    """A response is missing a required field, has a wrong type, or points at a missing node."""

    def __init__(self, message: str, *, server: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.server = server
        self.field = field


class MatchError(SyncError):
    """A server of the Servers Group matches no Service Map machine, or several."""

    def __init__(self, message: str, *, server: str, candidates: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.server = server
        self.candidates = tuple(candidates)


class RenderError(SyncError):
    """A server's graph could not be rendered into management-pack XML."""


class ValidationError(SyncError):
    """A management pack breaks the rules; ``problems`` lists every finding."""

    def __init__(self, message: str, problems: Sequence[object] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)


class PublishError(SyncError):
    """A management pack could not be written to the output folder."""


class StateError(SyncError):
    """The SQLite state database could not be read or written."""


class LockedError(StateError):
    """Another run holds the lock on the state database."""
