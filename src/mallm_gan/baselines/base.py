"""The interface every baseline generator follows, and the codec that keeps their output inside the schema.

A baseline is fitted on real rows and a :class:`~mallm_gan.table.schema.TableSchema` and samples any number of
rows. Internally every baseline sees the same simple table (numbers as floats with missing values filled
in, categories as canonical strings with "missing" as a category of its own); :class:`TableCodec` turns its
output back into values the schema allows: numbers clipped to [min, max] and rounded to the column's
decimals, only legal categories, missing values only where the column had them, and the schema's dtypes.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..errors import ConfigError, NotFittedError, SchemaError
from ..table.inference import check_table
from ..table.schema import TableSchema
from ..table.values import MISSING, canonical, canonical_strings, numeric_values

logger = logging.getLogger(__name__)

_EPOCH = pd.Timestamp("1970-01-01")


class MissingExtraError(ConfigError):
    """A baseline needs an optional dependency that is not installed; the message names the extra."""


def _round_half_away(values: np.ndarray, decimals: int) -> np.ndarray:
    factor = 10.0**decimals
    return np.sign(values) * np.floor(np.abs(values) * factor + 0.5) / factor


class TableCodec:
    """Maps real rows to the baselines' plain table and their output back to schema-valid rows.

    It differs from the two encoders (discriminator, evaluation) because it runs both ways: the baselines
    generate in its plain table, so it must decode their output back into values the schema allows.

    Args:
        schema: The schema the rows must obey.
    """

    def __init__(self, schema: TableSchema) -> None:
        self.schema = schema

    @property
    def numeric(self) -> list[str]:
        return [c.name for c in self.schema.columns if c.kind in ("numerical", "datetime")]

    @property
    def categorical(self) -> list[str]:
        return [c.name for c in self.schema.columns if c.kind in ("categorical", "boolean")]

    def fit(self, train: pd.DataFrame) -> TableCodec:
        self.medians_: dict[str, float] = {}
        self.legal_: dict[str, dict[str, Any]] = {}
        self.modes_: dict[str, str] = {}
        self.whole_days_: set[str] = set()
        for name in self.numeric:
            values = numeric_values(train[name], self.schema[name].kind)
            present = values[~np.isnan(values)]
            self.medians_[name] = float(np.median(present)) if len(present) else 0.0
            if self.schema[name].kind == "datetime" and np.allclose(present, np.round(present)):
                # dates without a time of day come back as dates
                self.whole_days_.add(name)
        for name in self.categorical:
            column = self.schema[name]
            if column.kind == "boolean":
                legal = {"true": True, "false": False}
            elif column.categories:
                legal = {canonical(v): v for v in column.categories}
            else:
                legal = {canonical(v): v for v in pd.unique(train[name].dropna())}
            self.legal_[name] = legal
            labels = canonical_strings(train[name])
            known = labels[np.isin(labels, list(legal))]
            self.modes_[name] = pd.Series(known).mode().iloc[0] if len(known) else next(iter(legal), MISSING)
        return self

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The plain table: float numbers (missing -> training median), canonical-string categories."""
        out = {}
        for name in self.schema.names:
            if name in self.medians_:
                values = numeric_values(frame[name], self.schema[name].kind)
                out[name] = np.where(np.isnan(values), self.medians_[name], values)
            else:
                out[name] = canonical_strings(frame[name])
        return pd.DataFrame(out, index=range(len(frame))).astype({n: object for n in self.categorical})

    def decode(self, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """Schema-valid, schema-typed rows from a baseline's plain output."""
        out: dict[str, Any] = {}
        for column in self.schema.columns:
            name = column.name
            if name in self.medians_:
                out[name] = self._decode_number(frame[name], column, rng)
            else:
                out[name] = self._decode_category(frame[name], name)
        decoded = pd.DataFrame(out, index=range(len(frame)))
        cast = self.schema.cast(decoded)
        for name in self.categorical:
            missing = decoded[name].isna().to_numpy()
            if missing.any() and not cast[name].isna().to_numpy()[missing].all():
                # pandas < 3 casts None to the text "None"; keep it missing
                cast[name] = cast[name].astype(object).where(~missing, None)
        return cast

    def _decode_number(self, values: pd.Series, column: Any, rng: np.random.Generator) -> pd.Series:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        numbers = np.where(np.isnan(numbers), self.medians_[column.name], numbers)
        if column.kind == "datetime":
            low = (pd.Timestamp(column.min) - _EPOCH) / pd.Timedelta(days=1) if column.min else -np.inf
            high = (pd.Timestamp(column.max) - _EPOCH) / pd.Timedelta(days=1) if column.max else np.inf
            numbers = np.clip(numbers, low, high)
            if column.name in self.whole_days_:
                numbers = np.round(numbers)
        else:
            low = -np.inf if column.min is None else float(column.min)
            high = np.inf if column.max is None else float(column.max)
            decimals = 0 if column.dtype == "int" else int(column.decimals)
            numbers = _round_half_away(np.clip(numbers, low, high), decimals)
        result: pd.Series = pd.Series(numbers, dtype="float64")
        if column.missing_rate > 0:
            # numbers were filled in for fitting; put missingness back at the training rate
            result[rng.random(len(result)) < column.missing_rate] = np.nan
        if column.kind == "datetime":
            stamps = _EPOCH + pd.to_timedelta(result, unit="D")
            return stamps.dt.round("s") if len(stamps) else stamps
        return result

    def _decode_category(self, values: pd.Series, name: str) -> pd.Series:
        legal = self.legal_[name]
        labels = canonical_strings(values)
        nullable = self.schema[name].missing_rate > 0
        illegal = ~np.isin(labels, list(legal)) & ~((labels == MISSING) & nullable)
        if illegal.any():
            logger.debug("%s: %d value(s) outside the schema replaced by the mode", name, int(illegal.sum()))
            labels = np.where(illegal, self.modes_[name], labels)
        mapped = [None if label == MISSING else legal[label] for label in labels]
        return pd.Series(mapped, dtype=object)


class BaseSynthesizer:
    """A baseline generator: ``fit(train, schema)`` then ``sample(n)``.

    Subclasses implement ``_fit(plain)`` on the codec's plain table and ``_sample(n)`` returning a frame with
    the same columns; the public methods validate, encode and decode.

    Args:
        random_state: Seed; the same seed and data give the same rows.
    """

    name: ClassVar[str] = "base"

    def __init__(self, random_state: int | None = None) -> None:
        self.random_state = random_state

    def fit(self, train: pd.DataFrame, schema: TableSchema | None = None) -> BaseSynthesizer:
        """Learn from the real ``train`` rows; ``schema`` is inferred from them when omitted.

        Raises:
            SchemaError: the rows cannot be learned from or lack a schema column.
        """
        check_table(train)
        schema = schema if schema is not None else TableSchema.from_dataframe(train)
        absent = [n for n in schema.names if n not in train.columns]
        if absent:
            raise SchemaError(f"training rows lack schema column(s) {absent}", column=absent[0])
        self.schema_ = schema
        self.codec_ = TableCodec(schema).fit(train)
        self.rng_ = np.random.default_rng(self.random_state)
        logger.debug("fitting %s on %d rows", self.name, len(train))
        self._fit(self.codec_.encode(train))
        return self

    def sample(self, n: int) -> pd.DataFrame:
        """``n`` synthetic rows with the schema's columns, dtypes and value ranges.

        Raises:
            NotFittedError: ``fit`` has not been called.
            ConfigError: ``n`` is negative.
        """
        if not hasattr(self, "codec_"):
            raise NotFittedError(f"{type(self).__name__}.sample called before fit")
        if int(n) < 0:
            raise ConfigError(f"the number of rows must be >= 0, got {n}")
        if int(n) == 0:
            return self.schema_.empty_frame()
        plain = self._sample(int(n))
        return self.codec_.decode(plain.reset_index(drop=True), self.rng_)

    def _fit(self, plain: pd.DataFrame) -> None:
        raise NotImplementedError

    def _sample(self, n: int) -> pd.DataFrame:
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_"))
        return f"{type(self).__name__}({params})"


__all__ = ["BaseSynthesizer", "MissingExtraError", "TableCodec"]
