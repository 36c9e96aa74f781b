"""`mallm-gan fit` / `sample` as a user runs them, backed by the fake OpenAI-compatible server."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from mallm_gan.cli import _load_commands, app
from mallm_gan.table.schema import TableSchema
from mallm_gan.testing.simulated import SimulatedResponder

_load_commands()
runner = CliRunner()


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(("name", "n", "target"), [("asia", 50, "Dyspnea"), ("insurance", 100, "charges")])
def test_fit_then_sample(fake_server, shared_data, tmp_path, name, n, target):
    server = fake_server(SimulatedResponder())
    train_path = shared_data / name / "splits" / f"n{n}" / "train.csv"
    run = tmp_path / "run"
    out = _run("fit", str(train_path), "--target", target, "--llm", f"openai:fake@{server.url}", "--epochs", "2",
               "--seed", "1", "--out", str(run), "--no-report")
    assert "real rows will be sent to" in out
    model = json.loads((run / "model.json").read_text())
    assert model["history"] and all(len(e["rescored"]) >= 1 for e in model["history"])
    assert "real training rows" in model["warning"]

    synthetic_path = tmp_path / "s.csv"
    _run("sample", str(run), "--rows", "200", "--out", str(synthetic_path))
    synthetic = pd.read_csv(synthetic_path)
    train = pd.read_csv(train_path)
    assert len(synthetic) == 200 and list(synthetic.columns) == list(train.columns)

    schema = TableSchema.from_dict(model["schema"])
    for column in schema.columns:
        values = synthetic[column.name]
        if column.kind == "categorical":
            assert set(values.dropna()) <= set(column.categories)
        elif column.kind == "numerical":
            assert values.min() >= column.min and values.max() <= column.max

    train_rows = [tuple(r) for r in schema.cast(train).itertuples(index=False)]
    counts = pd.Series(train_rows).value_counts()
    synthetic_rows = {tuple(r) for r in schema.cast(synthetic).itertuples(index=False)}
    assert not synthetic_rows & {row for row, c in counts.items() if c == 1}
    if name == "insurance":  # continuous columns: no exact copy at all
        assert not synthetic_rows & set(train_rows)


def test_bad_input_gets_a_clear_error(tmp_path):
    empty = tmp_path / "one.csv"
    empty.write_text("a,b\n1,2\n")
    result = runner.invoke(app, ["fit", str(empty), "--out", str(tmp_path / "r"), "--llm", "simulated"])
    assert result.exit_code != 0
    assert "single row" in result.output
    assert "Traceback" not in result.output
