"""How much the synthetic rows look like the real ones: column shapes, pair trends and a detection test.

The formulas follow the ones popularised by SDMetrics' quality report, written out here because the
``sdmetrics`` package forces pandas < 3 and this project runs on pandas 3:

* **Column shape** (one column): numerical and datetime columns score ``1 - KS``, the two-sample
  Kolmogorov-Smirnov statistic between the real and synthetic values; categorical and boolean columns
  score ``1 - TVD``, the total variation distance between the category frequencies (missing is a category).
* **Pair trend** (two columns): two numerical columns score ``1 - |corr_real - corr_syn| / 2`` with
  Pearson correlations; other pairs score ``1 - TVD`` of their contingency tables, numbers being cut into
  10 bins whose edges come from the real values.
* **Detection**: a logistic regression learns to tell real rows (label 0) from synthetic ones (label 1)
  under stratified group k-fold cross-validation (identical rows share a fold); the mean ROC AUC over
  the folds is reported. Indistinguishable
  data gives about 0.5, perfectly separable data 1.0. ``detection_score = 1 - (2 * max(AUC, 0.5) - 1)``
  maps that to 1 (undetectable) ... 0 (always detected).

All scores lie in [0, 1] and equal 1 for identical data (detection: AUC about 0.5).
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from ..table.schema import TableSchema
from .encoding import MISSING, TabularEncoder, split_kinds, typed_frame

N_BINS = 10
PAIR_SEPARATOR = " | "


@dataclass
class FidelityResult:
    """Column shapes, pair trends and detection of one synthetic table against the real one.

    Attributes:
        column_shapes: Column -> shape similarity in [0, 1].
        column_pair_trends: (column, column) -> trend similarity in [0, 1]; None when undefined
            (a constant numerical column has no correlation).
        shape_score, trend_score: Means of the above (undefined pairs left out).
        detection_auc: Mean cross-validated ROC AUC of a real-vs-synthetic classifier (None if too few rows).
        detection_score: ``1 - (2 * max(AUC, 0.5) - 1)``.
        notes: Why something was left out.
    """

    column_shapes: dict[str, float]
    column_pair_trends: dict[tuple[str, str], float | None]
    shape_score: float
    trend_score: float | None
    detection_auc: float | None
    detection_score: float | None
    notes: list[str] = field(default_factory=list)

    @property
    def overall(self) -> float:
        """Mean of the shape and trend scores (the shape score alone for a one-column table)."""
        parts = [s for s in (self.shape_score, self.trend_score) if s is not None]
        return float(np.mean(parts))

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall": _json_float(self.overall),
            "shape_score": _json_float(self.shape_score),
            "trend_score": _json_float(self.trend_score),
            "detection_auc": _json_float(self.detection_auc),
            "detection_score": _json_float(self.detection_score),
            "column_shapes": {k: _json_float(v) for k, v in self.column_shapes.items()},
            "column_pair_trends": {PAIR_SEPARATOR.join(k): _json_float(v) for k, v in self.column_pair_trends.items()},
            "notes": list(self.notes),
        }


def _json_float(value: float | None) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return float(value)


def _tvd(real: np.ndarray, synthetic: np.ndarray) -> float:
    """Total variation distance between the value frequencies of two label arrays."""
    if len(real) == 0 or len(synthetic) == 0:
        return 0.0 if len(real) == len(synthetic) else 1.0
    real_freq = pd.Series(real).value_counts(normalize=True)
    syn_freq = pd.Series(synthetic).value_counts(normalize=True)
    joined = pd.concat([real_freq, syn_freq], axis=1).fillna(0.0).to_numpy()
    return float(0.5 * np.abs(joined[:, 0] - joined[:, 1]).sum())


def _shape(real: pd.Series, synthetic: pd.Series, numeric: bool) -> float:
    if numeric:
        r, s = real.to_numpy(dtype="float64"), synthetic.to_numpy(dtype="float64")
        r, s = r[~np.isnan(r)], s[~np.isnan(s)]
        if len(r) == 0 or len(s) == 0:
            return 1.0 if len(r) == len(s) else 0.0
        with warnings.catch_warnings():
            # scipy falls back from the exact to the asymptotic p-value on ties; only the statistic is used
            warnings.simplefilter("ignore", RuntimeWarning)
            return float(1.0 - ks_2samp(r, s).statistic)
    return 1.0 - _tvd(real.to_numpy(dtype=object), synthetic.to_numpy(dtype=object))


def _bins(real: pd.Series, values: pd.Series) -> np.ndarray:
    """Bin labels of ``values`` with edges from the real values; missing is a bin of its own."""
    ref = real.to_numpy(dtype="float64")
    ref = ref[~np.isnan(ref)]
    edges = np.histogram_bin_edges(ref, bins=N_BINS) if len(ref) else np.array([0.0, 1.0])
    numbers = values.to_numpy(dtype="float64")
    # values beyond the real range land in the outer bins rather than in bins of their own
    index = np.clip(np.searchsorted(edges, numbers, side="right") - 1, 0, len(edges) - 2)
    labels = np.array([f"bin{i}" for i in index], dtype=object)
    labels[np.isnan(numbers)] = MISSING
    return labels


def _pair(real: pd.DataFrame, synthetic: pd.DataFrame, a: str, b: str, numeric: set[str]) -> float | None:
    if a in numeric and b in numeric:
        corr = []
        for frame in (real, synthetic):
            both = frame[[a, b]].dropna().to_numpy(dtype="float64")
            if len(both) < 2 or np.std(both[:, 0]) == 0 or np.std(both[:, 1]) == 0:
                return None
            corr.append(float(np.corrcoef(both[:, 0], both[:, 1])[0, 1]))
        return 1.0 - abs(corr[0] - corr[1]) / 2.0

    def labels(frame: pd.DataFrame, column: str) -> np.ndarray:
        if column in numeric:
            return _bins(real[column], frame[column])
        return frame[column].to_numpy(dtype=object)

    joint_real = np.char.add(np.char.add(labels(real, a).astype(str), "\x1f"), labels(real, b).astype(str))
    joint_syn = np.char.add(np.char.add(labels(synthetic, a).astype(str), "\x1f"), labels(synthetic, b).astype(str))
    return 1.0 - _tvd(joint_real, joint_syn)


def _row_groups(rows: pd.DataFrame, schema: TableSchema) -> np.ndarray:
    """One group id per distinct row (by canonical values)."""
    typed = typed_frame(rows, schema, schema.names).astype(str)
    keys = typed.apply(lambda row: "\x1f".join(row), axis=1) if len(typed.columns) else typed.index.astype(str)
    return pd.factorize(keys)[0]


def detection_auc(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: TableSchema | None = None,
    *,
    folds: int = 5,
    random_state: int = 0,
) -> float | None:
    """Mean ROC AUC of a logistic regression telling real (0) from synthetic (1) rows, stratified k-fold CV.

    Rows with identical values stay in the same fold (stratified *group* k-fold). Otherwise a synthetic
    row that copies a real one would be learnt with the opposite label of its twin in the scoring fold,
    pushing the AUC of indistinguishable data well below 0.5 instead of to 0.5.

    Returns None when either side has fewer than 2 rows.
    """
    schema = schema if schema is not None else TableSchema.from_dataframe(real)
    if min(len(real), len(synthetic)) < 2:
        return None
    rows = pd.concat([real[schema.names], synthetic[schema.names]], ignore_index=True)
    labels = np.r_[np.zeros(len(real), dtype=int), np.ones(len(synthetic), dtype=int)]
    groups = _row_groups(rows, schema)
    n_splits = min(folds, len(real), len(synthetic), int(groups.max()) + 1)
    if n_splits < 2:
        # every row, real or synthetic, has the same values: nothing can tell them apart
        return 0.5
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    aucs = []
    for fit_index, score_index in splitter.split(np.zeros(len(labels)), labels, groups):
        if len(np.unique(labels[fit_index])) < 2 or len(np.unique(labels[score_index])) < 2:
            continue
        encoder = TabularEncoder(schema, schema.names).fit(rows.iloc[fit_index])
        model = LogisticRegression(max_iter=1000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(encoder.transform(rows.iloc[fit_index]), labels[fit_index])
        scores = model.predict_proba(encoder.transform(rows.iloc[score_index]))[:, 1]
        aucs.append(roc_auc_score(labels[score_index], scores))
    return float(np.mean(aucs)) if aucs else None


def fidelity(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: TableSchema | None = None,
    *,
    detection: bool = True,
    random_state: int = 0,
) -> FidelityResult:
    """Shape, pair-trend and detection scores of ``synthetic`` against ``real``.

    Args:
        real: Real rows (usually the training rows the generator saw).
        synthetic: Synthetic rows with the same columns.
        schema: Column kinds; inferred from ``real`` when omitted.
        detection: Also run the cross-validated detection classifier.
        random_state: Seed of the detection folds.
    """
    schema = schema if schema is not None else TableSchema.from_dataframe(real)
    numeric_cols, _ = split_kinds(schema, schema.names)
    numeric = set(numeric_cols)
    typed_real = typed_frame(real, schema, schema.names)
    typed_syn = typed_frame(synthetic, schema, schema.names)
    shapes = {c: _shape(typed_real[c], typed_syn[c], c in numeric) for c in schema.names}
    trends = {(a, b): _pair(typed_real, typed_syn, a, b, numeric) for a, b in itertools.combinations(schema.names, 2)}
    defined = [v for v in trends.values() if v is not None]
    notes = []
    if len(defined) < len(trends):
        notes.append(f"{len(trends) - len(defined)} pair(s) with a constant numerical column left out")
    auc = detection_auc(real, synthetic, schema, random_state=random_state) if detection else None
    if detection and auc is None:
        notes.append("detection needs at least 2 real and 2 synthetic rows")
    return FidelityResult(
        column_shapes=shapes,
        column_pair_trends=trends,
        shape_score=float(np.mean(list(shapes.values()))),
        trend_score=float(np.mean(defined)) if defined else None,
        detection_auc=auc,
        detection_score=None if auc is None else 1.0 - (2.0 * max(auc, 0.5) - 1.0),
        notes=notes,
    )


__all__ = ["FidelityResult", "detection_auc", "fidelity"]
