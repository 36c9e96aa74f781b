"""JSON schemas of the generator's and the optimizer's answers, in the structured-output dialect a client
speaks (:mod:`mallm_gan.llm.dialects`): the one place where a table's schema and the sampling conditions
become a JSON Schema.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..llm.dialects import Dialect, check_dialect
from ..table.column import Column
from ..table.condition import Condition
from ..table.conditions import Conditions
from ..table.schema import TableSchema, round_to
from .prompts import _plain


def _date_only(column: Column) -> bool:
    bounds = [b for b in (column.min, column.max) if b]
    return all(str(b).endswith("T00:00:00") or "T" not in str(b) for b in bounds)


# plain character classes: llama.cpp's grammar converter drops a pattern that uses \d
_DATE = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
_DATE_ONLY = f"^{_DATE}$"
_DATE_TIME = f"^{_DATE}([T ][0-9]{{2}}:[0-9]{{2}}(:[0-9]{{2}})?)?$"


def _column_schema(column: Column, dialect: Dialect) -> dict[str, Any]:
    out: dict[str, Any] = {"title": column.name} if dialect == "positional" else {}
    if column.kind == "categorical":
        out["enum"] = list(column.categories or ())
    elif column.kind == "numerical":
        integer = column.is_integer
        out["type"] = "integer" if integer else "number"
        if column.min is not None:
            out["minimum"] = int(column.min) if integer else float(column.min)
        if column.max is not None:
            out["maximum"] = int(column.max) if integer else float(column.max)
        if not integer and dialect == "positional":
            # bounds and a step keep small models from writing digits until max_tokens (LLGuidance compiles
            # multipleOf; the grammar converters of llama.cpp server, Ollama and vLLM do not)
            out["multipleOf"] = 10.0**-column.decimals
    elif column.kind == "boolean":
        out["type"] = "boolean"
    else:
        out["type"] = "string"
        out["pattern"] = _DATE_ONLY if _date_only(column) else _DATE_TIME
    return out


def _allow_null(spec: dict[str, Any]) -> dict[str, Any]:
    spec = dict(spec)
    if "enum" in spec:
        spec["enum"] = [*spec["enum"], None]
    else:
        spec["type"] = [spec["type"], "null"]
    return spec


_CONDITION_KEYS = ("enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
Narrowing = Mapping[str, Any]


def condition_narrowing(condition: Condition, column: Column) -> Narrowing | None:
    """What one sampling condition says in this module's narrowing vocabulary (``enum`` and bounds), or
    ``None`` when a JSON schema cannot say it (``!=``, a range on a date): the prompt and the check on every
    returned row carry those."""
    if condition.op in ("eq", "in"):
        return {"enum": list(condition.values)}
    if condition.op == "range" and column.kind == "numerical":
        out: dict[str, Any] = {}
        if condition.low is not None:
            out["minimum" if condition.low_inclusive else "exclusiveMinimum"] = condition.low
        if condition.high is not None:
            out["maximum" if condition.high_inclusive else "exclusiveMaximum"] = condition.high
        return out or None
    return None


def _narrowings(schema: TableSchema, conditions: Conditions | Mapping[str, Narrowing] | None) -> dict[str, list]:
    """Every column's narrowings, in order; a :class:`Conditions` may hold several for one column."""
    if conditions is None:
        return {}
    if isinstance(conditions, Conditions):
        out: dict[str, list] = {}
        for name, condition in conditions:
            narrowing = condition_narrowing(condition, schema[name])
            if narrowing is not None:
                out.setdefault(name, []).append(narrowing)
        return out
    unknown = [name for name in conditions if name not in schema]
    if unknown:
        raise ConfigError(f"condition on unknown column(s) {unknown}; columns are {schema.names}")
    return {name: [narrowing] for name, narrowing in conditions.items()}


def _narrow(spec: dict[str, Any], column: Column, condition: Narrowing) -> dict[str, Any]:
    unknown = set(condition) - set(_CONDITION_KEYS)
    if unknown or not condition:
        raise ConfigError(f"condition on {column.name!r} must use {list(_CONDITION_KEYS)}, got {dict(condition)}")
    spec = dict(spec)
    if "enum" in condition:
        wanted = [_plain(v, column) for v in condition["enum"]]
        if "enum" in spec:
            allowed = spec["enum"]
            wanted = [v for v in wanted if v in allowed]
        elif column.kind == "numerical":
            low = spec.get("minimum", -math.inf)
            high = spec.get("maximum", math.inf)
            wanted = [v for v in wanted if v is not None and low <= v <= high]
        if not wanted:
            raise ConfigError(f"condition on {column.name!r} allows no value of the column: {list(condition['enum'])}")
        spec = {k: v for k, v in spec.items() if k == "title"} | {"enum": list(dict.fromkeys(wanted))}
    bounds = {k: condition[k] for k in _CONDITION_KEYS[1:] if condition.get(k) is not None}
    if not bounds:
        return spec
    if column.kind != "numerical":
        if column.kind == "datetime":
            return spec  # a date range cannot be expressed on a string; rows are checked after parsing
        raise ConfigError(f"a minimum/maximum condition needs a numerical column; {column.name!r} is not")
    # exclusive bounds become inclusive ones on the column's grid (one step in), which every backend supports
    step = 1 if column.is_integer else 10.0**-column.decimals
    lows = [bounds.get("minimum"), bounds["exclusiveMinimum"] + step if "exclusiveMinimum" in bounds else None]
    highs = [bounds.get("maximum"), bounds["exclusiveMaximum"] - step if "exclusiveMaximum" in bounds else None]
    for low in (v for v in lows if v is not None):
        low = math.ceil(low) if column.is_integer else round_to(float(low), column.decimals)
        spec["minimum"] = max(spec.get("minimum", low), low)
    for high in (v for v in highs if v is not None):
        high = math.floor(high) if column.is_integer else round_to(float(high), column.decimals)
        spec["maximum"] = min(spec.get("maximum", high), high)
    if spec.get("minimum", -math.inf) > spec.get("maximum", math.inf):
        raise ConfigError(
            f"condition on {column.name!r} leaves an empty range: [{spec.get('minimum')}, {spec.get('maximum')}]"
        )
    if "enum" in spec:  # a numerical column narrowed to listed values and a range: keep the values in range
        low, high = spec.pop("minimum", -math.inf), spec.pop("maximum", math.inf)
        spec["enum"] = [v for v in spec["enum"] if low <= v <= high]
        if not spec["enum"]:
            raise ConfigError(f"condition on {column.name!r} allows no value: {dict(condition)}")
    return spec


