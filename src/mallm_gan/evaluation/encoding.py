"""Turning mixed-type frames into numbers for the evaluation models, one schema at a time.

Categorical values are compared as canonical strings, so ``1``, ``1.0`` and ``" 1"`` are the same category
whether a CSV was read with ints, floats or padded text (the paper's splits store ints as ``35.0``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ..errors import SchemaError
from ..table.schema import TableSchema, is_missing

MISSING = "<missing>"
_NUMERIC_KINDS = ("numerical", "datetime")


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


def split_kinds(schema: TableSchema, columns: Sequence[str]) -> tuple[list[str], list[str]]:
    """(numeric-like, categorical-like) column names among ``columns`` according to ``schema``."""
    numeric = [c for c in columns if schema[c].kind in _NUMERIC_KINDS]
    categorical = [c for c in columns if schema[c].kind not in _NUMERIC_KINDS]
    return numeric, categorical


def typed_frame(frame: pd.DataFrame, schema: TableSchema, columns: Sequence[str]) -> pd.DataFrame:
    """``frame[columns]`` with numeric-like columns as float64 and the rest as canonical strings."""
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise SchemaError(f"column(s) {absent} are missing from the data", column=absent[0])
    out = {}
    for name in columns:
        kind = schema[name].kind
        if kind in _NUMERIC_KINDS:
            out[name] = numeric_values(frame[name], kind)
        else:
            out[name] = canonical_strings(frame[name])
    return pd.DataFrame(out, index=range(len(frame)))


class TabularEncoder:
    """One-hot categoricals and standardised numbers, fitted on one frame only.

    Categories that appear only in frames passed to :meth:`transform` encode as all zeros
    (``handle_unknown="ignore"``); missing numbers take the fitted median, missing categories are a
    category of their own.

    Args:
        schema: Gives each column's kind.
        columns: Feature columns, in order.
    """

    def __init__(self, schema: TableSchema, columns: Sequence[str]) -> None:
        self.schema = schema
        self.columns = list(columns)

    def fit(self, frame: pd.DataFrame) -> TabularEncoder:
        numeric, categorical = split_kinds(self.schema, self.columns)
        parts = []
        if numeric:
            parts.append(
                (
                    "numeric",
                    Pipeline(
                        [
                            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                            ("scale", StandardScaler()),
                        ]
                    ),
                    numeric,
                )
            )
        if categorical:
            parts.append(("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical))
        self.transformer_ = ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0)
        self.transformer_.fit(self._as_input(frame))
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.transformer_.transform(self._as_input(frame)), dtype="float64")

    def fit_transform(self, frame: pd.DataFrame) -> np.ndarray:
        return self.fit(frame).transform(frame)

    def _as_input(self, frame: pd.DataFrame) -> pd.DataFrame:
        typed = typed_frame(frame, self.schema, self.columns)
        # object dtype keeps sklearn's encoders away from pandas' string dtype
        return typed.astype({c: object for c in typed.columns if typed[c].dtype != "float64"})


__all__ = [
    "MISSING",
    "TabularEncoder",
    "canonical",
    "canonical_strings",
    "numeric_values",
    "split_kinds",
    "typed_frame",
]
