"""Distance to closest record (DCR): how near each synthetic row lies to a real one.

For every synthetic row we find the closest real training row and the closest real held-out row. Numbers are
standardised with the training rows' mean and standard deviation and compared by absolute difference (L1);
a categorical mismatch counts 1; a missing value is 0 from another missing value and 1 from anything else.
A generator that copies its training rows has many distances of 0 to train and a share of rows "closer to
train than to holdout" well above what fresh draws from the same population give. (That reference share
is 0.5 only when train and holdout have the same size: a larger training set is closer more often.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..table.schema import TableSchema
from .encoding import split_kinds, typed_frame

QUANTILES: tuple[float, ...] = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95)
_EXACT = 1e-9
_CHUNK_CELLS = 4_000_000  # synthetic rows x reference rows compared at once, to bound memory


@dataclass
class DCRResult:
    """Distances of synthetic rows to their closest real rows.

    Attributes:
        to_train: Per synthetic row, distance to the closest training row.
        to_holdout: Per synthetic row, distance to the closest held-out row (None without a holdout).
        quantiles_train, quantiles_holdout: Quantiles of those distances, keyed ``"q05"`` etc.
        share_closer_to_train: Share of synthetic rows strictly closer to train than to holdout.
        share_ties: Share at exactly the same distance from both.
        exact_copies: Synthetic rows equal to some training row (distance 0).
        exact_copies_holdout: Synthetic rows equal to some held-out row.
        n_synthetic, n_train, n_holdout: Row counts.
    """

    to_train: np.ndarray
    to_holdout: np.ndarray | None
    quantiles_train: dict[str, float]
    quantiles_holdout: dict[str, float] | None
    share_closer_to_train: float | None
    share_ties: float | None
    exact_copies: int
    exact_copies_holdout: int | None
    n_synthetic: int
    n_train: int
    n_holdout: int | None
    columns: list[str] = field(default_factory=list)

    def to_dict(self, *, rows: bool = False) -> dict[str, Any]:
        """JSON-ready summary; ``rows=True`` adds the per-row distances."""
        out: dict[str, Any] = {
            "quantiles_train": self.quantiles_train,
            "quantiles_holdout": self.quantiles_holdout,
            "median_to_train": self.quantiles_train.get("q50"),
            "share_closer_to_train": self.share_closer_to_train,
            "share_ties": self.share_ties,
            "exact_copies": int(self.exact_copies),
            "exact_copies_holdout": None if self.exact_copies_holdout is None else int(self.exact_copies_holdout),
            "n_synthetic": int(self.n_synthetic),
            "n_train": int(self.n_train),
            "n_holdout": None if self.n_holdout is None else int(self.n_holdout),
        }
        if rows:
            out["to_train"] = [float(v) for v in self.to_train]
            out["to_holdout"] = None if self.to_holdout is None else [float(v) for v in self.to_holdout]
        return out


class _Space:
    """Columns of one schema turned into arrays that :func:`_closest` compares."""

    def __init__(self, schema: TableSchema, columns: Sequence[str], train: pd.DataFrame) -> None:
        self.schema = schema
        self.numeric, self.categorical = split_kinds(schema, columns)
        typed = typed_frame(train, schema, self.numeric)
        values = typed.to_numpy(dtype="float64") if self.numeric else np.empty((len(train), 0))
        self.mean = np.nanmean(values, axis=0) if len(values) else np.zeros(values.shape[1])
        std = np.nanstd(values, axis=0) if len(values) else np.ones(values.shape[1])
        self.mean = np.where(np.isnan(self.mean), 0.0, self.mean)
        # a constant column still counts differences in its own unit
        self.std = np.where(np.isnan(std) | (std == 0), 1.0, std)

    def arrays(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        numbers = typed_frame(frame, self.schema, self.numeric).to_numpy(dtype="float64")
        numbers = (numbers - self.mean) / self.std if self.numeric else np.empty((len(frame), 0))
        if self.categorical:
            labels = typed_frame(frame, self.schema, self.categorical).to_numpy(dtype=object)
        else:
            labels = np.empty((len(frame), 0), dtype=object)
        return numbers, labels


def _closest(query: tuple[np.ndarray, np.ndarray], ref: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Distance from each query row to its closest reference row."""
    q_num, q_cat = query
    r_num, r_cat = ref
    n_query, n_ref = len(q_num), len(r_num)
    if n_ref == 0:
        return np.full(n_query, np.inf)
    # categories as shared integer codes so the comparison is vectorised
    codes_q = np.empty(q_cat.shape, dtype=np.int64)
    codes_r = np.empty(r_cat.shape, dtype=np.int64)
    for j in range(q_cat.shape[1]):
        _, inverse = np.unique(np.concatenate([q_cat[:, j], r_cat[:, j]]).astype(str), return_inverse=True)
        codes_q[:, j], codes_r[:, j] = inverse[:n_query], inverse[n_query:]
    q_missing, r_missing = np.isnan(q_num), np.isnan(r_num)
    q_fill, r_fill = np.where(q_missing, 0.0, q_num), np.where(r_missing, 0.0, r_num)
    width = max(1, q_num.shape[1] + q_cat.shape[1])
    step = max(1, _CHUNK_CELLS // max(1, n_ref * width))
    out = np.empty(n_query)
    for start in range(0, n_query, step):
        stop = min(n_query, start + step)
        diff = np.abs(q_fill[start:stop, None, :] - r_fill[None, :, :])
        qm, rm = q_missing[start:stop, None, :], r_missing[None, :, :]
        diff = np.where(qm & rm, 0.0, np.where(qm | rm, 1.0, diff))
        total = diff.sum(axis=2)
        total += (codes_q[start:stop, None, :] != codes_r[None, :, :]).sum(axis=2)
        out[start:stop] = total.min(axis=1)
    return out


def _quantiles(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {f"q{round(q * 100):02d}": float("nan") for q in QUANTILES}
    return {f"q{round(q * 100):02d}": float(np.quantile(values, q)) for q in QUANTILES}


def distance_to_closest_record(
    synthetic: pd.DataFrame,
    train: pd.DataFrame,
    holdout: pd.DataFrame | None = None,
    schema: TableSchema | None = None,
    *,
    columns: Sequence[str] | None = None,
) -> DCRResult:
    """Distance of every synthetic row to the closest real training row and the closest held-out row.

    Args:
        synthetic: Synthetic rows.
        train: Real rows the generator learned from; numbers are standardised on them.
        holdout: Real rows the generator never saw (optional; without it the share is None).
        schema: Column kinds; inferred from ``train`` when omitted.
        columns: Columns to compare (default: every schema column).

    Returns:
        Per-row distances, their quantiles, the share closer to train, and exact-copy counts.
    """
    schema = schema if schema is not None else TableSchema.from_dataframe(train)
    columns = list(columns) if columns is not None else schema.names
    space = _Space(schema, columns, train)
    syn = space.arrays(synthetic)
    to_train = _closest(syn, space.arrays(train))
    to_holdout = share = ties = holdout_copies = None
    if holdout is not None:
        to_holdout = _closest(syn, space.arrays(holdout))
        if len(to_train):
            share = float(np.mean(to_train < to_holdout - _EXACT))
            ties = float(np.mean(np.abs(to_train - to_holdout) <= _EXACT))
        holdout_copies = int(np.sum(to_holdout <= _EXACT))
    return DCRResult(
        to_train=to_train,
        to_holdout=to_holdout,
        quantiles_train=_quantiles(to_train),
        quantiles_holdout=None if to_holdout is None else _quantiles(to_holdout),
        share_closer_to_train=share,
        share_ties=ties,
        exact_copies=int(np.sum(to_train <= _EXACT)),
        exact_copies_holdout=holdout_copies,
        n_synthetic=len(synthetic),
        n_train=len(train),
        n_holdout=None if holdout is None else len(holdout),
        columns=columns,
    )


__all__ = ["QUANTILES", "DCRResult", "distance_to_closest_record"]
