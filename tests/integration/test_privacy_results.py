"""The loop and the sampler return what the release gate and the exposure ledger did; the facade assigns it.

Neither the loop nor the sampler writes the caller's objects: a resumed run counts on from a copy of the saved
ledger, and sampling from a copy of the model's.
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pandas as pd
import pytest

from mallm_gan import MallmGan
from mallm_gan.gan.clients import open_clients
from mallm_gan.gan.exposure import ExposureLedger
from mallm_gan.gan.loop import LoopData, run_loop
from mallm_gan.gan.progress import Progress
from mallm_gan.gan.sampling import Sampler
from mallm_gan.settings import Settings
from mallm_gan.synthesizer.inputs import normalised_train
from mallm_gan.table.conditions import Conditions
from mallm_gan.table.schema import TableSchema
from mallm_gan.theta.process import DataGenerationProcess

pytestmark = pytest.mark.usefixtures("clean_llm_env")


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    smoke = rng.integers(0, 2, 40)
    return pd.DataFrame({"smoke": smoke, "cough": (smoke + rng.integers(0, 2, 40)) % 2,
                         "age": rng.integers(20, 80, 40)})


def _loop_inputs(table: pd.DataFrame, **params) -> tuple[Settings, LoopData]:
    settings = Settings(llm="simulated", epochs=1, batch_size=20, random_state=0, **params)
    schema = TableSchema.from_dataframe(table, target="cough")
    theta = DataGenerationProcess(context="smoking and coughing")
    return settings, LoopData(schema, normalised_train(table, schema), theta, seed=0)


def test_the_loop_returns_the_gate_and_the_exposure_and_leaves_the_callers_ledger(table):
    settings, data = _loop_inputs(table, max_exposure=50)
    progress = asyncio.run(run_loop(settings, data, open_clients(settings, None)))
    gate, exposure = progress.release_gate, progress.exposure
    assert gate is not None and gate["mode"] == "auto" and gate["training_rows"] == len(table)
    assert exposure is not None and exposure.max_exposure == 50
    first = exposure.summary()
    assert 0 < first["rows_sent"] <= len(table) and sum(exposure.prompts.values()) > 0
    # resumed from the saved form: counting goes on from a copy, the saved progress stays as it was
    saved = Progress.from_dict(json.loads(json.dumps(progress.to_dict())), selection=settings.selection)
    before = saved.exposure.to_dict()
    more = replace_settings(settings, epochs=2)
    resumed = asyncio.run(run_loop(more, data, open_clients(more, None), resume=saved))
    assert saved.exposure.to_dict() == before
    assert sum(resumed.exposure.prompts.values()) > sum(exposure.prompts.values())
    assert resumed.to_dict()["privacy"]["release_gate"]["rejected"]["fit"] >= 0


def replace_settings(settings: Settings, **changes) -> Settings:
    return Settings(**(settings.to_dict() | changes))


def test_the_sampler_counts_on_from_a_copy_of_the_models_ledger(table):
    settings, data = _loop_inputs(table, release_gate="off")
    model_ledger = ExposureLedger()
    model_ledger.admit("somewhere", data.train.head(3))
    before = model_ledger.to_dict()
    sampler = Sampler(settings, data.schema, data.train, data.initial_theta, open_clients(settings, None),
                      conditions=Conditions.from_mapping({}, data.schema), instruction=None, seed=1,
                      exposure=model_ledger)
    rows = pd.concat(list(sampler.chunks(10, 10)))
    assert len(rows) == 10 and model_ledger.to_dict() == before
    assert sampler.release_gate["mode"] == "off" and sampler.near_copies == 0
    assert sampler.exposure.summary()["rows_sent"] >= 3 and "somewhere" in sampler.exposure.counts


def test_the_facade_assigns_what_fit_and_sample_returned(table, tmp_path):
    model = MallmGan(llm="simulated", epochs=1, batch_size=20, random_state=0, max_exposure=40)
    model.fit(table, target="cough", dag="none", run_dir=tmp_path / "run")
    fitted = model.exposure_.summary()
    assert model.release_gate_["mode"] == "auto" and fitted["max_exposure"] == 40 and fitted["rows_sent"] > 0
    model.sample(10)
    assert sum(model.exposure_.prompts.values()) > sum(fitted["endpoints"][e]["prompts"] for e in fitted["endpoints"])
    assert model.sample_near_copies_ == model.sample_report_.reasons["near_copy"]
    loaded = MallmGan.load(tmp_path / "run")
    assert loaded.release_gate_ == model.release_gate_ and loaded.exposure_.summary() == fitted


def test_without_the_loop_the_gate_is_described_as_sampling_applies_it(table, tmp_path):
    model = MallmGan(llm="simulated", optimize=False, random_state=0, batch_size=20, release_gate=0.25)
    model.fit(table, target="cough", dag="none", run_dir=tmp_path / "run")
    assert model.release_gate_["mode"] == "value" and model.release_gate_["threshold"] == 0.25
    assert model.exposure_.summary()["rows_sent"] == 0
    saved = json.loads((tmp_path / "run" / "model.json").read_text())["privacy"]
    assert saved["release_gate"]["threshold"] == 0.25 and saved["release_gate"]["rejected"] == {"fit": 0, "sample": 0}
