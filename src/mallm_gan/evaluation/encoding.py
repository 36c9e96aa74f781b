"""Turning mixed-type frames into numbers for the evaluation models, one schema at a time.

Categorical values are compared by their canonical key (:func:`mallm_gan.table.values.canonical`), so ``1``,
``1.0`` and ``" 1"`` are the same category whether a CSV was read with ints, floats or padded text.
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
from ..table.schema import TableSchema
from ..table.values import MISSING, canonical, canonical_strings, numeric_values

_NUMERIC_KINDS = ("numerical", "datetime")


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

    It differs from the discriminator's :class:`~mallm_gan.gan.discriminator.TableEncoder` because the
    evaluation models learn categories from the frame they are fitted on (any frame, e.g. the synthetic one
    for train-on-synthetic), impute the median and encode the feature columns only, without the target.

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
