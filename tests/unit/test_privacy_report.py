"""The report shows the attacks, the release gate and the exposure, and copes with runs that predate them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mallm_gan.evaluation import evaluate
from mallm_gan.report.evaluation import evaluation_section, privacy_section


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"age": rng.integers(18, 80, n), "bmi": rng.normal(28, 5, n).round(1),
                         "smoker": rng.choice(["yes", "no"], n), "charges": rng.normal(9000, 3000, n).round(2)})


def test_evaluation_section_shows_every_attack():
    train, test = _table(80, 0), _table(80, 1)
    report = evaluate(train, train, test, target="charges", detection=False).to_dict()
    html = evaluation_section(report)
    assert "Privacy attacks" in html and "membership-inference AUC" in html and "attribute inference of charges" in html
    assert "<b>80</b> of 80 (100%)" in html  # a copy of the training rows: every row a near copy
    assert "<b>1.00</b> [1.00, 1.00]" in html


def test_evaluation_without_attacks_says_so():
    assert "predates them" in evaluation_section({"privacy": {"exact_copies": 0}})


def test_privacy_section_shows_threshold_source_rejections_and_exposure():
    privacy = {
        "release_gate": {"mode": "auto", "threshold": 0.4567, "source": "auto: 5% quantile of ...",
                         "protected_records": 98, "rejected": {"fit": 478, "sample": 111}},
        "exposure": {"max_exposure": 3, "rows_sent": 100, "max_row_exposure": 3,
                     "endpoints": {"openai:fake at http://127.0.0.1:1/v1": {
                         "prompts": 160, "rows_sent": 100, "row_appearances": 790, "max_row_exposure": 3}}},
    }
    html = privacy_section(privacy)
    assert "0.457" in html and "5% quantile" in html and "<b>478</b>" in html and "<b>111</b>" in html
    assert "127.0.0.1" in html and "790" in html and "(cap: 3)" in html
    off = privacy_section({"release_gate": {"mode": "off", "threshold": None, "source": "off"}, "exposure": None})
    assert "Release gate: off" in off
    assert "predates" in privacy_section(None)
