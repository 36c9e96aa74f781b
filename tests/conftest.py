"""Fixtures shared by the whole suite. Keep it generic: feature-specific fixtures live in their test files."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
# settings that pick or configure an LLM endpoint; a developer's own must not leak into the tests
LLM_ENV_VARS = (
    "MALLM_LLM",
    "MALLM_STRUCTURED",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_KEY",
    "OPENAI_API_VERSION",
)


@pytest.fixture
def clean_llm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset the environment variables that choose or configure an LLM endpoint (``LLM_ENV_VARS``)."""
    for name in LLM_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake_server() -> Iterator[Callable[..., Any]]:
    """A factory that starts :class:`FakeOpenAIServer` instances; all are stopped at teardown.

    Usage: ``server = fake_server(ScriptedResponder([...]), faults=["429", None], latency=0.05)``.
    """
    from mallm_gan.testing import FakeOpenAIServer

    started: list[FakeOpenAIServer] = []

    def start(responder: Any = None, **options: Any) -> FakeOpenAIServer:
        server = FakeOpenAIServer(responder, **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def shared_data() -> Path:
    """Path of the shared datasets (../shared/data next to the repository); skips when absent."""
    path = SHARED_DATA.resolve()
    if not path.is_dir():
        pytest.skip(f"shared datasets not found at {path} (expected ../shared/data next to the repository)")
    return path


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI's setup_logging points the root logger at the current stderr; CliRunner closes that stream
    after each invocation, so every test gets the root logger back as it found it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def read_shared() -> Callable[[str], Any]:
    """``read(relative_path)``: a CSV of the shared datasets as a DataFrame; skips the test when it is absent
    (only when called, so a test that needs it for some parameters only still runs the others)."""
    import pandas as pd

    def read(relative: str) -> pd.DataFrame:
        path = (SHARED_DATA / relative).resolve()
        if not path.exists():
            pytest.skip(f"shared datasets not found at {path} (expected ../shared/data next to the repository)")
        return pd.read_csv(path)

    return read
