"""Optimizer and history: the LLM that revises θ from the best (θ, score) pairs seen so far."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .causal import validate_dag
from .discriminator import Discriminator, Update
from .errors import BudgetExceededError, LLMError, ParseError
from .llm.base import LLMClient
from .prompts import optimizer_json_schema, optimizer_messages, parse_optimizer_reply
from .schema import TableSchema
from .theta import DataGenerationProcess

log = logging.getLogger(__name__)


@dataclass
class HistoryEntry:
    """One iteration: the θ that was tried, its scores and what it produced."""

    iteration: int
    epoch: int
    batch: int
    theta: DataGenerationProcess
    raw_score: float
    score: float
    real_indices: list[int]
    synthetic: list[dict[str, Any]]
    split_seed: int
    report: dict[str, Any] = field(default_factory=dict)
    calls: int = 0
    tokens: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    origin: str = "initial"
    rescored: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration, "epoch": self.epoch, "batch": self.batch,
            "theta": self.theta.to_dict(), "raw_score": self.raw_score, "score": self.score,
            "rescored": self.rescored, "origin": self.origin, "calls": self.calls, "tokens": self.tokens,
            "seconds": round(self.seconds, 3), "report": self.report, "split_seed": self.split_seed,
            "real_indices": self.real_indices, "synthetic": self.synthetic,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HistoryEntry:
        return cls(
            iteration=data["iteration"], epoch=data["epoch"], batch=data["batch"],
            theta=DataGenerationProcess.from_dict(data["theta"]), raw_score=data["raw_score"],
            score=data["score"], real_indices=list(data["real_indices"]), synthetic=list(data["synthetic"]),
            split_seed=data["split_seed"], report=data.get("report", {}), calls=data.get("calls", 0),
            tokens=data.get("tokens", {}), seconds=data.get("seconds", 0.0),
            origin=data.get("origin", "initial"), rescored=list(data.get("rescored", [])),
        )


class History:
    """Every θ tried, with the held-out part of its iteration kept for re-scoring."""

    def __init__(self) -> None:
        self.entries: list[HistoryEntry] = []
        self._parts: dict[int, Update] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, entry: HistoryEntry, part: Update) -> None:
        self.entries.append(entry)
        self._parts[entry.iteration] = part

    def rescore(self, discriminator: Discriminator) -> None:
        """Score every past θ's held-out rows with the current discriminator."""
        for entry in self.entries:
            part = self._parts.get(entry.iteration)
            if part is None:
                continue
            entry.score = discriminator.score(part.x_test, part.y_test)
            entry.rescored.append(entry.score)

    def best(self) -> HistoryEntry:
        # ties go to the later θ: it was scored against a stronger discriminator
        return min(reversed(self.entries), key=lambda e: e.score)

    def top_k(self, k: int) -> list[HistoryEntry]:
        """The k best distinct θ (lowest re-scored accuracy first)."""
        seen: set[DataGenerationProcess] = set()
        out: list[HistoryEntry] = []
        for entry in sorted(reversed(self.entries), key=lambda e: e.score):
            if entry.theta in seen:
                continue
            seen.add(entry.theta)
            out.append(entry)
            if len(out) == k:
                break
        return out

    def to_list(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.entries]


class Optimizer:
    """Proposes a new causal structure and task instruction from the top-k (θ, score) pairs.

    A reply that cannot be parsed keeps the best θ; one with unknown columns or cycles is repaired (bad
    edges dropped). Neither is fatal: the outcome is recorded as the next θ's ``origin``.
    """

    def __init__(
        self, client: LLMClient, schema: TableSchema, *, temperature: float = 1.0, top_k: int = 3
    ) -> None:
        self.client = client
        self.schema = schema
        self.temperature = temperature
        self.top_k = top_k

    def _max_tokens(self) -> int:
        # room for about two edges per column plus a full instruction; a longer reply is a model repeating
        # itself (a cut reply is still parsed, and its edges repaired)
        return min(1024, 200 + 24 * len(self.schema.names))

    async def propose(self, history: History, *, seed: int) -> tuple[DataGenerationProcess, str]:
        top = history.top_k(self.top_k)
        best = top[0].theta
        pairs = [(e.theta, e.score) for e in top]
        messages = optimizer_messages(pairs, self.schema, context=best.context)
        try:
            completion = await self.client.complete(
                messages, role="optimizer", temperature=self.temperature, max_tokens=self._max_tokens(),
                json_schema=optimizer_json_schema(self.schema.names), seed=seed,
            )
        except BudgetExceededError:
            raise
        except LLMError as exc:
            if not exc.transient:
                raise
            log.warning("optimizer call failed (%s); keeping the best θ", exc)
            return best, f"kept best: optimizer call failed ({type(exc).__name__})"
        try:
            edges, instruction = parse_optimizer_reply(completion.text, self.schema.names)
        except ParseError as exc:
            log.warning("optimizer reply unusable (%s); keeping the best θ", exc)
            return best, "kept best: unparseable reply"
        check = validate_dag(edges, self.schema.names)
        instruction = instruction.strip() or best.instruction
        theta = DataGenerationProcess(context=best.context, dag=tuple(check.edges), instruction=instruction)
        if check.dropped:
            reasons = sorted({reason for _, reason in check.dropped})
            return theta, f"repaired: dropped {len(check.dropped)} edge(s) ({', '.join(reasons)})"
        return theta, "proposed"


def mean_or_nan(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")
