"""Endpoint faults through the fake server and the real client: transient ones are retried and the run
completes; permanent ones stop it at once with a message naming the endpoint and the fix; budgets stop a run
cleanly with the best θ so far saved."""

from __future__ import annotations

import itertools
import json
import socket
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from mallm_gan import MallmGan
from mallm_gan.cli import _load_commands, app
from mallm_gan.cli.app import exit_code
from mallm_gan.errors import (
    BudgetExceededError,
    LLMAuthError,
    LLMError,
    LLMProviderError,
    LLMTransportError,
    MallmGanError,
)
from mallm_gan.llm.base import RetryPolicy
from mallm_gan.testing import FakeOpenAIServer
from mallm_gan.testing.simulated import SimulatedResponder

_load_commands()
runner = CliRunner()


def _train(shared_data: Path) -> pd.DataFrame:
    return pd.read_csv(shared_data / "insurance" / "splits" / "n100" / "train.csv").head(40)


def _model(url: str, **params: Any) -> MallmGan:
    settings: dict[str, Any] = {"epochs": 1, "batch_size": 20, "n_examples": 5, "rows_per_call": 5, "random_state": 0}
    settings.update(params)
    return MallmGan(llm=f"openai:fake@{url}", **settings)


def _fit(model: MallmGan, train: pd.DataFrame, **kwargs: Any) -> MallmGan:
    return model.fit(train, target="charges", dag="none", **kwargs)


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def fast_backoff(monkeypatch):
    """Backoff without Retry-After shrunk 50x, so that exhausting the retries takes a moment, not seconds."""
    original = RetryPolicy.delay

    def delay(self: RetryPolicy, attempt: int, retry_after: float | None = None) -> float:
        return original(self, attempt, retry_after) / (1 if retry_after is not None else 50)

    monkeypatch.setattr(RetryPolicy, "delay", delay)


def _cli_fit(train_path: Path, url: str, run: Path, *extra: str) -> Any:
    options = ["--target", "charges", "--batch-size", "20", "--seed", "0", "--dag", "none", "--no-report"]
    return runner.invoke(
        app, ["fit", str(train_path), "--llm", f"openai:fake@{url}", *options, "--out", str(run), *extra]
    )


def _statuses(server) -> list[int]:
    return [r["status"] for r in server.requests]


# -- transient faults: retried, the run completes ---------------------------------------------------------
def test_429_with_retry_after_is_retried(fake_server, shared_data):
    server = fake_server(SimulatedResponder(), faults=["429", "429", "429"], retry_after=0.05)
    model = _fit(_model(server.url, epochs=1), _train(shared_data))
    assert _statuses(server).count(429) == 3
    assert model.usage_.total.retries == 3 and model.usage_.total.failures == 0
    assert all(len(e.synthetic) == 20 for e in model.history_.entries)


def test_retry_after_is_honoured(fake_server, shared_data, monkeypatch):
    # one call at a time; its three 429s ask for 0.3 s each: the retries wait that long, neither less nor the
    # exponential backoff used when the server gives no advice
    arrivals: list[float] = []
    original = FakeOpenAIServer._next_fault

    def timed(self: FakeOpenAIServer) -> str | None:
        arrivals.append(time.monotonic())
        return original(self)

    monkeypatch.setattr(FakeOpenAIServer, "_next_fault", timed)
    server = fake_server(SimulatedResponder(), faults=["429", "429", "429"], retry_after=0.3)
    _fit(_model(server.url, max_concurrency=1, batch_size=20, epochs=1), _train(shared_data).head(20))
    assert _statuses(server)[:4] == [429, 429, 429, 200]
    gaps = [b - a for a, b in itertools.pairwise(arrivals[:4])]
    assert all(0.29 <= gap < 0.6 for gap in gaps), gaps


def test_500_503_burst_is_retried(fake_server, shared_data):
    server = fake_server(SimulatedResponder(), faults=["500", "503", "500", "503", "503", "500"])
    model = _fit(_model(server.url), _train(shared_data))
    assert server.fault_counts == {"500": 3, "503": 3}
    assert model.usage_.total.retries >= 6
    assert all(len(e.synthetic) == 20 for e in model.history_.entries)


def test_a_call_that_exhausts_its_retries_costs_one_call_not_the_run(fake_server, shared_data):
    server = fake_server(SimulatedResponder(), faults=["429"] * 5, retry_after=0.01)
    model = _fit(_model(server.url, max_concurrency=1), _train(shared_data))
    first = model.history_.entries[0]
    assert first.report["notes"].get("call_failed:LLMRateLimitError") == 1
    assert len(first.synthetic) == 20  # topped up


def test_stall_past_the_timeout_is_retried(fake_server, shared_data):
    server = fake_server(SimulatedResponder(), faults=["stall"], stall_seconds=2.0)
    started = time.perf_counter()
    model = _fit(_model(server.url, timeout=0.5), _train(shared_data))
    assert server.fault_counts == {"stall": 1}
    assert model.usage_.total.retries >= 1
    assert time.perf_counter() - started < 2.0 + 1.5  # the stalled call was abandoned, not waited out
    assert all(len(e.synthetic) == 20 for e in model.history_.entries)


# -- permanent faults: stop at once, name the endpoint and the fix -----------------------------------------
def test_wrong_model_name_stops_at_once(fake_server, shared_data):
    server = fake_server(SimulatedResponder(), model_names=["the-real-model"])
    with pytest.raises(LLMProviderError) as info:
        _fit(_model(server.url), _train(shared_data))
    error = info.value
    assert error.status == 404 and not error.transient
    assert server.url in error.message and "fake" in error.message and "check the name" in error.message
    assert len(server.requests) <= 4  # the first round's concurrent calls, none retried


