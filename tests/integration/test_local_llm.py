"""The real SmolLM2-135M through llama.cpp in-process: constrained rows, concurrency, usage, a quiet stderr."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from mallm_gan.llm.local import LocalLlamaClient
from mallm_gan.llm.local_engine import unload_engines
from mallm_gan.theta.graphs import ASIA_COLUMNS

pytestmark = [pytest.mark.real_llm, pytest.mark.timeout(120)]

ASIA = list(ASIA_COLUMNS)
EXAMPLES = [[1, 1, 0, 1, 0, 1, 1, 0], [0, 0, 1, 0, 1, 0, 0, 1]]
ROWS = 5


def rows_schema(rows: int = ROWS) -> dict[str, Any]:
    row = {
        "type": "object",
        "properties": {name: {"enum": [0, 1]} for name in ASIA},
        "required": ASIA,
        "additionalProperties": False,
    }
    return {
        "title": "rows",
        "type": "object",
        "properties": {"rows": {"type": "array", "items": row, "minItems": rows, "maxItems": rows}},
        "required": ["rows"],
        "additionalProperties": False,
    }


def messages(rows: int = ROWS) -> list[dict[str, str]]:
    examples = "\n".join(json.dumps(dict(zip(ASIA, values, strict=True))) for values in EXAMPLES)
    return [
        {"role": "system", "content": "You write realistic synthetic rows of a medical table as JSON."},
        {
            "role": "user",
            "content": f"Columns are 0/1 indicators. Example rows:\n{examples}\nWrite {rows} new rows.",
        },
    ]


def check_rows(text: str, rows: int = ROWS) -> list[dict[str, Any]]:
    data = json.loads(text)
    assert list(data) == ["rows"] and len(data["rows"]) == rows
    for row in data["rows"]:
        assert list(row) == ASIA
        assert set(row.values()) <= {0, 1}
    return data["rows"]


@pytest.fixture(scope="module")
def client(smollm2_path: Path) -> LocalLlamaClient:
    return LocalLlamaClient(model=str(smollm2_path), n_ctx=2048, n_parallel=4, seed=11)


def test_llama_log_stays_off_stderr(smollm2_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    quiet = LocalLlamaClient(model=str(smollm2_path), n_ctx=512, n_parallel=1)
    quiet.load()
    result = asyncio.run(quiet.complete(messages(), max_tokens=8))
    out, err = capfd.readouterr()
    assert result.completion_tokens > 0
    assert err == "" and out == ""


def test_rows_obey_the_schema_compactly_and_usage_is_counted(client: LocalLlamaClient) -> None:
    result = asyncio.run(
        client.complete(messages(), json_schema=rows_schema(), max_tokens=600, temperature=0.7, seed=1)
    )
    assert result.finish_reason == "stop"
    check_rows(result.text)
    assert "\n" not in result.text and ", " not in result.text  # the compact grammar was applied
    assert 0 < result.completion_tokens <= 600 and result.prompt_tokens > 0
    total = client.usage.total
    assert total.calls == 1 and total.completion_tokens == result.completion_tokens and total.seconds > 0


def test_concurrent_requests_and_n_choices(client: LocalLlamaClient) -> None:
    async def run() -> list[Any]:
        return await asyncio.gather(
            *(
                client.complete(
                    messages(2),
                    json_schema=rows_schema(2),
                    max_tokens=300,
                    temperature=0.9,
                    seed=20 + i,
                    role="generator",
                )
                for i in range(4)
            )
        )

    results = asyncio.run(run())
    for result in results:
        check_rows(result.text, rows=2)
    usage = client.usage.role("generator")
    assert usage.calls == 4 and usage.completion_tokens == sum(r.completion_tokens for r in results)

    both = asyncio.run(client.complete(messages(2), json_schema=rows_schema(2), max_tokens=300, seed=5, n=2))
    assert len(both.choices) == 2
    for text in both.texts:
        check_rows(text, rows=2)


def test_max_tokens_is_respected(client: LocalLlamaClient) -> None:
    result = asyncio.run(client.complete([{"role": "user", "content": "Tell a long story."}], max_tokens=12))
    assert result.completion_tokens <= 12 and result.finish_reason == "length"


def test_verbose_lets_the_llama_log_through(smollm2_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    loud = LocalLlamaClient(model=str(smollm2_path), n_ctx=256, n_parallel=1, verbose=True)
    try:
        asyncio.run(loud.complete([{"role": "user", "content": "hi"}], max_tokens=4))
        err = capfd.readouterr().err
        assert "load_model" in err or "slot" in err
    finally:
        # llama.cpp's log threshold is process-wide: reload later engines quietly
        unload_engines()
