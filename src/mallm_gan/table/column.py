"""One column of a table: its kind, categories, bounds, precision and missing rate, and its line of schema text.

:class:`~mallm_gan.table.schema.TableSchema` holds these in order; :mod:`.inference` infers one from a
column's values.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ..errors import SchemaError

Kind = Literal["numerical", "categorical", "boolean", "datetime"]
KINDS: tuple[str, ...] = ("numerical", "categorical", "boolean", "datetime")


def fold(text: str) -> str:
    """Case- and whitespace-insensitive form of a name or category."""
    return " ".join(text.split()).casefold()


@dataclass(frozen=True)
class Column:
    """One column of the table.

    Attributes:
        name: Column name as in the data.
        kind: numerical, categorical, boolean or datetime.
        dtype: For numerical columns, ``int`` or ``float``.
        categories: For categorical columns, the allowed values (str, or int/float when the data had
            numbers), in first-seen order.
        min, max: Bounds of numerical columns (numbers) and datetime columns (ISO strings).
        decimals: Digits after the point that numbers are rounded to (0 for ints).
        missing_rate: Share of missing values in the training data; 0 means the column is required.
        description: Free text for the prompt (from metadata).
    """

    name: str
    kind: Kind
    dtype: str | None = None
    categories: tuple[Any, ...] | None = None
    min: Any = None
    max: Any = None
    decimals: int = 0
    missing_rate: float = 0.0
    description: str = ""

    @property
    def nullable(self) -> bool:
        return self.missing_rate > 0

    @property
    def is_integer(self) -> bool:
        return self.kind == "numerical" and self.dtype == "int"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.categories is not None:
            out["categories"] = list(self.categories)
        return {k: v for k, v in out.items() if v is not None and v != ""}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Column:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known - {"type"}
        if unknown:
            raise SchemaError(
                f"column {data.get('name')!r}: unknown field(s) {sorted(unknown)}; known: {sorted(known)}",
                column=data.get("name"),
            )
        data = dict(data)
        if "type" in data:  # metadata files may say "type" for "kind"
            data.setdefault("kind", data.pop("type"))
        if data.get("kind") not in KINDS:
            raise SchemaError(
                f"column {data.get('name')!r}: kind must be one of {list(KINDS)}, got {data.get('kind')!r}",
                column=data.get("name"),
            )
        if data.get("categories") is not None:
            data["categories"] = tuple(data["categories"])
        return cls(**data)

    def describe(self) -> str:
        """One line of the schema text the generator reads."""
        if self.kind == "numerical":
            text = f"{self.dtype or 'float'}, range [{_fmt(self.min, self.decimals)}, {_fmt(self.max, self.decimals)}]"
            if self.dtype == "float":
                text += f", {self.decimals} decimals"
        elif self.kind == "categorical":
            text = "one of " + json.dumps(list(self.categories or ()), ensure_ascii=False)
        elif self.kind == "boolean":
            text = "true or false"
        else:
            text = f"date (ISO 8601) between {self.min} and {self.max}"
        if self.nullable:
            text += f"; missing in {self.missing_rate:.0%} of rows (null)"
        if self.description:
            text += f" - {self.description}"
        return f"{self.name}: {text}"


def _fmt(value: Any, decimals: int) -> str:
    if value is None:
        return "?"
    if decimals == 0:
        return str(int(round(float(value))))
    return f"{float(value):.{decimals}f}"


__all__ = ["KINDS", "Column", "Kind", "fold"]
