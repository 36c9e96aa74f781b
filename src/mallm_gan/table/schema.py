"""The table schema: columns in order, target and task, rules across columns; metadata overrides, JSON round trip.

The schema is what every returned row must obey: column order, kind, categories, bounds and precision.
It is also the "schema" part of θ that the generator reads. One column is a :class:`~.column.Column`;
:meth:`TableSchema.from_dataframe` infers them with :mod:`.inference`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import SchemaError
from ..runstate import read_json
from .column import Column
from .constraint_syntax import rule_texts
from .inference import check_table, infer_column

TASKS: tuple[str, ...] = ("classification", "regression")


@dataclass(frozen=True)
class TableSchema:
    """All columns in order, plus the target column and the task it implies."""

    columns: tuple[Column, ...]
    target: str | None = None
    task: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    #: Rules across columns in canonical text (see :mod:`mallm_gan.table.constraints`).
    constraints: tuple[str, ...] = ()

    # -- access -------------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def __getitem__(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise SchemaError(f"no column named {name!r}; columns are {self.names}", column=name)

    def __contains__(self, name: object) -> bool:
        return any(c.name == name for c in self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    # -- inference ----------------------------------------------------------------------------------
    @classmethod
    def from_dataframe(
        cls,
        data: pd.DataFrame,
        *,
        target: str | None = None,
        task: str | None = None,
        metadata: dict[str, Any] | str | Path | None = None,
    ) -> TableSchema:
        """Infer the schema of ``data``; ``metadata`` (dict or JSON file) overrides what it names.

        Raises:
            SchemaError: empty table, a single row, duplicate or empty column names, an all-missing
                column, or a target that is not a column; the message names the column.
        """
        check_table(data)
        columns = tuple(infer_column(data[name], name) for name in data.columns)
        schema = cls(columns=columns)
        if metadata is not None:
            schema = schema.with_metadata(metadata)
        target = target if target is not None else schema.target
        task = task if task is not None else schema.task
        return schema.with_target(target, task)

    def with_target(self, target: str | None, task: str | None = None) -> TableSchema:
        if target is None:
            if task is not None and task not in TASKS:
                raise SchemaError(f"task must be one of {list(TASKS)}, got {task!r}")
            return replace(self, target=None, task=task)
        if target not in self:
            raise SchemaError(
                f"target column {target!r} does not exist; columns are {self.names}", column=target
            )
        column = self[target]
        if task is None:
            task = "regression" if column.kind == "numerical" else "classification"
        if task not in TASKS:
            raise SchemaError(f"task must be one of {list(TASKS)}, got {task!r}", column=target)
        if task == "regression" and column.kind != "numerical":
            raise SchemaError(
                f"target {target!r} is {column.kind}; regression needs a numerical target", column=target
            )
        return replace(self, target=target, task=task)

    def with_metadata(self, metadata: dict[str, Any] | str | Path) -> TableSchema:
        """Override inferred columns with a metadata mapping or JSON file.

        The format is ``{"target": ..., "task": ..., "columns": {NAME: {field: value, ...}}}``; a column
        entry may give any :class:`Column` field (``kind``/``type``, ``categories``, ``min``, ``max``,
        ``decimals``, ``description``, ...). Unknown column names are an error.
        """
        if isinstance(metadata, (str, Path)):
            metadata = read_json(metadata, what="metadata file", error=SchemaError)
        if not isinstance(metadata, dict):
            raise SchemaError("metadata must be a JSON object with a 'columns' mapping")
        entries = metadata.get("columns", {})
        if isinstance(entries, list):
            entries = {e.get("name"): e for e in entries}
        unknown = [n for n in entries if n not in self]
        if unknown:
            raise SchemaError(
                f"metadata names column(s) {unknown} that are not in the data; columns are {self.names}",
                column=unknown[0],
            )
        columns = []
        for column in self.columns:
            override = entries.get(column.name)
            if override:
                merged = {**column.to_dict(), **override, "name": column.name}
                if "type" in override:
                    merged.pop("kind", None)
                columns.append(Column.from_dict(merged))
            else:
                columns.append(column)
        extra = {k: v for k, v in metadata.items() if k not in ("columns", "target", "task", "constraints")}
        merged = replace(self, columns=tuple(columns), extra={**self.extra, **extra},
                         constraints=(*self.constraints, *rule_texts(metadata.get("constraints"))))
        return merged.with_target(metadata.get("target", self.target), metadata.get("task", self.task))

    # -- text and JSON ------------------------------------------------------------------------------
    def describe(self) -> str:
        """The schema part of θ: one line per column."""
        lines = [c.describe() for c in self.columns]
        if self.target:
            lines.append(f"Target column: {self.target} ({self.task}).")
        if self.constraints:
            lines.append("Rules every row must obey:")
            lines += [f"- {rule}" for rule in self.constraints]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"columns": [c.to_dict() for c in self.columns]}
        if self.target:
            out["target"] = self.target
        if self.task:
            out["task"] = self.task
        if self.extra:
            out["extra"] = self.extra
        if self.constraints:
            out["constraints"] = list(self.constraints)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableSchema:
        columns = tuple(Column.from_dict(c) for c in data["columns"])
        return cls(columns=columns, target=data.get("target"), task=data.get("task"),
                   extra=data.get("extra", {}), constraints=tuple(rule_texts(data.get("constraints"))))

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> TableSchema:
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            text = Path(text_or_path).read_text(encoding="utf-8")
        return cls.from_dict(json.loads(text))

    # -- typed frames -------------------------------------------------------------------------------
    def empty_frame(self) -> pd.DataFrame:
        return self.cast(pd.DataFrame({name: [] for name in self.names}))

    def cast(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Give ``frame`` (already valid values) this schema's column order and dtypes."""
        out = {}
        for column in self.columns:
            values = frame[column.name] if column.name in frame else pd.Series([None] * len(frame))
            out[column.name] = _cast_series(values.reset_index(drop=True), column)
        return pd.DataFrame(out)


def _cast_series(values: pd.Series, column: Column) -> pd.Series:
    if column.kind == "numerical":
        numbers = pd.to_numeric(values, errors="coerce")
        if column.dtype == "int":
            return numbers.round().astype("Int64" if numbers.isna().any() or column.nullable else "int64")
        return numbers.astype("float64")
    if column.kind == "boolean":
        return values.astype("boolean" if values.isna().any() or column.nullable else "bool")
    if column.kind == "datetime":
        return pd.to_datetime(values, errors="coerce", format="ISO8601")
    cats = column.categories or ()
    if cats and all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in cats):
        numbers = pd.to_numeric(values, errors="coerce")
        return numbers.astype("Int64" if numbers.isna().any() else "int64")
    if cats and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in cats):
        return pd.to_numeric(values, errors="coerce").astype("float64")
    # missing stays missing: under pandas < 3 astype("str") would turn None into the text "None"
    text = pd.Series([None if is_missing(v) else str(v) for v in values], index=values.index, dtype=object)
    return text.astype("str") if int(pd.__version__.split(".")[0]) >= 3 else text


def is_missing(value: Any) -> bool:
    """True for None, NaN, NaT and pandas NA."""
    if value is None:
        return True
    if isinstance(value, (list, tuple, dict, set, frozenset, np.ndarray)):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def round_to(value: float, decimals: int) -> float:
    """Round half away from zero, so 2.5 -> 3 the way people round."""
    factor = 10**decimals
    # round(.., 9) first: 1.005 * 100 is 100.49999999999999 in binary floating point
    return math.copysign(math.floor(round(abs(value) * factor, 9) + 0.5) / factor, value)
