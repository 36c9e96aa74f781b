"""The local llama.cpp client without a model: request translation, fallbacks, n, errors, engine params."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from mallm_gan.errors import ConfigError, LLMProviderError
from mallm_gan.llm import local, local_engine
from mallm_gan.llm.base import RetryPolicy
from mallm_gan.llm.local import (
    COMPACT_JSON,
    LocalLlamaClient,
    create_local_client,
    grammar_request,
    grammar_was_applied,
)
from mallm_gan.llm.local_engine import EngineSettings
from mallm_gan.llm.models import DEFAULT_MODEL


def _has_xllamacpp() -> bool:
    try:
        import xllamacpp  # noqa: F401
    except ImportError:
        return False
    return True


# a LocalLlamaClient imports xllamacpp when built: without the `local` extra these tests have nothing to test
needs_xllamacpp = pytest.mark.skipif(not _has_xllamacpp(), reason="needs xllamacpp: pip install 'mallm-gan[local]'")
PREFIX = "%llguidance {}\nstart: %json "
ROW_SCHEMA = {
    "title": "rows",
    "type": "object",
    "properties": {"rows": {"type": "array", "items": {"type": "object", "properties": {"a": {"enum": [0, 1]}}}}},
    "required": ["rows"],
}
MESSAGES = [{"role": "user", "content": "write rows"}]


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    return path


def answer(text: str, *, finish: str = "stop", completion: int = 7, prompt: int = 11) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


class FakeEngine:
    """Stands in for a loaded model: records requests, answers with a scripted function."""

    def __init__(self, reply: Any, settings: EngineSettings) -> None:
        self.reply = reply
        self.requests: list[dict[str, Any]] = []
        self.settings = settings
        self.executor = ThreadPoolExecutor(max_workers=4)

    def chat(self, request: dict[str, Any]) -> Any:
        self.requests.append(request)
        return self.reply(request)


def with_engine(client: LocalLlamaClient, reply: Any, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    settings = EngineSettings(str(client.model), client.n_ctx, client.n_parallel or 1, 1, 0, None)
    engine = FakeEngine(reply, settings)
    client._settings = settings
    monkeypatch.setitem(local_engine._ENGINES, settings, engine)
    return engine


def complete(client: LocalLlamaClient, **kwargs: Any) -> Any:
    return asyncio.run(client.complete(MESSAGES, **kwargs))


# -- request translation ------------------------------------------------------------------------------
def test_json_schema_becomes_a_compact_llguidance_grammar() -> None:
    request = {
        "messages": MESSAGES,
        "max_tokens": 50,
        "seed": 3,
        "response_format": {"type": "json_schema", "json_schema": {"name": "rows", "schema": ROW_SCHEMA}},
    }
    out = grammar_request(request)
    assert out is not None
    assert "response_format" not in out and "response_format" in request  # the input is not mutated
    assert out["messages"] == MESSAGES and out["max_tokens"] == 50 and out["seed"] == 3
    assert out["grammar"].startswith(PREFIX)
    schema = json.loads(out["grammar"][len(PREFIX) :])
    assert schema["x-guidance"] == {"whitespace_flexible": False, "item_separator": ",", "key_separator": ":"}
    assert {k: v for k, v in schema.items() if k != "x-guidance"} == ROW_SCHEMA
    assert "x-guidance" not in ROW_SCHEMA
    assert "\n" not in out["grammar"][len(PREFIX) :]


def test_requests_without_a_json_schema_are_not_translated() -> None:
    assert grammar_request({"messages": MESSAGES}) is None
    assert grammar_request({"messages": MESSAGES, "response_format": {"type": "json_object"}}) is None


def test_a_schema_of_its_own_x_guidance_keeps_it() -> None:
    schema = dict(ROW_SCHEMA, **{"x-guidance": {"lenient": True}})
    out = grammar_request({"response_format": {"type": "json_schema", "json_schema": {"schema": schema}}})
    assert out is not None
    assert json.loads(out["grammar"][len(PREFIX) :])["x-guidance"] == {**COMPACT_JSON, "lenient": True}


@pytest.mark.parametrize(
    ("text", "finish", "applied"),
    [
        ('{"rows":[]}', "stop", True),
        ('{"rows":[{"a":1},', "length", True),
        ("Here are the rows:", "stop", False),
        ("```json\n{}", "length", False),
        ('{"rows": oops', "stop", False),
    ],
)
def test_grammar_was_applied_recognises_unconstrained_answers(text: str, finish: str, applied: bool) -> None:
    assert grammar_was_applied(answer(text, finish=finish)) is applied


# -- the client over a fake engine ----------------------------------------------------------------------
@needs_xllamacpp
def test_sends_the_grammar_with_the_model_name_and_returns_usage(gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = LocalLlamaClient(model=str(gguf), n_parallel=2)
    engine = with_engine(client, lambda r: answer('{"rows":[]}'), monkeypatch)
    result = complete(client, json_schema=ROW_SCHEMA, max_tokens=64, seed=5)
    sent = engine.requests[0]
    assert sent["grammar"].startswith(PREFIX) and "response_format" not in sent
    assert sent["model"] == "model.gguf" and sent["max_tokens"] == 64 and sent["seed"] == 5
    assert result.text == '{"rows":[]}'
    assert (result.prompt_tokens, result.completion_tokens) == (11, 7)
    assert client.usage.total.calls == 1 and client.usage.total.completion_tokens == 7


@needs_xllamacpp
def test_an_ignored_grammar_falls_back_to_response_format_once_and_for_all(
    gguf: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def reply(request: dict[str, Any]) -> dict[str, Any]:
        # llama.cpp logs a grammar it cannot compile and generates unconstrained text
        if "grammar" in request:
            return answer("Sure! Here are some rows", completion=30)
        return answer('{"rows": []}', completion=9)

    client = LocalLlamaClient(model=str(gguf), n_parallel=2)
    engine = with_engine(client, reply, monkeypatch)
    first = complete(client, json_schema=ROW_SCHEMA)
    assert first.text == '{"rows": []}'
    assert first.completion_tokens == 39  # the discarded answer is accounted too
    assert "did not apply the compact JSON grammar" in caplog.text
    complete(client, json_schema=ROW_SCHEMA)
    assert ["grammar" in r for r in engine.requests] == [True, False, False]
    assert engine.requests[-1]["response_format"]["json_schema"]["schema"] == ROW_SCHEMA


@needs_xllamacpp
def test_a_grammar_rejected_with_an_exception_falls_back(gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def reply(request: dict[str, Any]) -> dict[str, Any]:
        if "grammar" in request:
            raise ValueError("failed to parse grammar")
        return answer('{"rows": []}')

    client = LocalLlamaClient(model=str(gguf), n_parallel=2)
    with_engine(client, reply, monkeypatch)
    assert complete(client, json_schema=ROW_SCHEMA).text == '{"rows": []}'


@needs_xllamacpp
def test_compact_json_off_sends_response_format(gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = LocalLlamaClient(model=str(gguf), n_parallel=2, compact_json=False)
    engine = with_engine(client, lambda r: answer("{}"), monkeypatch)
    complete(client, json_schema=ROW_SCHEMA)
    assert "grammar" not in engine.requests[0] and engine.requests[0]["response_format"]["type"] == "json_schema"


@needs_xllamacpp
def test_n_choices_are_separate_requests_with_consecutive_seeds(gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = LocalLlamaClient(model=str(gguf), n_parallel=2)
    engine = with_engine(client, lambda r: answer(f"seed {r['seed']}", completion=r["seed"]), monkeypatch)
    result = complete(client, n=3, seed=10)
    assert sorted(r["seed"] for r in engine.requests) == [10, 11, 12]
    assert all("n" not in r for r in engine.requests)
    assert result.texts == ["seed 10", "seed 11", "seed 12"]
    assert result.completion_tokens == 33 and result.prompt_tokens == 33
    assert client.usage.total.calls == 1


@needs_xllamacpp
def test_context_overflow_is_a_clear_permanent_error(gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    error = {
        "error": {
            "code": 400,
            "message": "request (5000 tokens) exceeds the available context size (4096 tokens)",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": 5000,
            "n_ctx": 4096,
        }
    }
    client = LocalLlamaClient(model=str(gguf), n_parallel=2, retry=RetryPolicy(max_retries=3, base_delay=0))
    engine = with_engine(client, lambda r: error, monkeypatch)
    with pytest.raises(LLMProviderError) as info:
        complete(client)
    assert info.value.status == 400 and not info.value.transient
    assert "5000 tokens" in info.value.message and "n_ctx" in info.value.message
    assert len(engine.requests) == 1  # not retried
    assert client.usage.total.failures == 1


@needs_xllamacpp
def test_engine_exceptions_become_provider_errors(gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(request: dict[str, Any]) -> Any:
        raise RuntimeError("decode failed")

    client = LocalLlamaClient(model=str(gguf), n_parallel=2, retry=RetryPolicy(max_retries=1, base_delay=0))
    engine = with_engine(client, boom, monkeypatch)
    with pytest.raises(LLMProviderError, match=r"llama\.cpp failed: decode failed") as info:
        complete(client)
    assert info.value.status == 500 and len(engine.requests) == 2  # transient: retried once


@needs_xllamacpp
def test_max_concurrency_maps_onto_slots(gguf: Path) -> None:
    assert LocalLlamaClient(model=str(gguf), n_parallel=3).max_concurrency == 3
    assert LocalLlamaClient(model=str(gguf), n_parallel=3, max_concurrency=16).max_concurrency == 3
    assert LocalLlamaClient(model=str(gguf), n_parallel=3, max_concurrency=2).max_concurrency == 2
    assert LocalLlamaClient(model=str(gguf)).n_parallel == local_engine.default_n_parallel()
    assert 2 <= local_engine.default_n_parallel() <= 8


@needs_xllamacpp
def test_capabilities_and_description(gguf: Path) -> None:
    client = LocalLlamaClient(model=str(gguf))
    assert client.is_local and client.supports_json_schema
    assert client.describe() == "local llama.cpp model model.gguf (in-process)"
    assert LocalLlamaClient(model="smollm2-135m").describe() == "local llama.cpp model smollm2-135m (in-process)"


@needs_xllamacpp
def test_bad_model_references_fail_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="smollm2-135m"):
        LocalLlamaClient(model="no-such-model")
    with pytest.raises(ConfigError, match="does not exist"):
        LocalLlamaClient(model=str(tmp_path / "missing.gguf"))
    with pytest.raises(ConfigError, match="n_ctx"):
        LocalLlamaClient(model="smollm2-135m", n_ctx=0)


def test_missing_xllamacpp_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch, gguf: Path) -> None:
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # makes `import xllamacpp` raise ImportError
    with pytest.raises(ConfigError, match=r"pip install 'mallm-gan\[local\]'"):
        LocalLlamaClient(model=str(gguf))
    spec = types.SimpleNamespace(backend="local", model=str(gguf), url=None)
    with pytest.raises(ConfigError, match="mallm-gan"):
        create_local_client(spec)


@needs_xllamacpp
def test_factory_takes_known_options_and_ignores_others(gguf: Path) -> None:
    spec = types.SimpleNamespace(backend="local", model=str(gguf), url=None)
    client = create_local_client(
        spec, n_parallel=2, n_ctx=1024, seed=7, timeout=30.0, max_concurrency=16, api_key="x", structured=None
    )
    assert (client.n_parallel, client.n_ctx, client.seed, client.timeout) == (2, 1024, 7, 30.0)
    assert client.max_concurrency == 2 and client.structured == "json_schema"
    assert create_local_client(types.SimpleNamespace(backend="local", model="", url=None)).model == DEFAULT_MODEL


# -- engine parameters, with a stand-in xllamacpp module ---------------------------------------------------
class _Params:
    def __init__(self) -> None:
        self.model = types.SimpleNamespace(path="")
        self.cpuparams = types.SimpleNamespace(n_threads=-1)
        self.cpuparams_batch = types.SimpleNamespace(n_threads=-1)
        self.sampling = types.SimpleNamespace(seed=-1)
        self.n_ctx = self.n_parallel = self.n_gpu_layers = self.verbosity = -1
        self.api_keys: list[str] = []


def fake_xllamacpp(monkeypatch: pytest.MonkeyPatch, *, fail: bool = False) -> list[_Params]:
    built: list[_Params] = []

    class Server:
        def __init__(self, params: _Params) -> None:
            built.append(params)
            if fail:
                raise RuntimeError("Failed to init server, please check the input params.")
            self.primed: list[dict[str, Any]] = []

        def handle_completions(self, request: dict[str, Any]) -> dict[str, Any]:
            self.primed.append(request)
            return {"choices": []}

    module = types.SimpleNamespace(CommonParams=_Params, Server=Server, get_device_info=lambda: [])
    monkeypatch.setitem(sys.modules, "xllamacpp", module)
    return built


def test_engine_gives_each_slot_its_context_and_stays_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    built = fake_xllamacpp(monkeypatch)
    engine = local_engine.Engine(EngineSettings("/m.gguf", 2048, 4, 2, None, 42))
    params = built[0]
    assert params.model.path == "/m.gguf"
    assert params.n_ctx == 2048 * 4 and params.n_parallel == 4
    assert params.cpuparams.n_threads == params.cpuparams_batch.n_threads == 2
    assert params.n_gpu_layers == 0  # no GPU device
    assert params.sampling.seed == 42
    assert params.verbosity == 0
    assert len(params.api_keys) == 1 and len(params.api_keys[0]) >= 32
    assert engine.server.primed == [{"prompt": ".", "max_tokens": 1}]  # the task loop runs before use
    engine.close()
    local_engine.Engine(EngineSettings("/m.gguf", 2048, 1, 2, 5, None), verbose=True)
    assert built[1].verbosity > 0 and built[1].n_gpu_layers == 5


def test_engine_load_failure_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_xllamacpp(monkeypatch, fail=True)
    with pytest.raises(ConfigError, match=r"could not load /bad\.gguf.*--verbose"):
        local_engine.Engine(EngineSettings("/bad.gguf", 512, 1, 1, None, None))


def test_prompt_threads_can_differ_from_decode_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    built = fake_xllamacpp(monkeypatch)
    local_engine.Engine(EngineSettings("/m.gguf", 2048, 2, 1, None, None, threads_batch=2))
    assert (built[0].cpuparams.n_threads, built[0].cpuparams_batch.n_threads) == (1, 2)


# -- sampler settings ----------------------------------------------------------------------------------
def test_catalogue_sampler_settings_are_sent_and_keyed_and_overridable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from mallm_gan.llm.cache import ResponseCache
    from mallm_gan.llm.models import CATALOGUE, SamplerSettings

    entry = CATALOGUE["qwen2.5-coder-0.5b"]
    monkeypatch.setitem(
        CATALOGUE, entry.name, dataclasses.replace(entry, sampler=SamplerSettings(min_p=0.05, dry_multiplier=0.8))
    )
    monkeypatch.setattr(local, "check_model_ref", lambda ref: None)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    client = LocalLlamaClient(model="qwen2.5-coder-0.5b", cache=cache)
    engine = with_engine(client, lambda r: answer("ok"), monkeypatch)
    complete(client, seed=1, temperature=0.5)
    sent = engine.requests[0]
    assert (sent["min_p"], sent["dry_multiplier"], sent["temperature"]) == (0.05, 0.8, 0.5)
    assert "top_k" not in sent  # unset fields keep llama.cpp's defaults

    # the same request with other sampler settings is a different request, not a cache hit
    other = LocalLlamaClient(model="qwen2.5-coder-0.5b", cache=cache, sampler={"dry_multiplier": 0.0, "min_p": None})
    other_engine = with_engine(other, lambda r: answer("ok"), monkeypatch)
    complete(other, seed=1, temperature=0.5)
    assert other_engine.requests and other_engine.requests[-1]["dry_multiplier"] == 0.0
    assert other_engine.requests[-1]["min_p"] == 0.05  # None leaves the catalogue's value
    complete(client, seed=1, temperature=0.5)
    assert client.usage.total.cache_hits == 1


def test_a_gguf_path_gets_no_catalogue_sampler_settings(gguf: Path) -> None:
    assert LocalLlamaClient(model=str(gguf)).sampler_fields() == {}
    assert LocalLlamaClient(model=str(gguf), sampler={"min_p": 0.1}).sampler_fields() == {"min_p": 0.1}


def test_a_repeat_window_widens_dry_only_where_dry_is_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from mallm_gan.llm.models import CATALOGUE, SamplerSettings

    entry = CATALOGUE["qwen2.5-coder-0.5b"]
    monkeypatch.setitem(CATALOGUE, entry.name, dataclasses.replace(
        entry, sampler=SamplerSettings(dry_multiplier=0.8, dry_allowed_length=8)))
    monkeypatch.setattr(local, "check_model_ref", lambda ref: None)
    client = LocalLlamaClient(model="qwen2.5-coder-0.5b")
    engine = with_engine(client, lambda r: answer("ok"), monkeypatch)
    complete(client, seed=1)
    complete(client, seed=1, repeat_window=30)
    complete(client, seed=1, repeat_window=4)  # never narrower than the catalogue's window
    assert [r["dry_allowed_length"] for r in engine.requests] == [8, 30, 8]
    assert all("repeat_window" not in r for r in engine.requests)
    # without DRY the hint has nothing to widen and adds no field
    plain = LocalLlamaClient(model="qwen2.5-coder-0.5b", sampler={"dry_multiplier": 0.0})
    plain_engine = with_engine(plain, lambda r: answer("ok"), monkeypatch)
    complete(plain, seed=2, repeat_window=30)
    assert plain_engine.requests[-1]["dry_allowed_length"] == 8 and plain_engine.requests[-1]["dry_multiplier"] == 0.0


def test_threads_take_every_core_only_on_an_idle_machine() -> None:
    from mallm_gan.llm.local_engine import default_n_parallel, default_threads

    assert default_threads(cores=2, load=0.1) == 2  # idle: both cores
    assert default_threads(cores=2, load=1.5) == 1  # something else runs: half
    assert default_threads(cores=8, load=0.5) == 4  # at most 4 (physical cores)
    assert default_threads(cores=8, load=6.0) == 4
    assert default_threads(cores=1, load=0.0) == 1
    assert default_n_parallel(default_threads(cores=2, load=0.1)) == 4


def test_mallm_threads_pins_the_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    from mallm_gan.errors import ConfigError
    from mallm_gan.llm.local_engine import configured_threads, default_threads

    monkeypatch.setenv("MALLM_THREADS", "3")
    assert configured_threads() == 3
    monkeypatch.setenv("MALLM_THREADS", "")
    assert configured_threads() == default_threads()
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("MALLM_THREADS", bad)
        with pytest.raises(ConfigError, match="MALLM_THREADS"):
            configured_threads()
