"""`mallm-gan demo` end to end with the simulated backend: the four findings are printed and reported."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mallm_gan.cli import _load_commands, app


@pytest.fixture
def runner() -> CliRunner:
    _load_commands()
    return CliRunner()


def test_demo_prints_and_reports_what_it_shows(runner: CliRunner, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    pytest.importorskip("imblearn")
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--llm", "simulated", "--out", str(out)], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    for mark in ("(a) ", "(b) ", "(c) ", "(d) "):
        assert mark in result.output
    # where the time went, so a slow demo says which step was slow
    assert re.search(r"done in \d+ s \(fit \d+ s, sample \d+ s, evaluation and report \d+ s\)", result.output)
    summary = json.loads((out / "run" / "demo.json").read_text())["summary"]
    rows = summary["rows"]
    assert rows["rows"] == 30 and 0 <= rows["new_not_near"] <= rows["new"] <= 30
    assert summary["theta"]["iterations"] == 2
    assert summary["efficacy"]["smote"] is not None and summary["efficacy"]["real"] is not None
    html = (out / "run" / "report.html").read_text()
    assert "What this demo shows" in html and "SMOTE" in html


def test_demo_refuses_an_unknown_example(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--llm", "simulated", "--example", "iris", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "adult" in result.output and "Traceback" not in result.output
