"""A real OpenAI-compatible HTTP server on 127.0.0.1, with scripted answers, latency and injected faults.

It speaks the Chat Completions wire format (``POST /v1/chat/completions``, ``GET /v1/models``, and Azure's
``/openai/deployments/NAME/chat/completions``), so the real client, the SDK and its HTTP stack are what a
test exercises. It only ever binds to 127.0.0.1 and never opens a connection itself.

Example::

    with FakeOpenAIServer(ScriptedResponder(['[{"a": 1}]']), faults=["429", None]) as server:
        client = create_llm(f"openai:fake@{server.url}")
        ...
        assert len(server.requests) == 2
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import random
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError
from ..llm.dialects import PROVIDERS
from .faults import apply_content_fault as _apply_content_fault
from .faults import error_body as _error
from .faults import refused_format
from .responders import Answer, EchoRowsResponder, Reply, Responder, constant_responder

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
FAULTS: tuple[str, ...] = ("429", "500", "503", "stall", "empty", "truncated", "prose", "fence", "pyrepr")
_STATUS_FAULTS = {"429": 429, "500": 500, "503": 503}
_CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
_AZURE_CHAT = re.compile(r"^/openai/deployments/(?P<name>[^/]+)/chat/completions$")
_SECRET_HEADERS = ("authorization", "api-key")


def estimate_tokens(text: str) -> int:
    """Rough token count of ``text``: one token per 4 characters, rounded up."""
    return math.ceil(len(text) / 4)


def _message_text(message: Any) -> str:
    content = message.get("content") if isinstance(message, dict) else message
    return content if isinstance(content, str) else json.dumps(content)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Many concurrent clients (benchmarks use 64) must not overflow the listen backlog.
    request_queue_size = 256
    fake: FakeOpenAIServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out and hang up are expected here; keep them out of stderr.
        log.debug("fake server: connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes; without TCP_NODELAY, Nagle + delayed ACK add ~40 ms per request
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.fake._lock:
            self.server.fake._connections.add(self.connection)

    def finish(self) -> None:
        with self.server.fake._lock:
            self.server.fake._connections.discard(self.connection)
        with suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("fake server: " + format, *args)

    def do_GET(self) -> None:
        self.server.fake._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.fake._handle(self, "POST")


class FakeOpenAIServer:
    """An OpenAI-compatible server for tests and ``mallm-gan serve-fake``. Not a language model.

    Args:
        responder: ``(request) -> str | Reply | list``, a :class:`~.responders.ScriptedResponder`, a constant
            string, or ``None`` for :class:`~.responders.EchoRowsResponder`.
        latency: Seconds added to each chat request: a number, or ``(lo, hi)`` for uniform random.
        faults: A script of fault names (or ``None`` for a normal answer), consumed one per chat request;
            after it runs out, requests are normal (or follow ``fault_rate``).
        fault_rate: Probability that a request gets a fault drawn from ``fault_mix``.
        fault_mix: Faults to draw from; all of :data:`FAULTS` by default.
        seed: Seed for random latency, random faults and the default responder.
        model_names: When given, other models get HTTP 404.
        api_key: When given, requests with another bearer token (or ``api-key`` header) get HTTP 401.
        retry_after: Seconds sent in the ``Retry-After`` header of a 429.
        stall_seconds: How long a "stall" fault waits before answering.
        port: Port to bind on 127.0.0.1; 0 picks a free one.
        refuse_formats: ``response_format`` types answered with HTTP 400, as a server without that feature
            does (e.g. ``("json_schema",)``).
        schema_subset: A provider of :data:`mallm_gan.llm.dialects.PROVIDERS`: a ``json_schema`` outside its
            subset is answered with HTTP 400 naming the first problem, as that provider would.
    """

    def __init__(
        self,
        responder: Responder | str | Reply | None = None,
        *,
        latency: float | tuple[float, float] = 0.0,
        faults: Iterable[str | None] | None = None,
        fault_rate: float = 0.0,
        fault_mix: Sequence[str] | None = None,
        seed: int | None = None,
        model_names: Iterable[str] | None = None,
        api_key: str | None = None,
        retry_after: float = 1.0,
        stall_seconds: float = 30.0,
        port: int = 0,
        refuse_formats: Iterable[str] = (),
        schema_subset: str | None = None,
    ) -> None:
        if responder is None:
            responder = EchoRowsResponder(seed=seed)
        elif isinstance(responder, str | Reply):
            responder = constant_responder(responder)
        self.responder: Responder = responder
        self.latency = latency
        self._check_latency()
        self.fault_script: list[str | None] = list(faults or [])
        self.fault_mix: tuple[str, ...] = tuple(fault_mix) if fault_mix is not None else FAULTS
        for name in [*self.fault_script, *self.fault_mix]:
            if name is not None and name not in FAULTS:
                raise ConfigError(f"unknown fault {name!r}; known faults: {', '.join(FAULTS)}")
        if not 0.0 <= fault_rate <= 1.0:
            raise ConfigError(f"fault_rate must be between 0 and 1, got {fault_rate}")
        if fault_rate > 0 and not self.fault_mix:
            raise ConfigError("fault_rate > 0 needs at least one fault in fault_mix")
        self.fault_rate = fault_rate
        self.seed = seed
        self.model_names = tuple(model_names) if model_names is not None else None
        self._api_key = api_key
        self.retry_after = retry_after
        self.stall_seconds = stall_seconds
        self.port = port
        self.refuse_formats = frozenset(refuse_formats)
        if schema_subset is not None and schema_subset not in PROVIDERS:
            raise ConfigError(f"unknown schema_subset {schema_subset!r}; one of {', '.join(PROVIDERS)}")
        self.schema_subset = schema_subset
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._requests: list[dict[str, Any]] = []
        self._fault_counts: Counter[str] = Counter()
        self._counter = 0
        self._ids = itertools.count(1)
        self._in_flight = 0
        self._peak = 0
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _check_latency(self) -> None:
        lat = self.latency
        ok = (isinstance(lat, int | float) and lat >= 0) or (
            isinstance(lat, tuple | list) and len(lat) == 2 and 0 <= lat[0] <= lat[1]
        )
        if not ok:
            raise ConfigError(f"latency must be seconds >= 0 or a (lo, hi) pair, got {lat!r}")

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> FakeOpenAIServer:
        """Bind 127.0.0.1 and serve in a daemon thread. Returns self."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HTTPServer((HOST, self.port), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()
        log.debug("fake OpenAI server at %s", self.url)
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

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests look at -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL for clients, e.g. ``http://127.0.0.1:54321/v1``."""
        if self._httpd is None:
            raise RuntimeError("the fake server is not running; call start() or use it as a context manager")
        return f"http://{HOST}:{self._httpd.server_address[1]}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Chat requests received: ``path``, ``headers`` (no credentials), ``body``, ``fault``, ``status``."""
        with self._lock:
            return [dict(r) for r in self._requests]

    @property
    def peak_in_flight(self) -> int:
        """Most requests handled at the same time since start."""
        with self._lock:
            return self._peak

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    @property
    def fault_counts(self) -> dict[str, int]:
        """How many times each fault was injected."""
        with self._lock:
            return dict(self._fault_counts)

    # -- request handling -------------------------------------------------------------------------------
    @contextmanager
    def _tracked(self) -> Any:
        with self._lock:
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def _handle(self, handler: _Handler, method: str) -> None:
        path = urlsplit(handler.path).path.rstrip("/")
        with self._tracked():
            if method == "GET" and path in ("/v1/models", "/models"):
                if self._api_key is not None and _presented_key(handler) != self._api_key:
                    self._send(handler, 401, _error("Incorrect API key provided.", "invalid_request_error"))
                    return
                names = self.model_names or ("fake-model",)
                data = [{"id": n, "object": "model", "created": 0, "owned_by": "mallm-gan-fake"} for n in names]
                self._send(handler, 200, {"object": "list", "data": data})
                return
            azure = _AZURE_CHAT.match(path)
            if method == "POST" and (path in _CHAT_PATHS or azure):
                self._chat(handler, path, azure["name"] if azure else None)
                return
            self._drain(handler)
            self._send(handler, 404, _error(f"no route {method} {path}", "invalid_request_error"))

    @staticmethod
    def _drain(handler: _Handler) -> bytes:
        length = int(handler.headers.get("Content-Length") or 0)
        return handler.rfile.read(length) if length > 0 else b""

    def _chat(self, handler: _Handler, path: str, deployment: str | None) -> None:
        raw = self._drain(handler)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _SECRET_HEADERS}
        record: dict[str, Any] = {"path": path, "headers": headers, "body": None, "fault": None, "status": None}
        with self._lock:
            self._requests.append(record)
            self._counter += 1
            number = self._counter
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        record["body"] = body if isinstance(body, dict) else None
        rejected = self._reject(handler, body, deployment)
        if rejected is not None:
            self._send(handler, rejected[0], rejected[1], record=record)
            return
        assert isinstance(body, dict)
        model = body.get("model") or deployment
        fault = self._next_fault()
        record["fault"] = fault
        self._stopping.wait(self._latency())
        if fault in _STATUS_FAULTS:
            extra = {"Retry-After": f"{self.retry_after:g}"} if fault == "429" else None
            kind = "rate_limit_error" if fault == "429" else "server_error"
            self._send(
                handler, _STATUS_FAULTS[fault], _error(f"injected fault {fault}", kind), record=record, headers=extra
            )
            return
        if fault == "stall":
            self._stopping.wait(self.stall_seconds)
        try:
            answers = self._answers(body)
        except Exception as exc:  # a responder is user code: report its failure to the client, don't die
            log.warning("fake server: responder failed: %s", exc)
            self._send(handler, 400, _error(f"fake server responder failed: {exc}", "responder_error"), record=record)
            return
        choices = []
        for index, answer in enumerate(answers):
            content, finish = _apply_content_fault(fault, answer.content, answer.finish_reason)
            choices.append(
                {
                    "index": index,
                    "message": {"role": "assistant", "content": content},
                    "logprobs": None,
                    "finish_reason": finish,
                }
            )
        prompt_tokens = sum(estimate_tokens(_message_text(m)) for m in body["messages"])
        completion_tokens = sum(estimate_tokens(c["message"]["content"]) for c in choices)
        payload = {
            "id": f"chatcmpl-fake-{number:06d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fake",
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        self._send(handler, 200, payload, record=record)

    def _reject(self, handler: _Handler, body: Any, deployment: str | None) -> tuple[int, dict[str, Any]] | None:
        """The (status, error body) a real server would answer for a bad request, or None if it is fine."""
        if not isinstance(body, dict):
            return 400, _error("request body must be a JSON object", "invalid_request_error")
        if self._api_key is not None and _presented_key(handler) != self._api_key:
            return 401, _error("Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        model = body.get("model") or deployment
        if not isinstance(model, str) or not model:
            return 400, _error("you must provide a model parameter", "invalid_request_error")
        if self.model_names is not None and model not in self.model_names:
            message = f"The model `{model}` does not exist or you do not have access to it."
            return 404, _error(message, "invalid_request_error", "model_not_found")
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return 400, _error("messages must be a non-empty list", "invalid_request_error")
        return refused_format(body.get("response_format"), self.refuse_formats, self.schema_subset)

    def _answers(self, body: dict[str, Any]) -> list[Reply]:
        n = body.get("n") or 1
        if not isinstance(n, int) or not 1 <= n <= 128:
            raise ValueError(f"n must be an integer from 1 to 128, got {n!r}")
        answers: list[Reply] = []
        while len(answers) < n:
            got: Answer = self.responder(body)
            items = got if isinstance(got, list) else [got]
            if not items:
                raise ValueError("the responder returned an empty list")
            answers.extend(a if isinstance(a, Reply) else Reply(str(a)) for a in items)
        return answers[:n]

    def _next_fault(self) -> str | None:
        with self._lock:
            if self.fault_script:
                fault = self.fault_script.pop(0)
            elif self.fault_rate > 0 and self._rng.random() < self.fault_rate:
                fault = self._rng.choice(self.fault_mix)
            else:
                fault = None
            if fault is not None:
                self._fault_counts[fault] += 1
            return fault

    def _latency(self) -> float:
        if isinstance(self.latency, tuple | list):
            with self._lock:
                return self._rng.uniform(*self.latency)
        return float(self.latency)

    def _send(
        self,
        handler: _Handler,
        status: int,
        payload: dict[str, Any],
        *,
        record: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if record is not None:
            record["status"] = status
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


def _presented_key(handler: _Handler) -> str | None:
    auth = handler.headers.get("Authorization") or ""
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return handler.headers.get("api-key")


__all__ = ["FAULTS", "HOST", "FakeOpenAIServer", "estimate_tokens"]
