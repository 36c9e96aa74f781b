"""RowValidator, normalise_value, normalise_frame and RejectionReport: coercion, rejection, the copy guard."""

from __future__ import annotations

import json
import time
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from mallm_gan.errors import ConfigError, SchemaError
from mallm_gan.gan.parsing import parse_rows
from mallm_gan.gan.validation import RejectionReport, RowValidator
from mallm_gan.table.coerce import normalise_frame, normalise_value
from mallm_gan.table.column import Column
from mallm_gan.table.conditions import Conditions
from mallm_gan.table.schema import TableSchema

AGE = Column("age", "numerical", dtype="int", min=18, max=90)
BMI = Column("bmi", "numerical", dtype="float", min=15.0, max=50.0, decimals=2)
INCOME = Column("income", "numerical", dtype="float", min=0.0, max=1e6, decimals=1, missing_rate=0.1)
SEX = Column("sex", "categorical", categories=("female", "male"))
CODE = Column("visit to Asia", "categorical", categories=(0, 1))
SMOKER = Column("smoker", "boolean")
SEEN = Column("seen", "datetime", min="2020-01-01T00:00:00", max="2021-12-31T00:00:00", missing_rate=0.2)
SCHEMA = TableSchema((AGE, BMI, INCOME, SEX, CODE, SMOKER, SEEN))
GOOD = {
    "age": 40,
    "bmi": 25.5,
    "income": 5000.0,
    "sex": "female",
    "visit to Asia": 1,
    "smoker": False,
    "seen": "2020-06-01T00:00:00",
}


def check(value, column):
    return normalise_value(value, column)


# -- normalise_value -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (42, 42),
        (42.0, 42),
        ("42", 42),
        (" 42 ", 42),
        ("1,234", None),  # parses to 1234, which is out of AGE's range: see the next test
        ("42 years", 42),
        ("42 years old", 42),
        ("41.6", 42),
        (np.int64(33), 33),
        (np.float64(33.0), 33),
        ("\u221230", None),
    ],
)
def test_int_column_coercion(value, expected):
    ok, out = check(value, AGE)
    if expected is None:
        assert not ok and out == "out_of_range"
    else:
        assert ok and out == expected and type(out) is int


def test_thousands_separator_and_units():
    wide = Column("n", "numerical", dtype="int", min=0, max=10**6)
    assert check("1,234", wide) == (True, 1234)
    assert check("12,345,678", Column("n", "numerical", dtype="int")) == (True, 12345678)
    assert check("1,234.5 units", Column("x", "numerical", dtype="float", decimals=1)) == (True, 1234.5)


@pytest.mark.parametrize(
    "value", ["$3.5k", "3.5k", "3.5 k", "2 million", "12,34", "1_000", "inf", "nan%", "forty", "4 2", "1e", True]
)
def test_numbers_that_are_not_repaired(value):
    ok, reason = check(value, Column("n", "numerical", dtype="float", decimals=2))
    assert not ok and reason == "not_a_number"


@pytest.mark.parametrize("value", ["N/A", "NA", "n/a", "null", "", "?", "  ", None, float("nan"), pd.NA, np.nan])
def test_missing_tokens(value):
    assert check(value, BMI) == (True, None)


@pytest.mark.parametrize(
    ("column", "reason"),
    [(BMI, "not_a_number"), (SEX, "unknown_category"), (SMOKER, "not_a_boolean"), (SEEN, "not_a_date")],
)
@pytest.mark.parametrize("value", [[None], [25.5], {"value": 25.5}, ("female",)])
def test_containers_are_neither_values_nor_missing(column, reason, value):
    assert check(value, column) == (False, reason)


def test_float_rounding_to_column_precision():
    assert check(25.456, BMI) == (True, 25.46)
    assert check("25.455", BMI) == (True, 25.46)  # half away from zero, as schema.round_to does
    plain = Column("b", "numerical", dtype="float", decimals=2)
    assert check(2.50, plain) == check("2.5", plain) == check("2.500001", plain) == (True, 2.5)
    ok, value = check(25, BMI)
    assert ok and value == 25.0 and type(value) is float


def test_range_is_checked_after_rounding():
    assert check(50.004, BMI) == (True, 50.0)
    assert check(50.01, BMI) == (False, "out_of_range")
    assert check(17, AGE) == (False, "out_of_range")
    assert normalise_value(17, AGE, check_range=False) == (True, 17)


def test_int_column_with_decimals_must_stay_integral():
    odd = Column("n", "numerical", dtype="int", decimals=1)
    assert check(3.0, odd) == (True, 3)
    assert check(3.4, odd) == (False, "not_integer")


