"""Machine-learning efficacy (MLE) as in the MALLM-GAN paper: train on synthetic rows, test on real ones.

Classification: logistic regression, random forest, SVM and XGBoost, scored by weighted F1 (and accuracy).
Regression: linear regression, random forest and XGBoost, scored by R². The paper reports the best model's
score; the same function fitted on the real training rows gives the "Real data" reference row.

Encoders are fitted on the training side only, so nothing about the test rows leaks into the models; a
category seen only in the test rows encodes as all zeros instead of failing.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, r2_score
from sklearn.preprocessing import LabelEncoder
from sklearn.svm import SVC

from ..errors import ConfigError, SchemaError
from ..table.schema import TASKS, TableSchema
from .encoding import MISSING, TabularEncoder, canonical_strings

CLASSIFIERS: tuple[str, ...] = ("logistic_regression", "random_forest", "svm", "xgboost")
REGRESSORS: tuple[str, ...] = ("linear_regression", "random_forest", "xgboost")
XGBOOST_HINT = "xgboost is not installed; pip install 'mallm-gan[xgboost]' (it brings xgboost-cpu)"


@dataclass
class EfficacyResult:
    """Scores of every model trained on ``train_like`` and tested on the real test rows.

    Attributes:
        task: ``classification`` or ``regression``.
        target: Target column.
        metric: The headline metric, ``f1`` (weighted) or ``r2``.
        scores: Model name -> {metric name -> value}; classification has ``f1`` and ``accuracy``.
        best_model: The model with the highest headline metric (None if no model could be scored).
        best_score: Its headline metric.
        n_train, n_test: Rows used after dropping rows whose target is missing.
        notes: Skipped models, constant predictions and dropped rows, in words.
    """

    task: str
    target: str
    metric: str
    scores: dict[str, dict[str, float]]
    best_model: str | None
    best_score: float | None
    n_train: int
    n_test: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "target": self.target,
            "metric": self.metric,
            "scores": {m: {k: float(v) for k, v in s.items()} for m, s in self.scores.items()},
            "best_model": self.best_model,
            "best_score": None if self.best_score is None else float(self.best_score),
            "n_train": int(self.n_train),
            "n_test": int(self.n_test),
            "notes": list(self.notes),
        }


def resolve_schema(
    data: pd.DataFrame, *, target: str | None, task: str | None, schema: TableSchema | None
) -> TableSchema:
    """``schema`` (or one inferred from ``data``) with ``target`` and ``task`` applied.

    An explicit ``task`` wins over inference, e.g. ``regression`` for a 0/1 target read as categories.
    """
    if task is not None and task not in TASKS:
        raise ConfigError(f"task must be one of {list(TASKS)}, got {task!r}")
    if schema is None:
        if target is not None and target not in data.columns:
            raise SchemaError(
                f"target column {target!r} is not in the data; columns are {list(data.columns)}",
                column=target,
            )
        schema = TableSchema.from_dataframe(data)
    target = target if target is not None else schema.target
    if target is None:
        raise ConfigError("a target column is needed to measure machine-learning efficacy")
    if target not in schema:
        raise SchemaError(f"target column {target!r} is not in the schema; columns are {schema.names}", column=target)
    inferred = schema.task if schema.target == target else None
    task = task or inferred or ("regression" if schema[target].kind == "numerical" else "classification")
    return replace(schema, target=target, task=task)


def _targets(frame: pd.DataFrame, target: str, task: str) -> tuple[np.ndarray, np.ndarray]:
    """(target values, mask of usable rows)."""
    if task == "classification":
        labels = canonical_strings(frame[target])
        return labels, labels != MISSING
    values = pd.to_numeric(frame[target], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return values, ~np.isnan(values)


def _models(task: str, names: Sequence[str], seed: int, notes: list[str]) -> dict[str, Any]:
    xgboost = None
    if "xgboost" in names:
        try:
            import xgboost
        except ImportError:
            notes.append(f"xgboost skipped: {XGBOOST_HINT}")
    models: dict[str, Any] = {}
    for name in names:
        if name == "logistic_regression":
            models[name] = LogisticRegression(max_iter=3000)
        elif name == "svm":
            models[name] = SVC(random_state=seed)
        elif name == "linear_regression":
            models[name] = LinearRegression()
        elif name == "random_forest":
            cls = RandomForestClassifier if task == "classification" else RandomForestRegressor
            models[name] = cls(n_estimators=100, random_state=seed, n_jobs=1)
        elif name == "xgboost" and xgboost is not None:
            cls = xgboost.XGBClassifier if task == "classification" else xgboost.XGBRegressor
            models[name] = cls(n_estimators=100, random_state=seed, n_jobs=1, verbosity=0)
    return models


def evaluate_efficacy(
    train_like: pd.DataFrame,
    test: pd.DataFrame,
    *,
    target: str,
    task: str | None = None,
    schema: TableSchema | None = None,
    random_state: int = 0,
    models: Sequence[str] | None = None,
) -> EfficacyResult:
    """Train each model on ``train_like`` (synthetic or real rows) and score it on the real ``test`` rows.

    Args:
        train_like: Training rows: synthetic rows, or the real training rows for the reference score.
        test: Real held-out rows.
        target: Target column.
        task: ``classification`` or ``regression``; inferred from the target column when omitted.
        schema: Column kinds; inferred from ``train_like`` when omitted.
        random_state: Seed of the random forest, SVM and XGBoost.
        models: A subset of the model names (default: all of the task's models).

    Returns:
        The per-model scores and the best one.

    Raises:
        SchemaError: the target or a feature column is missing from a frame.
        ConfigError: unknown task or model name, or no training rows with a target value.
    """
    schema = resolve_schema(train_like, target=target, task=task, schema=schema)
    task = schema.task or "classification"
    names = _model_names(task, models)
    notes: list[str] = []
    train_rows, y_train, test_rows, y_test = _rows_with_targets(train_like, test, target, task, notes)

    features = [c for c in schema.names if c != target]
    encoder = TabularEncoder(schema, features).fit(train_rows)
    x_train, x_test = encoder.transform(train_rows), encoder.transform(test_rows)

    estimators = _models(task, names, random_state, notes)
    scores: dict[str, dict[str, float]] = {}
    constant = task == "classification" and len(np.unique(y_train)) < 2
    if constant:
        notes.append(f"the training rows hold a single class ({y_train[0]!r}); every model is scored as predicting it")
    for name, model in estimators.items():
        if constant:
            predictions = np.full(len(y_test), y_train[0], dtype=object)
        else:
            predictions = _fit_predict(model, name, x_train, y_train, x_test, task)
        scores[name] = _score(y_test, predictions, task)
    metric = "f1" if task == "classification" else "r2"
    best_model = max(scores, key=lambda m: scores[m][metric]) if scores else None
    best_score = scores[best_model][metric] if best_model else None
    return EfficacyResult(task, target, metric, scores, best_model, best_score, len(train_rows), len(test_rows), notes)


def _model_names(task: str, models: Sequence[str] | None) -> list[str]:
    """The models to train: ``models``, or all of the task's; an unknown name is a ConfigError."""
    known = CLASSIFIERS if task == "classification" else REGRESSORS
    names = list(models) if models is not None else list(known)
    unknown = [m for m in names if m not in known]
    if unknown:
        raise ConfigError(f"unknown {task} model(s) {unknown}; choose from {list(known)}")
    return names


def _rows_with_targets(
    train_like: pd.DataFrame, test: pd.DataFrame, target: str, task: str, notes: list[str]
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:
    """``(train rows, train targets, test rows, test targets)`` of the rows with a target value.

    Rows without one are dropped with a note. Raises SchemaError for a frame without the target column,
    ConfigError when no training or test row is left (or a regression target holds text).
    """
    for label, frame in (("training", train_like), ("test", test)):
        if target not in frame.columns:
            raise SchemaError(f"target column {target!r} is not in the {label} rows", column=target)
    y_train, keep_train = _targets(train_like, target, task)
    y_test, keep_test = _targets(test, target, task)
    if (~keep_train).any():
        notes.append(f"{int((~keep_train).sum())} training row(s) without a target value dropped")
    if (~keep_test).any():
        notes.append(f"{int((~keep_test).sum())} test row(s) without a target value dropped")
    train_rows = train_like.loc[keep_train].reset_index(drop=True)
    test_rows = test.loc[keep_test].reset_index(drop=True)
    if task == "regression" and not keep_train.any() and train_like[target].notna().any():
        raise ConfigError(f"regression needs a numerical target; {target!r} holds text")
    if len(train_rows) == 0 or len(test_rows) == 0:
        raise ConfigError(f"no {'training' if len(train_rows) == 0 else 'test'} rows with a value for {target!r}")
    return train_rows, y_train[keep_train], test_rows, y_test[keep_test]


def mle_score(
    train_like: pd.DataFrame,
    test: pd.DataFrame,
    *,
    target: str,
    task: str | None = None,
    schema: TableSchema | None = None,
    random_state: int = 0,
) -> float | None:
    """The paper's headline number: the best model's weighted F1 (or R²); see :func:`evaluate_efficacy`."""
    return evaluate_efficacy(
        train_like, test, target=target, task=task, schema=schema, random_state=random_state
    ).best_score


def _fit_predict(
    model: Any, name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, task: str
) -> np.ndarray:
    with warnings.catch_warnings():
        # tiny synthetic training sets routinely trip these; the score already shows the consequence
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        if task == "classification" and name == "xgboost":
            # xgboost wants labels 0..k-1 of the classes present in training
            labels = LabelEncoder().fit(y_train)
            model.fit(x_train, labels.transform(y_train))
            return labels.inverse_transform(np.asarray(model.predict(x_test), dtype=int))
        if task == "classification":
            model.fit(x_train, y_train.astype(str))
        else:
            model.fit(x_train, y_train)
        return np.asarray(model.predict(x_test))


def _score(y_true: np.ndarray, y_pred: np.ndarray, task: str) -> dict[str, float]:
    if task == "classification":
        y_true, y_pred = y_true.astype(str), y_pred.astype(str)
        return {
            "f1": float(f1_score(y_true, y_pred, average="weighted", zero_division=0)),
            "accuracy": float(accuracy_score(y_true, y_pred)),
        }
    if len(y_true) < 2:
        return {"r2": float("nan")}
    return {"r2": float(r2_score(y_true, y_pred))}


__all__ = ["CLASSIFIERS", "REGRESSORS", "EfficacyResult", "evaluate_efficacy", "mle_score", "resolve_schema"]
