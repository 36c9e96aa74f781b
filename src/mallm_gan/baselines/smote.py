"""SMOTE baseline (imbalanced-learn): new rows interpolated between a row and a neighbour of its class.

The variant follows the column types: ``SMOTE`` when every feature is numerical, ``SMOTEN`` when every
feature is categorical, ``SMOTENC`` for a mix. Rows are generated within the classes of the target, in
proportion to the class sizes of the training rows, so ``sample(len(train))`` has the training set's size
and class balance. Only newly interpolated rows are returned, never the training rows themselves.

A regression target has no classes: it is cut into up to 5 quantile bins that play the classes (the target
itself is interpolated like any other number). Without a target every row is one class.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .base import BaseSynthesizer, MissingExtraError

logger = logging.getLogger(__name__)

_PLACEHOLDER = "<placeholder>"
MAX_REGRESSION_BINS = 5


def _import_imblearn():
    try:
        from imblearn import over_sampling
    except ImportError as exc:
        raise MissingExtraError(
            "the SMOTE baseline needs imbalanced-learn: pip install 'mallm-gan[baselines]'"
        ) from exc
    return over_sampling


class SmoteBaseline(BaseSynthesizer):
    """SMOTE / SMOTENC / SMOTEN within the classes of the target.

    Args:
        k_neighbors: Neighbours to interpolate towards (lowered for classes with fewer rows).
        random_state: Seed.
    """

    name = "smote"

    def __init__(self, k_neighbors: int = 5, random_state: int | None = None) -> None:
        super().__init__(random_state=random_state)
        self.k_neighbors = k_neighbors

    def _classes(self, plain: pd.DataFrame) -> np.ndarray:
        schema = self.schema_
        if schema.target is None:
            return np.full(len(plain), "all", dtype=object)
        if schema.task == "regression":
            bins = min(MAX_REGRESSION_BINS, max(1, len(plain) // 4))
            codes = pd.qcut(plain[schema.target].rank(method="first"), q=bins, labels=False)
            return np.array([f"bin{c}" for c in codes], dtype=object)
        return plain[schema.target].to_numpy(dtype=object)

    def _fit(self, plain: pd.DataFrame) -> None:
        if self.k_neighbors < 1:
            raise ConfigError(f"k_neighbors must be >= 1, got {self.k_neighbors}")
        classes = self._classes(plain)
        counts = pd.Series(classes).value_counts()
        usable = counts[counts >= 2]
        if usable.empty:
            raise ConfigError("SMOTE needs a class with at least 2 rows to interpolate between")
        if len(usable) < len(counts):
            logger.info("SMOTE: classes with a single row cannot be interpolated: %s", list(counts[counts < 2].index))
        self.plain_ = plain
        self.classes_ = classes
        self.shares_ = usable / usable.sum()
        # the class column of a classification target is the label, not a feature
        label = self.schema_.target if self.schema_.task == "classification" else None
        self.features_ = [c for c in plain.columns if c != label]

    def _allocate(self, n: int) -> pd.Series:
        """Rows per class, proportional to class size (largest remainders get the leftovers)."""
        exact = self.shares_ * n
        counts = np.floor(exact).astype(int)
        leftover = n - int(counts.sum())
        order = np.argsort(-(exact - counts).to_numpy(), kind="stable")
        counts.iloc[order[:leftover]] += 1
        return counts

    def _sample(self, n: int) -> pd.DataFrame:
        over_sampling = _import_imblearn()
        wanted = self._allocate(n)
        wanted = wanted[wanted > 0]
        x = self.plain_[self.features_].reset_index(drop=True)
        y = pd.Series(self.classes_, dtype=object)
        # imbalanced-learn refuses a single class; a placeholder row that is never oversampled fills in
        keep = y.isin(wanted.index).to_numpy()
        x, y = x[keep].reset_index(drop=True), y[keep].reset_index(drop=True)
        if y.nunique() < 2:
            x = pd.concat([x, x.iloc[[0]]], ignore_index=True)
            y = pd.concat([y, pd.Series([_PLACEHOLDER], dtype=object)], ignore_index=True)
        sizes = y.value_counts()
        strategy = {c: int(sizes[c] + wanted[c]) for c in wanted.index}
        k = int(min(self.k_neighbors, min(sizes[c] for c in wanted.index) - 1))
        categorical = [c for c in self.features_ if c in self.codec_.categorical]
        seed = int(self.rng_.integers(2**31 - 1))
        if not categorical:
            sampler = over_sampling.SMOTE(sampling_strategy=strategy, k_neighbors=k, random_state=seed)
        elif len(categorical) == len(self.features_):
            sampler = over_sampling.SMOTEN(sampling_strategy=strategy, k_neighbors=k, random_state=seed)
        else:
            sampler = over_sampling.SMOTENC(
                categorical_features=categorical, sampling_strategy=strategy, k_neighbors=k, random_state=seed
            )
        x_new, y_new = sampler.fit_resample(x, y.to_numpy(dtype=object))
        # imbalanced-learn appends the generated rows after the originals
        new = pd.DataFrame(x_new, columns=self.features_).iloc[len(x) :].reset_index(drop=True)
        labels = np.asarray(y_new, dtype=object)[len(x) :]
        if self.schema_.task == "classification":
            new[self.schema_.target] = labels
        order = self.rng_.permutation(len(new))
        return new.iloc[order][self.plain_.columns].reset_index(drop=True)


__all__ = ["SmoteBaseline"]
