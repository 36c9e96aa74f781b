"""A real OpenAI-compatible HTTP server on 127.0.0.1, with scripted answers, latency and injected faults.

It speaks the Chat Completions wire format (``POST /v1/chat/completions``, ``GET /v1/models``, and Azure's
``/openai/deployments/NAME/chat/completions``), so the real client, the SDK and its HTTP stack are what a
test exercises. It only ever binds to 127.0.0.1 and never opens a connection itself. The HTTP plumbing
(binding, threads, connections, JSON replies) is :mod:`.fake_http`'s; this module is the endpoint's
behaviour: routes, checks a real server makes, faults, latency and the answers.

Example::

    with FakeOpenAIServer(ScriptedResponder(['[{"a": 1}]']), faults=["429", None]) as server:
        client = create_llm(f"openai:fake@{server.url}")
        ...
        assert len(server.requests) == 2
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError
from ..llm.dialects import PROVIDERS
from .fake_http import LocalHTTPService, RequestHandler, presented_key, read_body
from .faults import apply_content_fault as _apply_content_fault
from .faults import error_body as _error
from .faults import refused_format
from .responders import Answer, EchoRowsResponder, Reply, Responder, constant_responder

log = logging.getLogger(__name__)

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


class FakeOpenAIServer(LocalHTTPService):
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

    thread_name = "fake-openai"

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
        super().__init__(port=port)
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
        self.refuse_formats = frozenset(refuse_formats)
        if schema_subset is not None and schema_subset not in PROVIDERS:
            raise ConfigError(f"unknown schema_subset {schema_subset!r}; one of {', '.join(PROVIDERS)}")
        self.schema_subset = schema_subset
        self._rng = random.Random(seed)
        self._requests: list[dict[str, Any]] = []
        self._fault_counts: Counter[str] = Counter()
        self._counter = 0

    def _check_latency(self) -> None:
        lat = self.latency
        ok = (isinstance(lat, int | float) and lat >= 0) or (
            isinstance(lat, tuple | list) and len(lat) == 2 and 0 <= lat[0] <= lat[1]
        )
        if not ok:
            raise ConfigError(f"latency must be seconds >= 0 or a (lo, hi) pair, got {lat!r}")

    # -- what tests look at -----------------------------------------------------------------------------
    @property
    def requests(self) -> list[dict[str, Any]]:
        """Chat requests received: ``path``, ``headers`` (no credentials), ``body``, ``fault``, ``status``."""
        with self._lock:
            return [dict(r) for r in self._requests]

    @property
    def fault_counts(self) -> dict[str, int]:
        """How many times each fault was injected."""
        with self._lock:
            return dict(self._fault_counts)

    # -- request handling -------------------------------------------------------------------------------
    def handle(self, handler: RequestHandler, method: str) -> None:
        path = urlsplit(handler.path).path.rstrip("/")
        if method == "GET" and path in ("/v1/models", "/models"):
            self._models(handler)
            return
        azure = _AZURE_CHAT.match(path)
        if method == "POST" and (path in _CHAT_PATHS or azure):
            self._chat(handler, path, azure["name"] if azure else None)
            return
        read_body(handler)
        self.send_json(handler, 404, _error(f"no route {method} {path}", "invalid_request_error"))

    def _models(self, handler: RequestHandler) -> None:
        if self._api_key is not None and presented_key(handler) != self._api_key:
            self.send_json(handler, 401, _error("Incorrect API key provided.", "invalid_request_error"))
            return
        names = self.model_names or ("fake-model",)
        data = [{"id": n, "object": "model", "created": 0, "owned_by": "mallm-gan-fake"} for n in names]
        self.send_json(handler, 200, {"object": "list", "data": data})

    def _chat(self, handler: RequestHandler, path: str, deployment: str | None) -> None:
        body, record, number = self._record(handler, path)
        rejected = self._reject(handler, body, deployment)
        if rejected is not None:
            self._send(handler, rejected[0], rejected[1], record=record)
            return
        assert isinstance(body, dict)
        fault = record["fault"] = self._next_fault()
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
        model = body.get("model") or deployment
        self._send(handler, 200, completion_payload(body, answers, fault, model=model, number=number), record=record)

    def _record(self, handler: RequestHandler, path: str) -> tuple[Any, dict[str, Any], int]:
        """Read the request, log it (no credentials) and number it: ``(body, record, number)``."""
        raw = read_body(handler)
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
        return body, record, number

    def _reject(self, handler: RequestHandler, body: Any, deployment: str | None) -> tuple[int, dict[str, Any]] | None:
        """The (status, error body) a real server would answer for a bad request, or None if it is fine."""
        if not isinstance(body, dict):
            return 400, _error("request body must be a JSON object", "invalid_request_error")
        if self._api_key is not None and presented_key(handler) != self._api_key:
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
        handler: RequestHandler,
        status: int,
        payload: dict[str, Any],
        *,
        record: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        record["status"] = status
        self.send_json(handler, status, payload, headers=headers)


def completion_payload(
    body: dict[str, Any], answers: list[Reply], fault: str | None, *, model: str, number: int
) -> dict[str, Any]:
    """The ``chat.completion`` body for these answers, a content fault applied and usage estimated."""
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
    return {
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


__all__ = ["FAULTS", "FakeOpenAIServer", "estimate_tokens"]
