"""Structured-output negotiation through the fake server taught to refuse schemas as real providers do."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mallm_gan import MallmGan
from mallm_gan.errors import LLMProviderError
from mallm_gan.gan.answer_schema import optimizer_json_schema, rows_json_schema
from mallm_gan.llm import RetryPolicy, UsageTracker, create_llm
from mallm_gan.report.sections import usage_section
from mallm_gan.table.schema import TableSchema
from mallm_gan.testing.fake_server import FakeOpenAIServer
from mallm_gan.testing.simulated import SimulatedResponder

MESSAGES = [{"role": "user", "content": "Write 2 rows as JSON"}]
SCHEMA = {"title": "rows", "type": "object", "properties": {"rows": {"type": "array", "items": {"type": "integer"}}},
          "required": ["rows"], "additionalProperties": False}
TUPLES = {"title": "rows", "type": "object", "required": ["rows"], "additionalProperties": False,
          "properties": {"rows": {"type": "array", "prefixItems": [{"type": "integer"}], "items": False}}}


def _client(server: FakeOpenAIServer, **options):
    return create_llm(f"openai:fake@{server.url}", retry=RetryPolicy(base_delay=0.001), **options)


def _complete(client, n: int = 1, schema=SCHEMA):
    async def go():
        try:
            return [await client.complete(MESSAGES, json_schema=schema, seed=i) for i in range(n)]
        finally:
            await client.aclose()

    return asyncio.run(go())


def _formats(server: FakeOpenAIServer) -> list[str | None]:
    return [((r["body"] or {}).get("response_format") or {}).get("type") for r in server.requests]


def test_a_refused_schema_falls_back_once_and_the_mode_is_kept(caplog) -> None:
    with FakeOpenAIServer('{"rows": [1, 2]}', refuse_formats=["json_schema"]) as server:
        client = _client(server)
        with caplog.at_level(logging.WARNING, logger="mallm_gan.llm.base"):
            answers = _complete(client, n=3)
    assert [a.text for a in answers] == ['{"rows": [1, 2]}'] * 3
    # one refused request, then every call in the mode the server took
    assert _formats(server) == ["json_schema", "json_object", "json_object", "json_object"]
    assert server.requests[0]["status"] == 400
    entry = client.usage.structured[client.ledger_key]
    assert entry["mode"] == "json_object" and "HTTP 400" in entry["reason"]
    lines = [r for r in caplog.records if "refused structured output" in r.getMessage()]
    assert len(lines) == 1 and "json_object" in lines[0].getMessage()
    assert "json_object" in client.describe()


def test_a_server_that_refuses_json_mode_too_gets_plain_prompts() -> None:
    with FakeOpenAIServer('{"rows": [1]}', refuse_formats=["json_schema", "json_object"]) as server:
        client = _client(server)
        _complete(client, n=2)
    assert _formats(server) == ["json_schema", "json_object", None, None]
    assert client.usage.structured_mode(client.ledger_key) == "none"


def test_concurrent_refusals_downgrade_once(caplog) -> None:
    with FakeOpenAIServer('{"rows": [1]}', refuse_formats=["json_schema"], latency=0.05) as server:
        client = _client(server, max_concurrency=8)

        async def many():
            try:
                return await asyncio.gather(*[client.complete(MESSAGES, json_schema=SCHEMA, seed=i) for i in range(8)])
            finally:
                await client.aclose()

        with caplog.at_level(logging.WARNING, logger="mallm_gan.llm.base"):
            asyncio.run(many())
    assert sum("refused structured output" in r.getMessage() for r in caplog.records) == 1
    assert _formats(server).count("json_object") == 8


@pytest.mark.parametrize("fault", ["500", "503"])
def test_server_errors_never_downgrade(fault: str) -> None:
    with FakeOpenAIServer('{"rows": [1]}', faults=[fault, fault]) as server:
        client = _client(server)
        _complete(client)
    assert _formats(server) == ["json_schema"] * 3
    assert client.usage.structured[client.ledger_key] == {"mode": "json_schema", "reason": "accepted"}


def test_a_forced_mode_is_never_changed_and_the_error_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLM_STRUCTURED", "json_schema")
    with FakeOpenAIServer('{"rows": [1]}', refuse_formats=["json_schema"]) as server:
        client = _client(server)
        with pytest.raises(LLMProviderError, match="forced") as caught:
            _complete(client)
    assert _formats(server) == ["json_schema"]
    assert "MALLM_STRUCTURED" in caught.value.message and "json_object" in caught.value.message


def test_a_provider_subset_refuses_tuples_and_takes_the_portable_form() -> None:
    """The fake server checking OpenAI's strict subset refuses the tuple form (as the real providers do) and
    takes both portable schemas with strict: true."""
    schema = TableSchema.from_dataframe(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
    with FakeOpenAIServer('{"rows": []}', schema_subset="openai-strict") as server:
        _complete(_client(server), schema=TUPLES)
        _complete(_client(server), schema=rows_json_schema(schema, 2))
        _complete(_client(server), schema=optimizer_json_schema(["a", "b"]))
    statuses = [r["status"] for r in server.requests]
    assert statuses == [400, 200, 200, 200], statuses
    sent = server.requests[2]["body"]["response_format"]["json_schema"]
    assert sent["strict"] is True and sent["name"] == "rows"


def _table(n: int = 24) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"age": rng.integers(20, 60, n), "smoker": rng.choice(["yes", "no"], n),
                         "charges": rng.normal(9000, 2000, n).round(2)})


def test_fit_records_the_mode_and_sample_starts_from_it(tmp_path: Path) -> None:
    with FakeOpenAIServer(SimulatedResponder(), refuse_formats=["json_schema"]) as server:
        spec = f"openai:fake@{server.url}"
        model = MallmGan(llm=spec, epochs=1, batch_size=12, n_examples=3, rows_per_call=3, random_state=0)
        model.fit(_table(), target="charges", run_dir=tmp_path / "run", dag="none")
        sent = list(zip([r["status"] for r in server.requests], _formats(server), strict=True))
        refused = [fmt for status, fmt in sent if status == 400]
        # only calls already in flight with the first refusal (the first round's 4) were refused; every other
        # one (the rest of the run, the optimizer included) was sent in the mode the server took. The log is in
        # the order the server answered, which under load need not be the order the calls were sent.
        assert 1 <= len(refused) <= 4 and set(refused) == {"json_schema"}
        assert {fmt for status, fmt in sent if status != 400} == {"json_object"}
        usage = json.loads((tmp_path / "run" / "model.json").read_text())["usage"]
        saved = usage["structured_output"]
        (entry,) = saved.values()
        assert entry["mode"] == "json_object" and "refused" in entry["reason"]
        page = usage_section(usage)
        assert "Structured output of" in page and "<b>json_object</b>" in page and "structured_output" not in page
        before = len(server.requests)
        loaded = MallmGan.load(tmp_path / "run")
        frame = loaded.sample(6)
        assert len(frame) == 6
        assert set(_formats(server)[before:]) == {"json_object"}  # sample never retries the refused mode
        assert isinstance(loaded.usage_, UsageTracker)
