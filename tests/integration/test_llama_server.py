"""Contract tests: llama.cpp's real HTTP server (xllamacpp ``Server`` with a port) serving SmolLM2-135M,
reached only through the ``openai:MODEL@URL`` spec, as a user would. Nothing here is a mock: the schemas,
the error messages and the answers come from a server we did not write."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mallm_gan import MallmGan
from mallm_gan.cli import _load_commands, app
from mallm_gan.errors import LLMProviderError
from mallm_gan.gan.answer_schema import optimizer_json_schema, rows_json_schema
from mallm_gan.gan.optimizer_reply import parse_optimizer_reply
from mallm_gan.llm import create_llm
from mallm_gan.llm.dialects import violations
from mallm_gan.llm.openai_compat import OpenAICompatClient
from mallm_gan.table.schema import TableSchema

pytestmark = [pytest.mark.real_llm, pytest.mark.timeout(180)]
_load_commands()
runner = CliRunner()
MESSAGES = [{"role": "user", "content": "Write two rows of the table as JSON."}]


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    pytest.importorskip("xllamacpp")
    from mallm_gan.testing.llama_server import llama_server

    with llama_server("smollm2-135m", n_parallel=2, n_ctx=2048) as url:
        yield url


def _table(n: int = 12) -> pd.DataFrame:
    """Insurance-like, integer and categorical columns (llama.cpp enforces bounds on integers only)."""
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "age": rng.integers(18, 65, n),
        "sex": rng.choice(["female", "male"], n),
        "children": rng.integers(0, 4, n),
        "smoker": rng.choice(["no", "yes"], n, p=[0.8, 0.2]),
        "region": rng.choice(["northeast", "southwest"], n),
        "charges": rng.integers(1500, 40000, n),
    })


def _complete(client, schema):
    async def go():
        try:
            return await client.complete(MESSAGES, json_schema=schema, seed=3, temperature=0.5, max_tokens=200)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_the_tuple_form_is_refused_as_the_subset_checker_says(server_url: str) -> None:
    """The issue's HTTP 400, reproduced: the tuple rows schema (prefixItems + items: false) is refused."""
    schema = TableSchema.from_dataframe(_table())
    tuples = rows_json_schema(schema, 2, dialect="positional")
    assert violations(tuples, "llama.cpp")  # the checker predicts the refusal
    client = create_llm(f"openai:smollm2@{server_url}", structured="json_schema", max_retries=0)
    with pytest.raises(LLMProviderError, match="schema must be an object") as caught:
        _complete(client, tuples)
    assert caught.value.status == 400


def test_the_portable_schemas_are_accepted_and_followed(server_url: str) -> None:
    schema = TableSchema.from_dataframe(_table())
    rows = rows_json_schema(schema, 2)
    assert violations(rows, "llama.cpp") == []
    client = create_llm(f"openai:smollm2@{server_url}")
    answer = json.loads(_complete(client, rows).text)
    assert len(answer["rows"]) == 2 and all(list(r) == schema.names for r in answer["rows"])
    assert all(r["sex"] in ("female", "male") and 18 <= r["age"] <= 64 for r in answer["rows"])
    theta = optimizer_json_schema(schema.names)
    reply = _complete(create_llm(f"openai:smollm2@{server_url}"), theta)
    edges, _ = parse_optimizer_reply(reply.text, schema.names)
    assert all(a in schema.names and b in schema.names for a, b in edges)


def test_fit_and_sample_through_the_real_server(server_url: str, tmp_path: Path) -> None:
    data = tmp_path / "insurance.csv"
    _table().to_csv(data, index=False)
    run = tmp_path / "run"
    options = ["--epochs", "1", "--batch-size", "12", "--n-examples", "6", "--rows-per-call", "3", "--seed", "0",
               "--no-report"]
    fitted = runner.invoke(app, ["fit", str(data), "--target", "charges", "--llm", f"openai:smollm2@{server_url}",
                                 *options, "--out", str(run)])
    assert fitted.exit_code == 0, fitted.output
    usage = json.loads((run / "model.json").read_text())["usage"]
    (entry,) = usage["structured_output"].values()
    assert entry == {"mode": "json_schema", "reason": "accepted"}
    out = tmp_path / "synthetic.csv"
    sampled = runner.invoke(app, ["sample", str(run), "--rows", "3", "--out", str(out)])
    assert sampled.exit_code == 0, sampled.output
    frame = pd.read_csv(out)
    assert len(frame) == 3 and list(frame.columns) == list(_table().columns)
    assert set(frame["smoker"]) <= {"no", "yes"} and frame["age"].between(18, 64).all()


class TupleClient(OpenAICompatClient):
    """A client that sends the tuple dialect, which this server refuses: the run must still deliver."""

    @property
    def schema_dialect(self) -> str:
        return "positional"


def test_a_refused_schema_falls_back_and_the_run_delivers(server_url: str, tmp_path: Path) -> None:
    client = TupleClient(model="smollm2", base_url=server_url, api_key="not-needed", timeout=120.0)
    # copies are allowed and the release gate is off: this checks the fallback, not the yield. Without a
    # schema, the 135M model mostly echoes the example rows that end its prompt (11 of 12 rows once), so on a
    # 24-row table the rows that survive the copy guard can fall short of the iteration's need
    model = MallmGan(llm=client, epochs=1, batch_size=12, n_examples=6, rows_per_call=3, random_state=0,
                     release_gate="off", copy_policy="allow")
    model.fit(_table(), target="charges", dag="none", run_dir=tmp_path / "run")
    entry = model.usage_.structured[client.ledger_key]
    assert entry["mode"] == "json_object" and "JSON schema error" in entry["reason"]
    saved = json.loads((tmp_path / "run" / "checkpoint.json").read_text())["usage"]["structured_output"]
    assert saved[client.ledger_key]["mode"] == "json_object"
    assert model.history_.entries and model.history_.entries[0].report.get("accepted", 0) > 0


def test_check_against_the_real_server(server_url: str) -> None:
    result = runner.invoke(app, ["check", "--llm", f"openai:smollm2@{server_url}"])
    assert result.exit_code == 0, result.output
    assert "json_schema (accepted)" in result.output and "ready" in result.output
