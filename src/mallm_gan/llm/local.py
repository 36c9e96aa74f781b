"""The ``local:`` backend: a GGUF model run in-process by llama.cpp's server engine (``xllamacpp``).

Rows sent to this client never leave the process. The engine itself (settings, threads, slots, the
process-wide registry) lives in :mod:`.local_engine`; this module is the client over it: request
translation, the grammar fallback, ``n`` choices and error messages. Concurrent requests are batched by
llama.cpp over ``n_parallel`` slots, and the client's ``max_concurrency`` defaults to that number so
requests map onto slots.

JSON-schema answers are constrained with an LLGuidance grammar that forbids free whitespace, so a small
model spends its tokens on values, not indentation. llama.cpp silently ignores a grammar it cannot compile;
such an answer is recognised (it is not JSON) and the request is repeated with the plain ``response_format``,
which that schema then keeps for the life of the client.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, LLMProviderError
from .base import BaseClient
from .dialects import Dialect
from .local_engine import (
    Engine,
    EngineSettings,
    configured_threads,
    default_n_parallel,
    get_engine,
    import_xllamacpp,
    loaded_engine,
)
from .model_pull import resolve_model
from .models import CATALOGUE, check_model_ref

if TYPE_CHECKING:
    from .registry import LLMSpec

log = logging.getLogger(__name__)

#: LLGuidance options that make JSON output compact: no optional whitespace, tight separators.
COMPACT_JSON = {"whitespace_flexible": False, "item_separator": ",", "key_separator": ":"}
_JSON_START = set('{["-0123456789tfn"')


def grammar_request(request: dict[str, Any]) -> dict[str, Any] | None:
    """The request with its ``json_schema`` response format turned into a compact LLGuidance grammar.

    Returns ``None`` when the request has no JSON schema response format.
    """
    fmt = request.get("response_format")
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return None
    schema = (fmt.get("json_schema") or {}).get("schema")
    if not isinstance(schema, dict):
        return None
    compact = dict(schema)
    compact["x-guidance"] = {**COMPACT_JSON, **(schema.get("x-guidance") or {})}
    out = {k: v for k, v in request.items() if k != "response_format"}
    out["grammar"] = "%llguidance {}\nstart: %json " + json.dumps(compact, separators=(",", ":"))
    return out


def grammar_was_applied(response: dict[str, Any]) -> bool:
    """False when an answer cannot have come from the JSON grammar (llama.cpp ignored it)."""
    for choice in response.get("choices") or []:
        text = (choice.get("message") or {}).get("content") or ""
        if not text:
            continue
        if text[0] not in _JSON_START:
            return False
        if choice.get("finish_reason") == "stop":
            try:
                json.loads(text)
            except ValueError:
                return False
    return True


@dataclass
class LocalLlamaClient(BaseClient):
    """A catalogue model or a GGUF file run in-process by llama.cpp.

    Args:
        model: Catalogue name (``smollm2-135m``) or path of a ``.gguf`` file.
        max_concurrency: Requests in flight, at most (and by default, 0) one per slot (``n_parallel``).
        n_ctx: Context tokens per slot (prompt + answer); the engine allocates ``n_ctx * n_parallel``.
        n_parallel: Slots decoded together; default two per thread (2 to 8).
        threads: CPU threads; default ``MALLM_THREADS``, else all cores when idle, else half
            (see :func:`default_threads`).
        n_gpu_layers: Layers offloaded to a GPU; default all when a GPU build sees a GPU, else 0.
        seed: Sampling seed of requests that carry none.
        verbose: Let llama.cpp's own log lines through to stderr.
        compact_json: Constrain JSON answers with a whitespace-free grammar (falls back automatically).
        threads_batch: CPU threads for prompt processing; default ``threads``.
        sampler: llama.cpp sampler fields (``min_p``, ``dry_multiplier``, ...) over the catalogue's settings
            for this model (:class:`~mallm_gan.llm.models.SamplerSettings`); ``None`` values are dropped.
    """

    max_concurrency: int = 0
    timeout: float = 600.0
    n_ctx: int = 4096
    n_parallel: int | None = None
    threads: int | None = None
    n_gpu_layers: int | None = None
    seed: int | None = None
    verbose: bool = False
    compact_json: bool = True
    threads_batch: int | None = None
    sampler: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.threads is None:
            self.threads = configured_threads()
        if self.n_parallel is None:
            self.n_parallel = default_n_parallel(int(self.threads))
        for name in ("n_ctx", "n_parallel", "threads"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        # more requests in flight than slots only queue inside the engine, where a timeout cannot cancel them
        if self.max_concurrency == 0 or self.max_concurrency > self.n_parallel:
            self.max_concurrency = self.n_parallel
        super().__post_init__()
        import_xllamacpp()
        check_model_ref(self.model)
        self._load_lock = threading.Lock()
        self._settings: EngineSettings | None = None
        self._grammar_rejected: set[str] = set()

    # -- capabilities -------------------------------------------------------------------------------
    @property
    def is_local(self) -> bool:
        return True

    @property
    def model_name(self) -> str:
        return self.model if self.model.strip().lower() in CATALOGUE else Path(self.model).name

    @property
    def endpoint(self) -> str:
        return f"local:{self.model_name}"

    @property
    def schema_dialect(self) -> Dialect:
        """Tuples of typed slots: LLGuidance compiles them, and they cost about half the tokens of objects."""
        return "positional" if self.compact_json else "portable"

    def describe(self) -> str:
        return f"local llama.cpp model {self.model_name} (in-process)"

    # -- engine -------------------------------------------------------------------------------------
    def load(self) -> Engine:
        """Pull the model if needed and load it (once per process); return the engine."""
        with self._load_lock:
            if self._settings is None:
                assert self.n_parallel is not None and self.threads is not None
                self._settings = EngineSettings(
                    path=str(resolve_model(self.model)),
                    n_ctx=int(self.n_ctx),
                    n_parallel=int(self.n_parallel),
                    threads=int(self.threads),
                    n_gpu_layers=self.n_gpu_layers,
                    seed=self.seed,
                    threads_batch=self.threads_batch,
                )
        return get_engine(self._settings, verbose=self.verbose)

    def _loaded_engine(self) -> Engine | None:
        """The engine if it is loaded already (never blocks on a download or a load)."""
        return loaded_engine(self._settings) if self._settings is not None else None

    # -- transport ----------------------------------------------------------------------------------
    async def _prepare(self) -> None:
        """The first call pulls and loads the model, outside the timeout (a cached answer needs neither)."""
        if self._loaded_engine() is None:
            await asyncio.to_thread(self.load)

    async def _send(self, request: dict[str, Any]) -> dict[str, Any]:
        engine = self._loaded_engine() or await asyncio.to_thread(self.load)
        n = int(request.pop("n", 1) or 1)
        if n == 1:
            return await self._send_one(engine, request)
        # the engine caps n at the slot count and reports the usage of one choice only: send n requests
        base_seed = request.get("seed", self.seed)
        parts = []
        for i in range(n):
            sub = dict(request)
            if base_seed is not None:
                sub["seed"] = int(base_seed) + i
            parts.append(self._send_one(engine, sub))
        return _merge(await asyncio.gather(*parts))

    async def _send_one(self, engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
        compact = grammar_request(request) if self.compact_json else None
        key = _schema_key(request) if compact is not None else ""
        wasted: dict[str, Any] | None = None
        if compact is not None and key not in self._grammar_rejected:
            try:
                response = await self._call(engine, compact)
            except LLMProviderError as exc:
                if exc.transient:
                    raise
                log.debug("compact JSON grammar rejected (%s); using response_format", exc.message)
            else:
                if grammar_was_applied(response):
                    return response
                log.warning(
                    "llama.cpp did not apply the compact JSON grammar to this schema; falling back to response_format"
                )
                wasted = response
            self._grammar_rejected.add(key)
        response = await self._call(engine, request)
        if wasted is not None:
            response = _add_usage(response, wasted)
        return response

    def sampler_fields(self) -> dict[str, Any]:
        """Sampler fields sent with every request: the catalogue's for this model, updated by ``sampler``."""
        entry = CATALOGUE.get(self.model.strip().lower())
        fields_ = entry.sampler.request_fields() if entry is not None else {}
        fields_.update({k: v for k, v in (self.sampler or {}).items() if v is not None})
        return fields_

    def build_request(self, messages: Any, *, repeat_window: int | None = None, **options: Any) -> dict[str, Any]:
        """The chat request with this model's sampler fields (part of the request, hence of its cache key).

        With DRY on, ``repeat_window`` widens its allowed length: the caller says how long a verbatim repeat
        of the prompt is a legitimate answer (a whole example row, on a table where most people share rows).
        """
        sampler = self.sampler_fields()
        if repeat_window is not None and sampler.get("dry_multiplier"):
            sampler["dry_allowed_length"] = max(int(repeat_window), int(sampler.get("dry_allowed_length") or 2))
        return {**sampler, **super().build_request(messages, **options)}

    async def _call(self, engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
        request = dict(request, model=self.model_name)
        loop = asyncio.get_running_loop()
        try:
            response = await loop.run_in_executor(engine.executor, engine.chat, request)
        except (ValueError, TypeError) as exc:
            raise self._error(f"llama.cpp rejected the request: {exc}", status=400) from exc
        except RuntimeError as exc:
            raise self._error(f"llama.cpp failed: {exc}", status=500) from exc
        if not isinstance(response, dict):
            raise self._error(f"llama.cpp returned {type(response).__name__}, not a response", status=500)
        error = response.get("error")
        if error is not None:
            raise self._engine_error(error, engine)
        if not response.get("choices"):
            raise self._error("llama.cpp returned no choices", status=500)
        return response

    def _engine_error(self, error: Any, engine: Engine) -> LLMProviderError:
        if not isinstance(error, dict):
            return self._error(f"llama.cpp error: {error}", status=500)
        status = int(error.get("code") or 500)
        message = str(error.get("message") or error)
        if error.get("type") == "exceed_context_size_error":
            message = (
                f"the prompt ({error.get('n_prompt_tokens', '?')} tokens) does not fit the "
                f"{engine.settings.n_ctx} tokens of context per slot; raise n_ctx (e.g. "
                f"n_ctx={2 * engine.settings.n_ctx}) or send fewer example rows"
            )
        return self._error(f"llama.cpp error {status}: {message}", status=status)

    def _error(self, message: str, *, status: int) -> LLMProviderError:
        return LLMProviderError(message, status=status, model=self.model_name, endpoint=self.endpoint)


def _schema_key(request: dict[str, Any]) -> str:
    schema = ((request.get("response_format") or {}).get("json_schema") or {}).get("schema")
    return hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()


def _usage(response: dict[str, Any]) -> tuple[int, int, int]:
    usage = response.get("usage") or {}
    details = usage.get("prompt_tokens_details")
    cached = (details.get("cached_tokens") if isinstance(details, dict) else 0) or 0
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0), int(cached)


