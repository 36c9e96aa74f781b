"""The release gate, exposure records and the saved --local-only guard, end to end through the fake server.

The memorising stand-in answers half its rows with an example row whose numbers are moved by < 0.5%; the data
is the insurance N=100 split shipped in tests/data/insurance/splits/n100.
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
from mallm_gan.cli.app import exit_code
from mallm_gan.errors import BudgetExceededError, ConfigError
from mallm_gan.evaluation import privacy_attacks
from mallm_gan.llm.openai_compat import OpenAICompatClient
from mallm_gan.table.schema import TableSchema
from mallm_gan.testing.responders import MemorisingResponder

DATA = Path(__file__).resolve().parents[1] / "data" / "insurance" / "splits" / "n100"
SETTINGS: dict[str, Any] = {"epochs": 1, "batch_size": 50, "random_state": 0}
runner = CliRunner()
_load_commands()


@pytest.fixture(scope="module")
def insurance() -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_csv(DATA / "train.csv"), pd.read_csv(DATA / "test.csv")


def _cli(*args: Any) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def _fit_sample(url: str, train: pd.DataFrame, run_dir: Path, **params: Any) -> tuple[MallmGan, pd.DataFrame]:
    model = MallmGan(llm=f"openai:fake@{url}", **(SETTINGS | params))
    model.fit(train, target="charges", dag="none", run_dir=run_dir)
    return model, model.sample(60)


def test_default_gate_withholds_the_memorised_rows(fake_server, insurance, tmp_path):
    train, test = insurance
    schema = TableSchema.from_dataframe(train, target="charges")
    responder = MemorisingResponder(seed=0)
    server = fake_server(responder)
    model, rows = _fit_sample(server.url, train, tmp_path / "gated")
    gated = privacy_attacks(rows, train, test.iloc[100:], schema)
    assert responder.memorised > 0 and model.sample_report_.reasons["near_copy"] > 0
    assert gated.near_copy_share <= 0.15 and gated.mia_auc <= 0.62
    _, open_rows = _fit_sample(server.url, train, tmp_path / "open", release_gate="off")
    ungated = privacy_attacks(open_rows, train, test.iloc[100:], schema)
    assert ungated.near_copy_share >= 0.3 > gated.near_copy_share
    # what the gate did is on record in model.json
    saved = json.loads((tmp_path / "gated" / "model.json").read_text())["privacy"]
    gate = saved["release_gate"]
    assert gate["mode"] == "auto" and gate["threshold"] > 0 and "leave-one-out" in gate["source"]
    assert gate["rejected"]["fit"] > 0
    exposure = saved["exposure"]
    (endpoint, info), = exposure["endpoints"].items()
    assert "127.0.0.1" in endpoint and info["rows_sent"] == exposure["rows_sent"] <= len(train)
    assert exposure["max_row_exposure"] >= 1 and sum(exposure["per_row"][endpoint].values()) == info["row_appearances"]


def test_max_exposure_caps_every_row_and_says_when_it_stops(fake_server, insurance, tmp_path):
    train, _ = insurance
    server = fake_server(MemorisingResponder(seed=1))
    model = MallmGan(llm=f"openai:fake@{server.url}", **(SETTINGS | {"max_exposure": 2}))
    model.fit(train, target="charges", dag="none")
    assert model.exposure_.summary()["max_row_exposure"] <= 2
    with pytest.raises(BudgetExceededError, match="max_exposure=2"):
        model.sample(2000)
    assert model.exposure_.summary()["max_row_exposure"] <= 2


def test_cli_prints_the_gate_and_the_exposure_and_sample_records_it(fake_server, insurance, tmp_path):
    train, _ = insurance
    server = fake_server(MemorisingResponder(seed=2))
    path = tmp_path / "train.csv"
    train.to_csv(path, index=False)
    run = tmp_path / "run"
    fit = _cli("fit", path, "--target", "charges", "--epochs", "1", "--seed", "0", "--dag", "none", "--no-report",
               "--llm", f"openai:fake@{server.url}", "--dcr-threshold", "0.4", "--out", run)
    assert fit.exit_code == 0, fit.output
    assert "release gate: threshold 0.400 (given)" in fit.output and "exposure: " in fit.output
    before = json.loads((run / "model.json").read_text())["privacy"]["exposure"]["rows_sent"]
    sample = _cli("sample", run, "--rows", "20", "--out", tmp_path / "s.csv")
    assert sample.exit_code == 0, sample.output
    assert "release gate: threshold 0.400" in sample.output
    saved = json.loads((run / "model.json").read_text())["privacy"]
    assert saved["exposure"]["rows_sent"] >= before and saved["release_gate"]["rejected"]["sample"] >= 0
    override = _cli("sample", run, "--rows", "5", "--release-gate", "off", "--out", tmp_path / "t.csv")
    assert override.exit_code == 0, override.output
    assert "overriding the saved release_gate" in override.output and "release gate: off" in override.output


def test_a_saved_local_only_guard_is_kept_by_sample(fake_server, insurance, tmp_path, monkeypatch):
    train, _ = insurance
    server = fake_server(MemorisingResponder(seed=3))
    run = tmp_path / "run"
    MallmGan(llm=f"openai:fake@{server.url}", local_only=True, **SETTINGS).fit(
        train, target="charges", dag="none", run_dir=run
    )
    sent: list[Any] = []

    async def refuse(self: OpenAICompatClient, request: dict[str, Any]) -> dict[str, Any]:
        sent.append(request)
        raise ConfigError("no request may reach the remote endpoint in this test")

    monkeypatch.setattr(OpenAICompatClient, "_send", refuse)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    remote = "openai:gpt-4o@https://example.invalid/v1"
    # no --local-only on the command line: the saved guard still refuses the remote endpoint
    result = _cli("sample", run, "--rows", "5", "--llm", remote, "--out", tmp_path / "s.csv")
    assert result.exit_code == exit_code(ConfigError), result.output
    assert "--local-only" in result.output and "example.invalid" in result.output and not sent
    # lifting it takes an explicit flag, and the CLI says so
    result = _cli("sample", run, "--rows", "5", "--llm", remote, "--no-local-only", "--out", tmp_path / "s.csv")
    assert "overriding the saved local_only=True with False" in result.output
    assert sent  # the guard was lifted: the request went to the (patched) remote client
    assert MallmGan.load(run).local_only is True
