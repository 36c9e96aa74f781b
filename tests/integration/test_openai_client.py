"""The real client (OpenAICompatClient over the openai SDK) against the real fake server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from mallm_gan.errors import (
    BudgetExceededError,
    LLMAuthError,
    LLMProviderError,
    LLMRateLimitError,
    LLMTransportError,
)
from mallm_gan.llm import BaseClient, Prices, RetryPolicy, UsageTracker, create_llm
from mallm_gan.testing import ScriptedResponder

FAST = RetryPolicy(max_retries=3, base_delay=0.01)
SECRET = "sk-test-NEVER-LOG-ME-4242"
MESSAGES = [{"role": "user", "content": "Write one row as JSON."}]
pytestmark = pytest.mark.usefixtures("clean_llm_env")


def client_for(server: Any, **options: Any) -> BaseClient:
    options.setdefault("retry", FAST)
    return create_llm(f"openai:fake-model@{server.url}", **options)


def run(llm: BaseClient, make: Callable[[], Awaitable[Any]]) -> Any:
    """Run one coroutine on a fresh event loop and close the client's SDK client inside it."""

    async def main() -> Any:
        try:
            return await make()
        finally:
            await llm.aclose()

    return asyncio.run(main())


def test_success_returns_text_usage_and_request_id(fake_server) -> None:
    server = fake_server(ScriptedResponder(['{"age": 41}']))
    llm = client_for(server)
    completion = run(llm, lambda: llm.complete(MESSAGES, role="generator", temperature=0.2, max_tokens=64))
    assert completion.text == '{"age": 41}'
    assert completion.finish_reason == "stop"
    assert completion.request_id == "chatcmpl-fake-000001"
    assert completion.prompt_tokens == math.ceil(len(MESSAGES[0]["content"]) / 4)
    assert completion.completion_tokens == math.ceil(len('{"age": 41}') / 4)
    body = server.requests[0]["body"]
    assert body["model"] == "fake-model"
    assert (body["temperature"], body["max_tokens"]) == (0.2, 64)


def test_json_schema_and_extra_parameters_reach_the_server(fake_server) -> None:
    server = fake_server(ScriptedResponder(["[]", "[]"]))
    llm = client_for(server)
    schema = {"type": "array", "items": {"type": "object"}}
    run(llm, lambda: llm.complete(MESSAGES, json_schema=schema, seed=7))
    request = server.requests[0]["body"]
    assert request["response_format"]["type"] == "json_schema"
    assert request["response_format"]["json_schema"]["schema"] == schema
    assert request["seed"] == 7
    # a parameter the SDK does not know (llama.cpp's grammar) travels in the body untouched
    response = run(llm, lambda: llm._send({"messages": MESSAGES, "grammar": 'root ::= "x"'}))
    assert response["choices"][0]["message"]["content"] == "[]"
    assert server.requests[1]["body"]["grammar"] == 'root ::= "x"'


def test_429_is_retried_honouring_retry_after(fake_server) -> None:
    server = fake_server(ScriptedResponder(["ok"]), faults=["429", "429"], retry_after=0.15)
    llm = client_for(server)
    started = time.perf_counter()
    completion = run(llm, lambda: llm.complete(MESSAGES))
    elapsed = time.perf_counter() - started
    assert completion.text == "ok"
    assert [r["status"] for r in server.requests] == [429, 429, 200]
    assert elapsed >= 0.3  # two waits of Retry-After, not the 0.01 s backoff
    assert llm.usage.total.retries == 2


def test_429_exhausted_raises_rate_limit_error_with_fields(fake_server) -> None:
    server = fake_server(faults=["429"] * 5, retry_after=0.01)
    llm = client_for(server, retry=RetryPolicy(max_retries=1, base_delay=0.01))
    with pytest.raises(LLMRateLimitError) as info:
        run(llm, lambda: llm.complete(MESSAGES))
    err = info.value
    assert (err.status, err.model, err.endpoint, err.retry_after) == (429, "fake-model", server.url, 0.01)
    assert err.request_id and err.request_id.startswith("req-fake-")
    assert err.attempts == 2 and "gave up after 2 attempts" in str(err)
    assert "gave up" not in err.message  # the count is a field, the message stays the server's
    assert len(server.requests) == 2


