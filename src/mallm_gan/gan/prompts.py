"""Chat messages and JSON schemas for the generator and the optimizer (its reply is read by optimizer_reply).

Everything here is a pure function of θ, the schema and the rows it is handed. Example rows are sent as
``{"columns": [...], "rows": [[...], ...]}`` with every name written once and numbers at the column's
precision: the reference implementation sends a Python-repr dict per row, repeating every key, which
costs well over half of the prompt on wide tables.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, SchemaError
from ..settings import OPTIMIZER_FORMS
from ..table.column import Column
from ..table.schema import TableSchema, is_missing, round_to
from ..theta.process import DataGenerationProcess

Message = dict[str, str]
Edge = tuple[str, str]

#: Upper bound on the optimizer's task instruction, in characters.
MAX_INSTRUCTION_CHARS = 600

OPTIMIZER_ROLE = (
    "You are an expert in causal inference and in synthetic data generation. You improve the data "
    "generation process that a generator model follows when it writes synthetic rows of a table."
)


# -- example rows -----------------------------------------------------------------------------------
def _plain(value: Any, column: Column) -> Any:
    """A JSON-ready value at the column's precision; None for missing."""
    if is_missing(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if column.kind == "numerical":
        number = float(value)
        if column.is_integer:
            return int(round_to(number, 0))
        return round_to(number, column.decimals)
    if column.kind == "boolean":
        if isinstance(value, str):
            return value.strip().lower() == "true"
        return bool(value)
    if column.kind == "datetime":
        try:
            stamp = pd.Timestamp(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            return str(value).strip()
        if stamp == stamp.normalize():
            return stamp.date().isoformat()
        return stamp.isoformat()
    cats = column.categories or ()
    if cats and all(isinstance(c, int) and not isinstance(c, bool) for c in cats):
        try:
            return round(float(value))
        except (TypeError, ValueError):
            return str(value).strip()
    if cats and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in cats):
        try:
            return float(value)
        except (TypeError, ValueError):
            return str(value).strip()
    return str(value).strip()


def example_rows(frame: pd.DataFrame, schema: TableSchema) -> list[list[Any]]:
    """Rows of ``frame`` as lists of JSON-ready values in schema column order."""
    missing = [name for name in schema.names if name not in frame.columns]
    if missing:
        raise SchemaError(f"example rows lack column(s) {missing}", column=missing[0])
    columns = schema.columns
    return [
        [_plain(value, column) for value, column in zip(row, columns, strict=True)]
        for row in frame[schema.names].itertuples(index=False, name=None)
    ]


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def examples_payload(frame: pd.DataFrame, schema: TableSchema) -> str:
    """Real rows as compact JSON: ``{"columns": [names], "rows": [[v, ...], ...]}``, one row per line.

    Numbers are rounded to the column's decimals (ints written as ints), missing values are ``null`` and
    categories are spelled as in the data.
    """
    rows = example_rows(frame, schema)
    body = ",\n".join(_dumps(row) for row in rows)
    return f'{{"columns":{_dumps(schema.names)},\n"rows":[\n{body}]}}'


# -- generator --------------------------------------------------------------------------------------
def generator_messages(
    theta: DataGenerationProcess,
    schema: TableSchema,
    examples: pd.DataFrame,
    *,
    n_rows: int,
    conditions_text: str | None = None,
    extra_instruction: str | None = None,
) -> list[Message]:
    """The generator's chat: θ as the system prompt; the example rows and the request as the user turn.

    Args:
        theta: The data generation process.
        schema: The table's schema.
        examples: Real rows shown to the model (may be empty: then the request relies on θ alone).
        n_rows: How many new rows to ask for.
        conditions_text: A condition every row must satisfy, in words (conditional sampling).
        extra_instruction: One more instruction for this request only.
    """
    if not isinstance(n_rows, (int, np.integer)) or isinstance(n_rows, bool) or n_rows < 1:
        raise ConfigError(f"n_rows must be a positive integer, got {n_rows!r}")
    names = schema.names
    parts = []
    request = [
        f"Write exactly {n_rows} new row{'s' if n_rows != 1 else ''} of this table. Follow the causal "
        "structure, the schema and the task instruction. The rows must be new: do not copy an example row."
    ]
    if conditions_text and conditions_text.strip():
        request.append(f"Every row must satisfy this condition: {conditions_text.strip()}")
    if schema.constraints:
        request.append("Every row must obey the rules listed in the schema.")
    if extra_instruction and extra_instruction.strip():
        request.append(extra_instruction.strip())
    # the examples already spell out the column order; repeating long names would cost on every call
    order = 'the order of "columns" in the examples' if len(examples) else f"this column order: {_dumps(names)}"
    request.append(
        "Answer with JSON only, no other text, in exactly this form:\n"
        '{"rows": [[value, value, ...], ...]}\n'
        f"with {n_rows} inner array{'s' if n_rows != 1 else ''} of {len(names)} values each, in {order}. "
        "Write numbers as numbers, categories exactly as listed in the schema, and null for a missing value."
    )
    parts.append("<request>\n" + "\n".join(request) + "\n</request>")
    # the examples change from call to call; everything before them is the same across a round's calls, so a
    # server's prompt cache (a llama.cpp slot, a provider's automatic prefix cache) serves it
    if len(examples):
        parts.append(
            "<examples>\n"
            'Real rows from the data, as JSON: "rows" lists the values of each row in the order of '
            '"columns".\n' + examples_payload(examples, schema) + "\n</examples>"
        )
    return [
        {"role": "system", "content": theta.render(schema)},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


# -- optimizer --------------------------------------------------------------------------------------
def _format_score(score: float) -> str:
    return "unknown" if score is None or math.isnan(score) else f"{score:.3f}"


def optimizer_messages(
    pairs: Sequence[tuple[DataGenerationProcess, float]], schema: TableSchema, *, context: str,
    feedback: str = "", form: str = "dag",
) -> list[Message]:
    """The optimizer's meta-prompt: earlier (θ, score) pairs, worst first and best last, and the request.

    Args:
        pairs: (θ, discriminator accuracy) pairs, best first, as :meth:`History.top_k` orders them (the
            best is the selection rule's, not always the lowest score); lower accuracy is better and a NaN
            score is shown as unknown.
        schema: The table's schema (the optimizer may only use its column names).
        context: What the data is about.
        feedback: A block on why the best version's rows were told apart (:mod:`mallm_gan.gan.feedback`),
            placed after the versions; empty for the paper's meta-prompt.
        form: ``"dag"`` asks for the whole new structure, ``"edits"`` for edges to add, remove or reverse.
    """
    if form not in OPTIMIZER_FORMS:
        raise ConfigError(f"optimizer form must be one of {list(OPTIMIZER_FORMS)}, got {form!r}")
    if not pairs:
        raise ConfigError("the optimizer needs at least one (θ, score) pair")
    # best last: models weigh the end of the prompt most
    ordered = list(reversed(pairs))
    blocks = []
    for i, (theta, score) in enumerate(ordered, start=1):
        blocks.append(
            f"<version {i}>\nCausal structure:\n{theta.edges_text()}\n"
            f"Task instruction: {theta.instruction.strip()}\nScore: {_format_score(score)}\n</version {i}>"
        )
    names = schema.names
    user = "\n\n".join(
        [
            "<context>\n" + (context.strip() or "No description of the data was given.") + "\n</context>",
            "<schema>\n" + schema.describe() + "\n</schema>",
            "Below are earlier versions of the data generation process. Each has a causal structure "
            '(each line "A -> B" means that A is a direct cause of B) and a task instruction, followed by '
            "its score: "
            "the accuracy of a discriminator that tells real rows from synthetic rows written with that "
            "version. Lower is better; 0.500 means the discriminator cannot tell synthetic rows from real "
            "ones. The versions are sorted from the worst score to the best: the last one is the best so "
            "far.",
            "\n\n".join(blocks),
            *([feedback.strip()] if feedback.strip() else []),
            _optimizer_request(names, form),
        ]
    )
    return [{"role": "system", "content": OPTIMIZER_ROLE}, {"role": "user", "content": user}]


def _optimizer_request(names: Sequence[str], form: str) -> str:
    common = (
        "it helps the generator follow the structure and make realistic, diverse rows. Use only these "
        f"column names, spelled exactly as here: {_dumps(list(names))}. The causal structure must be acyclic. "
        f"Keep the instruction under {MAX_INSTRUCTION_CHARS} characters.\n"
        "Answer with JSON only, no other text, in this form:\n"
    )
    if form == "edits":
        return (
            "Change the last (best) version so that you expect a lower score than every version above: name "
            "the few edges to add, to remove and to reverse (each as [parent, child], as it reads now; leave a "
            "list empty when there is nothing to change), and rewrite the instruction so that " + common
            + '{"add": [["parent", "child"]], "remove": [], "reverse": [], "instruction": "..."}'
        )
    return (
        "Write a new causal structure and task instruction that you expect to get a lower score than "
        "every version above. You may add, remove or reverse edges, and rewrite the instruction so that "
        + common + '{"dag": [["parent", "child"], ...], "instruction": "..."}'
    )


# -- sizes ------------------------------------------------------------------------------------------
def prompt_size(messages: Sequence[Mapping[str, Any]]) -> int:
    """Characters in the messages' contents."""
    return sum(len(str(m.get("content") or "")) for m in messages)


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: about four characters per token, rounded up."""
    return -(-len(text) // 4)


__all__ = [
    "MAX_INSTRUCTION_CHARS",
    "OPTIMIZER_ROLE",
    "estimate_tokens",
    "example_rows",
    "examples_payload",
    "generator_messages",
    "optimizer_messages",
    "prompt_size",
]
