"""Binding a parsed rule to a schema: names resolved, types checked, arithmetic reduced to linear forms.

The result is a tree of :mod:`~mallm_gan.table.constraint_logic` nodes that evaluates normalised rows.
Every problem is a :class:`~mallm_gan.errors.ConfigError` that quotes the rule: an unknown column (with the
closest name), a type mismatch (``admission_date >= 5``), a product of two columns, a category that the
column does not have.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from . import constraint_logic as L
from . import constraint_syntax as S
from .coerce import normalise_value
from .column import Column, fold
from .schema import TableSchema

FINITE_KINDS = ("categorical", "boolean")


@dataclass(frozen=True)
class _Form:
    """``const + sum(coef * column)`` while binding; ``date_const``: the constant is a date (in days)."""

    terms: tuple[tuple[str, float], ...]
    const: float
    dates: frozenset[str]
    date_const: bool = False

    @property
    def degree(self) -> float:
        """How many dates the value amounts to: 1 for a date, 0 for a number (a difference of dates)."""
        return sum(c for n, c in self.terms if n in self.dates) + (1.0 if self.date_const else 0.0)

    def times(self, k: float) -> _Form:
        return _Form(tuple((n, c * k) for n, c in self.terms), self.const * k, self.dates, False)

    def plus(self, other: _Form) -> _Form:
        terms = dict(self.terms)
        for name, coef in other.terms:
            terms[name] = terms.get(name, 0.0) + coef
        return _Form(tuple(terms.items()), self.const + other.const, self.dates | other.dates, False)


def numeric_categories(column: Column) -> bool:
    """A categorical column whose categories are all numbers (``0``/``1`` codes, ``0``/``10``): such a
    column compares and adds as the numbers it holds."""
    cats = column.categories or ()
    return column.kind == "categorical" and bool(cats) and all(
        isinstance(c, (int, float)) and not isinstance(c, bool) for c in cats
    )


class Binder:
    """Binds the parts of one rule (``text``, quoted in errors) to ``schema``."""

    def __init__(self, schema: TableSchema, text: str) -> None:
        self.schema = schema
        self.text = text

    def error(self, problem: str, **fields: Any) -> ConfigError:
        return ConfigError(f"constraint {self.text!r}: {problem}", constraint=self.text, **fields)

    def column(self, name: str) -> Column:
        if name in self.schema:
            return self.schema[name]
        folded = [c for c in self.schema.columns if fold(c.name) == fold(name)]
        if len(folded) == 1:
            return folded[0]
        close = difflib.get_close_matches(name, self.schema.names, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise self.error(f"unknown column {name!r}; {hint}columns are {self.schema.names}", column=name)

    def node(self, node: Any) -> Any:
        if isinstance(node, S.Compare):
            return self.compare(node)
        if isinstance(node, S.Member):
            return self.member(node)
        if isinstance(node, S.IsNull):
            return L.Missing(self.column(node.column).name, node.negated)
        if isinstance(node, S.Not):
            return L.Logic("not", (self.node(node.operand),))
        if isinstance(node, (S.And, S.Or)):
            return L.Logic("and" if isinstance(node, S.And) else "or", tuple(self.node(i) for i in node.items))
        if isinstance(node, S.Implies):
            return L.Logic("implies", (self.node(node.premise), self.node(node.conclusion)))
        raise self.error(f"{S.render_expr(node)} is a value, not a condition; compare it with something")

    # -- comparisons --------------------------------------------------------------------------------
    def compare(self, node: S.Compare) -> Any:
        left, right = self.finite(node.left), self.finite(node.right)
        if left is not None or right is not None:
            return self.compare_values(node, left, right)
        literals = [n for n in (node.left, node.right) if isinstance(n, (S.Str, S.Bool))]
        if len(literals) == 2:
            raise self.error("it compares two constants; name a column")
        if not literals:
            left_form, right_form = self.linear(node.left), self.linear(node.right)
            if not math.isclose(left_form.degree, right_form.degree):
                date, number = (node.left, node.right) if left_form.degree > right_form.degree else (
                    node.right, node.left)
                raise self.error(
                    f"type mismatch: {S.render_expr(date)} is a date, {S.render_expr(number)} is a number; compare "
                    'a date with a date (another date column, or a date in quotes such as "2020-01-31"); the '
                    "difference of two dates is a number of days"
                )
            return self.comparison(node.op, left_form, right_form)
        literal = literals[0]
        other = node.right if literal is node.left else node.left
        form = self.linear(other)
        if isinstance(literal, S.Bool) or not math.isclose(form.degree, 1.0):
            what = "a date" if math.isclose(form.degree, 1.0) else "a number"
            raise self.error(f"type mismatch: {S.render_expr(other)} is {what}, "
                             f"{S.render_value(literal.value)} is not")
        stamp = _Form((), self.date(literal.value), frozenset(), date_const=True)
        sides = (stamp, form) if literal is node.left else (form, stamp)
        return self.comparison(node.op, *sides)

    def finite(self, node: Any) -> Column | None:
        """The column if ``node`` is a categorical (other than numbers) or boolean column."""
        if isinstance(node, S.Col):
            column = self.column(node.name)
            return column if column.kind in FINITE_KINDS and not numeric_categories(column) else None
        return None

    def compare_values(self, node: S.Compare, left: Column | None, right: Column | None) -> Any:
        column = left or right
        assert column is not None
        if node.op not in ("==", "!="):
            raise self.error(f"{node.op} orders values, but {column.name!r} is {column.kind} and has no order; "
                             "use ==, != or 'in'", column=column.name)
        if left is not None and right is not None:
            return L.SameValue(left.name, right.name, node.op == "!=")
        other = node.right if left is not None else node.left
        if not isinstance(other, (S.Num, S.Str, S.Bool)):
            raise self.error(f"type mismatch: {column.name!r} is {column.kind}, {S.render_expr(other)} is not "
                             "one of its values", column=column.name)
        value = self.value(column, other.value)
        return L.Membership((column.name,), frozenset({(value,)}), node.op == "!=")

    def comparison(self, op: str, left: _Form, right: _Form) -> L.Comparison:
        if not left.terms and not right.terms:
            raise self.error("it compares two constants; name a column")
        diff = left.plus(right.times(-1.0))
        tolerance = 0.0
        for name, coef in diff.terms:
            column = self.schema[name]
            if column.kind == "numerical" and not column.is_integer:
                tolerance += abs(coef) * 0.5 * 10.0**-column.decimals
        # terms that cancel (x - x, 0 * x) stay, with coefficient 0: a missing value still makes the rule unknown
        return L.Comparison(op, L.Linear(diff.terms, diff.const, diff.dates, tolerance))

    # -- arithmetic ---------------------------------------------------------------------------------
    def linear(self, node: Any) -> _Form:
        form = self._linear(node)
        if not (math.isclose(form.degree, 0.0, abs_tol=1e-12) or math.isclose(form.degree, 1.0)):
            raise self.error(f"{S.render_expr(node)} mixes dates in a way that is neither a date nor a number of "
                             "days; subtract one date from another, or add days to a date")
        return form

    def _linear(self, node: Any) -> _Form:
        if isinstance(node, S.Num):
            return _Form((), float(node.value), frozenset())
        if isinstance(node, S.Col):
            column = self.column(node.name)
            if column.kind in FINITE_KINDS and not numeric_categories(column):
                raise self.error(f"type mismatch: {column.name!r} is {column.kind}; arithmetic and ordering need "
                                 "numbers or dates", column=column.name)
            dates = frozenset({column.name}) if column.kind == "datetime" else frozenset()
            return _Form(((column.name, 1.0),), 0.0, dates)
        if isinstance(node, S.Neg):
            return self._linear(node.operand).times(-1.0)
        if isinstance(node, (S.Str, S.Bool)):
            raise self.error(f"type mismatch: {S.render_value(node.value)} cannot be used in arithmetic")
        if not isinstance(node, S.Arith):
            raise self.error(f"{S.render(node)} is a condition, not a value")
        left, right = self._linear(node.left), self._linear(node.right)
        if node.op in "+-":
            return left.plus(right.times(1.0 if node.op == "+" else -1.0))
        if node.op == "*":
            if left.terms and right.terms:
                raise self.error("only linear rules are supported: a column may be multiplied by a constant, "
                                 "not by another column")
            return right.times(left.const) if not left.terms else left.times(right.const)
        if right.terms:
            raise self.error("only linear rules are supported: a value may be divided by a constant only")
        if right.const == 0:
            raise self.error("division by zero")
        return left.times(1.0 / right.const)

    # -- values -------------------------------------------------------------------------------------
    def value(self, column: Column, raw: Any) -> Any:
        """``raw`` normalised for ``column`` (a canonical category, a number, ISO date text)."""
        ok, normal = normalise_value(raw, column, check_range=False)
        if not ok or normal is None or (column.kind == "datetime" and not isinstance(raw, str)):
            if column.kind == "categorical":
                allowed = ", ".join(S.render_value(c) for c in column.categories or ())
                why = f"is not a category of {column.name!r}; allowed values: {allowed}"
            else:
                why = f"is not a {column.kind} value of {column.name!r}"
            raise self.error(f"type mismatch: {S.render_value(raw)} {why}", column=column.name)
        return normal

    def date(self, raw: str) -> float:
        ok, normal = normalise_value(raw, Column("date", "datetime"), check_range=False)
        if not ok or normal is None:
            raise self.error(f'type mismatch: {S.render_value(raw)} is not a date (write e.g. "2020-01-31")')
        return L.days(normal)

    def member(self, node: S.Member) -> L.Membership:
        columns = [self.column(name) for name in node.columns]
        names = tuple(c.name for c in columns)
        if len(set(names)) < len(names):
            raise self.error("a column appears twice in the combination")
        if node.values is None:
            return L.Membership(names, None, node.negated)
        ordered = tuple(dict.fromkeys(tuple(self.value(c, v) for c, v in zip(columns, combo, strict=True))
                                      for combo in node.values))
        return L.Membership(names, frozenset(ordered), node.negated, ordered)


def columns_of(node: Any) -> Iterable[str]:
    """Column names a bound node reads, in order of appearance (with repeats)."""
    if isinstance(node, L.Comparison):
        yield from (n for n, _ in node.diff.terms)
    elif isinstance(node, L.Membership):
        yield from node.columns
    elif isinstance(node, L.SameValue):
        yield from (node.left, node.right)
    elif isinstance(node, L.Missing):
        yield node.column
    elif isinstance(node, L.Logic):
        for item in node.items:
            yield from columns_of(item)


def canonical_names(node: Any, schema: TableSchema) -> Any:
    """The syntax tree with column names spelled as in the schema (a rule may write them in another case)."""
    by_fold = {fold(n): n for n in schema.names}

    def name(text: str) -> str:
        return text if text in schema else by_fold.get(fold(text), text)

    def walk(n: Any) -> Any:
        if isinstance(n, S.Col):
            return S.Col(name(n.name))
        if isinstance(n, S.Member):
            return S.Member(tuple(name(c) for c in n.columns), n.values, n.negated)
        if isinstance(n, S.IsNull):
            return S.IsNull(name(n.column), n.negated)
        if isinstance(n, (S.And, S.Or)):
            return type(n)(tuple(walk(i) for i in n.items))
        if isinstance(n, (S.Compare, S.Arith)):
            return type(n)(n.op, walk(n.left), walk(n.right))
        if isinstance(n, (S.Not, S.Neg)):
            return type(n)(walk(n.operand))
        if isinstance(n, S.Implies):
            return S.Implies(walk(n.premise), walk(n.conclusion))
        return n

    return walk(node)


__all__ = ["FINITE_KINDS", "Binder", "canonical_names", "columns_of", "numeric_categories"]
