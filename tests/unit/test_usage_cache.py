"""UsageTracker, Prices, budgets, and the response cache's key and storage (no network)."""

from __future__ import annotations

import threading

import pytest

from mallm_gan.errors import BudgetExceededError, ConfigError
from mallm_gan.llm import Prices, ResponseCache, UsageTracker, request_key
from mallm_gan.llm.openai_compat import OpenAICompatClient

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "two rows please"}]


# -- usage ----------------------------------------------------------------------------------------------------
def test_usage_per_role_and_total() -> None:
    usage = UsageTracker()
    usage.record("generator", prompt_tokens=100, completion_tokens=40, seconds=0.5, retries=1)
    usage.record("generator", prompt_tokens=10, completion_tokens=4, failed=True)
    usage.record("optimizer", prompt_tokens=7, completion_tokens=3)
    usage.record("generator", cached=True)
    gen = usage.role("generator")
    assert (gen.calls, gen.cache_hits, gen.prompt_tokens, gen.completion_tokens) == (2, 1, 110, 44)
    assert (gen.retries, gen.failures, gen.total_tokens) == (1, 1, 154)
    total = usage.total
    assert (total.calls, total.prompt_tokens, total.completion_tokens) == (3, 117, 47)


def test_cost_only_with_user_prices() -> None:
    usage = UsageTracker()
    usage.record("generator", prompt_tokens=2_000_000, completion_tokens=500_000)
    assert usage.cost() is None
    assert "cost" not in usage.to_dict()
    priced = UsageTracker(prices=Prices.parse("2.5,10"))
    priced.record("generator", prompt_tokens=2_000_000, completion_tokens=500_000)
    assert priced.cost() == pytest.approx(2 * 2.5 + 0.5 * 10)
    assert priced.to_dict()["cost"] == pytest.approx(10.0)


def test_cached_prompt_tokens_are_counted_and_priced_apart() -> None:
    usage = UsageTracker(prices=Prices.parse("2,10,0.5"))
    usage.record("generator", prompt_tokens=1_000_000, cached_prompt_tokens=600_000, completion_tokens=100_000)
    usage.record("generator", prompt_tokens=1_000_000, completion_tokens=100_000)
    assert usage.total.cached_prompt_tokens == 600_000
    assert usage.to_dict()["generator"]["cached_prompt_tokens"] == 600_000
    assert usage.cost() == pytest.approx(1.4 * 2 + 0.6 * 0.5 + 0.2 * 10)
    # without a cached price, a cached token costs what any prompt token costs
    plain = UsageTracker(prices=Prices.parse("2,10"))
    plain.record("generator", prompt_tokens=1_000_000, cached_prompt_tokens=600_000)
    assert plain.cost() == pytest.approx(2.0)


