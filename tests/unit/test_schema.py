"""TableSchema / Column: inference, metadata overrides, errors, JSON round trip, typed frames."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mallm_gan.errors import SchemaError
from mallm_gan.table.column import Column
from mallm_gan.table.inference import infer_column
from mallm_gan.table.schema import TableSchema, is_missing, round_to


def load(shared_data, name, n):
    return pd.read_csv(shared_data / name / "splits" / f"n{n}" / "train.csv")


# -- inference on the shared splits ----------------------------------------------------------------------
def test_asia_columns_are_integer_categories(shared_data):
    schema = TableSchema.from_dataframe(load(shared_data, "asia", 50), target="Dyspnea")
    assert len(schema) == 8 and "visit to Asia" in schema
    assert all(c.kind == "categorical" for c in schema.columns)
    for column in schema.columns:
        assert set(column.categories) <= {0, 1}
        assert all(type(v) is int for v in column.categories)
    assert schema["smoke"].categories == (0, 1)
    assert (schema.target, schema.task) == ("Dyspnea", "classification")


def test_insurance_kinds_int_vs_float_and_decimals(shared_data):
    train = load(shared_data, "insurance", 100)
    schema = TableSchema.from_dataframe(train, target="charges")
    kinds = {c.name: (c.kind, c.dtype) for c in schema.columns}
    assert kinds == {
        "age": ("numerical", "int"),  # stored as 49.0 in the file
        "sex": ("categorical", None),
        "bmi": ("numerical", "float"),
        "children": ("numerical", "int"),
        "smoker": ("categorical", None),
        "region": ("categorical", None),
        "charges": ("numerical", "float"),
    }
    assert schema["age"].min == int(train["age"].min()) and type(schema["age"].max) is int
    assert schema["age"].decimals == 0
    assert schema["bmi"].decimals >= 2
    assert set(schema["region"].categories) == set(train["region"])
    assert set(schema["sex"].categories) == {"female", "male"}
    assert schema.task == "regression"


def test_adult_kinds(shared_data):
    train = load(shared_data, "adult", 200)
    schema = TableSchema.from_dataframe(train, target="Income")
    numerical = [c.name for c in schema.columns if c.kind == "numerical"]
    assert numerical == ["age", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
    assert all(schema[n].dtype == "int" for n in numerical)
    assert set(schema["Income"].categories) == {">50K", "<=50K"}
    assert schema["workclass"].categories[0] == train["workclass"].iloc[0]  # first-seen order
    assert schema.task == "classification"
    assert all(c.missing_rate == 0 for c in schema.columns)


def test_describe_lines(shared_data):
    schema = TableSchema.from_dataframe(load(shared_data, "insurance", 50), target="charges")
    text = schema.describe()
    lines = text.splitlines()
    assert lines[0].startswith("age: int, range [")
    assert lines[1] == 'sex: one of ["female", "male"]'
    assert "decimals" in lines[2]
    assert lines[-1] == "Target column: charges (regression)."


# -- inference on built frames ---------------------------------------------------------------------------
def test_pandas_string_dtype_is_categorical():
    values = pd.Series([" a", "b", "c", None], dtype="str")
    column = infer_column(values, "s")
    assert column.kind == "categorical"
    assert column.categories == ("a", "b", "c")
    assert column.missing_rate == 0.25 and column.nullable


def test_integers_with_missing_values():
    column = infer_column(pd.Series([1.0, np.nan, 3.0, 7.0]), "n")
    assert (column.kind, column.dtype, column.min, column.max, column.decimals) == ("numerical", "int", 1, 7, 0)
    assert column.nullable and column.missing_rate == 0.25
    nullable_int = infer_column(pd.Series(pd.array([5, None, 9, 2], dtype="Int64")), "m")
    assert (nullable_int.kind, nullable_int.dtype, nullable_int.nullable) == ("numerical", "int", True)


def test_two_valued_integers_are_categories():
    assert infer_column(pd.Series([1, 2, 2, 1]), "c").categories == (1, 2)
    assert infer_column(pd.Series([1.0, 2.5, 1.0]), "f").kind == "numerical"


def test_numbers_written_as_text():
    column = infer_column(pd.Series(["1.5", " 2.25", "3"], dtype="str"), "x")
    assert (column.kind, column.dtype, column.decimals, column.min, column.max) == ("numerical", "float", 2, 1.5, 3.0)


@pytest.mark.parametrize(
    "values",
    [["true", "false", "true"], ["True", "FALSE", None], [True, False, True], pd.array([True, None, False])],
)
def test_booleans(values):
    column = infer_column(pd.Series(values), "b")
    assert column.kind == "boolean"


def test_yes_no_stays_categorical():
    assert infer_column(pd.Series(["yes", "no", "yes"]), "smoker").categories == ("yes", "no")
    assert infer_column(pd.Series(["true", "true"]), "t").kind == "categorical"  # one value is no boolean


def test_dates():
    column = infer_column(pd.Series(["2020-01-05", "2019-12-31", None, "2020-02-01 10:30"]), "d")
    assert column.kind == "datetime"
    assert (column.min, column.max) == ("2019-12-31T00:00:00", "2020-02-01T10:30:00")
    assert infer_column(pd.Series(pd.to_datetime(["2021-03-01", "2021-01-01"])), "d").min == "2021-01-01T00:00:00"


def test_mixed_type_column_is_categorical_text():
    column = infer_column(pd.Series([1, "two", 3.5], dtype=object), "m")
    assert column.kind == "categorical" and column.categories == ("1", "two", "3.5")


def test_decimals_are_detected_for_moderate_values():
    assert infer_column(pd.Series([0.5, 1.25, 2.125]), "x").decimals == 3
    assert infer_column(pd.Series([10.1, 20.2, 30.3]), "x").decimals == 1


def test_decimals_of_large_values():
    assert infer_column(pd.Series([8988.15875, 4661.28635, 3956.07145]), "charges").decimals == 5
    assert infer_column(pd.Series([1234567.8, 2345678.9, 3456789.1]), "price").dtype == "float"


# -- target, task, metadata ------------------------------------------------------------------------------
FRAME = pd.DataFrame({"age": [30, 41, 52, 63], "sex": ["f", "m", "f", "m"], "bmi": [20.5, 22.25, 30.0, 28.5]})


def test_target_and_task():
    assert TableSchema.from_dataframe(FRAME, target="bmi").task == "regression"
    assert TableSchema.from_dataframe(FRAME, target="sex").task == "classification"
    assert TableSchema.from_dataframe(FRAME, target="age", task="classification").task == "classification"
    assert TableSchema.from_dataframe(FRAME).target is None
    with pytest.raises(SchemaError, match="target column 'income' does not exist") as info:
        TableSchema.from_dataframe(FRAME, target="income")
    assert info.value.column == "income"
    with pytest.raises(SchemaError, match="regression needs a numerical target"):
        TableSchema.from_dataframe(FRAME, target="sex", task="regression")
    with pytest.raises(SchemaError, match="task must be one of"):
        TableSchema.from_dataframe(FRAME, target="sex", task="ranking")


def test_metadata_override_from_dict_and_file(tmp_path):
    metadata = {
        "target": "sex",
        "columns": {
            "age": {"description": "age in years", "min": 18, "max": 99},
            "sex": {"type": "categorical", "categories": ["f", "m", "x"]},
        },
        "source": "survey",
    }
    schema = TableSchema.from_dataframe(FRAME, metadata=metadata)
    assert (schema["age"].min, schema["age"].max, schema["age"].description) == (18, 99, "age in years")
    assert schema["sex"].categories == ("f", "m", "x")
    assert (schema.target, schema.task) == ("sex", "classification")
    assert schema.extra == {"source": "survey"}
    assert "age: int, range [18, 99] - age in years" in schema.describe()
    path = tmp_path / "meta.json"
    path.write_text(json.dumps(metadata), encoding="utf-8")
    assert TableSchema.from_dataframe(FRAME, metadata=path) == schema
    assert TableSchema.from_dataframe(FRAME, target="bmi", metadata=path).target == "bmi"  # argument wins


def test_metadata_as_a_list_of_columns():
    schema = TableSchema.from_dataframe(FRAME, metadata={"columns": [{"name": "bmi", "decimals": 1}]})
    assert schema["bmi"].decimals == 1


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"columns": {"weight": {"description": "kg"}}}, "not in the data"),
        ({"columns": {"age": {"kind": "ordinal"}}}, "kind must be one of"),
        ({"columns": {"age": {"unit": "years"}}}, "unknown field"),
        ('["age"]', "does not exist"),  # a string is read as a file name
        ({"target": "income"}, "does not exist"),
    ],
)
def test_metadata_errors(metadata, message):
    with pytest.raises(SchemaError, match=message):
        TableSchema.from_dataframe(FRAME, metadata=metadata)


def test_metadata_of_the_wrong_type():
    with pytest.raises(SchemaError, match="JSON object"):
        TableSchema.from_dataframe(FRAME, metadata=["age"])


def test_with_metadata_checks_the_target():
    with pytest.raises(SchemaError, match="does not exist"):
        TableSchema.from_dataframe(FRAME).with_metadata({"target": "income"})


def test_metadata_file_errors(tmp_path):
    with pytest.raises(SchemaError, match="does not exist"):
        TableSchema.from_dataframe(FRAME, metadata=tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(SchemaError, match="not valid JSON"):
        TableSchema.from_dataframe(FRAME, metadata=bad)


# -- bad tables ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("frame", "message", "column"),
    [
        (pd.DataFrame({"a": [], "b": []}), "no rows", None),
        (pd.DataFrame(), "no columns", None),
        (pd.DataFrame({"a": [1], "b": [2]}), "single row", None),
        (pd.DataFrame([[1, 2], [3, 4]], columns=["a", "a"]), "more than once", "a"),
        (pd.DataFrame([[1, 2], [3, 4]], columns=["a", " "]), "empty name", " "),
        (pd.read_csv(__import__("io").StringIO("a,\n1,2\n3,4\n")), "empty name", "Unnamed: 1"),
        (pd.DataFrame({"a": [1, 2], "b": [None, None]}), "missing in every row", "b"),
    ],
)
def test_bad_tables_are_named(frame, message, column):
    with pytest.raises(SchemaError, match=message) as info:
        TableSchema.from_dataframe(frame)
    assert info.value.column == column


def test_not_a_dataframe():
    with pytest.raises(SchemaError, match="DataFrame"):
        TableSchema.from_dataframe([{"a": 1}])


# -- JSON and access -------------------------------------------------------------------------------------
def test_json_round_trip(tmp_path, shared_data):
    schema = TableSchema.from_dataframe(load(shared_data, "insurance", 50), target="charges")
    assert TableSchema.from_json(schema.to_json()) == schema
    path = tmp_path / "schema.json"
    schema.to_json(path)
    again = TableSchema.from_json(path)
    assert again == schema
    assert again["region"].categories == schema["region"].categories
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["target"] == "charges" and data["columns"][0]["name"] == "age"
    asia = TableSchema.from_dataframe(load(shared_data, "asia", 25))
    assert TableSchema.from_json(asia.to_json())["smoke"].categories == (0, 1)


def test_access():
    schema = TableSchema.from_dataframe(FRAME)
    assert schema.names == ["age", "sex", "bmi"] and len(schema) == 3
    assert "sex" in schema and "weight" not in schema
    with pytest.raises(SchemaError, match="no column named 'weight'"):
        schema["weight"]


# -- typed frames ----------------------------------------------------------------------------------------
def test_cast_gives_schema_dtypes_and_order():
    schema = TableSchema(
        (
            Column("n", "numerical", dtype="int"),
            Column("m", "numerical", dtype="int", missing_rate=0.5),
            Column("x", "numerical", dtype="float", decimals=2),
            Column("c", "categorical", categories=("a", "b")),
            Column("k", "categorical", categories=(0, 1)),
            Column("b", "boolean"),
            Column("nb", "boolean", missing_rate=0.1),
            Column("d", "datetime", min="2020-01-01T00:00:00", max="2021-01-01T00:00:00"),
        )
    )
    rows = pd.DataFrame(
        {
            "d": ["2020-01-01T00:00:00", "2020-05-01T12:00:00"],
            "b": [True, False],
            "nb": [True, None],
            "k": [1, 0],
            "c": ["a", None],
            "x": [1.5, 2.25],
            "m": [3, None],
            "n": [1, 2],
        }
    )
    out = schema.cast(rows)
    assert list(out.columns) == schema.names
    dtypes = {name: str(dtype) for name, dtype in out.dtypes.items()}
    assert dtypes["n"] == "int64" and dtypes["m"] == "Int64" and dtypes["x"] == "float64"
    assert dtypes["k"] == "int64" and dtypes["b"] == "bool" and dtypes["nb"] == "boolean"
    assert pd.api.types.is_datetime64_any_dtype(out["d"]) and out["d"].notna().all()
    # text, missing kept missing: pandas 3 gives its str dtype, pandas 2 an object column of str and None
    assert out["c"].isna().tolist() == [False, True] and out["c"].tolist()[0] == "a"
    pandas2 = int(pd.__version__.split(".")[0]) < 3
    assert pd.api.types.is_string_dtype(out["c"]) or (pandas2 and out["c"].dtype == object)
    empty = schema.empty_frame()
    assert list(empty.columns) == schema.names and len(empty) == 0


def test_cast_reads_iso_dates_of_mixed_precision():
    schema = TableSchema((Column("d", "datetime", min="2020-01-01", max="2021-01-01"),))
    out = schema.cast(pd.DataFrame({"d": ["2020-01-01T00:00:00", "2020-05-01T12:00:00.500000", "2020-06-01"]}))
    assert out["d"].notna().all()


def test_cast_fills_an_absent_column_with_missing_values():
    schema = TableSchema((Column("a", "numerical", dtype="int"), Column("b", "numerical", dtype="float")))
    out = schema.cast(pd.DataFrame({"a": [1, 2]}))
    assert out["b"].isna().all() and len(out) == 2


# -- helpers ---------------------------------------------------------------------------------------------
def test_round_to_half_away_from_zero():
    assert round_to(2.5, 0) == 3.0
    assert round_to(-2.5, 0) == -3.0
    assert round_to(0.125, 2) == 0.13
    assert round_to(1234.5678, 1) == 1234.6


def test_is_missing():
    assert all(is_missing(v) for v in (None, float("nan"), np.nan, pd.NA, pd.NaT))
    assert not any(is_missing(v) for v in (0, "", "NA", [None, 1], False))


def test_is_missing_of_a_one_element_list():
    assert not is_missing([None])


def test_column_dict_round_trip_drops_empty_fields():
    column = Column("c", "categorical", categories=("a", "b"))
    assert column.to_dict() == {
        "name": "c",
        "kind": "categorical",
        "categories": ["a", "b"],
        "decimals": 0,
        "missing_rate": 0.0,
    }
    assert Column.from_dict(column.to_dict()) == column
    assert Column.from_dict({"name": "t", "type": "boolean"}).kind == "boolean"
