"""Rules across columns: the language, binding to a schema, checks, learning, the training check, sampling."""

from __future__ import annotations

import pandas as pd
import pytest

from mallm_gan.errors import ConfigError, SchemaError
from mallm_gan.gan.answer_schema import column_schemas, rows_json_schema
from mallm_gan.gan.prompts import generator_messages
from mallm_gan.gan.row_rules import narrow_to_combinations
from mallm_gan.gan.validation import RowValidator
from mallm_gan.llm.dialects import dialect_violations
from mallm_gan.table.conditions import Conditions
from mallm_gan.table.constraint_parser import parse_rule
from mallm_gan.table.constraints import ConstraintSet, bind, prepare_constraints
from mallm_gan.table.schema import TableSchema
from mallm_gan.theta.process import DataGenerationProcess


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "age": [40, 50, 60, 35],
        "age_at_diagnosis": [30, 50, 59, 20],
        "sex": ["female", "male", "female", "female"],
        "pregnant": ["yes", "no", "no", "no"],
        "smoker": ["no", "yes", "former", "yes"],
        "cigarettes_per_day": [0, 10, 0, 5],
        "admission_date": ["2020-01-01", "2020-02-01", "2020-03-01", "2020-04-01"],
        "discharge_date": ["2020-01-05", "2020-02-01", "2020-03-10", "2020-04-02"],
        "a": [1.1, 2.2, 3.3, 0.5],
        "b": [1.0, 1.5, 1.0, 0.7],
        "total": [2.1, 3.7, 4.3, 1.2],
        "weight kg": [70.5, 80.0, 60.2, 55.0],
    })


@pytest.fixture
def schema(frame: pd.DataFrame) -> TableSchema:
    return TableSchema.from_dataframe(frame)


def _row(**values: object) -> dict[str, object]:
    base: dict[str, object] = {
        "age": 40, "age_at_diagnosis": 30, "sex": "female", "pregnant": "no", "smoker": "no",
        "cigarettes_per_day": 0, "admission_date": "2020-01-01T00:00:00", "discharge_date": "2020-01-03T00:00:00",
        "a": 1.0, "b": 1.0, "total": 2.0, "weight kg": 60.0,
    }
    return {**base, **values}


# -- the language ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "canonical"), [
    ("discharge_date >= admission_date", "discharge_date >= admission_date"),
    ('smoker == "no" -> cigarettes_per_day == 0', 'if smoker == "no" then cigarettes_per_day == 0'),
    ("IF smoker = 'no' THEN cigarettes_per_day = 0", 'if smoker == "no" then cigarettes_per_day == 0'),
    ("`weight kg` * 10 >= cigarettes_per_day", "`weight kg` * 10 >= cigarettes_per_day"),
    ("a - (b - total) > -1", "a - (b - total) > -1"),
    ("not (age < 18 or age > 120)", "not (age < 18 or age > 120)"),
    ("named_rule: age >= 18", "named_rule: age >= 18"),
    ('(sex, pregnant) in {("female", "yes"), ("male", "no")}',
     '(sex, pregnant) in {("female", "yes"), ("male", "no")}'),
    ("smoker not in {'yes'}", 'smoker not in {"yes"}'),
    ("cigarettes_per_day is not null", "cigarettes_per_day is not null"),
    ("AGE >= 18", "age >= 18"),  # names are matched regardless of case and written as in the schema
])
def test_canonical_text(schema, text, canonical):
    constraint = bind(text, schema)
    assert constraint.text == canonical
    assert parse_rule(constraint.text) == constraint.rule
    assert bind(constraint.text, schema).text == canonical


def test_a_syntax_error_marks_the_position():
    with pytest.raises(ConfigError) as info:
        parse_rule("age >= = 3")
    lines = str(info.value).splitlines()
    assert "position 8" in lines[0]
    assert lines[1] == "  age >= = 3"
    assert lines[2].index("^") == lines[1].index("= 3")


@pytest.mark.parametrize(("text", "expected"), [
    ("age > 3 and", "the end of the rule"),
    ("age in {1, 2", "expected '}'"),
    ("`age <= 3", "never closed"),
    ("age == null", "is null"),
    ("age # 3", "unexpected character '#'"),
    ("", "non-empty"),
])
def test_syntax_errors_say_what_was_expected(text, expected):
    with pytest.raises(ConfigError, match="constraint"):
        parse_rule(text)
    with pytest.raises(ConfigError) as info:
        parse_rule(text)
    assert expected in str(info.value)


