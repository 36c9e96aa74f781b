"""What the fake server does wrong on purpose: content faults, and the refusals a real provider answers."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from ..llm.dialects import violations


def error_body(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    """An OpenAI-shaped error body."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def refused_format(fmt: Any, refuse: Collection[str], subset: str | None) -> tuple[int, dict[str, Any]] | None:
    """The HTTP 400 a provider answers to a ``response_format`` it does not take: a type in ``refuse``, or a
    JSON schema outside the ``subset`` of :data:`mallm_gan.llm.dialects.PROVIDERS` (naming the first problem)."""
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind in refuse:
        message = f"response_format type {kind!r} is not supported by this server"
        return 400, error_body(message, "invalid_request_error")
    if kind == "json_schema" and subset is not None:
        problems = violations((fmt.get("json_schema") or {}).get("schema"), subset)
        if problems:
            return 400, error_body(f"Invalid schema for response_format: {problems[0]}", "invalid_request_error")
    return None


def apply_content_fault(fault: str | None, content: str, finish: str) -> tuple[str, str]:
    if fault == "empty":
        return "", "stop"
    if fault == "truncated":
        return content[: len(content) // 2], "length"
    if fault == "prose":
        return f"Sure! Here is the data you asked for:\n{content}\nLet me know if you need more.", finish
    if fault == "fence":
        return f"```json\n{content}\n```", finish
    if fault == "pyrepr":
        try:
            return repr(json.loads(content)), finish
        except ValueError:
            return content, finish
    return content, finish


__all__ = ["apply_content_fault", "error_body", "refused_format"]
