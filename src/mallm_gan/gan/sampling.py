"""Sampling from a fitted model: chunked, concurrent, verified, with the copy guard on every row."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..table.coerce import normalise_frame
from ..table.conditions import Conditions
from .generator import Generator, derive_seed
from .loop import open_clients
from .validation import RejectionReport, RowValidator

if TYPE_CHECKING:
    from ..synthesizer import MallmGan

log = logging.getLogger(__name__)
Callback = Callable[[str, dict[str, Any]], None]


def example_pool(model: MallmGan, conditions: Conditions) -> pd.DataFrame:
    """Training rows to show as examples: those meeting the conditions when there are enough."""
    train = model.train_
    if not conditions:
        return train
    names = model.schema_.names
    # conditions compare normalised values (ISO dates, canonical categories), as the validator writes them
    records = [dict(zip(names, row, strict=True)) for row in normalise_frame(train, model.schema_)]
    mask = np.array([conditions.matches(r) for r in records], dtype=bool)
    if mask.sum() >= 1:
        return train[mask]
    log.info("no training row meets the conditions; examples are drawn from all rows")
    return train


def json_constraints(conditions: Conditions, schema: Any) -> dict[str, dict[str, Any]]:
    """Narrow the answer's JSON schema by the conditions that a schema can express (equality, sets, ranges
    on numbers), so constrained backends cannot write a row that misses them. The rest (``!=``, strict
    bounds, dates) is left to the prompt and to the check on every returned row."""
    out: dict[str, dict[str, Any]] = {}
    for name, condition in conditions:
        column = schema[name]
        if condition.op in ("eq", "in"):
            out[name] = {"enum": list(condition.values)}
        elif condition.op == "range" and column.kind == "numerical":
            spec: dict[str, Any] = {}
            if condition.low is not None and condition.low_inclusive:
                spec["minimum"] = condition.low
            if condition.high is not None and condition.high_inclusive:
                spec["maximum"] = condition.high
            if spec:
                out[name] = spec
    return out


def run_sampling(
    model: MallmGan,
    num_rows: int,
    conditions: Conditions,
    instruction: str | None,
    chunk_rows: int,
    base_seed: int,
    callbacks: Sequence[Callback],
) -> Iterator[pd.DataFrame]:
    """Yield validated rows in chunks until ``num_rows`` have been produced."""
    schema = model.schema_
    validator = RowValidator(
        schema, model.train_, copy_policy=model.copy_policy, copy_k=model.copy_k,
        conditions=conditions or None, release_gate=model.gate_setting(),
    )
    model.release_gate_ = validator.gate_.to_dict()
    pool = example_pool(model, conditions)
    k = min(model.n_examples, len(pool))
    conditions_text = conditions.describe() if conditions else None
    constraints = json_constraints(conditions, schema) if conditions else None
    total = RejectionReport()
    model.sample_report_ = total
    gen_client, opt_client, usage, owned = open_clients(model)
    model.sample_usage_ = usage
    for callback in callbacks:  # before any call: the caller may tell the user where real rows go
        callback("start", {"endpoint": gen_client.describe()})
    clients = list({id(c): c for c in (gen_client, opt_client)}.values())
    generator = Generator(
        gen_client, schema, temperature=model.generator_temperature, rows_per_call=model.rows_per_call,
        max_rounds=model.max_rounds, exposure=model.exposure_,
    )
    done = 0
    chunk_no = 0
    try:
        while done < num_rows:
            wanted = min(chunk_rows, num_rows - done)
            calls = math.ceil(wanted / model.rows_per_call)

            def examples(round_no: int, chunk_no: int = chunk_no, calls: int = calls) -> list[pd.DataFrame]:
                rng = np.random.default_rng(derive_seed(base_seed, chunk_no, round_no))
                return [pool.iloc[rng.choice(len(pool), size=k, replace=False)] for _ in range(calls)]

            request = generator.generate(
                model.theta_, examples, validator, wanted=wanted, minimum=wanted,
                seed=derive_seed(base_seed, chunk_no), conditions_text=conditions_text,
                extra_instruction=instruction, constraints=constraints,
            )
            result = asyncio.run(_closing(request, clients if owned else []))
            total.add(result.report)
            model.sample_near_copies_ = getattr(model, "sample_near_copies_", 0) + result.report.reasons["near_copy"]
            frame = result.frame(schema)
            done += len(frame)
            chunk_no += 1
            for callback in callbacks:
                callback("sample", {"done": done, "total": num_rows, "report": total})
            yield frame
    finally:
        model.sample_usage_ = usage


async def _closing(request: Any, clients: list[Any]) -> Any:
    """Await ``request`` and close the clients' connections before its event loop ends (each chunk runs
    in its own loop; an HTTP connection pool must not outlive the loop it was opened in)."""
    try:
        return await request
    finally:
        for client in clients:
            await client.aclose()
