"""Privacy attacks on a synthetic table, sized for small n: near copies, NNDR, membership and attribute inference.

All of them use the one project distance (:class:`~mallm_gan.table.distance.MixedDistance`, fitted on the
training rows) and need real held-out rows, which the generator never saw, as the yardstick:

- **near copies**: synthetic rows closer to a training record than 95% of the held-out rows come to one
  (the 5% quantile of held-out-to-train distances; exact copies always count). Fresh draws from the
  population score about 5%; a copier scores near 100%.
- **NNDR**: a synthetic row's distance to its nearest training record over the distance to the second
  nearest; a low ratio singles out one record. Shown beside the held-out rows' own ratios.
- **membership inference** (distance attack): each real person's score is minus the distance to the closest
  synthetic row; members are the training rows, non-members the held-out rows. AUC 0.5 = no signal, 1 = every
  member is closer to the synthetic table than every non-member. A 95% bootstrap interval (members and
  non-members resampled) says how much of it is noise at this n.
- **attribute inference**: an attacker who knows every other column of a training record takes the
  sensitive value of the nearest synthetic row; the baseline attacker does the same with real held-out rows
  (as many as there are synthetic rows), which never saw the training rows. Accuracy for categories, mean
  absolute error in training spreads for numbers; the advantage is how much better the synthetic table serves
  the attacker than the population does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..table.distance import MixedDistance
from ..table.schema import TableSchema
from .privacy import EXACT

NEAR_QUANTILE = 0.05
_BASELINE_DRAWS = 20


@dataclass
class AttributeResult:
    """How well a nearest-neighbour attacker guesses one column of the training records."""

    column: str
    metric: str  # "accuracy" (higher = more leak) or "mean_abs_error" (in training spreads; lower = more leak)
    synthetic: float
    baseline: float
    advantage: float  # positive: the synthetic rows help the attacker more than real outsiders' rows do


@dataclass
class AttackResult:
    """Every attack's outcome; see the module docstring for what each measures."""

    near_copy_threshold: float
    near_copies: int
    near_copy_share: float
    exact_copies: int
    nndr: dict[str, float]
    nndr_holdout: dict[str, float]
    mia_auc: float
    mia_interval: tuple[float, float]
    n_members: int
    n_non_members: int
    n_synthetic: int
    attribute: AttributeResult | None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["mia_interval"] = list(self.mia_interval)
        return out


def _quantiles(values: np.ndarray) -> dict[str, float]:
    values = values[np.isfinite(values)]
    if not len(values):
        return {"q05": float("nan"), "q50": float("nan")}
    return {"q05": float(np.quantile(values, 0.05)), "q50": float(np.quantile(values, 0.5))}


