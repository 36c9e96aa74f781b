"""One exception root for everything the library raises on purpose.

Third-party errors (openai, xllamacpp, pandas parsing) are wrapped at the edge where they happen, so callers
and the CLI only ever need to catch :class:`MallmGanError`. Every error carries structured fields (``fields``)
besides its message, so a caller can react to the status code or the counts without parsing text.
"""

from __future__ import annotations

from typing import Any


class MallmGanError(Exception):
    """Root of all mallm-gan errors.

    Args:
        message: What went wrong and, where possible, how to fix it.
        **fields: Structured details (status, model, column, counts, ...), also kept in ``self.fields``.
    """

    exit_code = 1

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}

    def __str__(self) -> str:
        return self.message


class ConfigError(MallmGanError):
    """A parameter, option, LLM spec or file given by the user is invalid."""

    exit_code = 2


class SchemaError(MallmGanError):
    """The data or the metadata does not fit: empty table, bad column, unknown target, ..."""

    exit_code = 3

    def __init__(self, message: str, *, column: str | None = None, **fields: Any) -> None:
        super().__init__(message, column=column, **fields)
        self.column = column


class ParseError(MallmGanError):
    """An LLM answer could not be turned into the structure asked for."""

    exit_code = 4


class LLMError(MallmGanError):
    """An LLM call failed. ``status``, ``model``, ``request_id`` and ``endpoint`` are set when known."""

    exit_code = 5
    transient = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        model: str | None = None,
        request_id: str | None = None,
        endpoint: str | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(
            message, status=status, model=model, request_id=request_id, endpoint=endpoint, **fields
        )
        self.status = status
        self.model = model
        self.request_id = request_id
        self.endpoint = endpoint


class LLMTransportError(LLMError):
    """The endpoint could not be reached or did not answer in time (connection refused, timeout)."""

    transient = True


class LLMRateLimitError(LLMError):
    """HTTP 429. ``retry_after`` holds the server's advice in seconds when it gave one."""

    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, retry_after=retry_after, **kwargs)
        self.retry_after = retry_after


class LLMProviderError(LLMError):
    """The endpoint answered with an error status. 5xx are transient; 4xx are not."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.transient = self.status is None or self.status >= 500


class LLMAuthError(LLMProviderError):
    """401/403: the key is missing, wrong or lacks access. Never retried."""


class BudgetExceededError(MallmGanError):
    """A call or token budget set by the user was reached; the run stops cleanly."""

    exit_code = 6


class GenerationError(MallmGanError):
    """Too few valid rows could be produced; ``fields['counts']`` says why rows were rejected."""

    exit_code = 7


class NotFittedError(MallmGanError):
    """``sample`` or ``save`` was called before ``fit``."""

    exit_code = 2


__all__ = [
    "BudgetExceededError",
    "ConfigError",
    "GenerationError",
    "LLMAuthError",
    "LLMError",
    "LLMProviderError",
    "LLMRateLimitError",
    "LLMTransportError",
    "MallmGanError",
    "NotFittedError",
    "ParseError",
    "SchemaError",
]
