"""Shape, pair-trend and detection scores with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mallm_gan.evaluation import detection_auc, fidelity
from mallm_gan.table.schema import TableSchema


def mixed(seed: int, n: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1, n)
    return pd.DataFrame(
        {
            "x": x.round(3),
            "y": (2 * x + rng.normal(0, 0.5, n)).round(3),
            "c": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
            "flag": rng.integers(0, 2, n),
        }
    )


def test_identical_data_scores_one_and_detection_half():
    real = mixed(0, 120)
    result = fidelity(real, real.copy())
    assert all(v == pytest.approx(1.0) for v in result.column_shapes.values())
    assert all(v == pytest.approx(1.0) for v in result.column_pair_trends.values())
    assert result.shape_score == pytest.approx(1.0)
    assert result.trend_score == pytest.approx(1.0)
    assert result.detection_auc == pytest.approx(0.5, abs=0.05)
    assert result.detection_score == pytest.approx(1.0, abs=0.1)
    assert result.overall == pytest.approx(1.0)


def test_shifted_data_is_detected():
    real, shifted = mixed(0, 150), mixed(1, 150, shift=4.0)
    result = fidelity(real, shifted)
    assert result.detection_auc > 0.95
    assert result.detection_score < 0.1
    assert result.column_shapes["x"] < 0.2
    assert result.column_shapes["c"] > 0.8  # untouched column keeps its shape


def test_same_population_is_hard_to_detect():
    auc = detection_auc(mixed(0, 300), mixed(1, 300))
    assert 0.35 < auc < 0.65


def test_known_ks_and_tvd():
    real = pd.DataFrame({"n": [1.0, 2.0, 3.0, 4.0], "c": ["a", "a", "b", "b"]})
    syn = pd.DataFrame({"n": [3.0, 4.0, 5.0, 6.0], "c": ["a", "a", "a", "b"]})
    result = fidelity(real, syn, detection=False)
    assert result.column_shapes["n"] == pytest.approx(0.5)  # KS statistic 0.5
    assert result.column_shapes["c"] == pytest.approx(0.75)  # TVD 0.25
    assert result.detection_auc is None


def test_reversed_correlation_scores_zero():
    x = np.linspace(0, 1, 50)
    real = pd.DataFrame({"x": x, "y": x})
    syn = pd.DataFrame({"x": x, "y": -x + 1})
    result = fidelity(real, syn, detection=False)
    assert result.column_pair_trends[("x", "y")] == pytest.approx(0.0)


def test_contingency_of_categorical_pair():
    real = pd.DataFrame({"a": ["u", "u", "v", "v"], "b": ["p", "q", "p", "q"]})
    syn = pd.DataFrame({"a": ["u", "u", "v", "v"], "b": ["p", "p", "q", "q"]})
    # joint frequencies: real 1/4 each; syn (u,p)=1/2, (v,q)=1/2 -> TVD = 1/2
    result = fidelity(real, syn, detection=False)
    assert result.column_pair_trends[("a", "b")] == pytest.approx(0.5)
    assert result.column_shapes == {"a": 1.0, "b": 1.0}


def test_constant_numeric_column_pairs_are_left_out():
    real = pd.DataFrame({"k": [5.5] * 6, "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.5]})
    result = fidelity(real, real.copy(), detection=False)
    assert result.column_pair_trends[("k", "x")] is None
    assert result.trend_score is None
    assert result.notes
    assert result.to_dict()["column_pair_trends"] == {"k | x": None}


def test_schema_decides_kinds():
    real = mixed(0, 60)
    schema = TableSchema.from_dataframe(real)
    assert schema["flag"].kind == "categorical"
    result = fidelity(real, mixed(1, 60), schema, detection=False)
    assert set(result.column_shapes) == set(real.columns)
    assert len(result.column_pair_trends) == 6
