"""The adversarial loop: epochs x batches of generate -> discriminate -> re-score -> optimize."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import runstate
from ..errors import BudgetExceededError, ConfigError
from ..llm.base import LLMClient
from ..llm.usage import UsageTracker
from ..theta.process import DataGenerationProcess
from .discriminator import Discriminator, real_holdout
from .generator import Generator, derive_seed
from .optimizer import History, HistoryEntry, Optimizer
from .validation import RowValidator

if TYPE_CHECKING:
    from ..synthesizer import MallmGan

log = logging.getLogger(__name__)
Callback = Callable[[str, dict[str, Any]], None]

# seed streams: one derived seed per purpose, so changing one use never shifts another
EPOCH_ORDER, TOPUP_EXAMPLES, GENERATE, SPLIT, OPTIMIZE, HOLDOUT = 1, 2, 3, 4, 5, 6
# the origin saved when a budget stopped the run between an iteration and the optimizer's proposal for it
PENDING = "pending proposal"


# the "no LLM given" notice is said once per process, not once per client or per sampling request
_DEFAULT_NOTICE_GIVEN: list[bool] = []


def open_clients(model: MallmGan) -> tuple[LLMClient, LLMClient, UsageTracker, bool]:
    """The generator and optimizer clients of ``model``, sharing one usage tracker and budget.

    Returns (generator client, optimizer client, usage, owned) where ``owned`` says the clients were
    created here and must be closed by the caller.
    """
    from ..llm.registry import create_llm, resolve_spec

    usage = UsageTracker(max_calls=model.max_calls, max_tokens=model.max_tokens)
    cache_dir = model.run_dir_ if getattr(model, "run_dir_", None) is not None else None
    clients = []
    for spec in (model.llm, model.optimizer_llm if model.optimizer_llm is not None else model.llm):
        if spec is not None and not isinstance(spec, str):
            clients.append(spec)
            continue
        resolved, is_default = resolve_spec(spec)
        if is_default and not _DEFAULT_NOTICE_GIVEN:
            _DEFAULT_NOTICE_GIVEN.append(True)
            log.warning(
                "no LLM given: using the embedded local model (%s); point --llm / MALLM_LLM at a stronger "
                "model (e.g. openai:gpt-4o) for real quality", resolved,
            )
        options: dict[str, Any] = {"timeout": model.timeout, "cache_dir": cache_dir, "usage": usage}
        if model.max_concurrency is not None:
            options["max_concurrency"] = model.max_concurrency
        clients.append(create_llm(resolved, **options))
    generator_client, optimizer_client = clients
    if isinstance(model.llm, (str, type(None))) and model.optimizer_llm is None:
        optimizer_client = generator_client  # one client, one engine, one semaphore
        clients = [generator_client]
    if model.local_only:
        for client in (generator_client, optimizer_client):
            if not client.is_local:
                raise ConfigError(
                    f"--local-only: {client.describe()} is neither in-process nor on localhost; real rows "
                    "would leave this machine"
                )
    if not isinstance(model.llm, (str, type(None))):
        usage = generator_client.usage
    return generator_client, optimizer_client, usage, isinstance(model.llm, (str, type(None)))


class AdversarialLoop:
    """Runs (or resumes) the loop of one :class:`MallmGan` and records everything on it."""

    def __init__(self, model: MallmGan, *, callbacks: Sequence[Callback] = ()) -> None:
        self.model = model
        self.callbacks = list(callbacks)

    def emit(self, event: str, info: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback(event, info)

    async def run(self, state: dict[str, Any] | None) -> None:
        model = self.model
        gen_client, opt_client, usage, owned = open_clients(model)
        try:
            await self._run(state, gen_client, opt_client, usage)
        finally:
            if owned:
                for client in {id(c): c for c in (gen_client, opt_client)}.values():
                    await client.aclose()

    async def _run(
        self, state: dict[str, Any] | None, gen_client: LLMClient, opt_client: LLMClient, usage: UsageTracker
    ) -> None:
        model = self.model
        schema, train, seed = model.schema_, model.train_, model.seed_
        model.llm_name_ = gen_client.describe()
        model.usage_ = usage
        validator = RowValidator(
            schema, train, copy_policy=model.copy_policy, copy_k=model.copy_k,
            release_gate=model.gate_setting(),
        )
        model.release_gate_ = validator.gate_.to_dict()
        discriminator = Discriminator(schema, kind=model.discriminator, random_state=seed)
        holdout = real_holdout(len(train), discriminator.test_size, derive_seed(seed, HOLDOUT))
        self._held_out = np.zeros(len(train), dtype=bool)
        self._held_out[holdout] = True
        discriminator.fit_encoder(train, holdout=train.iloc[holdout])
        generator = Generator(
            gen_client, schema, temperature=model.generator_temperature, rows_per_call=model.rows_per_call,
            max_rounds=model.max_rounds, exposure=model.exposure_,
        )
        optimizer = Optimizer(opt_client, schema, temperature=model.optimizer_temperature, top_k=model.top_k)
        history = History(model.selection)
        theta = model.initial_theta_
        origin = "initial"
        if state is not None:
            theta, origin = self._replay(state, history, discriminator, usage)
        model.history_ = history
        model.current_theta_, model.current_origin_ = theta, origin  # a pending proposal stays pending

        n = len(train)
        per_epoch = math.ceil(n / model.batch_size)
        total = model.epochs * per_epoch
        self.emit("start", {"endpoint": gen_client.describe(), "optimizer": opt_client.describe(),
                            "iterations": total, "done": len(history), "rows": n})
        since_best, best_iteration = 0, history.best().iteration if history.entries else -1
        if state is not None and state.get("patience_state"):
            # early stopping counts iterations without a new best across the interruption, as if none happened
            since_best = int(state["patience_state"]["since_best"])
            best_iteration = int(state["patience_state"]["best_iteration"])
        # a run that stopped early is finished: running its command again must not extend it
        stopped = str(state.get("stopped") or "") if state is not None else ""
        model.stopped_ = stopped if stopped.startswith("early stop") else None
        first = total if model.stopped_ else len(history)
        try:
            if origin == PENDING and history.entries:
                # the last run stopped before the proposal that follows its last iteration: make it now, as an
                # uninterrupted run would have, and book it to that iteration
                last, before = history.entries[-1], usage.total
                theta, origin = await optimizer.propose(history, seed=derive_seed(seed, OPTIMIZE, last.iteration))
                after = usage.total
                last.calls += after.calls - before.calls
                last.tokens = {"prompt": last.tokens.get("prompt", 0) + after.prompt_tokens - before.prompt_tokens,
                               "completion": last.tokens.get("completion", 0) + after.completion_tokens
                               - before.completion_tokens}
                model.current_theta_, model.current_origin_ = theta, origin
                self._checkpoint()
            for it in range(first, total):
                epoch, batch = divmod(it, per_epoch)
                order = np.random.default_rng(derive_seed(seed, EPOCH_ORDER, epoch)).permutation(n)
                idx = order[batch * model.batch_size:(batch + 1) * model.batch_size]
                started = time.perf_counter()
                before = usage.total
                generator.set_yield(sum(e.report.get("generated", 0) for e in history.entries),
                                    sum(e.report.get("accepted", 0) for e in history.entries))
                entry, part = await self._iteration(
                    it, epoch, batch, idx, theta, origin, generator, validator, discriminator
                )
                history.add(entry, part)
                history.rescore(discriminator)
                best = history.best()
                if best.iteration != best_iteration:
                    best_iteration, since_best = best.iteration, 0
                else:
                    since_best += 1
                stop_early = model.patience is not None and since_best >= model.patience
                model.patience_state_ = {"since_best": since_best, "best_iteration": best_iteration}
                pending: BudgetExceededError | None = None
                if it < total - 1 and not stop_early:
                    try:
                        theta, origin = await optimizer.propose(history, seed=derive_seed(seed, OPTIMIZE, it))
                    except BudgetExceededError as exc:
                        # the iteration is finished; its proposal is made first thing when the run resumes
                        pending, origin = exc, PENDING
                after = usage.total
                entry.calls = after.calls - before.calls
                entry.tokens = {"prompt": after.prompt_tokens - before.prompt_tokens,
                                "completion": after.completion_tokens - before.completion_tokens}
                entry.seconds = time.perf_counter() - started
                model.theta_ = best.theta
                model.current_theta_ = theta
                model.current_origin_ = origin
                self._checkpoint()
                self.emit("iteration", {"entry": entry, "best": best, "total": total})
                if pending is not None:
                    raise pending
                if stop_early:
                    model.stopped_ = f"early stop: no better score for {model.patience} iterations"
                    break
        except BudgetExceededError as exc:
            if not history.entries:
                raise
            model.stopped_ = f"budget reached: {exc.message}"
            log.warning("%s; keeping the best θ of %d finished iterations", exc.message, len(history))
        model.theta_ = history.best().theta
        self._checkpoint()
        if model.run_dir_ is not None:
            model._write_model(model.run_dir_)  # the caller says the file holds real rows
        self.emit("end", {"best": history.best(), "usage": usage, "stopped": model.stopped_})

    async def _iteration(
        self, it: int, epoch: int, batch: int, idx: np.ndarray, theta: DataGenerationProcess, origin: str,
        generator: Generator, validator: RowValidator, discriminator: Discriminator,
    ) -> tuple[HistoryEntry, Any]:
        model = self.model
        train, seed, k = model.train_, model.seed_, model.n_examples
        real = train.iloc[idx]
        chunks = [real.iloc[i:i + k] for i in range(0, len(real), k)]
        # at least two rows, so that one trains the discriminator and one is held out to score θ (a last batch
        # of one row with one row per call would ask for one and then fail for not reaching the minimum of two)
        wanted = max(2, len(chunks) * model.rows_per_call)

        def topup_examples(round_no: int) -> list[pd.DataFrame]:
            rng = np.random.default_rng(derive_seed(seed, TOPUP_EXAMPLES, it, round_no))
            return [train.iloc[rng.choice(len(train), size=min(k, len(train)), replace=False)]
                    for _ in chunks]

        result = await generator.generate(
            theta, topup_examples, validator, wanted=wanted, minimum=max(2, math.ceil(0.2 * wanted)),
            seed=derive_seed(seed, GENERATE, it), first_round=chunks,
        )
        synthetic = result.frame(model.schema_)
        split_seed = derive_seed(seed, SPLIT, it)
        part = discriminator.split(self._discriminator_rows(idx), synthetic, split_seed)
        raw = discriminator.update(part, split_seed)
        entry = HistoryEntry(
            iteration=it, epoch=epoch, batch=batch, theta=theta, raw_score=raw, score=raw,
            real_indices=[int(i) for i in idx], synthetic=runstate.to_records(synthetic),
            split_seed=split_seed, report=result.report.to_dict(), origin=origin,
        )
        return entry, part

    def _discriminator_rows(self, idx: Sequence[int] | np.ndarray) -> pd.DataFrame:
        """The batch's real rows the discriminator may train on: all but the fixed real holdout."""
        idx = np.asarray(idx, dtype=int)
        return self.model.train_.iloc[idx[~self._held_out[idx]]]

    def _replay(
        self, state: dict[str, Any], history: History, discriminator: Discriminator, usage: UsageTracker
    ) -> tuple[DataGenerationProcess, str]:
        """Rebuild the discriminator and history of finished iterations from a checkpoint."""
        model = self.model
        for data in state.get("history", []):
            entry = HistoryEntry.from_dict(data)
            synthetic = model.schema_.cast(pd.DataFrame(entry.synthetic, columns=model.schema_.names))
            part = discriminator.split(self._discriminator_rows(entry.real_indices), synthetic, entry.split_seed)
            discriminator.update(part, entry.split_seed)
            history.add(entry, part)
        usage.load_dict(state.get("usage", {}))
        theta = DataGenerationProcess.from_dict(state.get("current_theta") or state["initial_theta"])
        origin = state.get("current_origin") or "resumed"
        if history.entries:
            model.theta_ = history.best().theta
        log.info("replayed %d finished iterations", len(history))
        return theta, origin

    def _checkpoint(self) -> None:
        model = self.model
        if model.run_dir_ is None:
            return
        runstate.atomic_write_json(model.run_dir_ / runstate.CHECKPOINT, model._state(complete=False))
