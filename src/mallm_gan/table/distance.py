"""The one distance between rows: standardised, mixed-type L1, fitted on the training rows.

The copy guard's release gate and every privacy measure (distance to closest record, near copies, the
nearest-neighbour distance ratio, membership and attribute inference) use :class:`MixedDistance`, so a
threshold given on the command line means the distance the evaluation reports.

Between two rows, per column:

- numerical and datetime columns (dates as days): ``|a - b| / spread``, where the spread is the column's
  standard deviation over the training rows (population form, ddof=0); a constant column keeps its own unit;
- every other column (categorical, boolean): 0 when equal, 1 when not;
- a missing value is 0 from another missing value and 1 from anything else.

The distance is the sum over the columns. Values are first normalised as generated rows are
(:func:`~mallm_gan.table.coerce.normalise_value`), so ``"1"`` vs ``1``, ``2.50`` vs ``2.5`` and ``"Female"``
vs ``"female"`` are the same value here as they are for the copy guard.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import NotFittedError, SchemaError
from .coerce import normalise_value
from .schema import TableSchema

_NUMERIC_KINDS = ("numerical", "datetime")
_CHUNK_CELLS = 2_000_000  # query rows x reference rows x columns compared at once, to bound memory
_EPOCH = pd.Timestamp("1970-01-01")


@dataclass(frozen=True)
class Encoded:
    """Rows as arrays: standardised numbers (NaN where missing) and integer category codes."""

    numbers: np.ndarray
    codes: np.ndarray

    def __len__(self) -> int:
        return len(self.numbers)

    def take(self, index: np.ndarray | Sequence[int]) -> Encoded:
        index = np.asarray(index, dtype=int)
        return Encoded(self.numbers[index], self.codes[index])


class MixedDistance:
    """Standardised mixed-type L1 distance between rows of one schema.

    Args:
        schema: Gives each column's kind.
        columns: Columns compared (default: every schema column), in order.

    Attributes (after :meth:`fit`):
        scale_: Spread of each numeric-like column over the training rows.
        numeric_, categorical_: The compared columns of each kind.
    """

    def __init__(self, schema: TableSchema, columns: Sequence[str] | None = None) -> None:
        self.schema = schema
        self.columns = list(columns) if columns is not None else schema.names

    def fit(self, train: pd.DataFrame | Sequence[tuple[Any, ...]]) -> MixedDistance:
        """Learn each numeric column's spread from the training rows (a frame, or normalised tuples in
        schema order)."""
        unknown = [c for c in self.columns if c not in self.schema.names]
        if unknown:
            raise SchemaError(f"column(s) {unknown} are not in the schema", column=unknown[0])
        self.numeric_ = [c for c in self.columns if self.schema[c].kind in _NUMERIC_KINDS]
        self.categorical_ = [c for c in self.columns if self.schema[c].kind not in _NUMERIC_KINDS]
        self._vocab: list[dict[Any, int]] = [{None: 0} for _ in self.categorical_]
        self.scale_ = np.ones(len(self.numeric_))
        raw = self._raw_numbers(train)
        if len(raw) > 1 and raw.shape[1]:
            with warnings.catch_warnings():  # an all-missing column: its spread falls back to 1
                warnings.simplefilter("ignore", RuntimeWarning)
                std = np.nanstd(raw, axis=0)
            self.scale_ = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        return self

    # -- encoding -------------------------------------------------------------------------------------
    def encode(self, rows: pd.DataFrame | Sequence[tuple[Any, ...]]) -> Encoded:
        """Rows (a frame with the compared columns, or normalised tuples in schema order) as arrays."""
        self._check_fitted()
        numbers = self._raw_numbers(rows) / self.scale_ if self.numeric_ else np.empty((_length(rows), 0))
        codes = np.zeros((_length(rows), len(self.categorical_)), dtype=np.int64)
        for j, name in enumerate(self.categorical_):
            vocab = self._vocab[j]
            for i, value in enumerate(self._values(rows, name)):
                key = _hashable(value)
                code = vocab.get(key)
                if code is None:  # a value never seen before matches only itself
                    code = vocab[key] = len(vocab)
                codes[i, j] = code
        return Encoded(numbers, codes)

    def _raw_numbers(self, rows: pd.DataFrame | Sequence[tuple[Any, ...]]) -> np.ndarray:
        out = np.full((_length(rows), len(self.numeric_)), np.nan)
        for j, name in enumerate(self.numeric_):
            values = self._values(rows, name)
            if self.schema[name].kind == "datetime":
                stamps = pd.to_datetime(pd.Series(values, dtype=object), errors="coerce", format="mixed")
                out[:, j] = ((stamps - _EPOCH) / pd.Timedelta(days=1)).to_numpy(dtype="float64", na_value=np.nan)
            else:
                out[:, j] = [v if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan for v in values]
        return out

    def _values(self, rows: pd.DataFrame | Sequence[tuple[Any, ...]], name: str) -> list[Any]:
        """Normalised values of one column; a value that cannot be normalised is kept as it is."""
        column = self.schema[name]
        if isinstance(rows, pd.DataFrame):
            if name not in rows.columns:
                raise SchemaError(f"column {name!r} is missing from the data", column=name)
            out = []
            for raw in rows[name].tolist():
                ok, value = normalise_value(raw, column, check_range=False)
                out.append(value if ok else raw)
            return out
        position = self.schema.names.index(name)
        return [row[position] for row in rows]

    # -- queries --------------------------------------------------------------------------------------
    def pairwise(self, query: Encoded, reference: Encoded, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Distances from query rows ``start:stop`` to every reference row (a block of the full matrix)."""
        q_num, q_codes = query.numbers[start:stop], query.codes[start:stop]
        diff = np.abs(q_num[:, None, :] - reference.numbers[None, :, :])
        q_nan, r_nan = np.isnan(q_num)[:, None, :], np.isnan(reference.numbers)[None, :, :]
        diff = np.where(q_nan & r_nan, 0.0, np.where(q_nan | r_nan, 1.0, diff))
        total = diff.sum(axis=2)
        total += (q_codes[:, None, :] != reference.codes[None, :, :]).sum(axis=2)
        return total

    def nearest(
        self, query: Encoded, reference: Encoded, k: int = 1, *, exclude_self: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` smallest distances of each query row to the reference rows, and their indices.

        Args:
            exclude_self: Query and reference are the same rows; a row is not its own neighbour (its
                duplicates still are, at distance 0): leave-one-out nearest neighbours.

        Returns:
            ``(distances, indices)``, both ``(len(query), k)``, sorted nearest first; ``inf`` and ``-1``
            where the reference has fewer than ``k`` rows.
        """
        n_query, n_ref = len(query), len(reference)
        dist = np.full((n_query, k), np.inf)
        index = np.full((n_query, k), -1, dtype=np.int64)
        if n_ref == 0 or n_query == 0:
            return dist, index
        width = max(1, query.numbers.shape[1] + query.codes.shape[1])
        step = max(1, _CHUNK_CELLS // (n_ref * width))
        take = min(k, n_ref)
        for start in range(0, n_query, step):
            stop = min(n_query, start + step)
            block = self.pairwise(query, reference, start, stop)
            if exclude_self:
                rows = np.arange(start, stop)
                block[rows - start, rows] = np.inf
            part = np.argpartition(block, take - 1, axis=1)[:, :take] if take < n_ref else np.tile(
                np.arange(n_ref), (stop - start, 1)
            )
            values = np.take_along_axis(block, part, axis=1)
            order = np.argsort(values, axis=1, kind="stable")
            dist[start:stop, :take] = np.take_along_axis(values, order, axis=1)
            index[start:stop, :take] = np.take_along_axis(part, order, axis=1)
        index[~np.isfinite(dist)] = -1
        return dist, index

    def closest(self, query: Encoded, reference: Encoded) -> np.ndarray:
        """Distance from each query row to its closest reference row (``inf`` for an empty reference)."""
        return self.nearest(query, reference, 1)[0][:, 0]

    def leave_one_out(self, rows: Encoded) -> np.ndarray:
        """Each row's distance to the closest *other* row of the same set."""
        return self.nearest(rows, rows, 1, exclude_self=True)[0][:, 0]

    def _check_fitted(self) -> None:
        if not hasattr(self, "scale_"):
            raise NotFittedError("this MixedDistance is not fitted yet: call fit() on the training rows first")


def _length(rows: pd.DataFrame | Sequence[tuple[Any, ...]]) -> int:
    return len(rows)


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return repr(value)
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


__all__ = ["Encoded", "MixedDistance"]
