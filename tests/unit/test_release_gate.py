"""The release gate: its settings, its calibrated threshold, what it rejects and what the k-rule keeps."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from mallm_gan import MallmGan
from mallm_gan.errors import ConfigError
from mallm_gan.gan.gate import ReleaseGate, parse_gate
from mallm_gan.gan.validation import RowValidator
from mallm_gan.settings import IDENTITY, Settings
from mallm_gan.table.coerce import normalise_frame
from mallm_gan.table.schema import TableSchema


def people(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.integers(18, 80, n),
        "bmi": rng.normal(28, 5, n).round(1),
        "sex": rng.choice(["female", "male"], n),
        "smoker": rng.choice(["yes", "no"], n),
    })


@pytest.mark.parametrize(("value", "expected"), [
    ("off", ("off", None)), (None, ("off", None)), ("AUTO", ("auto", None)), ("0.4", ("value", 0.4)),
    (0, ("value", 0.0)), (1.5, ("value", 1.5)),
])
def test_parse_gate(value, expected):
    assert parse_gate(value) == expected


@pytest.mark.parametrize("value", ["sometimes", -0.1, float("nan"), True])
def test_bad_gate_settings_are_refused_by_name(value):
    with pytest.raises(ConfigError, match="release gate"):
        parse_gate(value)


def test_auto_threshold_is_the_low_quantile_of_leave_one_out_distances():
    train = people()
    schema = TableSchema.from_dataframe(train)
    tuples = normalise_frame(train, schema)
    gate = ReleaseGate("auto").fit(schema, tuples, Counter(tuples))
    # the same quantile worked out by brute force, with the spread of each numeric column
    numbers = train[["age", "bmi"]].to_numpy(float)
    std = numbers.std(axis=0)
    cats = train[["sex", "smoker"]].to_numpy()
    loo = []
    for i in range(len(train)):
        d = (np.abs(numbers - numbers[i]) / std).sum(axis=1) + (cats != cats[i]).sum(axis=1)
        d[i] = np.inf
        loo.append(d.min())
    assert gate.threshold_ == pytest.approx(np.quantile(loo, 0.05))
    assert gate.mode_ == "auto" and "5% quantile" in gate.source_ and gate.reference_ == len(train)
    assert gate.to_dict()["threshold"] == gate.threshold_


def test_auto_gate_rejects_echoes_and_keeps_fresh_rows():
    train = people()
    schema = TableSchema.from_dataframe(train)
    validator = RowValidator(schema, train, release_gate="auto")
    # an example with one number moved by 0.1 (0.02 spreads): no exact copy, but nearer than anyone real
    echoes = [dict(r, bmi=round(r["bmi"] + 0.1, 1)) for r in train.head(10).to_dict("records")]
    fresh = people(30, seed=1).to_dict("records")
    result = validator.validate(echoes + fresh)
    assert result.report.reasons["near_copy"] == len(echoes) > 0
    assert result.report.accepted >= 0.8 * len(fresh)


def test_off_and_a_value_and_the_old_spelling():
    train = people()
    schema = TableSchema.from_dataframe(train)
    echo = dict(train.iloc[0].to_dict(), bmi=float(train.iloc[0]["bmi"]) + 0.1)
    assert RowValidator(schema, train, release_gate="off").validate([echo]).report.accepted == 1
    assert RowValidator(schema, train, release_gate=0.5).validate([echo]).report.reasons == {"near_copy": 1}
    assert RowValidator(schema, train, dcr_threshold=0.5).validate([echo]).report.reasons == {"near_copy": 1}
    assert RowValidator(schema, train, release_gate=0.001).validate([echo]).report.accepted == 1


def test_on_a_categorical_table_the_gate_leaves_shared_rows_to_the_k_rule():
    # every row occurs at least twice: a copy identifies no one and nothing is rare enough to protect
    train = pd.DataFrame({"a": ["x", "y"] * 10, "b": ["p", "q", "q", "p"] * 5})
    schema = TableSchema.from_dataframe(train)
    validator = RowValidator(schema, train, release_gate="auto")
    assert not validator.gate_.active and "nothing to protect" in validator.gate_.source_
    result = validator.validate(train.head(4).to_dict("records"))
    assert result.report.accepted == 4 and result.report.shared_copies == 4


def test_a_row_that_is_a_training_record_is_judged_by_the_k_rule_not_the_gate():
    train = people()
    schema = TableSchema.from_dataframe(train)
    copy = train.iloc[3].to_dict()
    allow = RowValidator(schema, train, copy_policy="allow", release_gate="auto").validate([copy])
    assert allow.report.accepted == 1 and allow.report.unique_copies == 1
    k = RowValidator(schema, train, release_gate="auto").validate([copy])
    assert k.report.reasons == {"copy_of_unique_record": 1}


def test_mallm_gan_defaults_to_auto_and_refuses_two_disagreeing_spellings():
    assert MallmGan().release_gate == "auto" and Settings().gate() == "auto"
    assert Settings(dcr_threshold=0.4).gate() == 0.4
    assert Settings(release_gate="0.4", dcr_threshold=0.4).gate() == 0.4
    with pytest.raises(ConfigError, match="disagree"):
        Settings(release_gate=0.3, dcr_threshold=0.4)
    with pytest.raises(ConfigError, match="disagree"):
        Settings(release_gate="off", dcr_threshold=0.4)
    with pytest.raises(ConfigError, match="release gate"):
        Settings(release_gate="maybe")
    with pytest.raises(ConfigError, match="max_exposure"):
        Settings(max_exposure=0)
    # the facade's parameters are checked as settings when it fits
    with pytest.raises(ConfigError, match="disagree"):
        MallmGan(release_gate=0.3, dcr_threshold=0.4)._settings()


def test_the_gate_and_the_exposure_cap_are_part_of_the_run_identity():
    assert {"release_gate", "max_exposure"} <= set(IDENTITY)
    assert Settings(release_gate="off").identity() != Settings().identity()
    assert Settings(max_exposure=3).identity() != Settings().identity()
