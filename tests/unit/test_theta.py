"""θ: rendering into the generator's system prompt, JSON round trip, edits and diffs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mallm_gan.errors import ConfigError
from mallm_gan.table.schema import TableSchema
from mallm_gan.theta.process import DEFAULT_INSTRUCTION, ROLE, SECTION_TAGS, DataGenerationProcess


@pytest.fixture
def schema() -> TableSchema:
    frame = pd.DataFrame(
        {
            "age": [23, 45, 67, 34],
            "smoker": ["yes", "no", "no", "yes"],
            "bmi": [22.5, 31.25, 27.0, 24.75],
            "charges": [1200.5, 8000.0, 15000.25, 3000.0],
        }
    )
    return TableSchema.from_dataframe(frame, target="charges")


@pytest.fixture
def theta() -> DataGenerationProcess:
    return DataGenerationProcess(
        context="Patients and their insurance charges.",
        dag=(("age", "charges"), ("smoker", "charges"), ("age", "bmi")),
        instruction="Older smokers pay more.",
    )


def test_render_holds_every_part_in_order(theta, schema):
    text = theta.render(schema)
    assert text.startswith(ROLE)
    positions = [text.index(f"<{tag}>") for tag in SECTION_TAGS]
    assert positions == sorted(positions)
    for tag in SECTION_TAGS:
        assert text.count(f"<{tag}>") == 1 and text.count(f"</{tag}>") == 1
    assert "Patients and their insurance charges." in text
    for line in schema.describe().splitlines():
        assert line in text
    for parent, child in theta.dag:
        assert f"\n{parent} -> {child}" in text
    assert "Older smokers pay more." in text
    # each part sits inside its own section
    causal = text.split("<causal structure>")[1].split("</causal structure>")[0]
    assert causal.count("->") == len(theta.dag) + 1  # the edges plus the legend's "A -> B"
    task = text.split("<task instruction>")[1].split("</task instruction>")[0]
    assert task.strip() == "Older smokers pay more."


def test_render_without_edges_or_context_says_so(schema):
    text = DataGenerationProcess().render(schema)
    causal = text.split("<causal structure>")[1].split("</causal structure>")[0]
    assert "->" not in causal
    assert "No causal relationships" in causal
    assert "No description of the data" in text.split("<context>")[1].split("</context>")[0]
    assert DEFAULT_INSTRUCTION in text


def test_edges_text(theta):
    assert theta.edges_text().splitlines() == ["age -> charges", "smoker -> charges", "age -> bmi"]
    assert "->" not in DataGenerationProcess().edges_text()


def test_json_round_trip(theta):
    data = json.loads(json.dumps(theta.to_dict()))
    assert data["dag"] == [["age", "charges"], ["smoker", "charges"], ["age", "bmi"]]
    again = DataGenerationProcess.from_dict(data)
    assert again == theta
    assert hash(again) == hash(theta)


def test_from_dict_accepts_hand_written_forms():
    theta = DataGenerationProcess.from_dict({"dag": ["age -> bmi", " smoker->charges "]})
    assert theta.dag == (("age", "bmi"), ("smoker", "charges"))
    assert theta.instruction == DEFAULT_INSTRUCTION
    assert theta.context == ""
    block = DataGenerationProcess.from_dict({"dag": "age -> bmi\n\nsmoker -> charges\n"})
    assert block.dag == theta.dag


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({"dag": [["age"]]}, "pair"),
        ({"dag": ["age bmi"]}, "parent -> child"),
        ({"dag": 3}, "list"),
        ({"edges": []}, "unknown field"),
        ([1, 2], "JSON object"),
    ],
)
def test_from_dict_rejects_bad_input(data, fragment):
    with pytest.raises(ConfigError, match=fragment):
        DataGenerationProcess.from_dict(data)


def test_constructor_normalises_lists_and_rejects_bad_types():
    theta = DataGenerationProcess(dag=[["a", "b"]])  # type: ignore[arg-type]
    assert theta.dag == (("a", "b"),)
    with pytest.raises(ConfigError):
        DataGenerationProcess(instruction=None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        DataGenerationProcess(context=5)  # type: ignore[arg-type]


def test_with_methods_return_new_theta(theta):
    changed = theta.with_dag([("bmi", "charges")]).with_instruction("new").with_context("ctx")
    assert changed.dag == (("bmi", "charges"),)
    assert (changed.instruction, changed.context) == ("new", "ctx")
    assert theta.dag[0] == ("age", "charges") and theta.instruction == "Older smokers pay more."
    with pytest.raises(AttributeError):
        theta.instruction = "x"  # type: ignore[misc]


def test_diff(theta):
    other = theta.with_dag([("age", "charges"), ("bmi", "charges"), ("charges", "smoker")])
    added, removed = theta.diff(other)
    assert added == [("bmi", "charges"), ("charges", "smoker")]
    assert removed == [("smoker", "charges"), ("age", "bmi")]
    assert theta.diff(theta) == ([], [])
    assert other.diff(theta) == (removed, added)


# -- the one edge parser (theta/edges), strict for people, lenient for models ------------------------------
def test_strict_edges_take_other_arrows_and_objects_and_refuse_chains(tmp_path):
    from mallm_gan.theta.edges import read_edges

    theta = DataGenerationProcess.from_dict({"dag": ["age → bmi", {"parent": "smoker", "child": "charges"}]})
    assert theta.dag == (("age", "bmi"), ("smoker", "charges"))
    with pytest.raises(ConfigError, match="parent -> child"):
        read_edges(["a -> b -> c"])  # one edge each; the report used to read this as ("a", "b -> c")
    path = tmp_path / "dag.json"
    path.write_text('{"edges": [["a", "b"], 3]}', encoding="utf-8")
    with pytest.raises(ConfigError, match="3 is neither"):
        read_edges(path, what="--dag file")  # --dag files used to pass bad items on unread
    path.write_text('{"nodes": []}', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"--dag file .*dag\.json must hold a list"):
        read_edges(path, what="--dag file")


def test_lenient_edges_read_what_models_write():
    from mallm_gan.theta.edges import edges_from_lines, edges_from_value

    text = "Causal structure:\n- `a -> b -> c`\n2. c => d.\nnot an edge\n"
    assert edges_from_lines(text) == [("a", "b"), ("b", "c"), ("c", "d")]
    assert edges_from_value({"a": ["b", "c"], "d": "e"}) == [("a", "b"), ("a", "c"), ("d", "e")]
    assert edges_from_value([["a", "b"], "b --> c", {"from": "c", "to": "d"}, "prose"]) == [
        ("a", "b"), ("b", "c"), ("c", "d"),
    ]
    assert edges_from_value(["prose only"]) is None and edges_from_value(3) is None
