"""Evaluation of synthetic tables: machine-learning efficacy, privacy (DCR and attacks) and fidelity.

Nothing here calls a language model. :func:`evaluate` runs all of them on one synthetic table; the parts are
available on their own as :func:`evaluate_efficacy`, :func:`distance_to_closest_record`,
:func:`privacy_attacks` and :func:`fidelity`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..table.schema import TableSchema
from .attacks import AttackResult, privacy_attacks
from .efficacy import CLASSIFIERS, REGRESSORS, EfficacyResult, evaluate_efficacy, mle_score, resolve_schema
from .fidelity import FidelityResult, detection_auc, fidelity
from .privacy import DCRResult, distance_to_closest_record


@dataclass
class EvaluationReport:
    """Everything :func:`evaluate` measured.

    Attributes:
        efficacy: Models trained on the synthetic rows, tested on the real test rows.
        reference: The same models trained on the real training rows (the "Real data" row).
        privacy: Distances of synthetic rows to the real training and test rows.
        fidelity: Shapes, pair trends and detection of synthetic against real training rows.
        schema: The schema the evaluation used.
        attacks: Near copies, NNDR, membership and attribute inference (test rows as non-members).
    """

    efficacy: EfficacyResult
    reference: EfficacyResult
    privacy: DCRResult
    fidelity: FidelityResult
    schema: TableSchema
    attacks: AttackResult | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (plain Python types, NaN as None)."""
        return to_jsonable(
            {
                "target": self.schema.target,
                "task": self.schema.task,
                "efficacy": self.efficacy.to_dict(),
                "reference": self.reference.to_dict(),
                "privacy": self.privacy.to_dict(),
                "attacks": None if self.attacks is None else self.attacks.to_dict(),
                "fidelity": self.fidelity.to_dict(),
            }
        )


def to_jsonable(value: Any) -> Any:
    """Recursively turn numpy scalars/arrays into Python types and non-finite floats into None."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def evaluate(
    synthetic: pd.DataFrame,
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    target: str,
    task: str | None = None,
    schema: TableSchema | None = None,
    random_state: int = 0,
    detection: bool = True,
    sensitive: str | None = None,
) -> EvaluationReport:
    """Efficacy, privacy and fidelity of ``synthetic`` rows generated from the real ``train`` rows.

    Args:
        synthetic: Synthetic rows.
        train: Real rows the generator learned from.
        test: Real held-out rows.
        target: Target column.
        task: ``classification`` or ``regression`` (inferred from ``train`` when omitted).
        schema: Column kinds; inferred with ``TableSchema.from_dataframe(train, target=...)`` when omitted.
        random_state: Seed of the evaluation models and detection folds.
        detection: Run the detection classifier (the slowest part).
        sensitive: Column the attribute-inference attack guesses (default: the target).
    """
    schema = resolve_schema(train, target=target, task=task, schema=schema)
    efficacy = evaluate_efficacy(synthetic, test, target=target, schema=schema, random_state=random_state)
    reference = evaluate_efficacy(train, test, target=target, schema=schema, random_state=random_state)
    privacy = distance_to_closest_record(synthetic, train, test, schema, random_state=random_state)
    attacks = privacy_attacks(synthetic, train, test, schema, sensitive=sensitive, random_state=random_state)
    quality = fidelity(train, synthetic, schema, detection=detection, random_state=random_state)
    return EvaluationReport(efficacy, reference, privacy, quality, schema, attacks)


__all__ = [
    "CLASSIFIERS",
    "REGRESSORS",
    "AttackResult",
    "DCRResult",
    "EfficacyResult",
    "EvaluationReport",
    "FidelityResult",
    "detection_auc",
    "distance_to_closest_record",
    "evaluate",
    "evaluate_efficacy",
    "fidelity",
    "mle_score",
    "privacy_attacks",
    "to_jsonable",
]
