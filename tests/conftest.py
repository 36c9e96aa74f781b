"""Fixtures shared by the whole suite. Keep it generic: feature-specific fixtures live in their test files."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# real-model tests check behaviour on one small model's answers; llama.cpp writes other answers with another
# thread count, and the default count follows the machine's load, so the suite pins it (a test may override)
os.environ.setdefault("MALLM_THREADS", "1")

# the small splits the tests need, shipped with the repository (tests/data/README.md: sources, licences)
TEST_DATA = Path(__file__).resolve().parent / "data"
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
    """Path of the test datasets (``tests/data``, in the benchmark data layout of ``../shared/data``)."""
    return TEST_DATA


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
    """``read(relative_path)``: a CSV of the test datasets (``tests/data``) as a DataFrame.

    A missing file is an error of the suite, not a reason to skip: every file a test reads is shipped.
    """
    import pandas as pd

    def read(relative: str) -> pd.DataFrame:
        path = TEST_DATA / relative
        if not path.is_file():
            raise FileNotFoundError(f"{path} is not in tests/data; ship it there (see tests/data/README.md)")
        return pd.read_csv(path)

    return read
