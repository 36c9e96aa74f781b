"""Optimizer and history: the LLM that revises θ from the best (θ, score) pairs seen so far."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import BudgetExceededError, ConfigError, LLMError, ParseError
from ..llm.base import LLMClient
from ..settings import SELECTIONS
from ..table.schema import TableSchema
from ..theta.causal import validate_dag
from ..theta.process import DataGenerationProcess
from .answer_schema import optimizer_edits_json_schema, optimizer_json_schema
from .discriminator import Discriminator, Update
from .optimizer_reply import apply_edits, parse_optimizer_edits, parse_optimizer_reply
from .prompts import optimizer_messages

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
    held_out: int = 0
    """Synthetic rows of this iteration held out to score θ."""
    recall: float | None = None
    """Share of them the discriminator called synthetic at the last re-scoring (gives the score's noise)."""
    structure: list[dict[str, Any]] = field(default_factory=list)
    """Each edge of θ with its dependence in real vs synthetic rows (:func:`~.feedback.structure_record`)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration, "epoch": self.epoch, "batch": self.batch,
            "theta": self.theta.to_dict(), "raw_score": self.raw_score, "score": self.score,
            "rescored": self.rescored, "origin": self.origin, "calls": self.calls, "tokens": self.tokens,
            "seconds": round(self.seconds, 3), "report": self.report, "split_seed": self.split_seed,
            "real_indices": self.real_indices, "synthetic": self.synthetic, "held_out": self.held_out,
            "recall": self.recall, "structure": self.structure,
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
            held_out=data.get("held_out", 0), recall=data.get("recall"),
            structure=list(data.get("structure") or []),
        )


SELECTION_Z = 2.0


def check_selection(selection: str) -> str:
    """``selection`` if it names a rule of :class:`History`; else a ConfigError listing the rules."""
    if selection not in SELECTIONS:
        raise ConfigError(f"selection must be one of {list(SELECTIONS)}, got {selection!r}")
    return selection


class History:
    """Every θ tried, with the held-out synthetic rows of its iteration kept for re-scoring.

    Args:
        selection: How :meth:`best` picks the best θ. ``"lowest"`` takes the lowest re-scored accuracy (the
            paper's rule). ``"significant"`` (default) keeps the earliest θ until a later one scores lower by
            more than ``SELECTION_Z`` standard errors of the difference: re-scored accuracies carry the noise
            of a few dozen held-out rows each, and the minimum over many of them is mostly the luckiest, so
            the paper's rule wanders among equally good structures.
    """

    def __init__(self, selection: str = "significant") -> None:
        self.selection = check_selection(selection)
        self.entries: list[HistoryEntry] = []
        self._parts: dict[int, Update] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, entry: HistoryEntry, part: Update) -> None:
        entry.held_out = len(part.x_test)
        self.entries.append(entry)
        self._parts[entry.iteration] = part

    def rescore(self, discriminator: Discriminator) -> None:
        """Score every past θ's held-out rows with the current discriminator."""
        for entry in self.entries:
            part = self._parts.get(entry.iteration)
            if part is None:
                continue
            entry.score = discriminator.score(part.x_test)
            entry.recall = discriminator.synthetic_recall(part.x_test)
            entry.rescored.append(entry.score)

    def best(self) -> HistoryEntry:
        """The best θ so far, by the ``selection`` rule."""
        if not self.entries:
            raise IndexError("the history is empty")
        scored = [(e.score, e.recall, e.held_out) for e in self.entries]
        return self.entries[best_index(scored, self.selection)]

    def top_k(self, k: int) -> list[HistoryEntry]:
        """The k best distinct θ, best first: :meth:`best` (the selection rule's choice), then the others by
        lowest re-scored accuracy (NaN last; among equal scores the later θ). A θ tried twice counts once,
        by its best-placed entry."""
        if not self.entries or k < 1:
            return []
        best = self.best()
        others = sorted(reversed(self.entries), key=lambda e: math.inf if math.isnan(e.score) else e.score)
        seen: set[DataGenerationProcess] = set()
        out: list[HistoryEntry] = []
        for entry in [best, *others]:
            if entry.theta in seen:
                continue
            seen.add(entry.theta)
            out.append(entry)
            if len(out) == k:
                break
        return out

    def to_list(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.entries]


def best_index(scored: list[tuple[float, float | None, int]], selection: str = "significant") -> int:
    """Index of the best of (re-scored accuracy, synthetic recall, synthetic held-out rows) triples, in
    iteration order, by the ``selection`` rule of :class:`History`. NaN scores are never chosen while a
    number is there."""
    def key(i: int) -> float:
        return math.inf if math.isnan(scored[i][0]) else scored[i][0]

    if selection == "lowest":
        # ties go to the later θ: it was scored against a stronger discriminator
        return min(reversed(range(len(scored))), key=key)
    best = 0
    for i in range(1, len(scored)):
        if key(i) < key(best) - SELECTION_Z * _difference_se(scored[best][1:], scored[i][1:]):
            best = i
    return best


def score_se(recall: float | None, held_out: int) -> float:
    """Standard error of one θ's score from its synthetic held-out rows: the score is half a recall on
    ``held_out`` rows plus the real holdout's half, which every θ shares. The recall is shrunk towards 1/2
    so that 0 or 1 of a few rows does not look exact."""
    n = max(held_out, 1)
    p = ((0.5 if recall is None else recall) * n + 1) / (n + 2)
    return 0.5 * math.sqrt(p * (1 - p) / n)


def _difference_se(a: tuple[float | None, int], b: tuple[float | None, int]) -> float:
    """Standard error of the difference of two θ's scores on the same discriminator, from each one's
    (synthetic recall, synthetic held-out rows); the shared real holdout cancels."""
    return math.hypot(score_se(*a), score_se(*b))


class Optimizer:
    """Proposes a new causal structure and task instruction from the top-k (θ, score) pairs.

    A reply that cannot be parsed keeps the best θ; one with unknown columns or cycles is repaired (bad
    edges dropped). Neither is fatal: the outcome is recorded as the next θ's ``origin``.
    """

    def __init__(
        self, client: LLMClient, schema: TableSchema, *, temperature: float = 1.0, top_k: int = 3,
        form: str = "dag",
    ) -> None:
        self.client = client
        self.schema = schema
        self.temperature = temperature
        self.top_k = top_k
        self.form = form

    def _max_tokens(self) -> int:
        # room for about two edges per column plus a full instruction; a longer reply is a model repeating
        # itself (a cut reply is still parsed, and its edges repaired)
        return min(1024, 200 + 24 * len(self.schema.names))

    async def propose(
        self, history: History, *, seed: int, feedback: str = ""
    ) -> tuple[DataGenerationProcess, str]:
        top = history.top_k(self.top_k)
        best = top[0].theta  # history.best(): the θ the prompt calls the best so far is the one fit keeps
        pairs = [(e.theta, e.score) for e in top]
        messages = optimizer_messages(pairs, self.schema, context=best.context, feedback=feedback, form=self.form)
        schema = (optimizer_edits_json_schema if self.form == "edits" else optimizer_json_schema)(self.schema.names)
        try:
            completion = await self.client.complete(
                messages, role="optimizer", temperature=self.temperature, max_tokens=self._max_tokens(),
                json_schema=schema, seed=seed,
            )
        except BudgetExceededError:
            raise
        except LLMError as exc:
            if not exc.transient:
                raise
            log.warning("optimizer call failed (%s); keeping the best θ", exc)
            return best, f"kept best: optimizer call failed ({type(exc).__name__})"
        try:
            edges, instruction, skipped = read_reply(completion.text, self.schema.names, best.dag, self.form)
        except ParseError as exc:
            log.warning("optimizer reply unusable (%s); keeping the best θ", exc)
            return best, "kept best: unparseable reply"
        check = validate_dag(edges, self.schema.names)
        instruction = instruction.strip() or best.instruction
        theta = DataGenerationProcess(context=best.context, dag=tuple(check.edges), instruction=instruction)
        dropped = [reason for _, reason in [*skipped, *check.dropped]]
        if dropped:
            return theta, f"repaired: dropped {len(dropped)} edge(s) ({', '.join(sorted(set(dropped)))})"
        return theta, "proposed"


def read_reply(
    text: str | None, columns: list[str], base: tuple[tuple[str, str], ...], form: str
) -> tuple[list[tuple[str, str]], str, list[tuple[object, str]]]:
    """The edges and instruction of an optimizer answer in ``form``, and the edits that could not be made
    (always none for the whole-DAG form). Raises ParseError when nothing can be read."""
    if form == "edits":
        reply = parse_optimizer_edits(text, columns)
        edges, skipped = apply_edits(base, reply)
        return edges, reply.instruction, list(skipped)
    edges, instruction = parse_optimizer_reply(text, columns)
    return edges, instruction, []
