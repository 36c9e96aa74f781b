"""What the demo shows: new rows, the θ the optimizer changed, efficacy beside SMOTE, and what it would take.

:func:`demo_summary` computes the four figures from a fitted model, its sampled rows and the held-out rows;
:func:`demo_section` renders them as the report's first section (from ``demo.json``). Nothing here calls a
language model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..evaluation.efficacy import mle_score
from ..evaluation.privacy import distance_to_closest_record
from .html import esc, num, section

#: A synthetic row is a near-copy when it lies closer to a training row than this share of real held-out
#: rows do (the held-out rows are fresh draws from the same population: closer than nearly all of them is
#: closer than chance).
NEAR_COPY_QUANTILE = 0.05

#: Line (d): what a bigger model is for. It claims no effect on this table: none was measured here.
BIGGER_MODEL = (
    "a bigger model is what the method is meant for: the paper's results use GPT-4o-class models, and --llm "
    "points at one (e.g. --llm openai:gpt-4o); in the catalogue, qwen2.5-coder-0.5b and qwen2.5-coder-1.5b "
    "are larger and slower than smollm2-135m; what they change on this table has not been measured here"
)


def new_rows(synthetic: pd.DataFrame, train: pd.DataFrame, holdout: pd.DataFrame, schema: Any) -> dict[str, Any]:
    """How many sampled rows are new (equal to no training row) and not near-copies of one."""
    rows = distance_to_closest_record(synthetic, train, schema=schema)
    reference = distance_to_closest_record(holdout, train, schema=schema).to_train
    threshold = float(np.quantile(reference, NEAR_COPY_QUANTILE)) if len(reference) else 0.0
    new = rows.to_train > 1e-9
    far = new & (rows.to_train >= threshold)
    n = max(len(synthetic), 1)
    return {
        "rows": len(synthetic),
        "new": int(new.sum()),
        "new_not_near": int(far.sum()),
        "share_new": round(float(new.sum()) / n, 3),
        "share_new_not_near": round(float(far.sum()) / n, 3),
        "near_copy_threshold": round(threshold, 4),
    }


def theta_change(model: Any) -> dict[str, Any]:
    """The optimizer's best-scoring change of θ against the initial θ, both re-scored by the last discriminator."""
    entries = model.history_.entries
    start = entries[0]
    changed = [e for e in entries[1:] if e.theta != start.theta]
    best = model.history_.best()
    out: dict[str, Any] = {
        "iterations": len(entries),
        "start_score": _round(start.score),
        "best_iteration": best.iteration + 1,
        "changed": bool(changed),
    }
    if not changed:
        return out
    top = min(changed, key=lambda e: math.inf if math.isnan(e.score) else e.score)
    added, removed = start.theta.diff(top.theta)
    out.update(
        iteration=top.iteration + 1,
        score=_round(top.score),
        added=[list(e) for e in added],
        removed=[list(e) for e in removed],
        instruction_changed=top.theta.instruction.strip() != start.theta.instruction.strip(),
        instruction=top.theta.instruction.strip(),
        selected=best.iteration == top.iteration,
    )
    return out


def efficacy_beside_smote(
    synthetic: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame, schema: Any, *, seed: int
) -> dict[str, Any]:
    """MLE (best model's weighted F1, or R2) of the synthetic rows, SMOTE's rows and the real rows."""
    target, task = schema.target, schema.task
    out: dict[str, Any] = {
        "synthetic": _round(mle_score(synthetic, test, target=target, task=task, random_state=seed)),
        "real": _round(mle_score(train, test, target=target, task=task, random_state=seed)),
        "smote": None,
        "smote_note": None,
    }
    try:
        from ..baselines.smote import SmoteBaseline

        rows = SmoteBaseline(random_state=seed).fit(train, schema).sample(len(synthetic))
        out["smote"] = _round(mle_score(rows, test, target=target, task=task, random_state=seed))
    except ConfigError as exc:  # the baselines extra is not installed
        out["smote_note"] = f"SMOTE unavailable: {exc.message}"
    return out


def _round(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 3)


def summary_lines(summary: Mapping[str, Any]) -> list[str]:
    """The demo's four findings, one plain sentence each (printed by the CLI, shown in the report)."""
    rows, theta, mle = summary["rows"], summary["theta"], summary["efficacy"]
    lines = [
        f"(a) {rows['new']} of {rows['rows']} sampled rows ({100 * rows['share_new']:.0f}%) equal no training row; "
        f"{rows['new_not_near']} ({100 * rows['share_new_not_near']:.0f}%) are not near-copies either (a "
        f"near-copy lies closer to a training row than {100 - 100 * NEAR_COPY_QUANTILE:.0f}% of real held-out "
        "rows do)"
    ]
    if theta["changed"]:
        edits = [f"+{a} -> {b}" for a, b in theta["added"]] + [f"-{a} -> {b}" for a, b in theta["removed"]]
        what = ", ".join(edits[:6]) + (" ..." if len(edits) > 6 else "") if edits else "no edge"
        what += "; new instruction" if theta["instruction_changed"] else ""
        verdict = "selected as the best θ" if theta["selected"] else "not better by the selection rule, not used"
        lines.append(
            f"(b) the optimizer changed θ (iteration {theta['iteration']}: {what}); re-scored discriminator "
            f"accuracy {theta['score']} against {theta['start_score']} for the initial θ (lower is better): "
            f"{verdict}"
        )
    else:
        lines.append(
            f"(b) the optimizer did not change θ within {theta['iterations']} iteration(s): every proposal equalled "
            "the initial θ after repair, so this run shows no learning of θ"
        )
    smote = mle["smote"] if mle["smote"] is not None else (mle["smote_note"] or "n/a")
    lines.append(
        f"(c) machine-learning efficacy on the held-out rows: synthetic rows {mle['synthetic']}, SMOTE's rows "
        f"{smote}, the real training rows {mle['real']}"
    )
    lines.append(f"(d) {BIGGER_MODEL}")
    return lines


def demo_section(summary: Mapping[str, Any] | None) -> str:
    """The report section of ``demo.json``'s summary; empty when the run is not a demo."""
    if not summary or "rows" not in summary:
        return ""
    items = "".join(f"<li>{esc(line)}</li>" for line in summary_lines(summary))
    seconds = summary.get("seconds")
    timing = f"<p>{esc(summary.get('llm', ''))}; {num(seconds, 0)} s in all.</p>" if seconds is not None else ""
    return section("demo", "What this demo shows", f"<ul>{items}</ul>{timing}")


__all__ = ["BIGGER_MODEL", "NEAR_COPY_QUANTILE", "demo_section", "efficacy_beside_smote", "new_rows", "summary_lines",
           "theta_change"]