def test_unknown_column_suggests_the_close_name(schema):
    with pytest.raises(ConfigError, match=r"unknown column 'admision_date'; did you mean 'admission_date'\?") as info:
        bind("discharge_date >= admision_date", schema)
    assert info.value.fields["column"] == "admision_date"


@pytest.mark.parametrize(("text", "expected"), [
    ("admission_date >= 5", "admission_date is a date, 5 is a number"),
    ('age >= "old"', 'age is a number, "old" is not'),
    ('sex == "other"', '"other" is not a category of \'sex\'; allowed values: "female", "male"'),
    ("sex > 3", "has no order"),
    ("sex + 1 == 2", "arithmetic and ordering need numbers or dates"),
    ("age * a > 3", "only linear rules"),
    ("age / a > 3", "divided by a constant"),
    ('admission_date >= "yesterday"', "is not a date"),
    ("3 > 2", "two constants"),
    ("2 * admission_date > discharge_date", "neither a date nor a number of days"),
])
def test_type_errors_name_the_problem(schema, text, expected):
    with pytest.raises(ConfigError) as info:
        bind(text, schema)
    assert expected in str(info.value)
    assert text in str(info.value)


def test_every_bad_rule_is_named_in_one_message(schema):
    with pytest.raises(ConfigError) as info:
        ConstraintSet.from_texts(["agx > 1", "age >", "age > 1", "x: age > 2", "x: age > 3"], schema)
    text = str(info.value)
    assert text.startswith("3 constraints cannot be used")
    assert "'agx'" in text and "position" in text and "two constraints are named 'x'" in text


# -- semantics ---------------------------------------------------------------------------------------
def test_comparisons_implications_and_dates(schema):
    after = bind("discharge_date >= admission_date", schema)
    assert after.holds(_row())
    assert not after.holds(_row(discharge_date="2019-12-31T00:00:00"))
    within = bind("discharge_date - admission_date <= 30", schema)
    assert within.holds(_row(discharge_date="2020-01-31T00:00:00"))
    assert not within.holds(_row(discharge_date="2020-02-01T00:00:00"))
    smokers = bind('smoker != "yes" -> cigarettes_per_day == 0', schema)
    assert smokers.holds(_row(smoker="yes", cigarettes_per_day=20))
    assert not smokers.holds(_row(smoker="former", cigarettes_per_day=2))
    assert bind('admission_date >= "2020-01-01"', schema).holds(_row())
    assert not bind('admission_date > "2020-01-01"', schema).holds(_row())


def test_equality_holds_within_the_columns_precision(schema):
    rule = bind("a + b == total", schema)  # three columns at 1 decimal: off by less than 0.15
    assert rule.holds(_row(a=1.1, b=1.1, total=2.2))
    assert rule.holds(_row(a=1.1, b=1.1, total=2.1))  # 1.05 + 1.05 rounds to 1.1 + 1.1, and makes 2.1
    assert not rule.holds(_row(a=1.1, b=1.1, total=2.0))
    same = bind("a == b", schema)
    assert not same.holds(_row(a=1.1, b=1.2))
    assert bind("age == age_at_diagnosis + 10", schema).holds(_row(age=40, age_at_diagnosis=30))
    assert not bind("age == age_at_diagnosis + 10", schema).holds(_row(age=40, age_at_diagnosis=31))
    assert not bind("a < b", schema).holds(_row(a=1.0, b=1.0))  # ordering compares the values as written


def test_a_missing_value_makes_a_rule_unknown_and_unknown_passes(schema):
    assert bind("age_at_diagnosis <= age", schema).holds(_row(age=None))
    assert bind('smoker == "no" -> cigarettes_per_day == 0', schema).holds(_row(cigarettes_per_day=None))
    assert not bind("cigarettes_per_day is not null", schema).holds(_row(cigarettes_per_day=None))
    # false and unknown is false
    assert not bind("age > 100 and age_at_diagnosis > 0", schema).holds(_row(age_at_diagnosis=None))


