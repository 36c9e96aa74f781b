"""Every JSON schema we can emit stays inside the documented subset of every provider its dialect targets,
and the subset checker catches the constructs those providers refuse."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from mallm_gan.gan.answer_schema import optimizer_edits_json_schema, optimizer_json_schema, rows_json_schema
from mallm_gan.llm.dialects import PROVIDERS, TARGETS, dialect_violations, violations
from mallm_gan.table.condition import Condition
from mallm_gan.table.conditions import Conditions
from mallm_gan.table.schema import TableSchema


def _tables() -> list[pd.DataFrame]:
    rng = np.random.default_rng(0)
    n = 12
    mixed = pd.DataFrame({
        "age": rng.integers(18, 80, n).astype(float),
        "sex": rng.choice(["female", "male"], n),
        "bmi": rng.normal(27, 4, n).round(3),
        "smoker": rng.choice([True, False], n),
        "code": rng.choice([0, 1, 2], n),
        "score": rng.choice([0.5, 1.5], n),
        "day": pd.date_range("2021-01-01", periods=n, freq="7D").strftime("%Y-%m-%d"),
        "seen at": pd.date_range("2021-01-01 08:00", periods=n, freq="37h").strftime("%Y-%m-%d %H:%M"),
        "region name, long": rng.choice(["north east", "south-west", "Île"], n),
    })
    with_missing = mixed.copy()
    with_missing.loc[[0, 3], ["age", "sex", "bmi", "day"]] = None
    one_column = pd.DataFrame({"x": rng.integers(0, 3, n)})
    return [mixed, with_missing, one_column]


def _conditions(schema: TableSchema) -> list[Conditions | dict | None]:
    out: list[Conditions | dict | None] = [None]
    if "age" in schema:
        out.append(Conditions.from_items([
            ("age", Condition.between(30, 60, low_inclusive=False, high_inclusive=False)),
            ("sex", Condition.equals("female")), ("code", Condition.one_of([1, 2])),
            ("day", Condition.between("2021-02-01", None)), ("bmi", Condition.between(None, 30)),
            ("smoker", Condition.not_equal(True)),
        ], schema))
        out.append({"bmi": {"exclusiveMinimum": 25}, "age": {"enum": [40, 50]}})
    return out


def _every_schema() -> list[tuple[str, dict]]:
    emitted = []
    for table in _tables():
        schema = TableSchema.from_dataframe(table)
        for dialect, n_rows, conditions in itertools.product(("portable", "positional"), (1, 5, 50),
                                                             _conditions(schema)):
            emitted.append((dialect, rows_json_schema(schema, n_rows, conditions, dialect=dialect)))
        emitted.append(("portable", optimizer_json_schema(schema.names)))
        emitted.append(("portable", optimizer_edits_json_schema(schema.names)))
    return emitted


@pytest.mark.parametrize(("dialect", "schema"), _every_schema())
def test_every_emitted_schema_is_inside_its_targets(dialect: str, schema: dict) -> None:
    assert dialect_violations(schema, dialect) == {}


def test_the_portable_dialect_targets_every_provider_the_readme_names() -> None:
    assert set(TARGETS["portable"]) >= {"openai-strict", "llama.cpp", "ollama", "vllm"}
    assert all(PROVIDERS[name].checked for name in PROVIDERS)


def test_the_checker_names_what_each_provider_refuses() -> None:
    tuples = {"type": "object", "properties": {"r": {"type": "array", "prefixItems": [{"type": "integer"}],
              "items": False}}, "required": ["r"], "additionalProperties": False}
    assert any("'prefixItems'" in p for p in violations(tuples, "openai-strict"))
    assert any("#/properties/r/items: boolean schema" in p for p in violations(tuples, "llama.cpp"))
    assert violations(tuples, "llguidance") == []
    loose = {"type": "object", "properties": {"a": {"type": "string", "pattern": "^\\d+$", "maxLength": 3}}}
    found = violations(loose, "openai-strict")
    assert any("additionalProperties" in p for p in found) and any("required" in p for p in found)
    assert any("'maxLength'" in p for p in found)
    assert any("class escape" in p for p in violations(loose, "llama.cpp"))
    assert any("must be anchored" in p for p in violations({"type": "string", "pattern": "[0-9]"}, "vllm"))
    assert violations({"type": "array"}, "openai-strict") == ["#: the root must be an object schema (openai-strict)"]
    multiple = {"type": "object", "properties": {"x": {"type": "number", "multipleOf": 0.1}}, "required": ["x"],
                "additionalProperties": False}
    assert violations(multiple, "openai-strict") == [] and violations(multiple, "llama.cpp")
