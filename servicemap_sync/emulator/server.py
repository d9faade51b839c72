"""The HTTPS emulator: Entra ID, ARM, Service Map and the Log Analytics query API on one local port.

One ``ThreadingHTTPServer`` (HTTP/1.1 keep-alive, Content-Length on every answer) behind a
throw-away CA. Each request is routed, then — for ARM — delayed by ``latency``, authenticated
against the tokens the emulated tenant issued, throttled by an ARM-style token bucket, given a
chance to fail through an injected :class:`~.faults.Fault`, and finally answered. Every request
is recorded (never its secret or token) for tests to inspect.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import shutil
import socket
import ssl
import string
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..signals import run_until_signalled
from .arm import Arm, Reply, Route, arm_error, dangle
from .certs import make_pki
from .faults import Fault, FaultBook
from .identity import Identity, aad_error
from .logs import PATH_PREFIX, LogsApi, parse_query, query_error
from .scenario import Scenario
from .throttle import TokenBucket
from .wire import Exchange, Handler, TlsServer, json_bytes, reset, write

logger = logging.getLogger(__name__)

UNTHROTTLED_REMAINING = "11999"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the emulator saw it. ``status`` is 0 when the connection was reset unanswered."""

    method: str
    path: str
    raw_path: str
    query: dict[str, list[str]]
    json_body: object | None
    status: int
    operation: str


