"""Generator: θ + chunks of real example rows -> validated synthetic rows.

"Batches in a batch": a batch of real rows is split into chunks of ``n_examples`` rows, and each chunk is one
LLM call asking for ``rows_per_call`` new rows. All calls of a round run concurrently through the client
(bounded by its semaphore). Every answer is parsed, validated and coerced against the schema and passed
through the copy guard; when a round yields too few valid rows, further rounds top it up, up to a bound.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import BudgetExceededError, GenerationError, LLMError, MallmGanError
from ..llm.base import LLMClient
from ..table.schema import TableSchema
from ..theta.process import DataGenerationProcess
from .answer_schema import rows_json_schema
from .exposure import ExposureLedger
from .parsing import parse_rows
from .prompts import generator_messages
from .row_rules import narrow_to_combinations
from .seeds import derive_seed
from .validation import RejectionReport, RowValidator

log = logging.getLogger(__name__)


@dataclass
class GenerationResult:
    """Rows accepted in one generation request, with the accounting of everything rejected."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    report: RejectionReport = field(default_factory=RejectionReport)
    calls: int = 0
    failed_calls: int = 0
    rounds: int = 0

    def frame(self, schema: TableSchema) -> pd.DataFrame:
        if not self.rows:
            return schema.empty_frame()
        return schema.cast(pd.DataFrame(self.rows, columns=schema.names))


