"""The settings object: defaults, one error naming every problem, the run identity, scikit-learn params."""

from __future__ import annotations

import inspect

import pytest

from mallm_gan import MallmGan
from mallm_gan.errors import ConfigError
from mallm_gan.settings import IDENTITY, Settings, llm_identity


def test_the_constructor_and_the_settings_have_the_same_parameters_and_defaults() -> None:
    signature = inspect.signature(MallmGan.__init__).parameters
    constructor = {name: p.default for name, p in signature.items() if name != "self"}
    assert list(constructor) == list(Settings.names())
    assert constructor == Settings.defaults()
    assert MallmGan().get_params() == Settings.defaults()


def test_every_problem_is_named_in_one_error() -> None:
    with pytest.raises(ConfigError) as info:
        Settings(epochs=0, top_k=-1, copy_policy="sometimes", optimizer_temperature=5, max_concurrency=0,
                 selection="smallest", timeout=0, max_rounds=-1, random_state=True)
    problems = info.value.fields["problems"]
    assert len(problems) == 9
    for name in ("epochs", "top_k", "copy_policy", "optimizer_temperature", "max_concurrency", "selection",
                 "timeout", "max_rounds", "random_state"):
        assert name in str(info.value)
    assert isinstance(info.value, ValueError)
    assert Settings().problems() == []


def test_fit_checks_the_parameters_before_touching_the_llm() -> None:
    class Untouchable:
        model = "never"

        def __getattr__(self, name):  # any use of the client would fail the test
            raise AssertionError(f"the client was used ({name}) before the parameters were checked")

    import pandas as pd

    model = MallmGan(llm=Untouchable(), max_concurrency=0, batch_size=0)
    with pytest.raises(ConfigError, match=r"batch_size.*max_concurrency"):
        model.fit(pd.DataFrame({"a": [1, 2, 3, 4]}))


def test_the_run_identity_includes_selection_max_rounds_and_the_llms() -> None:
    assert {"selection", "max_rounds"} <= set(IDENTITY)
    base = Settings(llm="openai:gpt-4o@http://127.0.0.1:8000/v1")
    identity = base.identity()
    assert identity["llm"] == "openai:gpt-4o" and identity["optimizer_llm"] == "openai:gpt-4o"
    for change in ({"selection": "lowest"}, {"max_rounds": 1}, {"llm": "openai:gpt-4o-mini"},
                   {"optimizer_llm": "simulated"}):
        other = Settings(**(base.to_dict() | change)).identity()
        assert other != identity, change
    # the URL is not part of it: the same model served elsewhere (or with a key in the URL) is the same run
    assert Settings(llm="openai:gpt-4o@http://10.0.0.1/v1").identity() == identity


def test_llm_identity_resolves_the_default_like_fitting(monkeypatch) -> None:
    monkeypatch.setenv("MALLM_LLM", "simulated")
    assert llm_identity(None) == llm_identity("simulated") == "simulated:simulated"


def test_get_params_set_params_and_clone() -> None:
    sklearn_base = pytest.importorskip("sklearn.base")
    model = MallmGan(llm="simulated", epochs=2, random_state=3)
    assert model.set_params(top_k=4) is model and model.get_params()["top_k"] == 4
    with pytest.raises(ConfigError, match="unknown parameter"):
        model.set_params(topk=4)
    copy = sklearn_base.clone(model)
    assert copy is not model and copy.get_params() == model.get_params()
    assert not hasattr(copy, "theta_")


def test_max_concurrency_has_one_default_the_backends() -> None:
    from mallm_gan.gan.clients import open_clients
    from mallm_gan.llm import create_llm

    assert Settings().max_concurrency is None  # "the backend's own"
    clients = open_clients(Settings(llm="openai:m@http://127.0.0.1:9/v1"), None)
    assert clients.generator.max_concurrency == 16
    assert open_clients(Settings(llm="openai:m@http://127.0.0.1:9/v1", max_concurrency=3),
                        None).generator.max_concurrency == 3
    pytest.importorskip("xllamacpp", reason="the local backend needs xllamacpp")
    # the in-process backend's default, one request per slot, is what a caller without a value gets
    assert create_llm("local:smollm2-135m", n_parallel=20).max_concurrency == 20
    assert create_llm("local:smollm2-135m", n_parallel=20, max_concurrency=5).max_concurrency == 5
    with pytest.raises(ConfigError, match="max_concurrency"):
        create_llm("openai:m@http://127.0.0.1:9/v1", max_concurrency=0)


def test_constraints_are_a_setting_checked_for_form_and_part_of_the_identity() -> None:
    rules = ["b >= a", {"name": "small", "rule": "a <= 10"}]
    settings = Settings(constraints=rules, allow_violations=True)
    assert "constraints" in IDENTITY and "allow_violations" not in IDENTITY
    assert settings.identity()["constraints"] == ["b >= a", "small: a <= 10"]
    assert settings.identity() != Settings().identity()
    assert Settings(constraints=rules).identity() == settings.identity()  # allowing violations is the same run
    assert settings.to_dict()["constraints"] == rules  # saved as given, a JSON list
    with pytest.raises(ConfigError) as info:
        Settings(constraints=[3], allow_violations="yes")
    assert len(info.value.fields["problems"]) == 2
    assert "a constraint must be a rule string" in str(info.value) and "allow_violations" in str(info.value)
