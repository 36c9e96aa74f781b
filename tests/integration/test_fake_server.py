"""The fake OpenAI-compatible server itself: wire format, faults, recording, responders and the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import openai
import pytest

from mallm_gan.errors import ConfigError
from mallm_gan.testing import (
    FAULTS,
    EchoRowsResponder,
    FakeOpenAIServer,
    Reply,
    ScriptedResponder,
    ScriptExhaustedError,
)

USER = [{"role": "user", "content": "hello there"}]


def post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{url}/chat/completions",
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


# -- wire format ------------------------------------------------------------------------------------------
def test_plain_openai_sdk_talks_to_the_fake_server(fake_server) -> None:
    server = fake_server(ScriptedResponder(["Hi!"]), model_names=["tiny"])
    client = openai.OpenAI(base_url=server.url, api_key="anything", max_retries=0)
    response = client.chat.completions.create(model="tiny", messages=USER)
    assert response.choices[0].message.content == "Hi!"
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens
    assert [m.id for m in client.models.list()] == ["tiny"]
    client.close()


def test_wire_format_of_a_completion(fake_server) -> None:
    server = fake_server(ScriptedResponder(["abcdefgh"]))
    status, headers, body = post(server.url, {"model": "m", "messages": USER})
    assert status == 200
    assert headers["x-request-id"].startswith("req-fake-")
    assert body["object"] == "chat.completion" and body["model"] == "m"
    assert body["id"].startswith("chatcmpl-") and isinstance(body["created"], int)
    assert body["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": "abcdefgh"}, "logprobs": None, "finish_reason": "stop"}
    ]
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}  # ceil(chars/4)


def test_bad_requests_get_openai_style_errors(fake_server) -> None:
    server = fake_server()
    status, _, body = post(server.url, b"{not json")
    assert status == 400 and "JSON object" in body["error"]["message"]
    status, _, body = post(server.url, {"messages": USER})
    assert status == 400 and "model" in body["error"]["message"]
    status, _, body = post(server.url, {"model": "m", "messages": []})
    assert status == 400
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{server.url}/embeddings", timeout=5)
    assert info.value.code == 404


def test_unknown_model_and_wrong_key(fake_server) -> None:
    server = fake_server(model_names=["a", "b"], api_key="right")
    ok = {"Authorization": "Bearer right"}
    assert post(server.url, {"model": "a", "messages": USER}, ok)[0] == 200
    status, _, body = post(server.url, {"model": "zzz", "messages": USER}, ok)
    assert status == 404 and body["error"]["code"] == "model_not_found"
    status, _, body = post(server.url, {"model": "a", "messages": USER}, {"Authorization": "Bearer wrong"})
    assert status == 401 and "wrong" not in json.dumps(body)
    assert post(server.url, {"model": "a", "messages": USER})[0] == 401
    assert post(server.url, {"model": "a", "messages": USER}, {"api-key": "right"})[0] == 200  # Azure style
    assert all("authorization" not in {k.lower() for k in r["headers"]} for r in server.requests)


def test_n_calls_the_responder_or_takes_its_list(fake_server) -> None:
    server = fake_server(ScriptedResponder(["a", "b", [Reply("c", "length"), "d"]]))
    _, _, body = post(server.url, {"model": "m", "messages": USER, "n": 2})
    assert [c["message"]["content"] for c in body["choices"]] == ["a", "b"]
    _, _, body = post(server.url, {"model": "m", "messages": USER, "n": 2})
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in body["choices"]] == [
        (0, "c", "length"),
        (1, "d", "stop"),
    ]


def test_exhausted_script_fails_clearly_and_is_not_retryable(fake_server) -> None:
    responder = ScriptedResponder(["only"])
    server = fake_server(responder)
    assert post(server.url, {"model": "m", "messages": USER})[0] == 200
    assert responder.remaining == 0
    status, _, body = post(server.url, {"model": "m", "messages": USER})
    assert status == 400
    assert "all 1 scripted answers were used" in body["error"]["message"]
    with pytest.raises(ScriptExhaustedError):
        responder({})


# -- faults ---------------------------------------------------------------------------------------------
def test_status_faults_by_script(fake_server) -> None:
    server = fake_server(ScriptedResponder(["ok"]), faults=["429", "500", "503", None], retry_after=2.5)
    statuses = []
    for _ in range(4):
        status, headers, _ = post(server.url, {"model": "m", "messages": USER})
        statuses.append(status)
        if status == 429:
            assert headers["Retry-After"] == "2.5"
    assert statuses == [429, 500, 503, 200]
    assert server.fault_counts == {"429": 1, "500": 1, "503": 1}
    assert [r["fault"] for r in server.requests] == ["429", "500", "503", None]


def test_fault_rate_is_seeded_and_reproducible() -> None:
    def sequence() -> list[str | None]:
        with FakeOpenAIServer(
            lambda r: '{"a": 1}', fault_rate=0.5, seed=3, fault_mix=["500", "empty", "prose"]
        ) as server:
            for _ in range(30):
                post(server.url, {"model": "m", "messages": USER})
            return [r["fault"] for r in server.requests]

    first = sequence()
    assert first == sequence()
    assert 5 < sum(f is not None for f in first) < 25
    assert set(first) <= {None, "500", "empty", "prose"}


def test_stall_is_woken_by_stop() -> None:
    server = FakeOpenAIServer(ScriptedResponder(["late"]), faults=["stall"], stall_seconds=30).start()
    url = server.url
    errors: list[Exception] = []

    def call() -> None:
        try:
            post(url, {"model": "m", "messages": USER})
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    time.sleep(0.2)
    assert server.in_flight == 1
    started = time.perf_counter()
    server.stop()
    thread.join(timeout=5)
    assert time.perf_counter() - started < 3
    assert not thread.is_alive()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url


def test_latency_range_and_peak_in_flight(fake_server) -> None:
    server = fake_server(ScriptedResponder(["x"] * 6), latency=(0.1, 0.2), seed=0)
    timings: list[float] = []

    def call() -> None:
        started = time.perf_counter()
        post(server.url, {"model": "m", "messages": USER})
        timings.append(time.perf_counter() - started)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # the upper bound leaves room for a loaded machine; the lower one is the latency the server must add
    assert min(timings) >= 0.1 and max(timings) < 5.0
    assert 1 < server.peak_in_flight <= 6
    # the server counts a request out after its answer is written, which the client may read first
    deadline = time.monotonic() + 5.0
    while server.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.in_flight == 0


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"faults": ["explode"]}, "unknown fault"),
        ({"fault_mix": ["500", "nope"]}, "unknown fault"),
        ({"fault_rate": 1.5}, "fault_rate"),
        ({"latency": -1}, "latency"),
        ({"latency": (2, 1)}, "latency"),
    ],
)
def test_bad_server_options(options: dict, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        FakeOpenAIServer(**options)


def test_binds_loopback_only() -> None:
    with FakeOpenAIServer() as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert server._httpd.server_address[0] == "127.0.0.1"
    assert set(FAULTS) == {"429", "500", "503", "stall", "empty", "truncated", "prose", "fence", "pyrepr"}


# -- echo rows responder ----------------------------------------------------------------------------------
def rows_request(text: str, schema: dict | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {
        "model": "m",
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": text}],
    }
    if schema is not None:
        request["response_format"] = {"type": "json_schema", "json_schema": {"name": "rows", "schema": schema}}
    return request


EXAMPLES = [
    {"age": 40, "sex": "Female", "bmi": 27.5, "smoker": True},
    {"age": 62, "sex": "Male", "bmi": 31.25, "smoker": False},
]


def test_echo_rows_from_a_list_of_objects_without_schema() -> None:
    text = f"Examples:\n{json.dumps(EXAMPLES)}\nWrite 5 new rows."
    rows = json.loads(EchoRowsResponder(seed=0)(rows_request(text)))
    assert len(rows) == 5
    for row in rows:
        assert list(row) == ["age", "sex", "bmi", "smoker"]
        source = EXAMPLES[0] if row["sex"] == "Female" else EXAMPLES[1]
        assert isinstance(row["age"], int) and abs(row["age"] - source["age"]) <= 0.05 * source["age"] + 1
        assert abs(row["bmi"] - source["bmi"]) <= 0.05 * source["bmi"] + 0.01
        assert row["smoker"] is source["smoker"]


def test_echo_rows_columns_rows_prompt_answers_prefix_items() -> None:
    prompt = {"columns": ["age", "sex"], "rows": [[30, "F"], [50, "M"], [70, "F"]]}
    schema = {
        "type": "object",
        "properties": {
            "rows": {
                "type": "array",
                "minItems": 4,
                "maxItems": 4,
                "items": {
                    "type": "array",
                    "prefixItems": [{"type": "integer", "minimum": 18, "maximum": 60}, {"type": "string"}],
                },
            }
        },
    }
    answer = json.loads(EchoRowsResponder(seed=1)(rows_request(f"Data: {json.dumps(prompt)}", schema)))
    assert list(answer) == ["rows"] and len(answer["rows"]) == 4
    for age, sex in answer["rows"]:
        assert isinstance(age, int) and 18 <= age <= 60  # clamped to the schema's bounds
        assert sex in ("F", "M")


def test_echo_rows_object_items_follow_the_schema_columns() -> None:
    decoy = [{"name": "age", "kind": "numerical"}, {"name": "sex", "kind": "categorical"}]
    text = f"Columns: {json.dumps(decoy)}\nExamples: {json.dumps(EXAMPLES)}"
    schema = {
        "type": "object",
        "properties": {
            "rows": {
                "type": "array",
                "items": {"type": "object", "properties": {"sex": {"type": "string"}, "age": {"type": "integer"}}},
            }
        },
    }
    answer = json.loads(EchoRowsResponder(seed=2)(rows_request(text, schema)))
    assert len(answer["rows"]) == 2  # as many as the examples
    assert all(list(row) == ["sex", "age"] and row["sex"] in ("Female", "Male") for row in answer["rows"])


def test_echo_rows_through_the_server_with_n_and_without_examples(fake_server) -> None:
    server = fake_server(seed=5)
    text = f"{json.dumps(EXAMPLES)} give 3 rows"
    _, _, body = post(server.url, {"model": "m", "messages": [{"role": "user", "content": text}], "n": 2})
    assert len(body["choices"]) == 2
    assert all(len(json.loads(c["message"]["content"])) == 3 for c in body["choices"])
    _, _, body = post(server.url, {"model": "m", "messages": USER})
    assert body["choices"][0]["message"]["content"] == "echo: hello there"


# -- the CLI ------------------------------------------------------------------------------------------------
def test_serve_fake_command_prints_its_url_and_stops_on_ctrl_c() -> None:
    command = [
        sys.executable,
        "-c",
        "from mallm_gan.cli import main; main()",
        "serve-fake",
        "--port",
        "0",
        "--latency",
        "0.01",
        "--seed",
        "1",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1") and ":0/" not in url
        client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
        response = client.chat.completions.create(model="m", messages=USER)
        assert response.choices[0].message.content == "echo: hello there"
        client.close()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            # a loaded machine can take a while to unwind the server; never leave it running
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            raise
    assert proc.returncode == 0, err
    assert "not a language model" in err and "stopped after 1 chat requests" in err
