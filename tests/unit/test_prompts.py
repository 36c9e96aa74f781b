"""Prompts: example payload, generator and optimizer messages, JSON schemas, optimizer reply parsing."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mallm_gan.errors import ConfigError, ParseError
from mallm_gan.gan.answer_schema import column_schemas, optimizer_json_schema, rows_json_schema
from mallm_gan.gan.optimizer_reply import parse_optimizer_reply
from mallm_gan.gan.prompts import (
    estimate_tokens,
    example_rows,
    examples_payload,
    generator_messages,
    optimizer_messages,
    prompt_size,
)
from mallm_gan.table.condition import Condition
from mallm_gan.table.conditions import Conditions
from mallm_gan.table.schema import TableSchema, round_to
from mallm_gan.theta.process import DataGenerationProcess

# -- a small structural JSON Schema checker (jsonschema is not a dependency) --------------------------
_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "null": lambda v: v is None,
}


def check(schema: dict[str, Any], value: Any, path: str = "$") -> list[str]:
    """Problems of ``value`` against the JSON Schema keywords our schemas use (draft 2020-12)."""
    problems: list[str] = []
    if "enum" in schema and not any(value == e and type(value) is type(e) for e in schema["enum"]):
        problems.append(f"{path}: {value!r} not in enum")
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[t](value) for t in types):
            return [*problems, f"{path}: {value!r} is not {types}"]
    if _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{path}: {value} < minimum")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{path}: {value} > maximum")
        if "multipleOf" in schema:
            steps = value / schema["multipleOf"]
            if abs(steps - round(steps)) > 1e-6:
                problems.append(f"{path}: {value} not a multiple of {schema['multipleOf']}")
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(f"{path}: longer than maxLength")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append(f"{path}: {value!r} does not match pattern")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", math.inf):
            problems.append(f"{path}: {len(value)} items")
        prefix = schema.get("prefixItems", [])
        for i, item in enumerate(value):
            if i < len(prefix):
                problems += check(prefix[i], item, f"{path}[{i}]")
            elif schema.get("items") is False:
                problems.append(f"{path}[{i}]: extra item")
            elif isinstance(schema.get("items"), dict):
                problems += check(schema["items"], item, f"{path}[{i}]")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"{path}: missing {key}")
        for key, item in value.items():
            if key in schema.get("properties", {}):
                problems += check(schema["properties"][key], item, f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                problems.append(f"{path}: unexpected key {key}")
    return problems


# -- fixtures -----------------------------------------------------------------------------------------
@pytest.fixture
def mixed() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [23.0, 45.0, np.nan, 34.0],
            "sex": ["female", "male", "male", None],
            "bmi": [22.512, 31.25, 27.0, 24.7549],
            "flag": [True, False, True, False],
            "code": [0, 1, 1, 0],
            "day": ["2021-01-03", "2021-02-14", "2021-03-01", "2021-12-31"],
        }
    )


@pytest.fixture
def theta() -> DataGenerationProcess:
    return DataGenerationProcess(
        context="Synthetic patients.", dag=(("age", "bmi"), ("sex", "bmi")), instruction="Keep bmi plausible."
    )


# -- examples -----------------------------------------------------------------------------------------
def test_examples_payload_round_trips_values(mixed):
    schema = TableSchema.from_dataframe(mixed)
    payload = json.loads(examples_payload(mixed, schema))
    assert payload["columns"] == list(mixed.columns)
    rows = payload["rows"]
    assert len(rows) == 4 and all(len(r) == 6 for r in rows)
    assert [r[0] for r in rows] == [23, 45, None, 34]
    assert all(type(r[0]) is int for r in rows if r[0] is not None)
    assert [r[1] for r in rows] == ["female", "male", "male", None]
    decimals = schema["bmi"].decimals
    assert [r[2] for r in rows] == [round_to(v, decimals) for v in mixed["bmi"]]
    assert [r[3] for r in rows] == [True, False, True, False]
    assert [r[4] for r in rows] == [0, 1, 1, 0] and all(type(r[4]) is int for r in rows)
    assert [r[5] for r in rows] == list(mixed["day"])
    # keys are written once, not per row
    text = examples_payload(mixed, schema)
    assert text.count('"bmi"') == 1


def test_examples_payload_rounds_to_the_column_precision(mixed):
    schema = TableSchema.from_dataframe(mixed)
    narrower = schema.with_metadata({"columns": {"bmi": {"decimals": 1}}})
    rows = json.loads(examples_payload(mixed, narrower))["rows"]
    assert [r[2] for r in rows] == [22.5, 31.3, 27.0, 24.8]


def test_examples_payload_real_data_round_trip(read_shared):
    frame = read_shared("insurance/splits/n100/train.csv")
    schema = TableSchema.from_dataframe(frame, target="charges")
    back = pd.DataFrame(json.loads(examples_payload(frame, schema))["rows"], columns=schema.names)
    for column in schema.columns:
        if column.kind == "numerical":
            expected = [round_to(v, column.decimals) for v in frame[column.name]]
            assert back[column.name].tolist() == pytest.approx(expected, abs=0)
        else:
            assert back[column.name].tolist() == frame[column.name].tolist()


def test_examples_payload_is_much_shorter_than_python_repr_dicts(read_shared):
    frame = read_shared("adult/splits/n50/train.csv")
    schema = TableSchema.from_dataframe(frame, target="Income")
    ours = examples_payload(frame, schema)
    # the reference implementation's serialisation: one dict per row, numbers rounded to 1 decimal
    reference = str(
        [
            {c: (round(v, 1) if isinstance(v, float) else v) for c, v in zip(frame.columns, row, strict=True)}
            for row in frame.itertuples(index=False, name=None)
        ]
    )
    assert len(ours) < 0.7 * len(reference)
    # nothing the prompt needs is lost: every value of every row is there
    rows = json.loads(ours)["rows"]
    for row, (_, original) in zip(rows, frame.iterrows(), strict=True):
        for value, column in zip(row, schema.columns, strict=True):
            if column.kind == "numerical":
                assert value == round_to(original[column.name], column.decimals)
            else:
                assert value == original[column.name]


def test_examples_payload_names_a_missing_column(mixed):
    schema = TableSchema.from_dataframe(mixed)
    with pytest.raises(Exception, match="bmi"):
        examples_payload(mixed.drop(columns="bmi"), schema)


# -- generator messages -------------------------------------------------------------------------------
def test_generator_messages_hold_theta_and_every_example_value(mixed, theta):
    schema = TableSchema.from_dataframe(mixed)
    messages = generator_messages(theta, schema, mixed.head(3), n_rows=7)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"] == theta.render(schema)
    system = messages[0]["content"]
    assert "Synthetic patients." in system and "Keep bmi plausible." in system
    assert "age -> bmi" in system and "sex -> bmi" in system
    user = messages[1]["content"]
    for row in example_rows(mixed.head(3), schema):
        assert json.dumps(row, separators=(",", ":")) in user
    assert "exactly 7 new rows" in user
    assert '{"rows": [[' in user
    assert user.count(json.dumps(list(mixed.columns), separators=(",", ":"))) == 1  # once, in the examples
    assert 'in the order of "columns"' in user
    assert "copy" in user


def test_generator_messages_conditions_and_extra(mixed, theta):
    schema = TableSchema.from_dataframe(mixed)
    messages = generator_messages(
        theta, schema, mixed.head(2), n_rows=1, conditions_text="sex is female", extra_instruction="Be brief."
    )
    user = messages[1]["content"]
    assert "Every row must satisfy this condition: sex is female" in user
    assert "Be brief." in user
    assert "exactly 1 new row " in user
    no_examples = generator_messages(theta, schema, mixed.head(0), n_rows=2)[1]["content"]
    assert "<examples>" not in no_examples and "exactly 2 new rows" in no_examples
    assert json.dumps(list(mixed.columns), separators=(",", ":")) in no_examples  # the order is still given
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ConfigError):
            generator_messages(theta, schema, mixed, n_rows=bad)


# -- rows JSON schema ---------------------------------------------------------------------------------
DIALECTS = pytest.mark.parametrize("dialect", ["portable", "positional"])


def answer(rows: list[list[Any]], names: list[str], dialect: str) -> dict[str, Any]:
    """Positional rows in the form ``dialect`` asks for."""
    if dialect == "positional":
        return {"rows": rows}
    return {"rows": [dict(zip(names, row, strict=False)) for row in rows]}


def slots(js: dict[str, Any]) -> list[dict[str, Any]]:
    return list(column_schemas(js).values())


@DIALECTS
def test_rows_json_schema_shape(mixed, dialect):
    schema = TableSchema.from_dataframe(mixed)
    js = rows_json_schema(schema, 3, dialect=dialect)
    assert js["title"] == "rows"
    rows = js["properties"]["rows"]
    assert rows["minItems"] == rows["maxItems"] == 3
    assert list(column_schemas(js)) == list(mixed.columns)
    if dialect == "positional":
        assert rows["items"]["items"] is False
    else:  # objects: every column required, in column order, nothing else
        assert rows["items"]["required"] == list(mixed.columns) and rows["items"]["additionalProperties"] is False
    age, sex, bmi, flag, code, day = slots(js)
    assert age["type"] == ["integer", "null"] and (age["minimum"], age["maximum"]) == (23, 45)
    assert sex["enum"] == ["female", "male", None]
    assert bmi["type"] == "number" and (bmi["minimum"], bmi["maximum"]) == (schema["bmi"].min, schema["bmi"].max)
    if dialect == "positional":
        assert bmi["multipleOf"] == pytest.approx(10 ** -schema["bmi"].decimals)
    else:
        assert "multipleOf" not in bmi  # outside the llama.cpp, Ollama and vLLM subsets
    assert flag["type"] == "boolean"
    assert code["enum"] == [0, 1] and all(type(v) is int for v in code["enum"])
    assert day["type"] == "string" and re.search(day["pattern"], "2021-05-06") and "\\d" not in day["pattern"]
    json.dumps(js)  # JSON-ready


@DIALECTS
def test_real_rows_validate_and_bad_rows_do_not(mixed, dialect):
    schema = TableSchema.from_dataframe(mixed)
    names = list(mixed.columns)
    js = rows_json_schema(schema, 4, dialect=dialect)
    real = example_rows(mixed, schema)
    assert check(js, answer(real, names, dialect)) == []
    bad_values = [(0, 12), (1, "other"), (3, "yes"), (4, 2), (5, "May 6")]  # bound, category, bool, category, date
    if dialect == "positional":
        bad_values.append((2, 22.51234))  # more decimals than the column has (the step is positional only)
    for i, bad in bad_values:
        rows = [list(r) for r in real]
        rows[0][i] = bad
        assert check(js, answer(rows, names, dialect)), (i, bad)
    assert check(js, answer(real[:3], names, dialect))  # too few rows
    extra = answer([[*r, 1] for r in real], [*names, "extra"], dialect)
    assert check(js, extra)  # extra value / extra key in a row
    assert check(js, {**answer(real, names, dialect), "note": "x"})  # extra key
    if dialect == "portable":
        assert check(js, answer([r[:-1] for r in real], names, dialect))  # a missing column


def test_rows_json_schema_on_real_data(read_shared):
    frame = read_shared("adult/splits/n50/train.csv")
    schema = TableSchema.from_dataframe(frame, target="Income")
    for dialect in ("portable", "positional"):
        js = rows_json_schema(schema, 50, dialect=dialect)
        assert check(js, answer(example_rows(frame, schema), schema.names, dialect)) == []


@DIALECTS
def test_rows_json_schema_conditions(mixed, dialect):
    schema = TableSchema.from_dataframe(mixed)
    js = rows_json_schema(
        schema, 2, {"sex": {"enum": ["male"]}, "age": {"minimum": 30.5}, "bmi": {"maximum": 30}, "code": {"enum": [1]}},
        dialect=dialect,
    )
    age, sex, bmi, _, code, _ = slots(js)
    assert sex["enum"] == ["male"]
    assert age["type"] == "integer" and (age["minimum"], age["maximum"]) == (31, 45)  # no null: conditioned
    assert bmi["maximum"] == 30 and bmi["minimum"] == schema["bmi"].min
    assert code["enum"] == [1]
    exclusive = slots(rows_json_schema(
        schema, 1, {"age": {"exclusiveMinimum": 30, "exclusiveMaximum": 40}, "bmi": {"exclusiveMinimum": 25}},
        dialect=dialect,
    ))
    assert (exclusive[0]["minimum"], exclusive[0]["maximum"]) == (31, 39)
    assert "exclusiveMinimum" not in exclusive[0]
    step = 10.0 ** -schema["bmi"].decimals
    assert exclusive[2]["minimum"] == pytest.approx(25 + step) and exclusive[2]["minimum"] > 25
    both = slots(rows_json_schema(schema, 1, {"age": {"enum": [23, 34, 45], "minimum": 30}}, dialect=dialect))
    assert both[0] == ({"title": "age"} if dialect == "positional" else {}) | {"enum": [34, 45]}
    with pytest.raises(ConfigError, match="age"):
        rows_json_schema(schema, 1, {"age": {"enum": [23], "minimum": 30}})
    with pytest.raises(ConfigError, match="height"):
        rows_json_schema(schema, 2, {"height": {"minimum": 1}})
    with pytest.raises(ConfigError, match="sex"):
        rows_json_schema(schema, 2, {"sex": {"enum": ["other"]}})
    with pytest.raises(ConfigError, match="age"):
        rows_json_schema(schema, 2, {"age": {"minimum": 50}})
    with pytest.raises(ConfigError, match="sex"):
        rows_json_schema(schema, 2, {"sex": {"minimum": 1}})
    with pytest.raises(ConfigError):
        rows_json_schema(schema, 2, {"age": {"min": 1}})
    with pytest.raises(ConfigError):
        rows_json_schema(schema, 0)
    with pytest.raises(ConfigError, match="dialect"):
        rows_json_schema(schema, 2, dialect="tuples")


def test_sampling_conditions_narrow_the_schema_in_one_place(mixed):
    """Conditions as sampling parses them: strict bounds, several conditions on one column, and what a schema
    cannot say (!=, a date range) left to the check after parsing."""
    schema = TableSchema.from_dataframe(mixed)
    conditions = Conditions.from_items(
        [
            ("age", Condition.between(30, None, low_inclusive=False)),
            ("age", Condition.between(None, 40, high_inclusive=False)),
            ("sex", Condition.not_equal("male")),
            ("code", Condition.one_of([1])),
            ("day", Condition.between("2021-02-01", None)),
        ],
        schema,
    )
    age, sex, _, _, code, day = slots(rows_json_schema(schema, 2, conditions))
    assert (age["minimum"], age["maximum"]) == (31, 39)
    assert sex["enum"] == ["female", "male", None]  # != is not expressible: the column is unchanged
    assert code["enum"] == [1]
    assert day["type"] == "string" and "minimum" not in day


def test_dates_are_written_in_iso_form():
    frame = pd.DataFrame({"day": ["2021-1-3", "2021-02-14"], "at": ["2021-01-03 10:30", "2021-02-14 08:00"]})
    schema = TableSchema.from_dataframe(frame)
    rows = json.loads(examples_payload(frame, schema))["rows"]
    assert rows == [["2021-01-03", "2021-01-03T10:30:00"], ["2021-02-14", "2021-02-14T08:00:00"]]
    for dialect in ("portable", "positional"):
        js = rows_json_schema(schema, 2, dialect=dialect)
        assert check(js, answer(rows, schema.names, dialect)) == []
        assert not re.search(slots(js)[0]["pattern"], "2021-01-03T10:30:00")


# -- optimizer ----------------------------------------------------------------------------------------
def test_optimizer_messages_put_the_best_pair_last(mixed, theta):
    schema = TableSchema.from_dataframe(mixed)
    a = theta.with_instruction("instruction A")
    b = theta.with_dag([("age", "sex")]).with_instruction("instruction B")
    c = theta.with_dag([]).with_instruction("instruction C")
    d = theta.with_instruction("instruction D")
    # best first, as History.top_k gives them
    messages = optimizer_messages([(b, 0.55), (a, 0.71), (c, 0.93), (d, float("nan"))], schema, context="ctx!")
    system, user = messages[0]["content"], messages[1]["content"]
    assert "causal inference" in system
    order = [user.index(f"instruction {x}") for x in "DCAB"]
    assert order == sorted(order)  # shown worst first: the best (given first) comes last
    last_block = user[user.rindex("<version") :]
    assert "instruction B" in last_block and "age -> sex" in last_block and "0.550" in last_block
    for score in ("0.710", "0.930", "unknown"):
        assert score in user
    assert "ctx!" in user and "lower" in user.lower() and "0.500" in user
    assert json.dumps(list(mixed.columns), separators=(",", ":")) in user
    assert '{"dag": [["parent", "child"], ...], "instruction": "..."}' in user
    assert "acyclic" in user
    with pytest.raises(ConfigError):
        optimizer_messages([], schema, context="")


def test_optimizer_json_schema():
    columns = ["age", "sex", "bmi"]
    js = optimizer_json_schema(columns)
    assert js["title"] == "theta"
    pair = js["properties"]["dag"]["items"]
    assert pair["items"] == {"enum": columns} and pair["minItems"] == pair["maxItems"] == 2
    assert check(js, {"dag": [["age", "bmi"], ["sex", "bmi"]], "instruction": "ok"}) == []
    assert check(js, {"dag": [["age", "height"]], "instruction": "ok"})
    assert check(js, {"dag": [["age", "bmi", "sex"]], "instruction": "ok"})
    assert check(js, {"dag": []})


COLUMNS = ["age", "sex", "bmi", "lung cancer"]
EXPECTED = [("age", "bmi"), ("sex", "lung cancer")]


@pytest.mark.parametrize(
    "reply",
    [
        '{"dag": [["age", "bmi"], ["sex", "lung cancer"]], "instruction": "Do it."}',
        'Sure! Here is my proposal:\n```json\n{"dag": [["age", "bmi"], ["sex", "lung cancer"]],\n'
        '"instruction": "Do it."}\n```\nGood luck.',
        "I suggest {'dag': [('age', 'bmi'), ('sex', 'lung cancer')], 'instruction': 'Do it.'} as the update.",
        '{"dag": [["age", "bmi"], ["sex", "lung cancer"],], "instruction": "Do it.",}',
        '{"dag": ["age -> bmi", "sex -> lung cancer"], "instruction": "Do it."}',
        '{"causal_structure": "age -> bmi\\nsex -> lung cancer", "task_instruction": "Do it."}',
        '{"dag": [{"parent": "age", "child": "bmi"}, {"from": "sex", "to": "lung cancer"}], "instruction": "Do it."}',
        '{"DAG": [["AGE", "BMI"], ["Sex", "Lung  Cancer"]], "Instruction": "Do it."}',
        "Causal structure:\n- age -> bmi\n- sex → lung cancer\n\nInstruction: Do it.",
        "<Causal structure>[('age', 'bmi'), ('sex', 'lung cancer')]</Causal structure>\n<Task>Do it.</Task>",
        '{"dag": [["age", "bmi"], ["sex", "lung cancer"]], "instruction": "Do it.',  # cut off
    ],
)
def test_parse_optimizer_reply_forms(reply):
    edges, instruction = parse_optimizer_reply(reply, COLUMNS)
    assert edges == EXPECTED
    assert instruction == "Do it."


def test_parse_optimizer_reply_chains_unknown_names_and_empty_dag():
    edges, instruction = parse_optimizer_reply('{"dag": ["age -> bmi -> sex"], "instruction": "x"}', COLUMNS)
    assert edges == [("age", "bmi"), ("bmi", "sex")] and instruction == "x"
    edges, _ = parse_optimizer_reply('{"dag": [["age", "height"]], "instruction": "x"}', COLUMNS)
    assert edges == [("age", "height")]  # kept for validate_dag to report
    assert parse_optimizer_reply('{"dag": [], "instruction": "No edges."}', COLUMNS) == ([], "No edges.")
    edges, instruction = parse_optimizer_reply("age -> bmi\nsex -> bmi", COLUMNS)
    assert edges == [("age", "bmi"), ("sex", "bmi")] and instruction == ""
    # cycles pass through: acyclicity is validate_dag's job
    assert parse_optimizer_reply("age -> bmi\nbmi -> age", COLUMNS)[0] == [("age", "bmi"), ("bmi", "age")]


@pytest.mark.parametrize(
    "reply, fragment",
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("I cannot help with that.", "could not read"),
        ('{"dag": 5}', "unusable shape"),
        ('{"foo": "bar"}', "could not read"),
    ],
)
def test_parse_optimizer_reply_errors(reply, fragment):
    with pytest.raises(ParseError, match=fragment):
        parse_optimizer_reply(reply, COLUMNS)


# -- sizes --------------------------------------------------------------------------------------------
def test_prompt_size_and_tokens(mixed, theta):
    schema = TableSchema.from_dataframe(mixed)
    messages = generator_messages(theta, schema, mixed, n_rows=3)
    assert prompt_size(messages) == sum(len(m["content"]) for m in messages)
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1 and estimate_tokens("abcde") == 2
    assert estimate_tokens(messages[0]["content"]) == math.ceil(len(messages[0]["content"]) / 4)