@pytest.mark.parametrize("fault", ["500", "503"])
def test_server_errors_are_retried_then_succeed(fake_server, fault: str) -> None:
    server = fake_server(ScriptedResponder(["fine"]), faults=[fault, fault])
    llm = client_for(server)
    assert run(llm, lambda: llm.complete(MESSAGES)).text == "fine"
    assert [r["status"] for r in server.requests] == [int(fault), int(fault), 200]


def test_stall_times_out_and_is_retried(fake_server) -> None:
    server = fake_server(ScriptedResponder(["late", "on time"]), faults=["stall"], stall_seconds=3.0)
    llm = client_for(server, timeout=0.3)
    started = time.perf_counter()
    completion = run(llm, lambda: llm.complete(MESSAGES))
    assert completion.text in ("late", "on time")
    assert len(server.requests) == 2
    assert time.perf_counter() - started < 2.5  # did not wait for the stall to end
    assert llm.usage.total.retries == 1


def test_wrong_key_is_an_auth_error_at_once(fake_server) -> None:
    server = fake_server(api_key="the-right-key")
    llm = client_for(server, api_key="a-wrong-key")
    with pytest.raises(LLMAuthError) as info:
        run(llm, lambda: llm.complete(MESSAGES))
    assert info.value.status == 401
    assert "OPENAI_API_KEY" in info.value.message and server.url in info.value.message
    assert len(server.requests) == 1  # never retried
    right = client_for(server, api_key="the-right-key")
    assert run(right, lambda: right.complete(MESSAGES)).text.startswith("echo:")


def test_unknown_model_is_not_retried_and_names_the_model(fake_server) -> None:
    server = fake_server(model_names=["real-model"])
    llm = client_for(server)
    with pytest.raises(LLMProviderError) as info:
        run(llm, lambda: llm.complete(MESSAGES))
    assert info.value.status == 404 and not info.value.transient
    assert f"model fake-model not found at {server.url}; check the name" in info.value.message
    assert len(server.requests) == 1


def test_connection_refused_is_a_transport_error_after_retries() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    llm = create_llm(f"openai:m@http://127.0.0.1:{port}/v1", retry=RetryPolicy(max_retries=2, base_delay=0.01))
    with pytest.raises(LLMTransportError) as info:
        run(llm, lambda: llm.complete(MESSAGES))
    assert "could not connect" in info.value.message and f":{port}/v1" in info.value.message
    assert info.value.attempts == 3 and "gave up after 3 attempts" in str(info.value)
    assert (llm.usage.total.failures, llm.usage.total.retries) == (1, 2)


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ("empty", lambda text, fr: text == "" and fr == "stop"),
        ("truncated", lambda text, fr: text == '{"rows": ' and fr == "length"),  # first half
        ("prose", lambda text, fr: '{"rows": [1, 2, 3]}' in text and not text.startswith("{")),
        ("fence", lambda text, fr: text.startswith("```json\n") and text.endswith("\n```")),
        ("pyrepr", lambda text, fr: text == "{'rows': [1, 2, 3]}"),
    ],
)
def test_content_faults_reach_the_caller_unchanged(fake_server, fault: str, check: Any) -> None:
    server = fake_server(ScriptedResponder(['{"rows": [1, 2, 3]}']), faults=[fault])
    llm = client_for(server)
    completion = run(llm, lambda: llm.complete(MESSAGES))
    assert check(completion.text, completion.finish_reason), completion.text


def test_concurrency_bound_is_respected(fake_server) -> None:
    server = fake_server(latency=0.08)
    llm = client_for(server, max_concurrency=3)

    async def many() -> list[Any]:
        return await asyncio.gather(*(llm.complete(MESSAGES) for _ in range(12)))

    results = run(llm, many)
    assert len(results) == 12 and len(server.requests) == 12
    assert 1 < server.peak_in_flight <= 3


def test_second_identical_seeded_call_is_a_cache_hit(fake_server, tmp_path) -> None:
    server = fake_server(seed=1)
    llm = client_for(server, cache_dir=tmp_path)

    async def twice() -> tuple[Any, Any]:
        first = await llm.complete(MESSAGES, role="generator", temperature=0.7, seed=11)
        second = await llm.complete(MESSAGES, role="generator", temperature=0.7, seed=11)
        return first, second

    first, second = run(llm, twice)
    assert len(server.requests) == 1
    assert (first.cached, second.cached) == (False, True)
    assert first.text == second.text
    usage = llm.usage.role("generator")
    assert (usage.calls, usage.cache_hits) == (1, 1)
    # sampling with temperature > 0 and no seed is not cached under the default policy
    run(llm, lambda: llm.complete(MESSAGES, temperature=0.7))
    run(llm, lambda: llm.complete(MESSAGES, temperature=0.7))
    assert len(server.requests) == 3