def test_categories_exact_then_case_and_space_insensitive():
    assert check("female", SEX) == (True, "female")
    assert check(" FeMale ", SEX) == (True, "female")
    assert check("fe  male", Column("s", "categorical", categories=("fe male",))) == (True, "fe male")
    assert check("woman", SEX) == (False, "unknown_category")
    assert check(1, SEX) == (False, "unknown_category")
    assert check(["female"], SEX) == (False, "unknown_category")


def test_a_real_category_that_looks_missing_is_kept():
    region = Column("region", "categorical", categories=("NA", "EU"))
    assert check("NA", region) == (True, "NA")
    assert check("na", region) == (True, "NA")
    assert check("N/A", region) == (True, None)


@pytest.mark.parametrize("value", [1, 1.0, "1", " 1 ", "1.0", np.int64(1), np.float64(1.0)])
def test_numeric_categories_accept_numbers_and_text(value):
    ok, out = check(value, CODE)
    assert ok and out == 1 and type(out) is int


@pytest.mark.parametrize("value", [True, False, 2, "2", "yes", 0.5])
def test_numeric_categories_reject_others(value):
    assert check(value, CODE) == (False, "unknown_category")


def test_string_categories_that_look_numeric():
    grade = Column("grade", "categorical", categories=("1", "2", "A"))
    assert check(1, grade) == (True, "1")
    assert check(2.0, grade) == (True, "2")
    assert check("a", grade) == (True, "A")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        ("true", True),
        ("TRUE", True),
        ("Yes", True),
        ("y", True),
        (1, True),
        ("1", True),
        (np.bool_(True), True),
        (False, False),
        ("False", False),
        ("no", False),
        ("NO", False),
        (0, False),
        ("0", False),
        (0.0, False),
    ],
)
def test_booleans(value, expected):
    assert check(value, SMOKER) == (True, expected)


@pytest.mark.parametrize("value", ["maybe", 2, "2", [True]])
def test_bad_booleans(value):
    assert check(value, SMOKER) == (False, "not_a_boolean")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2020-06-01", "2020-06-01T00:00:00"),
        ("2020-06-01T10:30:00", "2020-06-01T10:30:00"),
        ("2020-06-01 10:30", "2020-06-01T10:30:00"),
        ("June 1, 2020", "2020-06-01T00:00:00"),
        ("2020-06-01T12:00:00+02:00", "2020-06-01T10:00:00"),
        (pd.Timestamp("2020-06-01"), "2020-06-01T00:00:00"),
        (np.datetime64("2020-06-01"), "2020-06-01T00:00:00"),
        (pd.NaT, None),
        ("null", None),
    ],
)
def test_dates(value, expected):
    assert check(value, SEEN) == (True, expected)


def test_bad_dates():
    assert check("2019-12-31", SEEN) == (False, "out_of_range")
    assert check("not a date", SEEN) == (False, "not_a_date")
    assert check(20200601, SEEN) == (False, "not_a_date")


# -- validate --------------------------------------------------------------------------------------------
def validate(records, schema=SCHEMA, training=None, **kwargs):
    return RowValidator(schema, training, **kwargs).validate(records)


def test_valid_row_in_schema_order_with_python_types():
    messy = {
        "seen": "2020-06-01",
        "smoker": "no",
        "visit to Asia": "1",
        "sex": "Female",
        "income": "5,000",
        "bmi": "25.50",
        "age": "40 years",
    }
    result = validate([messy])
    assert result.rows == [GOOD]
    assert list(result.rows[0]) == SCHEMA.names
    assert [type(v) for v in result.rows[0].values()] == [int, float, float, str, int, bool, str]
    assert result.report.accepted == result.report.generated == 1
    assert result.report.rejected == 0


def test_missing_values_by_nullability():
    nullable = {**GOOD, "income": "N/A", "seen": None}
    result = validate([nullable])
    assert result.rows == [{**GOOD, "income": None, "seen": None}]
    result = validate([{**GOOD, "age": "N/A"}, {k: v for k, v in GOOD.items() if k != "sex"}])
    assert result.rows == []
    assert result.report.reasons == Counter({"missing_value": 2})
    assert result.report.by_column == Counter({("missing_value", "age"): 1, ("missing_value", "sex"): 1})


def test_missing_key_in_a_nullable_column_is_a_missing_value():
    result = validate([{k: v for k, v in GOOD.items() if k != "income"}])
    assert result.rows == [{**GOOD, "income": None}]


