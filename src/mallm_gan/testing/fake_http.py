"""The HTTP plumbing under the fake endpoint: a threaded server on 127.0.0.1, its lifecycle and JSON replies.

:class:`LocalHTTPService` knows nothing of chat completions. It binds 127.0.0.1 only, serves in a daemon
thread, counts requests in flight, closes open connections on ``stop()`` (so stalled clients are woken)
and hands each request to :meth:`LocalHTTPService.handle`, which a subclass implements.
"""

from __future__ import annotations

import itertools
import json
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

log = logging.getLogger(__name__)

HOST = "127.0.0.1"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Many concurrent clients (benchmarks use 64) must not overflow the listen backlog.
    request_queue_size = 256
    service: LocalHTTPService

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out and hang up are expected here; keep them out of stderr.
        log.debug("fake server: connection from %s ended with an error", client_address, exc_info=True)


class RequestHandler(BaseHTTPRequestHandler):
    """Passes every GET and POST to the service that owns the server; tracks its open connections."""

    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes; without TCP_NODELAY, Nagle + delayed ACK add ~40 ms per request
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.service._opened(self.connection)

    def finish(self) -> None:
        self.server.service._closed(self.connection)
        with suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("fake server: " + format, *args)

    def do_GET(self) -> None:
        self.server.service._dispatch(self, "GET")

    def do_POST(self) -> None:
        self.server.service._dispatch(self, "POST")


class LocalHTTPService:
    """A JSON service on 127.0.0.1 run in a daemon thread; subclasses answer in :meth:`handle`.

    Args:
        port: Port to bind on 127.0.0.1; 0 picks a free one.
    """

    thread_name = "local-http"

    def __init__(self, *, port: int = 0) -> None:
        self.port = port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._ids = itertools.count(1)
        self._in_flight = 0
        self._peak = 0
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def handle(self, handler: RequestHandler, method: str) -> None:
        """Answer one request (every request must get an answer, e.g. with :meth:`send_json`)."""
        raise NotImplementedError

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> Self:
        """Bind 127.0.0.1 and serve in a daemon thread. Returns self."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HTTPServer((HOST, self.port), RequestHandler)
        httpd.service = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=self.thread_name, daemon=True
        )
        self._thread.start()
        log.debug("%s at %s", self.thread_name, self.url)
        return self

    def stop(self) -> None:
        """Stop serving, wake stalled handlers and close open connections."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL for clients, e.g. ``http://127.0.0.1:54321/v1``."""
        if self._httpd is None:
            raise RuntimeError("the fake server is not running; call start() or use it as a context manager")
        return f"http://{HOST}:{self._httpd.server_address[1]}/v1"

    @property
    def peak_in_flight(self) -> int:
        """Most requests handled at the same time since start."""
        with self._lock:
            return self._peak

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    # -- plumbing -----------------------------------------------------------------------------------------
    def _opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    def _dispatch(self, handler: RequestHandler, method: str) -> None:
        with self._tracked():
            self.handle(handler, method)

    @contextmanager
    def _tracked(self) -> Iterator[None]:
        with self._lock:
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def send_json(
        self, handler: RequestHandler, status: int, payload: dict[str, Any], *, headers: dict[str, str] | None = None
    ) -> None:
        """Answer with ``payload`` as JSON and a fresh ``x-request-id``; a client that hung up is let go."""
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.send_header("x-request-id", f"req-fake-{next(self._ids):06d}")
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
            handler.wfile.flush()
        except OSError:
            # the client hung up (its timeout fired during a stall): nothing to answer
            handler.close_connection = True


def read_body(handler: RequestHandler) -> bytes:
    """The request's body (as many bytes as ``Content-Length`` says; none without it)."""
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length > 0 else b""


def presented_key(handler: RequestHandler) -> str | None:
    """The API key the client sent: a bearer token, else Azure's ``api-key`` header."""
    auth = handler.headers.get("Authorization") or ""
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return handler.headers.get("api-key")


__all__ = ["HOST", "LocalHTTPService", "RequestHandler", "presented_key", "read_body"]
