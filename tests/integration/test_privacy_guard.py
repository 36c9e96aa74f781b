"""Privacy guard: no returned row reproduces a training record that occurs once, on every path (fit, sample,
conditional sample, top-up); the DCR threshold rejects near-copies; the CLI says where real rows go before it
sends any; --local-only refuses remote endpoints before any network call; the API key is written nowhere."""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mallm_gan import MallmGan
from mallm_gan.cli import _load_commands, app
from mallm_gan.cli.app import console, exit_code
from mallm_gan.errors import ConfigError, GenerationError
from mallm_gan.gan.answer_schema import column_schemas
from mallm_gan.llm.openai_compat import OpenAICompatClient
from mallm_gan.table.coerce import normalise_frame
from mallm_gan.testing.simulated import SimulatedResponder

_load_commands()
runner = CliRunner()
SECRET = "sk-mallm-TEST-SECRET-7f3a9c0d"
FIT = ("--target", "charges", "--epochs", "1", "--batch-size", "20", "--seed", "0", "--dag", "none")


def _cli(*args: Any) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def _is_generator(body: dict[str, Any]) -> bool:
    fmt = body.get("response_format") or {}
    return (fmt.get("json_schema") or {}).get("schema", {}).get("title") == "rows"


def _asia(shared_data: Path) -> pd.DataFrame:
    return pd.read_csv(shared_data / "asia" / "splits" / "n50" / "train.csv")


def _insurance(shared_data: Path) -> pd.DataFrame:
    return pd.read_csv(shared_data / "insurance" / "splits" / "n100" / "train.csv").head(40)


def _unique_records(train: pd.DataFrame) -> list[dict[str, Any]]:
    counts = Counter(map(tuple, train.astype(object).itertuples(index=False, name=None)))
    keep = [row for row, n in counts.items() if n == 1]
    return [dict(zip(train.columns, row, strict=True)) for row in keep]


def _restyle(record: dict[str, Any], style: int) -> dict[str, Any]:
    """The same record as a model might write it: numbers as text or with more digits, categories shouted."""
    out = {}
    for name, value in record.items():
        if isinstance(value, str):
            out[name] = value.upper() if style % 2 else f" {value.title()} "
        elif isinstance(value, float) and style % 3 == 1:
            out[name] = f"{value:.6f}"
        elif isinstance(value, (int, float)) and style % 3 == 2:
            out[name] = str(value)
        else:
            out[name] = value
    return out


class Copier:
    """Simulated answers in which some rows are copies of unique training records (restyled).

    Args:
        records: The records to copy (unique in the training data).
        first: How many generator answers (from the start) are made of copies only.
        per_answer: Copies put into every later generator answer (replacing simulated rows).
        near: Instead of exact copies, move every number a little (``near`` training standard deviations).
    """

    def __init__(
        self,
        records: list[dict[str, Any]],
        *,
        first: int = 0,
        per_answer: int = 0,
        near: dict[str, float] | None = None,
    ) -> None:
        self.sim = SimulatedResponder()
        self.records = records
        self.first = first
        self.per_answer = per_answer
        self.near = near
        self.active = True
        self.answers = 0
        self.copies_sent = 0
        self._lock = threading.Lock()

    def _copy(self, index: int, columns: list[str]) -> list[Any]:
        record = dict(self.records[index % len(self.records)])
        if self.near:
            record = {k: (v + self.near[k] if k in self.near else v) for k, v in record.items()}
        else:
            record = _restyle(record, index)
        return [record[c] for c in columns]

    def __call__(self, body: dict[str, Any]) -> str:
        answer = self.sim(body)
        if not _is_generator(body) or not self.active:
            return answer
        columns = list(column_schemas(body["response_format"]["json_schema"]["schema"]))
        rows = [list(r.values()) if isinstance(r, dict) else r for r in json.loads(answer)["rows"]]
        with self._lock:
            self.answers += 1
            count = len(rows) if self.answers <= self.first else min(self.per_answer, len(rows))
            start = self.copies_sent
            self.copies_sent += count
        wanted = _condition_filter(body)
        copies = [self._copy(start + i, columns) for i in range(count * 4)]
        copies = [c for c in copies if wanted(dict(zip(columns, c, strict=True)))][:count]
        with self._lock:
            self.copies_sent -= count - len(copies)
        return json.dumps({"rows": copies + rows[len(copies) :]})


