"""Structured conditions for conditional sampling: put in the prompt *and* checked on every returned row.

A condition is "equals a value", "differs from a value", "one of a set" or a numeric/date range with optional,
inclusive or exclusive ends. :class:`Conditions` binds them to a schema: values are normalised the way rows
are (so ``"Female"`` finds the category ``"female"`` and ``"1"`` finds ``1``), and anything that no row
could ever meet is a :class:`~mallm_gan.errors.ConfigError` naming the column and what it allows. One
condition is a :class:`~.condition.Condition`; reading them from CLI text and Python values is
:mod:`.condition_parse`; this module binds them to a schema and checks rows against them.

Examples:
    >>> Conditions.from_mapping({"sex": "female", "age": (65, None)}, schema)
    >>> Conditions.from_where(["visit to Asia=0", "age>=65", "region in north|south"], schema)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .coerce import normalise_value, parse_number
from .column import Column, fold
from .condition import OPS, Condition, show_value
from .condition_parse import parse_where, to_condition
from .schema import TableSchema


@dataclass(frozen=True)
class Conditions:
    """Conditions bound to a schema; a row must meet all of them.

    Attributes:
        items: (column, condition) pairs with normalised values; a column may appear more than once.
    """

    items: tuple[tuple[str, Condition], ...] = ()

    # -- construction -----------------------------------------------------------------------------------
    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], schema: TableSchema) -> Conditions:
        """Build from ``{"sex": "female", "age": (65, None), "region": {"north", "south"}}``.

        A scalar means equals, a set or list means one of, a 2-tuple ``(low, high)`` is an inclusive range
        (None for an open end), a :class:`Condition` or its ``to_dict()`` form is taken as it is.

        Raises:
            ConfigError: unknown column, value the column cannot take, range on a column that is neither
                numerical nor a date, low above high, or a range outside the column's [min, max].
        """
        if not isinstance(mapping, Mapping):
            raise ConfigError(f"conditions must be a mapping of column to value, got {type(mapping).__name__}")
        return cls.from_items([(column, to_condition(column, spec)) for column, spec in mapping.items()], schema)

    @classmethod
    def from_where(cls, where: Sequence[str], schema: TableSchema) -> Conditions:
        """Build from CLI strings such as ``["age>=65", "visit to Asia=0"]`` (see :func:`parse_where`)."""
        if isinstance(where, str):
            where = [where]
        return cls.from_items([parse_where(text, schema.names) for text in where], schema)

    @classmethod
    def from_items(cls, items: Sequence[tuple[str, Condition]], schema: TableSchema) -> Conditions:
        bound = tuple(_bind(_resolve(column, schema), condition) for column, condition in items)
        conditions = cls(bound)
        conditions._check_satisfiable(schema)
        return conditions

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], schema: TableSchema | None = None) -> Conditions:
        """Inverse of :meth:`to_dict`; with a schema the conditions are validated again."""
        items = [(str(entry["column"]), Condition.from_dict(entry)) for entry in data.get("conditions", [])]
        return cls.from_items(items, schema) if schema is not None else cls(tuple(items))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"conditions": [{"column": ..., "op": ..., ...}, ...]}``."""
        return {"conditions": [{"column": column, **condition.to_dict()} for column, condition in self.items]}

    # -- use --------------------------------------------------------------------------------------------
    def matches(self, row: Mapping[str, Any]) -> bool:
        """True if the normalised ``row`` meets every condition."""
        return all(condition.matches_value(row.get(column)) for column, condition in self.items)

    def first_failure(self, row: Mapping[str, Any]) -> str | None:
        """The column of the first condition ``row`` does not meet, or None."""
        for column, condition in self.items:
            if not condition.matches_value(row.get(column)):
                return column
        return None

    def describe(self) -> str:
        """A sentence for the generator prompt, e.g. ``Every row must have sex = "female" and age >= 65.``"""
        if not self.items:
            return ""
        parts = [condition.describe(column) for column, condition in self.items]
        text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        return f"Every row must have {text}."

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(column for column, _ in self.items))

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __iter__(self) -> Iterator[tuple[str, Condition]]:
        return iter(self.items)

    def _check_satisfiable(self, schema: TableSchema) -> None:
        """Several conditions on one column must leave some value (``age>70`` and ``age<60`` do not)."""
        for name in self.columns:
            conds = [c for col, c in self.items if col == name]
            if len(conds) < 2:
                continue
            sets = [set(c.values) for c in conds if c.op in ("eq", "in")]
            if sets:
                candidates = set.intersection(*sets)
                if not any(all(c.matches_value(v) for c in conds) for v in candidates):
                    raise ConfigError(f"the conditions on column {name!r} exclude every value", column=name)
                continue
            ranges = [c for c in conds if c.op == "range"]
            lows = [(c.low, not c.low_inclusive) for c in ranges if c.low is not None]
            highs = [(c.high, c.high_inclusive) for c in ranges if c.high is not None]
            if lows and highs:
                low, low_open = max(lows)
                high, high_closed = min(highs)
                if low > high or (low == high and (low_open or not high_closed)):
                    raise ConfigError(
                        f"the conditions on column {name!r} exclude every value ({low!r} to {high!r})",
                        column=name,
                    )


