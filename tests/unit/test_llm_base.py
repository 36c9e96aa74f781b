"""BaseClient machinery (retries, timeout, semaphore, structured modes) and the SDK error edge, no network."""

from __future__ import annotations

import asyncio
import email.utils
import random
from typing import Any

import httpx2
import openai
import pytest

from mallm_gan.errors import (
    ConfigError,
    LLMAuthError,
    LLMProviderError,
    LLMRateLimitError,
    LLMServerError,
    LLMTransportError,
)
from mallm_gan.llm import BaseClient, LLMClient, RetryPolicy, UsageTracker
from mallm_gan.llm.openai_compat import OpenAICompatClient, is_loopback_url, parse_retry_after, redact_url

MESSAGES = [{"role": "user", "content": "hello"}]
SCHEMA = {"title": "rows answer", "type": "object", "properties": {"rows": {"type": "array"}}}
FAST = RetryPolicy(max_retries=3, base_delay=0.001)


def ok_response(text: str = "fine") -> dict[str, Any]:
    return {
        "id": "r1",
        "model": "stub",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2},
    }


class StubClient(BaseClient):
    """A backend whose _send follows a script of outcomes: an exception to raise, a delay, or success."""

    def __init__(self, outcomes: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(model="stub", **kwargs)
        self.outcomes = list(outcomes or [])
        self.sent: list[dict[str, Any]] = []
        self.active = 0
        self.peak = 0

    async def _send(self, request: dict[str, Any]) -> dict[str, Any]:
        self.sent.append(request)
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            outcome = self.outcomes.pop(0) if self.outcomes else None
            if isinstance(outcome, BaseException):
                raise outcome
            if isinstance(outcome, int | float):
                await asyncio.sleep(outcome)
            return ok_response()
        finally:
            self.active -= 1


# -- RetryPolicy ------------------------------------------------------------------------------------------
def test_retry_after_wins_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=1.0, max_retry_after=10.0)
    assert policy.delay(0, retry_after=2.5) == 2.5
    assert policy.delay(3, retry_after=0.0) == 0.0
    assert policy.delay(0, retry_after=500.0) == 10.0


def test_backoff_is_jittered_exponential_and_capped() -> None:
    random.seed(0)
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0)
    for attempt, cap in [(0, 0.5), (1, 1.0), (2, 2.0), (5, 3.0)]:
        delays = [policy.delay(attempt) for _ in range(300)]
        assert all(0.0 <= d <= cap for d in delays)
        assert max(delays) > 0.8 * cap  # full jitter reaches near the cap
    # a negative Retry-After is not advice: back off normally
    assert 0.0 <= policy.delay(0, retry_after=-1.0) <= 0.5


# -- request building and capabilities ---------------------------------------------------------------------
def test_build_request_has_no_model_and_only_given_parameters() -> None:
    client = StubClient()
    assert client.build_request(MESSAGES) == {"messages": MESSAGES}
    # a hint for engines with a repetition penalty: a remote request never carries it
    assert client.build_request(MESSAGES, repeat_window=30) == {"messages": MESSAGES}
    request = client.build_request(MESSAGES, temperature=0.5, max_tokens=10, seed=3, n=2)
    assert request == {"messages": MESSAGES, "temperature": 0.5, "max_tokens": 10, "seed": 3, "n": 2}
    assert "model" not in request


@pytest.mark.parametrize(
    ("mode", "expected_type"), [("json_schema", "json_schema"), ("json_object", "json_object"), ("none", None)]
)
def test_structured_mode_decides_the_response_format(mode: str, expected_type: str | None) -> None:
    client = StubClient(structured=mode)
    request = client.build_request(MESSAGES, json_schema=SCHEMA)
    assert client.supports_json_schema is (mode == "json_schema")
    if expected_type is None:
        assert "response_format" not in request
    else:
        assert request["response_format"]["type"] == expected_type
    if mode == "json_schema":
        spec = request["response_format"]["json_schema"]
        assert spec["schema"] == SCHEMA
        assert spec["name"] == "rows_answer"


