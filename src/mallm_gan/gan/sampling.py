"""Sampling from a fitted model: chunked, concurrent, verified, with the copy guard on every row."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..settings import Settings
from ..table.coerce import normalise_frame
from ..table.conditions import Conditions
from ..table.schema import TableSchema
from ..theta.process import DataGenerationProcess
from .clients import Clients
from .exposure import ExposureLedger
from .generator import Generator
from .seeds import derive_seed
from .validation import RejectionReport, RowValidator

log = logging.getLogger(__name__)
Callback = Callable[[str, dict[str, Any]], None]


def example_pool(train: pd.DataFrame, schema: TableSchema, conditions: Conditions) -> pd.DataFrame:
    """Training rows to show as examples: those meeting the conditions when there are enough."""
    if not conditions:
        return train
    names = schema.names
    # conditions compare normalised values (ISO dates, canonical categories), as the validator writes them
    records = [dict(zip(names, row, strict=True)) for row in normalise_frame(train, schema)]
    mask = np.array([conditions.matches(r) for r in records], dtype=bool)
    if mask.sum() >= 1:
        return train[mask]
    log.info("no training row meets the conditions; examples are drawn from all rows")
    return train


class Sampler:
    """One sampling request from θ: chunks of validated rows, with its rejection report, usage, release gate
    and exposure readable while it runs and after.

    Args:
        seed: The request's seed (the model's ``Stream.SAMPLE`` seed for this request); each chunk's example
            draws and LLM seeds are derived from it and the chunk's index.
        exposure: The real rows' exposure so far (fit's and earlier samplings'); the sampler counts on from a
            copy of it, capped by ``settings.max_exposure``, and leaves the caller's ledger as it was.

    Attributes:
        release_gate: The gate the rows pass (threshold and source), as ``model.json`` records it.
        exposure: The ledger with this request's prompts added.
        near_copies: Rows the release gate rejected in this request.
    """

    def __init__(
        self, settings: Settings, schema: TableSchema, train: pd.DataFrame, theta: DataGenerationProcess,
        clients: Clients, *, conditions: Conditions, instruction: str | None, seed: int,
        exposure: ExposureLedger | None = None,
    ) -> None:
        self.settings, self.schema, self.theta, self.clients = settings, schema, theta, clients
        self.conditions, self.instruction, self.seed = conditions, instruction, seed
        self.validator = RowValidator(
            schema, train, copy_policy=settings.copy_policy, copy_k=settings.copy_k,
            conditions=conditions or None, release_gate=settings.gate(),
        )
        self.release_gate = self.validator.gate_.to_dict()
        self.exposure = ExposureLedger(settings.max_exposure)
        if exposure is not None:
            self.exposure.merge(exposure)
        self.pool = example_pool(train, schema, conditions)
        self.generator = Generator(
            clients.generator, schema, temperature=settings.generator_temperature,
            rows_per_call=settings.rows_per_call, max_rounds=settings.max_rounds, exposure=self.exposure,
        )
        self.report = RejectionReport()
        self.usage = clients.usage

    @property
    def near_copies(self) -> int:
        return int(self.report.reasons["near_copy"])

    def chunks(self, num_rows: int, chunk_rows: int, callbacks: Sequence[Callback] = ()) -> Iterator[pd.DataFrame]:
        """Yield validated rows in chunks of at most ``chunk_rows`` until ``num_rows`` have been produced."""
        for callback in callbacks:  # before any call: the caller may tell the user where real rows go
            callback("start", {"endpoint": self.clients.generator.describe()})
        done, chunk_no = 0, 0
        while done < num_rows:
            frame = self._chunk(chunk_no, min(chunk_rows, num_rows - done))
            done += len(frame)
            chunk_no += 1
            for callback in callbacks:
                callback("sample", {"done": done, "total": num_rows, "report": self.report})
            yield frame

    def _chunk(self, chunk_no: int, wanted: int) -> pd.DataFrame:
        calls = math.ceil(wanted / self.settings.rows_per_call)
        pool, k = self.pool, min(self.settings.n_examples, len(self.pool))

        def examples(round_no: int) -> list[pd.DataFrame]:
            rng = np.random.default_rng(derive_seed(self.seed, chunk_no, round_no))
            return [pool.iloc[rng.choice(len(pool), size=k, replace=False)] for _ in range(calls)]

        request = self.generator.generate(
            self.theta, examples, self.validator, wanted=wanted, minimum=wanted,
            seed=derive_seed(self.seed, chunk_no),
            conditions_text=self.conditions.describe() if self.conditions else None,
            extra_instruction=self.instruction,
            constraints=self.conditions or None,  # the rows' JSON schema is narrowed by what it can express
        )
        result = asyncio.run(_closing(request, self.clients))
        self.report.add(result.report)
        return result.frame(self.schema)


async def _closing(request: Any, clients: Clients) -> Any:
    """Await ``request`` and close the clients' connections before its event loop ends (each chunk runs
    in its own loop; an HTTP connection pool must not outlive the loop it was opened in)."""
    try:
        return await request
    finally:
        await clients.aclose()
