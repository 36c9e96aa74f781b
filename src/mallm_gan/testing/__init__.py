"""Test helpers: a real OpenAI-compatible HTTP server on 127.0.0.1 and answer makers for it.

Nothing here is a language model. The library itself never imports this package; tests, the
``serve-fake`` command and the ``simulated`` backend reach it lazily.
"""

from __future__ import annotations

from .fake_server import FAULTS, FakeOpenAIServer, estimate_tokens
from .responders import (
    EchoRowsResponder,
    Reply,
    Responder,
    ScriptedResponder,
    ScriptExhaustedError,
    constant_responder,
)

__all__ = [
    "FAULTS",
    "EchoRowsResponder",
    "FakeOpenAIServer",
    "Reply",
    "Responder",
    "ScriptExhaustedError",
    "ScriptedResponder",
    "constant_responder",
    "estimate_tokens",
]