def _condition_filter(body: dict[str, Any]):
    """Copies that a conditional request would accept anyway (a copy must pass the condition to be a risk)."""
    text = body["messages"][-1]["content"]
    if "smoker = yes" in text or 'smoker = "yes"' in text:
        return lambda row: str(row["smoker"]).strip().lower() == "yes"
    return lambda row: True


def _unique_copies(model: MallmGan, frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    counts = Counter(normalise_frame(model.train_, model.schema_))
    return [row for row in normalise_frame(frame, model.schema_) if counts.get(row) == 1]


def _history_frame(model: MallmGan) -> pd.DataFrame:
    rows = [r for e in model.history_.entries for r in e.synthetic]
    return model.schema_.cast(pd.DataFrame(rows, columns=model.schema_.names))


def _reasons(model: MallmGan) -> Counter:
    out: Counter = Counter()
    for entry in model.history_.entries:
        out.update(entry.report.get("reasons", {}))
    return out


def _model(url: str, **params: Any) -> MallmGan:
    settings: dict[str, Any] = {"epochs": 1, "batch_size": 20, "n_examples": 5, "rows_per_call": 5, "random_state": 0}
    settings.update(params)
    return MallmGan(llm=f"openai:fake@{url}", **settings)


# -- the copy guard on every path -----------------------------------------------------------------------------
@pytest.mark.parametrize(("dataset", "target"), [("asia", "Dyspnea"), ("insurance", "charges")])
def test_fit_and_top_up_rows_never_copy_a_unique_record(fake_server, shared_data, dataset, target):
    train = _asia(shared_data) if dataset == "asia" else _insurance(shared_data)
    unique = _unique_records(train)
    assert unique
    # the first round's answers are copies only, so the batch must be topped up; later answers hold copies too
    copier = Copier(unique, first=4, per_answer=2)
    server = fake_server(copier)
    model = _model(server.url).fit(train, target=target, dag="none")
    synthetic = _history_frame(model)
    for entry in model.history_.entries:  # every batch got all its rows: 5 per chunk of 5 real rows
        assert len(entry.synthetic) == 5 * -(-len(entry.real_indices) // 5)
    assert not _unique_copies(model, synthetic)
    assert _reasons(model)["copy_of_unique_record"] >= copier.copies_sent > 20
    first = model.history_.entries[0]
    assert first.report["generated"] > 20, "the first batch was not topped up"
    generator_calls = len([r for r in server.requests if _is_generator(r["body"])])
    assert generator_calls > 4 * len(model.history_)


def test_sample_conditional_sample_and_top_up_never_copy(fake_server, shared_data):
    train = _insurance(shared_data)
    unique = _unique_records(train)
    smokers = [r for r in unique if r["smoker"] == "yes"]
    assert smokers
    fitted = _model(fake_server(SimulatedResponder()).url).fit(train, target="charges", dag="none")

    copier = Copier(unique, first=4, per_answer=2)
    fitted.llm = f"openai:fake@{fake_server(copier).url}"
    rows = fitted.sample(40)
    assert len(rows) == 40 and not _unique_copies(fitted, rows)
    assert fitted.sample_report_.reasons["copy_of_unique_record"] >= copier.copies_sent > 20

    smoker_copier = Copier(smokers, first=4, per_answer=3)
    fitted.llm = f"openai:fake@{fake_server(smoker_copier).url}"
    rows = fitted.sample(20, conditions={"smoker": "yes"})
    assert len(rows) == 20 and set(rows["smoker"]) == {"yes"}
    assert not _unique_copies(fitted, rows)
    assert fitted.sample_report_.reasons["copy_of_unique_record"] >= smoker_copier.copies_sent > 20


def test_copy_policy_never_rejects_shared_records_too(fake_server, shared_data):
    # asia has 11 distinct rows in 50: most rows a generator writes are shared records, all refused here
    train = _asia(shared_data)
    server = fake_server(SimulatedResponder())
    model = _model(server.url, copy_policy="never").fit(train, target="Dyspnea", dag="none")
    training = set(normalise_frame(model.train_, model.schema_))
    assert not set(normalise_frame(_history_frame(model), model.schema_)) & training
    assert _reasons(model)["copy"] > 0
    try:
        rows = model.sample(10)
    except GenerationError as error:  # too few new rows is an error with the counts, never a copy
        assert error.fields["counts"]["reasons"]["copy"] > 0
    else:
        assert len(rows) == 10 and not set(normalise_frame(rows, model.schema_)) & training


# -- near copies ----------------------------------------------------------------------------------------------
def _nearest_unique_distance(model: MallmGan, frame: pd.DataFrame) -> np.ndarray:
    """Standardised L1 distance (numbers / training std) plus one per differing other value, to the nearest
    training record that occurs once."""
    schema = model.schema_
    train = normalise_frame(model.train_, schema)
    counts = Counter(train)
    unique = [r for r in counts if counts[r] == 1]
    numeric = [i for i, c in enumerate(schema.columns) if c.kind == "numerical"]
    std = np.array([np.std([r[i] for r in train]) for i in numeric])  # the project distance: population std
    out = []
    for row in normalise_frame(frame, schema):
        best = np.inf
        for record in unique:
            d = sum(abs(row[i] - record[i]) / s for i, s in zip(numeric, std, strict=True))
            d += sum(row[i] != record[i] for i in range(len(row)) if i not in numeric)
            best = min(best, d)
        out.append(best)
    return np.array(out)


@pytest.mark.parametrize("threshold", ["off", 0.5, "auto"])
def test_dcr_threshold_rejects_near_copies(fake_server, shared_data, threshold):
    train = _insurance(shared_data)
    unique = _unique_records(train)
    std = train[["age", "bmi", "children", "charges"]].std()
    near = {"bmi": float(std["bmi"]) * 0.05, "charges": float(std["charges"]) * 0.05}  # ~0.1 away in total
    copier = Copier(unique, per_answer=3, near=near)
    server = fake_server(copier)
    model = _model(server.url, release_gate=threshold).fit(train, target="charges", dag="none")
    rows = model.sample(20)
    history = _history_frame(model)
    if threshold == "off":
        # without the gate the near-copies pass the exact-copy guard: the case the gate is for
        assert (_nearest_unique_distance(model, history) < 0.5).sum() >= 3
        return
    threshold = model.release_gate_["threshold"]  # the auto gate's is calibrated on the data
    assert threshold > 0.1
    assert (_nearest_unique_distance(model, rows) >= threshold).all()
    assert (_nearest_unique_distance(model, history) >= threshold).all()
    assert _reasons(model)["near_copy"] >= 3 and model.sample_report_.reasons["near_copy"] >= 3


# -- where real rows go -----------------------------------------------------------------------------------------
@pytest.fixture
def events(monkeypatch):
    """One ordered list of what the CLI printed and what the LLM endpoint received."""
    seen: list[tuple[str, str]] = []
    original = console.print

    def record(*objects: Any, **kwargs: Any) -> None:
        seen.append(("print", " ".join(str(o) for o in objects)))
        original(*objects, **kwargs)

    monkeypatch.setattr(console, "print", record)
    return seen


class Recording:
    def __init__(self, events: list[tuple[str, str]]) -> None:
        self.events = events
        self.sim = SimulatedResponder()

    def __call__(self, body: dict[str, Any]) -> str:
        self.events.append(("request", ""))
        return self.sim(body)


def _first(events: list[tuple[str, str]], kind: str, text: str = "") -> int:
    return next(i for i, (k, t) in enumerate(events) if k == kind and text in t)


def test_cli_names_the_endpoint_before_the_first_call(fake_server, shared_data, tmp_path, events):
    server = fake_server(Recording(events))
    path = tmp_path / "train.csv"
    _insurance(shared_data).to_csv(path, index=False)
    run = tmp_path / "run"
    result = _cli("fit", path, "--llm", f"openai:fake@{server.url}", *FIT, "--no-report", "--out", run)
    assert result.exit_code == 0, result.output
    announce = _first(events, "print", "real rows will be sent to")
    assert server.url in events[announce][1]
    assert announce < _first(events, "request")

    # sampling sends real rows (the examples) too: it must say where, before its first call
    events.clear()
    result = _cli("sample", run, "--rows", "10", "--out", tmp_path / "s.csv")
    assert result.exit_code == 0, result.output
    prints = [t for k, t in events if k == "print" and server.url in t]
    assert prints, "sample did not say which endpoint receives real rows"
    assert _first(events, "print", server.url) < _first(events, "request")


@pytest.fixture
def no_network(monkeypatch):
    sent: list[dict[str, Any]] = []

    async def refuse(self: OpenAICompatClient, request: dict[str, Any]) -> dict[str, Any]:
        sent.append(request)
        raise AssertionError(f"a request was sent to {self.endpoint}")

    monkeypatch.setattr(OpenAICompatClient, "_send", refuse)
    return sent


def test_local_only_refuses_a_remote_endpoint_before_any_call(shared_data, tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    remote = "openai:gpt-4o@https://example.invalid/v1"
    train = _insurance(shared_data)
    with pytest.raises(ConfigError) as info:
        MallmGan(llm=remote, local_only=True, epochs=1, batch_size=20).fit(train, target="charges", dag="none")
    assert "example.invalid" in info.value.message and "local" in info.value.message
    path = tmp_path / "train.csv"
    train.to_csv(path, index=False)
    result = _cli("fit", path, "--llm", remote, "--local-only", *FIT, "--no-report", "--out", tmp_path / "run")
    assert result.exit_code == exit_code(ConfigError), result.output
    assert "--local-only" in result.output and "example.invalid" in result.output
    assert "Traceback" not in result.output and SECRET not in result.output
    assert not no_network


def test_local_only_sample_refuses_a_remote_endpoint(fake_server, shared_data, tmp_path, monkeypatch):
    server = fake_server(SimulatedResponder())
    run = tmp_path / "run"
    _model(server.url).fit(_insurance(shared_data), target="charges", dag="none", run_dir=run)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    before = len(server.requests)
    sent: list[Any] = []

    async def refuse(self: OpenAICompatClient, request: dict[str, Any]) -> dict[str, Any]:
        sent.append(request)
        raise AssertionError("no request may be sent")

    monkeypatch.setattr(OpenAICompatClient, "_send", refuse)
    remote = "openai:gpt-4o@https://example.invalid/v1"
    result = _cli("sample", run, "--rows", "10", "--llm", remote, "--local-only", "--out", tmp_path / "s.csv")
    assert result.exit_code == exit_code(ConfigError), result.output
    assert "--local-only" in result.output and "Traceback" not in result.output
    assert not sent and len(server.requests) == before


def test_local_only_accepts_this_machine(fake_server, shared_data, tmp_path):
    server = fake_server(SimulatedResponder())
    path = tmp_path / "train.csv"
    _insurance(shared_data).to_csv(path, index=False)
    result = _cli(
        "fit",
        path,
        "--llm",
        f"openai:fake@{server.url}",
        "--local-only",
        *FIT,
        "--no-report",
        "--out",
        tmp_path / "run",
    )
    assert result.exit_code == 0, result.output
    result = _cli("sample", tmp_path / "run", "--rows", "10", "--local-only", "--out", tmp_path / "s.csv")
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(tmp_path / "s.csv")) == 10


# -- the API key ------------------------------------------------------------------------------------------------
def _files_with_secret(root: Path, secret: str) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_api_key_is_in_no_log_and_no_file(fake_server, shared_data, tmp_path, monkeypatch, caplog, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server = fake_server(SimulatedResponder(), api_key=SECRET)  # the key is really used: others get 401
    caplog.set_level(logging.DEBUG)
    run = tmp_path / "api-run"
    model = _model(server.url).fit(_insurance(shared_data), target="charges", dag="none", run_dir=run)
    model.sample(10)
    model.save(run / "saved.json")
    assert SECRET not in caplog.text
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert SECRET not in repr(model.get_params()) and SECRET not in model.llm_name_

    path = tmp_path / "train.csv"
    _insurance(shared_data).to_csv(path, index=False)
    cli_run = tmp_path / "cli-run"
    result = _cli("fit", path, "--llm", f"openai:fake@{server.url}", *FIT, "--verbose", "--out", cli_run)
    assert result.exit_code == 0, result.output
    sampled = _cli("sample", cli_run, "--rows", "10", "--verbose", "--out", cli_run / "s.csv")
    assert sampled.exit_code == 0, sampled.output
    assert SECRET not in result.output + sampled.output
    assert (cli_run / "llm-cache.sqlite").is_file() and (cli_run / "checkpoint.json").is_file()
    assert not _files_with_secret(run, SECRET)
    assert not _files_with_secret(cli_run, SECRET)


def test_credentials_in_the_endpoint_url_are_written_nowhere(fake_server, shared_data, tmp_path, caplog):
    # a key put in the URL (user:KEY@host) must be refused up front or kept out of logs and files like any key
    server = fake_server(SimulatedResponder())
    url = server.url.replace("http://", f"http://user:{SECRET}@")
    caplog.set_level(logging.DEBUG)
    run = tmp_path / "run"
    try:
        model = _model(url).fit(_insurance(shared_data), target="charges", dag="none", run_dir=run)
    except ConfigError as error:
        assert SECRET not in error.message and not server.requests
    else:
        model.sample(5)
        assert SECRET not in caplog.text
        assert not _files_with_secret(run, SECRET)