def _nndr(distance: MixedDistance, query: Any, reference: Any) -> np.ndarray:
    dist = distance.nearest(query, reference, 2)[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = dist[:, 0] / dist[:, 1]
    return np.where(dist[:, 1] <= EXACT, 1.0, ratio)  # two exact matches: nothing singled out


def auc(members: np.ndarray, non_members: np.ndarray) -> float:
    """P(a member scores higher than a non-member), ties counting one half (the Mann-Whitney AUC)."""
    if not len(members) or not len(non_members):
        return float("nan")
    scores = np.concatenate([members, non_members])
    order = scores.argsort(kind="stable")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(average, counts)
    n_m, n_n = len(members), len(non_members)
    return float((ranks[:n_m].sum() - n_m * (n_m + 1) / 2.0) / (n_m * n_n))


def _mia(to_syn_members: np.ndarray, to_syn_non: np.ndarray, random_state: int) -> tuple[float, tuple[float, float]]:
    score_m, score_n = -to_syn_members, -to_syn_non
    rng = np.random.default_rng(random_state)
    values = []
    for _ in range(500):
        values.append(auc(score_m[rng.integers(0, len(score_m), len(score_m))],
                          score_n[rng.integers(0, len(score_n), len(score_n))]))
    values_arr = np.array(values)
    interval = (float(np.quantile(values_arr, 0.025)), float(np.quantile(values_arr, 0.975)))
    return auc(score_m, score_n), interval


def attribute_inference(
    synthetic: pd.DataFrame, train: pd.DataFrame, holdout: pd.DataFrame, schema: TableSchema, column: str,
    *, random_state: int = 0,
) -> AttributeResult:
    """Guess ``column`` of every training record from its nearest synthetic row (on the other columns),
    against the same attacker holding real held-out rows instead."""
    if column not in schema.names:
        raise ConfigError(f"sensitive column {column!r} is not in the table (columns: {schema.names})")
    others = [c for c in schema.names if c != column]
    if not others:
        raise ConfigError("attribute inference needs at least one column besides the sensitive one")
    known = MixedDistance(schema, others).fit(train)
    secret = MixedDistance(schema, [column]).fit(train)
    targets = known.encode(train)
    truth = secret.encode(train)

    def score(released: pd.DataFrame) -> float:
        _, index = known.nearest(targets, known.encode(released), 1)
        guessed = secret.encode(released).take(index[:, 0])
        if schema[column].kind in ("numerical", "datetime"):
            err = np.abs(guessed.numbers[:, 0] - truth.numbers[:, 0])
            return float(np.nanmean(np.where(np.isnan(err), 1.0, err)))
        return float(np.mean(guessed.codes[:, 0] == truth.codes[:, 0]))

    ours = score(synthetic)
    rng = np.random.default_rng(random_state)
    size = min(len(holdout), max(1, len(synthetic)))
    draws = 1 if size == len(holdout) else _BASELINE_DRAWS
    base = float(np.mean([score(holdout.iloc[rng.choice(len(holdout), size, replace=False)]) for _ in range(draws)]))
    numeric = schema[column].kind in ("numerical", "datetime")
    return AttributeResult(
        column=column, metric="mean_abs_error" if numeric else "accuracy", synthetic=ours, baseline=base,
        advantage=(base - ours) if numeric else (ours - base),
    )


def privacy_attacks(
    synthetic: pd.DataFrame,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    schema: TableSchema | None = None,
    *,
    sensitive: str | None = None,
    random_state: int = 0,
) -> AttackResult:
    """Run every attack of this module on ``synthetic`` (see the module docstring).

    Args:
        synthetic: The released rows.
        train: The real rows the generator learned from (the members).
        holdout: Real rows it never saw (the non-members and the yardstick).
        schema: Column kinds (inferred from ``train`` when omitted).
        sensitive: Column for attribute inference (default: the schema's target, else none).
        random_state: Seed of the bootstrap and the baseline's draws.
    """
    if len(train) < 2 or len(holdout) < 2:
        raise ConfigError(f"privacy attacks need at least 2 training and 2 held-out rows, got "
                          f"{len(train)} and {len(holdout)}")
    schema = schema if schema is not None else TableSchema.from_dataframe(train)
    distance = MixedDistance(schema).fit(train)
    enc_train, enc_hold, enc_syn = distance.encode(train), distance.encode(holdout), distance.encode(synthetic)
    hold_to_train = distance.closest(enc_hold, enc_train)
    threshold = float(np.quantile(hold_to_train, NEAR_QUANTILE))
    syn_to_train = distance.closest(enc_syn, enc_train)
    near = (syn_to_train < threshold) | (syn_to_train <= EXACT)
    auc_value, interval = _mia(distance.closest(enc_train, enc_syn), distance.closest(enc_hold, enc_syn),
                               random_state)
    column = sensitive if sensitive is not None else schema.target
    attribute = None
    if column is not None and len(synthetic):
        attribute = attribute_inference(synthetic, train, holdout, schema, column, random_state=random_state)
    return AttackResult(
        near_copy_threshold=threshold,
        near_copies=int(near.sum()),
        near_copy_share=float(near.mean()) if len(near) else float("nan"),
        exact_copies=int((syn_to_train <= EXACT).sum()),
        nndr=_quantiles(_nndr(distance, enc_syn, enc_train)),
        nndr_holdout=_quantiles(_nndr(distance, enc_hold, enc_train)),
        mia_auc=auc_value,
        mia_interval=interval,
        n_members=len(train),
        n_non_members=len(holdout),
        n_synthetic=len(synthetic),
        attribute=attribute,
    )


__all__ = ["NEAR_QUANTILE", "AttackResult", "AttributeResult", "attribute_inference", "auc", "privacy_attacks"]