def test_combinations_are_learnt_from_the_training_rows(schema, frame):
    prepared = prepare_constraints(schema, ["(sex, pregnant) in training"], frame)
    (text,) = prepared.constraints
    assert text == ('`(sex, pregnant) in training`: '
                    '(sex, pregnant) in {("female", "yes"), ("male", "no"), ("female", "no")}')
    (rule,) = ConstraintSet.from_texts(prepared.constraints, prepared)
    assert rule.name == "(sex, pregnant) in training"  # the same name before and after saving
    assert not rule.holds(_row(sex="male", pregnant="yes"))
    assert rule.holds(_row(sex="female", pregnant="yes"))


def test_training_rows_that_break_a_rule_are_counted_and_refused(schema, frame):
    rules = ["age_at_diagnosis < age", "cigarettes_per_day == 0", "age >= 18"]
    with pytest.raises(SchemaError) as info:
        prepare_constraints(schema, rules, frame)
    message = str(info.value)
    assert message.startswith("2 of 4 training rows break the constraints")
    assert "'age_at_diagnosis < age' 1 (data row 2)" in message and "--allow-violations" in message
    assert info.value.fields["counts"] == {"age_at_diagnosis < age": 1, "cigarettes_per_day == 0": 2}
    kept = prepare_constraints(schema, rules, frame, allow_violations=True)
    assert kept.constraints == tuple(rules)


def test_metadata_rules_round_trip_through_the_schema(frame, tmp_path):
    meta = {"constraints": ["discharge_date >= admission_date",
                            {"name": "age rule", "rule": "age_at_diagnosis <= age"}]}
    schema = TableSchema.from_dataframe(frame, metadata=meta)
    assert schema.constraints == ("discharge_date >= admission_date", "`age rule`: age_at_diagnosis <= age")
    assert "constraints" not in schema.extra
    assert TableSchema.from_json(schema.to_json()).constraints == schema.constraints
    prepared = prepare_constraints(schema, ["age >= 18"], frame)
    assert [c.name for c in ConstraintSet.from_texts(prepared.constraints, prepared)] == [
        "discharge_date >= admission_date", "age rule", "age >= 18"]
    with pytest.raises(ConfigError, match="must be a rule string"):
        TableSchema.from_dataframe(frame, metadata={"constraints": [3]})


# -- where the rules act ----------------------------------------------------------------------------
def test_the_validator_rejects_rows_by_rule(schema, frame):
    rules = ["after: discharge_date >= admission_date", "age_at_diagnosis <= age"]
    prepared = prepare_constraints(schema, rules, frame)
    validator = RowValidator(prepared, frame, copy_policy="allow")
    good = {**_row(), "admission_date": "2020-01-01", "discharge_date": "2020-01-05", "weight kg": 60.0}
    early = {**good, "admission_date": "2020-03-01", "discharge_date": "2020-02-01"}  # both within their ranges
    records = [good, early, early, {**good, "age": 40, "age_at_diagnosis": 50}]
    result = validator.validate(records)
    assert result.report.accepted == 1
    assert result.report.reasons["constraint_violated"] == 3
    assert result.report.to_dict()["by_column"]["constraint_violated"] == {"after": 2, "age_at_diagnosis <= age": 1}
    assert "constraint_violated 3 (after 2, age_at_diagnosis <= age 1)" in result.report.summary()


def test_the_rules_and_the_release_gate_each_reject_with_their_own_reason(schema, frame):
    prepared = prepare_constraints(schema, ["age_at_diagnosis <= age"], frame)
    validator = RowValidator(prepared, frame, release_gate=0.5)
    good = {**_row(), "admission_date": "2020-01-01", "discharge_date": "2020-01-05", "weight kg": 60.0}
    near = {**frame.iloc[0].to_dict(), "a": 1.2}  # a rare training record, one value moved a little
    broken = {**good, "age": 40, "age_at_diagnosis": 50}
    broken_near = {**near, "age_at_diagnosis": 45}  # the rule judges it first: it is never released
    result = validator.validate([good, near, broken, broken_near])
    assert result.report.accepted == 1 and result.rows[0]["age"] == 40
    assert result.report.reasons == {"near_copy": 1, "constraint_violated": 2}
    assert result.report.to_dict()["by_column"]["constraint_violated"] == {"age_at_diagnosis <= age": 2}


