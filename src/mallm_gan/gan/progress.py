"""What the adversarial loop has done so far: the result it returns and the part of the checkpoint it owns."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..llm.usage import UsageTracker
from ..theta.process import DataGenerationProcess
from .exposure import ExposureLedger, privacy_record, read_privacy
from .optimizer import History, HistoryEntry

# how checkpoints before the stop reason and the pending flag were fields said the same (still read)
_LEGACY_PENDING = "pending proposal"
_LEGACY_EARLY = "early stop"


class StopReason(Enum):
    """Why a run ended before its last iteration."""

    EARLY = "early"
    """No new best θ for ``patience`` iterations: the run is finished, rerunning it does not extend it."""
    BUDGET = "budget"
    """A call or token budget was reached: rerunning without it (or with a larger one) continues."""


@dataclass(frozen=True)
class Stop:
    reason: StopReason
    message: str


@dataclass
class Patience:
    """Iterations since the best θ last changed, kept across an interruption."""

    since_best: int = 0
    best_iteration: int = -1


@dataclass
class Progress:
    """The loop's state after each finished iteration, and its result.

    ``current_theta`` is the θ the next iteration will try, proposed with outcome ``current_origin``. When a
    budget stopped the run between an iteration and the optimizer's proposal that follows it,
    ``proposal_pending`` is set and the proposal is made first thing on resuming. ``release_gate`` describes
    the gate the loop's rows passed (threshold, source); ``exposure`` counts the real rows its prompts sent.
    """

    history: History
    current_theta: DataGenerationProcess
    current_origin: str = "initial"
    proposal_pending: bool = False
    stop: Stop | None = None
    patience: Patience | None = None
    usage: UsageTracker = field(default_factory=UsageTracker)
    llm_name: str | None = None
    release_gate: dict[str, Any] | None = None
    exposure: ExposureLedger | None = None

    @property
    def finished_early(self) -> bool:
        return self.stop is not None and self.stop.reason is StopReason.EARLY

    def best_theta(self) -> DataGenerationProcess | None:
        return self.history.best().theta if self.history.entries else None

    def to_dict(self, *, sample_near_copies: int = 0) -> dict[str, Any]:
        """The checkpoint fields this state is saved in (the facade adds the run's own, and the near copies
        its sampling rejected to the privacy block)."""
        best = self.best_theta()
        return {
            "theta": best.to_dict() if best is not None else None,
            "current_theta": self.current_theta.to_dict(),
            "current_origin": self.current_origin,
            "proposal_pending": self.proposal_pending,
            "history": self.history.to_list(),
            "usage": self.usage.to_dict(),
            "stopped": self.stop.message if self.stop else None,
            "stop_reason": self.stop.reason.value if self.stop else None,
            "patience_state": ({"since_best": self.patience.since_best,
                                "best_iteration": self.patience.best_iteration} if self.patience else None),
            "privacy": privacy_record(self.release_gate, [e.report for e in self.history.entries], self.exposure,
                                      sample_near_copies=sample_near_copies),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any], *, selection: str) -> Progress:
        """The progress saved in checkpoint ``state`` (history entries without their discriminator parts:
        the loop replays them)."""
        history = History(selection)
        history.entries = [HistoryEntry.from_dict(e) for e in state.get("history", [])]
        usage = UsageTracker()
        usage.load_dict(state.get("usage", {}))
        origin = state.get("current_origin") or "resumed"
        pending = bool(state.get("proposal_pending")) or origin == _LEGACY_PENDING
        if origin == _LEGACY_PENDING:
            origin = history.entries[-1].origin if history.entries else "initial"
        saved = state.get("patience_state")
        # without a saved count the loop starts it from the replayed history's best
        patience = Patience(int(saved["since_best"]), int(saved["best_iteration"])) if saved else None
        gate, exposure, _ = read_privacy(state)
        return cls(
            history=history,
            current_theta=DataGenerationProcess.from_dict(state.get("current_theta") or state["initial_theta"]),
            current_origin=origin, proposal_pending=pending and bool(history.entries),
            stop=_stop_from(state), patience=patience, usage=usage, llm_name=state.get("llm"),
            release_gate=gate, exposure=exposure,
        )


def _stop_from(state: dict[str, Any]) -> Stop | None:
    message = state.get("stopped")
    if not message:
        return None
    reason = state.get("stop_reason")
    if reason is None:
        reason = StopReason.EARLY.value if str(message).startswith(_LEGACY_EARLY) else StopReason.BUDGET.value
    return Stop(StopReason(reason), str(message))


__all__ = ["Patience", "Progress", "Stop", "StopReason"]
