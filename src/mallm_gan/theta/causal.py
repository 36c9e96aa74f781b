"""The causal structure of θ: initial DAG by hill climbing with BIC, and validation and repair of a DAG.

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

from ..errors import ConfigError, SchemaError
from ..table.schema import TableSchema, is_missing
from .graphs import Edge, reaches

log = logging.getLogger(__name__)

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


def _best_move(
    scorer: _BicScorer, order: list[int], parents: list[set[int]], children: list[set[int]], max_parents: int
) -> tuple[str, int, int] | None:
    """The edge addition, deletion or reversal that raises the BIC most and keeps a DAG; None at an optimum."""
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
    return best_move


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
        move = _best_move(scorer, order, parents, children, max_parents)
        if move is None:
            break
        kind, u, v = move
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
        elif reaches(children, child, parent):
            dropped.append(((parent, child), "cycle"))
        else:
            kept.append((parent, child))
            children.setdefault(parent, set()).add(child)
    if dropped:
        log.debug("validate_dag dropped %d edge(s): %s", len(dropped), dropped)
    return DagCheck(edges=tuple(kept), dropped=dropped)


__all__ = [
    "DagCheck",
    "bic_score",
    "discretise",
    "hill_climb_dag",
    "validate_dag",
]
