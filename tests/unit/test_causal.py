"""Causal structure: BIC hill climbing, validation and repair, graph helpers, distances, random edits."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pandas as pd
import pytest

from mallm_gan.errors import ConfigError, SchemaError
from mallm_gan.table.schema import TableSchema
from mallm_gan.theta.causal import bic_score, discretise, hill_climb_dag, validate_dag
from mallm_gan.theta.graphs import (
    ASIA_COLUMNS,
    ASIA_TRUE_DAG,
    graph_edit_distance,
    is_acyclic,
    parents,
    random_edit,
    skeleton,
    skeleton_distance,
    structural_hamming_distance,
    topological_order,
)


# -- a known small discrete network -------------------------------------------------------------------
def _chain_frame(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """A -> B -> C with strong dependence, and D independent of all."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 3, n)
    b = np.where(rng.random(n) < 0.85, a, rng.integers(0, 3, n))
    c = np.where(rng.random(n) < 0.85, (b + 1) % 3, rng.integers(0, 3, n))
    d = rng.integers(0, 2, n)
    return pd.DataFrame({"A": [f"a{v}" for v in a], "B": [f"b{v}" for v in b], "C": c * 1.5 + 10, "D": d})


def test_hill_climb_recovers_chain_skeleton():
    frame = _chain_frame()
    schema = TableSchema.from_dataframe(frame)
    edges = hill_climb_dag(frame, schema)
    assert skeleton(edges) == {frozenset(("A", "B")), frozenset(("B", "C"))}
    assert is_acyclic(edges)


@pytest.mark.parametrize("source", ["chain", "asia/splits/n50/train.csv", "insurance/splits/n100/train.csv"])
def test_hill_climb_stops_at_a_local_optimum(source, read_shared):
    frame = _chain_frame(n=600, seed=3) if source == "chain" else read_shared(source)
    schema = TableSchema.from_dataframe(frame)
    edges = hill_climb_dag(frame, schema)
    best = bic_score(frame, schema, edges)
    assert best > bic_score(frame, schema, ())
    names = schema.names
    neighbours = []
    for u, v in itertools.permutations(names, 2):
        if (u, v) in edges:
            rest = [e for e in edges if e != (u, v)]
            neighbours += [rest, [*rest, (v, u)]]
        elif (v, u) not in edges:
            neighbours.append([*edges, (u, v)])
    for graph in neighbours:
        if is_acyclic(graph) and max(map(len, parents(graph).values()), default=0) <= 3:
            assert bic_score(frame, schema, graph) <= best + 1e-6, graph


def test_local_bic_score_matches_the_formula():
    frame = pd.DataFrame({"x": ["a", "a", "b", "b", "b", "a"], "y": ["u", "v", "v", "v", "u", "u"]})
    schema = TableSchema.from_dataframe(frame)
    n = len(frame)
    # x has no parents: 3 a, 3 b
    score_x = 6 * math.log(3 / 6) - 0.5 * math.log(n) * 1 * 1
    # y | x: a -> (u 2, v 1), b -> (u 1, v 2)
    score_y = 2 * (2 * math.log(2 / 3) + 1 * math.log(1 / 3)) - 0.5 * math.log(n) * 1 * 2
    assert bic_score(frame, schema, [("x", "y")]) == pytest.approx(score_x + score_y)
    # score equivalence: reversing the only edge keeps the score
    assert bic_score(frame, schema, [("y", "x")]) == pytest.approx(score_x + score_y)


def test_hill_climb_is_deterministic_and_respects_max_parents():
    frame = _chain_frame(n=800, seed=1)
    schema = TableSchema.from_dataframe(frame)
    assert hill_climb_dag(frame, schema) == hill_climb_dag(frame, schema)
    assert hill_climb_dag(frame, schema, random_state=4) == hill_climb_dag(frame, schema, random_state=4)
    assert hill_climb_dag(frame, schema, max_parents=0) == ()
    assert hill_climb_dag(frame, schema, max_iter=1) and len(hill_climb_dag(frame, schema, max_iter=1)) == 1


def test_single_level_columns_get_no_edges():
    frame = _chain_frame(n=500)
    frame["const"] = 7
    schema = TableSchema.from_dataframe(frame)
    edges = hill_climb_dag(frame, schema)
    assert all("const" not in edge for edge in edges)


