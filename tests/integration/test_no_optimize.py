"""``optimize=False``: the few-shot ablation. fit builds θ without an LLM call; sampling uses it as is."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mallm_gan import MallmGan
from mallm_gan.cli import _load_commands, app
from mallm_gan.errors import ConfigError

pytestmark = pytest.mark.usefixtures("clean_llm_env")


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    smoke = rng.integers(0, 2, 40)
    return pd.DataFrame({"smoke": smoke, "cough": (smoke + rng.integers(0, 2, 40)) % 2,
                         "age": rng.integers(20, 80, 40)})


def test_fit_without_optimizer_makes_no_call_and_samples_from_the_starting_theta(table, tmp_path):
    model = MallmGan(llm="simulated", optimize=False, random_state=0, batch_size=20)
    model.fit(table, target="cough", dag=[["smoke", "cough"]], run_dir=tmp_path / "run")
    assert model.usage_.total.calls == 0 and len(model.history_.entries) == 0
    assert model.theta_ == model.initial_theta_ and model.theta_.dag == (("smoke", "cough"),)
    rows = model.sample(15)
    assert len(rows) == 15 and list(rows.columns) == list(table.columns)
    assert model.sample_usage_.total.calls > 0  # the rows come from the generator at sample time
    loaded = MallmGan.load(tmp_path / "run")
    assert loaded.theta_ == model.theta_ and loaded.optimize is False


def test_a_loop_run_cannot_be_resumed_without_its_optimizer(table, tmp_path):
    run = tmp_path / "run"
    MallmGan(llm="simulated", epochs=1, batch_size=20, random_state=0).fit(table, dag="none", run_dir=run)
    with pytest.raises(ConfigError, match="optimize"):
        MallmGan(llm="simulated", epochs=1, batch_size=20, random_state=0, optimize=False).fit(
            table, dag="none", run_dir=run
        )


def test_optimize_must_be_a_boolean(table):
    with pytest.raises(ConfigError, match="optimize must be True or False"):
        MallmGan(llm="simulated", optimize="no").fit(table)


def test_cli_no_optimize(table, tmp_path):
    _load_commands()
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    result = CliRunner().invoke(
        app, ["fit", str(path), "--out", str(tmp_path / "r"), "--llm", "simulated", "--no-optimize", "--dag", "none"]
    )
    assert result.exit_code == 0, result.output
    assert MallmGan.load(tmp_path / "r").theta_.dag == ()
