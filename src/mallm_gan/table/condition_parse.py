"""Reading conditions: from CLI text (``age>=65``, ``region in north|south``) and from Python values.

Both give unbound :class:`~.condition.Condition` objects holding the values as written; binding them to a
schema, and refusing what no row could meet, is :class:`~.conditions.Conditions`' job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigError
from .column import fold
from .condition import Condition

# longest first, so ">=" wins over ">" at the same position
_WHERE_OPS = (("==", "eq"), ("!=", "ne"), (">=", "ge"), ("<=", "le"), ("=", "eq"), (">", "gt"), ("<", "lt"))
_IN = re.compile(r"\s+in\s+", re.I)


def parse_where(text: str, columns: Sequence[str] | None = None) -> tuple[str, Condition]:
    """Read a CLI condition: ``col=value``, ``col==value``, ``col!=value``, ``col>65``, ``col>=65``,
    ``col<3``, ``col<=3`` or ``col in a|b|c`` (also ``a,b,c``). Column names may contain spaces.

    Args:
        text: The condition.
        columns: Known column names. When given, the split whose left side names a column wins, so a
            value that contains an operator (``Income=>50K``) or a name that contains one is read right.

    Returns:
        The column name as written and an unbound :class:`Condition` holding the values as text.

    Raises:
        ConfigError: the text has no operator, no column name or no value.
    """
    candidates = _splits(text)
    if not candidates:
        raise ConfigError(
            f"cannot read condition {text!r}: expected COLUMN OP VALUE with OP one of "
            "=, ==, !=, >, >=, <, <=, in (e.g. 'age>=65', 'sex=female', 'region in north|south')"
        )
    chosen = candidates[0]
    if columns:
        known = {fold(c) for c in columns}
        chosen = next((c for c in candidates if fold(c[0]) in known), chosen)
    column, op, raw = chosen
    if not column:
        raise ConfigError(f"condition {text!r} names no column before its operator")
    if not raw:
        raise ConfigError(f"condition {text!r} gives no value after its operator")
    if op == "in":
        parts = [_unquote(p) for p in raw.split("|" if "|" in raw else ",")]
        return column, Condition.one_of([p for p in parts if p])
    value = _unquote(raw)
    if op in ("eq", "ne"):
        return column, Condition(op, (value,))
    if op in ("gt", "ge"):
        return column, Condition.between(value, None, low_inclusive=op == "ge")
    return column, Condition.between(None, value, high_inclusive=op == "le")


def _splits(text: str) -> list[tuple[str, str, str]]:
    """Every way to read ``text`` as (column, op, value), by position of the operator."""
    found = []
    i = 0
    while i < len(text):
        for symbol, op in _WHERE_OPS:
            if text.startswith(symbol, i):
                found.append((i, text[:i].strip(), op, text[i + len(symbol) :].strip()))
                break
        i += 1
    found += [(m.start(), text[: m.start()].strip(), "in", text[m.end() :].strip()) for m in _IN.finditer(text)]
    return [(column, op, value) for _, column, op, value in sorted(found, key=lambda f: f[0])]


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def to_condition(column: str, spec: Any) -> Condition:
    """A condition from a Python value: a scalar equals, a list or set is one of, a 2-tuple a range."""
    if isinstance(spec, Condition):
        return spec
    if isinstance(spec, Mapping):
        return Condition.from_dict(spec)
    if isinstance(spec, tuple):
        if len(spec) != 2:
            raise ConfigError(
                f"condition on {column!r}: a tuple means a range (low, high), got {len(spec)} values; "
                "use a list or set for 'one of'",
                column=column,
            )
        return Condition.between(spec[0], spec[1])
    if isinstance(spec, (list, set, frozenset)):
        if not spec:
            raise ConfigError(f"condition on {column!r}: the set of allowed values is empty", column=column)
        return Condition.one_of(spec)
    return Condition.equals(spec)


__all__ = ["parse_where", "to_condition"]
