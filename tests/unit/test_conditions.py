"""Structured conditions: building, validating against the schema, CLI strings, matching, prompt text."""

from __future__ import annotations

import json

import pytest

from mallm_gan.errors import ConfigError
from mallm_gan.table.column import Column
from mallm_gan.table.condition import Condition
from mallm_gan.table.condition_parse import parse_where
from mallm_gan.table.conditions import Conditions
from mallm_gan.table.schema import TableSchema

SCHEMA = TableSchema(
    (
        Column("age", "numerical", dtype="int", min=18, max=64),
        Column("bmi", "numerical", dtype="float", min=15.0, max=50.0, decimals=2),
        Column("sex", "categorical", categories=("female", "male")),
        Column("region", "categorical", categories=("north", "south", "east")),
        Column("visit to Asia", "categorical", categories=(0, 1)),
        Column("Income", "categorical", categories=("<=50K", ">50K")),
        Column("smoker", "boolean"),
        Column("seen", "datetime", min="2020-01-01T00:00:00", max="2021-12-31T00:00:00"),
    )
)
ROW = {
    "age": 70,
    "bmi": 22.5,
    "sex": "female",
    "region": "north",
    "visit to Asia": 0,
    "Income": ">50K",
    "smoker": True,
    "seen": "2020-06-01T00:00:00",
}


def build(mapping):
    return Conditions.from_mapping(mapping, SCHEMA)


def test_from_mapping_builds_each_kind_and_describes_it():
    conditions = build({"sex": "female", "age": (60, None)})
    assert conditions.items == (
        ("sex", Condition.equals("female")),
        ("age", Condition.between(60, None)),
    )
    assert conditions.describe() == 'Every row must have sex = "female" and age >= 60.'


def test_values_are_normalised_like_rows():
    conditions = build({"sex": " FEMALE", "visit to Asia": "0", "smoker": "yes", "region": ["North", "south"]})
    assert dict(conditions.items) == {
        "sex": Condition.equals("female"),
        "visit to Asia": Condition.equals(0),
        "smoker": Condition.equals(True),
        "region": Condition.one_of(["north", "south"]),
    }


def test_sets_are_one_of_in_a_stable_order_and_deduplicated():
    conditions = build({"region": {"south", "north", "North"}})
    assert conditions.items == (("region", Condition("in", ("north", "south"))),)
    assert conditions.describe() == 'Every row must have region is one of ["north", "south"].'


def test_column_names_are_resolved_regardless_of_case_and_spacing():
    assert build({"Visit to  asia": 1}).columns == ["visit to Asia"]


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"gender": "female"}, "unknown column 'gender'.*columns are"),
        ({"sex": "woman"}, "'sex'.*'woman'.*allowed values: \"female\", \"male\""),
        ({"visit to Asia": 2}, "allowed values: 0, 1"),
        ({"smoker": "sometimes"}, "allowed values: true, false"),
        ({"sex": ("female", "male")}, "range needs a numerical or date column.*set or list"),
        ({"age": (50, 30)}, "low 50 is above high 30"),
        ({"age": (70, None)}, "leaves no value.*\\[18, 64\\]"),
        ({"age": (None, 10)}, "leaves no value"),
        ({"age": (1, 2, 3)}, "tuple means a range"),
        ({"age": 99}, "out_of_range.*\\[18, 64\\]"),
        ({"age": "old"}, "not a valid value"),
        ({"age": (None, None)}, "low or a high end"),
        ({"age": ("young", None)}, "not a number"),
        ({"seen": ("2019-01-01", "2019-06-01")}, "leaves no value"),
        ({"seen": ("someday", None)}, "not a date"),
        ({"region": []}, "empty"),
        ({"sex": None}, "is missing"),
    ],
)
def test_invalid_conditions_name_the_column_and_what_is_allowed(mapping, message):
    with pytest.raises(ConfigError, match=message):
        build(mapping)


def test_errors_carry_the_column():
    with pytest.raises(ConfigError) as info:
        build({"sex": "woman"})
    assert info.value.fields["column"] == "sex"


def test_range_at_the_edge_of_the_column():
    assert build({"age": (64, None)}).matches({"age": 64})
    with pytest.raises(ConfigError, match="leaves no value"):
        Conditions.from_where(["age>64"], SCHEMA)
    assert Conditions.from_where(["age<=18"], SCHEMA).matches({"age": 18})


def test_contradicting_conditions_on_one_column():
    with pytest.raises(ConfigError, match="exclude every value"):
        Conditions.from_where(["age>50", "age<40"], SCHEMA)
    with pytest.raises(ConfigError, match="exclude every value"):
        Conditions.from_where(["age>=40", "age<40"], SCHEMA)
    with pytest.raises(ConfigError, match="exclude every value"):
        Conditions.from_where(["sex=female", "sex!=female"], SCHEMA)
    both = Conditions.from_where(["age>=30", "age<40"], SCHEMA)
    assert both.matches({"age": 30}) and not both.matches({"age": 40})