def test_bad_key_stops_at_once_without_showing_the_key(fake_server, shared_data, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-0123456789")
    server = fake_server(SimulatedResponder(), api_key="sk-right-key")
    with pytest.raises(LLMAuthError) as info:
        _fit(_model(server.url), _train(shared_data))
    error = info.value
    assert error.status == 401
    assert server.url in error.message and "OPENAI_API_KEY" in error.message
    assert "sk-wrong-key-0123456789" not in error.message
    assert len(server.requests) <= 4


def test_connection_refused_stops_with_endpoint_and_fix(shared_data, fast_backoff):
    url = _closed_port_url()
    started = time.perf_counter()
    with pytest.raises(MallmGanError) as info:
        _fit(_model(url), _train(shared_data))
    error = info.value
    # an endpoint that cannot be reached is an endpoint problem, not a "too few valid rows" one
    assert isinstance(error, LLMTransportError), f"{type(error).__name__}: {error.message}"
    assert url in error.message
    assert any(hint in error.message for hint in ("running", "--llm", "check the URL")), error.message
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("fault", ["model", "key", "refused"])
def test_cli_permanent_fault_exits_with_a_message(fake_server, shared_data, tmp_path, monkeypatch, fast_backoff, fault):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-0123456789")
    if fault == "refused":
        url = _closed_port_url()
    else:
        options = {"model_names": ["the-real-model"]} if fault == "model" else {"api_key": "sk-right-key"}
        url = fake_server(SimulatedResponder(), **options).url
    train_path = tmp_path / "train.csv"
    _train(shared_data).to_csv(train_path, index=False)
    result = _cli_fit(train_path, url, tmp_path / "run")
    assert result.exit_code == exit_code(LLMError), result.output
    assert "Traceback" not in result.output
    message = " ".join(result.output.split())  # the console wraps long lines
    assert "error: " in message and url in message
    fix = {"model": "check the name", "key": "OPENAI_API_KEY", "refused": "--llm"}[fault]
    assert fix in message
    assert "sk-wrong-key-0123456789" not in result.output


# -- budgets ------------------------------------------------------------------------------------------------
def test_call_budget_stops_cleanly_with_best_theta(fake_server, shared_data, tmp_path):
    server = fake_server(SimulatedResponder())
    run = tmp_path / "run"
    model = _fit(_model(server.url, epochs=3, max_calls=12), _train(shared_data), run_dir=run)
    assert model.stopped_ is not None and model.stopped_.startswith("budget reached")
    assert "--max-calls" in model.stopped_
    done = len(model.history_)
    assert 1 <= done < 6
    assert len(server.requests) <= 12, "the budget was overshot"
    saved = json.loads((run / "model.json").read_text())
    assert len(saved["history"]) == done
    assert saved["theta"] == model.history_.best().theta.to_dict() == model.theta_.to_dict()
    assert "budget reached" in saved["stopped"]
    checkpoint = json.loads((run / "checkpoint.json").read_text())
    assert len(checkpoint["history"]) == done


def test_budget_before_any_finished_iteration_is_an_error(fake_server, shared_data):
    server = fake_server(SimulatedResponder())
    with pytest.raises(BudgetExceededError) as info:
        _fit(_model(server.url, max_calls=2), _train(shared_data))
    assert "--max-calls" in info.value.message
    assert len(server.requests) <= 2, "the budget was overshot"


@pytest.mark.parametrize(
    ("option", "value", "word"), [("--max-calls", "12", "call"), ("--max-tokens", "4000", "token")]
)
def test_cli_budget_stops_cleanly_and_resumes(fake_server, shared_data, tmp_path, option, value, word):
    server = fake_server(SimulatedResponder())
    train_path = tmp_path / "train.csv"
    _train(shared_data).to_csv(train_path, index=False)
    run = tmp_path / "run"
    result = _cli_fit(train_path, server.url, run, "--epochs", "3", option, value)
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert f"{word} budget reached" in output and option in output
    saved = json.loads((run / "model.json").read_text())
    done = len(saved["history"])
    assert 1 <= done < 6
    assert (run / "checkpoint.json").is_file()
    if option == "--max-calls":
        assert len(server.requests) <= int(value), "the budget was overshot"
    else:
        assert all(e["tokens"] for e in saved["history"]), "a finished iteration lacks its token accounting"
        total = saved["usage"]["total"]
        used = total["prompt_tokens"] + total["completion_tokens"]
        # tokens are known only after a call: the calls of one round (4, ~600 tokens each) may pass it
        assert int(value) <= used <= int(value) + 4 * 700

    # the run dir is kept: the same command without the budget resumes where the budget stopped it
    before = len(server.requests)
    result = _cli_fit(train_path, server.url, run, "--epochs", "3")
    assert result.exit_code == 0, result.output
    assert f"resuming: {done} of 6 iterations already done" in result.output
    assert len(json.loads((run / "model.json").read_text())["history"]) == 6
    assert len(server.requests) > before


def test_sample_after_a_budget_stopped_fit(fake_server, shared_data, tmp_path):
    # a fit-time budget stopped the fit; sampling from that run is a new request with its own (absent) budget
    server = fake_server(SimulatedResponder())
    train_path = tmp_path / "train.csv"
    _train(shared_data).to_csv(train_path, index=False)
    run = tmp_path / "run"
    assert _cli_fit(train_path, server.url, run, "--epochs", "3", "--max-calls", "12").exit_code == 0
    out = tmp_path / "s.csv"
    result = runner.invoke(app, ["sample", str(run), "--rows", "100", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == 100