def test_a_rule_no_row_can_meet_under_the_conditions_is_refused(schema, frame):
    prepared = prepare_constraints(schema, ['smoker == "no" -> cigarettes_per_day == 0', "age_at_diagnosis <= age"],
                                   frame)
    conditions = Conditions.from_mapping({"smoker": "no", "cigarettes_per_day": (5, None)}, prepared)
    with pytest.raises(ConfigError, match=r"no row can satisfy constraint 'if smoker == \"no\" then "
                                          r"cigarettes_per_day == 0' together with the conditions"):
        RowValidator(prepared, frame, conditions=conditions)
    older = Conditions.from_mapping({"age_at_diagnosis": (59, None), "age": (None, 45)}, prepared)
    with pytest.raises(ConfigError, match="age_at_diagnosis <= age"):
        RowValidator(prepared, frame, conditions=older)
    fine = Conditions.from_mapping({"smoker": "yes", "cigarettes_per_day": (5, None)}, prepared)
    RowValidator(prepared, frame, conditions=fine)  # meetable: no error


def test_rules_are_in_the_schema_section_of_theta(schema, frame):
    prepared = prepare_constraints(schema, ["discharge_date >= admission_date"], frame)
    system, user = generator_messages(DataGenerationProcess(), prepared, frame.head(2), n_rows=3)
    schema_section = system["content"].split("<schema>")[1].split("</schema>")[0]
    assert "Rules every row must obey:\n- discharge_date >= admission_date" in schema_section
    assert "obey the rules listed in the schema" in user["content"]


def test_allowed_combinations_narrow_the_rows_schema(schema, frame):
    prepared = prepare_constraints(schema, ["(sex, pregnant) in training", "age >= 18"], frame)
    plain = rows_json_schema(prepared, 2, dialect="positional")
    narrowed = narrow_to_combinations(plain, prepared)
    row = narrowed["properties"]["rows"]["items"]
    assert row["prefixItems"] == plain["properties"]["rows"]["items"]["prefixItems"]  # the union stays
    sex, pregnant = prepared.names.index("sex"), prepared.names.index("pregnant")
    branches = {(b["prefixItems"][sex]["enum"][0], tuple(b["prefixItems"][pregnant]["enum"])) for b in row["anyOf"]}
    assert branches == {("female", ("yes", "no")), ("male", ("no",))}
    # each branch is a whole row: the other slots as they were, so no engine depends on merging siblings
    assert all(b["prefixItems"][0] == row["prefixItems"][0] for b in row["anyOf"])
    # a condition on sex keeps only its branches
    male = rows_json_schema(prepared, 2, {"sex": {"enum": ["male"]}}, dialect="positional")
    assert [b["prefixItems"][pregnant]["enum"] for b in
            narrow_to_combinations(male, prepared)["properties"]["rows"]["items"]["anyOf"]] == [["no"]]
    assert narrow_to_combinations(plain, schema) == plain  # no rule, nothing changes
    assert dialect_violations(narrowed, "positional") == {}


def test_allowed_combinations_narrow_the_portable_rows_schema(schema, frame):
    """Keyed rows (every HTTP endpoint): each branch a complete strict object, inside every provider's subset."""
    prepared = prepare_constraints(schema, ["(sex, pregnant) in training"], frame)
    plain = rows_json_schema(prepared, 2)
    narrowed = narrow_to_combinations(plain, prepared)
    row = narrowed["properties"]["rows"]["items"]
    assert column_schemas(narrowed) == column_schemas(plain)  # readers of the columns find them as before
    branches = {(b["properties"]["sex"]["enum"][0], tuple(b["properties"]["pregnant"]["enum"])) for b in row["anyOf"]}
    assert branches == {("female", ("yes", "no")), ("male", ("no",))}
    for branch in row["anyOf"]:
        assert branch["required"] == prepared.names and branch["additionalProperties"] is False
        assert branch["properties"]["age"] == row["properties"]["age"]
    assert dialect_violations(narrowed, "portable") == {}
    male = rows_json_schema(prepared, 2, {"sex": {"enum": ["male"]}})
    assert [b["properties"]["pregnant"]["enum"] for b in
            narrow_to_combinations(male, prepared)["properties"]["rows"]["items"]["anyOf"]] == [["no"]]
    assert narrow_to_combinations(plain, schema) == plain