def test_discretise_bins_spikes_and_missing():
    frame = pd.DataFrame(
        {
            "gain": [0.0] * 12 + [500.0, 2000.0, 7000.0, 9000.0],
            "x": np.arange(16, dtype=float),
            "cat": ["a", "b", None, "a"] * 4,
        }
    )
    frame.loc[3, "x"] = np.nan
    schema = TableSchema.from_dataframe(frame)
    codes = discretise(frame, schema, bins=4)
    assert set(codes) == {"gain", "x", "cat"}
    assert len(set(codes["gain"][:12])) == 1 and codes["gain"][12] != codes["gain"][0]
    assert len(set(codes["x"])) == 5  # four quantile bins plus the missing level
    assert codes["x"][3] == codes["x"].max()
    assert len(set(codes["cat"])) == 3
    with pytest.raises(ConfigError):
        discretise(frame, schema, bins=1)
    with pytest.raises(SchemaError, match="gain"):
        discretise(frame.drop(columns="gain"), schema)


def test_datetime_columns_are_binned():
    frame = pd.DataFrame({"when": pd.date_range("2020-01-01", periods=40, freq="D").astype(str)})
    frame["late"] = (np.arange(40) >= 20).astype(int)
    schema = TableSchema.from_dataframe(frame)
    assert len(set(discretise(frame, schema)["when"])) == 4
    assert skeleton(hill_climb_dag(frame, schema)) == {frozenset(("when", "late"))}


# -- the asia data ----------------------------------------------------------------------------------
def test_asia_true_dag_uses_the_csv_names(read_shared):
    frame = read_shared("asia/splits/n50/train.csv")
    assert tuple(frame.columns) == ASIA_COLUMNS
    assert {n for edge in ASIA_TRUE_DAG for n in edge} == set(frame.columns)
    assert is_acyclic(ASIA_TRUE_DAG) and len(ASIA_TRUE_DAG) == 8


def test_asia_n50_skeleton_overlaps_the_truth(read_shared):
    frame = read_shared("asia/splits/n50/train.csv")
    schema = TableSchema.from_dataframe(frame)
    start = time.perf_counter()
    edges = hill_climb_dag(frame, schema)
    assert time.perf_counter() - start < 1.0
    assert len(skeleton(edges) & skeleton(ASIA_TRUE_DAG)) >= 2
    # visit to Asia has a single level in this split, so it cannot take part
    assert all("visit to Asia" not in edge for edge in edges)


def test_asia_2000_rows_skeleton_is_close_to_the_truth(read_shared):
    frame = read_shared("asia/full.csv.gz").sample(2000, random_state=0)
    schema = TableSchema.from_dataframe(frame)
    edges = hill_climb_dag(frame, schema)
    found = skeleton(edges)
    assert len(found & skeleton(ASIA_TRUE_DAG)) >= 6
    assert skeleton_distance(edges, ASIA_TRUE_DAG) <= 3


def test_adult_n800_runs_fast(read_shared):
    frame = read_shared("adult/splits/n800/train.csv")
    schema = TableSchema.from_dataframe(frame, target="Income")
    start = time.perf_counter()
    edges = hill_climb_dag(frame, schema)
    assert time.perf_counter() - start < 5.0
    assert edges and is_acyclic(edges)
    assert max(len(p) for p in parents(edges).values()) <= 3
    assert validate_dag(edges, schema.names).ok


# -- validation -------------------------------------------------------------------------------------
COLS = ["age", "smoke", "lung cancer", "Dyspnea"]


def test_validate_dag_drops_with_reasons():
    check = validate_dag(
        [
            ("age", "smoke"),
            ("smoke", "lung cancer"),
            ("lung cancer", "age"),  # closes age -> smoke -> lung cancer -> age
            ("smoke", "smoke"),
            ("age", "smoke"),
            ("age", "height"),
            ("smoke", "age"),  # the reverse of a kept edge is a 2-cycle
            ("age",),
            "age -> smoke",
            ("lung cancer", "Dyspnea"),
        ],
        COLS,
    )
    assert check.edges == (("age", "smoke"), ("smoke", "lung cancer"), ("lung cancer", "Dyspnea"))
    assert [reason for _, reason in check.dropped] == [
        "cycle",
        "self loop",
        "duplicate",
        "unknown column",
        "cycle",
        "malformed edge",
        "malformed edge",
    ]
    assert check.reasons() == {"cycle": 2, "self loop": 1, "duplicate": 1, "unknown column": 1, "malformed edge": 2}
    assert not check.ok


