"""Privacy attacks: known-answer tests (a full leak and no leak) within stated tolerances, and the AUC itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from mallm_gan.errors import ConfigError
from mallm_gan.evaluation import distance_to_closest_record, evaluate, privacy_attacks
from mallm_gan.evaluation.attacks import auc
from mallm_gan.table.schema import TableSchema


def population(n: int, seed: int) -> pd.DataFrame:
    """People whose smoker status follows age and bmi, so an attribute can be inferred from the rest."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    bmi = rng.normal(28, 5, n).round(1)
    smoker = np.where(rng.random(n) < 1 / (1 + np.exp(-(age - 50) / 8)), "yes", "no")
    charges = (2000 + 250 * age + 400 * (bmi - 28) + rng.normal(0, 3000, n)).round(2)
    return pd.DataFrame({"age": age, "bmi": bmi, "sex": rng.choice(["female", "male"], n), "smoker": smoker,
                         "charges": charges})


@pytest.fixture(scope="module")
def split():
    train, holdout, fresh = population(400, 0), population(400, 1), population(400, 2)
    return train, holdout, fresh, TableSchema.from_dataframe(train, target="charges")


def test_synthetic_equal_to_train_scores_as_a_full_leak(split):
    train, holdout, _, schema = split
    result = privacy_attacks(train, train, holdout, schema, sensitive="smoker")
    assert result.near_copy_share == 1.0 and result.exact_copies == len(train)
    assert result.mia_auc >= 0.99 and result.mia_interval[0] >= 0.95
    assert result.nndr["q50"] == 0.0
    assert result.attribute.synthetic == 1.0  # every record's own value
    assert result.attribute.advantage > 0.1
    dcr = distance_to_closest_record(train, train, holdout, schema)
    assert dcr.share_closer_to_train == 1.0 and dcr.share_interval == (1.0, 1.0)


def test_fresh_real_rows_score_as_no_leak(split):
    # tolerances: at n=400 the AUC has a standard error of about 0.02; the 5% quantile that defines a near copy
    # rests on 20 held-out rows, so the near-copy share of fresh rows varies between about 2% and 10%
    train, holdout, fresh, schema = split
    result = privacy_attacks(fresh, train, holdout, schema, sensitive="smoker")
    assert result.near_copy_share <= 0.10
    assert abs(result.mia_auc - 0.5) <= 0.07
    assert result.mia_interval[0] <= 0.5 <= result.mia_interval[1] + 0.05
    assert abs(result.attribute.advantage) <= 0.12
    assert result.nndr["q50"] == pytest.approx(result.nndr_holdout["q50"], abs=0.15)
    dcr = distance_to_closest_record(fresh, train, holdout, schema)
    lo, hi = dcr.share_interval
    assert lo <= dcr.share_closer_to_train <= hi and abs(dcr.share_closer_to_train - 0.5) <= 0.15


def test_echoes_of_half_the_records_are_caught(split):
    train, holdout, fresh, schema = split
    echoes = train.head(200).assign(bmi=lambda f: (f["bmi"] * 1.004).round(1))
    result = privacy_attacks(pd.concat([echoes, fresh.head(200)]), train, holdout, schema)
    assert 0.4 <= result.near_copy_share <= 0.65
    assert result.mia_auc >= 0.65


def test_numeric_attribute_inference_uses_the_error_in_spreads(split):
    train, holdout, _, schema = split
    result = privacy_attacks(train, train, holdout, schema)  # sensitive: the target, charges
    assert result.attribute.column == "charges" and result.attribute.metric == "mean_abs_error"
    # records that agree on every other column can swap values, so the error is near, not at, zero
    assert result.attribute.synthetic < 0.05 and result.attribute.advantage > 0.4


def test_auc_matches_scikit_learn_with_ties():
    rng = np.random.default_rng(3)
    members, others = rng.integers(0, 5, 40).astype(float), rng.integers(0, 5, 50).astype(float)
    expected = roc_auc_score(np.r_[np.ones(40), np.zeros(50)], np.r_[members, others])
    assert auc(members, others) == pytest.approx(expected)


def test_bad_input_is_refused_by_name(split):
    train, holdout, _, schema = split
    with pytest.raises(ConfigError, match="sensitive column 'income'"):
        privacy_attacks(train, train, holdout, schema, sensitive="income")
    with pytest.raises(ConfigError, match="at least 2"):
        privacy_attacks(train, train, holdout.head(1), schema)


def test_evaluate_reports_the_attacks(split):
    train, holdout, fresh, schema = split
    report = evaluate(fresh, train, holdout, target="charges", schema=schema, detection=False).to_dict()
    attacks = report["attacks"]
    assert set(attacks) >= {"near_copy_share", "mia_auc", "mia_interval", "nndr", "attribute"}
    assert report["privacy"]["share_interval"] is not None