def test_extra_keys_are_dropped_and_noted_and_keys_match_loosely():
    record = {f"  {k.upper()} ": v for k, v in GOOD.items()}
    record.update({"id": 7, "comment": "made up"})
    result = validate([record])
    assert result.rows == [GOOD]
    assert result.report.notes["extra_key"] == 2
    assert result.report.notes["renamed_key"] == len(GOOD)
    result = validate([{**GOOD, "Visit  to asia": 0}])
    assert result.report.notes["duplicate_key"] == 1
    assert result.rows[0]["visit to Asia"] == 1  # the first key given wins


def test_non_dict_records_are_not_rows():
    result = validate([["a", "b"], "text", 3, None, GOOD])
    assert result.rows == [GOOD]
    assert result.report.reasons == Counter({"not_a_row": 4})


def test_each_rejection_counted_once_by_first_reason_with_column():
    records = [
        {**GOOD, "age": 200, "sex": "robot"},  # age comes first in the schema
        {**GOOD, "bmi": "heavy"},
        {**GOOD, "sex": "robot"},
        {**GOOD, "visit to Asia": "yes"},
        {**GOOD, "smoker": "sometimes"},
        {**GOOD, "seen": "soon"},
        {**GOOD, "age": 10},
    ]
    report = validate(records).report
    assert report.generated == 7 and report.accepted == 0 and report.rejected == 7
    assert report.reasons == Counter(
        {"out_of_range": 2, "not_a_number": 1, "unknown_category": 2, "not_a_boolean": 1, "not_a_date": 1}
    )
    assert report.by_column == Counter(
        {
            ("out_of_range", "age"): 2,
            ("not_a_number", "bmi"): 1,
            ("unknown_category", "sex"): 1,
            ("unknown_category", "visit to Asia"): 1,
            ("not_a_boolean", "smoker"): 1,
            ("not_a_date", "seen"): 1,
        }
    )


def test_conditions_are_checked_and_counted_by_column():
    conditions = Conditions.from_mapping({"sex": "female", "age": (30, 50)}, SCHEMA)
    records = [GOOD, {**GOOD, "sex": "male"}, {**GOOD, "age": 60}, {**GOOD, "sex": "FEMALE", "age": "35"}]
    result = validate(records, conditions=conditions)
    assert [r["age"] for r in result.rows] == [40, 35]
    assert result.report.reasons == Counter({"condition_not_met": 2})
    assert result.report.by_column == Counter({("condition_not_met", "sex"): 1, ("condition_not_met", "age"): 1})


def test_bad_options():
    with pytest.raises(ConfigError, match="copy_policy"):
        RowValidator(SCHEMA, copy_policy="sometimes")
    with pytest.raises(ConfigError, match="copy_k"):
        RowValidator(SCHEMA, copy_k=0)
    with pytest.raises(ConfigError, match="dcr_threshold"):
        RowValidator(SCHEMA, dcr_threshold=-1)
    with pytest.raises(SchemaError, match="bmi"):
        RowValidator(SCHEMA, pd.DataFrame({"age": [40]}))


# -- copy guard ------------------------------------------------------------------------------------------
ASIA_COLUMNS = ["visit to Asia", "smoke", "lung cancer", "Dyspnea"]
COMMON = (1, 0, 1, 1)  # occurs three times in the training data
RARE = (1, 1, 0, 0)  # occurs once
NEW = (0, 0, 0, 0)  # does not occur


@pytest.fixture
def asia_like():
    rows = [COMMON, COMMON, COMMON, RARE, (1, 1, 1, 1), (1, 1, 1, 0), (0, 1, 1, 1)]
    train = pd.DataFrame(rows, columns=ASIA_COLUMNS)
    return TableSchema.from_dataframe(train), train


def as_record(values, text=False):
    return {c: (str(v) if text else v) for c, v in zip(ASIA_COLUMNS, values, strict=True)}


def test_copy_guard_allows_common_combinations_and_rejects_unique_ones(asia_like):
    schema, train = asia_like
    result = validate([as_record(COMMON), as_record(RARE), as_record(NEW)], schema, train)
    assert [tuple(r.values()) for r in result.rows] == [COMMON, NEW]
    assert result.report.reasons == Counter({"copy_of_unique_record": 1})
    assert result.report.shared_copies == 1


def test_copy_guard_compares_normalised_values(asia_like):
    schema, train = asia_like
    records = [as_record(RARE, text=True), {k: float(v) for k, v in as_record(RARE).items()}]
    result = validate(records, schema, train)
    assert result.rows == []
    assert result.report.reasons == Counter({"copy_of_unique_record": 2})


def test_copy_policy_never_rejects_every_copy(asia_like):
    schema, train = asia_like
    result = validate([as_record(COMMON), as_record(RARE), as_record(NEW)], schema, train, copy_policy="never")
    assert [tuple(r.values()) for r in result.rows] == [NEW]
    assert result.report.reasons == Counter({"copy": 2})


