"""Baseline generators behind one interface: ``fit(train, schema) -> self``, ``sample(n) -> DataFrame``.

* ``smote`` - imbalanced-learn's SMOTE / SMOTENC / SMOTEN within the target's classes
  (``pip install 'mallm-gan[baselines]'``).
* ``gaussian-copula`` - a Gaussian copula with empirical marginals, implemented here (no SDV: its
  BUSL-1.1 licence is not an open-source licence).
* ``ctgan``, ``tvae`` - the standalone ``ctgan`` package (``pip install 'mallm-gan[gan]'``, in an
  environment with pandas < 3).

Every baseline returns rows cast to the schema, with numbers inside [min, max] at the column's precision and
only legal categories.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .base import BaseSynthesizer, MissingExtraError, TableCodec
from .copula import GaussianCopulaBaseline
from .gan import CTGANBaseline, TVAEBaseline
from .smote import SmoteBaseline

BASELINES: dict[str, type[BaseSynthesizer]] = {
    "smote": SmoteBaseline,
    "gaussian-copula": GaussianCopulaBaseline,
    "ctgan": CTGANBaseline,
    "tvae": TVAEBaseline,
}


def make_baseline(name: str, random_state: int | None = None, **params: Any) -> BaseSynthesizer:
    """A baseline by name (``smote``, ``gaussian-copula``, ``ctgan``, ``tvae``).

    Args:
        name: Baseline name.
        random_state: Seed.
        **params: Constructor parameters of that baseline (e.g. ``epochs`` for ctgan/tvae).

    Raises:
        ConfigError: unknown name or parameter.
    """
    if name not in BASELINES:
        raise ConfigError(f"unknown baseline {name!r}; choose from {sorted(BASELINES)}")
    try:
        return BASELINES[name](random_state=random_state, **params)
    except TypeError as exc:
        raise ConfigError(f"bad parameter for baseline {name!r}: {exc}") from exc


__all__ = [
    "BASELINES",
    "BaseSynthesizer",
    "CTGANBaseline",
    "GaussianCopulaBaseline",
    "MissingExtraError",
    "SmoteBaseline",
    "TVAEBaseline",
    "TableCodec",
    "make_baseline",
]
