"""HTTPS to Azure Resource Manager: tokens, pooling, rate limiting, retries and size caps.

This is the one place where requests are sent and retried (Azure SDK guideline: paging and
retries in one place). 429 and 5xx answers and dropped connections are retried with
exponential backoff; ``Retry-After`` (seconds or HTTP date, or ``retry-after-ms``) wins over
the backoff and pauses every worker through the shared :class:`RateLimiter`; the total wait
per request is bounded. ``TimeoutSeconds`` bounds each request as a whole, from sending it
to the last byte of the answer (not only the gaps between bytes, which is all a socket timeout
can bound: a body that trickles in would never time out). A response slower than that is not
retried: waiting again would only multiply the delay.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from collections.abc import Iterator
from typing import Any

import requests
from azure.core.credentials import TokenCredential
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError

from ..config import AzureSettings
from ..errors import ServiceMapRequestError, ServiceMapResponseError
from .auth import get_token
from .network import network_failure
from .ratelimit import RateLimiter

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts per request and the most time spent waiting between them."""

    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_total_wait: float = 120.0


@dataclass
class TransportStats:
    """Requests sent and 429s met, for the run summary and the benchmark (every source's client
    keeps one; updated under a lock by every worker)."""

    requests: int = 0
    throttled: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)


class ArmTransport:
    """Sends ARM requests for one run over a pooled HTTPS session.

    Args:
        credential: a TokenCredential (passed in, never built here).
        azure: settings for the scope, CA bundle and messages.
        timeout: seconds a single request may take to connect and between bytes (TimeoutSeconds).
        limiter: shared rate limiter; one per run.
        max_response_bytes: larger bodies are refused.
        pool_size: connections kept open (the run's concurrency).
    """

    def __init__(
        self,
        credential: TokenCredential,
        azure: AzureSettings,
        *,
        timeout: float,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy = RetryPolicy(),
        max_response_bytes: int,
        pool_size: int,
    ) -> None:
        self._credential = credential
        self._azure = azure
        self._timeout = timeout
        self._limiter = limiter or RateLimiter()
        self._retry = retry
        self._max_bytes = max_response_bytes
        self._verify: str | bool = azure.ca_bundle or True
        self._session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("https://", adapter)
        self._token_lock = threading.Lock()
        self.stats = TransportStats()

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> ArmTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request_json(self, method: str, url: str, *, what: str, server: str | None = None, **options: Any) -> Any:
        """Send one request (with retries) and return the decoded JSON body.

        Args:
            what: names the call in errors ("generateMap for web01", "list machines").
            options: ``params`` and ``body``, as for :meth:`request_bytes`.
        Raises:
            ServiceMapRequestError: no usable response (connection, timeout, too large, not JSON).
            ServiceMapResponseError: an error status after retries.
            AuthError: a token could not be obtained.
        """
        return decode_json(self.request_bytes(method, url, what=what, server=server, **options),
                           what=what, server=server)

    def request_bytes(self, method: str, url: str, *, what: str, server: str | None = None,
                      params: dict[str, str] | None = None, body: Any = None) -> bytes:
        """Like :meth:`request_json`, but the body is returned undecoded (for a map that is
        decoded in another process); not being JSON is then :func:`decode_json`'s to report."""
        waited = 0.0
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            self._limiter.acquire()
            headers = {"Authorization": f"Bearer {self._token()}", "Accept": "application/json"}
            self.stats.count("requests")
            try:
                status, response_headers, raw = self._once(method, url, params, body, headers, what, server)
            except requests.Timeout:
                raise ServiceMapRequestError(
                    f"{what}: no answer within TimeoutSeconds={self._timeout:g}; raise TimeoutSeconds or a shorter "
                    f"TimeWindowMinutes", server=server
                ) from None
            except requests.exceptions.ContentDecodingError:
                raise ServiceMapRequestError(
                    f"{what}: the compressed response could not be decoded; the service or a proxy sent a damaged "
                    f"body", server=server
                ) from None
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                delay = self._backoff(attempt)
                if attempt >= self._retry.max_attempts or waited + delay > self._retry.max_total_wait:
                    failure = network_failure(exc, url.split("?", 1)[0]) or type(exc).__name__
                    raise ServiceMapRequestError(
                        f"{what}: connection failed after {attempt} attempts: {failure}", server=server
                    ) from None
                log.info("%s: %s, retrying in %.1fs", what, type(exc).__name__, delay)
                waited += delay
                time.sleep(delay)
                continue
            remaining = response_headers.get("x-ms-ratelimit-remaining-subscription-reads")
            if remaining and remaining.isdigit():
                self._limiter.observe_remaining(int(remaining))
            if 200 <= status < 300:
                return raw
            if status == 401 and not refreshed:
                refreshed = True
                self._refresh_token()
                continue
            retry_after = retry_after_seconds(response_headers)
            if status in RETRY_STATUSES and attempt < self._retry.max_attempts:
                delay = retry_after if retry_after is not None else self._backoff(attempt)
                if waited + delay <= self._retry.max_total_wait:
                    if status == 429:
                        self.stats.count("throttled")
                        self._limiter.pause(delay)
                    log.info("%s: HTTP %s, retrying in %.1fs", what, status, delay)
                    waited += delay
                    if status != 429:
                        time.sleep(delay)
                    continue
            raise _response_error(what, status, response_headers, raw, server=server)

    def _once(self, method, url, params, body, headers, what, server) -> tuple[int, requests.structures.CaseInsensitiveDict, bytes]:
        deadline = time.monotonic() + self._timeout
        with self._session.request(
            method, url, params=params, json=body, headers=headers, timeout=(min(self._timeout, 30.0), self._timeout),
            verify=self._verify, stream=True,
        ) as response:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > self._max_bytes:
                raise ServiceMapRequestError(self._too_large(what), server=server)
            chunks, size = [], 0
            for chunk in _body(response, deadline):
                size += len(chunk)
                if size > self._max_bytes:
                    raise ServiceMapRequestError(self._too_large(what), server=server)
                chunks.append(chunk)
            return response.status_code, response.headers, b"".join(chunks)

    def _too_large(self, what: str) -> str:
        return (f"{what}: response larger than sync.max_response_mb ({self._max_bytes // (1024 * 1024)} MB); "
                f"raise the cap or shorten TimeWindowMinutes")

    def _token(self) -> str:
        return get_token(self._credential, self._azure).token

    def _refresh_token(self) -> None:
        """After a 401 the cached token was rejected: ask for a fresh one (claims bypass the cache)."""
        with self._token_lock:
            get_token(self._credential, self._azure, claims='{"access_token":{}}')

    def _backoff(self, attempt: int) -> float:
        return backoff(self._retry, attempt)


