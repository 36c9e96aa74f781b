"""Spec strings, spec resolution and create_llm (no network: no request is sent)."""

from __future__ import annotations

import pytest

from mallm_gan.cli.app import exit_code
from mallm_gan.errors import ConfigError
from mallm_gan.llm import DEFAULT_LOCAL_SPEC, BaseClient, LLMSpec, create_llm, parse_spec, registry, resolve_spec
from mallm_gan.llm.base import RetryPolicy
from mallm_gan.llm.models import DEFAULT_MODEL
from mallm_gan.llm.openai_compat import OpenAICompatClient

pytestmark = pytest.mark.usefixtures("clean_llm_env")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("openai:gpt-4o-mini", LLMSpec("openai", "gpt-4o-mini")),
        ("openai:qwen2.5:7b@http://127.0.0.1:11434/v1", LLMSpec("openai", "qwen2.5:7b", "http://127.0.0.1:11434/v1")),
        ("openai:org/model@https://llm.example.com/v1", LLMSpec("openai", "org/model", "https://llm.example.com/v1")),
        ("  OpenAI:gpt-4o  ", LLMSpec("openai", "gpt-4o")),
        ("azure:my-deployment", LLMSpec("azure", "my-deployment")),
        ("local:smollm2-135m", LLMSpec("local", "smollm2-135m")),
        ("local:/models/My Model.Q4.gguf", LLMSpec("local", "/models/My Model.Q4.gguf")),
        ("local:C:\\models\\x.gguf", LLMSpec("local", "C:\\models\\x.gguf")),
        ("simulated", LLMSpec("simulated", "simulated")),
        ("simulated:noisy", LLMSpec("simulated", "noisy")),
    ],
)
def test_valid_specs(text: str, expected: LLMSpec) -> None:
    spec = parse_spec(text)
    assert spec == expected
    assert parse_spec(str(spec)) == spec  # str() round-trips


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("gpt-4o", "unknown backend"),
        ("anthropic:claude", "unknown backend"),
        ("openai", "needs a model"),
        ("openai:", "nothing after"),
        ("openai:@http://127.0.0.1:8000/v1", "model name is empty"),
        ("openai:gpt@", "after '@' comes a URL"),
        ("openai:gpt@127.0.0.1:8000", "after '@' comes a URL"),
        ("openai:gpt@ftp://host/v1", "must start with http"),
        ("openai:gpt@http://", "no host"),
        ("openai:gpt 4", "whitespace"),
        ("azure:", "nothing after"),
        ("azure:dep@https://x.openai.azure.com", "takes no @URL"),
        ("local", "needs a model"),
        ("local:", "nothing after"),
        ("local:model@http://127.0.0.1:1/v1", "takes no @URL"),
        ("simulated:", "nothing after"),
    ],
)
def test_malformed_specs_list_the_valid_forms(text: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_spec(text)
    message = str(info.value)
    assert why in message
    for form in ("openai:MODEL", "openai:MODEL@URL", "azure:DEPLOYMENT", "local:NAME", "local:PATH.gguf", "simulated"):
        assert form in message
    assert exit_code(info.value) == 2


def test_credentials_in_a_spec_url_are_not_echoed() -> None:
    with pytest.raises(ConfigError) as info:
        parse_spec("azure:dep@https://user:hunter2@x.example.com")
    assert "hunter2" not in str(info.value)


def test_resolve_spec_order(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_spec() == (DEFAULT_LOCAL_SPEC, True)
    assert DEFAULT_LOCAL_SPEC == f"local:{DEFAULT_MODEL}" == "local:qwen2.5-coder-0.5b"
    monkeypatch.setenv("MALLM_LLM", "openai:from-env")
    assert resolve_spec() == ("openai:from-env", False)
    assert resolve_spec("azure:explicit") == ("azure:explicit", False)
    assert resolve_spec(LLMSpec("openai", "m")) == ("openai:m", False)
    monkeypatch.setenv("MALLM_LLM", "  ")
    assert resolve_spec(None) == (DEFAULT_LOCAL_SPEC, True)


def test_openai_key_and_url_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://proxy.example.com/v1")
    client = create_llm("openai:gpt-4o-mini", max_concurrency=5, timeout=9, max_retries=2)
    assert isinstance(client, OpenAICompatClient)
    assert (client.model, client.api_key, client.base_url) == (
        "gpt-4o-mini",
        "sk-env-key",
        "https://proxy.example.com/v1",
    )
    assert (client.max_concurrency, client.timeout, client.retry.max_retries) == (5, 9.0, 2)
    assert client.structured == "json_schema"
    assert client.cache is None
    assert not client.is_local
    # an explicit @URL wins over OPENAI_BASE_URL
    assert create_llm("openai:m@http://127.0.0.1:8000/v1").base_url == "http://127.0.0.1:8000/v1"


def test_missing_openai_key_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        create_llm("openai:gpt-4o-mini")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        create_llm("openai:m@https://remote.example.com/v1")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_a_local_server_needs_no_key(host: str) -> None:
    client = create_llm(f"openai:m@http://{host}:8000/v1")
    assert client.is_local
    assert client.api_key


def test_azure_reports_every_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as info:
        create_llm("azure:dep")
    for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "OPENAI_API_VERSION"):
        assert name in str(info.value)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az-key")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    client = create_llm("azure:dep")
    assert isinstance(client, OpenAICompatClient)
    assert client.is_azure and client.model == "dep" and client.api_version == "2024-10-21"
    assert client.endpoint == "https://res.openai.azure.com"
    assert "az-key" not in repr(client) + client.describe()


def test_structured_mode_argument_env_and_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = "openai:m@http://127.0.0.1:8000/v1"
    assert create_llm(spec).structured == "json_schema"
    monkeypatch.setenv("MALLM_STRUCTURED", "json_object")
    assert create_llm(spec).structured == "json_object"
    assert create_llm(spec, structured="none").structured == "none"  # the argument beats the env
    monkeypatch.setenv("MALLM_STRUCTURED", "grammar")
    with pytest.raises(ConfigError, match="MALLM_STRUCTURED"):
        create_llm(spec)
    with pytest.raises(ConfigError, match="structured"):
        create_llm(spec, structured="xml")


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"timeout": 0}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"cache_policy": "sometimes"}, "cache_policy"),
        ({"colour": "blue"}, "unknown option"),
    ],
)
def test_bad_options_are_config_errors(options: dict, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        create_llm("openai:m@http://127.0.0.1:8000/v1", **options)


def test_cache_dir_and_retry_policy(tmp_path) -> None:
    retry = RetryPolicy(max_retries=7, base_delay=0.01)
    client = create_llm("openai:m@http://127.0.0.1:8000/v1", cache_dir=tmp_path / "c", retry=retry, cache_policy="on")
    assert client.cache is not None
    assert client.cache.path == tmp_path / "c" / "llm-cache.sqlite"
    assert client.cache.path.exists()
    assert client.retry is retry and client.cache_policy == "on"
    client.cache.close()


def test_custom_backend_plugs_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_BACKENDS", dict(registry._BACKENDS))
    seen = {}

    def factory(spec: LLMSpec, **options) -> BaseClient:
        seen.update(options)
        options.pop("flavour")
        return BaseClient(model=spec.model, **options)

    registry.register_backend("mine", factory, form="mine:MODEL   my own backend", accepts_url=True)
    client = create_llm("mine:x@http://h/v1", flavour="spicy", max_concurrency=2)
    assert client.model == "x" and client.max_concurrency == 2
    assert seen["flavour"] == "spicy"
    assert "structured" not in seen  # backend default unless the caller chose one
    with pytest.raises(ConfigError, match="mine:MODEL"):
        parse_spec("nope:x")
    with pytest.raises(ConfigError, match="backend name"):
        registry.register_backend("bad name", factory)


def test_missing_lazy_backend_module_is_a_clear_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_BACKENDS", dict(registry._BACKENDS))
    registry.register_backend("ghost", "mallm_gan.llm.no_such_module:create", install_hint="pip install x")
    with pytest.raises(ConfigError, match="not available in this installation"):
        create_llm("ghost:m")
    registry.register_backend("needy", "mallm_gan.llm.registry:no_such_factory")
    with pytest.raises(ConfigError, match="has no no_such_factory"):
        create_llm("needy:m")


def test_builtin_lazy_backends_are_registered_by_module_path() -> None:
    # local and simulated are imported only when used; they live outside this module
    assert registry._BACKENDS["local"].factory == "mallm_gan.llm.local:create_local_client"
    assert registry._BACKENDS["simulated"].factory == "mallm_gan.testing.simulated:create_simulated_client"