def test_copy_policy_allow_keeps_and_counts_copies(asia_like):
    schema, train = asia_like
    result = validate([as_record(COMMON), as_record(RARE)], schema, train, copy_policy="allow")
    assert len(result.rows) == 2
    assert (result.report.shared_copies, result.report.unique_copies) == (1, 1)


def test_copy_k_sets_how_common_a_combination_must_be(asia_like):
    schema, train = asia_like
    assert validate([as_record(COMMON)], schema, train, copy_k=3).report.accepted == 1
    assert validate([as_record(COMMON)], schema, train, copy_k=4).report.reasons == {"copy_of_unique_record": 1}
    assert validate([as_record(RARE)], schema, train, copy_k=1).report.accepted == 1


def test_copy_guard_with_floats_and_category_case():
    train = pd.DataFrame({"sex": ["Female", "Male", "Male"], "bmi": [2.50, 31.25, 27.0], "age": [30, 40, 50]})
    schema = TableSchema.from_dataframe(train)
    records = [
        {"sex": "female", "bmi": "2.5", "age": "30"},
        {"sex": " FEMALE", "bmi": 2.5000001, "age": 30.0},
        {"sex": "Female", "bmi": 2.51, "age": 30},
    ]
    result = validate(records, schema, train)
    assert result.report.reasons == Counter({"copy_of_unique_record": 2})
    assert result.rows == [{"sex": "Female", "bmi": 2.51, "age": 30}]


def test_copy_guard_on_the_asia_split(shared_data):
    train = pd.read_csv(shared_data / "asia" / "splits" / "n50" / "train.csv")
    schema = TableSchema.from_dataframe(train, target="Dyspnea")
    counts = Counter(map(tuple, train.itertuples(index=False, name=None)))
    records = [dict(zip(schema.names, (str(v) for v in combo), strict=True)) for combo in counts]
    result = validate(records, schema, train)
    unique = sum(1 for n in counts.values() if n == 1)
    assert result.report.reasons == Counter({"copy_of_unique_record": unique})
    assert result.report.shared_copies == len(counts) - unique > 0
    assert all(counts[tuple(r.values())] >= 2 for r in result.rows)


def test_near_copies_are_rejected_below_the_distance_threshold():
    train = pd.DataFrame(
        {"age": [30, 40, 50, 60, 60], "bmi": [20.0, 25.0, 30.0, 35.0, 35.0], "sex": ["f", "m", "f", "m", "m"]}
    )
    schema = TableSchema.from_dataframe(train)
    std_age = train["age"].std()
    near = {"age": 31, "bmi": 20.0, "sex": "f"}  # 1/std_age away from a unique record
    other_sex = {"age": 30, "bmi": 20.0, "sex": "m"}  # 1 away (a category mismatch)
    shared = {"age": 60, "bmi": 35.0, "sex": "m"}  # a copy of a record that occurs twice
    far = {"age": 45, "bmi": 27.0, "sex": "m"}
    result = validate([near, other_sex, shared, far], schema, train, dcr_threshold=0.5)
    assert 1 / std_age < 0.5
    assert result.rows == [other_sex, shared, far]
    assert result.report.reasons == Counter({"near_copy": 1})
    assert result.report.shared_copies == 1
    result = validate([near, other_sex, shared], schema, train, dcr_threshold=1.01)
    assert result.rows == [shared]  # a category mismatch alone is distance 1


def test_near_copy_distance_with_missing_values():
    train = pd.DataFrame({"x": [1.0, None, 3.0, 5.0], "c": ["a", "b", "a", "b"]})
    schema = TableSchema.from_dataframe(train)
    # both missing counts 0, so this equals the second record (distance 0)
    assert validate([{"x": None, "c": "b"}], schema, train, dcr_threshold=0.5).report.reasons == {
        "copy_of_unique_record": 1
    }
    # missing vs present counts 1
    assert validate([{"x": None, "c": "a"}], schema, train, dcr_threshold=1.5).report.reasons == {"near_copy": 1}
    assert validate([{"x": None, "c": "a"}], schema, train, dcr_threshold=0.9).report.accepted == 1