def test_stub_satisfies_the_protocol() -> None:
    assert isinstance(StubClient(), LLMClient)


def test_max_concurrency_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="max_concurrency"):
        StubClient(max_concurrency=0)


# -- complete(): retries, timeouts, semaphore ---------------------------------------------------------------
def test_transient_errors_are_retried_then_succeed() -> None:
    client = StubClient([LLMTransportError("down"), LLMProviderError("boom", status=503)], retry=FAST)
    completion = asyncio.run(client.complete(MESSAGES, role="generator"))
    assert completion.text == "fine"
    assert len(client.sent) == 3
    usage = client.usage.role("generator")
    assert (usage.calls, usage.retries, usage.failures) == (1, 2, 0)
    assert (usage.prompt_tokens, usage.completion_tokens) == (3, 2)


@pytest.mark.parametrize("status", [400, 401, 404])
def test_permanent_errors_are_not_retried(status: int) -> None:
    error = (LLMAuthError if status == 401 else LLMProviderError)("no", status=status)
    client = StubClient([error], retry=FAST)
    with pytest.raises(LLMProviderError) as info:
        asyncio.run(client.complete(MESSAGES))
    assert info.value.status == status
    assert len(client.sent) == 1
    assert client.usage.total.failures == 1


def test_retries_are_bounded_and_the_message_says_so() -> None:
    client = StubClient([LLMTransportError("refused")] * 10, retry=RetryPolicy(max_retries=2, base_delay=0.001))
    with pytest.raises(LLMTransportError, match="gave up after 3 attempts"):
        asyncio.run(client.complete(MESSAGES))
    assert len(client.sent) == 3
    assert client.usage.total.retries == 2


def test_rate_limit_waits_retry_after() -> None:
    client = StubClient([LLMRateLimitError("slow down", status=429, retry_after=0.15)], retry=FAST)

    async def timed() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await client.complete(MESSAGES)
        return loop.time() - start

    assert asyncio.run(timed()) >= 0.14


def test_timeout_becomes_a_transport_error_and_is_retried() -> None:
    client = StubClient([5.0], timeout=0.05, retry=FAST)
    assert asyncio.run(client.complete(MESSAGES)).text == "fine"
    assert len(client.sent) == 2

    slow = StubClient([5.0] * 5, timeout=0.05, retry=RetryPolicy(max_retries=1, base_delay=0.001))
    with pytest.raises(LLMTransportError, match="timeout"):
        asyncio.run(slow.complete(MESSAGES))


def test_semaphore_bounds_requests_in_flight_and_survives_a_new_loop() -> None:
    client = StubClient([0.02] * 40, max_concurrency=3)

    async def many() -> None:
        await asyncio.gather(*(client.complete(MESSAGES) for _ in range(20)))

    asyncio.run(many())
    assert client.peak == 3
    client.peak = 0
    asyncio.run(many())  # a second event loop gets its own semaphore
    assert client.peak == 3


# -- the SDK edge of OpenAICompatClient: exception mapping without a network ---------------------------------
URL = "http://127.0.0.1:9/v1"


def sdk_error(
    cls: type[openai.APIStatusError], status: int, headers: dict[str, str] | None = None, message: str = "nope"
) -> openai.APIStatusError:
    request = httpx2.Request("POST", f"{URL}/chat/completions")
    response = httpx2.Response(status, headers={"x-request-id": "req-42", **(headers or {})}, request=request)
    return cls(f"Error code: {status}", response=response, body={"message": message})


def compat() -> OpenAICompatClient:
    return OpenAICompatClient(model="gpt-x", base_url=URL, api_key="sk-SECRET-abcdef")