def _body(response: requests.Response, deadline: float) -> Iterator[bytes]:
    """The decoded body, as it arrives, until ``deadline`` (monotonic seconds).

    ``read1`` returns whatever has arrived (at least a byte, or nothing at the end), so the
    deadline is checked however slowly the body comes. Errors are raised as requests raises
    them while streaming, so :meth:`ArmTransport.request_bytes` handles both paths alike.
    """
    raw = response.raw
    while True:
        try:
            chunk = raw.read1(256 * 1024, decode_content=True)
        except ReadTimeoutError as exc:
            raise requests.Timeout(str(exc)) from None
        except ProtocolError as exc:
            raise requests.exceptions.ChunkedEncodingError(str(exc)) from None
        except DecodeError as exc:
            raise requests.exceptions.ContentDecodingError(str(exc)) from None
        if not chunk:
            return
        yield chunk
        if time.monotonic() > deadline:
            raise requests.Timeout("the answer took longer than the timeout")


def backoff(retry: RetryPolicy, attempt: int) -> float:
    """Seconds before try ``attempt + 1``: exponential up to the cap, half of it jittered so
    that workers throttled together do not come back together."""
    ceiling = min(retry.backoff_cap, retry.backoff_base * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def retry_after_seconds(headers) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001)):
        value = headers.get(name)
        if value and value.replace(".", "", 1).isdigit():
            return float(value) * scale
    value = headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _response_error(what: str, status: int, headers, raw: bytes, *, server: str | None) -> ServiceMapResponseError:
    code = message = None
    try:
        error = json.loads(raw).get("error") or {}
        code, message = error.get("code"), error.get("message")
    except (ValueError, AttributeError):
        pass
    request_id = headers.get("x-ms-request-id")
    hint = {
        401: "the token was rejected: check the service principal and tenant",
        403: "the principal lacks permission: assign it 'Log Analytics Reader' on the workspace",
        404: "not found: the machine may have left the workspace",
        429: "throttled by Azure Resource Manager beyond the retry budget: lower sync.concurrency",
    }.get(status, "the service failed" if status >= 500 else "the request was refused")
    text = f"{what}: HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    text += f" ({hint}" + (f"; request id {request_id})" if request_id else ")")
    return ServiceMapResponseError(text, status=status, code=code, request_id=request_id, server=server)


def decode_json(raw: bytes, *, what: str, server: str | None = None) -> Any:
    """The JSON in a response body.

    Raises:
        ServiceMapRequestError: the body is not valid JSON (``what`` names the call).
    """
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ServiceMapRequestError(
            f"{what}: the response is not valid JSON ({exc.msg} at byte {exc.pos}); the service or a proxy "
            f"sent a damaged body", server=server
        ) from None