def test_normalise_frame_uses_the_same_normalisation():
    frame = pd.DataFrame(
        {
            "age": [40.0, 41.0],
            "bmi": [25.499, None],
            "income": pd.array([5000, None], dtype="Int64"),
            "sex": pd.Series(["Female", "male"], dtype="str"),
            "visit to Asia": [1, 0],
            "smoker": ["false", "TRUE"],
            "seen": pd.to_datetime(["2020-06-01", None]),
        }
    )
    assert normalise_frame(frame, SCHEMA) == [
        (40, 25.5, 5000.0, "female", 1, False, "2020-06-01T00:00:00"),
        (41, None, None, "male", 0, True, None),
    ]
    with pytest.raises(SchemaError, match="lacks"):
        normalise_frame(frame.drop(columns="sex"), SCHEMA)


def test_parse_then_validate_a_messy_answer():
    text = (
        "Sure, here are the rows:\n```json\n"
        "[{'Age': '42 years', 'bmi': '1,234', 'income': 'N/A', 'sex': 'MALE', 'visit to Asia': '0',"
        " 'smoker': 'yes', 'seen': '2021-01-01', 'id': 3},\n"
        ' {"age": 33, "bmi": 22, "income": "$3.5k", "sex": "male", "visit to Asia": 1, "smoker": 0},\n'
        ' {"age": 50, "bmi": 30.004, "sex": "female", "visit to Asia": 1.0, "smoker": false, "seen": null},\n'
        ' {"age": 61, "bmi": 29.1, "sex": "fem'
    )
    parsed = parse_rows(text, SCHEMA.names)
    assert parsed.truncated and len(parsed.records) == 3
    result = RowValidator(SCHEMA).validate(parsed.records)
    result.report.add_parse(parsed)
    assert result.rows == [
        {
            "age": 50,
            "bmi": 30.0,
            "income": None,
            "sex": "female",
            "visit to Asia": 1,
            "smoker": False,
            "seen": None,
        }
    ]
    assert result.report.by_column == Counter({("out_of_range", "bmi"): 1, ("not_a_number", "income"): 1})
    assert result.report.parse_problems == Counter({"truncated": 1})


def test_validating_ten_thousand_rows_is_fast():
    names = [f"n{i}" for i in range(7)] + [f"c{i}" for i in range(8)]
    columns = [Column(n, "numerical", dtype="float", min=0.0, max=100.0, decimals=2) for n in names[:7]]
    columns += [Column(n, "categorical", categories=("alpha", "beta", "gamma")) for n in names[7:]]
    schema = TableSchema(tuple(columns))
    rng = np.random.default_rng(0)
    train = pd.DataFrame({c.name: rng.uniform(0, 100, 200) for c in columns[:7]})
    for c in columns[7:]:
        train[c.name] = rng.choice(["alpha", "beta", "gamma"], 200)
    records = []
    for i in range(10_000):
        row = {n: float(rng.uniform(0, 100)) for n in names[:7]}
        row.update({n: ("Beta " if i % 3 == 0 else "gamma") for n in names[7:]})
        row["n0"] = str(row["n0"]) if i % 2 else row["n0"]
        records.append(row)
    validator = RowValidator(schema, train)
    start = time.perf_counter()
    result = validator.validate(records)
    elapsed = time.perf_counter() - start
    assert result.report.accepted == 10_000
    assert elapsed < 3.0  # about 0.15 s on a 2-core machine; generous for a loaded CI runner


# -- report ----------------------------------------------------------------------------------------------
def make_report():
    report = RejectionReport(generated=60, accepted=45, shared_copies=3)
    report.reasons.update({"copy_of_unique_record": 9, "out_of_range": 6})
    report.by_column.update({("out_of_range", "age"): 4, ("out_of_range", "bmi"): 2})
    return report


def test_report_summary_counts_and_merge():
    report = make_report()
    assert report.rejected == 15
    assert report.summary() == (
        "accepted 45 of 60; rejected: copy_of_unique_record 9, out_of_range 6 (age 4, bmi 2); copies kept: shared 3"
    )
    other = RejectionReport(generated=5, accepted=4)
    other.reject("out_of_range", "age")
    other.notes["extra_key"] += 2
    other.parse_problems["truncated"] += 1
    assert report.add(other) is report
    assert (report.generated, report.accepted, report.rejected) == (65, 49, 16)
    assert report.by_column[("out_of_range", "age")] == 5
    assert report.summary().endswith("; notes: extra_key 2; parse: truncated 1")
    assert RejectionReport(generated=2, accepted=2).summary() == "accepted 2 of 2; rejected: none"


def test_report_to_dict_is_json_ready_and_round_trips():
    report = make_report()
    data = json.loads(json.dumps(report.to_dict()))
    assert data["rejected"] == 15
    assert data["by_column"] == {"out_of_range": {"age": 4, "bmi": 2}}
    again = RejectionReport.from_dict(data)
    assert again.to_dict() == report.to_dict()
    assert again.summary() == report.summary()