def _resolve(name: str, schema: TableSchema) -> Column:
    if name in schema:
        return schema[name]
    matches = [c for c in schema.columns if fold(c.name) == fold(str(name))]
    if len(matches) == 1:
        return matches[0]
    raise ConfigError(f"condition on unknown column {name!r}; columns are {schema.names}", column=str(name))


def _allowed(column: Column) -> str:
    if column.kind == "categorical":
        return "allowed values: " + ", ".join(show_value(c) for c in column.categories or ())
    if column.kind == "boolean":
        return "allowed values: true, false"
    return f"allowed range: [{column.min}, {column.max}]"


def _bind(column: Column, condition: Condition) -> tuple[str, Condition]:
    """Normalise a condition's values for ``column``; raise if no row could meet it."""
    name = column.name
    if condition.op not in OPS:
        raise ConfigError(f"condition on {name!r}: unknown op {condition.op!r}; use one of {list(OPS)}")
    if condition.op != "range":
        values = []
        for value in condition.values:
            ok, normal = normalise_value(value, column)
            if not ok or normal is None:
                why = "is missing" if ok else f"is not a valid value ({normal})"
                raise ConfigError(
                    f"condition on {name!r}: {value!r} {why}; {_allowed(column)}", column=name, value=value
                )
            values.append(normal)
        return name, Condition(condition.op, tuple(dict.fromkeys(values)))
    if column.kind not in ("numerical", "datetime"):
        raise ConfigError(
            f"condition on {name!r}: a range needs a numerical or date column, {name!r} is {column.kind}; "
            f"give the allowed values as a set or list instead; {_allowed(column)}",
            column=name,
        )
    low, high = (_bound(name, column, v) for v in (condition.low, condition.high))
    if low is None and high is None:
        raise ConfigError(f"condition on {name!r}: a range needs a low or a high end", column=name)
    if low is not None and high is not None and low > high:
        raise ConfigError(f"condition on {name!r}: low {low!r} is above high {high!r}", column=name)
    bound = Condition.between(low, high, low_inclusive=condition.low_inclusive, high_inclusive=condition.high_inclusive)
    col_low, col_high = (_bound(name, column, v) for v in (column.min, column.max))
    empty = (low is not None and high is not None and low == high) and not (
        condition.low_inclusive and condition.high_inclusive
    )
    outside = (col_high is not None and low is not None and not bound.matches_value(col_high) and low >= col_high) or (
        col_low is not None and high is not None and not bound.matches_value(col_low) and high <= col_low
    )
    if empty or outside:
        raise ConfigError(
            f"condition on {name!r}: {bound.describe(name)} leaves no value in the column; {_allowed(column)}",
            column=name,
        )
    return name, bound


def _bound(name: str, column: Column, value: Any) -> Any:
    """A range end as a comparable value: a number (not rounded: '> 64.5' must stay exact) or ISO date."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if column.kind == "numerical":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        number = parse_number(value) if isinstance(value, str) else None
        if number is None:
            raise ConfigError(f"condition on {name!r}: range end {value!r} is not a number", column=name)
        return int(number) if number.is_integer() and column.is_integer else number
    ok, normal = normalise_value(value, column, check_range=False)
    if not ok or normal is None:
        raise ConfigError(f"condition on {name!r}: range end {value!r} is not a date", column=name)
    return normal
