"""Distance to closest record on tiny tables whose distances can be worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mallm_gan.evaluation import distance_to_closest_record
from mallm_gan.table import distance as distance_module
from mallm_gan.table.schema import TableSchema


def table(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "bmi": rng.normal(27, 4, n).round(2),
            "sex": rng.choice(["f", "m"], n),
            "region": rng.choice(["n", "s", "e", "w"], n),
        }
    )


def test_identical_synthetic_gives_zero_distance_and_all_copies():
    train, holdout = table(0, 50), table(1, 30)
    result = distance_to_closest_record(train, train, holdout)
    assert np.all(result.to_train == 0)
    assert result.exact_copies == 50
    assert result.quantiles_train["q50"] == 0
    assert result.share_closer_to_train == pytest.approx(1.0)
    assert result.n_synthetic == 50 and result.n_train == 50 and result.n_holdout == 30


def test_hand_computed_distances():
    train = pd.DataFrame({"x": [0.5, 2.5], "c": ["a", "b"]})  # x: mean 1.5, std 1
    holdout = pd.DataFrame({"x": [10.5], "c": ["a"]})
    synthetic = pd.DataFrame({"x": [1.0, 2.5, 9.5], "c": ["b", "b", "a"]})
    result = distance_to_closest_record(synthetic, train, holdout)
    # row 0: to (0.5,a) 0.5 + 1 = 1.5; to (2.5,b) 1.5 + 0 = 1.5 -> 1.5; to holdout 9.5 + 1 = 10.5
    # row 1: equals (2.5,b) -> 0; to holdout 8 + 1 = 9
    # row 2: to (2.5,b) 7 + 1 = 8, to (0.5,a) 9 + 0 = 9 -> 8; to holdout 1
    assert result.to_train.tolist() == pytest.approx([1.5, 0.0, 8.0])
    assert result.to_holdout.tolist() == pytest.approx([10.5, 9.0, 1.0])
    assert result.exact_copies == 1
    assert result.exact_copies_holdout == 0
    assert result.share_closer_to_train == pytest.approx(2 / 3)


def test_missing_values_count_one_against_a_value_and_zero_against_missing():
    schema = TableSchema.from_dataframe(pd.DataFrame({"x": [0.5, 2.5, None], "c": ["a", None, "b"]}))
    train = pd.DataFrame({"x": [0.5, 2.5], "c": ["a", None]})
    synthetic = pd.DataFrame({"x": [None, None], "c": [None, "a"]})
    result = distance_to_closest_record(synthetic, train, schema=schema)
    # row 0 vs (2.5, None): x missing vs value 1, c both missing 0 -> 1
    # row 1 vs (0.5, a): x missing vs value 1, c equal 0 -> 1
    assert result.to_train.tolist() == [1.0, 1.0]
    assert result.share_closer_to_train is None and result.to_holdout is None


def test_int_and_float_spellings_of_a_category_are_equal():
    train = pd.DataFrame({"flag": [0, 1, 1], "y": [1.0, 2.0, 3.0]})
    synthetic = pd.DataFrame({"flag": [0.0, 1.0], "y": [1.0, 3.0]})
    result = distance_to_closest_record(synthetic, train)
    assert result.exact_copies == 2


def test_chunked_computation_matches_one_pass(monkeypatch):
    train, holdout, synthetic = table(0, 40), table(1, 25), table(2, 33)
    whole = distance_to_closest_record(synthetic, train, holdout)
    monkeypatch.setattr(distance_module, "_CHUNK_CELLS", 50)
    chunked = distance_to_closest_record(synthetic, train, holdout)
    assert np.allclose(whole.to_train, chunked.to_train)
    assert np.allclose(whole.to_holdout, chunked.to_holdout)


def test_fresh_draws_are_not_closer_to_train_than_chance():
    train, holdout, synthetic = table(0, 200), table(1, 200), table(2, 100)
    result = distance_to_closest_record(synthetic, train, holdout)
    # same population, same sizes: about half closer to train (ties excluded)
    assert 0.3 < result.share_closer_to_train < 0.7
    assert result.exact_copies <= 5


def test_to_dict_is_plain():
    train = table(0, 10)
    data = distance_to_closest_record(train.iloc[:3], train, table(1, 5)).to_dict(rows=True)
    assert data["exact_copies"] == 3
    assert isinstance(data["to_train"][0], float)
    assert set(data["quantiles_train"]) == {"q00", "q05", "q25", "q50", "q75", "q95"}
