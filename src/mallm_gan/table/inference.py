"""Schema inference: whether a table can be learned from, and each column's kind, categories, bounds and precision.

Literal true/false text is boolean, ISO-like text is a date, numbers (or text that is all numbers) are
numerical unless they hold at most two integer values, which are category codes (0/1, 1/2).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..errors import SchemaError
from .column import Column

# Only literal true/false text is read as boolean: "yes"/"no" stays categorical so rows come back in the
# user's own spelling.
_TRUE = {"true"}
_FALSE = {"false"}
_DATE_RE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
#: the most digits after the point a float column keeps
MAX_DECIMALS = 6


def check_table(data: pd.DataFrame) -> None:
    """Raise a :class:`SchemaError` naming the problem if ``data`` cannot be learned from."""
    if not isinstance(data, pd.DataFrame):
        raise SchemaError(f"expected a pandas DataFrame, got {type(data).__name__}")
    if data.shape[1] == 0:
        raise SchemaError("the table has no columns")
    names = [str(c) for c in data.columns]
    empty = [i for i, n in enumerate(names) if not n.strip() or n.startswith("Unnamed: ")]
    if empty:
        raise SchemaError(
            f"column {empty[0] + 1} has an empty name; give every column a header", column=names[empty[0]]
        )
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise SchemaError(f"column name {name!r} appears more than once", column=name)
        seen.add(name)
    if len(data) == 0:
        raise SchemaError("the table has no rows")
    if len(data) == 1:
        raise SchemaError("the table has a single row; at least 2 rows are needed to learn from")
    for name in data.columns:
        if data[name].isna().all():
            raise SchemaError(f"column {name!r} is missing in every row; drop it or fill it", column=name)


def infer_column(values: pd.Series, name: str) -> Column:
    """Infer one column's kind, categories, bounds and precision from its values."""
    missing_rate = float(values.isna().mean())
    present = values.dropna()
    if pd.api.types.is_bool_dtype(values) or _looks_boolean(present):
        return Column(name, "boolean", missing_rate=missing_rate)
    if pd.api.types.is_datetime64_any_dtype(values) or _looks_datetime(present):
        stamps = pd.to_datetime(present, errors="coerce", format="mixed")
        return Column(
            name,
            "datetime",
            min=stamps.min().isoformat(),
            max=stamps.max().isoformat(),
            missing_rate=missing_rate,
        )
    numbers = _as_numbers(present)
    if numbers is not None:
        integer = _decimals(numbers) == 0
        if integer and len(np.unique(numbers)) <= 2:
            # binary-coded columns (0/1, 1/2) are categories, not quantities
            cats = tuple(int(v) for v in sorted(np.unique(numbers)))
            return Column(name, "categorical", categories=cats, missing_rate=missing_rate)
        decimals = 0 if integer else _decimals(numbers)
        low, high = float(numbers.min()), float(numbers.max())
        if integer:
            low, high = int(round(low)), int(round(high))
        return Column(
            name,
            "numerical",
            dtype="int" if integer else "float",
            min=low,
            max=high,
            decimals=decimals,
            missing_rate=missing_rate,
        )
    cats = tuple(dict.fromkeys(str(v).strip() for v in present))
    return Column(name, "categorical", categories=cats, missing_rate=missing_rate)


def _as_numbers(present: pd.Series) -> np.ndarray | None:
    if pd.api.types.is_numeric_dtype(present):
        return present.to_numpy(dtype="float64")
    converted = pd.to_numeric(present.astype("str").str.strip(), errors="coerce")
    if len(present) and converted.notna().all():
        return converted.to_numpy(dtype="float64")
    return None


def _decimals(numbers: np.ndarray) -> int:
    for digits in range(MAX_DECIMALS + 1):
        scaled = numbers * 10**digits
        # float noise is ~1e-16 of the value; 1e-9 leaves room for it and no room for a real digit
        if np.all(np.abs(scaled - np.round(scaled)) < 1e-9 * np.maximum(1, np.abs(scaled))):
            return digits
    return MAX_DECIMALS


def _looks_boolean(present: pd.Series) -> bool:
    if len(present) == 0 or pd.api.types.is_numeric_dtype(present):
        return False
    lowered = {str(v).strip().lower() for v in present}
    return lowered <= (_TRUE | _FALSE) and bool(lowered & _TRUE) and bool(lowered & _FALSE)


def _looks_datetime(present: pd.Series) -> bool:
    if len(present) == 0 or pd.api.types.is_numeric_dtype(present):
        return False
    return all(_DATE_RE.match(str(v).strip()) for v in present)


__all__ = ["MAX_DECIMALS", "check_table", "infer_column"]
