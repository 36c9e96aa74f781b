"""Discriminator: tells real rows (label 1) from synthetic rows (label 0).

Its held-out accuracy is the score of θ (lower is better, 0.5 means it cannot tell). The encoder is fitted
once on the real training data; the classifier is updated incrementally, one update per iteration, as in the
method's description. Each update's held-out synthetic rows are kept so that every past θ can be re-scored by
the *current* discriminator, which makes scores from different iterations comparable.

The real side of every score is one fixed set of real rows the classifier never trains on (see
:func:`real_holdout`). Were each iteration's held-out real rows drawn from its batch instead, they would come
back as training rows in the next epoch: the classifier would learn them, and every θ from an earlier epoch
would re-score worse than it is, so the choice of the best θ would drift towards recent ones. The score is the
balanced accuracy (mean of the recall on the real and on the synthetic held-out rows), which is the plain
accuracy of the method when both sides have the same size and stays 0.5 at chance when they do not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..settings import DISCRIMINATORS
from ..table.schema import TableSchema
from ..table.values import canonical, canonical_strings, numeric_values

log = logging.getLogger(__name__)

KINDS = DISCRIMINATORS  # the kinds the settings accept
#: The level naming a column's missing-value indicator in :meth:`TableEncoder.feature_names`.
MISSING_FEATURE = "<missing>"


class TableEncoder:
    """One-hot for categories and booleans, standardised numbers and dates, missing indicators.

    It differs from the evaluation models' :class:`~mallm_gan.evaluation.encoding.TabularEncoder` because
    it must keep one feature space for a whole run while the classifier is updated incrementally: its
    levels come from the schema, not from the rows it is fitted on, and its missing indicators let it see a
    wrong missing rate, a tell of synthetic rows.
    """

    def __init__(self, schema: TableSchema) -> None:
        self.schema = schema

    def fit(self, real: pd.DataFrame) -> TableEncoder:
        self.numeric_: dict[str, tuple[float, float]] = {}
        self.levels_: dict[str, list[str]] = {}
        self.with_missing_: set[str] = set()
        for column in self.schema.columns:
            values = real[column.name]
            if values.isna().any() or column.nullable:
                self.with_missing_.add(column.name)
            if column.kind in ("numerical", "datetime"):
                numbers = numeric_values(values, column.kind)
                numbers = numbers[~np.isnan(numbers)]
                mean = float(numbers.mean()) if len(numbers) else 0.0
                std = float(numbers.std(ddof=0)) if len(numbers) > 1 else 0.0
                self.numeric_[column.name] = (mean, std if std > 0 else 1.0)
            else:
                cats = list(column.categories or ()) if column.kind == "categorical" else [True, False]
                self.levels_[column.name] = [canonical(c) for c in cats]
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        blocks: list[np.ndarray] = []
        for column in self.schema.columns:
            values = frame[column.name]
            missing = values.isna().to_numpy()
            if column.name in self.numeric_:
                mean, std = self.numeric_[column.name]
                numbers = numeric_values(values, column.kind)
                blocks.append(np.nan_to_num((numbers - mean) / std, nan=0.0)[:, None])
            else:
                keys = canonical_strings(values)
                levels = self.levels_[column.name]
                onehot = np.zeros((len(frame), len(levels)))
                index = {level: i for i, level in enumerate(levels)}
                for row, key in enumerate(keys):
                    pos = index.get(key)
                    if pos is not None:
                        onehot[row, pos] = 1.0
                blocks.append(onehot)
            if column.name in self.with_missing_:
                blocks.append(missing.astype("float64")[:, None])
        return np.hstack(blocks) if blocks else np.zeros((len(frame), 0))

    def feature_names(self) -> list[tuple[str, str | None]]:
        """(column, level) of each encoded feature, in :meth:`transform`'s order: level None for a number,
        the category's key for a one-hot, ``"<missing>"`` for a missing indicator."""
        names: list[tuple[str, str | None]] = []
        for column in self.schema.columns:
            if column.name in self.numeric_:
                names.append((column.name, None))
            else:
                names.extend((column.name, level) for level in self.levels_[column.name])
            if column.name in self.with_missing_:
                names.append((column.name, MISSING_FEATURE))
        return names


def real_holdout(n: int, test_size: float, seed: int) -> np.ndarray:
    """Indices (sorted) of the real training rows that every θ is scored on and the classifier never sees.

    ``round(test_size * n)`` rows, at least one and, from two rows up, at least one fewer than ``n``.
    """
    if n < 1:
        return np.zeros(0, dtype=int)
    size = int(round(n * test_size))
    size = max(1, min(size, n - 1)) if n >= 2 else 1
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


