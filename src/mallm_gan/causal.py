"""The causal structure of θ: initial DAG by hill climbing with BIC, validation and repair, distances.

Structure search is done here with numpy rather than pgmpy (about 500 MB installed) because the problem is
small: a few hundred rows and a few dozen columns. Numeric and datetime columns are cut into quantile bins
and every column is scored as discrete, the usual ``bic-d`` setting.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import ConfigError, SchemaError
from .schema import TableSchema, is_missing

log = logging.getLogger(__name__)

Edge = tuple[str, str]

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

# A move must improve BIC by more than this to be taken: reversing a score-equivalent edge changes the
# score only by rounding noise, and taking such moves could cycle.
_MIN_GAIN = 1e-8


# -- discretisation ---------------------------------------------------------------------------------
def discretise(frame: pd.DataFrame, schema: TableSchema, *, bins: int = 4) -> dict[str, np.ndarray]:
    """Integer codes ``0..r-1`` per column, in schema order, for discrete scoring.

    Numerical and datetime columns with more than ``bins`` distinct values are cut at their quantiles
    (right-closed bins, so a spike such as capital-gain's zeros stays one level); categorical and boolean
    columns keep their levels. A missing value is a level of its own.

    Raises:
        SchemaError: a schema column is absent from ``frame``, or ``frame`` has no rows.
        ConfigError: ``bins`` < 2.
    """
    if bins < 2:
        raise ConfigError(f"bins must be at least 2, got {bins}")
    if len(frame) == 0:
        raise SchemaError("cannot learn a causal structure from a table with no rows")
    codes: dict[str, np.ndarray] = {}
    for column in schema.columns:
        if column.name not in frame.columns:
            raise SchemaError(f"column {column.name!r} of the schema is not in the data", column=column.name)
        values = frame[column.name]
        if column.kind in ("numerical", "datetime"):
            raw = _quantile_codes(_as_float(values, column.kind), bins)
        else:
            cleaned = values.astype(object).map(lambda v: None if is_missing(v) else str(v).strip())
            raw, _ = pd.factorize(cleaned, use_na_sentinel=False)
        _, compact = np.unique(raw, return_inverse=True)
        codes[column.name] = compact.astype(np.int64).reshape(-1)
    return codes


def _as_float(values: pd.Series, kind: str) -> np.ndarray:
    if kind == "datetime":
        stamps = pd.to_datetime(values, errors="coerce", format="mixed", utc=True)
        numbers = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        return numbers.to_numpy(dtype="float64", na_value=np.nan)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _quantile_codes(numbers: np.ndarray, bins: int) -> np.ndarray:
    missing = np.isnan(numbers)
    present = numbers[~missing]
    codes = np.zeros(len(numbers), dtype=np.int64)
    if len(present):
        distinct = np.unique(present)
        if len(distinct) <= bins:
            cuts = distinct[:-1]
        else:
            cuts = np.unique(np.quantile(present, [k / bins for k in range(1, bins)]))
        codes[~missing] = np.searchsorted(cuts, present, side="left")
    codes[missing] = codes.max(initial=0) + 1
    return codes


# -- BIC hill climbing ------------------------------------------------------------------------------
class _BicScorer:
    """Decomposable discrete BIC with a cache of local scores keyed by (node, parent set)."""

    def __init__(self, codes: list[np.ndarray], cards: list[int]) -> None:
        self.codes = codes
        self.cards = cards
        self.n = len(codes[0])
        self.log_n = math.log(self.n) if self.n > 1 else 0.0
        self.cache: dict[tuple[int, tuple[int, ...]], float] = {}

    def local(self, node: int, parents: Iterable[int]) -> float:
        key = (node, tuple(sorted(parents)))
        score = self.cache.get(key)
        if score is None:
            score = self.cache[key] = self._compute(node, key[1])
        return score

    def _compute(self, node: int, parents: tuple[int, ...]) -> float:
        x, r = self.codes[node], self.cards[node]
        q = 1.0
        config = np.zeros(self.n, dtype=np.int64)
        for p in parents:
            config = config * self.cards[p] + self.codes[p]
            q *= self.cards[p]
            # renumber the observed configurations so the key never overflows, however many parents
            _, config = np.unique(config, return_inverse=True)
            config = config.reshape(-1)
        n_configs = int(config.max()) + 1
        counts = np.bincount(config * r + x, minlength=n_configs * r).reshape(n_configs, r)
        totals = np.broadcast_to(counts.sum(axis=1, keepdims=True), counts.shape)
        seen = counts > 0
        log_lik = float(np.sum(counts[seen] * np.log(counts[seen] / totals[seen])))
        return log_lik - 0.5 * self.log_n * (r - 1) * q


def _descendants(children: list[set[int]]) -> list[set[int]]:
    out: list[set[int]] = []
    for start in range(len(children)):
        seen: set[int] = set()
        stack = list(children[start])
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(children[node])
        out.append(seen)
    return out


def hill_climb_dag(
    frame: pd.DataFrame,
    schema: TableSchema,
    *,
    max_parents: int = 3,
    bins: int = 4,
    max_iter: int = 1000,
    random_state: int | None = None,
) -> tuple[Edge, ...]:
    """Greedy hill climbing over DAGs with the discrete BIC score.

    From the empty graph, each step takes the single edge addition, deletion or reversal that raises the
    score most while keeping the graph acyclic and every node within ``max_parents``; the search stops at
    a local optimum or after ``max_iter`` steps. Columns with a single level get no edges.

    Args:
        frame: The real rows.
        schema: Its schema (column kinds decide how columns are discretised).
        max_parents: Most parents a column may have.
        bins: Quantile bins for numerical and datetime columns.
        max_iter: Most moves taken.
        random_state: ``None`` breaks ties between equally good moves by column order; an int breaks them
            by a permutation of the columns drawn from that seed. Either way the result is deterministic.

    Returns:
        Edges ``(parent, child)`` sorted by the parent's then the child's position in the schema.
    """
    if max_parents < 0:
        raise ConfigError(f"max_parents must be >= 0, got {max_parents}")
    names = schema.names
    by_name = discretise(frame, schema, bins=bins)
    codes = [by_name[name] for name in names]
    cards = [int(c.max()) + 1 if len(c) else 1 for c in codes]
    scorer = _BicScorer(codes, cards)
    order = [i for i in range(len(names)) if cards[i] > 1]
    if random_state is not None:
        order = [order[i] for i in np.random.default_rng(random_state).permutation(len(order))]
    parents: list[set[int]] = [set() for _ in names]
    children: list[set[int]] = [set() for _ in names]

    for _ in range(max_iter):
        desc = _descendants(children)
        best_gain, best_move = _MIN_GAIN, None
        for u in order:
            for v in order:
                if u == v or u in children[v]:
                    continue  # an existing v -> u is scored when the loop reaches (v, u)
                if v in children[u]:
                    drop_gain = scorer.local(v, parents[v] - {u}) - scorer.local(v, parents[v])
                    if drop_gain > best_gain:
                        best_gain, best_move = drop_gain, ("delete", u, v)
                    # u -> v -> ... reversed closes a cycle iff another path leads from u to v
                    if len(parents[u]) < max_parents and not any(v in desc[c] for c in children[u] if c != v):
                        gain = drop_gain + scorer.local(u, parents[u] | {v}) - scorer.local(u, parents[u])
                        if gain > best_gain:
                            best_gain, best_move = gain, ("reverse", u, v)
                elif len(parents[v]) < max_parents and u not in desc[v]:
                    gain = scorer.local(v, parents[v] | {u}) - scorer.local(v, parents[v])
                    if gain > best_gain:
                        best_gain, best_move = gain, ("add", u, v)
        if best_move is None:
            break
        kind, u, v = best_move
        if kind in ("delete", "reverse"):
            parents[v].discard(u)
            children[u].discard(v)
        if kind in ("add", "reverse"):
            a, b = (u, v) if kind == "add" else (v, u)
            parents[b].add(a)
            children[a].add(b)
    edges = sorted((p, c) for c in range(len(names)) for p in parents[c])
    log.debug("hill climbing: %d edges, %d local scores computed", len(edges), len(scorer.cache))
    return tuple((names[p], names[c]) for p, c in edges)


def bic_score(frame: pd.DataFrame, schema: TableSchema, edges: Iterable[Edge], *, bins: int = 4) -> float:
    """The discrete BIC of a DAG on ``frame`` (higher is better), as hill climbing scores it."""
    names = schema.names
    by_name = discretise(frame, schema, bins=bins)
    codes = [by_name[name] for name in names]
    scorer = _BicScorer(codes, [int(c.max()) + 1 for c in codes])
    index = {name: i for i, name in enumerate(names)}
    parent_sets: dict[int, set[int]] = {i: set() for i in range(len(names))}
    for parent, child in edges:
        parent_sets[index[child]].add(index[parent])
    return sum(scorer.local(node, ps) for node, ps in parent_sets.items())


# -- validation and graph helpers -------------------------------------------------------------------
@dataclass(frozen=True)
class DagCheck:
    """The usable edges of a proposed DAG and what was dropped, with the reason for each."""

    edges: tuple[Edge, ...]
    dropped: list[tuple[Any, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.dropped

    def reasons(self) -> dict[str, int]:
        """Dropped edges counted by reason."""
        counts: dict[str, int] = {}
        for _, reason in self.dropped:
            counts[reason] = counts.get(reason, 0) + 1
        return counts


def _normal(name: str) -> str:
    return " ".join(name.split()).casefold()


def _resolver(columns: Sequence[str]):
    exact = set(columns)
    loose: dict[str, list[str]] = {}
    for name in columns:
        loose.setdefault(_normal(name), []).append(name)

    def resolve(name: Any) -> str | None:
        if not isinstance(name, str):
            return None
        if name in exact:
            return name
        matches = loose.get(_normal(name), [])
        return matches[0] if len(matches) == 1 else None

    return resolve


def validate_dag(edges: Iterable[Any], columns: Sequence[str]) -> DagCheck:
    """Keep the edges that make a DAG over ``columns``; report the others.

    Names are matched exactly, else ignoring case and runs of whitespace, and mapped to the canonical
    column name. Edges are taken in the given order; one is dropped with a reason when it is not a pair
    ("malformed edge"), names a column that does not exist ("unknown column"), joins a column to itself
    ("self loop"), repeats a kept edge ("duplicate") or would close a cycle with the edges kept so far
    ("cycle").
    """
    resolve = _resolver(columns)
    kept: list[Edge] = []
    dropped: list[tuple[Any, str]] = []
    children: dict[str, set[str]] = {}
    for edge in edges:
        if not isinstance(edge, (list, tuple)) or len(edge) != 2:
            dropped.append((edge, "malformed edge"))
            continue
        parent, child = resolve(edge[0]), resolve(edge[1])
        if parent is None or child is None:
            dropped.append((tuple(edge), "unknown column"))
        elif parent == child:
            dropped.append(((parent, child), "self loop"))
        elif child in children.get(parent, ()):
            dropped.append(((parent, child), "duplicate"))
        elif _reaches(children, child, parent):
            dropped.append(((parent, child), "cycle"))
        else:
            kept.append((parent, child))
            children.setdefault(parent, set()).add(child)
    if dropped:
        log.debug("validate_dag dropped %d edge(s): %s", len(dropped), dropped)
    return DagCheck(edges=tuple(kept), dropped=dropped)


def _reaches(children: dict[str, set[str]], start: str, goal: str) -> bool:
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
            if u != v and (u, v) not in present and (v, u) not in present and not _reaches(children, v, u):
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


# -- initial structure ------------------------------------------------------------------------------
def initial_dag(
    spec: str | Iterable[Any] | None,
    frame: pd.DataFrame,
    schema: TableSchema,
    *,
    random_state: int | None = None,
    **search: Any,
) -> DagCheck:
    """The causal structure a run starts from.

    Args:
        spec: ``"hill_climb"`` (alias ``"bic"``) to search ``frame``; ``"none"`` or ``None`` for no edges;
            or the user's own edges (pairs or ``"A -> B"`` strings), validated against the schema.
        frame, schema: The real rows and their schema.
        random_state: Passed to :func:`hill_climb_dag`.
        **search: Further :func:`hill_climb_dag` options (``max_parents``, ``bins``, ``max_iter``).

    Returns:
        The validated edges with anything dropped from a user-given list and why.
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("none", "empty", "")):
        return DagCheck(edges=())
    if isinstance(spec, str):
        if spec.strip().lower() in ("hill_climb", "hill-climb", "hc", "bic"):
            return DagCheck(edges=hill_climb_dag(frame, schema, random_state=random_state, **search))
        raise ConfigError(f"unknown DAG option {spec!r}; use 'hill_climb', 'none' or a list of edges")
    pairs: list[Any] = []
    for item in spec:
        if isinstance(item, str) and "->" in item:
            left, _, right = item.partition("->")
            pairs.append((left.strip(), right.strip()))
        else:
            pairs.append(item)
    return validate_dag(pairs, schema.names)


__all__ = [
    "ASIA_TRUE_DAG",
    "DagCheck",
    "bic_score",
    "discretise",
    "graph_edit_distance",
    "hill_climb_dag",
    "initial_dag",
    "is_acyclic",
    "parents",
    "random_edit",
    "skeleton",
    "skeleton_distance",
    "structural_hamming_distance",
    "topological_order",
    "validate_dag",
]
