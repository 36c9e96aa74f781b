"""The client protocol every backend speaks, and the machinery they share.

A backend only has to turn an OpenAI-shaped Chat Completions request dict into an OpenAI-shaped response
dict (:meth:`BaseClient._send`) and raise the project's :mod:`mallm_gan.errors` types when that fails.
Everything else, bounded concurrency, timeouts, retries with backoff (honouring ``Retry-After``), the
response cache, the structured-output mode and its negotiation, usage accounting and budgets, lives here once.

Negotiation: an endpoint that refuses a structured-output request (HTTP 400/422 whose message names the
schema, grammar or ``response_format``) is asked again, at once, in the next simpler mode (``json_schema`` ->
``json_object`` -> ``none``, where the prompt alone describes the answer and the parser is tolerant). The
mode an endpoint took, and why, is written to the shared :class:`UsageTracker` (saved in ``model.json``,
shown in the report), one log line says so, and every later call of the run, and of ``sample`` on the saved
model, starts from it. A transport error or a 5xx never downgrades; a mode forced by ``structured=`` or
``MALLM_STRUCTURED`` is never changed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from ..errors import LLMError, LLMTransportError, ParseError
from .cache import ResponseCache, request_key
from .completion import Choice, Completion, RetryPolicy
from .dialects import Dialect
from .usage import UsageTracker

log = logging.getLogger(__name__)

Message = dict[str, str]
CachePolicy = Literal["auto", "on", "off"]
StructuredMode = Literal["json_schema", "json_object", "none"]
#: The order in which a refused mode falls back.
FALLBACK: dict[str, StructuredMode] = {"json_schema": "json_object", "json_object": "none"}
# what a refusal of the structured-output part of a request says (llama.cpp, OpenAI, vLLM, Ollama wording)
_REFUSAL = re.compile(r"schema|grammar|response_format|json_object|structured|guided|\bformat\b", re.I)


@runtime_checkable
class LLMClient(Protocol):
    """What the roles (generator, optimizer) need of a language model."""

    model: str
    usage: UsageTracker

    @property
    def supports_json_schema(self) -> bool: ...

    @property
    def schema_dialect(self) -> Dialect: ...

    @property
    def is_local(self) -> bool: ...

    def describe(self) -> str: ...

    async def complete(
        self,
        messages: list[Message],
        *,
        role: str = "default",
        temperature: float | None = None,
        max_tokens: int | None = None,
        json_schema: dict[str, Any] | None = None,
        seed: int | None = None,
        n: int = 1,
        repeat_window: int | None = None,
    ) -> Completion: ...

    async def aclose(self) -> None: ...


def concurrency_problem(value: object) -> str | None:
    """What is wrong with ``value`` as a ``max_concurrency`` (requests in flight at most), or ``None``.
    The one rule for it: the clients and ``MallmGan``'s settings both apply it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return f"max_concurrency must be a whole number >= 1, got {value!r}"
    return None