@dataclass
class Update:
    """What one iteration's update saw; enough to replay it exactly. ``x_test`` holds synthetic rows only."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray


class Discriminator:
    """Real-vs-synthetic classifier with incremental updates.

    Args:
        schema: Table schema (drives the encoder).
        kind: ``logistic`` (default; logistic regression trained by SGD, updated with ``partial_fit``) or
            ``xgboost`` (boosting continued from the previous booster each update; needs the xgboost extra).
        test_size: Share of each iteration's synthetic rows held out to score θ (the real held-out rows are
            given to :meth:`fit_encoder`).
        epochs_per_update: Passes over each iteration's training part.
        random_state: Seed of the split and of the classifier.
    """

    def __init__(
        self,
        schema: TableSchema,
        *,
        kind: str = "logistic",
        test_size: float = 0.3,
        epochs_per_update: int = 20,
        random_state: int | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ConfigError(f"discriminator must be one of {list(KINDS)}, got {kind!r}")
        if not 0 < test_size < 1:
            raise ConfigError(f"test_size must be between 0 and 1, got {test_size}")
        self.schema = schema
        self.kind = kind
        self.test_size = test_size
        self.epochs_per_update = epochs_per_update
        self.random_state = random_state
        self.n_updates_ = 0

    def fit_encoder(self, real: pd.DataFrame, holdout: pd.DataFrame | None = None) -> Discriminator:
        """Fit the encoder on all real training rows and keep ``holdout``, the real rows every θ is scored on.

        The caller must leave the holdout rows out of the real rows it passes to :meth:`split`.
        """
        self.encoder_ = TableEncoder(self.schema).fit(real)
        empty = np.zeros((0, self.encoder_.transform(real.iloc[:0]).shape[1]))
        self.x_holdout_ = self.encoder_.transform(holdout) if holdout is not None and len(holdout) else empty
        self._model = None
        self._booster = None
        self.n_updates_ = 0
        self._real_recall: tuple[int, float] | None = None
        return self

    def split(self, real: pd.DataFrame, synthetic: pd.DataFrame, seed: int) -> Update:
        """Encode one iteration's rows: the real rows (holdout excluded) and part of the synthetic ones train
        the classifier; the rest of the synthetic rows (``test_size`` of them, at least one of two or more) are
        held out to score θ."""
        x_real = self.encoder_.transform(real)
        x_synthetic = self.encoder_.transform(synthetic)
        n = len(x_synthetic)
        n_test = int(round(n * self.test_size))
        if n >= 2:
            n_test = min(max(n_test, 1), n - 1)
        test_mask = np.zeros(n, dtype=bool)
        test_mask[np.random.default_rng(seed).choice(n, size=n_test, replace=False)] = True
        x_train = np.vstack([x_real, x_synthetic[~test_mask]])
        y_train = np.concatenate([np.ones(len(x_real)), np.zeros(int((~test_mask).sum()))])
        return Update(x_train, y_train, x_synthetic[test_mask])

    def update(self, part: Update, seed: int) -> float:
        """Train on ``part``'s training rows (incrementally) and return θ's score (see :meth:`score`)."""
        if len(part.y_train) == 0:
            log.debug("update %d has no training rows; the classifier is unchanged", self.n_updates_)
        elif self.kind == "logistic":
            self._update_logistic(part, seed)
        else:
            self._update_xgboost(part, seed)
        self.n_updates_ += 1
        return self.score(part.x_test)

    def _update_logistic(self, part: Update, seed: int) -> None:
        from sklearn.linear_model import SGDClassifier

        if self._model is None:
            self._model = SGDClassifier(
                loss="log_loss", alpha=1e-3, learning_rate="optimal", random_state=self.random_state,
                shuffle=False,  # the passes are shuffled below, reproducibly
            )
        rng = np.random.default_rng(seed)
        # every pass in one call: each partial_fit call costs ~2 ms of scikit-learn overhead
        order = np.concatenate([rng.permutation(len(part.y_train)) for _ in range(self.epochs_per_update)])
        self._model.partial_fit(part.x_train[order], part.y_train[order], classes=np.array([0.0, 1.0]))

    def _update_xgboost(self, part: Update, seed: int) -> None:
        try:
            import xgboost as xgb
        except ImportError as exc:
            raise ConfigError(
                "the xgboost discriminator needs xgboost: pip install 'mallm-gan[xgboost]'"
            ) from exc
        dtrain = xgb.DMatrix(part.x_train, label=part.y_train)
        params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "seed": seed, "nthread": 1,
                  "verbosity": 0}
        self._booster = xgb.train(params, dtrain, num_boost_round=10, xgb_model=self._booster)

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "logistic":
            if self._model is None:
                return np.ones(len(x))
            return self._model.predict(x)
        if self._booster is None:
            return np.ones(len(x))
        import xgboost as xgb

        return (self._booster.predict(xgb.DMatrix(x)) >= 0.5).astype(float)

    def feature_weights(self) -> np.ndarray | None:
        """How much the current classifier leans on each encoded feature (None before the first update).

        The logistic regression's coefficients (signed: positive pushes towards "real"); the XGBoost
        booster's total gain per feature (unsigned, 0 for features it never split on).
        """
        width = self.x_holdout_.shape[1]
        if self.kind == "logistic":
            return None if self._model is None else np.asarray(self._model.coef_[0], dtype=float)
        if self._booster is None:
            return None
        gains = self._booster.get_score(importance_type="total_gain")
        weights = np.zeros(width)
        for name, gain in gains.items():
            index = int(name.lstrip("f"))
            if index < width:
                weights[index] = float(gain)
        return weights

    def real_recall(self) -> float | None:
        """Share of the real holdout rows the current classifier calls real (None without a holdout)."""
        if len(self.x_holdout_) == 0:
            return None
        if self._real_recall is None or self._real_recall[0] != self.n_updates_:
            self._real_recall = (self.n_updates_, float(np.mean(self.predict(self.x_holdout_) == 1.0)))
        return self._real_recall[1]

    def synthetic_recall(self, x_synthetic: np.ndarray) -> float | None:
        """Share of the synthetic rows ``x_synthetic`` the current classifier calls synthetic (None if empty)."""
        return float(np.mean(self.predict(x_synthetic) == 0.0)) if len(x_synthetic) else None

    def score(self, x_synthetic: np.ndarray) -> float:
        """Balanced accuracy on the real holdout and the held-out synthetic rows ``x_synthetic``.

        One side missing leaves the other's recall; both missing score 0.5 (no information).
        """
        recalls = [r for r in (self.synthetic_recall(x_synthetic), self.real_recall()) if r is not None]
        return float(np.mean(recalls)) if recalls else 0.5
