"""The edit form of the optimizer's answer: prompt, JSON schema, parsing and applying the edits."""

from __future__ import annotations

import asyncio

import pytest

from mallm_gan.errors import ConfigError, ParseError
from mallm_gan.gan.answer_schema import optimizer_edits_json_schema
from mallm_gan.gan.optimizer import History, HistoryEntry, Optimizer, read_reply
from mallm_gan.gan.optimizer_reply import EditReply, apply_edits, parse_optimizer_edits
from mallm_gan.gan.prompts import optimizer_messages
from mallm_gan.gan.proposals import FORM_BY_MODEL, default_form
from mallm_gan.llm.base import Choice, Completion
from mallm_gan.settings import Settings
from mallm_gan.table.column import Column
from mallm_gan.table.schema import TableSchema
from mallm_gan.theta.process import DataGenerationProcess

COLUMNS = ["smoke", "lung cancer", "bronchitis", "Dyspnea"]


@pytest.mark.parametrize(
    "text",
    [
        '{"add": [["smoke", "lung cancer"]], "remove": [["bronchitis", "smoke"]], "reverse": [], '
        '"instruction": "Keep smokers at a third."}',
        'Here you go:\n```json\n{"add": ["smoke -> lung cancer"], "remove": ["Bronchitis -> SMOKE"], '
        '"instruction": "Keep smokers at a third.",}\n```',
        "add: smoke -> lung cancer\nremove: bronchitis -> smoke\nInstruction: Keep smokers at a third.",
        "{'add': [('smoke', 'lung cancer')], 'remove': [('bronchitis', 'smoke')], "
        "'instruction': 'Keep smokers at a third.'}",
    ],
)
def test_edits_are_read_from_every_shape(text):
    reply = parse_optimizer_edits(text, COLUMNS)
    assert reply == EditReply(add=(("smoke", "lung cancer"),), remove=(("bronchitis", "smoke"),),
                              instruction="Keep smokers at a third.")


def test_a_bare_pair_counts_as_one_edge_and_an_empty_reply_is_a_parse_error():
    assert parse_optimizer_edits('{"add": ["smoke", "Dyspnea"]}', COLUMNS).add == (("smoke", "Dyspnea"),)
    with pytest.raises(ParseError):
        parse_optimizer_edits("I cannot help with that.", COLUMNS)
    with pytest.raises(ParseError):
        parse_optimizer_edits("   ", COLUMNS)


def test_apply_edits_reports_what_it_could_not_do():
    base = [("smoke", "bronchitis"), ("bronchitis", "Dyspnea")]
    reply = EditReply(add=(("smoke", "lung cancer"), ("smoke", "bronchitis")), remove=(("Dyspnea", "smoke"),),
                      reverse=(("bronchitis", "Dyspnea"),))
    edges, skipped = apply_edits(base, reply)
    assert edges == [("smoke", "bronchitis"), ("Dyspnea", "bronchitis"), ("smoke", "lung cancer")]
    assert skipped == [(("Dyspnea", "smoke"), "remove: no such edge"), (("smoke", "bronchitis"), "add: already there")]


def test_read_reply_uses_the_form_and_the_base_structure():
    base = (("smoke", "bronchitis"),)
    edges, instruction, skipped = read_reply('{"reverse": [["smoke", "bronchitis"]], "instruction": "x"}',
                                             COLUMNS, base, "edits")
    assert edges == [("bronchitis", "smoke")] and instruction == "x" and skipped == []
    edges, _, _ = read_reply('{"dag": [["smoke", "Dyspnea"]], "instruction": "x"}', COLUMNS, base, "dag")
    assert edges == [("smoke", "Dyspnea")]


def test_edit_schema_and_prompt():
    schema = optimizer_edits_json_schema(COLUMNS)
    assert schema["title"] == "theta_edits"
    assert set(schema["required"]) == {"add", "remove", "reverse", "instruction"}
    pair = schema["properties"]["add"]["items"]
    assert pair["items"] == {"enum": COLUMNS} and pair["minItems"] == pair["maxItems"] == 2
    assert schema["additionalProperties"] is False and "maxLength" not in schema["properties"]["instruction"]
    with pytest.raises(ConfigError):
        optimizer_edits_json_schema([])
    table = TableSchema([Column(name, "categorical", categories=("0", "1")) for name in COLUMNS])
    theta = DataGenerationProcess("ctx", (("smoke", "bronchitis"),), "Be realistic.")
    user = optimizer_messages([(theta, 0.6)], table, context="ctx", form="edits",
                              feedback="<feedback>\n1. `smoke = 1`: too few\n</feedback>")[1]["content"]
    assert '{"add": [["parent", "child"]], "remove": [], "reverse": []' in user
    assert user.index("</version 1>") < user.index("<feedback>") < user.index("Change the last (best) version")
    plain = optimizer_messages([(theta, 0.6)], table, context="ctx")[1]["content"]
    assert "<feedback>" not in plain and '{"dag": [["parent", "child"], ...]' in plain
    with pytest.raises(ConfigError, match="optimizer form"):
        optimizer_messages([(theta, 0.6)], table, context="ctx", form="diff")


class _Scripted:
    model = "scripted"

    def __init__(self, text: str) -> None:
        self.text = text
        self.requests: list[dict] = []

    async def complete(self, messages, **options):
        self.requests.append({"messages": messages, **options})
        return Completion(choices=(Choice(self.text, "stop"),), model=self.model)


def _history(theta: DataGenerationProcess) -> History:
    history = History()
    history.entries.append(HistoryEntry(0, 0, 0, theta, 0.7, 0.7, [], [], 0))
    return history


def test_the_optimizer_asks_for_and_applies_edits():
    table = TableSchema([Column(name, "categorical", categories=("0", "1")) for name in COLUMNS])
    theta = DataGenerationProcess("ctx", (("smoke", "bronchitis"),), "Be realistic.")
    client = _Scripted('{"add": [["smoke", "lung cancer"]], "remove": [["smoke", "Dyspnea"]], "reverse": [], '
                       '"instruction": ""}')
    new, origin = asyncio.run(Optimizer(client, table, form="edits").propose(_history(theta), seed=1))
    assert client.requests[0]["json_schema"]["title"] == "theta_edits"
    assert new.dag == (("smoke", "bronchitis"), ("smoke", "lung cancer"))
    assert new.instruction == "Be realistic."
    assert origin == "repaired: dropped 1 edge(s) (remove: no such edge)"


def test_form_and_candidate_parameters():
    Settings(optimizer_form=None, optimizer_candidates=1)
    Settings(optimizer_form="edits", optimizer_candidates=4, optimizer_feedback=True)
    with pytest.raises(ConfigError, match="optimizer_form"):
        Settings(optimizer_form="diff")
    with pytest.raises(ConfigError, match="optimizer_candidates"):
        Settings(optimizer_candidates=0)
    with pytest.raises(ConfigError, match="optimizer_feedback"):
        Settings(optimizer_feedback="yes")
    assert default_form(_Scripted("")) == "dag"
    edits_model = _Scripted("")
    edits_model.model = "local:some-model"
    FORM_BY_MODEL["some-model"] = "edits"
    try:
        assert default_form(edits_model) == "edits"
    finally:
        del FORM_BY_MODEL["some-model"]
