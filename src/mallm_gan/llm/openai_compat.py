"""The client for OpenAI, Azure OpenAI and any OpenAI-compatible server (vLLM, Ollama, llama.cpp server).

It is a thin edge over the official ``openai`` SDK: :class:`BaseClient` does the concurrency bound, timeouts,
retries, cache and usage accounting, so the SDK's own retries are switched off (``max_retries=0``) and every
SDK exception is mapped here, once, to the project's :mod:`mallm_gan.errors` types with status, model,
request id and endpoint. The API key lives in one field that is kept out of ``repr``, :meth:`describe`,
log lines and error messages.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import time
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import (
    ConfigError,
    LLMAuthError,
    LLMError,
    LLMProviderError,
    LLMRateLimitError,
    LLMTransportError,
)
from .base import BaseClient

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .registry import LLMSpec

log = logging.getLogger(__name__)

DEFAULT_OPENAI_URL = "https://api.openai.com/v1"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# A local OpenAI-compatible server usually ignores the key, but the SDK insists on one.
LOCAL_DUMMY_KEY = "not-needed-for-local-servers"
# Chat Completions parameters the SDK takes as keyword arguments; anything else (e.g. a llama.cpp
# ``grammar``) travels in ``extra_body`` so the SDK passes it through untouched.
_SDK_PARAMS = frozenset(
    {
        "messages",
        "model",
        "temperature",
        "max_tokens",
        "max_completion_tokens",
        "seed",
        "n",
        "response_format",
        "top_p",
        "stop",
        "frequency_penalty",
        "presence_penalty",
        "logprobs",
        "top_logprobs",
        "logit_bias",
        "user",
        "stream",
    }
)


def is_loopback_url(url: str | None) -> bool:
    """True when ``url`` points at this machine (127.0.0.1, localhost or ::1)."""
    if not url:
        return False
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    return host is not None and host.lower() in LOOPBACK_HOSTS


def redact_url(url: str) -> str:
    """``url`` without user info, query string or fragment: safe to show in messages and logs."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def parse_retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds to wait according to ``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms``.

    Returns ``None`` when the server gave no usable advice; never a negative number.
    """
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


@dataclass
class OpenAICompatClient(BaseClient):
    """An LLM client over the ``openai`` SDK (OpenAI, Azure OpenAI or any OpenAI-compatible ``base_url``).

    Args:
        base_url: Endpoint such as ``http://127.0.0.1:8000/v1``; ``None`` means api.openai.com.
        api_key: The key. Never shown in ``repr``, :meth:`describe`, logs or errors.
        azure_endpoint: Azure resource URL; when set, the Azure client is used and ``model`` is the
            deployment name.
        api_version: Azure API version (required with ``azure_endpoint``).
        key_env: The environment variable a user should fix when the key is rejected.
        (plus every :class:`BaseClient` field: model, max_concurrency, timeout, retry, structured, cache,
        cache_policy, usage)
    """

    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    azure_endpoint: str | None = None
    api_version: str | None = None
    key_env: str = "OPENAI_API_KEY"

    def __post_init__(self) -> None:
        super().__post_init__()
        self._sdk: Any = None
        self._sdk_loop: asyncio.AbstractEventLoop | None = None

    # -- identity ---------------------------------------------------------------------------------------
    @property
    def is_azure(self) -> bool:
        return self.azure_endpoint is not None

    @property
    def endpoint(self) -> str:
        """The URL requests go to, without credentials (a label for messages)."""
        if self.azure_endpoint is not None:
            return redact_url(self.azure_endpoint)
        return redact_url(self.base_url or DEFAULT_OPENAI_URL)

    @property
    def is_local(self) -> bool:
        return is_loopback_url(self.azure_endpoint if self.is_azure else self.base_url)

    def describe(self) -> str:
        kind = "azure" if self.is_azure else "openai"
        where = "on this machine" if self.is_local else "remote"
        return f"{kind}:{self.model} at {self.endpoint} ({where}; structured output: {self.mode_text})"

    # -- the SDK client, one per event loop -------------------------------------------------------------
    def _client(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._sdk is not None and self._sdk_loop is loop:
            return self._sdk
        if self._sdk is not None:
            # An earlier asyncio.run() has ended: that loop and the old client's connections are gone.
            log.debug("event loop changed; creating a new SDK client for %s", self.endpoint)
        self._sdk = self._make_sdk()
        self._sdk_loop = loop
        return self._sdk

    def _make_sdk(self) -> Any:
        import openai

        if not self.api_key:
            raise ConfigError(f"no API key for {self.endpoint}: set {self.key_env}")
        # A little above our own timeout so that BaseClient's timeout (a clear message) fires first.
        common: dict[str, Any] = {"api_key": self.api_key, "max_retries": 0, "timeout": self.timeout + 5.0}
        try:
            if self.is_azure:
                return openai.AsyncAzureOpenAI(
                    azure_endpoint=self.azure_endpoint, api_version=self.api_version, **common
                )
            return openai.AsyncOpenAI(base_url=self.base_url or DEFAULT_OPENAI_URL, **common)
        except (openai.OpenAIError, ValueError) as exc:
            raise ConfigError(f"cannot set up the client for {self.endpoint}: {self._scrub(str(exc))}") from None

    async def aclose(self) -> None:
        """Close the SDK client (its connection pool) if it belongs to the running event loop."""
        sdk, loop = self._sdk, self._sdk_loop
        self._sdk, self._sdk_loop = None, None
        if sdk is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            await sdk.close()

    # -- one request ------------------------------------------------------------------------------------
    async def _send(self, request: dict[str, Any]) -> dict[str, Any]:
        import openai

        body = dict(request)
        body["model"] = self.model
        kwargs = {k: v for k, v in body.items() if k in _SDK_PARAMS}
        extra = {k: v for k, v in body.items() if k not in _SDK_PARAMS}
        if extra:
            kwargs["extra_body"] = extra
        client = self._client()
        try:
            response = await client.chat.completions.create(**kwargs)
        except openai.APIStatusError as exc:
            raise self._status_error(exc) from exc
        except openai.APIConnectionError as exc:  # includes APITimeoutError
            detail = self._scrub(str(exc.__cause__ or exc))
            if isinstance(exc, openai.APITimeoutError):
                message = f"timed out: {self.endpoint} ({detail})"
            else:
                message = (
                    f"could not connect to {self.endpoint} ({detail}); is the server running and the URL right? "
                    "Check --llm (or OPENAI_BASE_URL)"
                )
            raise LLMTransportError(message, model=self.model, endpoint=self.endpoint) from exc
        except openai.OpenAIError as exc:
            raise LLMProviderError(
                f"unexpected answer from {self.endpoint}: {self._scrub(str(exc))}",
                model=self.model,
                endpoint=self.endpoint,
            ) from exc
        if not hasattr(response, "model_dump"):
            shown = " ".join(str(response).split())[:80]
            # status 200 (what it answered) makes it permanent: asking the same URL again gets the same page
            raise LLMProviderError(
                f"{self.endpoint} answered, but not with a chat completion (got {type(response).__name__}: "
                f"{shown!r}); is it the API's base URL (it usually ends in /v1)? Check --llm",
                status=200,
                model=self.model,
                endpoint=self.endpoint,
            )
        return response.model_dump(mode="json")

    def _status_error(self, exc: Any) -> LLMError:
        import openai

        status = int(exc.status_code)
        headers = exc.response.headers if exc.response is not None else None
        fields_ = {
            "status": status,
            "model": self.model,
            "request_id": exc.request_id,
            "endpoint": self.endpoint,
        }
        detail = self._scrub(_error_detail(exc))
        if isinstance(exc, openai.RateLimitError):
            retry_after = parse_retry_after(headers)
            advice = f"; server asks to wait {retry_after:g} s" if retry_after is not None else ""
            return LLMRateLimitError(
                f"rate limited by {self.endpoint} (HTTP 429) for model {self.model}{advice}: {detail}",
                retry_after=retry_after,
                **fields_,
            )
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            what = "the API key was rejected" if status == 401 else "the API key has no access"
            return LLMAuthError(
                f"{what} by {self.endpoint} (HTTP {status}, model {self.model}): "
                f"check {self.key_env}. Server said: {detail}",
                **fields_,
            )
        if isinstance(exc, openai.NotFoundError):
            return LLMProviderError(
                f"model {self.model} not found at {self.endpoint}; check the name (HTTP 404: {detail})",
                **fields_,
            )
        return LLMProviderError(f"{self.endpoint} answered HTTP {status} for model {self.model}: {detail}", **fields_)

    def _scrub(self, text: str) -> str:
        """Remove the key from text that came from elsewhere (a server message, an SDK error)."""
        if self.api_key and len(self.api_key) >= 4:
            text = text.replace(self.api_key, "***")
        return text


def _error_detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return str(getattr(exc, "message", exc))


# -- factories used by the registry ----------------------------------------------------------------------
_CLIENT_FIELDS = frozenset(f.name for f in fields(OpenAICompatClient)) - {"model"}


def _check_options(backend: str, options: dict[str, Any]) -> None:
    unknown = sorted(set(options) - _CLIENT_FIELDS)
    if unknown:
        raise ConfigError(
            f"unknown option(s) for the {backend} backend: {', '.join(unknown)}; "
            f"valid: {', '.join(sorted(_CLIENT_FIELDS))}"
        )


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(f"invalid endpoint URL {redact_url(url)!r}: expected http(s)://HOST[:PORT]/PATH")
    if "@" in parts.netloc:
        # the spec string is saved with the run and URLs are logged: a key in it would end up in both
        raise ConfigError(
            f"the endpoint URL {redact_url(url)!r} carries credentials (USER:KEY@HOST); give the key in "
            "OPENAI_API_KEY (or AZURE_OPENAI_API_KEY) instead"
        )


def create_openai_client(spec: LLMSpec, **options: Any) -> OpenAICompatClient:
    """Factory for ``openai:MODEL`` and ``openai:MODEL@URL``.

    The key comes from ``api_key=`` or ``OPENAI_API_KEY``; the URL from the spec, ``base_url=`` or
    ``OPENAI_BASE_URL``. A server on localhost needs no key.
    """
    options.setdefault("structured", "json_schema")
    option_url = options.pop("base_url", None)
    url = spec.url or option_url or os.environ.get("OPENAI_BASE_URL") or None
    if url is not None:
        _check_url(url)
    key = options.pop("api_key", None) or os.environ.get("OPENAI_API_KEY") or None
    if key is None:
        if not is_loopback_url(url):
            raise ConfigError(
                f"openai:{spec.model} needs an API key: set OPENAI_API_KEY (for a server on this machine "
                "use openai:MODEL@http://127.0.0.1:PORT/v1, which needs none)"
            )
        key = LOCAL_DUMMY_KEY
    _check_options("openai", options)
    return OpenAICompatClient(model=spec.model, base_url=url, api_key=key, key_env="OPENAI_API_KEY", **options)


def create_azure_client(spec: LLMSpec, **options: Any) -> OpenAICompatClient:
    """Factory for ``azure:DEPLOYMENT``: AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY, OPENAI_API_VERSION."""
    options.setdefault("structured", "json_schema")
    endpoint = options.pop("azure_endpoint", None) or os.environ.get("AZURE_OPENAI_ENDPOINT") or None
    key = options.pop("api_key", None) or os.environ.get("AZURE_OPENAI_API_KEY") or None
    version = options.pop("api_version", None) or os.environ.get("OPENAI_API_VERSION") or None
    missing = [
        name
        for name, value in (
            ("AZURE_OPENAI_ENDPOINT", endpoint),
            ("AZURE_OPENAI_API_KEY", key),
            ("OPENAI_API_VERSION", version),
        )
        if value is None
    ]
    if missing:
        raise ConfigError(f"azure:{spec.model} needs these environment variables: {', '.join(missing)}")
    assert endpoint is not None
    _check_url(endpoint)
    _check_options("azure", options)
    return OpenAICompatClient(
        model=spec.model,
        azure_endpoint=endpoint,
        api_key=key,
        api_version=version,
        key_env="AZURE_OPENAI_API_KEY",
        **options,
    )


__all__ = [
    "DEFAULT_OPENAI_URL",
    "OpenAICompatClient",
    "create_azure_client",
    "create_openai_client",
    "is_loopback_url",
    "parse_retry_after",
    "redact_url",
]
