"""Live tests against a real endpoint named by ``MALLM_LIVE_LLM`` (an LLM spec); skipped when it is unset.

    MALLM_LIVE_LLM=openai:gpt-4o-mini OPENAI_API_KEY=... pytest -m live tests/live

They send 25 rows of the bundled asia table (synthetic Bayesian-network data, no person's record) to it.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mallm_gan.cli import _load_commands, app

SPEC = os.environ.get("MALLM_LIVE_LLM", "").strip()
pytestmark = [
    pytest.mark.live,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not SPEC, reason="set MALLM_LIVE_LLM to an LLM spec to run the live tests"),
]
_load_commands()
runner = CliRunner()


@pytest.fixture
def asia25(tmp_path: Path) -> Path:
    source = resources.files("mallm_gan") / "data" / "asia_train.csv"
    path = tmp_path / "asia25.csv"
    pd.read_csv(source).head(25).to_csv(path, index=False)
    return path


def test_check() -> None:
    result = runner.invoke(app, ["check", "--llm", SPEC])
    assert result.exit_code == 0, result.output


def test_fit_and_sample(asia25: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    options = ["--epochs", "1", "--batch-size", "25", "--seed", "0", "--no-report", "--out", str(run)]
    fitted = runner.invoke(app, ["fit", str(asia25), "--target", "Dyspnea", "--llm", SPEC, *options])
    assert fitted.exit_code == 0, fitted.output
    modes = json.loads((run / "model.json").read_text())["usage"].get("structured_output") or {}
    assert modes, "the structured-output mode the endpoint took is recorded"
    out = tmp_path / "synthetic.csv"
    sampled = runner.invoke(app, ["sample", str(run), "--rows", "10", "--out", str(out)])
    assert sampled.exit_code == 0, sampled.output
    assert len(pd.read_csv(out)) == 10
