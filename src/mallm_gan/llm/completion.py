"""What a backend answers (:class:`Completion`) and how failed calls are retried (:class:`RetryPolicy`)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Choice:
    text: str
    finish_reason: str | None


@dataclass(frozen=True)
class Completion:
    """One answer (``n`` choices) with its usage."""

    choices: tuple[Choice, ...]
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    request_id: str | None = None
    #: prompt tokens served from the provider's prompt cache, when it says (``prompt_tokens_details``)
    cached_prompt_tokens: int = 0
    cached: bool = False
    seconds: float = 0.0

    @property
    def text(self) -> str:
        return self.choices[0].text if self.choices else ""

    @property
    def finish_reason(self) -> str | None:
        return self.choices[0].finish_reason if self.choices else None

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.choices]



@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter; ``Retry-After`` wins when the server gives it."""

    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after)
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


__all__ = ["Choice", "Completion", "RetryPolicy"]