def test_validate_dag_maps_names_loosely():
    check = validate_dag([("  AGE ", "Lung   Cancer"), ("DYSPNEA", "smoke")], COLS)
    assert check.edges == (("age", "lung cancer"), ("Dyspnea", "smoke"))
    assert check.ok
    # an exact name wins over loose matches; a loose name matching two columns is unknown
    check = validate_dag([("A", "b"), ("a", "b")], ["a", "A", "b"])
    assert check.edges == (("A", "b"), ("a", "b"))
    assert validate_dag([(" a ", "b")], ["a", "A", "b"]).dropped[0][1] == "unknown column"


def test_graph_helpers():
    edges = [("smoke", "lung cancer"), ("age", "smoke"), ("lung cancer", "Dyspnea"), ("age", "Dyspnea")]
    assert is_acyclic(edges)
    assert not is_acyclic([*edges, ("Dyspnea", "age")])
    assert not is_acyclic([("a", "a")])
    assert is_acyclic([])
    assert topological_order(edges, COLS) == ["age", "smoke", "lung cancer", "Dyspnea"]
    assert topological_order([], ["b", "a"]) == ["b", "a"]  # ties keep column order
    assert topological_order([("b", "a")], ["a", "c", "b"]) == ["c", "b", "a"]
    with pytest.raises(ConfigError, match="cycle"):
        topological_order([("age", "smoke"), ("smoke", "age")], COLS)
    with pytest.raises(ConfigError, match="height"):
        topological_order([("age", "height")], COLS)
    assert parents(edges) == {"lung cancer": ["smoke"], "smoke": ["age"], "Dyspnea": ["lung cancer", "age"]}
    assert parents(edges, COLS)["age"] == []


# -- distances --------------------------------------------------------------------------------------
def test_graph_edit_distance_known_values():
    g = [("a", "b"), ("b", "c")]
    assert graph_edit_distance(g, g) == 0
    assert graph_edit_distance(g, [("a", "b")]) == 1  # one deletion
    assert graph_edit_distance(g, [*g, ("a", "c")]) == 1  # one insertion
    assert graph_edit_distance(g, [("b", "a"), ("b", "c")]) == 1  # one reversal
    assert graph_edit_distance(g, [("b", "a"), ("b", "c")], reversal_cost=2) == 2
    assert graph_edit_distance(g, [("c", "b"), ("a", "c")]) == 3  # delete a-b, reverse b-c, insert a-c
    assert graph_edit_distance([], ASIA_TRUE_DAG) == 8
    assert graph_edit_distance(ASIA_TRUE_DAG, [(c, p) for p, c in ASIA_TRUE_DAG]) == 8
    assert structural_hamming_distance(g, [("b", "a")]) == 2
    assert skeleton_distance(g, [("b", "a"), ("c", "b")]) == 0
    assert skeleton_distance(g, [("a", "c")]) == 3
    # symmetric
    assert graph_edit_distance([("c", "b"), ("a", "c")], g) == 3


def test_random_edit_makes_one_acyclic_change():
    columns = ["a", "b", "c", "d", "e"]
    edges: tuple = (("a", "b"), ("b", "c"), ("a", "d"))
    kinds = set()
    for seed in range(200):
        edited = random_edit(edges, columns, np.random.default_rng(seed))
        assert is_acyclic(edited)
        assert graph_edit_distance(edges, edited) == 1
        if len(edited) > len(edges):
            kinds.add("add")
        elif len(edited) < len(edges):
            kinds.add("remove")
        else:
            kinds.add("reverse")
    assert kinds == {"add", "remove", "reverse"}
    assert random_edit(edges, columns, 7) == random_edit(edges, columns, 7)


def test_random_edit_walk_stays_acyclic():
    columns = list("abcdef")
    rng = np.random.default_rng(0)
    edges: tuple = ()
    for _ in range(300):
        edges = random_edit(edges, columns, rng)
        assert is_acyclic(edges)
        assert validate_dag(edges, columns).ok
    assert random_edit((), ["only"], rng) == ()
