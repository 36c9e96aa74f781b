"""The MALLM-GAN cells of the benchmark: the three variants of the paper's ablation, fitted and sampled, with
what a cell cost (LLM calls, tokens, time) recorded beside its rows."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..errors import MallmGanError
from ..llm.usage import RoleUsage
from ..table.schema import TableSchema

#: MALLM-GAN variants of the ablation: the starting DAG and whether the optimizer revises θ.
MALLM_VARIANTS: dict[str, dict[str, Any]] = {
    "mallm-gan": {"dag": "hill-climb", "optimize": True},
    "mallm-gan-few-shot-dag": {"dag": "hill-climb", "optimize": False},
    "mallm-gan-few-shot": {"dag": "none", "optimize": False},
}


class CellFailed(MallmGanError):
    """A cell ran and failed (e.g. the LLM wrote too few valid rows); recorded as failed with the reason."""


@dataclass
class MallmRun:
    """What a MALLM-GAN cell produced besides its rows: usage, θ chosen, time."""

    synthetic: pd.DataFrame
    info: dict[str, Any]


def fit_sample_mallm_gan(
    train: pd.DataFrame,
    schema: TableSchema,
    n: int,
    *,
    llm: str | None,
    seed: int,
    context: str,
    variant: str = "mallm-gan",
    options: dict[str, Any] | None = None,
) -> MallmRun:
    """Fit MALLM-GAN (one of :data:`MALLM_VARIANTS`) on ``train`` and sample ``n`` rows.

    Args:
        options: Further ``MallmGan`` parameters (e.g. ``epochs``), recorded with the cell.

    Raises:
        CellFailed: the library raised an error (no reachable LLM, budget, too few valid rows); the message
            says which.
    """
    from ..synthesizer import MallmGan

    spec = MALLM_VARIANTS[variant]
    params = dict(options or {})
    if not spec["optimize"]:
        params["optimize"] = False
    if llm is not None:
        params["llm"] = llm
    started = time.perf_counter()
    try:
        model = MallmGan(random_state=seed, **params)
        model.fit(train, target=schema.target, context=context, dag=spec["dag"])
        fitted = time.perf_counter()
        synthetic = model.sample(n)
    except MallmGanError as exc:
        raise CellFailed(f"{type(exc).__name__}: {exc.message}") from exc
    # fit and sample together: what the cell cost
    total = RoleUsage()
    total.add(model.usage_.total)
    total.add(model.sample_usage_.total)
    usage = {"fit": model.usage_.to_dict(), "sample": model.sample_usage_.to_dict()}
    best = model.history_.best() if model.history_.entries else None
    info = {
        "llm_calls": total.calls,
        "prompt_tokens": total.prompt_tokens,
        "completion_tokens": total.completion_tokens,
        "usage": usage,
        "seconds_fit": round(fitted - started, 3),
        "seconds_sample": round(time.perf_counter() - fitted, 3),
        "iterations": len(model.history_.entries),
        "best_iteration": None if best is None else best.iteration,
        "dag_edges": len(model.theta_.dag),
    }
    return MallmRun(synthetic=synthetic, info=info)