class Generator:
    """Asks the LLM for rows and keeps only valid, non-identifying ones.

    Args:
        client: The LLM client (any backend).
        schema: Table schema every row must obey.
        temperature: Sampling temperature (the method uses about 0.5).
        rows_per_call: Rows requested per call.
        max_rounds: Top-up rounds allowed after the first before giving up.
        min_yield: In ``generate_for_batch``, the share of requested rows that must be accepted.
        max_tokens: Completion-token cap per call; ``None`` sizes it from the example rows.
        exposure: Ledger that counts (and may cap) the real rows put in prompts.
    """

    def __init__(
        self,
        client: LLMClient,
        schema: TableSchema,
        *,
        temperature: float = 0.5,
        rows_per_call: int = 5,
        max_rounds: int = 4,
        min_yield: float = 0.2,
        max_tokens: int | None = None,
        exposure: ExposureLedger | None = None,
    ) -> None:
        self.client = client
        self.exposure = exposure
        self.schema = schema
        self.temperature = temperature
        self.rows_per_call = rows_per_call
        self.max_rounds = max_rounds
        self.min_yield = min_yield
        self.max_tokens = max_tokens
        # acceptance rate seen so far: the first round asks for the rows it expects to lose, so that a
        # top-up round (one more sequential wait on the LLM) is the exception, not the rule
        self._seen = 0
        self._accepted = 0

    def set_yield(self, seen: int, accepted: int) -> None:
        """Start from a known acceptance record (the loop derives it from its history, so a resumed run asks
        for exactly what the uninterrupted run asked for)."""
        self._seen, self._accepted = int(seen), int(accepted)

    # -- one call -----------------------------------------------------------------------------------
    def _max_tokens(self, examples: pd.DataFrame, n_rows: int) -> int:
        if self.max_tokens is not None:
            return self.max_tokens
        records = examples.astype(object).where(examples.notna(), None).to_dict("records")
        if self.client.schema_dialect == "portable":
            # rows written as objects repeat every key, and servers that allow free whitespace indent each
            # one: measured on llama.cpp's server, 59 tokens a row where tuples take 30 (benchmarks/dialects.py)
            longest = max((len(json.dumps(r, default=str)) + 8 * len(r) for r in records), default=160)
        else:
            longest = max((len(json.dumps(list(r.values()), default=str)) for r in records), default=80)
        # ~3 characters a token for compact JSON, plus slack for models that add spaces
        return int(64 + n_rows * (longest / 3 + 8) * 1.6)

    @staticmethod
    def _repeat_window(examples: pd.DataFrame, validator: RowValidator) -> int | None:
        """Tokens of an example row the engine may repeat verbatim, when copies of common rows are allowed
        for most of the table's people (``None``: the engine's own setting). A whole row, then: with a
        shorter window, a repetition penalty pushes the model off the rows most people have."""
        if not len(examples) or validator.copyable_share < 0.5:
            return None
        rows = examples.astype(object).where(examples.notna(), None).values.tolist()
        longest = max(len(json.dumps(r, default=str, separators=(",", ":"))) for r in rows)
        # a token is at least about two characters of compact JSON: the window outlasts the longest row
        return longest // 2 + 8

    async def _call(
        self,
        theta: DataGenerationProcess,
        examples: pd.DataFrame,
        validator: RowValidator,
        *,
        seed: int,
        n_rows: int,
        conditions_text: str | None,
        extra_instruction: str | None,
        constraints: dict[str, dict[str, Any]] | None,
    ) -> tuple[list[dict[str, Any]], RejectionReport, bool]:
        messages = generator_messages(
            theta, self.schema, examples, n_rows=n_rows, conditions_text=conditions_text,
            extra_instruction=extra_instruction,
        )
        completion = await self.client.complete(
            messages,
            role="generator",
            temperature=self.temperature,
            max_tokens=self._max_tokens(examples, n_rows),
            json_schema=narrow_to_combinations(
                rows_json_schema(self.schema, n_rows, constraints, dialect=self.client.schema_dialect), self.schema,
            ),
            seed=seed,
            repeat_window=self._repeat_window(examples, validator),
        )
        rows: list[dict[str, Any]] = []
        report = RejectionReport()
        for text in completion.texts:
            parsed = parse_rows(text, self.schema.names)
            result = validator.validate(parsed.records)
            report.add(result.report)
            report.add_parse(parsed)
            rows.extend(result.rows)
        return rows, report, True

    # -- many calls ---------------------------------------------------------------------------------
    async def generate(
        self,
        theta: DataGenerationProcess,
        example_source: Callable[[int], Sequence[pd.DataFrame]],
        validator: RowValidator,
        *,
        wanted: int,
        minimum: int,
        seed: int,
        conditions_text: str | None = None,
        extra_instruction: str | None = None,
        constraints: dict[str, dict[str, Any]] | None = None,
        first_round: Sequence[pd.DataFrame] | None = None,
    ) -> GenerationResult:
        """Generate until ``wanted`` valid rows are accepted, or fail if fewer than ``minimum`` after
        ``1 + max_rounds`` rounds.

        Args:
            example_source: ``f(round) -> chunks``: example chunks for a top-up round (one call each).
            first_round: Chunks of the first round (the batch's own chunks); else ``example_source(0)``.
            seed: Base seed; each call's seed is derived from it, the round and the call index, so a rerun
                sends the same requests (and hits the cache).

        Raises:
            GenerationError: fewer than ``minimum`` rows were accepted; its fields hold the counts.
            LLMError: a permanent endpoint error (bad key, unknown model): retrying cannot help.
        """
        result = GenerationResult()
        for round_no in range(1 + self.max_rounds):
            missing = wanted - len(result.rows)
            if missing <= 0:
                break
            chunks = self._round_chunks(round_no, missing, result, example_source, first_round)
            if self.exposure is not None:
                endpoint = self.client.describe()
                chunks = [c for c in (self.exposure.admit(endpoint, chunk) for chunk in chunks) if len(c)]
                if not chunks:
                    if len(result.rows) >= minimum:
                        break
                    raise self.exposure.refuse()
            result.rounds += 1
            n_rows = self._rows_per_call(round_no)
            tasks = [
                self._call(
                    theta, chunk, validator, seed=derive_seed(seed, round_no, i), n_rows=n_rows,
                    conditions_text=conditions_text, extra_instruction=extra_instruction,
                    constraints=constraints,
                )
                for i, chunk in enumerate(chunks)
            ]
            _collect(result, await asyncio.gather(*tasks, return_exceptions=True))
            log.info("generation round %d: %s", round_no, result.report.summary())
        self._seen += result.report.generated
        self._accepted += result.report.accepted
        if len(result.rows) < minimum:
            raise self._shortfall(result, minimum)
        result.rows = result.rows[:wanted]
        return result

    def _round_chunks(
        self,
        round_no: int,
        missing: int,
        result: GenerationResult,
        example_source: Callable[[int], Sequence[pd.DataFrame]],
        first_round: Sequence[pd.DataFrame] | None,
    ) -> list[pd.DataFrame]:
        """The example chunks of one round, one call each; a top-up round sends only as many as it needs."""
        if round_no == 0:
            return list(first_round) if first_round is not None else list(example_source(0))
        chunks = list(example_source(round_no))
        # top-up: only as many calls as the remaining rows need, at the yield seen so far
        seen = max(result.report.generated, 1)
        rate = max(len(result.rows) / seen, 0.2) if result.calls else 1.0
        need_calls = int(np.ceil(missing / max(self.rows_per_call * rate, 1)))
        return chunks[: max(1, need_calls)]

    def _rows_per_call(self, round_no: int) -> int:
        """Rows to ask each call for: more in a first round when earlier requests lost rows to validation."""
        if round_no == 0 and self._seen >= 20:
            rate = max(self._accepted / self._seen, 0.5)
            return min(2 * self.rows_per_call, int(np.ceil(self.rows_per_call / rate)))
        return self.rows_per_call

    def _shortfall(self, result: GenerationResult, minimum: int) -> GenerationError:
        """The error for a request that ended with fewer than ``minimum`` rows; its fields hold the counts."""
        # answers that were never rows: an endpoint that takes the schema but does not follow it
        unreadable = result.report.generated == 0 and result.calls > result.failed_calls
        hint = (f"; no answer of {self.client.endpoint} held rows: check the endpoint with `mallm-gan check "
                "--llm SPEC`, or set MALLM_STRUCTURED=none to ask in the prompt only") if unreadable else ""
        return GenerationError(
            f"only {len(result.rows)} valid rows of the {minimum} needed after {result.calls} calls "
            f"({result.failed_calls} failed): {result.report.summary()}{hint}",
            accepted=len(result.rows), needed=minimum, calls=result.calls,
            failed_calls=result.failed_calls, counts=result.report.to_dict(),
        )


def _collect(result: GenerationResult, outcomes: Sequence[Any]) -> None:
    """Add one round's call outcomes to ``result``.

    Raises:
        LLMError, BudgetExceededError: a permanent endpoint error or a budget stops the run; so does any
            error that is not the project's own, and a round whose every call failed at the endpoint.
    """
    for outcome in outcomes:
        result.calls += 1
        if isinstance(outcome, BaseException):
            # permanent endpoint errors and budgets stop the run; other failures cost one call
            permanent = isinstance(outcome, LLMError) and not outcome.transient
            if permanent or isinstance(outcome, BudgetExceededError) or not isinstance(outcome, MallmGanError):
                raise outcome
            result.failed_calls += 1
            result.report.notes[f"call_failed:{type(outcome).__name__}"] += 1
            log.warning("generator call failed: %s", outcome)
            continue
        rows, report, _ = outcome
        result.report.add(report)
        result.rows.extend(rows)
    failures = [o for o in outcomes if isinstance(o, LLMError)]
    if failures and len(failures) == len(outcomes):
        # every call of the round failed after its own retries: the endpoint is down or unreachable,
        # and more calls to it cannot help; its error names it
        raise failures[0]
