"""The one distance: hand-worked values, dates as days, missing values, leave-one-out, and its users agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mallm_gan.errors import NotFittedError
from mallm_gan.evaluation import distance_to_closest_record
from mallm_gan.gan.validation import RowValidator
from mallm_gan.table import distance as distance_module
from mallm_gan.table.coerce import normalise_frame
from mallm_gan.table.distance import MixedDistance
from mallm_gan.table.schema import TableSchema


def test_hand_computed_mixed_distance():
    train = pd.DataFrame({"x": [0.5, 2.5], "c": ["a", "b"]})  # x: population std 1
    distance = MixedDistance(TableSchema.from_dataframe(train)).fit(train)
    query = pd.DataFrame({"x": [1.0, 4.5], "c": ["b", "a"]})
    matrix = distance.pairwise(distance.encode(query), distance.encode(train))
    np.testing.assert_allclose(matrix, [[0.5 + 1, 1.5 + 0], [4 + 0, 2 + 1]])
    dist, index = distance.nearest(distance.encode(query), distance.encode(train), 2)
    np.testing.assert_allclose(dist, [[1.5, 1.5], [3.0, 4.0]])
    assert index[1].tolist() == [1, 0]


def test_dates_are_days_scaled_by_their_spread():
    train = pd.DataFrame({"d": ["2020-01-01", "2020-01-11"], "c": ["a", "a"]})
    schema = TableSchema.from_dataframe(train)
    assert schema["d"].kind == "datetime"
    distance = MixedDistance(schema).fit(train)
    assert distance.scale_.tolist() == pytest.approx([5.0])  # population std of days 0 and 10
    query = pd.DataFrame({"d": ["2020-01-02"], "c": ["a"]})
    assert distance.closest(distance.encode(query), distance.encode(train)).tolist() == pytest.approx([0.2])


def test_missing_is_zero_from_missing_and_one_from_a_value():
    train = pd.DataFrame({"x": [1.0, None, 3.0], "c": ["a", None, "b"]})
    schema = TableSchema.from_dataframe(train)
    distance = MixedDistance(schema).fit(train)
    query = pd.DataFrame({"x": [None], "c": [None]})
    matrix = distance.pairwise(distance.encode(query), distance.encode(train))
    np.testing.assert_allclose(matrix, [[2.0, 0.0, 2.0]])


def test_spellings_of_one_value_are_equal():
    train = pd.DataFrame({"sex": ["female", "male"], "n": [1, 2]})
    distance = MixedDistance(TableSchema.from_dataframe(train)).fit(train)
    query = pd.DataFrame({"sex": ["Female"], "n": ["1.0"]})
    assert distance.closest(distance.encode(query), distance.encode(train)).tolist() == [0.0]


def test_leave_one_out_skips_the_row_itself_but_not_its_duplicate():
    train = pd.DataFrame({"x": [0.5, 0.5, 10.5], "c": ["a", "a", "a"]})
    distance = MixedDistance(TableSchema.from_dataframe(train)).fit(train)
    loo = distance.leave_one_out(distance.encode(train))
    std = np.std([0.5, 0.5, 10.5])
    assert loo.tolist() == pytest.approx([0.0, 0.0, 10.0 / std])


def test_chunked_queries_match_one_pass(monkeypatch):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=60), "y": rng.integers(0, 9, 60), "c": rng.choice(list("abc"), 60)})
    distance = MixedDistance(TableSchema.from_dataframe(frame)).fit(frame)
    enc = distance.encode(frame)
    whole = distance.nearest(enc.take(range(20)), enc, 3)
    monkeypatch.setattr(distance_module, "_CHUNK_CELLS", 7)
    chunked = distance.nearest(enc.take(range(20)), enc, 3)
    assert np.allclose(whole[0], chunked[0]) and (whole[1] == chunked[1]).all()


def test_empty_reference_and_unfitted_use():
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    schema = TableSchema.from_dataframe(frame)
    with pytest.raises(NotFittedError):
        MixedDistance(schema).encode(frame)
    distance = MixedDistance(schema).fit(frame)
    dist, index = distance.nearest(distance.encode(frame), distance.encode(frame.iloc[:0]), 1)
    assert np.isinf(dist).all() and (index == -1).all()


def test_the_gate_and_the_dcr_metric_measure_the_same_distance():
    # one row near a unique record, in a table with an int, a float, a date and a category: the gate rejects
    # it exactly when its threshold is above the distance the DCR metric reports
    train = pd.DataFrame({"age": [20, 30, 40, 50, 60], "bmi": [20.5, 22.5, 27.5, 30.5, 35.5],
                          "when": [str(d.date()) for d in pd.date_range("2020-01-01", periods=5, freq="10D")],
                          "sex": ["f", "m", "f", "m", "f"]})
    schema = TableSchema.from_dataframe(train)
    row = pd.DataFrame([{"age": 22, "bmi": 21.5, "when": "2020-01-03", "sex": "f"}])
    dcr = distance_to_closest_record(row, train, schema=schema).to_train[0]
    scale = MixedDistance(schema).fit(train).scale_
    assert dcr == pytest.approx(2 / scale[0] + 1 / scale[1] + 2 / scale[2])
    keys = normalise_frame(row, schema)
    for threshold, rejected in ((dcr + 1e-6, True), (dcr - 1e-6, False)):
        assert RowValidator(schema, train, release_gate=threshold).gate_.rejects(keys).tolist() == [rejected]
