"""Feedback, the edit form and K candidates through the fake OpenAI-compatible server and the real client."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mallm_gan import MallmGan
from mallm_gan.testing.simulated import SimulatedResponder

K = 3


def _table(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    smoke = rng.choice(["yes", "no"], size=n)
    cancer = np.where(rng.random(n) < np.where(smoke == "yes", 0.6, 0.1), "yes", "no")
    age = np.round(rng.normal(50, 10, n), 1)
    return pd.DataFrame({"smoke": smoke, "cancer": cancer, "age": age, "region": rng.choice(["a", "b"], size=n)})


def _kind(request: dict[str, Any]) -> str:
    fmt = request.get("response_format") or {}
    return str(((fmt.get("json_schema") or {}).get("schema") or {}).get("title"))


class BarrierOptimizer:
    """Simulated answers; every optimizer call waits until K of them are in flight together (else it fails
    after a few seconds, and the loop would keep the best θ instead of a proposal)."""

    def __init__(self, k: int) -> None:
        self.sim = SimulatedResponder()
        self.barrier = threading.Barrier(k, timeout=10)
        self.lock = threading.Lock()
        self.in_flight = self.peak = 0

    def __call__(self, request: dict[str, Any]) -> str:
        if _kind(request) in ("theta", "theta_edits"):
            with self.lock:
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
            try:
                self.barrier.wait()
            finally:
                with self.lock:
                    self.in_flight -= 1
        return self.sim(request)


@pytest.mark.parametrize("form", ["dag", "edits"])
def test_k_candidates_are_asked_at_once_and_one_is_kept(fake_server, form):
    responder = BarrierOptimizer(K)
    server = fake_server(responder)
    model = MallmGan(llm=f"openai:fake@{server.url}", epochs=1, batch_size=20, n_examples=4, rows_per_call=4,
                     random_state=0, optimizer_candidates=K, optimizer_form=form, max_concurrency=8)
    model.fit(_table(), target="cancer", dag=[["smoke", "cancer"]])

    optimizer_calls = [r for r in server.requests if _kind(r["body"]) in ("theta", "theta_edits")]
    assert len(optimizer_calls) == K * (len(model.history_) - 1)
    assert {_kind(r["body"]) for r in optimizer_calls} == {"theta" if form == "dag" else "theta_edits"}
    assert responder.peak == K
    # the K calls of one step differ in their seed only
    first = optimizer_calls[:K]
    assert len({r["body"]["seed"] for r in first}) == K
    assert len({json.dumps(r["body"]["messages"]) for r in first}) == 1
    origins = [e.origin for e in model.history_.entries[1:]]
    assert all(o.startswith(("proposed", "repaired")) for o in origins), origins
    # identical proposals are probed once: at least two distinct ones were judged by their probe rows
    assert any(re.search(rf"best of [2-{K}] candidates \(probe 0\.\d+\)", o) for o in origins), origins


def test_one_candidate_is_the_papers_loop(fake_server):
    server = fake_server(SimulatedResponder())
    model = MallmGan(llm=f"openai:fake@{server.url}", epochs=1, batch_size=20, n_examples=4, rows_per_call=4,
                     random_state=0)
    model.fit(_table(), target="cancer", dag=[["smoke", "cancer"]])
    optimizer_calls = [r for r in server.requests if _kind(r["body"]) == "theta"]
    assert len(optimizer_calls) == len(model.history_) - 1
    assert all("<feedback>" not in r["body"]["messages"][-1]["content"] for r in optimizer_calls)


def test_feedback_reaches_the_prompt_without_a_real_row_and_edges_are_saved(fake_server, tmp_path):
    server = fake_server(SimulatedResponder())
    train = _table()
    model = MallmGan(llm=f"openai:fake@{server.url}", epochs=1, batch_size=20, n_examples=4, rows_per_call=4,
                     random_state=0, optimizer_feedback=True)
    model.fit(train, target="cancer", dag=[["smoke", "cancer"], ["region", "age"]], run_dir=tmp_path)
    prompts = [r["body"]["messages"][-1]["content"] for r in server.requests if _kind(r["body"]) == "theta"]
    assert prompts and all("<feedback>" in p for p in prompts)
    block = prompts[0].split("<feedback>", 1)[1].split("</feedback>", 1)[0]
    assert "Causal structure check" in block or "most telling first" in block
    for value in train["age"]:
        assert f'"age": {value}' not in block and f"[{value}," not in block
    assert '"rows"' not in block and "<examples>" not in block
    saved = json.loads((tmp_path / "model.json").read_text())
    structure = saved["history"][0]["structure"]
    assert [s["edge"] for s in structure] == [["smoke", "cancer"], ["region", "age"]]
    assert structure[0]["measure"] == "Cramér's V" and structure[0]["real"] > 0.2
    assert structure[1]["measure"] == "correlation ratio"


def test_the_reports_trajectory_shows_each_edges_dependence(fake_server, tmp_path):
    from mallm_gan.report import write_report

    server = fake_server(SimulatedResponder())
    model = MallmGan(llm=f"openai:fake@{server.url}", epochs=1, batch_size=40, n_examples=4, rows_per_call=4,
                     random_state=0)
    model.fit(_table(), target="cancer", dag=[["smoke", "cancer"]], run_dir=tmp_path)
    real = model.history_.entries[0].structure[0]["real"]
    html = write_report(tmp_path).read_text()
    trajectory = html.split('id="trajectory"', 1)[1].split("</section>", 1)[0]
    assert "edge dependence, real / synthetic" in trajectory
    assert f"smoke → cancer: {real:.3f} / " in trajectory


def test_cli_options_reach_the_loop(fake_server, tmp_path):
    from typer.testing import CliRunner

    from mallm_gan.cli import _load_commands, app

    _load_commands()
    server = fake_server(SimulatedResponder())
    data = tmp_path / "t.csv"
    _table().to_csv(data, index=False)
    run = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "fit", str(data), "--target", "cancer", "--llm", f"openai:fake@{server.url}", "--epochs", "1",
        "--batch-size", "20", "--n-examples", "4", "--rows-per-call", "4", "--seed", "0", "--out", str(run),
        "--no-report", "--feedback", "--optimizer-form", "edits", "--candidates", "2",
    ], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    params = json.loads((run / "model.json").read_text())["params"]
    assert (params["optimizer_feedback"], params["optimizer_form"], params["optimizer_candidates"]) == (
        True, "edits", 2)
    calls = [r["body"] for r in server.requests if _kind(r["body"]) == "theta_edits"]
    assert len(calls) == 2 and all("<feedback>" in c["messages"][-1]["content"] for c in calls)
    bad = CliRunner().invoke(app, ["fit", str(data), "--out", str(tmp_path / "r2"), "--llm",
                                   f"openai:fake@{server.url}", "--candidates", "0"])
    assert bad.exit_code != 0 and "optimizer_candidates" in bad.output


def test_a_run_with_other_optimizer_options_is_not_resumed(fake_server, tmp_path):
    from mallm_gan.errors import ConfigError

    server = fake_server(SimulatedResponder())
    params = {"llm": f"openai:fake@{server.url}", "epochs": 1, "batch_size": 20, "n_examples": 4,
              "rows_per_call": 4, "random_state": 0}
    MallmGan(**params).fit(_table(), target="cancer", dag=[["smoke", "cancer"]], run_dir=tmp_path)
    with pytest.raises(ConfigError, match="optimizer_candidates, optimizer_feedback"):
        MallmGan(**params, optimizer_feedback=True, optimizer_candidates=2).fit(
            _table(), target="cancer", dag=[["smoke", "cancer"]], run_dir=tmp_path)