class Emulator:
    """Local HTTPS Entra ID + ARM + Service Map serving ``scenario``. Use as a context manager.

    ``url`` is both the authority host and the resource-manager URL, ``logs_query_url`` the
    Log Analytics query API (a token for it must be asked for that audience); trust ``ca_path``.
    Every workspace of ``scenario.workspaces`` is served under its own ARM path (and its own
    customer id in the query API); the attributes naming one workspace name the first.
    """

    def __init__(self, scenario: Scenario, *, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0,
                 token_lifetime: int = 3599, rate_limit: tuple[int, float] | None = None,
                 client_secret: str | None = None, ca_dir: Path | None = None) -> None:
        self.scenario = scenario
        self.tenant_id, self.client_id = scenario.tenant_id, scenario.client_id
        self.subscription_id, self.resource_group = scenario.subscription_id, scenario.resource_group
        self.workspace_name = scenario.workspace_name
        self.client_secret = client_secret if client_secret is not None else _new_secret()
        self.latency = latency
        self._host, self._port = host, port
        self._bucket = TokenBucket(*rate_limit) if rate_limit else None
        self._own_dir = ca_dir is None
        self._dir = Path(tempfile.mkdtemp(prefix="servicemap-emulator-")) if ca_dir is None else Path(ca_dir)
        self._pki = make_pki(self._dir, host, self.client_id)
        self.ca_path = self._pki.ca_path
        self.certificate_path = self._pki.client_pem_path
        self.identity = Identity(tenant_id=self.tenant_id, client_id=self.client_id, client_secret=self.client_secret,
                                 certificate=self._pki.client_certificate, token_lifetime=token_lifetime)
        self.arm = Arm(scenario)
        self.logs = LogsApi(self.arm.machines, self.arm.map_of, lambda: self.arm.version)
        # every workspace's VM insights tables, by customer id (the query API's workspace id)
        self._logs = {scenario.customer_id.lower(): self.logs}
        for arm in self.arm.others:
            self._logs.setdefault(arm.scenario.customer_id.lower(),
                                  LogsApi(arm.machines, arm.map_of, lambda arm=arm: arm.version))
        self.faults = FaultBook()
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._in_flight = self._peak = self._throttled = 0
        self._server: TlsServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.logs_query_url = ""

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> Emulator:
        if self._server is not None:
            return self
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self._pki.server_cert_path, self._pki.server_key_path)
        self._server = TlsServer((self._host, self._port), self._serve, context)
        port = self._server.server_address[1]
        self.url = f"https://{self._host}:{port}" if ":" not in self._host else f"https://[{self._host}]:{port}"
        self.logs_query_url = f"{self.url}/{PATH_PREFIX}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name=f"servicemap-emulator-{port}", daemon=True)
        self._thread.start()
        logger.info("emulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with server.sockets_lock:
            for sock in list(server.open_sockets):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        if self._thread:
            self._thread.join(timeout=5)
        if self._own_dir:
            shutil.rmtree(self._dir, ignore_errors=True)
        logger.info("emulator on %s stopped", self.url)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- control ------------------------------------------------------------------------------
    def add_fault(self, fault: Fault) -> None:
        self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    def revoke_secret(self) -> None:
        self.identity.revoke_secret()

    def expire_tokens(self) -> None:
        self.identity.expire_tokens()

    def set_map(self, machine_name: str, map_json: dict) -> None:
        self.arm.set_map(machine_name, map_json)

    def set_machines(self, machines: list[dict]) -> None:
        self.arm.set_machines(machines)

    def set_machine_groups(self, groups: list[dict]) -> None:
        """Serve these MachineGroup resources in the default workspace instead of the scenario's."""
        self.arm.set_machine_groups(groups)


    def forbid_workspace(self, forbidden: bool = True) -> None:
        self.arm.forbidden = forbidden

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"requests": len(self.requests), "throttled": self._throttled, "peak_concurrency": self._peak,
                    "tokens_issued": self.identity.issued}

    # -- serving ------------------------------------------------------------------------------
    def _serve(self, handler: Handler, method: str) -> None:
        split = urlsplit(handler.path)
        raw_path = split.path
        segments = [unquote(s) for s in raw_path.split("/")]
        query = parse_qs(split.query, keep_blank_values=True)
        length = int(handler.headers.get("Content-Length") or 0)
        raw_body = handler.rfile.read(length) if length else b""
        tenant_op = self._tenant_operation(method, segments)
        handler.exchange = exchange = Exchange(method, "/".join(segments), raw_path, query, tenant_op or "unknown")
        try:
            if tenant_op:
                self._serve_identity(handler, tenant_op, segments[1], raw_body)
                return
            if method == "POST" and _is_query(segments):
                exchange.operation = "query"
                self._serve_query(handler, segments[4], raw_body)
                return
            try:
                exchange.json_body = json.loads(raw_body) if raw_body else None
            except ValueError:
                exchange.json_body = None
            route = self.arm.route(method, segments, query, exchange.json_body, self.url, raw_path)
            exchange.operation = route.operation
            if raw_body and exchange.json_body is None:
                route = Route(route.operation, route.machine,
                              lambda: arm_error(400, "InvalidRequestContent", "The request body is not JSON."))
            self._serve_arm(handler, route)
        finally:
            self._record(exchange, 0)  # no-op once answered; otherwise it went unanswered

    def _record(self, exchange: Exchange, status: int) -> None:
        """Record the exchange once, *before* its answer is written, so a client never sees an
        answer that :attr:`requests` does not yet hold."""
        with self._lock:
            if exchange.recorded:
                return
            exchange.recorded = True
            self.requests.append(RecordedRequest(exchange.method, exchange.path, exchange.raw_path, exchange.query,
                                                 exchange.json_body, status, exchange.operation))
        logger.debug("%s %s -> %s (%s)", exchange.method, exchange.raw_path, status or "no answer",
                     exchange.operation)

    @staticmethod
    def _tenant_operation(method: str, segments: list[str]) -> str | None:
        tail = [s.lower() for s in segments[2:]]
        if len(segments) < 3 or segments[0]:
            return None
        if method == "GET" and tail == ["v2.0", ".well-known", "openid-configuration"]:
            return "discovery"
        if method == "GET" and tail == ["discovery", "v2.0", "keys"]:
            return "keys"
        if method == "POST" and tail == ["oauth2", "v2.0", "token"]:
            return "token"
        return None

    def _serve_identity(self, handler: Handler, operation: str, tenant: str, raw_body: bytes) -> None:
        if not self.identity.known_tenant(tenant):
            self._send(handler, Reply(*self.identity.unknown_tenant(tenant)))
        elif operation == "discovery":
            self._send(handler, Reply(200, self.identity.openid_configuration(self.url)))
        elif operation == "keys":
            self._send(handler, Reply(200, {"keys": []}))
        else:
            form = parse_qs(raw_body.decode("utf-8", "replace"), keep_blank_values=True)
            token_url = f"{self.url}/{tenant}/oauth2/v2.0/token"
            self._answer(
                handler, self.faults.take("token", None),
                lambda: Reply(*self.identity.token(form, handler.headers.get("Authorization"), token_url)),
                lambda f: Reply(f.status, aad_error("temporarily_unavailable", 50001,
                                                    f"Injected fault (HTTP {f.status})."), _retry_after(f)),
            )

    def _serve_query(self, handler: Handler, workspace: str, raw_body: bytes) -> None:
        """``POST /loganalytics/v1/workspaces/{customerId}/query``: authenticated for the query API's
        audience, then answered from the VM insights tables (or failed by a ``query`` fault)."""
        with self._serving():
            headers = {"x-ms-request-id": str(uuid.uuid4())}
            denied = self._authenticate(handler.headers.get("Authorization"), audience=self.logs_query_url)
            if denied:
                self._send(handler, denied, headers)
                return
            try:
                body = json.loads(raw_body)
                handler.exchange.json_body = body
                parsed = parse_query(body["query"])
            except (ValueError, KeyError, TypeError) as exc:
                self._send(handler, query_error(400, "BadArgumentError", f"The request had some invalid properties: "
                                                f"{exc}"), headers)
                return
            logs = self._logs.get(workspace.lower())
            if logs is None:
                self._send(handler, query_error(404, "WorkspaceNotFoundError",
                                                f"Workspace {workspace} not found."), headers)
                return
            fault = self.faults.take("query", parsed.machines)
            self._answer(handler, fault,
                         lambda: logs.answer(parsed, partial=fault is not None and fault.kind == "partial"),
                         lambda f: query_error(f.status, f.error_code, "Injected fault for query.", _retry_after(f)),
                         headers)

    @contextmanager
    def _serving(self) -> Iterator[None]:
        """Counts a request in flight (for :meth:`stats`) and applies ``latency``."""
        with self._lock:
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
        try:
            if self.latency:
                time.sleep(self.latency)
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def _serve_arm(self, handler: Handler, route: Route) -> None:
        with self._serving():
            headers = {"x-ms-request-id": str(uuid.uuid4()), "x-ms-correlation-request-id": str(uuid.uuid4()),
                       "x-ms-ratelimit-remaining-subscription-reads": (
                           str(self._bucket.remaining()) if self._bucket else UNTHROTTLED_REMAINING)}
            denied = self._authenticate(handler.headers.get("Authorization"))
            if denied:
                self._send(handler, denied, headers)
                return
            if self._bucket is not None:
                allowed, remaining, retry_after = self._bucket.take()
                headers["x-ms-ratelimit-remaining-subscription-reads"] = str(remaining)
                if not allowed:
                    self._send(handler, arm_error(429, "TooManyRequests", "The request is being throttled as the "
                                                  "limit has been reached for operation type - Read.",
                                                  {"Retry-After": str(retry_after)}), headers)
                    return
            fault = self.faults.take(route.operation, route.machine) if route.operation != "unknown" else None
            self._answer(handler, fault, route.answer,
                         lambda f: arm_error(f.status, f.error_code, f"Injected fault for {route.operation}.",
                                             _retry_after(f)), headers)

    def _authenticate(self, authorization: str | None, audience: str | None = None) -> Reply | None:
        scheme, _, token = (authorization or "").partition(" ")
        problem = self.identity.check(token.strip() if scheme.lower() == "bearer" else None, audience)
        if problem is None:
            return None
        expired = problem == "expired"
        challenge = (f'Bearer authorization_uri="{self.url}/{self.tenant_id}/oauth2/authorize", '
                     f'error="invalid_token", error_description="The access token '
                     f'{"has expired" if expired else "is " + problem}."')
        if expired:
            return arm_error(401, "ExpiredAuthenticationToken", "The access token expiry UTC time is earlier than "
                             "current UTC time.", {"WWW-Authenticate": challenge})
        if problem == "for another audience":
            return arm_error(401, "InvalidAuthenticationTokenAudience", f"The access token has been obtained for "
                             f"wrong audience or resource; this one wants '{audience}'.",
                             {"WWW-Authenticate": challenge})
        message = ("The request does not carry an Authorization header with a bearer token." if problem == "missing"
                   else "The access token is invalid.")
        return arm_error(401, "InvalidAuthenticationToken", message, {"WWW-Authenticate": challenge})

    def _answer(self, handler: Handler, fault: Fault | None, answer: Callable[[], Reply],
                failure: Callable[[Fault], Reply], headers: dict[str, str] | None = None) -> None:
        """Answer with ``answer()``, unless ``fault`` says otherwise (``failure(fault)`` is its error)."""
        kind = fault.kind if fault else None
        if fault is not None and kind == "status":
            self._send(handler, failure(fault), headers)
            return
        if kind == "reset":
            self._record(handler.exchange, 0)
            reset(handler)
            return
        if kind == "malformed":
            self._send(handler, Reply(200, None), headers, raw=b'{"value": [{"kind": "machine", "id": ')
            return
        if fault is not None and kind == "delay":
            time.sleep(fault.seconds)
        reply = answer()
        if kind == "dangling" and reply.status == 200 and isinstance(reply.body, dict) and "map" in reply.body:
            reply = Reply(reply.status, dangle(reply.body), reply.headers)
        data = json_bytes(reply.body)
        if fault is not None and kind == "oversize" and reply.status == 200:
            data += b" " * max(0, fault.size - len(data))
        self._send(handler, reply, headers, raw=data, truncate=kind == "truncated" and reply.status == 200,
                   trickle=fault.seconds if fault is not None and kind == "trickle" else 0.0)

    def _send(self, handler: Handler, reply: Reply, headers: dict[str, str] | None = None, *,
              raw: bytes | None = None, truncate: bool = False, trickle: float = 0.0) -> None:
        data = raw if raw is not None else json_bytes(reply.body)
        self._record(handler.exchange, reply.status)
        if reply.status == 429:
            with self._lock:
                self._throttled += 1
        write(handler, reply.status, {**(headers or {}), **reply.headers}, data, truncate=truncate, trickle=trickle)


