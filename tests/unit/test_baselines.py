"""Baselines return schema-valid, schema-typed, seeded rows."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from mallm_gan.baselines import (
    BASELINES,
    GaussianCopulaBaseline,
    MissingExtraError,
    SmoteBaseline,
    make_baseline,
)
from mallm_gan.errors import ConfigError, NotFittedError, SchemaError
from mallm_gan.table.schema import TableSchema

FAST = ("smote", "gaussian-copula")


def mixed(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    frame = pd.DataFrame(
        {
            "age": age,
            "bmi": rng.normal(27, 4, n).round(2),
            "region": rng.choice(["north", "south", "east"], n),
            "smoker": rng.choice([0, 1], n),
            "member": rng.choice([True, False], n),
            "note": rng.choice(["x", "y"], n).astype(object),
            "outcome": np.where(age + rng.normal(0, 10, n) > 50, "high", "low"),
        }
    )
    frame.loc[::7, "note"] = None  # a nullable categorical column
    return frame


def check_schema(rows: pd.DataFrame, schema: TableSchema) -> None:
    assert list(rows.columns) == schema.names
    assert rows.dtypes.equals(schema.cast(rows).dtypes)  # already carries the schema dtypes
    for column in schema.columns:
        values = rows[column.name].dropna()
        if column.kind == "numerical":
            assert values.between(column.min, column.max).all(), column.name
            scaled = values.to_numpy(dtype=float) * 10**column.decimals
            assert np.allclose(scaled, np.round(scaled)), column.name
        elif column.kind == "categorical":
            assert set(values) <= set(column.categories), column.name
        if column.missing_rate == 0:
            assert rows[column.name].notna().all(), column.name


@pytest.mark.parametrize("name", FAST)
def test_fast_baselines_respect_the_schema(name):
    train = mixed()
    schema = TableSchema.from_dataframe(train, target="outcome")
    rows = make_baseline(name, random_state=1).fit(train, schema).sample(len(train))
    assert len(rows) == len(train)
    check_schema(rows, schema)
    assert set(rows["outcome"]) <= {"high", "low"}


@pytest.mark.parametrize("name", FAST)
def test_same_seed_same_rows(name):
    train = mixed()
    schema = TableSchema.from_dataframe(train, target="outcome")
    first = make_baseline(name, random_state=7).fit(train, schema).sample(30)
    second = make_baseline(name, random_state=7).fit(train, schema).sample(30)
    other = make_baseline(name, random_state=8).fit(train, schema).sample(30)
    pd.testing.assert_frame_equal(first, second)
    assert not first.equals(other)


@pytest.mark.parametrize("name", FAST)
def test_zero_rows_and_unfitted(name):
    train = mixed()
    with pytest.raises(NotFittedError):
        make_baseline(name).sample(3)
    model = make_baseline(name, random_state=0).fit(train)
    empty = model.sample(0)
    assert len(empty) == 0 and list(empty.columns) == list(train.columns)
    with pytest.raises(ConfigError):
        model.sample(-1)


def test_smote_keeps_class_balance_and_interpolates():
    train = mixed(80)
    schema = TableSchema.from_dataframe(train, target="outcome")
    rows = SmoteBaseline(random_state=0).fit(train, schema).sample(80)
    expected = train["outcome"].value_counts()
    assert rows["outcome"].value_counts().to_dict() == expected.to_dict()
    # interpolated rows stay between the training extremes of each class
    for label, group in rows.groupby("outcome"):
        real = train[train["outcome"] == label]["bmi"]
        assert group["bmi"].between(real.min(), real.max()).all()


def test_smote_variants_all_numeric_all_categorical_and_regression():
    rng = np.random.default_rng(0)
    numeric = pd.DataFrame({"a": rng.normal(size=40).round(3), "b": rng.normal(size=40).round(3)})
    numeric["label"] = np.where(numeric["a"] > 0, "p", "n")
    categorical = pd.DataFrame({c: rng.choice(["u", "v", "w"], 40) for c in "abc"})
    regression = pd.DataFrame({"x": rng.normal(size=40).round(2), "g": rng.choice(["k", "l"], 40)})
    regression["y"] = (regression["x"] * 3 + rng.normal(size=40)).round(2)
    for frame, target in ((numeric, "label"), (categorical, "c"), (regression, "y")):
        schema = TableSchema.from_dataframe(frame, target=target)
        rows = SmoteBaseline(random_state=0).fit(frame, schema).sample(25)
        assert len(rows) == 25
        check_schema(rows, schema)


def test_smote_single_class_and_no_target():
    train = mixed(30)
    train["outcome"] = "only"
    rows = SmoteBaseline(random_state=0).fit(train, TableSchema.from_dataframe(train, target="outcome")).sample(10)
    assert set(rows["outcome"]) == {"only"}
    rows = SmoteBaseline(random_state=0).fit(train).sample(10)
    assert len(rows) == 10


def test_smote_needs_two_rows_in_some_class():
    train = pd.DataFrame({"x": [1.5, 2.5, 3.5], "y": ["a", "b", "c"]})
    with pytest.raises(ConfigError, match="at least 2 rows"):
        SmoteBaseline().fit(train, TableSchema.from_dataframe(train, target="y"))


def test_copula_keeps_a_strong_correlation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    train = pd.DataFrame({"x": x.round(3), "y": (x + rng.normal(scale=0.3, size=300)).round(3)})
    rows = GaussianCopulaBaseline(random_state=0).fit(train).sample(1000)
    assert np.corrcoef(rows["x"], rows["y"])[0, 1] > 0.8
    assert rows["x"].between(train["x"].min(), train["x"].max()).all()


def test_copula_category_frequencies_follow_training():
    train = pd.DataFrame({"c": ["a"] * 70 + ["b"] * 20 + ["c"] * 10, "n": np.arange(100) / 10})
    rows = GaussianCopulaBaseline(random_state=0).fit(train).sample(2000)
    share = rows["c"].value_counts(normalize=True)
    assert share["a"] == pytest.approx(0.7, abs=0.04)
    assert share["c"] == pytest.approx(0.1, abs=0.03)


def test_copula_handles_more_columns_than_rows_and_constants():
    rng = np.random.default_rng(0)
    train = pd.DataFrame({f"v{i}": rng.normal(size=5).round(2) for i in range(8)})
    train["const"] = 3.25
    rows = GaussianCopulaBaseline(random_state=0).fit(train).sample(20)
    assert rows["const"].eq(3.25).all()
    assert rows.notna().all().all()


@pytest.mark.parametrize("name", FAST)
def test_dates_stay_dates_inside_the_range(name):
    days = pd.date_range("2020-01-01", periods=40, freq="7D")
    train = pd.DataFrame({"day": days.strftime("%Y-%m-%d"), "x": np.arange(40) + 0.5, "y": ["a", "b"] * 20})
    schema = TableSchema.from_dataframe(train, target="y")
    rows = make_baseline(name, random_state=0).fit(train, schema).sample(30)
    assert pd.api.types.is_datetime64_any_dtype(rows["day"])
    assert rows["day"].between(days.min(), days.max()).all()
    assert (rows["day"] == rows["day"].dt.normalize()).all()


def test_missing_values_come_back_at_the_training_rate():
    train = mixed(200)
    train["bmi"] = train["bmi"].astype(float)
    train.loc[::4, "bmi"] = np.nan
    schema = TableSchema.from_dataframe(train, target="outcome")
    rows = GaussianCopulaBaseline(random_state=0).fit(train, schema).sample(2000)
    assert rows["bmi"].isna().mean() == pytest.approx(0.25, abs=0.04)
    assert rows["note"].isna().any()


def test_make_baseline_errors():
    assert set(BASELINES) == {"smote", "gaussian-copula", "ctgan", "tvae"}
    with pytest.raises(ConfigError, match="unknown baseline"):
        make_baseline("vae")
    with pytest.raises(ConfigError, match="bad parameter"):
        make_baseline("gaussian-copula", epochs=3)
    with pytest.raises(SchemaError):
        make_baseline("smote").fit(mixed(), TableSchema.from_dataframe(mixed().assign(extra=1.5)))


@pytest.mark.skipif(importlib.util.find_spec("ctgan") is not None, reason="ctgan is installed here")
@pytest.mark.parametrize("name", ["ctgan", "tvae"])
def test_gan_baselines_without_the_extra_name_it(name):
    with pytest.raises(MissingExtraError, match=r"mallm-gan\[gan\].*pandas < 3"):
        make_baseline(name, epochs=1).fit(mixed())