@pytest.mark.parametrize(
    ("text", "column", "condition"),
    [
        ("sex=female", "sex", Condition.equals("female")),
        ("sex == female", "sex", Condition.equals("female")),
        ("sex != 'male'", "sex", Condition.not_equal("male")),
        ('sex="female"', "sex", Condition.equals("female")),
        ("age>65", "age", Condition.between("65", None, low_inclusive=False)),
        ("age >= 65", "age", Condition.between("65", None)),
        ("age<3", "age", Condition.between(None, "3", high_inclusive=False)),
        ("age<=3", "age", Condition.between(None, "3")),
        ("region in north|south|east", "region", Condition.one_of(["north", "south", "east"])),
        ("region IN north, south", "region", Condition.one_of(["north", "south"])),
        ("visit to Asia = 0", "visit to Asia", Condition.equals("0")),
        ("either tuberculosis or lung cancer=1", "either tuberculosis or lung cancer", Condition.equals("1")),
    ],
)
def test_parse_where(text, column, condition):
    assert parse_where(text) == (column, condition)


def test_parse_where_uses_known_columns_to_pick_the_split():
    assert parse_where("Income=>50K", ["Income"]) == ("Income", Condition.equals(">50K"))
    assert parse_where("Income = <=50K") == ("Income", Condition.equals("<=50K"))
    assert parse_where("time in hospital>3")[0] == "time"  # without columns: the first operator wins
    assert parse_where("time in hospital>3", ["time in hospital"]) == (
        "time in hospital",
        Condition.between("3", None, low_inclusive=False),
    )


@pytest.mark.parametrize("text", ["age", "=5", "age>=", "region in ", "   "])
def test_parse_where_errors(text):
    with pytest.raises(ConfigError):
        parse_where(text)


def test_from_where_binds_values_to_the_schema():
    conditions = Conditions.from_where(
        ["visit to Asia=0", "Income=>50K", "age>=60", "bmi<30.5", "region in North|South", "smoker=no"], SCHEMA
    )
    assert dict(conditions.items) == {
        "visit to Asia": Condition.equals(0),
        "Income": Condition.equals(">50K"),
        "age": Condition.between(60, None),
        "bmi": Condition.between(None, 30.5, high_inclusive=False),
        "region": Condition.one_of(["north", "south"]),
        "smoker": Condition.equals(False),
    }
    assert conditions.describe() == (
        'Every row must have "visit to Asia" = 0, Income = ">50K", age >= 60, bmi < 30.5, '
        'region is one of ["north", "south"] and smoker = false.'
    )
    with pytest.raises(ConfigError, match="unknown column"):
        Conditions.from_where(["weight>3"], SCHEMA)
    with pytest.raises(ConfigError, match="cannot read condition"):
        Conditions.from_where(["age"], SCHEMA)


def test_range_bounds_are_not_rounded():
    conditions = Conditions.from_where(["age>64.5"], SCHEMA.__class__((Column("age", "numerical", dtype="int"),)))
    assert not conditions.matches({"age": 64}) and conditions.matches({"age": 65})


def test_matches_and_first_failure():
    conditions = build({"sex": "female", "region": {"north", "south"}, "age": (60, None), "seen": ("2020-01-01", None)})
    assert conditions.matches(ROW)
    assert conditions.first_failure(ROW) is None
    assert not conditions.matches({**ROW, "region": "east"})
    assert conditions.first_failure({**ROW, "region": "east", "age": 20}) == "region"
    assert conditions.first_failure({**ROW, "age": None}) == "age"  # a missing value meets no condition
    assert not conditions.matches({**ROW, "age": "seventy"})  # a value of the wrong type does not match


def test_not_equal_and_exclusive_ranges_match():
    conditions = Conditions.from_where(["sex!=male", "bmi>20", "bmi<25"], SCHEMA)
    assert conditions.matches(ROW)
    assert not conditions.matches({**ROW, "bmi": 25.0})
    assert not conditions.matches({**ROW, "bmi": 20.0})
    assert not conditions.matches({**ROW, "sex": "male"})


def test_date_ranges():
    conditions = Conditions.from_where(["seen>=2021-01-01"], SCHEMA)
    assert conditions.items[0][1].low == "2021-01-01T00:00:00"
    assert conditions.matches({"seen": "2021-03-01T00:00:00"})
    assert not conditions.matches({"seen": "2020-12-31T23:59:59"})
    assert conditions.describe() == 'Every row must have seen >= "2021-01-01T00:00:00".'


def test_describe_ranges():
    assert Condition.between(30, 50).describe("age") == "age between 30 and 50 (inclusive)"
    assert Condition.between(30, 50, low_inclusive=False).describe("age") == "30 < age <= 50"
    assert Condition.between(None, 3, high_inclusive=False).describe("age") == "age < 3"
    assert Conditions().describe() == ""
    assert not Conditions() and len(build({"sex": "male"})) == 1


def test_to_dict_from_dict_round_trip_is_json_ready():
    conditions = build(
        {"sex": "female", "age": (60, None), "region": {"north", "south"}, "seen": ("2020-01-01", "2020-12-31")}
    )
    data = json.loads(json.dumps(conditions.to_dict()))
    assert data["conditions"][2] == {"column": "region", "op": "in", "values": ["north", "south"]}
    assert Conditions.from_dict(data) == conditions
    assert Conditions.from_dict(data, SCHEMA) == conditions


def test_from_mapping_accepts_conditions_and_their_dict_form():
    conditions = build({"age": Condition.between(30, 40), "sex": {"op": "ne", "value": "Male"}})
    assert dict(conditions.items) == {"age": Condition.between(30, 40), "sex": Condition.not_equal("male")}
    with pytest.raises(ConfigError, match="cannot read condition"):
        build({"sex": {"op": "like", "value": "f%"}})
    with pytest.raises(ConfigError, match="mapping"):
        Conditions.from_mapping(["sex=female"], SCHEMA)
