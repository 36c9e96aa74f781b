"""Declarative rules across columns that every returned row obeys.

A rule is text in a small language (:mod:`~mallm_gan.table.constraint_syntax`, read token by token, never
evaluated as Python), bound to a schema by :mod:`~mallm_gan.table.constraint_bind` and evaluated on
normalised rows by :mod:`~mallm_gan.table.constraint_logic`. Examples::

    discharge_date >= admission_date
    age_at_diagnosis <= age
    a + b == total                                   # within the columns' precision
    dose_mg <= 10 * weight_kg
    smoker == "no" -> cigarettes_per_day == 0        # also: if smoker == "no" then ...
    discharge_date - admission_date <= 30            # dates count in days
    (sex, pregnant) in {("female", "yes"), ("female", "no"), ("male", "no")}
    (arm, site) in training                          # the combinations seen in the training rows
    after_admission: `discharge date` >= `admission date`   # a name; names with spaces in backticks

Rules live in the schema (``TableSchema.constraints``, canonical text), so they are saved with the model,
shown in θ's schema section and out of the optimizer's reach. :func:`prepare_constraints` binds them at
``fit`` and checks them on the training rows; the validator checks every generated row.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import ConfigError, SchemaError
from . import constraint_logic as L
from . import constraint_syntax as S
from .coerce import normalise_frame
from .constraint_bind import FINITE_KINDS, Binder, canonical_names, columns_of
from .constraint_parser import parse_rule
from .schema import TableSchema

if TYPE_CHECKING:
    from .conditions import Conditions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Constraint:
    """One bound rule. ``name`` is the one given (``name: rule``), else the rule's canonical text."""

    name: str
    rule: S.Rule
    node: Any
    columns: tuple[str, ...]

    @property
    def text(self) -> str:
        """Canonical text: ``bind(c.text, schema)`` gives the same constraint back."""
        return S.render(self.rule)

    @property
    def learnt(self) -> bool:
        """False while an ``in training`` part still waits for the training rows."""
        return not any(isinstance(n, L.Membership) and n.values is None for n in _nodes(self.node))

    def holds(self, row: Mapping[str, Any]) -> bool:
        """False only when ``row`` (normalised values) definitely breaks the rule; unknown passes."""
        return self.node.eval(row) is not False


def _nodes(node: Any) -> Iterable[Any]:
    yield node
    for item in getattr(node, "items", ()):
        yield from _nodes(item)


def bind(text: str, schema: TableSchema) -> Constraint:
    """Parse ``text`` and bind it to ``schema``.

    Raises:
        ConfigError: a syntax error (its position marked with a caret), an unknown column (the closest name
            suggested), a type mismatch, a product of two columns, a value the column cannot take.
    """
    rule = parse_rule(text)
    node = Binder(schema, text).node(rule.body)
    canonical = S.Rule(rule.name, canonical_names(rule.body, schema))
    return Constraint(rule.name or S.render(canonical.body), canonical, node, tuple(dict.fromkeys(columns_of(node))))