@dataclass
class BaseClient:
    """Shared implementation of :class:`LLMClient`; subclasses implement :meth:`_send`.

    Args:
        model: Model or deployment name sent to the backend.
        max_concurrency: Requests in flight at most (a semaphore).
        timeout: Seconds one request may take before it counts as a transport failure.
        retry: Backoff policy for transient failures (transport, 429, 5xx).
        structured: How a JSON schema is passed: ``json_schema`` response format, ``json_object`` (JSON
            mode; the prompt describes the answer) or ``none`` (plain prompting): the first mode tried.
        negotiate: Fall back to the next mode when the endpoint refuses one (see the module docstring);
            False when the mode was forced.
        cache: Optional on-disk response cache.
        cache_policy: ``auto`` caches only reproducible requests (temperature 0 or a seed), ``on`` caches
            all, ``off`` none.
        usage: Shared usage tracker (and budget).
    """

    model: str
    max_concurrency: int = 16
    timeout: float = 120.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    structured: StructuredMode = "json_schema"
    negotiate: bool = True
    cache: ResponseCache | None = None
    cache_policy: CachePolicy = "auto"
    usage: UsageTracker = field(default_factory=UsageTracker)

    def __post_init__(self) -> None:
        problem = concurrency_problem(self.max_concurrency)
        if problem:
            from ..errors import ConfigError

            raise ConfigError(problem)
        self._semaphores: dict[int, asyncio.Semaphore] = {}

    # -- capabilities -------------------------------------------------------------------------------
    @property
    def supports_json_schema(self) -> bool:
        return self.structured_mode == "json_schema"

    @property
    def schema_dialect(self) -> Dialect:
        """The JSON Schema dialect this backend is sent (:mod:`mallm_gan.llm.dialects`)."""
        return "portable"

    @property
    def structured_mode(self) -> StructuredMode:
        """The mode requests are sent in now: the one this endpoint took earlier in the run, else the first."""
        if self.negotiate:
            recorded = self.usage.structured_mode(self.ledger_key)
            if recorded in FALLBACK or recorded == "none":
                return recorded  # type: ignore[return-value]
        return self.structured

    @property
    def mode_text(self) -> str:
        """The structured-output mode for messages: forced, settled for this run, or still to be negotiated."""
        if not self.negotiate:
            return f"{self.structured} (forced)"
        settled = self.usage.structured_mode(self.ledger_key) is not None
        return self.structured_mode if settled else f"{self.structured_mode}, falls back if refused"

    @property
    def ledger_key(self) -> str:
        """How this endpoint is named in the usage ledger (no credentials)."""
        return f"{self.model} at {self.endpoint}"

    @property
    def is_local(self) -> bool:
        """True when rows sent to this client never leave the machine (in-process or localhost)."""
        return False

    @property
    def endpoint(self) -> str:
        return self.model

    def describe(self) -> str:
        return f"{type(self).__name__}({self.model})"

    # -- the one thing a backend implements -----------------------------------------------------------
    async def _send(self, request: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    async def aclose(self) -> None:
        return None

    # -- shared machinery ---------------------------------------------------------------------------
    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        sem = self._semaphores.get(id(loop))
        if sem is None:
            sem = asyncio.Semaphore(self.max_concurrency)
            self._semaphores = {id(loop): sem}
        return sem

    def build_request(
        self,
        messages: list[Message],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        json_schema: dict[str, Any] | None = None,
        seed: int | None = None,
        n: int = 1,
        mode: StructuredMode | None = None,
        repeat_window: int | None = None,
    ) -> dict[str, Any]:
        """The OpenAI Chat Completions request dict (no model, no credentials), in ``mode`` (default: the
        current :attr:`structured_mode`). ``repeat_window`` is for engines with a sequence-repetition
        penalty (see :meth:`complete`); this request has none, so it is not sent."""
        mode = self.structured_mode if mode is None else mode
        request: dict[str, Any] = {"messages": [dict(m) for m in messages]}
        if temperature is not None:
            request["temperature"] = temperature
        if max_tokens is not None:
            request["max_tokens"] = max_tokens
        if seed is not None:
            request["seed"] = int(seed)
        if n != 1:
            request["n"] = int(n)
        if json_schema is not None:
            if mode == "json_schema":
                request["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {
                        "name": re.sub(r"[^A-Za-z0-9_-]", "_", str(json_schema.get("title", "answer")))[:64],
                        "schema": json_schema,
                        # the portable dialect meets OpenAI's strict subset; other servers ignore the flag
                        "strict": self.schema_dialect == "portable",
                    },
                }
            elif mode == "json_object":
                request["response_format"] = {"type": "json_object"}
        return request

    def _use_cache(self, request: dict[str, Any]) -> bool:
        if self.cache is None or self.cache_policy == "off":
            return False
        if self.cache_policy == "on":
            return True
        return request.get("temperature", 1.0) == 0 or "seed" in request

    async def complete(
        self,
        messages: list[Message],
        *,
        role: str = "default",
        temperature: float | None = None,
        max_tokens: int | None = None,
        json_schema: dict[str, Any] | None = None,
        seed: int | None = None,
        n: int = 1,
        repeat_window: int | None = None,
    ) -> Completion:
        """Send one chat request (with retries) and return its answer.

        ``repeat_window`` is a hint for engines that penalise repeated token sequences (llama.cpp's DRY): how
        many tokens of the prompt may be repeated verbatim before the penalty starts. The in-process engine
        applies it; a remote server is never sent it (not every API accepts the field).

        Raises:
            LLMError: a subclass naming status, model, request id and endpoint, after retries of
                transient failures are exhausted, or at once for permanent ones.
            BudgetExceededError: the usage budget would be exceeded by this call.
        """
        # calls in flight when the first refusal comes back are refused too; each then moves on to the mode
        # recorded by the first (a refused request costs no tokens), and the downgrade is logged once
        while True:
            mode = self.structured_mode
            request = self.build_request(
                messages, temperature=temperature, max_tokens=max_tokens, json_schema=json_schema, seed=seed,
                n=n, mode=mode, repeat_window=repeat_window,
            )
            try:
                completion = await self._complete(request, role)
            except LLMError as exc:
                if json_schema is None or not self._refused(exc, mode):
                    raise
                self._fall_back(mode, exc)
                continue
            if json_schema is not None and self.usage.structured_mode(self.ledger_key) is None:
                why = "accepted" if self.negotiate else "forced (structured= or MALLM_STRUCTURED)"
                self.usage.record_structured(self.ledger_key, mode, why)
            return completion

    def _refused(self, exc: LLMError, mode: StructuredMode) -> bool:
        """Whether ``exc`` is the endpoint refusing the structured-output part of a request sent in ``mode``."""
        refused = mode != "none" and exc.status in (400, 422) and bool(_REFUSAL.search(exc.message))
        if refused and not self.negotiate:
            exc.message = (
                f"{exc.message}. The structured-output mode {mode!r} was forced (structured= or MALLM_STRUCTURED); "
                f"unset it to let mallm-gan fall back, or force {FALLBACK[mode]!r}"
            )
            exc.args = (exc.message,)
            return False
        return refused

    def _fall_back(self, mode: StructuredMode, exc: LLMError) -> None:
        """Record that the endpoint refused ``mode`` and move to the next one (once, however many calls saw it)."""
        if self.structured_mode != mode:
            return  # a concurrent call has already moved on
        following = FALLBACK[mode]
        reason = f"{mode} refused with HTTP {exc.status}: {exc.message[:200]}"
        self.usage.record_structured(self.ledger_key, following, reason)
        log.warning(
            "%s refused structured output %r (HTTP %s); using %r for the rest of the run", self.endpoint, mode,
            exc.status, following,
        )

    async def _complete(self, request: dict[str, Any], role: str) -> Completion:
        """One request: from the cache, or sent with retries."""
        use_cache = self._use_cache(request)
        key = request_key(self.model, request) if use_cache else ""
        if use_cache:
            assert self.cache is not None
            hit = self.cache.get(key)
            if hit is not None:
                self.usage.record(role, cached=True)
                return self._to_completion(hit, cached=True, seconds=0.0)

        await self._prepare()
        async with self._semaphore():
            # admitted once: retries of an admitted call are part of it, not new calls
            self.usage.check_budget(reserve=True)
            try:
                return await self._attempts(request, role, use_cache, key)
            finally:
                self.usage.release()

    async def _prepare(self) -> None:
        """Work a backend needs before its first request (e.g. loading a model), done outside the timeout
        and only when the answer is not cached. Nothing by default."""

    async def _attempts(self, request: dict[str, Any], role: str, use_cache: bool, key: str) -> Completion:
        """Send ``request``, retrying transient failures with backoff; record usage once."""
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                response = await asyncio.wait_for(self._send(dict(request)), timeout=self.timeout)
            except TimeoutError:
                err: LLMError = LLMTransportError(
                    f"no answer from {self.endpoint} within {self.timeout:g} s (timeout)",
                    model=self.model, endpoint=self.endpoint,
                )
            except LLMError as exc:
                err = exc
            else:
                seconds = time.perf_counter() - started
                completion = self._to_completion(response, cached=False, seconds=seconds)
                self.usage.record(
                    role, prompt_tokens=completion.prompt_tokens,
                    completion_tokens=completion.completion_tokens, seconds=seconds, retries=attempt,
                    cached_prompt_tokens=completion.cached_prompt_tokens,
                )
                if use_cache and all(c.finish_reason != "error" for c in completion.choices):
                    assert self.cache is not None
                    self.cache.put(key, self.model, response)
                return completion
            seconds = time.perf_counter() - started
            if not err.transient or attempt >= self.retry.max_retries:
                # a failed call was still sent: it counts as a call (and against the budget)
                self.usage.record(role, seconds=seconds, retries=attempt, failed=True)
                if err.transient:
                    err.attempts = attempt + 1
                raise err
            delay = self.retry.delay(attempt, getattr(err, "retry_after", None))
            log.warning("LLM call failed (%s); retry %d in %.1f s", err.message, attempt + 1, delay)
            attempt += 1
            await asyncio.sleep(delay)

    def _to_completion(self, response: dict[str, Any], *, cached: bool, seconds: float) -> Completion:
        try:
            choices = tuple(
                Choice(
                    text=(c.get("message") or {}).get("content") or "",
                    finish_reason=c.get("finish_reason"),
                )
                for c in sorted(response.get("choices") or [], key=lambda c: c.get("index", 0))
            )
        except (AttributeError, TypeError) as exc:
            raise ParseError(f"malformed response from {self.endpoint}: {exc}") from exc
        usage = response.get("usage") or {}
        details = usage.get("prompt_tokens_details")
        cached_prompt = int((details.get("cached_tokens") if isinstance(details, dict) else 0) or 0)
        return Completion(
            choices=choices,
            model=str(response.get("model") or self.model),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            request_id=response.get("id"),
            cached_prompt_tokens=cached_prompt,
            cached=cached,
            seconds=seconds,
        )


__all__ = ["FALLBACK", "BaseClient", "Choice", "Completion", "LLMClient", "Message", "RetryPolicy", "StructuredMode"]
