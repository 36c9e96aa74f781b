"""The benchmark runner end to end on a tiny data directory built in tmp_path, and the two CLI commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mallm_gan import synthesizer
from mallm_gan.benchmark.grid import (
    CELLS_FILE,
    BenchmarkConfig,
    Cell,
    fit_sample_mallm_gan,
    read_records,
    run_benchmark,
    run_cell,
    synthetic_path,
)
from mallm_gan.cli import _load_commands, app
from mallm_gan.errors import ConfigError, LLMTransportError
from mallm_gan.gan.optimizer import History
from mallm_gan.llm.usage import UsageTracker
from mallm_gan.table.schema import TableSchema
from mallm_gan.theta.process import DataGenerationProcess

TARGET = "kind (a), or (b)"  # commas and parentheses, like magic's target column


def make_data_dir(root: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 160
    x = rng.normal(size=n)
    cls = pd.DataFrame(
        {
            "x": x.round(3),
            "z": rng.normal(size=n).round(2),
            "c": rng.choice(["u", "v", "w"], n),
            TARGET: np.where(x + rng.normal(scale=0.5, size=n) > 0, "a", "b"),
        }
    )
    reg = pd.DataFrame({"age": rng.integers(18, 70, n), "smoker": rng.choice(["yes", "no"], n)})
    reg["cost"] = (reg["age"] * 100 + np.where(reg["smoker"] == "yes", 5000, 0) + rng.normal(0, 300, n)).round(2)
    for name, frame in (("cls", cls), ("reg", reg)):
        folder = root / name
        (folder / "splits" / "n20").mkdir(parents=True)
        frame.to_csv(folder / "full.csv.gz", index=False)
        frame.iloc[:20].to_csv(folder / "splits" / "n20" / "train.csv", index=False)
        frame.iloc[20:60].to_csv(folder / "splits" / "n20" / "test.csv", index=False)
    catalog = {
        "cls": {"context": "Toy classification.", "target": TARGET, "task": "classification"},
        "reg": {"context": "Toy regression.", "target": "cost", "task": "regression"},
    }
    (root / "datasets.json").write_text(json.dumps(catalog), encoding="utf-8")
    return root


def config(root: Path, out: Path, **kwargs) -> BenchmarkConfig:
    defaults = dict(
        datasets=["cls", "reg"],
        sizes=[20, 30],
        models=["real", "smote", "gaussian-copula"],
        seeds=[0, 1],
        out=out,
        data_dir=root,
        n_test=40,
        detection=False,
    )
    return BenchmarkConfig(**{**defaults, **kwargs})


def test_grid_runs_resumes_and_summarises(tmp_path):
    root = make_data_dir(tmp_path / "data")
    out = tmp_path / "results"
    seen = []
    written = run_benchmark(config(root, out), on_cell=lambda record, done, total: seen.append((done, total)))
    assert len(written) == 2 * 2 * 3 * 2 and seen[-1] == (24, 24)
    assert all(r["status"] == "ok" for r in written), [r.get("message") for r in written]
    assert {r["metric"] for r in written} == {"f1", "r2"}
    real = [r for r in written if r["model"] == "real"]
    assert all(r["privacy"]["exact_copies"] == r["n"] for r in real)

    again = run_benchmark(config(root, out))
    assert again == []  # every cell is already in cells.jsonl
    assert len(read_records(out / CELLS_FILE)) == 24

    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "| model | cls N=20 | cls N=30 | reg N=20 | reg N=30 |" in summary
    assert summary.count("**") >= 8  # a bold best generator in each of the 4 columns
    assert "| real |" in summary and "±" in summary
    csv = pd.read_csv(out / "summary.csv", index_col="model")
    assert list(csv.index) == ["real", "smote", "gaussian-copula"]
    assert (csv["cls/N=20/seeds"] == 2).all()


def test_killed_run_leaves_a_partial_line_that_is_ignored(tmp_path):
    root = make_data_dir(tmp_path / "data")
    out = tmp_path / "results"
    run_benchmark(config(root, out, datasets=["cls"], sizes=[20], models=["real"], seeds=[0]))
    with (out / CELLS_FILE).open("a", encoding="utf-8") as handle:
        handle.write('{"dataset": "cls", "n": 20, "mod')  # the process died mid-write
    written = run_benchmark(config(root, out, datasets=["cls"], sizes=[20], models=["real"], seeds=[0, 1]))
    assert [(r["model"], r["seed"]) for r in written] == [("real", 1)]


def test_paper_splits_and_missing_sizes(tmp_path):
    root = make_data_dir(tmp_path / "data")
    out = tmp_path / "paper"
    written = run_benchmark(
        config(root, out, datasets=["reg"], sizes=[20, 25], models=["real"], seeds=[0], paper_splits=True)
    )
    by_n = {r["n"]: r for r in written}
    assert by_n[20]["status"] == "ok" and by_n[20]["split"] == "paper" and by_n[20]["n_test"] == 40
    assert by_n[25]["status"] == "skipped" and "no paper split for N=25" in by_n[25]["message"]
    with pytest.raises(ConfigError, match="split"):
        run_benchmark(config(root, out, datasets=["reg"], sizes=[20], models=["real"], seeds=[0]))


def test_retry_skipped_runs_skipped_cells_again(tmp_path):
    root = make_data_dir(tmp_path / "data")
    out = tmp_path / "results"
    cfg = config(root, out, datasets=["reg"], sizes=[200], models=["real"], seeds=[0])
    first = run_benchmark(cfg)
    assert first[0]["status"] == "skipped" and "fewer than N + test" in first[0]["message"]
    assert run_benchmark(cfg) == []
    cfg.retry_skipped = True
    assert len(run_benchmark(cfg)) == 1
    assert "skipped" in (out / "summary.md").read_text(encoding="utf-8")


def test_mallm_gan_row_with_the_simulated_llm(tmp_path):
    root = make_data_dir(tmp_path / "data")
    record = run_cell(Cell("cls", 20, "mallm-gan", 0), config(root, tmp_path / "r", llm="simulated"))
    assert record["status"] == "ok", record.get("message")
    assert record["n_synthetic"] > 0
    assert record["params"] == {"llm": "simulated", "dag": "hill-climb", "optimize": True}
    usage = record["llm"]
    assert usage["llm_calls"] > 0 and usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["iterations"] >= 1 and usage["seconds_fit"] > 0
    privacy = record["privacy"]
    assert 0 <= privacy["near_copy_share"] <= 1 and 0 <= privacy["mia_auc"] <= 1 and len(privacy["mia_interval"]) == 2
    kept = pd.read_csv(synthetic_path(tmp_path / "r", Cell("cls", 20, "mallm-gan", 0)))
    assert len(kept) == record["n_synthetic"]


def test_ablation_variants_freeze_theta_and_drop_the_dag(tmp_path):
    root = make_data_dir(tmp_path / "data")
    cfg = config(root, tmp_path / "r", llm="simulated")
    few = run_cell(Cell("cls", 20, "mallm-gan-few-shot", 0), cfg)
    dag = run_cell(Cell("cls", 20, "mallm-gan-few-shot-dag", 0), cfg)
    for record in (few, dag):
        assert record["status"] == "ok", record.get("message")
        assert record["params"]["optimize"] is False
        assert record["llm"]["usage"]["fit"]["total"]["calls"] == 0  # θ is not learned: fit makes no call
    assert few["params"]["dag"] == "none" and few["llm"]["dag_edges"] == 0
    assert dag["params"]["dag"] == "hill-climb"


def test_mallm_gan_row_is_failed_with_its_reason_when_the_llm_is_unreachable(tmp_path, monkeypatch):
    class Unreachable:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

        def fit(self, data, **kwargs):
            raise LLMTransportError("could not connect: http://127.0.0.1:9/v1")

    monkeypatch.setattr(synthesizer, "MallmGan", Unreachable)
    root = make_data_dir(tmp_path / "data")
    record = run_cell(
        Cell("cls", 20, "mallm-gan", 0), config(root, tmp_path / "r", llm="openai:x@http://127.0.0.1:9/v1")
    )
    assert record["status"] == "failed"
    assert "LLMTransportError" in record["message"] and "score" not in record


def test_fit_sample_mallm_gan_passes_target_context_and_seed(monkeypatch):
    calls = {}

    class Recorder:
        def __init__(self, **kwargs):
            calls["init"] = kwargs

        def fit(self, data, **kwargs):
            calls["fit"] = kwargs
            return self

        def sample(self, n):
            calls["n"] = n
            self.usage_, self.sample_usage_ = UsageTracker(), UsageTracker()
            self.usage_.record("generator", prompt_tokens=10, completion_tokens=4)
            self.sample_usage_.record("generator", prompt_tokens=5, completion_tokens=2)
            self.history_ = History()
            self.theta_ = DataGenerationProcess(context="ctx", dag=(), instruction="x")
            return pd.DataFrame({"a": [1.5] * n})

    monkeypatch.setattr(synthesizer, "MallmGan", Recorder)
    train = pd.DataFrame({"a": [1.5, 2.5, 3.5], TARGET: ["a", "b", "a"]})
    schema = TableSchema.from_dataframe(train, target=TARGET)
    run = fit_sample_mallm_gan(train, schema, 4, llm="simulated", seed=3, context="ctx")
    assert len(run.synthetic) == 4 and run.info["prompt_tokens"] == 15 and run.info["completion_tokens"] == 6
    assert calls["init"] == {"llm": "simulated", "random_state": 3}
    assert calls["fit"] == {"target": TARGET, "context": "ctx", "dag": "hill-climb"}
    fit_sample_mallm_gan(
        train, schema, 4, llm=None, seed=3, context="ctx", variant="mallm-gan-few-shot", options={"epochs": 2}
    )
    assert calls["init"] == {"random_state": 3, "epochs": 2, "optimize": False}
    assert calls["fit"]["dag"] == "none"


def test_cli_benchmark_and_evaluate(tmp_path):
    _load_commands()
    root = make_data_dir(tmp_path / "data")
    out = tmp_path / "cli"
    runner = CliRunner()
    args = "benchmark --datasets cls --sizes 20 --models real,smote --seeds 1 --n-test 40 --no-detection"
    result = runner.invoke(app, [*args.split(), "--data-dir", str(root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "summary.md").exists() and len(read_records(out / CELLS_FILE)) == 2

    bad = runner.invoke(app, ["benchmark", "--data-dir", str(root), "--models", "vae", "--out", str(out)])
    assert bad.exit_code == 2 and "unknown model" in bad.output

    train = pd.read_csv(root / "cls" / "splits" / "n20" / "train.csv")
    train.to_csv(tmp_path / "train.csv", index=False)
    train.sample(frac=1.0, random_state=0).to_csv(tmp_path / "syn.csv", index=False)
    test_path = root / "cls" / "splits" / "n20" / "test.csv"
    report = tmp_path / "report.json"
    paths = ["--train", str(tmp_path / "train.csv"), "--test", str(test_path), "--synthetic", str(tmp_path / "syn.csv")]
    result = runner.invoke(app, ["evaluate", *paths, "--target", TARGET, "--json", str(report)])
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["privacy"]["exact_copies"] == 20
    assert data["efficacy"]["best_score"] == pytest.approx(data["reference"]["best_score"], abs=0.1)

    paths[1] = str(tmp_path / "nope.csv")
    missing = runner.invoke(app, ["evaluate", *paths, "--target", TARGET])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_mallm_params_are_checked_by_name_before_any_cell_runs(tmp_path):
    _load_commands()
    root = make_data_dir(tmp_path / "data")
    cfg = config(root, tmp_path / "r", llm="simulated")
    cfg.mallm_options = {"epoch": 2}
    with pytest.raises(ConfigError, match=r"unknown MallmGan parameter\(s\) \['epoch'\]"):
        run_benchmark(cfg)
    assert not (tmp_path / "r" / CELLS_FILE).exists()
    runner = CliRunner()
    base = ["benchmark", "--data-dir", str(root), "--out", str(tmp_path / "c"), "--models", "mallm-gan"]
    bad = runner.invoke(app, [*base, "--mallm-param", "epochs"])
    assert bad.exit_code == 2 and "must be KEY=VALUE" in bad.output
