"""Directed graphs over column names: order, acyclicity, distances between DAGs and random edits.

Pure functions on edge lists (``(parent, child)`` pairs); the structure search and the validation of a
proposed DAG against a schema live in :mod:`mallm_gan.theta.causal`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ..errors import ConfigError

Edge = tuple[str, str]

#: The columns of the Asia network's data, in the order of the asia CSV header.
ASIA_COLUMNS: tuple[str, ...] = (
    "visit to Asia",
    "tuberculosis",
    "smoke",
    "lung cancer",
    "bronchitis",
    "either tuberculosis or lung cancer",
    "chest X-ray",
    "Dyspnea",
)

#: The true graph of the Asia network (Lauritzen & Spiegelhalter 1988), named as in the asia CSV header.
ASIA_TRUE_DAG: tuple[Edge, ...] = (
    ("visit to Asia", "tuberculosis"),
    ("smoke", "lung cancer"),
    ("smoke", "bronchitis"),
    ("tuberculosis", "either tuberculosis or lung cancer"),
    ("lung cancer", "either tuberculosis or lung cancer"),
    ("either tuberculosis or lung cancer", "chest X-ray"),
    ("either tuberculosis or lung cancer", "Dyspnea"),
    ("bronchitis", "Dyspnea"),
)


def reaches(children: dict[str, set[str]], start: str, goal: str) -> bool:
    """True when ``goal`` can be reached from ``start`` along the ``children`` map (parent -> children)."""
    seen: set[str] = set()
    stack = [start]
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            stack.extend(children.get(node, ()))
    return False


def parents(edges: Iterable[Edge], columns: Sequence[str] | None = None) -> dict[str, list[str]]:
    """Parents of each child, in edge order; with ``columns``, every column is a key (roots map to [])."""
    out: dict[str, list[str]] = {name: [] for name in columns or ()}
    for parent, child in edges:
        out.setdefault(child, [])
        if parent not in out[child]:
            out[child].append(parent)
    return out


def is_acyclic(edges: Iterable[Edge]) -> bool:
    """True when the directed graph given by ``edges`` has no cycle (self loops are cycles)."""
    edges = list(edges)
    nodes = list(dict.fromkeys(n for e in edges for n in e))
    return len(_kahn(edges, nodes)) == len(nodes)


def topological_order(edges: Iterable[Edge], columns: Sequence[str]) -> list[str]:
    """All ``columns``, every parent before its children, ties broken by column order.

    Raises:
        ConfigError: an edge names a column that is not in ``columns``, or the edges contain a cycle.
    """
    edges = list(edges)
    known = set(columns)
    unknown = sorted({n for e in edges for n in e if n not in known})
    if unknown:
        raise ConfigError(f"edges name unknown column(s) {unknown}; columns are {list(columns)}")
    order = _kahn(edges, list(columns))
    if len(order) != len(columns):
        stuck = [c for c in columns if c not in set(order)]
        raise ConfigError(f"the causal structure has a cycle through {stuck}")
    return order


def _kahn(edges: list[Edge], nodes: list[str]) -> list[str]:
    rank = {n: i for i, n in enumerate(nodes)}
    indegree = dict.fromkeys(nodes, 0)
    children: dict[str, list[str]] = {n: [] for n in nodes}
    for parent, child in set(edges):
        children[parent].append(child)
        indegree[child] += 1
    ready = sorted((n for n in nodes if indegree[n] == 0), key=rank.__getitem__)
    order: list[str] = []
    while ready:
        node = ready.pop(0)
        order.append(node)
        for child in children[node]:
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
        ready.sort(key=rank.__getitem__)
    return order


# -- distances --------------------------------------------------------------------------------------
def graph_edit_distance(a: Iterable[Edge], b: Iterable[Edge], *, reversal_cost: int = 1) -> int:
    """Edge insertions and deletions that turn DAG ``a`` into DAG ``b``.

    Convention: a pair of columns joined in both graphs but in opposite directions costs ``reversal_cost``
    (1 by default: one "reverse" edit, which makes this the structural Hamming distance of Tsamardinos et
    al. 2006; pass 2 to count a reversal as a deletion plus an insertion). Every edge present in only one
    graph costs 1.
    """

    def by_pair(edges: Iterable[Edge]) -> dict[frozenset[str], set[Edge]]:
        out: dict[frozenset[str], set[Edge]] = {}
        for parent, child in edges:
            out.setdefault(frozenset((parent, child)), set()).add((parent, child))
        return out

    pa, pb = by_pair(a), by_pair(b)
    cost = 0
    for pair in pa.keys() | pb.keys():
        da, db = pa.get(pair, set()), pb.get(pair, set())
        if da == db:
            continue
        if len(da) == 1 and len(db) == 1:
            cost += reversal_cost
        else:
            cost += len(da ^ db)
    return cost


def structural_hamming_distance(a: Iterable[Edge], b: Iterable[Edge]) -> int:
    """Pairs of columns whose edge differs (missing, extra or reversed): ``graph_edit_distance`` with
    ``reversal_cost=1``, under its usual name."""
    return graph_edit_distance(a, b, reversal_cost=1)


def skeleton(edges: Iterable[Edge]) -> set[frozenset[str]]:
    """The undirected edges of a graph."""
    return {frozenset(e) for e in edges if e[0] != e[1]}


def skeleton_distance(a: Iterable[Edge], b: Iterable[Edge]) -> int:
    """Undirected edges present in one graph only (direction ignored: score-equivalent DAGs differ in
    direction without differing in fit)."""
    return len(skeleton(a) ^ skeleton(b))


# -- edits ------------------------------------------------------------------------------------------
def random_edit(
    edges: Iterable[Edge], columns: Sequence[str], rng: np.random.Generator | int | None = None
) -> tuple[Edge, ...]:
    """One random edge addition, removal or reversal that keeps the graph acyclic.

    Every possible move is equally likely. With fewer than two columns nothing can change and ``edges``
    come back as they are.
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    current = list(dict.fromkeys(edges))
    present = set(current)
    moves: list[tuple[str, Edge]] = [("remove", e) for e in current]
    for parent, child in current:
        rest = [e for e in current if e != (parent, child)]
        if is_acyclic([*rest, (child, parent)]):
            moves.append(("reverse", (parent, child)))
    children: dict[str, set[str]] = {}
    for parent, child in current:
        children.setdefault(parent, set()).add(child)
    for u in columns:
        for v in columns:
            if u != v and (u, v) not in present and (v, u) not in present and not reaches(children, v, u):
                moves.append(("add", (u, v)))
    if not moves:
        return tuple(current)
    kind, (parent, child) = moves[int(rng.integers(len(moves)))]
    if kind == "add":
        return (*current, (parent, child))
    rest = [e for e in current if e != (parent, child)]
    if kind == "remove":
        return tuple(rest)
    return tuple(e if e != (parent, child) else (child, parent) for e in current)


__all__ = [
    "ASIA_COLUMNS",
    "ASIA_TRUE_DAG",
    "Edge",
    "graph_edit_distance",
    "is_acyclic",
    "parents",
    "random_edit",
    "reaches",
    "skeleton",
    "skeleton_distance",
    "structural_hamming_distance",
    "topological_order",
]
