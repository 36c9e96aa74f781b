"""One exception root for everything the library raises on purpose.

Third-party errors (openai, xllamacpp, pandas parsing) are wrapped at the edge where they happen, so callers
and the CLI only ever need to catch :class:`MallmGanError`. Every error carries structured fields (``fields``)
besides its message, so a caller can react to the status code or the counts without parsing text. Whether a
failed LLM call may be retried is a property of its class (``transient``). Exit codes are the CLI's business
(``cli/app.py``), not the library's.
"""

from __future__ import annotations

from typing import Any


class MallmGanError(Exception):
    """Root of all mallm-gan errors.

    Args:
        message: What went wrong and, where possible, how to fix it.
        **fields: Structured details (status, model, column, counts, ...), also kept in ``self.fields``.
    """

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}

    def __str__(self) -> str:
        return self.message


class ConfigError(MallmGanError, ValueError):
    """A parameter, option, LLM spec or file given by the user is invalid."""


class SchemaError(MallmGanError):
    """The data or the metadata does not fit: empty table, bad column, unknown target, ..."""

    def __init__(self, message: str, *, column: str | None = None, **fields: Any) -> None:
        super().__init__(message, column=column, **fields)
        self.column = column


class ParseError(MallmGanError):
    """An LLM answer could not be turned into the structure asked for."""


class LLMError(MallmGanError):
    """An LLM call failed. ``status``, ``model``, ``request_id`` and ``endpoint`` are set when known.

    ``transient`` (a class attribute) says whether the same request may succeed when sent again;
    ``attempts`` is how many times it was sent before the client gave up (``None`` when not counted).
    """

    transient = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        model: str | None = None,
        request_id: str | None = None,
        endpoint: str | None = None,
        attempts: int | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(
            message, status=status, model=model, request_id=request_id, endpoint=endpoint, **fields
        )
        self.status = status
        self.model = model
        self.request_id = request_id
        self.endpoint = endpoint
        self.attempts = attempts

    @property
    def attempts(self) -> int | None:
        return self.fields.get("attempts")

    @attempts.setter
    def attempts(self, value: int | None) -> None:
        if value is None:
            self.fields.pop("attempts", None)
        else:
            self.fields["attempts"] = int(value)

    def __str__(self) -> str:
        if self.transient and self.attempts:
            return f"{self.message} (gave up after {self.attempts} attempts)"
        return self.message


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
    """The endpoint answered with an error status that sending again cannot fix (4xx).

    ``LLMProviderError(message, status=...)`` builds an :class:`LLMServerError` (transient) for a 5xx status or
    an unknown one, so a raise site states the status and the class follows from it.
    """

    def __new__(cls, message: str = "", *args: Any, **kwargs: Any) -> LLMProviderError:
        status = kwargs.get("status")
        if cls is LLMProviderError and (status is None or status >= 500):
            cls = LLMServerError
        return super().__new__(cls)  # type: ignore[return-value]


class LLMServerError(LLMProviderError):
    """The endpoint failed on its side (5xx, or an error without a status): worth sending again."""

    transient = True


class LLMAuthError(LLMProviderError):
    """401/403: the key is missing, wrong or lacks access. Never retried."""


class BudgetExceededError(MallmGanError):
    """A call or token budget set by the user was reached; the run stops cleanly."""


class GenerationError(MallmGanError):
    """Too few valid rows could be produced; ``fields['counts']`` says why rows were rejected."""


class NotFittedError(MallmGanError, ValueError, AttributeError):
    """``sample`` or ``save`` was called before ``fit``."""


class RunLockedError(MallmGanError):
    """Another process is fitting into the same run directory; ``pid`` and ``host`` name it."""

    def __init__(self, message: str, *, pid: int | None = None, host: str | None = None, **fields: Any) -> None:
        super().__init__(message, pid=pid, host=host, **fields)
        self.pid = pid
        self.host = host


__all__ = [
    "BudgetExceededError",
    "ConfigError",
    "GenerationError",
    "LLMAuthError",
    "LLMError",
    "LLMProviderError",
    "LLMRateLimitError",
    "LLMServerError",
    "LLMTransportError",
    "MallmGanError",
    "NotFittedError",
    "ParseError",
    "RunLockedError",
    "SchemaError",
]
