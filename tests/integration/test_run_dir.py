"""A run directory belongs to one run: resuming refuses other settings or another starting θ, and one
process at a time may fit into it."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mallm_gan import MallmGan
from mallm_gan.cli import _load_commands, app
from mallm_gan.cli.app import exit_code
from mallm_gan.errors import ConfigError, RunLockedError
from mallm_gan.synthesizer.runlock import LOCK
from mallm_gan.theta.process import DataGenerationProcess

pytestmark = pytest.mark.usefixtures("clean_llm_env")
_load_commands()


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    smoke = rng.integers(0, 2, 40)
    return pd.DataFrame({"smoke": smoke, "cough": (smoke + rng.integers(0, 2, 40)) % 2,
                         "region": rng.choice(["north", "south"], 40)})


def _model(**params: Any) -> MallmGan:
    settings: dict[str, Any] = {"llm": "simulated", "epochs": 1, "batch_size": 20, "n_examples": 5,
                                "rows_per_call": 5, "random_state": 0}
    return MallmGan(**(settings | params))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"context": "Another table."}, "context= / --context"),
        ({"dag": [["smoke", "cough"]]}, "dag= / --dag"),
        ({"instruction": "Write other rows."}, "instruction="),
        ({"theta": DataGenerationProcess("", (("cough", "smoke"),), "Edited.")}, "theta= / --theta"),
    ],
)
def test_a_new_starting_theta_is_refused_not_silently_resumed(table, tmp_path, change, named):
    run = tmp_path / "run"
    _model().fit(table, run_dir=run, dag="none")
    before = (run / "checkpoint.json").read_text()
    args: dict[str, Any] = {"dag": "none"} | change
    with pytest.raises(ConfigError, match="started from another θ") as info:
        _model(epochs=2).fit(table, run_dir=run, **args)
    assert named in str(info.value) and "--fresh" in str(info.value)
    # nothing that did not run is recorded
    assert (run / "checkpoint.json").read_text() == before
    # asked for, a fresh start runs the new θ and records it
    model = _model(epochs=2).fit(table, run_dir=run, fresh=True, **args)
    saved = json.loads((run / "model.json").read_text())
    assert DataGenerationProcess.from_dict(saved["initial_theta"]) == model.initial_theta_
    assert model.history_.entries[0].theta == model.initial_theta_ and len(model.history_) == 4


@pytest.mark.parametrize("change", [{"selection": "lowest"}, {"max_rounds": 1}, {"optimizer_llm": "simulated:x"}])
def test_resuming_with_another_selection_max_rounds_or_llm_is_refused(table, tmp_path, change):
    run = tmp_path / "run"
    _model().fit(table, run_dir=run)
    with pytest.raises(ConfigError, match="holds a different run") as info:
        _model(epochs=2, **change).fit(table, run_dir=run)
    assert next(iter(change)) in info.value.fields["differs"]


def test_an_unseeded_run_is_reproduced_from_its_saved_seed(table, tmp_path, monkeypatch):
    import mallm_gan.synthesizer.inputs as inputs

    seeds: list[Any] = []
    original = inputs.hill_climb_dag

    def spy(frame, schema, *, random_state=None, **kwargs):
        seeds.append(random_state)
        return original(frame, schema, random_state=random_state, **kwargs)

    monkeypatch.setattr(inputs, "hill_climb_dag", spy)
    model = _model(random_state=None).fit(table, run_dir=tmp_path / "a")
    assert seeds == [model.seed_]
    again = _model(random_state=model.seed_).fit(table, run_dir=tmp_path / "b")
    assert again.initial_theta_ == model.initial_theta_ and again.theta_ == model.theta_
    assert [e.score for e in again.history_.entries] == [e.score for e in model.history_.entries]


def _lock(run: Path, pid: int, host: str | None = None) -> None:
    run.mkdir(parents=True, exist_ok=True)
    (run / LOCK).write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(), "token": "x"}))


def test_a_second_fit_into_a_locked_run_directory_says_who_holds_it(table, tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run = tmp_path / "run"
        _lock(run, holder.pid)
        with pytest.raises(RunLockedError) as info:
            _model().fit(table, run_dir=run)
        assert info.value.pid == holder.pid and str(holder.pid) in str(info.value)
        assert not (run / "checkpoint.json").exists()  # nothing ran
        csv = tmp_path / "t.csv"
        table.to_csv(csv, index=False)
        result = CliRunner().invoke(app, ["fit", str(csv), "--out", str(run), "--llm", "simulated",
                                          "--epochs", "1", "--batch-size", "20", "--no-report"])
        assert result.exit_code == exit_code(RunLockedError), result.output
        assert f"in use by process {holder.pid}" in result.output
    finally:
        holder.kill()
        holder.wait()


def test_a_stale_lock_is_taken_over_with_a_notice(table, tmp_path, caplog):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    run = tmp_path / "run"
    _lock(run, gone.pid)
    with caplog.at_level(logging.WARNING, logger="mallm_gan.synthesizer.runlock"):
        model = _model().fit(table, run_dir=run)
    assert len(model.history_) == 2
    assert any(f"process {gone.pid}" in r.getMessage() and "no longer exists" in r.getMessage()
               for r in caplog.records)
    assert not (run / LOCK).exists()  # released at the end


def test_a_lock_of_another_host_is_respected_and_a_failed_fit_releases_its_own(table, tmp_path):
    run = tmp_path / "run"
    _lock(run, os.getpid(), host="some-other-host")
    with pytest.raises(RunLockedError, match="some-other-host"):
        _model().fit(table, run_dir=run)
    (run / LOCK).unlink()
    with pytest.raises(ConfigError):
        _model().fit(table, run_dir=run, dag="not-a-dag")
    assert not (run / LOCK).exists()


def test_sampling_needs_no_lock(table, tmp_path):
    run = tmp_path / "run"
    _model().fit(table, run_dir=run)
    _lock(run, os.getpid())  # as if a fit were running
    assert len(MallmGan.load(run).sample(5)) == 5


def test_a_checkpoint_written_before_the_new_fields_still_resumes(table, tmp_path):
    run = tmp_path / "run"
    stopped = _model(epochs=2, patience=None, max_calls=6).fit(table, run_dir=run)
    assert stopped.stop_reason_ is not None and stopped.stop_reason_.value == "budget"
    path = run / "checkpoint.json"
    state = json.loads(path.read_text())
    for name in ("selection", "max_rounds", "llm", "optimizer_llm"):
        del state["identity"][name]
    state.pop("stop_reason")
    pending = state.pop("proposal_pending")
    if pending:
        state["current_origin"] = "pending proposal"  # how such a checkpoint said it
    path.write_text(json.dumps(state))
    resumed = _model(epochs=2).fit(table, run_dir=run)
    full = _model(epochs=2).fit(table, run_dir=tmp_path / "full")
    assert [e.theta for e in resumed.history_.entries] == [e.theta for e in full.history_.entries]
    assert resumed.theta_ == full.theta_ and resumed.stopped_ is None
    # and the parameters it saved still tell a changed one apart
    path.write_text(json.dumps(state))
    with pytest.raises(ConfigError, match="selection"):
        _model(epochs=2, selection="lowest").fit(table, run_dir=run)


def test_the_cli_names_the_option_that_changed_and_starts_over_with_fresh(table, tmp_path):
    csv, run = tmp_path / "t.csv", tmp_path / "run"
    table.to_csv(csv, index=False)
    base = ["fit", str(csv), "--out", str(run), "--llm", "simulated", "--epochs", "1", "--batch-size", "20",
            "--seed", "0", "--no-report"]
    assert CliRunner().invoke(app, base).exit_code == 0
    dag = tmp_path / "dag.json"
    dag.write_text(json.dumps([["smoke", "cough"]]))
    refused = CliRunner().invoke(app, [*base, "--dag", str(dag)])
    assert refused.exit_code == exit_code(ConfigError) and "--dag" in refused.output, refused.output
    assert json.loads((run / "model.json").read_text())["initial_theta"]["dag"] != [["smoke", "cough"]]
    fresh = CliRunner().invoke(app, [*base, "--dag", str(dag), "--fresh"])
    assert fresh.exit_code == 0, fresh.output
    assert json.loads((run / "model.json").read_text())["initial_theta"]["dag"] == [["smoke", "cough"]]


def test_a_run_with_other_rules_is_another_run(table, tmp_path):
    run = tmp_path / "run"
    _model(constraints=["cough >= 0"]).fit(table, run_dir=run, dag="none")
    saved = json.loads((run / "checkpoint.json").read_text())
    assert saved["identity"]["constraints"] == ["cough >= 0"]
    with pytest.raises(ConfigError, match=r"differs in: constraints"):
        _model(epochs=2).fit(table, run_dir=run, dag="none")
    # a rule from the metadata file is a rule of the run as well
    with pytest.raises(ConfigError, match=r"differs in: constraints"):
        _model(epochs=2).fit(table, run_dir=run, dag="none", metadata={"constraints": ["smoke >= 0"]})
    _model(epochs=2, constraints=["cough >= 0"]).fit(table, run_dir=run, dag="none")
