"""What a fit starts from: the schema (with its rules across columns checked on the training rows), the
training rows as the validator sees them, the starting θ, and the check that one generator prompt fits the
model's context."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import runstate
from ..errors import ConfigError, SchemaError
from ..gan.prompts import MAX_INSTRUCTION_CHARS, estimate_tokens, example_rows, generator_messages
from ..gan.validation import RowValidator
from ..settings import Settings
from ..table.constraints import prepare_constraints
from ..table.schema import TableSchema
from ..theta.causal import hill_climb_dag, validate_dag
from ..theta.process import DEFAULT_INSTRUCTION, DataGenerationProcess


def normalised_train(data: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """The training rows as the validator sees them (coerced, at the schema's precision), schema dtypes.
    The rules across columns are not applied here: :func:`constrained_schema` checks them on these rows."""
    validator = RowValidator(schema, schema.cast(data[schema.names]), copy_policy="allow", check_constraints=False)
    result = validator.validate(runstate.to_records(data[schema.names]))
    if result.report.rejected:
        raise SchemaError(
            f"{result.report.rejected} training rows do not fit the schema ({result.report.summary()}); "
            "fix the metadata or the data"
        )
    return schema.cast(pd.DataFrame(result.rows, columns=schema.names))


def constrained_schema(settings: Settings, schema: TableSchema, train: pd.DataFrame) -> TableSchema:
    """``schema`` with its rules (the metadata file's and ``settings.constraints``) bound, in canonical text,
    ``in training`` combinations learnt from ``train``, and every rule checked on the training rows.

    Raises:
        ConfigError: a rule cannot be read or bound (each named, the position marked).
        SchemaError: training rows break a rule (counted per rule), unless ``settings.allow_violations``.
    """
    return prepare_constraints(schema, settings.constraints, train, allow_violations=settings.allow_violations)


def fit_schema(
    data: pd.DataFrame, schema: TableSchema | None, target: str | None, task: str | None,
    metadata: dict[str, Any] | str | Path | None,
) -> TableSchema:
    if schema is None:
        return TableSchema.from_dataframe(data, target=target, task=task, metadata=metadata)
    if metadata is not None:
        schema = schema.with_metadata(metadata)
    if target is not None or task is not None:
        schema = schema.with_target(target or schema.target, task)
    missing = [n for n in schema.names if n not in data.columns]
    if missing:
        raise SchemaError(f"schema column(s) {missing} are not in the data", column=missing[0])
    return schema


def start_theta(
    train: pd.DataFrame, schema: TableSchema, seed: int, *, context: str, dag: Any, instruction: str | None,
    theta: DataGenerationProcess | None,
) -> DataGenerationProcess:
    if theta is not None:
        check = validate_dag(theta.dag, schema.names)
        return DataGenerationProcess(theta.context, tuple(check.edges), theta.instruction)
    return DataGenerationProcess(context=context.strip(), dag=initial_dag(dag, train, schema, seed),
                                 instruction=(instruction or DEFAULT_INSTRUCTION).strip())


def initial_dag(dag: Any, train: pd.DataFrame, schema: TableSchema, seed: int) -> tuple[tuple[str, str], ...]:
    """The starting DAG ``dag`` names; hill climbing breaks its ties with the run's seed, so a run without
    ``random_state`` is reproduced from its saved seed."""
    if dag is None or dag == "none":
        return ()
    if dag == "hill-climb":
        return tuple(hill_climb_dag(train, schema, random_state=seed))
    if isinstance(dag, str):
        raise ConfigError(f"dag must be 'hill-climb', 'none' or a list of (parent, child) edges, got {dag!r}")
    edges = [tuple(e) for e in dag]
    if any(len(e) != 2 for e in edges):
        raise ConfigError("every dag edge must be a (parent, child) pair")
    check = validate_dag(edges, schema.names)
    if check.dropped:
        problems = "; ".join(f"{a} -> {b}: {why}" for (a, b), why in check.dropped)
        raise ConfigError(f"the given dag has invalid edges: {problems}")
    return tuple(check.edges)


def check_prompt_size(
    settings: Settings, train: pd.DataFrame, schema: TableSchema, theta: DataGenerationProcess
) -> None:
    if settings.max_prompt_tokens is None:
        return
    # the prompt is longest with the longest rows as examples and the longest instruction the optimizer
    # may write; judging it on the first rows lets later prompts pass the budget
    widths = [len(json.dumps(row, default=str)) for row in example_rows(train, schema)]
    longest = sorted(np.argsort(widths, kind="stable")[::-1][: settings.n_examples])
    widest = dataclasses.replace(theta, instruction=theta.instruction.ljust(MAX_INSTRUCTION_CHARS))
    messages = generator_messages(widest, schema, train.iloc[longest], n_rows=settings.rows_per_call)
    tokens = sum(estimate_tokens(m["content"]) for m in messages)
    if tokens > settings.max_prompt_tokens:
        raise ConfigError(
            f"one generator prompt is about {tokens} tokens ({len(schema)} columns, "
            f"{settings.n_examples} examples), above max_prompt_tokens={settings.max_prompt_tokens}; lower "
            "n_examples or rows_per_call, drop columns, or raise --max-prompt-tokens if the model's "
            "context allows it"
        )