def _is_query(segments: list[str]) -> bool:
    """``/loganalytics/v1/workspaces/{customerId}/query``, fixed segments in any case."""
    low = [s.lower() for s in segments]
    return len(low) == 6 and low[:4] == ["", PATH_PREFIX, "v1", "workspaces"] and low[5] == "query"


def _retry_after(fault: Fault) -> dict[str, str]:
    if fault.retry_after is None:
        return {}
    return {"Retry-After": str(max(0, math.ceil(fault.retry_after)))}


def _new_secret() -> str:
    """A fresh random secret shaped like Entra ID's: 40 characters with ``8Q~`` after the first three."""
    alphabet = string.ascii_letters + string.digits + "-._"
    chars = "".join(secrets.choice(alphabet) for _ in range(37))
    return chars[:3] + "8Q~" + chars[3:]


def serve_forever(scenario: Scenario, *, port: int, on_ready: Callable[[Emulator], None],
                  **options: Any) -> None:
    """Serve ``scenario`` until SIGINT/SIGTERM, then stop cleanly; ``options`` go to :class:`Emulator`.

    ``on_ready`` runs once the emulator listens (print its URL, CA path and secret there).
    """
    stopping = threading.Event()

    def serve() -> None:
        with Emulator(scenario, port=port, **options) as emu:
            on_ready(emu)
            stopping.wait()
            logger.info("signalled; stopping the emulator")

    if threading.current_thread() is threading.main_thread():
        run_until_signalled(serve, stopping)
    else:  # no signal reaches this thread: serve until the process ends
        serve()
