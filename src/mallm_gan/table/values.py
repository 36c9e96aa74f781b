"""The canonical key of a table value, and a column's numbers: how values from different frames are compared.

A CSV read by pandas may hold a category as ``1``, ``1.0`` or ``" 1"`` and a boolean as ``True`` or
``"true"``; every encoder (the discriminator's, the evaluation models', the baselines' codec) compares them
by :func:`canonical`, the one key for "same value" across frames. (Reading what a model wrote into the
schema's own category is a different, lenient job: :mod:`mallm_gan.table.coerce`.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .schema import is_missing

MISSING = "<missing>"


def canonical(value: object) -> str:
    """The string a categorical value is compared by; missing values become ``MISSING``."""
    if is_missing(value):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    text = str(value).strip()
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered
    try:
        number = float(text)
    except ValueError:
        return text
    # numbers written as text ("1.0", "1") meet the same category as the number itself
    if not np.isfinite(number):
        return text
    return str(int(number)) if number.is_integer() else repr(number)


def canonical_strings(values: pd.Series) -> np.ndarray:
    """Canonical strings of a column as an object array."""
    # canonicalise each distinct value once; columns repeat a handful of values many times
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    table = np.array([canonical(v) for v in uniques] + [MISSING], dtype=object)
    return table[codes]


def numeric_values(values: pd.Series, kind: str) -> np.ndarray:
    """Floats of a numerical or datetime column (datetimes as days since the epoch); NaN where missing."""
    if kind == "datetime":
        stamps = pd.to_datetime(values, errors="coerce", format="mixed")
        days = (stamps - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
        return days.to_numpy(dtype="float64", na_value=np.nan)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


__all__ = ["MISSING", "canonical", "canonical_strings", "numeric_values"]
