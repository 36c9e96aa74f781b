"""Try an LLM endpoint before paying for a fit: one tiny request per role, and what it says about the endpoint.

:func:`check_endpoint` sends the generator's request (two rows of a three-column table, in the dialect the
client speaks) twice with the same seed, and the optimizer's request once, on a client with no cache. It
reports the structured-output mode the endpoint took (negotiated as in a run), latency, completion tokens
per second, whether the seed makes answers repeatable, whether the answers follow the schema, and a verdict.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..errors import LLMError, ParseError
from ..llm.base import BaseClient, Completion
from ..llm.registry import create_llm
from ..table.schema import TableSchema
from ..theta.process import DataGenerationProcess
from .answer_schema import optimizer_json_schema, rows_json_schema
from .optimizer_reply import parse_optimizer_reply
from .parsing import parse_rows
from .prompts import generator_messages, optimizer_messages
from .validation import RowValidator

_TABLE = pd.DataFrame(
    {"age": [34, 51, 27, 45], "smoker": ["no", "yes", "no", "no"], "bmi": [24.3, 31.0, 22.8, 28.4]}
)
_THETA = DataGenerationProcess(
    context="Adults insured by one company.", dag=(("smoker", "bmi"),), instruction="Write realistic rows."
)
N_ROWS = 2


@dataclass
class RoleCheck:
    """One role's request: did it answer, how fast, and did the answer follow the schema."""

    role: str
    ok: bool = False
    seconds: float = 0.0
    completion_tokens: int = 0
    valid: str = ""
    error: str = ""

    @property
    def tokens_per_second(self) -> float | None:
        return self.completion_tokens / self.seconds if self.seconds > 0 and self.completion_tokens else None


@dataclass
class EndpointCheck:
    """Everything :func:`check_endpoint` found."""

    endpoint: str
    description: str
    local: bool
    mode: str = ""
    mode_reason: str = ""
    dialect: str = ""
    seed_repeats: bool | None = None
    rejected_values: int = 0
    roles: list[RoleCheck] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return bool(self.roles) and all(r.ok for r in self.roles)

    @property
    def verdict(self) -> str:
        failed = [r for r in self.roles if not r.ok]
        if failed:
            first = failed[0]
            if first.error:
                return f"not usable: the {first.role} request failed: {first.error}"
            hint = " (try MALLM_STRUCTURED=none)" if self.mode == "json_schema" else ""
            return f"not usable: the {first.role}'s answer does not follow the requested form{hint}"
        note = (f"; {self.rejected_values} of {N_ROWS} test rows had values outside the schema (a small model, "
                "or bounds the server does not enforce): validation rejects such rows in a run"
                if self.rejected_values else "")
        if self.mode != "json_schema":
            return (f"usable, without schema-constrained answers ({self.mode}): rows are parsed tolerantly, so "
                    f"expect more rejected rows than with a schema{note}")
        return f"ready: both roles answer in the requested form{note}"


def _table() -> tuple[TableSchema, pd.DataFrame]:
    return TableSchema.from_dataframe(_TABLE), _TABLE


async def _timed(client: BaseClient, role: str, messages: Any, schema: dict[str, Any], seed: int) -> Completion:
    return await client.complete(messages, role=role, temperature=0.7, max_tokens=300, json_schema=schema, seed=seed)


async def _generator(client: BaseClient, out: EndpointCheck, schema: TableSchema, train: pd.DataFrame) -> None:
    check = RoleCheck("generator")
    out.roles.append(check)
    messages = generator_messages(_THETA, schema, train.head(2), n_rows=N_ROWS)
    answer_schema = rows_json_schema(schema, N_ROWS, dialect=client.schema_dialect)
    started = time.perf_counter()
    try:
        first = await _timed(client, "generator", messages, answer_schema, seed=7)
        check.seconds = time.perf_counter() - started
        again = await _timed(client, "generator", messages, answer_schema, seed=7)
    except LLMError as exc:
        check.error = exc.message
        return
    check.completion_tokens = first.completion_tokens
    out.seed_repeats = first.text == again.text
    parsed = parse_rows(first.text, schema.names)
    kept = RowValidator(schema, train, copy_policy="never").validate(parsed.records)
    check.valid = f"{len(parsed.records)} rows parsed, {len(kept.rows)} valid of {N_ROWS} asked"
    # the form is the endpoint's job; values outside the schema are the model's (or bounds a server does not
    # enforce: llama.cpp ignores them on numbers) and are what validation rejects in a run
    check.ok = bool(parsed.records) and all(set(schema.names) <= set(r) for r in parsed.records)
    out.rejected_values = len(parsed.records) - len(kept.rows)


async def _optimizer(client: BaseClient, out: EndpointCheck, schema: TableSchema) -> None:
    check = RoleCheck("optimizer")
    out.roles.append(check)
    messages = optimizer_messages([(_THETA, 0.8)], schema, context=_THETA.context)
    started = time.perf_counter()
    try:
        answer = await _timed(client, "optimizer", messages, optimizer_json_schema(schema.names), seed=7)
    except LLMError as exc:
        check.error = exc.message
        return
    check.seconds = time.perf_counter() - started
    check.completion_tokens = answer.completion_tokens
    try:
        edges, instruction = parse_optimizer_reply(answer.text, schema.names)
    except ParseError as exc:
        check.valid = f"unreadable: {exc.message[:80]}"
        return
    check.valid = f"{len(edges)} edges, instruction of {len(instruction)} characters"
    check.ok = True


def check_endpoint(spec: str | None, *, timeout: float = 120.0, structured: str | None = None) -> EndpointCheck:
    """Send one request per role (the generator's twice, to see whether the seed repeats) to ``spec``.

    Raises:
        ConfigError: the spec is malformed or credentials are missing (nothing was sent).
    """
    client = create_llm(spec, timeout=timeout, max_retries=1, structured=structured, cache_dir=None)
    out = EndpointCheck(endpoint=client.endpoint, description=client.describe(), local=client.is_local,
                        dialect=client.schema_dialect)
    schema, train = _table()

    async def run() -> None:
        try:
            await _generator(client, out, schema, train)
            await _optimizer(client, out, schema)
        finally:
            await client.aclose()

    asyncio.run(run())
    out.mode = client.structured_mode
    out.mode_reason = (client.usage.structured.get(client.ledger_key) or {}).get("reason", "")
    return out


__all__ = ["EndpointCheck", "RoleCheck", "check_endpoint"]
