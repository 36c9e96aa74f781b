"""LLM spec strings and the backend registry.

A spec names a backend and a model in one string, e.g. ``openai:gpt-4o-mini``,
``openai:qwen2.5-7b@http://127.0.0.1:8000/v1``, ``azure:my-deployment``, ``local:smollm2-135m`` or
``simulated``. Backends register a factory ``factory(spec, **options) -> BaseClient``; the ones that need
optional packages (``local``) or live outside ``llm/`` (``simulated``) are imported only when used, so
callers never depend on them.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..runstate import CACHE as CACHE_FILENAME
from .base import BaseClient, RetryPolicy
from .cache import ResponseCache
from .models import DEFAULT_MODEL
from .usage import UsageTracker

log = logging.getLogger(__name__)

DEFAULT_LOCAL_SPEC = f"local:{DEFAULT_MODEL}"
STRUCTURED_MODES = ("json_schema", "json_object", "none")
CACHE_POLICIES = ("auto", "on", "off")

BackendFactory = Callable[..., BaseClient]


@dataclass(frozen=True)
class LLMSpec:
    """A parsed spec: which backend, which model (or deployment, catalogue name, GGUF path), which URL."""

    backend: str
    model: str
    url: str | None = None

    def __str__(self) -> str:
        if self.backend == "simulated" and self.model == "simulated":
            return "simulated"
        text = f"{self.backend}:{self.model}"
        return f"{text}@{self.url}" if self.url else text


@dataclass(frozen=True)
class _Backend:
    factory: BackendFactory | str  # a callable, or "module:attribute" imported on first use
    form: str
    accepts_url: bool = False
    needs_model: bool = True
    install_hint: str | None = None


_BACKENDS: dict[str, _Backend] = {
    "openai": _Backend(
        "mallm_gan.llm.openai_compat:create_openai_client",
        "openai:MODEL            OpenAI (OPENAI_API_KEY; OPENAI_BASE_URL optional)\n"
        "  openai:MODEL@URL        any OpenAI-compatible server, e.g. openai:qwen2.5@http://127.0.0.1:8000/v1",
        accepts_url=True,
    ),
    "azure": _Backend(
        "mallm_gan.llm.openai_compat:create_azure_client",
        "azure:DEPLOYMENT        Azure OpenAI (AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY, OPENAI_API_VERSION)",
    ),
    "local": _Backend(
        "mallm_gan.llm.local:create_local_client",
        "local:NAME | local:PATH.gguf   in-process llama.cpp model (catalogue name or GGUF file)",
        install_hint="pip install 'mallm-gan[local]'",
    ),
    "simulated": _Backend(
        "mallm_gan.testing.simulated:create_simulated_client",
        "simulated               statistical stand-in for tests (not a language model)",
        needs_model=False,
    ),
}

_URL_RE = re.compile(r"^(?P<model>.*?)@(?P<url>[A-Za-z][A-Za-z0-9+.-]*://.*)$")


def valid_forms() -> str:
    """The spec forms every registered backend accepts, one per line (for error messages and help)."""
    return "\n".join(f"  {b.form}" for b in _BACKENDS.values())


def _malformed(spec: str, why: str) -> ConfigError:
    # a URL in a spec may carry user:password; keep it out of the message
    shown = re.sub(r"://[^/@\s]*@", "://***@", spec)
    return ConfigError(f"invalid LLM spec {shown!r}: {why}. Valid forms:\n{valid_forms()}", spec=shown)


def parse_spec(spec: str) -> LLMSpec:
    """Parse a spec string into an :class:`LLMSpec`.

    Raises:
        ConfigError: Unknown backend or malformed spec; the message lists the valid forms.
    """
    if not isinstance(spec, str):
        raise _malformed(str(spec), f"expected a string, got {type(spec).__name__}")
    text = spec.strip()
    if not text:
        raise _malformed(spec, "empty")
    backend, sep, rest = text.partition(":")
    backend = backend.strip().lower()
    entry = _BACKENDS.get(backend)
    if entry is None:
        raise _malformed(spec, f"unknown backend {backend!r}")
    if not sep:
        if entry.needs_model:
            raise _malformed(spec, f"the {backend} backend needs a model name after '{backend}:'")
        return LLMSpec(backend, backend)
    rest = rest.strip()
    if not rest:
        raise _malformed(spec, f"nothing after '{backend}:'")
    model, url = rest, None
    match = _URL_RE.match(rest)
    if match:
        model, url = match["model"].strip(), match["url"].strip()
        if not entry.accepts_url:
            raise _malformed(spec, f"the {backend} backend takes no @URL")
        if not url.lower().startswith(("http://", "https://")):
            raise _malformed(spec, f"the URL must start with http:// or https://, got {url!r}")
        if len(url.split("://", 1)[1].strip("/")) == 0:
            raise _malformed(spec, "the URL has no host")
    elif "@" in rest and entry.accepts_url:
        raise _malformed(spec, "after '@' comes a URL such as http://127.0.0.1:8000/v1")
    if not model:
        raise _malformed(spec, "the model name is empty")
    if backend != "local" and re.search(r"\s", model):
        raise _malformed(spec, f"the model name {model!r} contains whitespace")
    return LLMSpec(backend, model, url)


def register_backend(
    name: str,
    factory: BackendFactory | str,
    *,
    form: str | None = None,
    accepts_url: bool = False,
    needs_model: bool = True,
    install_hint: str | None = None,
) -> None:
    """Register (or replace) a backend.

    Args:
        name: The spec prefix, e.g. ``"vllm"`` for ``vllm:MODEL``.
        factory: ``factory(spec: LLMSpec, **options) -> BaseClient``, or ``"module:attribute"`` to import it
            on first use. ``options`` are :class:`BaseClient` fields (max_concurrency, timeout, retry,
            cache, cache_policy, usage, and structured with negotiate=False when the caller chose a mode)
            plus backend options.
        form: One line for the list of valid forms, e.g. ``"vllm:MODEL   a vLLM server"``.
        accepts_url: Whether ``name:MODEL@URL`` is allowed.
        needs_model: Whether a bare ``name`` (no ``:MODEL``) is malformed.
        install_hint: Shown when the factory's module cannot be imported.
    """
    key = name.strip().lower()
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", key):
        raise ConfigError(f"backend name {name!r} must be letters, digits, '-' or '_', starting with a letter")
    _BACKENDS[key] = _Backend(
        factory,
        form or f"{key}:MODEL",
        accepts_url=accepts_url,
        needs_model=needs_model,
        install_hint=install_hint,
    )


def _load_factory(backend: str) -> BackendFactory:
    entry = _BACKENDS[backend]
    if callable(entry.factory):
        return entry.factory
    module_name, _, attr = entry.factory.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        hint = f"; install it with: {entry.install_hint}" if entry.install_hint else ""
        if exc.name and module_name.startswith(exc.name):
            raise ConfigError(
                f"the {backend!r} backend is not available in this installation ({module_name} is missing)"
            ) from exc
        raise ConfigError(
            f"the {backend!r} backend needs the package {exc.name!r}, which is not installed{hint}"
        ) from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigError(f"the {backend!r} backend is broken: {module_name} has no {attr}()")
    return factory


def resolve_spec(spec: str | LLMSpec | None = None) -> tuple[str, bool]:
    """Which spec to use: the explicit one, else ``$MALLM_LLM``, else :data:`DEFAULT_LOCAL_SPEC`.

    Returns:
        ``(spec, is_default)``; ``is_default`` is True only when neither was given.
    """
    if spec is not None and str(spec).strip():
        return str(spec).strip(), False
    env = os.environ.get("MALLM_LLM", "").strip()
    if env:
        return env, False
    return DEFAULT_LOCAL_SPEC, True


def _structured_mode(structured: str | None) -> str | None:
    source = "structured"
    if structured is None:
        structured = os.environ.get("MALLM_STRUCTURED", "").strip() or None
        source = "MALLM_STRUCTURED"
    if structured is not None and structured not in STRUCTURED_MODES:
        raise ConfigError(f"{source}={structured!r} must be one of {', '.join(STRUCTURED_MODES)}")
    return structured


def _check_client_options(*, timeout: float, max_retries: int, cache_policy: str) -> None:
    """Raise a ConfigError naming the option for a timeout, retry count or cache policy no client can use."""
    if not timeout > 0:
        raise ConfigError(f"timeout must be > 0 seconds, got {timeout}")
    if max_retries < 0:
        raise ConfigError(f"max_retries must be >= 0, got {max_retries}")
    if cache_policy not in CACHE_POLICIES:
        raise ConfigError(f"cache_policy={cache_policy!r} must be one of {', '.join(CACHE_POLICIES)}")


def create_llm(
    spec: str | LLMSpec | None = None,
    *,
    max_concurrency: int | None = None,
    timeout: float = 120.0,
    max_retries: int = 4,
    retry: RetryPolicy | None = None,
    structured: str | None = None,
    cache_dir: str | Path | None = None,
    cache_policy: str = "auto",
    usage: UsageTracker | None = None,
    **backend_options: Any,
) -> BaseClient:
    """Build the client a spec names.

    Args:
        spec: A spec string or :class:`LLMSpec`; ``None`` resolves through :func:`resolve_spec`.
        max_concurrency: Requests in flight at most; ``None`` takes the backend's default (16 for an HTTP
            endpoint, one per slot for the in-process model).
        timeout: Seconds per request.
        max_retries: Retries of transient failures (ignored when ``retry`` is given).
        retry: A full backoff policy, e.g. ``RetryPolicy(base_delay=0.01)`` in tests.
        structured: ``json_schema``, ``json_object`` or ``none`` forces that mode; ``None`` takes
            ``$MALLM_STRUCTURED``, or else starts from the backend's default and negotiates (falls back when
            the endpoint refuses a mode, see :mod:`mallm_gan.llm.base`).
        cache_dir: Directory of the response cache (``llm-cache.sqlite``); ``None`` means no cache.
        cache_policy: ``auto`` (only reproducible requests), ``on`` or ``off``.
        usage: A shared :class:`UsageTracker` (and budget); a new one when ``None``.
        **backend_options: Passed to the backend factory (e.g. ``api_key``, ``base_url``).

    Raises:
        ConfigError: Malformed spec, bad option, missing credentials or a backend that is not installed.
    """
    parsed = spec if isinstance(spec, LLMSpec) else parse_spec(resolve_spec(spec)[0])
    _check_client_options(timeout=timeout, max_retries=max_retries, cache_policy=cache_policy)
    mode = _structured_mode(structured)
    factory = _load_factory(parsed.backend)
    cache = ResponseCache(Path(cache_dir) / CACHE_FILENAME) if cache_dir is not None else None
    options: dict[str, Any] = {
        "timeout": float(timeout),
        "retry": retry if retry is not None else RetryPolicy(max_retries=max_retries),
        "cache": cache,
        "cache_policy": cache_policy,
        "usage": usage if usage is not None else UsageTracker(),
        **backend_options,
    }
    if max_concurrency is not None:  # else the backend's own default (validated by the client)
        options["max_concurrency"] = max_concurrency
    if mode is not None:
        # a mode the caller chose is kept even when the endpoint refuses it: the error then says so
        options["structured"] = mode
        options["negotiate"] = False
    try:
        client = factory(parsed, **options)
    except BaseException:
        if cache is not None:
            cache.close()
        raise
    log.info("LLM client: %s", client.describe())
    return client


__all__ = [
    "CACHE_FILENAME",
    "DEFAULT_LOCAL_SPEC",
    "LLMSpec",
    "create_llm",
    "parse_spec",
    "register_backend",
    "resolve_spec",
    "valid_forms",
]