@dataclass(frozen=True)
class ConstraintSet:
    """The bound rules of a table, in order; names are unique."""

    items: tuple[Constraint, ...] = ()

    @classmethod
    def from_texts(cls, texts: Iterable[Any], schema: TableSchema) -> ConstraintSet:
        """Bind every rule (see :func:`~mallm_gan.table.constraint_syntax.rule_texts` for the forms a rule
        may take); all problems are reported together in one ConfigError."""
        items, problems = [], []
        for text in S.rule_texts(list(texts)):
            try:
                constraint = bind(text, schema)
                if all(c.text != constraint.text for c in items):  # the same rule twice is one rule
                    items.append(constraint)
            except ConfigError as exc:
                problems.append(exc)
        names = Counter(c.name for c in items)
        problems += [ConfigError(f"two constraints are named {name!r}; give each its own name")
                     for name, n in names.items() if n > 1]
        if len(problems) == 1:
            raise problems[0]
        if problems:
            raise ConfigError(f"{len(problems)} constraints cannot be used:\n" + "\n".join(p.message for p in problems),
                              problems=[p.message for p in problems])
        return cls(tuple(items))

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Any:
        return iter(self.items)

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(c.text for c in self.items)

    def first_broken(self, row: Mapping[str, Any]) -> str | None:
        """The name of the first rule ``row`` breaks, or None."""
        for constraint in self.items:
            if constraint.node.eval(row) is False:
                return constraint.name
        return None

    def violations(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[int]]:
        """For each rule that some rows break, the positions of those rows."""
        out: dict[str, list[int]] = {}
        for constraint in self.items:
            broken = [i for i, row in enumerate(rows) if constraint.node.eval(row) is False]
            if broken:
                out[constraint.name] = broken
        return out

    def learn(self, rows: Sequence[Mapping[str, Any]], schema: TableSchema) -> ConstraintSet:
        """Replace every ``in training`` by the combinations of the given (normalised) rows that have no
        missing value, in first-seen order."""

        def fill(node: Any) -> Any:
            if isinstance(node, S.Member) and node.values is None:
                seen = (tuple(row.get(c) for c in node.columns) for row in rows)
                values = tuple(dict.fromkeys(t for t in seen if all(v is not None for v in t)))
                if not values:
                    raise SchemaError(f"no training row has values in all of {list(node.columns)}, so no "
                                      "combination can be learnt from them", column=node.columns[0])
                return S.Member(node.columns, values, node.negated)
            if isinstance(node, (S.And, S.Or)):
                return type(node)(tuple(fill(i) for i in node.items))
            if isinstance(node, S.Not):
                return S.Not(fill(node.operand))
            if isinstance(node, S.Implies):
                return S.Implies(fill(node.premise), fill(node.conclusion))
            return node

        items = []
        for c in self.items:
            body = fill(c.rule.body)
            # a learnt rule keeps its name (by default its text with "in training"), so counts by rule
            # read the same before and after the model is saved
            items.append(c if body == c.rule.body else bind(S.render(S.Rule(c.name, body)), schema))
        return ConstraintSet(tuple(items))

    # -- sampling -----------------------------------------------------------------------------------
    def check_feasible(self, schema: TableSchema, conditions: Conditions | None = None) -> None:
        """Raise a ConfigError naming a rule that no row within the columns' domains (narrowed by the
        ``conditions`` of a ``sample`` call) can satisfy. Rules are judged one at a time, so a conflict
        between two rules is left to the check on every row (and the top-up's failure, with counts)."""
        domains = column_domains(schema, conditions)
        for constraint in self.items:
            if not constraint.learnt:
                raise ConfigError(f"constraint {constraint.name!r} learns its combinations from the training rows; "
                                  "fit the model first", constraint=constraint.name)
            if constraint.node.possible(domains) == {False}:
                where = f" together with the conditions ({conditions.describe()})" if conditions else ""
                raise ConfigError(
                    f"no row can satisfy constraint {constraint.name!r}{where}: within the columns' ranges and "
                    "categories it is always false", constraint=constraint.name,
                )

    def combinations(self) -> list[tuple[tuple[str, ...], tuple[tuple[Any, ...], ...]]]:
        """Allowed combinations that bind a row on their own (rules that are an ``in`` of categorical or
        boolean columns, not negated): what a JSON schema can enforce while the model writes."""
        out = []
        for constraint in self.items:
            node = constraint.rule.body
            if isinstance(node, S.Member) and not node.negated and node.values is not None:
                out.append((node.columns, constraint.node.ordered))
        return out


