"""Gaussian copula baseline, written here rather than taken from SDV (whose licence, BUSL-1.1, is not open).

Fit: every column is mapped to normal scores through its own empirical marginal; numbers by their
mid-ranks, ``u = rank / (n + 1)``; categories by frequency-ordered codes, each category owning an
interval of [0, 1] as wide as its frequency (most frequent first) and each row drawn uniformly inside its
category's interval. The correlation matrix of the normal scores is the copula.

Sample: draw from the multivariate normal with that correlation, map each coordinate back to [0, 1] with
the normal CDF and then through the inverse marginal: the empirical quantile function (linear between
observed values) for numbers, the interval lookup for categories.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from .base import BaseSynthesizer

_EPS = 1e-6


class GaussianCopulaBaseline(BaseSynthesizer):
    """Gaussian copula with empirical marginals.

    Args:
        random_state: Seed of the category jitter and of sampling.
    """

    name = "gaussian-copula"

    def _fit(self, plain: pd.DataFrame) -> None:
        n = len(plain)
        scores = np.empty((n, plain.shape[1]))
        self.marginals_: dict[str, tuple[str, np.ndarray, np.ndarray | None]] = {}
        for j, name in enumerate(plain.columns):
            if name in self.codec_.categorical:
                counts = pd.Series(plain[name].to_numpy(dtype=object)).value_counts(sort=True)
                labels = np.array(counts.index, dtype=object)
                edges = np.r_[0.0, np.cumsum(counts.to_numpy()) / n]
                code = pd.Series(range(len(labels)), index=labels)[plain[name].to_numpy(dtype=object)].to_numpy()
                u = edges[code] + self.rng_.random(n) * (edges[code + 1] - edges[code])
                self.marginals_[name] = ("categorical", labels, edges)
            else:
                values = plain[name].to_numpy(dtype="float64")
                u = rankdata(values) / (n + 1)
                self.marginals_[name] = ("numerical", np.sort(values), None)
            scores[:, j] = norm.ppf(np.clip(u, _EPS, 1 - _EPS))
        self.correlation_ = _correlation(scores)

    def _sample(self, n: int) -> pd.DataFrame:
        dims = len(self.marginals_)
        z = self.rng_.multivariate_normal(np.zeros(dims), self.correlation_, size=n, method="eigh")
        u = norm.cdf(z)
        out = {}
        for j, (name, (kind, values, edges)) in enumerate(self.marginals_.items()):
            if kind == "categorical":
                index = np.clip(np.searchsorted(edges, u[:, j], side="right") - 1, 0, len(values) - 1)
                out[name] = values[index]
            else:
                # empirical quantile function, linear between the observed values
                out[name] = np.quantile(values, u[:, j])
        return pd.DataFrame(out)


def _correlation(scores: np.ndarray) -> np.ndarray:
    """Correlation of the normal scores, made positive semi-definite; constant columns stay independent."""
    dims = scores.shape[1]
    if dims == 0 or len(scores) < 2:
        return np.eye(dims)
    std = scores.std(axis=0)
    varying = std > 0
    corr = np.eye(dims)
    if varying.sum() >= 2:
        corr[np.ix_(varying, varying)] = np.corrcoef(scores[:, varying], rowvar=False)
    corr = np.nan_to_num(corr, nan=0.0)
    np.fill_diagonal(corr, 1.0)
    # with fewer rows than columns the estimate is singular or slightly indefinite: clip the spectrum
    eigenvalues, vectors = np.linalg.eigh(corr)
    corr = (vectors * np.clip(eigenvalues, 1e-6, None)) @ vectors.T
    scale = np.sqrt(np.diag(corr))
    return corr / np.outer(scale, scale)


__all__ = ["GaussianCopulaBaseline"]