def test_provider_cached_tokens_reach_the_completion_and_the_usage() -> None:
    import asyncio

    from mallm_gan.llm import BaseClient

    class Caching(BaseClient):
        async def _send(self, request: dict) -> dict:
            usage = {"prompt_tokens": 500, "completion_tokens": 20, "prompt_tokens_details": {"cached_tokens": 384}}
            choice = {"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}
            return {"model": "m", "choices": [choice], "usage": usage}

    client = Caching(model="m")
    completion = asyncio.run(client.complete([{"role": "user", "content": "hi"}], role="generator"))
    assert (completion.prompt_tokens, completion.cached_prompt_tokens) == (500, 384)
    assert client.usage.roles["generator"].cached_prompt_tokens == 384


@pytest.mark.parametrize("text", ["", "1", "a,b", "1,2,3,4", "-1,2", "1,2,-3"])
def test_bad_prices_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        Prices.parse(text)


def test_call_and_token_budgets() -> None:
    calls = UsageTracker(max_calls=2)
    calls.record("generator")
    calls.check_budget()
    calls.record("optimizer", failed=True)  # a failed call was still sent
    with pytest.raises(BudgetExceededError, match="2 calls of 2"):
        calls.check_budget()
    tokens = UsageTracker(max_tokens=100)
    tokens.record("generator", prompt_tokens=60, completion_tokens=39)
    tokens.check_budget()
    tokens.record("generator", completion_tokens=1)
    with pytest.raises(BudgetExceededError, match="token budget"):
        tokens.check_budget()


def test_usage_round_trips_through_a_dict() -> None:
    usage = UsageTracker()
    usage.record("generator", prompt_tokens=5, completion_tokens=2, retries=3)
    usage.record("optimizer", cached=True)
    restored = UsageTracker()
    restored.load_dict(usage.to_dict())
    assert restored.to_dict() == usage.to_dict()


def test_usage_counts_are_thread_safe() -> None:
    usage = UsageTracker()

    def work() -> None:
        for _ in range(500):
            usage.record("generator", prompt_tokens=1, completion_tokens=1)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert usage.role("generator").calls == 4000
    assert usage.total.total_tokens == 8000


# -- cache key ------------------------------------------------------------------------------------------------
def test_request_key_is_stable_and_order_independent() -> None:
    a = {"messages": MESSAGES, "temperature": 0.0, "seed": 1, "max_tokens": 50}
    b = {"max_tokens": 50, "seed": 1, "temperature": 0.0, "messages": MESSAGES}
    assert request_key("m", a) == request_key("m", b)
    # a pinned value: a key must not change between runs, processes or Python versions, or every
    # cached answer of a resumed run would be lost
    pinned = request_key("m", {"messages": [{"role": "user", "content": "x"}], "seed": 1})
    assert pinned == "9442d0fde7f2a4fea67f5786a2fdf0a4e47ef3c2f3726f16587a0a751d0046a6"
    assert len(request_key("m", a)) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"seed": 2},
        {"temperature": 0.5},
        {"max_tokens": 51},
        {"n": 2},
        {"messages": [{"role": "user", "content": "two rows please!"}]},
        {"response_format": {"type": "json_object"}},
    ],
)
def test_request_key_changes_with_anything_that_changes_the_answer(change: dict) -> None:
    base = {"messages": MESSAGES, "temperature": 0.0, "seed": 1, "max_tokens": 50}
    assert request_key("m", base) != request_key("m", {**base, **change})
    assert request_key("m", base) != request_key("m2", base)


def test_request_key_ignores_transport_only_fields() -> None:
    base = {"messages": MESSAGES, "seed": 1}
    assert request_key("m", base) == request_key("m", {**base, "stream": False, "user": "someone"})


def test_cache_key_input_holds_no_credentials_or_endpoint() -> None:
    # Two clients that differ only in key and endpoint build the same request, hence the same key.
    one = OpenAICompatClient(model="m", base_url="http://127.0.0.1:1/v1", api_key="sk-first-SECRET")
    two = OpenAICompatClient(model="m", base_url="https://other.example.com/v1", api_key="sk-second-SECRET")
    r1 = one.build_request(MESSAGES, temperature=0, seed=3, json_schema={"type": "array"})
    r2 = two.build_request(MESSAGES, temperature=0, seed=3, json_schema={"type": "array"})
    assert r1 == r2
    assert "SECRET" not in repr(r1)
    assert request_key(one.model, r1) == request_key(two.model, r2)


# -- cache storage --------------------------------------------------------------------------------------------
def test_cache_put_get_and_persist(tmp_path) -> None:
    path = tmp_path / "sub" / "llm-cache.sqlite"
    cache = ResponseCache(path)
    key = request_key("m", {"messages": MESSAGES, "seed": 1})
    assert cache.get(key) is None
    cache.put(key, "m", {"id": "x", "choices": [{"message": {"content": "héllo"}}]})
    assert cache.get(key)["choices"][0]["message"]["content"] == "héllo"
    assert len(cache) == 1
    cache.close()
    reopened = ResponseCache(path)
    assert reopened.get(key)["id"] == "x"
    reopened.close()


def test_cache_is_usable_from_many_threads(tmp_path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")

    def work(i: int) -> None:
        for j in range(50):
            cache.put(f"{i}-{j}", "m", {"i": i, "j": j})
            assert cache.get(f"{i}-{j}") == {"i": i, "j": j}

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 200
    cache.close()
