"""Rules bound to a schema: typed, linear, evaluated on normalised rows in three-valued logic.

A rule holds unless it is definitely false: a missing value makes a comparison *unknown*, and an unknown
rule passes (as a SQL CHECK constraint does). ``and``, ``or``, ``not`` and ``if ... then`` follow Kleene's
logic. Arithmetic is linear (a column times a constant, sums of such terms); a date counts in days, so
``discharge_date - admission_date <= 30`` reads as "within 30 days". ``==`` and ``!=`` between numbers
hold within the precision of the columns they involve: each float column written at ``d`` decimals may be
off by half its step, so ``a + b == total`` (all at 1 decimal) holds when ``|a + b - total| < 0.15``;
integer and date sides compare exactly. The ordering operators compare the values as written.

Each bound node also answers :meth:`possible`: which outcomes (True, False, None for unknown) some row
within given column domains could produce, so a rule that no row can satisfy under the conditions of a
``sample`` call is refused before any call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

_EPOCH = datetime(1970, 1, 1)


@lru_cache(maxsize=65536)
def days(iso: str) -> float:
    """An ISO date or timestamp (as the validator writes it) in days since 1970-01-01."""
    return (datetime.fromisoformat(iso) - _EPOCH).total_seconds() / 86400.0


@dataclass
class Domain:
    """The values one column may take: a finite set (``values``) or an interval, and whether it may be
    missing."""

    values: frozenset[Any] | None = None
    low: float = -math.inf
    high: float = math.inf
    nullable: bool = False


Domains = dict[str, Domain]


def kleene_not(a: bool | None) -> bool | None:
    return None if a is None else not a


def kleene_and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def kleene_or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def _combine(op: Any, sets: list[frozenset[Any]]) -> frozenset[Any]:
    out = sets[0]
    for other in sets[1:]:
        out = frozenset(op(a, b) for a in out for b in other)
    return out


# -- numeric terms ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Linear:
    """``const + sum(coef * column)``; ``dates`` lists the columns read as days."""

    terms: tuple[tuple[str, float], ...]
    const: float
    dates: frozenset[str]
    tolerance: float

    def value(self, row: dict[str, Any]) -> float | None:
        total = self.const
        for name, coef in self.terms:
            x = row.get(name)
            if x is None:
                return None
            total += coef * (days(x) if name in self.dates else x)
        return total

    def span(self, domains: Domains) -> tuple[float, float, bool]:
        low = high = self.const
        nullable = False
        for name, coef in self.terms:
            domain = domains[name]
            nullable |= domain.nullable
            if coef == 0:
                continue
            a, b = _interval(domain)
            ends = (coef * a, coef * b) if coef >= 0 else (coef * b, coef * a)
            low, high = low + ends[0], high + ends[1]
        return low, high, nullable

    def scale(self, row: dict[str, Any]) -> float:
        """Magnitude for the float-noise margin."""
        total = abs(self.const)
        for name, coef in self.terms:
            x = row.get(name)
            total += abs(coef) * abs(days(x) if name in self.dates else x)
        return max(1.0, total)


def _interval(domain: Domain) -> tuple[float, float]:
    if domain.values is not None:
        numbers = [v for v in domain.values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numbers:
            return min(numbers), max(numbers)
    return domain.low, domain.high


# -- bound nodes ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    op: str
    diff: Linear  # left - right, compared with 0

    def eval(self, row: dict[str, Any]) -> bool | None:
        d = self.diff.value(row)
        if d is None:
            return None
        eps = 1e-9 * self.diff.scale(row)
        if self.op in ("==", "!="):
            tol = self.diff.tolerance
            equal = abs(d) < tol - eps if tol > 0 else abs(d) <= eps
            return equal if self.op == "==" else not equal
        return {"<": d < -eps, "<=": d <= eps, ">": d > eps, ">=": d >= -eps}[self.op]

    def possible(self, domains: Domains) -> frozenset[Any]:
        low, high, nullable = self.diff.span(domains)
        margin = self.diff.tolerance + 1e-6 * (1 + min(abs(low), abs(high)))
        if self.op in ("==", "!="):
            can_equal = low <= margin and high >= -margin
            can_differ = low < high or abs(low) >= self.diff.tolerance
            true, false = (can_equal, can_differ) if self.op == "==" else (can_differ, can_equal)
        elif self.op in ("<", "<="):
            true, false = low <= margin, high >= -margin
        else:
            true, false = high >= -margin, low <= margin
        return frozenset(v for v, ok in ((True, true), (False, false), (None, nullable)) if ok)


@dataclass(frozen=True)
class Membership:
    columns: tuple[str, ...]
    values: frozenset[tuple[Any, ...]] | None  # None: not learnt yet
    negated: bool = False
    ordered: tuple[tuple[Any, ...], ...] = field(default=(), compare=False)  # the values in the rule's order

    def eval(self, row: dict[str, Any]) -> bool | None:
        key = tuple(row.get(c) for c in self.columns)
        if any(v is None for v in key):
            return None
        if self.values is None:
            raise RuntimeError("combinations to learn from the training rows were never learnt")
        return (key in self.values) != self.negated

    def possible(self, domains: Domains) -> frozenset[Any]:
        ds = [domains[c] for c in self.columns]
        nullable = any(d.nullable for d in ds)
        values = self.values or frozenset()
        inside = [t for t in values if all(_may_take(d, v) for d, v in zip(ds, t, strict=True))]
        sizes = [len(d.values) if d.values is not None else math.inf for d in ds]
        can_in = bool(inside)
        can_out = math.prod(sizes) > len(inside)
        true, false = (can_out, can_in) if self.negated else (can_in, can_out)
        return frozenset(v for v, ok in ((True, true), (False, false), (None, nullable)) if ok)


def _may_take(domain: Domain, value: Any) -> bool:
    if domain.values is not None:
        return value in domain.values
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return domain.low - 1e-9 <= value <= domain.high + 1e-9
    return True


@dataclass(frozen=True)
class SameValue:
    """Two categorical (or boolean) columns hold the same value (``negated``: different values)."""

    left: str
    right: str
    negated: bool = False

    def eval(self, row: dict[str, Any]) -> bool | None:
        a, b = row.get(self.left), row.get(self.right)
        if a is None or b is None:
            return None
        return (a == b) != self.negated

    def possible(self, domains: Domains) -> frozenset[Any]:
        a, b = domains[self.left], domains[self.right]
        nullable = a.nullable or b.nullable
        if a.values is None or b.values is None:
            return frozenset({True, False, None} if nullable else {True, False})
        common = a.values & b.values
        can_same = bool(common)
        can_differ = not (len(a.values) == 1 and a.values == b.values)
        true, false = (can_differ, can_same) if self.negated else (can_same, can_differ)
        return frozenset(v for v, ok in ((True, true), (False, false), (None, nullable)) if ok)


@dataclass(frozen=True)
class Missing:
    column: str
    negated: bool = False

    def eval(self, row: dict[str, Any]) -> bool | None:
        return (row.get(self.column) is None) != self.negated

    def possible(self, domains: Domains) -> frozenset[Any]:
        missing = domains[self.column].nullable
        return frozenset({not self.negated, self.negated} if missing else {self.negated})


@dataclass(frozen=True)
class Logic:
    """``not`` (one item), ``and``, ``or``, or ``implies`` (premise, conclusion)."""

    op: str
    items: tuple[Any, ...]

    def eval(self, row: dict[str, Any]) -> bool | None:
        if self.op == "not":
            return kleene_not(self.items[0].eval(row))
        if self.op == "implies":
            premise = self.items[0].eval(row)
            return True if premise is False else kleene_or(kleene_not(premise), self.items[1].eval(row))
        values = [item.eval(row) for item in self.items]
        out = values[0]
        for value in values[1:]:
            out = kleene_and(out, value) if self.op == "and" else kleene_or(out, value)
        return out

    def possible(self, domains: Domains) -> frozenset[Any]:
        sets = [item.possible(domains) for item in self.items]
        if self.op == "not":
            return frozenset(kleene_not(v) for v in sets[0])
        if self.op == "implies":
            return _combine(kleene_or, [frozenset(kleene_not(v) for v in sets[0]), sets[1]])
        return _combine(kleene_and if self.op == "and" else kleene_or, sets)


__all__ = [
    "Comparison", "Domain", "Domains", "Linear", "Logic", "Membership", "Missing", "SameValue", "days",
    "kleene_and", "kleene_not", "kleene_or",
]
