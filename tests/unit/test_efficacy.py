"""Machine-learning efficacy on small fixed data with known answers."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from mallm_gan.errors import ConfigError, SchemaError
from mallm_gan.evaluation import evaluate, evaluate_efficacy, mle_score
from mallm_gan.evaluation.encoding import TabularEncoder, canonical
from mallm_gan.table.schema import TableSchema


def separable(n: int, seed: int) -> pd.DataFrame:
    """Label is exactly "x > 0"; a noise column and a categorical column carry no signal."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    x = np.where(np.abs(x) < 0.05, 0.5, x)  # keep a margin around the boundary
    return pd.DataFrame(
        {
            "x": x.round(3),
            "noise": rng.normal(size=n).round(3),
            "colour": rng.choice(["red", "green"], n),
            "label": np.where(x > 0, "pos", "neg"),
        }
    )


def test_linearly_separable_gives_f1_one():
    train, test = separable(120, 0), separable(80, 1)
    result = evaluate_efficacy(train, test, target="label")
    assert result.task == "classification" and result.metric == "f1"
    assert result.best_score == pytest.approx(1.0, abs=0.02)
    assert result.scores["logistic_regression"]["f1"] > 0.95
    assert set(result.scores) == {"logistic_regression", "random_forest", "svm", "xgboost"}
    assert result.best_model in result.scores
    assert result.n_train == 120 and result.n_test == 80
    assert mle_score(train, test, target="label") == result.best_score


def test_regression_linear_target_gives_r2_near_one():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.choice(["u", "v"], 200)})
    frame["y"] = 3 * frame["a"] + np.where(frame["b"] == "u", 2.0, -2.0) + rng.normal(scale=0.01, size=200)
    result = evaluate_efficacy(frame.iloc[:150], frame.iloc[150:], target="y")
    assert result.task == "regression" and result.metric == "r2"
    assert set(result.scores) == {"linear_regression", "random_forest", "xgboost"}
    assert result.scores["linear_regression"]["r2"] > 0.99
    assert result.best_model == "linear_regression"


def test_category_seen_only_in_test_does_not_crash():
    train, test = separable(60, 0), separable(40, 1)
    test.loc[:9, "colour"] = "ultraviolet"
    result = evaluate_efficacy(train, test, target="label")
    assert result.best_score > 0.9


def test_unseen_category_encodes_as_zeros():
    schema = TableSchema.from_dataframe(pd.DataFrame({"c": ["a", "b", "a"], "n": [1.0, 2.0, 3.0]}))
    encoder = TabularEncoder(schema, ["c"]).fit(pd.DataFrame({"c": ["a", "b", "a"]}))
    encoded = encoder.transform(pd.DataFrame({"c": ["zzz", "a"]}))
    assert encoded[0].tolist() == [0.0, 0.0]
    assert encoded[1].tolist() == [1.0, 0.0]


def test_encoder_is_fitted_on_training_side_only():
    schema = TableSchema.from_dataframe(pd.DataFrame({"n": [0.0, 2.0, 100.0]}))
    encoder = TabularEncoder(schema, ["n"]).fit(pd.DataFrame({"n": [0.0, 2.0]}))
    # standardised with the training mean 1 and std 1; the test value 100 does not move them
    assert encoder.transform(pd.DataFrame({"n": [100.0, 1.0]})).ravel().tolist() == [99.0, 0.0]


def test_single_class_training_rows_score_the_constant_prediction():
    train, test = separable(50, 0), separable(40, 1)
    one_class = train[train["label"] == "pos"]
    schema = TableSchema.from_dataframe(train, target="label")
    result = evaluate_efficacy(one_class, test, target="label", schema=schema)
    share = (test["label"] == "pos").mean()
    assert result.scores["svm"]["accuracy"] == pytest.approx(share)
    # weighted F1 of a constant prediction: only the predicted class has an F1 (2p / (1 + p))
    assert result.scores["svm"]["f1"] == pytest.approx(share * 2 * share / (1 + share))
    assert any("single class" in note for note in result.notes)


def test_int_labels_read_as_floats_match():
    train, test = separable(60, 0), separable(40, 1)
    train["label"] = (train["label"] == "pos").astype(int)
    test["label"] = (test["label"] == "pos").astype(float)  # CSVs often store 0/1 as 0.0/1.0
    result = evaluate_efficacy(train, test, target="label")
    assert result.best_score > 0.95
    assert canonical(1.0) == canonical(1) == canonical("1") == canonical(" 1.0") == "1"


def test_missing_xgboost_is_skipped_with_a_note(monkeypatch):
    monkeypatch.setitem(sys.modules, "xgboost", None)  # makes "import xgboost" fail
    result = evaluate_efficacy(separable(60, 0), separable(40, 1), target="label")
    assert "xgboost" not in result.scores
    assert any("mallm-gan[xgboost]" in note for note in result.notes)


def test_rows_without_target_are_dropped():
    train, test = separable(60, 0), separable(40, 1)
    train["label"] = train["label"].astype(object)
    train.loc[:4, "label"] = None
    result = evaluate_efficacy(train, test, target="label")
    assert result.n_train == 55
    assert any("without a target" in note for note in result.notes)


def test_explicit_task_wins_over_inference():
    train, test = separable(60, 0), separable(40, 1)
    train["label"] = (train["label"] == "pos").astype(int)
    test["label"] = (test["label"] == "pos").astype(int)
    result = evaluate_efficacy(train, test, target="label", task="regression", models=["linear_regression"])
    assert result.metric == "r2" and list(result.scores) == ["linear_regression"]


def test_bad_input_gives_clear_errors():
    train, test = separable(30, 0), separable(20, 1)
    with pytest.raises(SchemaError, match="nope"):
        evaluate_efficacy(train, test, target="nope")
    with pytest.raises(ConfigError, match="unknown classification model"):
        evaluate_efficacy(train, test, target="label", models=["linear_regression"])
    with pytest.raises(ConfigError, match="task must be"):
        evaluate_efficacy(train, test, target="label", task="ranking")
    with pytest.raises(SchemaError, match="label"):
        evaluate_efficacy(train, test.drop(columns=["label"]), target="label")


def test_evaluate_report_is_json_ready():
    train, test = separable(40, 0), separable(30, 1)
    report = evaluate(train, train, test, target="label")
    data = report.to_dict()
    text = json.dumps(data)  # no numpy types, no NaN
    assert "NaN" not in text
    assert data["efficacy"]["best_score"] == data["reference"]["best_score"]
    assert data["privacy"]["exact_copies"] == 40
    assert data["fidelity"]["shape_score"] == pytest.approx(1.0)
