"""Rules across columns end to end: fit + sample through the fake OpenAI-compatible server, API and CLI.

The table is tests/data/clinic.csv (written by tests/data/make_clinic.py) with five kinds of rule: dates,
a comparison between columns, an implication, a linear bound, allowed combinations learnt from the rows.
The simulated responder knows nothing of the rules, so it breaks them; every returned row must obey them
all (checked here with pandas, independently of the library), and the rejections are counted by rule. The
last test does the same with the real embedded model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from mallm_gan import MallmGan
from mallm_gan.cli import _load_commands, app
from mallm_gan.errors import ConfigError
from mallm_gan.testing.simulated import SimulatedResponder

CLINIC = Path(__file__).resolve().parents[1] / "data" / "clinic.csv"
RULES = [
    "discharge_date >= admission_date",
    "discharge_date - admission_date <= 30",
    "age_at_diagnosis <= age",
    'smoker != "yes" -> cigarettes_per_day == 0',
    "dose_mg <= 10 * weight_kg",
    "(sex, pregnant) in training",
]
DAG = [["admission_date", "discharge_date"], ["age", "age_at_diagnosis"], ["smoker", "cigarettes_per_day"],
       ["sex", "pregnant"], ["weight_kg", "dose_mg"]]

_load_commands()
runner = CliRunner()


def assert_obeys_every_rule(rows: pd.DataFrame, train: pd.DataFrame) -> None:
    admitted, discharged = pd.to_datetime(rows["admission_date"]), pd.to_datetime(rows["discharge_date"])
    assert (discharged >= admitted).all()
    assert ((discharged - admitted).dt.days <= 30).all()
    assert (rows["age_at_diagnosis"] <= rows["age"]).all()
    assert ((rows["smoker"] == "yes") | (rows["cigarettes_per_day"] == 0)).all()
    assert (rows["dose_mg"] <= 10 * rows["weight_kg"]).all()
    allowed = set(zip(train["sex"], train["pregnant"], strict=True))
    assert set(zip(rows["sex"], rows["pregnant"], strict=True)) <= allowed


def _is_generator(request: dict[str, Any]) -> bool:
    return ((request.get("response_format") or {}).get("json_schema") or {}).get("schema", {}).get("title") == "rows"


def test_fit_and_sample_return_only_rows_that_obey_every_rule(fake_server, tmp_path):
    train = pd.read_csv(CLINIC)
    server = fake_server(SimulatedResponder())
    model = MallmGan(llm=f"openai:fake@{server.url}", epochs=1, batch_size=20, random_state=0, constraints=RULES)
    model.fit(train, target="outcome", dag=DAG, run_dir=tmp_path / "run")

    assert len(model.schema_.constraints) == 6
    training = [e.report for e in model.history_.entries]
    assert sum(r["reasons"].get("constraint_violated", 0) for r in training) > 0
    for entry in model.history_.entries:
        assert_obeys_every_rule(model.schema_.cast(pd.DataFrame(entry.synthetic, columns=model.schema_.names)), train)

    rows = model.sample(40)
    assert len(rows) == 40
    assert_obeys_every_rule(rows, train)
    counts = model.sample_report_.to_dict()
    assert counts["reasons"]["constraint_violated"] > 0
    names = {*RULES[:3], 'if smoker != "yes" then cigarettes_per_day == 0', *RULES[4:]}  # canonical texts
    assert set(counts["by_column"]["constraint_violated"]) <= names

    generator = next(r["body"] for r in server.requests if _is_generator(r["body"]))
    system = generator["messages"][0]["content"]
    assert "Rules every row must obey:\n- discharge_date >= admission_date" in system
    row_schema = generator["response_format"]["json_schema"]["schema"]["properties"]["rows"]["items"]
    assert len(row_schema["anyOf"]) == 2  # female: yes/no; male: no

    # the rules travel with the model, and combine with conditions
    loaded = MallmGan.load(tmp_path / "run", llm=f"openai:fake@{server.url}")
    assert loaded.schema_.constraints == model.schema_.constraints
    men = loaded.sample(20, conditions={"sex": "male", "age": (60, None)})
    assert len(men) == 20 and set(men["pregnant"]) == {"no"} and (men["age"] >= 60).all()
    assert_obeys_every_rule(men, train)
    with pytest.raises(ConfigError, match=r"no row can satisfy constraint .*cigarettes_per_day == 0.* together with"):
        loaded.sample(5, conditions={"smoker": "no", "cigarettes_per_day": (5, None)})


def _cli(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_cli_constraints_metadata_report_and_errors(fake_server, tmp_path):
    server = fake_server(SimulatedResponder())
    llm = f"openai:fake@{server.url}"
    dag = tmp_path / "dag.json"
    dag.write_text(json.dumps(DAG))
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"constraints": [{"name": "diagnosed before now", "rule": "age_at_diagnosis <= age"}]}))
    run = tmp_path / "run"
    common = ["--target", "outcome", "--llm", llm, "--epochs", "1", "--batch-size", "20", "--seed", "0",
              "--dag", str(dag)]
    flags = [part for rule in RULES[:2] + RULES[3:] for part in ("--constraint", rule)]
    result = _cli("fit", str(CLINIC), *common, "--metadata", str(meta), *flags, "--out", str(run))
    assert result.exit_code == 0, result.output
    saved = json.loads((run / "model.json").read_text())
    assert saved["schema"]["constraints"][0] == "`diagnosed before now`: age_at_diagnosis <= age"
    assert saved["params"]["constraints"] == RULES[:2] + RULES[3:]
    html = (run / "report.html").read_text()
    assert "constraint violated" in html

    out = tmp_path / "s.csv"
    result = _cli("sample", str(run), "--rows", "30", "--where", "smoker=no", "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out)
    assert len(rows) == 30 and (rows["cigarettes_per_day"] == 0).all()
    assert_obeys_every_rule(rows, pd.read_csv(CLINIC))

    result = _cli("sample", str(run), "--rows", "5", "--where", "smoker=no", "--where", "cigarettes_per_day>=5",
                  "--out", str(out))
    assert result.exit_code == 2 and "no row can satisfy constraint" in result.output

    bad = _cli("fit", str(CLINIC), *common, "--constraint", "dose_mg <= = weight_kg", "--out", str(tmp_path / "b"))
    assert bad.exit_code == 2 and "found '=' at position 12\n  dose_mg <= = weight_kg\n" + " " * 13 + "^" in bad.output
    typo = _cli("fit", str(CLINIC), *common, "--constraint", "dose_mg <= weight", "--out", str(tmp_path / "t"))
    assert typo.exit_code == 2 and "did you mean 'weight_kg'" in typo.output
    broken = ["--constraint", "dose_mg <= 5 * weight_kg"]
    refused = _cli("fit", str(CLINIC), *common, *broken, "--out", str(tmp_path / "r"))
    assert refused.exit_code == 3 and "training rows break the constraints" in refused.output
    assert "--allow-violations" in refused.output
    allowed = _cli("fit", str(CLINIC), *common, *broken, "--allow-violations", "--no-report", "--out",
                   str(tmp_path / "a"))
    assert allowed.exit_code == 0, allowed.output


@pytest.mark.real_llm
@pytest.mark.timeout(600)  # about a minute on an idle 2-core machine; a busy one is several times slower
def test_rules_hold_with_smollm2(smollm2_path: Path) -> None:
    """The same with the real embedded model, SmolLM2-135M-Instruct, in one small iteration: a model this small
    breaks rules often, and every rejection must be accounted for."""
    train = pd.read_csv(CLINIC).head(20)
    # the release gate off: a model this small mostly echoes its examples, and the gate (on by default)
    # withholds those near copies, which leaves too few rows to test the rules on; the gate has its own tests
    model = MallmGan(llm=f"local:{smollm2_path}", epochs=1, batch_size=12, n_examples=4, rows_per_call=4,
                     random_state=0, constraints=RULES, release_gate="off")
    model.fit(train, target="outcome", dag=DAG)
    entry = model.history_.entries[0]
    assert entry.report["accepted"] >= 3
    synthetic = model.schema_.cast(pd.DataFrame(entry.synthetic, columns=model.schema_.names))
    assert_obeys_every_rule(synthetic, train)

    rows = model.sample(4)
    assert len(rows) == 4
    assert_obeys_every_rule(rows, train)
    report = model.sample_report_.to_dict()
    written = report["generated"]
    assert report["accepted"] >= 4 and written >= report["accepted"]  # a round may accept more than it returns
    # every rejection is accounted for, by reason and, for the rules, by rule name
    assert sum(report["reasons"].values()) == written - report["accepted"]
    by_rule = report["by_column"].get("constraint_violated", {})
    assert sum(by_rule.values()) == report["reasons"].get("constraint_violated", 0)
