"""Queries to the Log Analytics query API with azure-monitor-query, retried on our terms.

``LogsQueryClient`` is built with the run's credential, the configured endpoint (its token scope
is ``<endpoint>/.default``, which the SDK derives from the endpoint) and the run's CA bundle. The
SDK's own retry policy is switched off (``retry_total=0``): it retries a POST only on
500/503/504 or when ``Retry-After`` is present, up to ten times over minutes, and raises a 429
without ``Retry-After`` at once. One loop here instead retries 429 (waiting ``Retry-After`` if
given, and pausing every query through the shared :class:`~..ratelimit.RateLimiter`), 5xx,
timeouts and dropped connections, within :class:`~..transport.RetryPolicy`'s attempts and total
wait, so a request is never retried by two layers.

An answer the service marks partial (``LogsQueryPartialResult``: HTTP 200 with an ``error``
object, e.g. over 500,000 rows or ~64 MB) or that reaches the row limit is never returned as
data: :class:`PartialAnswer` tells the caller to split the machine list and ask again.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError, DecodeError, HttpResponseError, ServiceRequestError, ServiceResponseError,
    ServiceResponseTimeoutError, ServiceRequestTimeoutError,
)

from ...errors import SyncError
from ..auth import refusal
from ..network import network_failure
from ..ratelimit import RateLimiter
from ..transport import RetryPolicy, TransportStats, backoff, retry_after_seconds
from .queries import COLUMNS, INVENTORY_LOOKBACK

log = logging.getLogger(__name__)

DEFAULT_LOGS_QUERY_URL = "https://api.loganalytics.io"
#: the API's answer limit in rows; an answer this long may have been cut
MAX_ROWS = 500_000
#: the API's own limit on how long it runs a query (the ``Prefer: wait=`` ceiling)
MAX_SERVER_TIMEOUT = 600
#: queries in flight at once: the API runs 5 per user and queues the rest (a queue over 3 minutes is a 429)
DEFAULT_MAX_CONCURRENT = 4
#: the API's request rate per user: 200 in 30 seconds
QUERY_BUCKET, QUERY_REFILL_PER_SECOND = 200, 200 / 30
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class QueryFailed(SyncError):
    """A query failed for good (after retries); the message names the query and what to do."""


class PartialAnswer(SyncError):
    """The answer is incomplete (marked partial, or at the row limit): split and ask again."""


class LogsClient:
    """Runs the source's queries against one workspace.

    Args:
        credential: the run's azure-identity credential (passed in, never built here).
        workspace_id: the workspace's customer ID (a GUID), as the query API names it.
        endpoint: ``azure.logs_query_url``; the token scope is ``<endpoint>/.default``.
        ca_bundle: CA file to trust (a proxy's or the emulator's), or None for the default store.
        timeout_seconds: TimeoutSeconds: how long one request may take to connect and between
            bytes, and (up to 600) how long the service may run the query.
        retry: attempts and total wait for 429, 5xx, timeouts and dropped connections.
        max_concurrent: queries in flight at once, across threads.
    """

    def __init__(self, credential: TokenCredential, *, workspace_id: str, endpoint: str = DEFAULT_LOGS_QUERY_URL,
                 ca_bundle: str | None = None, timeout_seconds: float, retry: RetryPolicy = RetryPolicy(),
                 max_concurrent: int = DEFAULT_MAX_CONCURRENT) -> None:
        from azure.monitor.query import LogsQueryClient

        self._endpoint = endpoint.rstrip("/")
        self._workspace_id = workspace_id
        self._timeout = timeout_seconds
        self._retry = retry
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._limiter = RateLimiter(QUERY_BUCKET, QUERY_REFILL_PER_SECOND)
        self._credential = credential
        self._new_client = lambda: LogsQueryClient(
            credential, endpoint=self._endpoint, retry_total=0, connection_verify=ca_bundle or True,
            connection_timeout=min(timeout_seconds, 30.0), read_timeout=timeout_seconds,
        )
        self._client = self._new_client()
        self._clients = [self._client]
        self._client_lock = threading.Lock()
        self.stats = TransportStats()

    def close(self) -> None:
        for client in self._clients:
            client.close()

    def query(self, shape: str, text: str, *, start: datetime, end: datetime, what: str) -> list[dict[str, Any]]:
        """Run one query and return its rows as dicts over :data:`~.queries.COLUMNS` of ``shape``.

        ``what`` names the query in messages ("connections of 40 servers").

        Raises:
            PartialAnswer: the answer is incomplete; split the machine list and ask again.
            QueryFailed: the query failed after its retries, or the answer is not what was asked.
        """
        waited = 0.0
        attempt = 0
        renewed = False
        while True:
            attempt += 1
            try:
                result = self._send(text, start=start, end=end)
            except ClientAuthenticationError as exc:
                raise QueryFailed(self._refused(what, exc)) from None
            except HttpResponseError as exc:
                if isinstance(exc, DecodeError) or 200 <= (exc.status_code or 0) < 300:
                    raise QueryFailed(f"{what}: the query API's answer was not valid JSON (a damaged body from the "
                                      f"service or a proxy); run again, and check any proxy in between") from None
                if exc.status_code == 401 and not renewed:  # the cached token was refused: get a fresh one, once
                    renewed = True
                    self._renew_token(what)
                    continue
                waited = self._wait_or_fail(what, exc, attempt, waited)
            except (ServiceRequestError, ServiceResponseError) as exc:
                waited = self._wait_or_fail(what, exc, attempt, waited)
            else:
                return _rows(result, shape, what)

    def _wait_or_fail(self, what: str, exc: Exception, attempt: int, waited: float) -> float:
        """Wait before the next attempt and return the total waited, or raise when retrying cannot help
        or the budget is spent."""
        delay = self._retry_delay(exc, attempt)
        if delay is None or attempt >= self._retry.max_attempts or waited + delay > self._retry.max_total_wait:
            raise QueryFailed(self._failure(what, exc, attempt)) from None
        log.info("%s: %s, retrying in %.1fs", what, _describe(exc), delay)
        if getattr(exc, "status_code", None) == 429:
            self.stats.count("throttled")
            self._limiter.pause(delay)  # the budget is per user: every query waits
        else:
            time.sleep(delay)
        return waited + delay

    def _renew_token(self, what: str) -> None:
        """Ask Entra ID past every cache (``claims``) and start a new pipeline, whose token policy
        would otherwise keep sending the refused token until it nears its expiry."""
        try:
            self._credential.get_token(f"{self._endpoint}/.default", claims='{"access_token":{}}')
        except ClientAuthenticationError as exc:
            raise QueryFailed(self._refused(what, exc)) from None
        with self._client_lock:
            self._client = self._new_client()
            self._clients.append(self._client)

    def _send(self, text: str, *, start: datetime, end: datetime) -> Any:
        self._limiter.acquire()
        with self._slots:
            self.stats.count("requests")
            # the query filters its own times; the timespan only has to cover the inventory look-back
            return self._client.query_workspace(
                self._workspace_id, text, timespan=(start - INVENTORY_LOOKBACK, end),
                server_timeout=int(min(max(self._timeout, 1), MAX_SERVER_TIMEOUT)),
            )

    def _retry_delay(self, exc: Exception, attempt: int) -> float | None:
        """Seconds to wait before trying again, or None when trying again cannot help."""
        if isinstance(exc, HttpResponseError) and exc.status_code is not None:
            if exc.status_code not in RETRY_STATUSES:
                return None
            headers = exc.response.headers if exc.response is not None else {}
            after = retry_after_seconds(headers)
            if after is not None:
                return after
        return backoff(self._retry, attempt)

    def _refused(self, what: str, exc: ClientAuthenticationError) -> str:
        """A failed sign-in: the credential got no token for the query API."""
        return (f"{what}: sign-in for the query API failed: Entra ID refused the service principal ({refusal(exc)}); "
                f"check the client secret (AZURE_CLIENT_SECRET or azure.client_secret_file) or certificate")

    def _failure(self, what: str, exc: Exception, attempts: int) -> str:
        tries = f"after {attempts} attempt{'s' if attempts > 1 else ''}"
        if isinstance(exc, (ServiceResponseTimeoutError, ServiceRequestTimeoutError)):
            return (f"{what}: no answer within TimeoutSeconds={self._timeout:g} {tries}; raise TimeoutSeconds or "
                    f"lower source.batch_size")
        if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
            cause = network_failure(exc, self._endpoint) or type(exc).__name__
            return f"{what}: cannot reach {self._endpoint} {tries} ({cause})"
        status = exc.status_code if isinstance(exc, HttpResponseError) else None
        hint = {
            400: "the workspace refused the query; report it with this message",
            401: (f"the query API refused a fresh token: check that azure.logs_query_url ({self._endpoint}) is the "
                  f"query endpoint of the cloud the service principal signs in to"),
            403: "the service principal may not query the workspace: assign it 'Log Analytics Reader' on it",
            404: f"no workspace {self._workspace_id}: check the workspace's customer ID",
            429: "throttled by the query API beyond the retry budget: lower sync.concurrency or run later",
        }.get(status or 0, "the query API failed; run again later" if (status or 0) >= 500 else "refused")
        return f"{what}: HTTP {status}{_code(exc)} {tries} ({hint})"


def _code(exc: Exception) -> str:
    model = getattr(exc, "model", None)
    code = getattr(model, "code", None) or getattr(getattr(exc, "error", None), "code", None)
    return f" {code}" if code else ""


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    return f"HTTP {status}" if status else type(exc).__name__


def _rows(result: Any, shape: str, what: str) -> list[dict[str, Any]]:
    """The rows of a whole answer as dicts; a partial or cut answer raises :class:`PartialAnswer`."""
    from azure.monitor.query import LogsQueryPartialResult

    if isinstance(result, LogsQueryPartialResult):
        error = result.partial_error
        reason = f"{getattr(error, 'code', None) or 'PartialError'}: {getattr(error, 'message', None) or ''}".rstrip(": ")
        raise PartialAnswer(f"{what}: the query API marked the answer partial ({reason})")
    tables = result.tables
    if not tables:
        raise QueryFailed(f"{what}: the query API answered without a result table")
    table = tables[0]
    missing = [c for c in COLUMNS[shape] if c not in table.columns]
    if missing:
        raise QueryFailed(f"{what}: the answer lacks column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
                          f"the query API or a proxy changed it")
    if len(table.rows) >= MAX_ROWS:
        raise PartialAnswer(f"{what}: the answer reached the query API's {MAX_ROWS:,}-row limit")
    index = [table.columns.index(c) for c in COLUMNS[shape]]
    return [dict(zip(COLUMNS[shape], (row[i] for i in index))) for row in table.rows]
