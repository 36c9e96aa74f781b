"""Endpoints that cannot serve a fit end in one clear message naming the endpoint and what to do (no
traceback), and iterations a fit already finished survive the failure (the rerun resumes)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mallm_gan.cli import _load_commands, app
from mallm_gan.testing.fake_server import FakeOpenAIServer
from mallm_gan.testing.simulated import SimulatedResponder

_load_commands()
runner = CliRunner()


@pytest.fixture
def table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "t.csv"
    pd.DataFrame({"a": rng.integers(0, 9, 20), "b": rng.choice(["x", "y"], 20)}).to_csv(path, index=False)
    return path


def _fit(table: Path, spec: str, run: Path) -> Any:
    options = ["--epochs", "1", "--batch-size", "10", "--seed", "0", "--no-report", "--timeout", "10"]
    return runner.invoke(app, ["fit", str(table), "--target", "b", "--llm", spec, *options, "--out", str(run)])


class _Page(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_POST(self) -> None:
        type(self).hits += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"<html><body>Welcome to nginx</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def web_page() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_server_that_answers_a_web_page_is_named_and_not_retried(table: Path, tmp_path: Path, web_page: str):
    result = _fit(table, f"openai:m@{web_page}", tmp_path / "run")
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "not with a chat completion" in result.output and "/v1" in result.output and web_page in result.output
    assert _Page.hits <= 10  # one per call of the first round: the same page is never asked for again


def test_a_server_that_ignores_the_schema_says_what_to_do(table: Path, tmp_path: Path) -> None:
    with FakeOpenAIServer("Sure! Here are some rows for you.") as server:
        url = server.url
        result = _fit(table, f"openai:m@{url}", tmp_path / "run")
        checked = runner.invoke(app, ["check", "--llm", f"openai:m@{url}"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert url in result.output and "mallm-gan check" in result.output
    assert "MALLM_STRUCTURED=none" in result.output
    assert checked.exit_code == 1 and "does not follow the requested form" in checked.output


def test_check_reports_a_usable_endpoint(tmp_path: Path) -> None:
    with FakeOpenAIServer(SimulatedResponder()) as server:
        result = runner.invoke(app, ["check", "--llm", f"openai:m@{server.url}"])
    assert result.exit_code == 0, result.output
    for shown in ("json_schema (accepted)", "honours seed", "yes (rows stay on this machine)", "ready", "generator",
                  "optimizer"):
        assert shown in result.output, shown


def test_a_key_rejected_mid_run_keeps_the_finished_iterations(table: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    responder = SimulatedResponder()

    class LockAfterFirstIteration:
        """Answers normally until the optimizer has been asked once, then the server rejects the key (once)."""

        locked = False

        def __call__(self, body: dict[str, Any]) -> str:
            answer = responder(body)
            if responder.calls["optimizer"] >= 1 and not self.locked:
                self.locked = True
                server._api_key = "rotated"  # every later request gets HTTP 401, until the key is fixed
            return answer

    with FakeOpenAIServer(LockAfterFirstIteration(), api_key=None) as server:
        failed = _fit(table, f"openai:m@{server.url}", run)
        assert failed.exit_code != 0 and "API key was rejected" in failed.output and "Traceback" not in failed.output
        done = json.loads((run / "checkpoint.json").read_text())["history"]
        assert len(done) == 1
        server._api_key = None
        resumed = _fit(table, f"openai:m@{server.url}", run)
    assert resumed.exit_code == 0, resumed.output
    history = json.loads((run / "model.json").read_text())["history"]
    assert len(history) == 2  # the first iteration was kept, not redone (its scores are re-scored later)
    kept = ("theta", "report", "calls")
    assert {k: history[0][k] for k in kept} == {k: done[0][k] for k in kept}
