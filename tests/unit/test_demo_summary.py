"""The demo's findings: new rows against the held-out reference, θ's change, and the plain sentences."""

from __future__ import annotations

import pandas as pd

from mallm_gan.report.demo import demo_section, new_rows, summary_lines
from mallm_gan.table.schema import TableSchema

TRAIN = pd.DataFrame({"age": [20, 30, 40, 50, 60, 70], "job": ["a", "b", "a", "b", "a", "b"]})
HOLDOUT = pd.DataFrame({"age": [25, 35, 45, 55, 65, 75], "job": ["a", "b", "b", "a", "a", "b"]})


def summary(theta: dict) -> dict:
    return {
        "rows": {"rows": 10, "new": 8, "new_not_near": 6, "share_new": 0.8, "share_new_not_near": 0.6},
        "theta": theta,
        "efficacy": {"synthetic": 0.71, "smote": 0.74, "real": 0.78, "smote_note": None},
    }


def test_copies_and_near_copies_are_counted_against_held_out_rows() -> None:
    schema = TableSchema.from_dataframe(TRAIN)
    synthetic = pd.DataFrame({"age": [20, 21, 36, 90], "job": ["a", "a", "b", "b"]})
    out = new_rows(synthetic, TRAIN, HOLDOUT, schema)
    assert out["rows"] == 4 and out["new"] == 3  # (20, a) is a training row
    # (21, a) is nearer a training row than real held-out rows come: a near-copy, not counted as far
    assert out["new_not_near"] == 2 and out["near_copy_threshold"] > 0


def test_a_theta_the_optimizer_never_changed_is_said_plainly() -> None:
    lines = summary_lines(summary({"iterations": 2, "start_score": 0.6, "best_iteration": 1, "changed": False}))
    assert lines[1].startswith("(b) the optimizer did not change θ within 2 iteration(s)")
    assert "no learning of θ" in lines[1]
    assert [line[:3] for line in lines] == ["(a)", "(b)", "(c)", "(d)"]
    # (d) says what a bigger model is for, and claims no effect that was not measured
    assert "GPT-4o-class" in lines[3] and "--llm" in lines[3] and "qwen2.5-coder-1.5b" in lines[3]
    assert "more closely" not in lines[3]


def test_a_changed_theta_names_its_edges_scores_and_whether_it_was_used() -> None:
    theta = {
        "iterations": 2, "start_score": 0.62, "best_iteration": 2, "changed": True, "iteration": 2, "score": 0.51,
        "added": [["age", "job"]], "removed": [], "instruction_changed": True, "instruction": "x", "selected": True,
    }
    lines = summary_lines(summary(theta))
    assert "+age -> job" in lines[1] and "0.51 against 0.62" in lines[1] and "selected as the best θ" in lines[1]
    assert "SMOTE's rows 0.74" in lines[2]
    html = demo_section(summary(theta) | {"llm": "local model", "seconds": 99.0})
    assert "What this demo shows" in html and "+age -&gt; job" in html
    assert demo_section(None) == "" and demo_section({}) == ""