def column_domains(schema: TableSchema, conditions: Conditions | None = None) -> L.Domains:
    """Each column's possible values (categories, or [min, max] with dates in days), narrowed by conditions."""
    domains: L.Domains = {}
    for column in schema.columns:
        domain = L.Domain(nullable=column.nullable)
        if column.kind == "categorical":
            domain.values = frozenset(column.categories or ())
        elif column.kind == "boolean":
            domain.values = frozenset({True, False})
        else:
            domain.low, domain.high = (_number(column.kind, b, d) for b, d in ((column.min, -math.inf),
                                                                               (column.max, math.inf)))
        domains[column.name] = domain
    for name, condition in conditions or ():
        domain = domains[name]
        domain.nullable = False  # a missing value meets no condition
        kind = schema[name].kind
        if condition.op in ("eq", "in"):
            if domain.values is not None:
                domain.values = domain.values & frozenset(condition.values)
            else:
                points = [_number(kind, v, math.nan) for v in condition.values]
                domain.low, domain.high = max(domain.low, min(points)), min(domain.high, max(points))
        elif condition.op == "ne" and domain.values is not None:
            domain.values = domain.values - {condition.values[0]}
        elif condition.op == "range":
            domain.low = max(domain.low, _number(kind, condition.low, -math.inf))
            domain.high = min(domain.high, _number(kind, condition.high, math.inf))
    return domains


def _number(kind: str, value: Any, default: float) -> float:
    if value is None:
        return default
    if kind == "datetime":
        return L.days(pd.Timestamp(value).isoformat())
    return float(value)


def schema_constraints(schema: TableSchema) -> ConstraintSet:
    """The bound rules of ``schema.constraints`` (cached: validators and row schemas are built many times a
    run)."""
    try:
        return _cached_constraints(schema)
    except TypeError:  # a schema holding an unhashable value (a hand-built bound): bind without the cache
        return ConstraintSet.from_texts(schema.constraints, schema)


@lru_cache(maxsize=64)
def _cached_constraints(schema: TableSchema) -> ConstraintSet:
    return ConstraintSet.from_texts(schema.constraints, schema)


def prepare_constraints(
    schema: TableSchema, rules: Sequence[Any] | None, train: pd.DataFrame, *, allow_violations: bool = False
) -> TableSchema:
    """Bind the schema's rules and ``rules``, learn ``in training`` combinations, check the training rows.

    Returns:
        ``schema`` with every rule in canonical text (``constraints``), learnt combinations written out.

    Raises:
        ConfigError: a rule cannot be read or bound (every such rule is named in one message).
        SchemaError: some training rows break a rule (counted per rule, first rows named), unless
            ``allow_violations``: then the counts are logged and the rules kept.
    """
    texts = [*schema.constraints, *S.rule_texts(rules)]
    if not texts:
        return schema
    rows = [dict(zip(schema.names, t, strict=True)) for t in normalise_frame(train, schema)]
    bound = ConstraintSet.from_texts(texts, schema).learn(rows, schema)
    broken = bound.violations(rows)
    if broken:
        rows_hit = len({i for positions in broken.values() for i in positions})
        detail = "; ".join(
            f"{name!r} {len(positions)} (data row{'s' if len(positions) > 1 else ''} "
            f"{', '.join(str(i + 1) for i in positions[:3])}{', ...' if len(positions) > 3 else ''})"
            for name, positions in broken.items()
        )
        message = f"{rows_hit} of {len(rows)} training rows break the constraints: {detail}"
        if not allow_violations:
            raise SchemaError(
                message + ". Fix the data or the rule, or allow it (--allow-violations, allow_violations=True): "
                "the rules are then enforced on generated rows only",
                counts={name: len(p) for name, p in broken.items()},
            )
        log.warning("%s; kept as allowed: generated rows must still obey every rule", message)
    return replace(schema, constraints=bound.texts)


__all__ = [
    "FINITE_KINDS",
    "Constraint",
    "ConstraintSet",
    "bind",
    "column_domains",
    "prepare_constraints",
    "schema_constraints",
]
