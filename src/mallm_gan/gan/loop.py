"""The adversarial loop: epochs x batches of generate -> discriminate -> re-score -> optimize.

:func:`run_loop` takes the settings, the data, the clients and what a checkpoint says was done, and returns
the :class:`~mallm_gan.gan.progress.Progress` it reached; it never touches the caller's objects. After every
finished iteration it hands the progress to ``on_checkpoint``, so the caller can save it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import runstate
from ..errors import BudgetExceededError
from ..settings import Settings
from ..table.schema import TableSchema
from ..theta.process import DataGenerationProcess
from .clients import Clients
from .discriminator import Discriminator, Update, real_holdout
from .exposure import ExposureLedger
from .feedback import structure_record
from .generator import Generator
from .optimizer import History, HistoryEntry, Optimizer
from .progress import Patience, Progress, Stop, StopReason
from .proposals import Proposer, default_form
from .seeds import Stream, stream_seed
from .validation import RowValidator

log = logging.getLogger(__name__)
Callback = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class LoopData:
    """What one fit works on: the schema, the normalised training rows, the starting θ and the run seed."""

    schema: TableSchema
    train: pd.DataFrame
    initial_theta: DataGenerationProcess
    seed: int
    run_dir: Path | None = None


async def run_loop(
    settings: Settings,
    data: LoopData,
    clients: Clients,
    *,
    resume: Progress | None = None,
    on_checkpoint: Callable[[Progress], None] = lambda progress: None,
    callbacks: Sequence[Callback] = (),
) -> Progress:
    """Run the loop from scratch, or on from ``resume``; the clients are closed at the end when owned.

    Raises:
        BudgetExceededError: the budget was reached before the first iteration finished (after that, the
            run stops cleanly with ``Progress.stop`` saying so).
        LLMError, GenerationError: a permanent endpoint error, or too few valid rows.
    """
    try:
        return await _Loop(settings, data, clients, on_checkpoint, callbacks).run(resume)
    finally:
        await clients.aclose()


class _Loop:
    def __init__(self, settings: Settings, data: LoopData, clients: Clients,
                 on_checkpoint: Callable[[Progress], None], callbacks: Sequence[Callback]) -> None:
        self.s, self.data, self.clients = settings, data, clients
        self.on_checkpoint, self.callbacks = on_checkpoint, list(callbacks)
        schema, train, seed = data.schema, data.train, data.seed
        self.validator = RowValidator(schema, train, copy_policy=settings.copy_policy, copy_k=settings.copy_k,
                                      release_gate=settings.gate())
        # every real row put in a prompt is counted here (and capped by max_exposure), the resumed run's too
        self.exposure = ExposureLedger(settings.max_exposure)
        self.discriminator = Discriminator(schema, kind=settings.discriminator, random_state=seed)
        holdout = real_holdout(len(train), self.discriminator.test_size, stream_seed(seed, Stream.HOLDOUT))
        self.held_out = np.zeros(len(train), dtype=bool)
        self.held_out[holdout] = True
        self.discriminator.fit_encoder(train, holdout=train.iloc[holdout])
        self.generator = Generator(clients.generator, schema, temperature=settings.generator_temperature,
                                   rows_per_call=settings.rows_per_call, max_rounds=settings.max_rounds,
                                   exposure=self.exposure)
        optimizer = Optimizer(clients.optimizer, schema, temperature=settings.optimizer_temperature,
                              top_k=settings.top_k, form=settings.optimizer_form or default_form(clients.optimizer))
        self.proposer = Proposer(optimizer, schema, train, self.discriminator, self.generator, self.validator,
                                 feedback=settings.optimizer_feedback, candidates=settings.optimizer_candidates,
                                 max_prompt_tokens=settings.max_prompt_tokens, n_examples=settings.n_examples)
        self.per_epoch = math.ceil(len(train) / settings.batch_size)
        self.total = settings.epochs * self.per_epoch

    def emit(self, event: str, info: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback(event, info)

    async def run(self, resume: Progress | None) -> Progress:
        progress = self._start(resume)
        self.emit("start", {"endpoint": self.clients.generator.describe(),
                            "optimizer": self.clients.optimizer.describe(), "iterations": self.total,
                            "done": len(progress.history), "rows": len(self.data.train)})
        # a run that stopped early is finished: running its command again must not extend it
        first = self.total if progress.finished_early else len(progress.history)
        if not progress.finished_early:
            progress.stop = None
        try:
            if progress.proposal_pending:
                await self._propose_pending(progress)
            for it in range(first, self.total):
                if await self._step(it, progress):
                    break
        except BudgetExceededError as exc:
            if not progress.history.entries:
                raise
            progress.stop = Stop(StopReason.BUDGET, f"budget reached: {exc.message}")
            log.warning("%s; keeping the best θ of %d finished iterations", exc.message, len(progress.history))
        self.on_checkpoint(progress)
        self.emit("end", {"best": progress.history.best(), "usage": progress.usage,
                          "stopped": progress.stop.message if progress.stop else None})
        return progress

    def _start(self, resume: Progress | None) -> Progress:
        """A fresh progress, or the resumed one with the discriminator and history of its finished iterations
        rebuilt."""
        history = History(self.s.selection)
        if resume is None:
            progress = Progress(history=history, current_theta=self.data.initial_theta)
        else:
            for entry in resume.history.entries:
                history.add(entry, self._replayed_part(entry))
            progress = replace(resume, history=history)  # the caller's object stays as it was
            log.info("replayed %d finished iterations", len(history))
        if progress.patience is None:
            progress.patience = Patience(0, history.best().iteration if history.entries else -1)
        progress.usage = self.clients.usage if resume is None else _merged_usage(self.clients, resume)
        progress.llm_name = self.clients.generator.describe()
        if resume is not None and resume.exposure is not None:
            self.exposure.merge(resume.exposure)
        progress.exposure, progress.release_gate = self.exposure, self.validator.gate_.to_dict()
        return progress

    def _replayed_part(self, entry: HistoryEntry) -> Update:
        schema = self.data.schema
        synthetic = schema.cast(pd.DataFrame(entry.synthetic, columns=schema.names))
        part = self.discriminator.split(self._discriminator_rows(entry.real_indices), synthetic, entry.split_seed)
        self.discriminator.update(part, entry.split_seed)
        return part

    async def _propose_pending(self, progress: Progress) -> None:
        """The last run stopped before the proposal that follows its last iteration: make it now, as an
        uninterrupted run would have, and book it to that iteration."""
        last, before = progress.history.entries[-1], progress.usage.total
        seed = stream_seed(self.data.seed, Stream.OPTIMIZE, last.iteration)
        progress.current_theta, progress.current_origin = await self.proposer.propose(progress.history, seed=seed)
        progress.proposal_pending = False
        after = progress.usage.total
        last.calls += after.calls - before.calls
        last.tokens = {"prompt": last.tokens.get("prompt", 0) + after.prompt_tokens - before.prompt_tokens,
                       "completion": last.tokens.get("completion", 0) + after.completion_tokens
                       - before.completion_tokens}
        self.on_checkpoint(progress)

    async def _step(self, it: int, progress: Progress) -> bool:
        """Iteration ``it`` and the proposal that follows it; True when the run stops early after it."""
        history, usage, patience = progress.history, progress.usage, progress.patience
        assert patience is not None
        started, before = time.perf_counter(), usage.total
        self.generator.set_yield(sum(e.report.get("generated", 0) for e in history.entries),
                                 sum(e.report.get("accepted", 0) for e in history.entries))
        entry, part = await self._iteration(it, progress.current_theta, progress.current_origin)
        history.add(entry, part)
        history.rescore(self.discriminator)
        best = history.best()
        if best.iteration != patience.best_iteration:
            patience.best_iteration, patience.since_best = best.iteration, 0
        else:
            patience.since_best += 1
        stop_early = self.s.patience is not None and patience.since_best >= self.s.patience
        pending: BudgetExceededError | None = None
        if it < self.total - 1 and not stop_early:
            try:
                seed = stream_seed(self.data.seed, Stream.OPTIMIZE, it)
                progress.current_theta, progress.current_origin = await self.proposer.propose(history, seed=seed)
            except BudgetExceededError as exc:
                # the iteration is finished; its proposal is made first thing when the run resumes
                pending, progress.proposal_pending = exc, True
        after = usage.total
        entry.calls = after.calls - before.calls
        entry.tokens = {"prompt": after.prompt_tokens - before.prompt_tokens,
                        "completion": after.completion_tokens - before.completion_tokens}
        entry.seconds = time.perf_counter() - started
        self.on_checkpoint(progress)
        self.emit("iteration", {"entry": entry, "best": best, "total": self.total,
                                "next_origin": "pending" if pending else progress.current_origin})
        if pending is not None:
            raise pending
        if stop_early:
            progress.stop = Stop(StopReason.EARLY, f"early stop: no better score for {self.s.patience} iterations")
        return stop_early

    async def _iteration(
        self, it: int, theta: DataGenerationProcess, origin: str
    ) -> tuple[HistoryEntry, Update]:
        train, seed, k = self.data.train, self.data.seed, self.s.n_examples
        epoch, batch = divmod(it, self.per_epoch)
        order = np.random.default_rng(stream_seed(seed, Stream.EPOCH_ORDER, epoch)).permutation(len(train))
        idx = order[batch * self.s.batch_size:(batch + 1) * self.s.batch_size]
        real = train.iloc[idx]
        chunks = [real.iloc[i:i + k] for i in range(0, len(real), k)]
        # at least two rows, so that one trains the discriminator and one is held out to score θ (a last batch
        # of one row with one row per call would ask for one and then fail for not reaching the minimum of two)
        wanted = max(2, len(chunks) * self.s.rows_per_call)

        def topup_examples(round_no: int) -> list[pd.DataFrame]:
            rng = np.random.default_rng(stream_seed(seed, Stream.TOPUP_EXAMPLES, it, round_no))
            return [train.iloc[rng.choice(len(train), size=min(k, len(train)), replace=False)]
                    for _ in chunks]

        result = await self.generator.generate(
            theta, topup_examples, self.validator, wanted=wanted, minimum=max(2, math.ceil(0.2 * wanted)),
            seed=stream_seed(seed, Stream.GENERATE, it), first_round=chunks,
        )
        synthetic = result.frame(self.data.schema)
        split_seed = stream_seed(seed, Stream.SPLIT, it)
        part = self.discriminator.split(self._discriminator_rows(idx), synthetic, split_seed)
        raw = self.discriminator.update(part, split_seed)
        entry = HistoryEntry(
            iteration=it, epoch=epoch, batch=batch, theta=theta, raw_score=raw, score=raw,
            real_indices=[int(i) for i in idx], synthetic=runstate.to_records(synthetic),
            split_seed=split_seed, report=result.report.to_dict(), origin=origin,
            structure=structure_record(train, synthetic, self.data.schema, theta.dag),
        )
        return entry, part

    def _discriminator_rows(self, idx: Sequence[int] | np.ndarray) -> pd.DataFrame:
        """The batch's real rows the discriminator may train on: all but the fixed real holdout."""
        idx = np.asarray(idx, dtype=int)
        return self.data.train.iloc[idx[~self.held_out[idx]]]


def _merged_usage(clients: Clients, resume: Progress) -> Any:
    """The clients' tracker (which holds the budget of this process), starting from the saved usage."""
    clients.usage.load_dict(resume.usage.to_dict())
    return clients.usage


__all__ = ["LoopData", "run_loop"]
