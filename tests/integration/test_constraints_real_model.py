"""Rules across columns with the real embedded model, SmolLM2-135M-Instruct: fit (one small iteration) and
sample on the clinic table; every returned row obeys every rule, and what was rejected is counted by rule.
It measures nothing about quality: a model this small breaks rules often, which is the point."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mallm_gan import MallmGan

from .test_constraints_fit import CLINIC, DAG, RULES, assert_obeys_every_rule

pytestmark = [pytest.mark.real_llm, pytest.mark.timeout(300)]


def test_rules_hold_with_smollm2(smollm2_path: Path) -> None:
    train = pd.read_csv(CLINIC).head(20)
    model = MallmGan(llm=f"local:{smollm2_path}", epochs=1, batch_size=20, n_examples=4, rows_per_call=4,
                     random_state=0, constraints=RULES)
    model.fit(train, target="outcome", dag=DAG)
    (entry,) = model.history_.entries
    assert entry.report["accepted"] >= 4
    synthetic = model.schema_.cast(pd.DataFrame(entry.synthetic, columns=model.schema_.names))
    assert_obeys_every_rule(synthetic, train)

    rows = model.sample(6)
    assert len(rows) == 6
    assert_obeys_every_rule(rows, train)
    report = model.sample_report_.to_dict()
    written = report["generated"]
    assert report["accepted"] == 6 and written >= 6
    # every rejection is accounted for, by reason and, for the rules, by rule name
    assert sum(report["reasons"].values()) == written - report["accepted"]
    by_rule = report["by_column"].get("constraint_violated", {})
    assert sum(by_rule.values()) == report["reasons"].get("constraint_violated", 0)
