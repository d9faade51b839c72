"""The emulator's HTTP plumbing: a TLS-per-connection threading server and its handler.

Kept apart from :mod:`.server` so the policy there (auth, throttling, faults) reads without
socket details. The server hands every request to ``dispatch(handler, method)``.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class Exchange:
    """One request in flight, until it is recorded."""

    method: str
    path: str
    raw_path: str
    query: dict[str, list[str]]
    operation: str
    json_body: object | None = None
    recorded: bool = False


class TlsServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], dispatch: Callable[[Handler, str], None],
                 context: ssl.SSLContext) -> None:
        self.dispatch = dispatch
        self.context = context
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """TLS handshake in the connection's own thread, so a slow client cannot stall accept().

        TCP_NODELAY: headers and body go out as separate writes, and Nagle plus delayed ACKs
        would otherwise add ~40 ms to every answer.
        """
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            logger.debug("TLS handshake with %s failed: %s", client_address, exc)
            return
        with self.sockets_lock:
            self.open_sockets.add(tls)
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            with self.sockets_lock:
                self.open_sockets.discard(tls)
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("connection from %s ended with an error", client_address, exc_info=True)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "servicemap-sync-emulator"
    timeout = 30
    server: TlsServer
    exchange: Exchange

    def do_GET(self) -> None:
        self.server.dispatch(self, "GET")

    def do_POST(self) -> None:
        self.server.dispatch(self, "POST")

    def do_PUT(self) -> None:
        self.server.dispatch(self, "PUT")

    def do_DELETE(self) -> None:
        self.server.dispatch(self, "DELETE")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        logger.debug("%s " + format, self.address_string(), *args)


def json_bytes(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def write(handler: Handler, status: int, headers: dict[str, str], data: bytes, *, truncate: bool = False,
          trickle: float = 0.0) -> None:
    """Send one answer with Content-Length; ``truncate`` sends half the body and closes the
    connection; ``trickle`` sends the body in ten pieces, this many seconds apart."""
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json; charset=utf-8")
    handler.send_header("Cache-Control", "no-store")
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    if truncate:
        handler.wfile.write(data[: len(data) // 2])
        handler.close_connection = True
    elif trickle:
        step = -(-len(data) // 10)
        for start in range(0, len(data), step):
            if start:
                time.sleep(trickle)
            handler.wfile.write(data[start:start + step])
            handler.wfile.flush()
    else:
        handler.wfile.write(data)


def reset(handler: Handler) -> None:
    """Drop the connection with a TCP RST (SO_LINGER 0), without answering."""
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.close_connection = True
    handler.rfile.close()  # drop makefile's reference so close() really closes the socket
    handler.connection.close()
