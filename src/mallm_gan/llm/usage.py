"""Usage accounting: calls, tokens, retries, failures and time, per role (generator / optimizer), and the
structured-output mode each endpoint took in the run (see :mod:`mallm_gan.llm.base`)."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import BudgetExceededError, ConfigError

#: Key of the structured-output modes in :meth:`UsageTracker.to_dict`.
STRUCTURED_KEY = "structured_output"


@dataclass
class RoleUsage:
    """Counters of one role."""

    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    #: prompt tokens the provider served from its prompt cache (OpenAI's ``cached_tokens``, llama.cpp's
    #: reused slot prefix); part of ``prompt_tokens``
    cached_prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    failures: int = 0
    seconds: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: RoleUsage) -> None:
        for name in (
            "calls", "cache_hits", "prompt_tokens", "cached_prompt_tokens", "completion_tokens", "retries", "failures"
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.seconds += other.seconds


@dataclass(frozen=True)
class Prices:
    """User-given prices in currency units per million tokens. No price is ever guessed.

    ``cached_prompt_per_million`` prices prompt tokens served from the provider's prompt cache; without it
    they cost as much as any prompt token.
    """

    prompt_per_million: float
    completion_per_million: float
    cached_prompt_per_million: float | None = None

    @classmethod
    def parse(cls, text: str) -> Prices:
        """Parse ``"PROMPT,COMPLETION[,CACHED_PROMPT]"`` per million tokens, e.g. ``"2.5,10,1.25"``."""
        try:
            values = [float(x) for x in text.split(",")]
        except ValueError:
            values = []
        if len(values) not in (2, 3):
            raise ConfigError(
                f"prices {text!r} must be 'PROMPT,COMPLETION' or 'PROMPT,COMPLETION,CACHED_PROMPT' per million "
                "tokens, e.g. '2.5,10' or '2.5,10,1.25'"
            )
        if any(v < 0 for v in values):
            raise ConfigError(f"prices {text!r} must not be negative")
        return cls(*values)


@dataclass
class UsageTracker:
    """Thread-safe usage counters with an optional budget.

    Args:
        max_calls: Stop (``BudgetExceededError``) before a call that would exceed this many calls sent.
        max_tokens: Stop before a call once this many tokens (prompt + completion) have been used.
        prices: Optional prices; when given, :meth:`cost` returns a figure, else ``None``.
        structured: Per endpoint (``"MODEL at URL"``), the structured-output mode it took and why.
    """

    max_calls: int | None = None
    max_tokens: int | None = None
    prices: Prices | None = None
    roles: dict[str, RoleUsage] = field(default_factory=dict)
    structured: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0  # calls admitted by check_budget(reserve=True) and not yet released

    def role(self, name: str) -> RoleUsage:
        with self._lock:
            return self.roles.setdefault(name, RoleUsage())

    @property
    def total(self) -> RoleUsage:
        out = RoleUsage()
        for usage in list(self.roles.values()):
            out.add(usage)
        return out

    def check_budget(self, *, reserve: bool = False) -> None:
        """Raise :class:`BudgetExceededError` if the next call would go past the budget.

        Args:
            reserve: Count the call as in flight until :meth:`release`, so that calls started together
                cannot all pass a check made before any of them was recorded.
        """
        with self._lock:
            calls = sum(u.calls for u in self.roles.values()) + self._in_flight
            tokens = sum(u.total_tokens for u in self.roles.values())
            if self.max_calls is not None and calls >= self.max_calls:
                raise BudgetExceededError(
                    f"call budget reached: {calls} calls of {self.max_calls} allowed (--max-calls)",
                    calls=calls,
                    max_calls=self.max_calls,
                )
            if self.max_tokens is not None and tokens >= self.max_tokens:
                raise BudgetExceededError(
                    f"token budget reached: {tokens} tokens of {self.max_tokens} allowed (--max-tokens)",
                    tokens=tokens,
                    max_tokens=self.max_tokens,
                )
            if reserve:
                self._in_flight += 1

    def release(self) -> None:
        """End a reservation made by :meth:`check_budget` (after the call was recorded or abandoned)."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def record(
        self,
        role: str,
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cached_prompt_tokens: int = 0,
        seconds: float = 0.0,
        cached: bool = False,
        retries: int = 0,
        failed: bool = False,
    ) -> None:
        usage = self.role(role)
        with self._lock:
            if cached:
                usage.cache_hits += 1
            else:
                usage.calls += 1
                usage.prompt_tokens += prompt_tokens
                usage.cached_prompt_tokens += min(cached_prompt_tokens, prompt_tokens)
                usage.completion_tokens += completion_tokens
            usage.retries += retries
            usage.failures += int(failed)
            usage.seconds += seconds

    def structured_mode(self, endpoint: str) -> str | None:
        """The structured-output mode ``endpoint`` took in this run, if it has been recorded."""
        with self._lock:
            entry = self.structured.get(endpoint)
        return entry.get("mode") if entry else None

    def record_structured(self, endpoint: str, mode: str, reason: str) -> None:
        """Record the mode ``endpoint`` takes from now on, and why."""
        with self._lock:
            self.structured[endpoint] = {"mode": mode, "reason": reason}

    def adopt_structured(self, other: UsageTracker | None) -> None:
        """Start from the modes recorded by ``other`` (a saved run's tracker), so a later ``sample`` sends what
        the endpoint accepted during ``fit``."""
        if other is not None:
            with self._lock:
                self.structured.update({k: dict(v) for k, v in other.structured.items()})

    def cost(self) -> float | None:
        if self.prices is None:
            return None
        total, prices = self.total, self.prices
        cached_price = prices.prompt_per_million if prices.cached_prompt_per_million is None else (
            prices.cached_prompt_per_million
        )
        return (
            (total.prompt_tokens - total.cached_prompt_tokens) * prices.prompt_per_million
            + total.cached_prompt_tokens * cached_price
            + total.completion_tokens * prices.completion_per_million
        ) / 1e6

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: asdict(u) for name, u in sorted(self.roles.items())}
        out["total"] = asdict(self.total)
        cost = self.cost()
        if cost is not None:
            out["cost"] = round(cost, 6)
        if self.structured:
            out[STRUCTURED_KEY] = {k: dict(v) for k, v in sorted(self.structured.items())}
        return out

    def load_dict(self, data: dict[str, Any]) -> None:
        """Restore counters saved by :meth:`to_dict` (used when a run resumes)."""
        with self._lock:
            for endpoint, entry in (data.get(STRUCTURED_KEY) or {}).items():
                if isinstance(entry, dict) and isinstance(entry.get("mode"), str):
                    self.structured[endpoint] = {"mode": entry["mode"], "reason": str(entry.get("reason", ""))}
            for name, values in data.items():
                if name in ("total", "cost", STRUCTURED_KEY) or not isinstance(values, dict):
                    continue
                self.roles[name] = RoleUsage(**{k: values[k] for k in RoleUsage.__dataclass_fields__
                                                if k in values})