@pytest.mark.parametrize(
    ("exc", "kind", "status", "words"),
    [
        (sdk_error(openai.RateLimitError, 429, {"retry-after": "7"}), LLMRateLimitError, 429, "rate limited"),
        (sdk_error(openai.AuthenticationError, 401), LLMAuthError, 401, "OPENAI_API_KEY"),
        (sdk_error(openai.PermissionDeniedError, 403), LLMAuthError, 403, "OPENAI_API_KEY"),
        (sdk_error(openai.NotFoundError, 404), LLMProviderError, 404, "model gpt-x not found at"),
        (sdk_error(openai.BadRequestError, 400), LLMProviderError, 400, "HTTP 400"),
        (sdk_error(openai.InternalServerError, 503), LLMServerError, 503, "HTTP 503"),
        (sdk_error(openai.UnprocessableEntityError, 422), LLMProviderError, 422, "HTTP 422"),
    ],
)
def test_sdk_status_errors_map_to_project_errors(exc: Any, kind: type, status: int, words: str) -> None:
    err = compat()._status_error(exc)
    assert type(err) is kind
    assert (err.status, err.model, err.request_id, err.endpoint) == (status, "gpt-x", "req-42", URL)
    assert words in err.message
    assert err.transient is (status == 429 or status >= 500)
    if status == 429:
        assert err.retry_after == 7.0


def test_key_echoed_by_a_server_is_scrubbed_from_errors() -> None:
    exc = sdk_error(openai.AuthenticationError, 401, message="Incorrect API key provided: sk-SECRET-abcdef")
    err = compat()._status_error(exc)
    assert "sk-SECRET-abcdef" not in str(err)
    assert "***" in str(err)


def test_repr_and_describe_never_show_the_key() -> None:
    client = compat()
    for text in (repr(client), client.describe(), str(client.endpoint)):
        assert "SECRET" not in text
    assert client.is_local
    assert not OpenAICompatClient(model="m", api_key="k").is_local  # api.openai.com


def test_missing_key_is_a_config_error_when_the_sdk_client_is_made() -> None:
    client = OpenAICompatClient(model="m", base_url=URL)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        client._make_sdk()


# -- helpers -------------------------------------------------------------------------------------------------
def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "0.25"}) == 0.25
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "-4"}) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None
    assert parse_retry_after(None) is None
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=now) == pytest.approx(30.0, abs=1.0)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after({"Retry-After": past}, now=now) == 0.0


def test_redact_url_drops_credentials_and_query() -> None:
    assert redact_url("https://user:pw@example.com:8443/v1/?key=abc#x") == "https://example.com:8443/v1"
    assert redact_url("http://[::1]:8000/v1") == "http://[::1]:8000/v1"


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8000/v1", True),
        ("http://localhost/v1", True),
        ("http://[::1]:1/v1", True),
        ("https://api.openai.com/v1", False),
        ("http://10.0.0.5:8000/v1", False),
        (None, False),
        ("http://localhost.evil.com/v1", False),
    ],
)
def test_is_loopback_url(url: str | None, local: bool) -> None:
    assert is_loopback_url(url) is local


def test_usage_is_shared_between_clients() -> None:
    tracker = UsageTracker()
    a, b = StubClient(usage=tracker), StubClient(usage=tracker)
    asyncio.run(a.complete(MESSAGES, role="generator"))
    asyncio.run(b.complete(MESSAGES, role="optimizer"))
    assert tracker.total.calls == 2
    assert set(tracker.roles) == {"generator", "optimizer"}


def test_prepare_runs_before_a_sent_request_and_not_for_a_cached_answer(tmp_path) -> None:
    from mallm_gan.llm import ResponseCache

    class Preparing(StubClient):
        prepared = 0

        async def _prepare(self) -> None:
            self.prepared += 1

    client = Preparing(cache=ResponseCache(tmp_path / "cache.sqlite"), retry=FAST)
    asyncio.run(client.complete(MESSAGES, seed=1))
    assert (client.prepared, len(client.sent)) == (1, 1)
    asyncio.run(client.complete(MESSAGES, seed=1))  # same request: answered from the cache
    assert (client.prepared, len(client.sent)) == (1, 1)
    asyncio.run(client.complete(MESSAGES, seed=2))
    assert (client.prepared, len(client.sent)) == (2, 2)
