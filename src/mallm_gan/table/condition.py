"""One condition on one column's value: equals, differs from, one of, or a range with open or closed ends.

A :class:`Condition` is unbound: it holds values as given. :class:`~.conditions.Conditions` binds
conditions to a schema (normalising their values and refusing what no row could meet); reading them from
CLI text or Python values is :mod:`.condition_parse`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import ConfigError

Op = Literal["eq", "ne", "in", "range"]
OPS: tuple[str, ...] = ("eq", "ne", "in", "range")
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class Condition:
    """One condition on one column's normalised value. Build it with the class methods.

    A missing value meets no condition.
    """

    op: Op
    values: tuple[Any, ...] = ()
    low: Any = None
    high: Any = None
    low_inclusive: bool = True
    high_inclusive: bool = True

    @classmethod
    def equals(cls, value: Any) -> Condition:
        return cls("eq", (value,))

    @classmethod
    def not_equal(cls, value: Any) -> Condition:
        return cls("ne", (value,))

    @classmethod
    def one_of(cls, values: Sequence[Any] | set[Any] | frozenset[Any]) -> Condition:
        if isinstance(values, (set, frozenset)):  # a stable order for prompts and logs
            values = sorted(values, key=lambda v: (type(v).__name__, str(v)))
        return cls("in", tuple(values))

    @classmethod
    def between(
        cls, low: Any = None, high: Any = None, *, low_inclusive: bool = True, high_inclusive: bool = True
    ) -> Condition:
        return cls("range", (), low, high, low_inclusive, high_inclusive)

    def matches_value(self, value: Any) -> bool:
        if value is None:
            return False
        if self.op == "eq":
            return value == self.values[0]
        if self.op == "ne":
            return value != self.values[0]
        if self.op == "in":
            return value in self.values
        try:
            if self.low is not None and (value < self.low if self.low_inclusive else value <= self.low):
                return False
            return not (self.high is not None and (value > self.high if self.high_inclusive else value >= self.high))
        except TypeError:  # a value of another type (text in a number column) meets no range
            return False

    def describe(self, column: str) -> str:
        """Plain text such as ``age >= 65`` or ``region is one of ["north", "south"]``."""
        name = column if _PLAIN_NAME.fullmatch(column) else json.dumps(column, ensure_ascii=False)
        if self.op == "eq":
            return f"{name} = {show_value(self.values[0])}"
        if self.op == "ne":
            return f"{name} != {show_value(self.values[0])}"
        if self.op == "in":
            return f"{name} is one of [{', '.join(show_value(v) for v in self.values)}]"
        if self.low is not None and self.high is not None:
            if self.low_inclusive and self.high_inclusive:
                return f"{name} between {show_value(self.low)} and {show_value(self.high)} (inclusive)"
            low_op, high_op = ("<=" if self.low_inclusive else "<"), ("<=" if self.high_inclusive else "<")
            return f"{show_value(self.low)} {low_op} {name} {high_op} {show_value(self.high)}"
        if self.low is not None:
            return f"{name} {'>=' if self.low_inclusive else '>'} {show_value(self.low)}"
        if self.high is not None:
            return f"{name} {'<=' if self.high_inclusive else '<'} {show_value(self.high)}"
        return f"{name} has any value"

    def to_dict(self) -> dict[str, Any]:
        if self.op in ("eq", "ne"):
            return {"op": self.op, "value": self.values[0]}
        if self.op == "in":
            return {"op": "in", "values": list(self.values)}
        return {
            "op": "range",
            "low": self.low,
            "high": self.high,
            "low_inclusive": self.low_inclusive,
            "high_inclusive": self.high_inclusive,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Condition:
        op = data.get("op", "range" if ("low" in data or "high" in data) else None)
        if op in ("eq", "ne") and "value" in data:
            return cls(op, (data["value"],))
        if op == "in" and isinstance(data.get("values"), (list, tuple, set, frozenset)):
            return cls.one_of(data["values"])
        if op == "range":
            return cls.between(
                data.get("low"),
                data.get("high"),
                low_inclusive=bool(data.get("low_inclusive", True)),
                high_inclusive=bool(data.get("high_inclusive", True)),
            )
        raise ConfigError(
            f"cannot read condition {dict(data)!r}: expected op 'eq'/'ne' with 'value', 'in' with 'values', "
            "or 'range' with 'low'/'high'"
        )


def show_value(value: Any) -> str:
    """A value as the prompt and messages show it: JSON text, ``true``/``false``, numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


__all__ = ["OPS", "Condition", "Op", "show_value"]
