"""Distance to closest record (DCR): how near each synthetic row lies to a real one.

For every synthetic row we find the closest real training row and the closest real held-out row, by the one
project distance (:class:`~mallm_gan.table.distance.MixedDistance`, the distance the release gate uses):
numbers and dates divided by their spread over the training rows and compared by absolute difference (L1);
a categorical mismatch counts 1; a missing value is 0 from another missing value and 1 from anything else.
A generator that copies its training rows has many distances of 0 to train and a share of rows "closer to
train than to holdout" well above what fresh draws from the same population give. (That reference share
is 0.5 only when train and holdout have the same size: a larger training set is closer more often.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..table.distance import MixedDistance
from ..table.schema import TableSchema

QUANTILES: tuple[float, ...] = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95)
EXACT = 1e-9
BOOTSTRAP = 500


@dataclass
class DCRResult:
    """Distances of synthetic rows to their closest real rows.

    Attributes:
        to_train: Per synthetic row, distance to the closest training row.
        to_holdout: Per synthetic row, distance to the closest held-out row (None without a holdout).
        quantiles_train, quantiles_holdout: Quantiles of those distances, keyed ``"q05"`` etc.
        share_closer_to_train: Share of synthetic rows strictly closer to train than to holdout.
        share_interval: 95% bootstrap interval of that share (synthetic rows resampled).
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
    share_interval: tuple[float, float] | None = None

    def to_dict(self, *, rows: bool = False) -> dict[str, Any]:
        """JSON-ready summary; ``rows=True`` adds the per-row distances."""
        out: dict[str, Any] = {
            "quantiles_train": self.quantiles_train,
            "quantiles_holdout": self.quantiles_holdout,
            "median_to_train": self.quantiles_train.get("q50"),
            "share_closer_to_train": self.share_closer_to_train,
            "share_interval": None if self.share_interval is None else list(self.share_interval),
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
    random_state: int = 0,
) -> DCRResult:
    """Distance of every synthetic row to the closest real training row and the closest held-out row.

    Args:
        synthetic: Synthetic rows.
        train: Real rows the generator learned from; numbers are standardised on them.
        holdout: Real rows the generator never saw (optional; without it the share is None).
        schema: Column kinds; inferred from ``train`` when omitted.
        columns: Columns to compare (default: every schema column).
        random_state: Seed of the bootstrap interval of the share.

    Returns:
        Per-row distances, their quantiles, the share closer to train, and exact-copy counts.
    """
    schema = schema if schema is not None else TableSchema.from_dataframe(train)
    columns = list(columns) if columns is not None else schema.names
    distance = MixedDistance(schema, columns).fit(train)
    syn = distance.encode(synthetic)
    to_train = distance.closest(syn, distance.encode(train))
    to_holdout = share = ties = holdout_copies = interval = None
    if holdout is not None:
        to_holdout = distance.closest(syn, distance.encode(holdout))
        if len(to_train):
            closer = to_train < to_holdout - EXACT
            share = float(np.mean(closer))
            ties = float(np.mean(np.abs(to_train - to_holdout) <= EXACT))
            interval = bootstrap_interval(lambda idx: float(np.mean(closer[idx])), len(closer), random_state)
        holdout_copies = int(np.sum(to_holdout <= EXACT))
    return DCRResult(
        to_train=to_train,
        to_holdout=to_holdout,
        quantiles_train=_quantiles(to_train),
        quantiles_holdout=None if to_holdout is None else _quantiles(to_holdout),
        share_closer_to_train=share,
        share_ties=ties,
        exact_copies=int(np.sum(to_train <= EXACT)),
        exact_copies_holdout=holdout_copies,
        n_synthetic=len(synthetic),
        n_train=len(train),
        n_holdout=None if holdout is None else len(holdout),
        columns=columns,
        share_interval=interval,
    )


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float], n: int, random_state: int, *, rounds: int = BOOTSTRAP
) -> tuple[float, float]:
    """95% percentile interval of ``statistic(indices)`` over ``rounds`` resamples of ``n`` rows."""
    rng = np.random.default_rng(random_state)
    values = np.array([statistic(rng.integers(0, n, n)) for _ in range(rounds)])
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    return float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))


__all__ = ["EXACT", "QUANTILES", "DCRResult", "bootstrap_interval", "distance_to_closest_record"]