def test_the_api_key_never_leaks(fake_server, tmp_path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    server = fake_server(ScriptedResponder(["a", "b"]), faults=["500"], api_key=SECRET)
    llm = client_for(server, api_key=SECRET, cache_dir=tmp_path, cache_policy="on")
    run(llm, lambda: llm.complete(MESSAGES, seed=1))
    wrong = client_for(server, api_key=SECRET + "-but-wrong")
    with pytest.raises(LLMAuthError) as info:
        run(wrong, lambda: wrong.complete(MESSAGES))
    llm.cache.close()
    assert caplog.records  # debug logging did happen
    assert SECRET not in caplog.text
    assert SECRET not in str(info.value)
    for path in tmp_path.iterdir():
        assert SECRET.encode() not in path.read_bytes()
    for text in (repr(llm), llm.describe(), repr(wrong), wrong.describe(), json.dumps(llm.usage.to_dict())):
        assert SECRET not in text
    assert all("authorization" not in {k.lower() for k in r["headers"]} for r in server.requests)


def test_budget_stops_calls(fake_server) -> None:
    server = fake_server()
    llm = client_for(server, usage=UsageTracker(max_calls=2))

    async def three() -> None:
        for _ in range(3):
            await llm.complete(MESSAGES)

    with pytest.raises(BudgetExceededError):
        run(llm, three)
    assert len(server.requests) == 2


def test_n_choices_are_returned(fake_server) -> None:
    server = fake_server(ScriptedResponder(["one", "two", "three"]))
    llm = client_for(server)
    completion = run(llm, lambda: llm.complete(MESSAGES, n=3))
    assert completion.texts == ["one", "two", "three"]
    assert server.requests[0]["body"]["n"] == 3


def test_usage_per_role_and_cost(fake_server) -> None:
    server = fake_server(ScriptedResponder(["x" * 40, "y" * 8, "z" * 80]))
    usage = UsageTracker(prices=Prices(prompt_per_million=1.0, completion_per_million=4.0))
    llm = client_for(server, usage=usage)

    async def calls() -> None:
        await llm.complete(MESSAGES, role="generator")
        await llm.complete(MESSAGES, role="generator")
        await llm.complete([{"role": "user", "content": "p" * 400}], role="optimizer")

    run(llm, calls)
    prompt = math.ceil(len(MESSAGES[0]["content"]) / 4)
    gen, opt = usage.role("generator"), usage.role("optimizer")
    assert (gen.calls, gen.prompt_tokens, gen.completion_tokens) == (2, 2 * prompt, 10 + 2)
    assert (opt.calls, opt.prompt_tokens, opt.completion_tokens) == (1, 100, 20)
    expected = ((2 * prompt + 100) * 1.0 + (12 + 20) * 4.0) / 1e6
    assert usage.cost() == pytest.approx(expected)


def test_client_survives_several_event_loops(fake_server) -> None:
    server = fake_server(ScriptedResponder(["first", "second"]))
    llm = client_for(server)
    # the synthesizer may call asyncio.run more than once with one client
    assert asyncio.run(llm.complete(MESSAGES)).text == "first"
    assert asyncio.run(llm.complete(MESSAGES)).text == "second"
    run(llm, lambda: asyncio.sleep(0))


def test_azure_client_through_the_fake_server(fake_server, monkeypatch: pytest.MonkeyPatch) -> None:
    server = fake_server(ScriptedResponder(["azure ok"]), api_key="az-key-123")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url.removesuffix("/v1"))
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az-key-123")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    llm = create_llm("azure:my-deployment", retry=FAST)
    assert llm.is_local
    assert run(llm, lambda: llm.complete(MESSAGES)).text == "azure ok"
    request = server.requests[0]
    assert request["path"] == "/openai/deployments/my-deployment/chat/completions"
    assert "api-key" not in {k.lower() for k in request["headers"]}
