"""The adversarial loop end to end through the fake OpenAI-compatible server and the real HTTP client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mallm_gan import MallmGan
from mallm_gan.errors import ConfigError, GenerationError, LLMAuthError
from mallm_gan.gan.seeds import Stream, derive_seed, stream_seed
from mallm_gan.runstate import to_records
from mallm_gan.testing.simulated import SimulatedResponder


def _split(data: Path, name: str, n: int) -> pd.DataFrame:
    return pd.read_csv(data / name / "splits" / f"n{n}" / "train.csv")


def _model(url: str, **params: Any) -> MallmGan:
    defaults: dict[str, Any] = {"epochs": 1, "batch_size": 20, "n_examples": 5, "rows_per_call": 5,
                                "random_state": 0}
    defaults.update(params)
    return MallmGan(llm=f"openai:fake@{url}", **defaults)


def _is_generator(request: dict[str, Any]) -> bool:
    fmt = request.get("response_format") or {}
    return (fmt.get("json_schema") or {}).get("schema", {}).get("title") == "rows"


def _examples(body: dict[str, Any]) -> int:
    """How many example rows a generator request shows."""
    user = body["messages"][1]["content"]
    return len(json.loads(user[user.index('{"columns"'):user.index("\n</examples>")])["rows"])


class Routed:
    """Simulated rows for generator requests; scripted texts for optimizer requests (then simulated)."""

    def __init__(self, optimizer_answers: list[str]) -> None:
        self.sim = SimulatedResponder()
        self.optimizer_answers = list(optimizer_answers)

    def __call__(self, request: dict[str, Any]) -> str:
        if not _is_generator(request) and self.optimizer_answers:
            return self.optimizer_answers.pop(0)
        return self.sim(request)


def test_prompts_calls_concurrency_and_rescoring(fake_server, shared_data):
    train = _split(shared_data, "asia", 50)
    server = fake_server(SimulatedResponder(), latency=0.05)
    model = _model(server.url, epochs=2, max_concurrency=4)
    model.fit(train, target="Dyspnea", context="A clinical table about lung disease.", dag="none")

    generator_requests = [r for r in server.requests if _is_generator(r["body"])]
    optimizer_requests = [r for r in server.requests if not _is_generator(r["body"])]
    iterations = 2 * 3  # 50 rows in batches of 20 -> 3 batches per epoch
    assert len(model.history_) == iterations
    # every request the server logged is booked to one iteration, and the usage counts them exactly
    assert sum(e.calls for e in model.history_.entries) == len(server.requests)
    assert model.usage_.role("generator").calls == len(generator_requests)
    # batches in a batch: a 20-row batch is 4 chunks of 5 examples, one concurrent call each in its first
    # round, with seeds derived from the run seed, the GENERATE stream, the iteration, round 0 and the call
    first_round = {derive_seed(stream_seed(0, Stream.GENERATE, 0), 0, i) for i in range(4)}
    first_seeds = [r["body"]["seed"] for r in generator_requests if r["body"]["seed"] in first_round]
    assert sorted(first_seeds) == sorted(first_round)
    assert model.history_.entries[0].calls - 1 >= 4  # its generator calls (top-ups included), then one proposal
    assert len(optimizer_requests) == iterations - 1  # no proposal after the last iteration
    assert server.peak_in_flight > 1 and server.peak_in_flight <= 4

    system = generator_requests[0]["body"]["messages"][0]["content"]
    user = generator_requests[0]["body"]["messages"][1]["content"]
    theta = model.initial_theta_
    assert "A clinical table about lung disease." in system
    assert theta.instruction in system
    for name in train.columns:
        assert name in system  # the schema part
    shown = json.loads(user[user.index('{"columns"'):user.index("\n</examples>")])
    assert shown["columns"] == list(train.columns) and len(shown["rows"]) == 5  # five example rows
    assert all(_examples(r["body"]) == 5 for r in generator_requests)
    # re-scoring: every earlier θ was scored again after each later update
    first = model.history_.entries[0]
    assert len(first.rescored) == iterations
    assert model.theta_ == model.history_.best().theta
    # batches of 20, 20 and 10 rows: 4 + 4 + 2 calls an epoch, plus any top-up
    assert len(generator_requests) >= 2 * (4 + 4 + 2)
    assert model.usage_.role("optimizer").calls == len(optimizer_requests) == iterations - 1


def test_optimizer_bad_replies_are_survived(fake_server, shared_data):
    train = _split(shared_data, "asia", 50)
    cols = list(train.columns)
    cyclic = json.dumps({"dag": [[cols[0], cols[1]], [cols[1], cols[0]], ["nope", cols[2]]],
                         "instruction": "Be careful."})
    server = fake_server(Routed(["this is not json at all", cyclic]))
    model = _model(server.url, epochs=1, batch_size=10)
    model.fit(train, target="Dyspnea", dag="none")
    origins = [e.origin for e in model.history_.entries]
    assert origins[0] == "initial"
    assert origins[1].startswith("kept best: unparseable")
    assert origins[2].startswith("repaired: dropped 2 edge(s)")
    repaired = model.history_.entries[2].theta
    assert len(repaired.dag) == 1 and repaired.instruction == "Be careful."


def test_conditions_save_load_and_copy_guard(fake_server, shared_data, tmp_path):
    train = _split(shared_data, "asia", 50)
    server = fake_server(SimulatedResponder())
    model = _model(server.url).fit(train, target="Dyspnea")
    path = model.save(tmp_path / "model.json")
    loaded = MallmGan.load(path)
    assert loaded.theta_ == model.theta_
    assert loaded.schema_ == model.schema_
    assert [e.score for e in loaded.history_.entries] == [e.score for e in model.history_.entries]

    rows = loaded.sample(60, conditions={"smoke": 0, "bronchitis": {0, 1}})
    assert len(rows) == 60 and list(rows.columns) == list(train.columns)
    assert (rows["smoke"] == 0).all()
    assert list(rows.dtypes) == list(loaded.schema_.cast(train).dtypes)
    counts = train.value_counts()
    unique = {tuple(k) for k, v in counts.items() if v == 1}
    assert not {tuple(r) for r in rows.itertuples(index=False)} & unique


def test_sample_fails_with_counts_rather_than_short(fake_server, shared_data):
    train = _split(shared_data, "insurance", 100)
    server = fake_server(SimulatedResponder())
    model = _model(server.url).fit(train, target="charges")
    # an endpoint that only ever copies a unique training record: nothing can be accepted
    record = to_records(train.head(1))[0]
    copy_text = json.dumps({"rows": [list(record.values())] * 5})
    model.llm = f"openai:fake@{fake_server(copy_text).url}"
    model.max_rounds = 1
    with pytest.raises(GenerationError) as info:
        model.sample(10)
    assert "copy_of_unique_record" in str(info.value)
    assert info.value.fields["accepted"] == 0


def test_resume_after_budget_stop_equals_uninterrupted_run(fake_server, shared_data, tmp_path):
    train = _split(shared_data, "asia", 50)
    server = fake_server(SimulatedResponder())
    full = _model(server.url, epochs=2).fit(train, target="Dyspnea", run_dir=tmp_path / "full")

    server2 = fake_server(SimulatedResponder())
    stopped = _model(server2.url, epochs=2, max_calls=12).fit(train, target="Dyspnea", run_dir=tmp_path / "r")
    assert stopped.stopped_ and stopped.stopped_.startswith("budget reached")
    done = len(stopped.history_)
    assert 0 < done < len(full.history_)
    calls_before = len(server2.requests)

    resumed = _model(server2.url, epochs=2).fit(train, target="Dyspnea", run_dir=tmp_path / "r")
    assert len(resumed.history_) == len(full.history_)
    assert resumed.theta_ == full.theta_
    assert [e.score for e in resumed.history_.entries] == [e.score for e in full.history_.entries]
    assert [e.theta for e in resumed.history_.entries] == [e.theta for e in full.history_.entries]
    # finished iterations were not asked again
    resumed_requests = server2.requests[calls_before:]
    assert len(resumed_requests) < len(server.requests)


def test_permanent_endpoint_error_stops_at_once(fake_server, shared_data):
    train = _split(shared_data, "asia", 50)
    server = fake_server(SimulatedResponder(), api_key="right-key")
    model = _model(server.url)
    with pytest.raises(LLMAuthError):
        model.fit(train, target="Dyspnea")
    assert len(server.requests) <= 4  # the first concurrent round, none retried


def test_continue_for_more_epochs_and_start_from_a_hand_edited_theta(fake_server, shared_data, tmp_path):
    train = _split(shared_data, "asia", 50)
    server = fake_server(SimulatedResponder())
    first = _model(server.url, epochs=1).fit(train, target="Dyspnea", run_dir=tmp_path / "run")
    done = len(first.history_)
    more = _model(server.url, epochs=2).fit(train, target="Dyspnea", run_dir=tmp_path / "run")
    assert len(more.history_) == 2 * done
    assert [e.theta for e in more.history_.entries[:done]] == [e.theta for e in first.history_.entries]

    # an expert edits θ by hand (JSON) and starts a new run from it
    edited = more.theta_.to_dict()
    edited["dag"] = [["smoke", "lung cancer"], ["lung cancer", "smoke"]]  # a cycle: repaired, not refused
    edited["instruction"] = "Smokers get lung cancer more often."
    theta_file = tmp_path / "theta.json"
    theta_file.write_text(json.dumps(edited))
    from mallm_gan.theta.process import DataGenerationProcess

    start = DataGenerationProcess.from_dict(json.loads(theta_file.read_text()))
    model = _model(server.url, epochs=1).fit(train, target="Dyspnea", theta=start)
    first_theta = model.history_.entries[0].theta
    assert first_theta.instruction == "Smokers get lung cancer more often."
    assert first_theta.dag == (("smoke", "lung cancer"),)


def test_real_holdout_rows_are_never_trained_on(fake_server, shared_data, monkeypatch):
    from mallm_gan.gan.discriminator import Discriminator

    seen: list[set[int]] = []
    original = Discriminator.split

    def spy(self, real, synthetic, seed):
        seen.append(set(real.index))
        return original(self, real, synthetic, seed)

    monkeypatch.setattr(Discriminator, "split", spy)
    train = _split(shared_data, "asia", 50)
    server = fake_server(SimulatedResponder())
    model = _model(server.url, epochs=2, batch_size=10).fit(train, target="Dyspnea")
    assert len(seen) == len(model.history_) == 10
    trained = set().union(*seen)
    held_out = set(range(len(train))) - trained
    assert len(held_out) == 15  # 30% of 50, the same rows for every θ
    # every other row reached the discriminator: 2 epochs cover the table twice
    assert len(trained) == 35
    # each θ's score rests on its own held-out synthetic rows
    assert all(e.held_out >= 1 and e.recall is not None for e in model.history_.entries)


def test_a_checkpoint_of_an_earlier_format_is_refused_with_the_reason(fake_server, shared_data, tmp_path):
    train = _split(shared_data, "asia", 50)
    server = fake_server(SimulatedResponder())
    run = tmp_path / "run"
    _model(server.url, epochs=1).fit(train, target="Dyspnea", run_dir=run)
    checkpoint = run / "checkpoint.json"
    state = json.loads(checkpoint.read_text())
    state["format"] = 1
    checkpoint.write_text(json.dumps(state))
    with pytest.raises(ConfigError, match=r"cannot be resumed.*another run directory"):
        _model(server.url, epochs=2).fit(train, target="Dyspnea", run_dir=run)
    # the refused run directory is left as it was
    assert json.loads(checkpoint.read_text())["format"] == 1
    assert (run / "model.json").is_file()


def test_tiny_tables_and_a_last_batch_of_one_row(fake_server, shared_data):
    server = fake_server(SimulatedResponder())
    table = _split(shared_data, "insurance", 100)
    # 5 rows in batches of 2 leave a last batch of 1 row; 2 rows leave one real row for the discriminator
    for n, batch in [(5, 2), (2, 2), (3, 3)]:
        # with one example a call the stand-in writes that example back with jitter, which the release gate
        # withholds as a near copy (its own tests are in test_privacy_end_to_end.py); here it is off
        model = _model(server.url, epochs=2, batch_size=batch, n_examples=1, rows_per_call=1, release_gate="off")
        model.fit(table.head(n), target="charges")
        assert len(model.history_) == 2 * -(-n // batch)
        assert all(e.held_out >= 1 for e in model.history_.entries)
        assert len(model.sample(4)) == 4