def rows_json_schema(
    schema: TableSchema,
    n_rows: int,
    conditions: Conditions | Mapping[str, Narrowing] | None = None,
    *,
    dialect: Dialect = "portable",
) -> dict[str, Any]:
    """JSON Schema of the generator's answer, ``{"rows": [...]}`` with exactly ``n_rows`` rows.

    Args:
        schema: The table's schema (categories, bounds, precision, nullability).
        n_rows: Exact number of rows.
        conditions: The sampling :class:`~mallm_gan.table.conditions.Conditions`, or narrowings per column
            (``{"enum": [...]}`` and/or bounds ``"minimum"``, ``"maximum"`` (inclusive),
            ``"exclusiveMinimum"``, ``"exclusiveMaximum"``). Exclusive bounds become inclusive ones one step
            of the column's grid in. What a schema cannot express (``!=``, date ranges) is left to the prompt
            and the check after parsing. A conditioned column never allows null.
        dialect: ``portable`` (default): each row an object whose keys are the columns, all required, in
            column order, no other key; accepted by OpenAI strict mode, llama.cpp server, Ollama and vLLM
            (see :mod:`mallm_gan.llm.dialects`). ``positional``: each row a tuple of typed slots
            (``prefixItems``), about half the completion tokens; for the in-process LLGuidance engine.
    """
    check_dialect(dialect)
    if not isinstance(n_rows, (int, np.integer)) or isinstance(n_rows, bool) or n_rows < 1:
        raise ConfigError(f"n_rows must be a positive integer, got {n_rows!r}")
    narrowings = _narrowings(schema, conditions)
    slots = []
    for column in schema.columns:
        spec = _column_schema(column, dialect)
        if column.name in narrowings:
            for narrowing in narrowings[column.name]:
                spec = _narrow(spec, column, narrowing)
        elif column.nullable:
            spec = _allow_null(spec)
        slots.append(spec)
    width = len(slots)
    if dialect == "positional":
        row: dict[str, Any] = {
            "type": "array", "prefixItems": slots, "items": False, "minItems": width, "maxItems": width,
        }
    else:
        row = _object(dict(zip(schema.names, slots, strict=True)))
    answer = _object({"rows": {"type": "array", "minItems": int(n_rows), "maxItems": int(n_rows), "items": row}})
    return {"title": "rows", **answer}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    """An object schema in the strict form every provider accepts: all keys required, in order, no others."""
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def optimizer_json_schema(columns: Sequence[str]) -> dict[str, Any]:
    """JSON Schema of the optimizer's answer: ``{"dag": [[parent, child], ...], "instruction": str}``.

    Portable on every provider (see :mod:`mallm_gan.llm.dialects`): an edge is an array of exactly two column
    names, so no tuple keyword is needed; the instruction's length is asked for in the prompt and enforced
    when the reply is read, since OpenAI's strict mode has no ``maxLength``.
    """
    names = list(columns)
    if not names:
        raise ConfigError("the optimizer schema needs at least one column name")
    edge = {"type": "array", "items": {"enum": names}, "minItems": 2, "maxItems": 2}
    answer = _object({
        "dag": {"type": "array", "maxItems": len(names) * (len(names) - 1) // 2, "items": edge},
        "instruction": {"type": "string"},
    })
    return {"title": "theta", **answer}


def optimizer_edits_json_schema(columns: Sequence[str]) -> dict[str, Any]:
    """JSON Schema of the optimizer's answer in the edit form: ``{"add": [[parent, child], ...], "remove": [...],
    "reverse": [...], "instruction": str}``, a few edges per list.

    Portable on every provider, as :func:`optimizer_json_schema` is: the same two-name edges, all keys
    required, no other key, and the instruction's length left to the prompt and the reader.
    """
    whole = optimizer_json_schema(columns)  # raises on no column names
    pairs = dict(whole["properties"]["dag"], maxItems=max(2, len(list(columns))))
    answer = _object({"add": pairs, "remove": dict(pairs), "reverse": dict(pairs), "instruction": {"type": "string"}})
    return {"title": "theta_edits", **answer}


def column_schemas(answer: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The per-column schemas of a rows schema of either dialect, by column name (for readers of requests:
    test doubles and tests)."""
    row = ((answer.get("properties") or {}).get("rows") or {}).get("items") or {}
    if "prefixItems" in row:
        return {slot.get("title", str(i)): slot for i, slot in enumerate(row["prefixItems"])}
    return dict(row.get("properties") or {})


__all__ = ["column_schemas", "condition_narrowing", "optimizer_edits_json_schema", "optimizer_json_schema",
           "rows_json_schema"]
