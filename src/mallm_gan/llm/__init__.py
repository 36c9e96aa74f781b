"""The LLM client layer: one protocol, several backends, shared retries, cache and usage accounting.

``create_llm("openai:gpt-4o-mini")`` (or ``openai:MODEL@URL``, ``azure:DEPLOYMENT``, ``local:NAME``,
``simulated``) returns a client whose ``complete(messages, role=..., json_schema=..., seed=...)`` is all the
roles need. This package knows nothing of MALLM-GAN itself: it moves messages and JSON schemas.
"""

from __future__ import annotations

from .base import BaseClient, Choice, Completion, LLMClient, RetryPolicy
from .cache import ResponseCache, request_key
from .registry import DEFAULT_LOCAL_SPEC, LLMSpec, create_llm, parse_spec, register_backend, resolve_spec
from .usage import Prices, RoleUsage, UsageTracker

__all__ = [
    "DEFAULT_LOCAL_SPEC",
    "BaseClient",
    "Choice",
    "Completion",
    "LLMClient",
    "LLMSpec",
    "Prices",
    "ResponseCache",
    "RetryPolicy",
    "RoleUsage",
    "UsageTracker",
    "create_llm",
    "parse_spec",
    "register_backend",
    "request_key",
    "resolve_spec",
]
