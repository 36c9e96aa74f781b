"""Coercion of single values to their column: numbers at the column's precision, categories matched
leniently, booleans, dates; and the normalised tuples that the copy guard compares.

"1" vs 1, 2.50 vs 2.5 and "Female" vs "female" normalise to the same value, so training rows and generated
rows go through the same functions before they are compared. Pure functions, no network.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from ..errors import SchemaError
from .column import Column, fold
from .schema import TableSchema, round_to
from .schema import is_missing as _is_missing

MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "?", "missing", "unknown"})

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_UNIT = re.compile(r"([+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+-]?\.\d+)\s+([A-Za-z][A-Za-z./ ]*)")
# "3.5 k" or "2 million" carry a multiplier; repairing them as 3.5 or 2 would be wrong
_MULTIPLIERS = frozenset({"k", "m", "b", "bn", "mn", "mil", "thousand", "million", "billion", "trillion"})
_TRUE = frozenset({"true", "yes", "y", "t", "1", "1.0"})
_FALSE = frozenset({"false", "no", "n", "f", "0", "0.0"})
Converter = Callable[[Any], tuple[bool, Any]]
_NONE: tuple[bool, Any] = (True, None)


def parse_number(text: str) -> float | None:
    """Read a number written by a person or a model: "1,234", "42 years"; None if it is not one.

    Currency and multipliers ("$3.5k", "2 million") are not repaired: guessing them would invent data.
    """
    s = text.strip().replace("\u2212", "-")
    if _NUMBER.fullmatch(s):
        return float(s)
    if _THOUSANDS.fullmatch(s):
        return float(s.replace(",", ""))
    match = _UNIT.fullmatch(s)
    if match and match.group(2).split()[0].rstrip(".").casefold() not in _MULTIPLIERS:
        return float(match.group(1).replace(",", ""))
    return None


def _num_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@lru_cache(maxsize=1024)
def _converter(column: Column) -> Converter:
    """A function value -> (True, normalised value or None for missing) | (False, reason); no range check."""
    if column.kind == "numerical":
        return _numeric_converter(column.decimals, column.is_integer)
    if column.kind == "categorical":
        return _category_converter(tuple(column.categories or ()))
    if column.kind == "boolean":
        return _boolean_converter()
    return _date_converter()


def _numeric_converter(decimals: int, integer: bool) -> Converter:
    def convert(value: Any) -> tuple[bool, Any]:
        kind = type(value)
        if kind is float:
            x = value
        elif kind is int:
            x = float(value) if -1e300 < value < 1e300 else math.inf
        elif kind is str:
            if fold(value) in MISSING_TOKENS:
                return _NONE
            x = parse_number(value)
            if x is None:
                return False, "not_a_number"
        elif _is_missing(value):
            return _NONE
        elif isinstance(value, (int, float, np.integer, np.floating)) and kind is not bool:
            x = float(value)
        else:
            return False, "not_a_number"
        if x != x:
            return _NONE
        if math.isinf(x):
            return False, "not_a_number"
        if abs(x) < 1e15:  # beyond that, scaling by 10**decimals overflows and no digit is left to round
            x = round_to(x, decimals)
        if integer:
            if not x.is_integer():
                return False, "not_integer"
            return True, int(x)
        return True, x

    return convert


def _category_converter(categories: tuple[Any, ...]) -> Converter:
    """Reads a value into one of ``categories``.

    Its key (case- and spacing-folded text) differs from :func:`mallm_gan.table.values.canonical` because it
    reads what a model wrote ("Female " for "female") and returns the schema's own category, where
    ``canonical`` compares values that are already the data's.
    """
    numeric = bool(categories) and all(
        isinstance(c, (int, float, np.integer, np.floating)) and not isinstance(c, bool) for c in categories
    )
    exact: dict[Any, Any] = {}
    folded: dict[str, Any] = {}
    for cat in categories:
        exact.setdefault(cat, cat)  # 1.0 and 1 hash alike, so numeric categories match either
        folded.setdefault(fold(_num_text(cat) if numeric else str(cat)), cat)

    def convert(value: Any) -> tuple[bool, Any]:
        kind = type(value)
        if kind is str:
            if value in exact:
                return True, exact[value]
            key = fold(value)
            if key in folded:
                return True, folded[key]
            if key in MISSING_TOKENS:
                return _NONE
            if numeric:
                x = parse_number(key)
                if x is not None and x in exact:
                    return True, exact[x]
            return False, "unknown_category"
        if _is_missing(value):
            return _NONE
        if kind is bool or isinstance(value, np.bool_):
            # True is 1 to Python but not to a 0/1-coded column (asia codes 0 = yes)
            key = "true" if value else "false"
            return (True, folded[key]) if key in folded and not numeric else (False, "unknown_category")
        if isinstance(value, (int, float, np.integer, np.floating)):
            if numeric:
                return (True, exact[value]) if value in exact else (False, "unknown_category")
            key = _num_text(value)
            return (True, folded[key]) if key in folded else (False, "unknown_category")
        return False, "unknown_category"

    return convert


def _boolean_converter() -> Converter:
    def convert(value: Any) -> tuple[bool, Any]:
        if value is True or value is False:
            return True, value
        if isinstance(value, str):
            key = fold(value)
            if key in _TRUE:
                return True, True
            if key in _FALSE:
                return True, False
            return _NONE if key in MISSING_TOKENS else (False, "not_a_boolean")
        if _is_missing(value):
            return _NONE
        if isinstance(value, np.bool_):
            return True, bool(value)
        if isinstance(value, (int, float, np.integer, np.floating)) and value in (0, 1):
            return True, bool(value)
        return False, "not_a_boolean"

    return convert


def _date_converter() -> Converter:
    def convert(value: Any) -> tuple[bool, Any]:
        if value is None or value is pd.NaT:
            return _NONE
        if isinstance(value, str):
            text = value.strip()
            if fold(text) in MISSING_TOKENS:
                return _NONE
            try:
                stamp = datetime.fromisoformat(text)
            except ValueError:
                try:
                    stamp = pd.Timestamp(text).to_pydatetime()
                except (ValueError, TypeError, OverflowError):
                    return False, "not_a_date"
        elif isinstance(value, datetime):
            stamp = value.to_pydatetime() if isinstance(value, pd.Timestamp) else value
        elif isinstance(value, date):
            stamp = datetime.combine(value, time())
        elif isinstance(value, np.datetime64):
            if np.isnat(value):
                return _NONE
            stamp = pd.Timestamp(value).to_pydatetime()
        elif _is_missing(value):
            return _NONE
        else:
            return False, "not_a_date"
        if stamp.tzinfo is not None:
            stamp = stamp.astimezone(UTC).replace(tzinfo=None)
        return True, stamp.isoformat()

    return convert


def _bounds(column: Column) -> tuple[Any, Any]:
    """The column's [min, max] in normalised form (numbers at the column's precision, ISO text)."""
    if column.kind not in ("numerical", "datetime"):
        return None, None
    convert = _converter(column)
    low = convert(column.min)[1] if column.min is not None else None
    high = convert(column.max)[1] if column.max is not None else None
    return low, high


def checker(column: Column) -> Converter:
    convert = _converter(column)
    low, high = _bounds(column)
    if low is None and high is None:
        return convert

    def check(value: Any) -> tuple[bool, Any]:
        result = convert(value)
        x = result[1]
        if result[0] and x is not None and ((low is not None and x < low) or (high is not None and x > high)):
            return False, "out_of_range"
        return result

    return check


def normalise_value(value: Any, column: Column, *, check_range: bool = True) -> tuple[bool, Any]:
    """Coerce one value to ``column``'s kind and precision.

    Returns:
        ``(True, value)`` with the normalised value (int, rounded float, canonical category, bool, ISO
        date text, or None when missing) or ``(False, reason)`` ("not_a_number", "not_integer",
        "unknown_category", "not_a_boolean", "not_a_date", "out_of_range"). Missingness is not judged
        here: a missing value comes back as ``(True, None)`` whether or not the column allows it.
    """
    return (checker(column) if check_range else _converter(column))(value)


def normalise_frame(frame: pd.DataFrame, schema: TableSchema) -> list[tuple[Any, ...]]:
    """Normalise every row of ``frame`` (schema column order) the way generated rows are normalised.

    Values that cannot be normalised (training data outside a metadata override) are kept as they are:
    no generated row can equal them, which is what the copy guard needs.
    """
    missing = [name for name in schema.names if name not in frame.columns]
    if missing:
        raise SchemaError(f"the training data lacks column(s) {missing}", column=missing[0])
    columns = []
    for column in schema.columns:
        convert = _converter(column)
        values = []
        for raw in frame[column.name].tolist():
            ok, value = convert(raw)
            values.append(value if ok else raw)
        columns.append(values)
    return list(zip(*columns, strict=True)) if columns else []
