"""History.top_k and the one notion of the best θ shared by fit and the optimizer's prompt."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pandas as pd

from mallm_gan.gan.optimizer import History, HistoryEntry, Optimizer
from mallm_gan.llm.base import Choice, Completion
from mallm_gan.table.schema import TableSchema
from mallm_gan.theta.process import DataGenerationProcess


def _theta(name: str) -> DataGenerationProcess:
    return DataGenerationProcess(context="ctx", dag=(), instruction=f"instruction {name}")


def _history(scores: list[tuple[str, float]], selection: str = "significant", held_out: int = 15) -> History:
    history = History(selection)
    for i, (name, score) in enumerate(scores):
        history.entries.append(HistoryEntry(
            iteration=i, epoch=0, batch=i, theta=_theta(name), raw_score=score, score=score, real_indices=[],
            synthetic=[], split_seed=0, held_out=held_out, recall=min(1.0, max(0.0, 2 * score - 0.5)),
        ))
    return history


def test_top_k_limits_orders_and_deduplicates() -> None:
    history = _history([("a", 0.70), ("b", 0.60), ("c", 0.65), ("b", 0.55), ("d", float("nan")), ("e", 0.80)],
                       selection="lowest")
    top = history.top_k(3)
    assert [e.theta.instruction[-1] for e in top] == ["b", "c", "a"]
    assert top[0] is history.best() and top[0].iteration == 3  # θ "b" once, by its best-placed entry
    assert len(history.top_k(10)) == 5  # five distinct θ, the NaN one last
    assert history.top_k(10)[-1].theta == _theta("d")
    assert history.top_k(1) == [history.best()]
    assert history.top_k(0) == [] and History().top_k(3) == []


def test_top_k_puts_the_selection_rules_best_first_even_when_a_later_score_is_lower() -> None:
    # 0.62 is lower than 0.65 but well within noise of it (15 held-out rows a θ): "significant" keeps the first
    history = _history([("first", 0.65), ("later", 0.62), ("worse", 0.90)])
    assert history.best().iteration == 0
    assert [e.iteration for e in history.top_k(3)] == [0, 1, 2]


class _Recorder:
    model = "recorder"

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def complete(self, messages: Any, **kwargs: Any) -> Completion:
        self.messages.append(messages)
        return Completion((Choice(json.dumps({"dag": [], "instruction": "new"}), "stop"),), model=self.model)


def test_the_prompts_best_so_far_is_the_theta_fit_keeps() -> None:
    history = _history([("first", 0.65), ("later", 0.62), ("worse", 0.90)])
    client = _Recorder()
    schema = TableSchema.from_dataframe(pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "x"]}))
    asyncio.run(Optimizer(client, schema, top_k=3).propose(history, seed=1))
    user = client.messages[0][1]["content"]
    last_version = user[user.rindex("<version"):]
    assert "instruction first" in last_version  # the prompt calls the last version the best so far
    order = [user.index(f"instruction {name}") for name in ("worse", "later", "first")]
    assert order == sorted(order)
