"""The optimizer's feedback block on tables where the answer is known."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from mallm_gan.gan.discriminator import Discriminator
from mallm_gan.gan.feedback import (
    correlation_ratio,
    cramers_v,
    dependence,
    edge_checks,
    feedback_block,
    fmt,
    rejection_line,
    unconnected_dependencies,
)
from mallm_gan.table.schema import TableSchema


def _real(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    smoker = rng.choice(["yes", "no"], size=n, p=[0.3, 0.7])
    age = np.round(rng.normal(45, 12, n) + rng.uniform(0, 1e-3, n), 4)
    charges = np.round(5000 + 300 * age + np.where(smoker == "yes", 20000, 0) + rng.normal(0, 2000, n), 4)
    region = rng.choice(["north", "south", "east"], size=n)
    return pd.DataFrame({"age": age, "smoker": smoker, "region": region, "charges": charges})


def _fitted(real: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema) -> Discriminator:
    disc = Discriminator(schema, random_state=0).fit_encoder(real)
    for seed in range(3):
        disc.update(disc.split(real, synthetic, seed), seed)
    return disc


def _first_finding(block: str) -> str:
    match = re.search(r"^1\. (.*)$", block, re.MULTILINE)
    assert match, block
    return match.group(1)


@pytest.mark.parametrize("with_discriminator", [True, False])
def test_a_shifted_number_column_is_named_first(with_discriminator):
    real = _real()
    schema = TableSchema.from_dataframe(real, target="charges")
    synthetic = _real(seed=1)
    synthetic["age"] = synthetic["age"] + 3 * real["age"].std()
    disc = _fitted(real, synthetic, schema) if with_discriminator else None
    block = feedback_block(schema, real, synthetic, [("smoker", "charges")], discriminator=disc)
    first = _first_finding(block)
    assert first.startswith("`age`") and "higher than real" in first, block


def test_a_shifted_category_is_named_first_with_its_direction():
    real = _real()
    schema = TableSchema.from_dataframe(real, target="charges")
    synthetic = _real(seed=2)
    synthetic["smoker"] = "no"
    block = feedback_block(schema, real, synthetic, [], discriminator=_fitted(real, synthetic, schema))
    first = _first_finding(block)
    assert first.startswith("`smoker = ") and ("too few" in first or "too many" in first), block
    assert "0% vs" in first or "100% vs" in first or "0.0% vs" in first or "100.0% vs" in first


def test_a_narrow_number_column_is_called_narrower():
    real = _real()
    schema = TableSchema.from_dataframe(real, target="charges")
    synthetic = _real(seed=3)
    synthetic["charges"] = synthetic["charges"].mean() + 0.2 * (synthetic["charges"] - synthetic["charges"].mean())
    first = _first_finding(feedback_block(schema, real, synthetic, []))
    assert first.startswith("`charges`") and "narrower" in first


def test_no_real_row_or_full_precision_value_is_ever_written():
    real = _real()
    schema = TableSchema.from_dataframe(real, target="charges")
    synthetic = real.sample(frac=1.0, random_state=0).reset_index(drop=True)  # the very rows, reordered
    synthetic["age"] = synthetic["age"] + 10
    block = feedback_block(schema, real, synthetic, [("smoker", "charges"), ("region", "age")],
                           discriminator=_fitted(real, synthetic, schema),
                           report={"generated": 10, "reasons": {"out_of_range": 3}})
    assert block
    for value in [*real["age"], *real["charges"]]:
        assert f"{value}" not in block and f"{value:,.4f}" not in block
    for row in real.itertuples(index=False):
        assert ", ".join(str(v) for v in row) not in block
    # every number in the block has at most three significant digits
    for number in re.findall(r"\d[\d,]*\.?\d*", block):
        digits = number.replace(",", "").replace(".", "").lstrip("0")
        assert len(digits.rstrip("0")) <= 3, number


def test_structure_check_names_lost_absent_and_left_out_dependencies():
    real = _real(n=200)
    schema = TableSchema.from_dataframe(real, target="charges")
    synthetic = _real(n=200, seed=4)
    synthetic["charges"] = synthetic["charges"].sample(frac=1.0, random_state=1).to_numpy()  # breaks the tie
    edges = [("smoker", "charges"), ("region", "smoker")]
    checks = {(c.parent, c.child): c for c in edge_checks(real, synthetic, schema, edges)}
    assert checks["smoker", "charges"].real > 0.6 > 0.3 > checks["smoker", "charges"].synthetic
    assert checks["smoker", "charges"].measure == "correlation ratio"
    block = feedback_block(schema, real, synthetic, edges)
    assert re.search(r"- smoker -> charges: correlation ratio 0\.\d+ in real rows, 0[.\d]* in synthetic rows "
                     r"\(weaker than real\)", block), block
    assert "- region -> smoker: Cramér's V" in block and "consider removing this edge" in block
    assert "- age and charges: correlation" in block and "no edge joins them" in block


def test_dependence_measures_on_known_cases():
    a = np.array(["x", "y"] * 50)
    assert cramers_v(a, a) == pytest.approx(1.0)
    assert cramers_v(a, np.array(["u"] * 50 + ["v"] * 50)) == pytest.approx(0.0)
    assert correlation_ratio(a, np.where(a == "x", 1.0, 5.0)) == pytest.approx(1.0)
    frame = pd.DataFrame({"p": np.arange(10.0), "q": -2 * np.arange(10.0)})
    schema = TableSchema.from_dataframe(frame)
    assert dependence(frame, schema, "p", "q") == (pytest.approx(-1.0), "correlation")
    found = unconnected_dependencies(frame, schema, [("q", "p")])
    assert found == []


def test_rejections_by_reason_and_column():
    report = {"generated": 60, "reasons": {"out_of_range": 8, "copy_of_unique_record": 2},
              "by_column": {"out_of_range": {"bmi": 6, "age": 2}}}
    assert rejection_line(report) == (
        "Rejected 10 of 60 generated rows: out_of_range 8 (bmi 6, age 2); copy_of_unique_record 2."
    )
    assert rejection_line({"generated": 5, "reasons": {}}) is None


def test_the_block_fits_its_budget_and_keeps_the_best_ranked_lines():
    real = _real()
    schema = TableSchema.from_dataframe(real, target="charges")
    synthetic = _real(seed=5)
    synthetic["age"] += 40
    full = feedback_block(schema, real, synthetic, [("region", "smoker")])
    short = feedback_block(schema, real, synthetic, [("region", "smoker")], max_chars=len(full) // 2)
    assert len(short) <= len(full) // 2 < len(full)
    assert _first_finding(short) == _first_finding(full)
    assert feedback_block(schema, real, synthetic, [], max_chars=10) == ""


def test_fmt_three_significant_digits():
    assert [fmt(v) for v in (11893.4, 4.1234, 0.01234, 0.0, -512.9)] == ["11,900", "4.12", "0.0123", "0", "-513"]


def test_the_simulated_optimizer_follows_a_structure_hint_and_answers_edits():
    import json

    from mallm_gan.gan.answer_schema import optimizer_edits_json_schema
    from mallm_gan.gan.prompts import optimizer_messages
    from mallm_gan.testing.simulated import SimulatedResponder
    from mallm_gan.theta.process import DataGenerationProcess

    real = _real()
    schema = TableSchema.from_dataframe(real, target="charges")
    theta = DataGenerationProcess("ctx", (("region", "smoker"),), "Be realistic.")
    block = ("<feedback>\nStrong real dependencies the causal structure leaves out:\n"
             "- smoker and charges: correlation ratio 0.9 in real rows, but no edge joins them\n</feedback>")
    messages = optimizer_messages([(theta, 0.7)], schema, context="ctx", feedback=block, form="edits")
    request = {"messages": messages, "seed": 0, "response_format": {
        "type": "json_schema", "json_schema": {"schema": optimizer_edits_json_schema(schema.names)}}}
    answer = json.loads(SimulatedResponder(follow=1.0)(request))
    assert answer == {"add": [["smoker", "charges"]], "remove": [], "reverse": [], "instruction": "Be realistic."}
    plain = optimizer_messages([(theta, 0.7)], schema, context="ctx", form="edits")
    edits = json.loads(SimulatedResponder(follow=1.0)({**request, "messages": plain}))
    assert sum(len(edits[k]) for k in ("add", "remove", "reverse")) == 1  # one random edit without a hint