def _add_usage(response: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    p1, c1, k1 = _usage(response)
    p2, c2, k2 = _usage(other)
    usage = dict(response.get("usage") or {})
    usage.update(
        prompt_tokens=p1 + p2,
        completion_tokens=c1 + c2,
        total_tokens=p1 + p2 + c1 + c2,
        prompt_tokens_details={"cached_tokens": k1 + k2},
    )
    return dict(response, usage=usage)


def _merge(responses: list[dict[str, Any]]) -> dict[str, Any]:
    """One response with the choices of several single-choice responses, usage summed."""
    merged = dict(responses[0])
    choices = []
    for i, response in enumerate(responses):
        for choice in response.get("choices") or []:
            choices.append(dict(choice, index=i))
        if i:
            merged = _add_usage(merged, response)
    merged["choices"] = choices
    return merged


def create_local_client(spec: LLMSpec, **options: Any) -> LocalLlamaClient:
    """Build a :class:`LocalLlamaClient` from a ``local:NAME`` or ``local:PATH.gguf`` spec.

    Options that are fields of the client (``max_concurrency``, ``timeout``, ``retry``, ``cache``,
    ``cache_policy``, ``usage``, ``structured``, ``n_ctx``, ``n_parallel``, ``threads``, ``n_gpu_layers``,
    ``seed``, ``verbose``, ``compact_json``) are used; ``None`` values and other options are ignored.

    Raises:
        ConfigError: unknown catalogue name or missing file (nothing is downloaded here).
    """
    from .models import DEFAULT_MODEL

    accepted = {f.name for f in fields(LocalLlamaClient)} - {"model"}
    kwargs: dict[str, Any] = {}
    for name, value in options.items():
        if name in accepted:
            if value is not None:
                kwargs[name] = value
        else:
            log.debug("the local backend ignores option %s=%r", name, value)
    return LocalLlamaClient(model=str(getattr(spec, "model", "") or DEFAULT_MODEL), **kwargs)


__all__ = [
    "COMPACT_JSON",
    "LocalLlamaClient",
    "create_local_client",
    "grammar_request",
    "grammar_was_applied",
]
