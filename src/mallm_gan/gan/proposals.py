"""How the loop gets its next θ: the optimizer's answer form, feedback in its prompt, and K candidates.

With one candidate, no feedback and the whole-DAG form this is the paper's optimizer step. With
``candidates=K`` the optimizer is asked K times at once (seeds differ), each distinct proposal writes a
small probe batch concurrently, and the current discriminator keeps the one it finds hardest to tell from
real rows.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import GenerationError, LLMError
from ..llm.base import LLMClient
from ..table.schema import TableSchema
from ..theta.process import DataGenerationProcess
from .discriminator import Discriminator
from .feedback import MAX_CHARS, feedback_block
from .generator import Generator
from .optimizer import History, Optimizer
from .prompts import estimate_tokens, optimizer_messages
from .seeds import derive_seed
from .validation import RowValidator

log = logging.getLogger(__name__)

#: The optimizer answer form per catalogue model: the form whose answers more often parse and survive
#: repair unchanged, as measured by benchmarks/optimizer_forms.py. Other models get the whole-DAG form.
FORM_BY_MODEL: dict[str, str] = {
    "smollm2-135m": "dag",  # unchanged by repair: 19% / 12% (dag) vs 12% / 6% (edits) on asia / insurance N=50
    "gemma3-270m": "dag",  # 50% / 62% (dag) vs 19% / 12% (edits)
}
#: Synthetic rows each candidate writes to be judged by the discriminator.
PROBE_ROWS = 10


def default_form(client: LLMClient) -> str:
    """The answer form for ``client``'s model: :data:`FORM_BY_MODEL`, else ``"dag"``."""
    name = str(getattr(client, "model", "") or "").strip().lower()
    return FORM_BY_MODEL.get(name.removeprefix("local:"), "dag")


@dataclass
class Proposer:
    """The optimizer step of the loop (see the module docstring).

    Args:
        optimizer: The optimizer role (its ``form`` says how it asks and reads answers).
        schema, train: The table's schema and real training rows (feedback aggregates them).
        discriminator: The current discriminator (ranks the feedback, judges the probes).
        generator, validator: Write and check the probe rows of each candidate.
        feedback: Put the feedback block in the optimizer's prompt.
        candidates: Proposals per step (1: the paper's loop, no probes).
        max_prompt_tokens: Upper bound on the optimizer's prompt; the feedback block shrinks to fit.
        n_examples: Real rows shown per probe call.
    """

    optimizer: Optimizer
    schema: TableSchema
    train: pd.DataFrame
    discriminator: Discriminator
    generator: Generator
    validator: RowValidator
    feedback: bool = False
    candidates: int = 1
    max_prompt_tokens: int | None = None
    n_examples: int = 5

    def feedback_text(self, history: History) -> str:
        """The feedback block on the best θ's rows ("" when feedback is off)."""
        if not self.feedback:
            return ""
        return history_feedback(history, self.schema, self.train, self.discriminator, top_k=self.optimizer.top_k,
                                form=self.optimizer.form, max_prompt_tokens=self.max_prompt_tokens)

    async def propose(self, history: History, *, seed: int) -> tuple[DataGenerationProcess, str]:
        """The next θ and its origin. Budget and permanent endpoint errors propagate."""
        text = self.feedback_text(history)
        if self.candidates == 1:
            return await self.optimizer.propose(history, seed=seed, feedback=text)
        seeds = [seed] + [derive_seed(seed, j) for j in range(1, self.candidates)]
        proposals = await _all(self.optimizer.propose(history, seed=s, feedback=text) for s in seeds)
        distinct = list({theta: (theta, origin) for theta, origin in proposals}.values())
        if len(distinct) == 1:
            return distinct[0]
        scores = await _all(self._probe(theta, derive_seed(seed, 10_000, j)) for j, (theta, _) in
                            enumerate(distinct))
        pick = int(np.argmin([math.inf if math.isnan(s) else s for s in scores]))
        theta, origin = distinct[pick]
        log.info("kept candidate %d of %d (probe scores %s)", pick + 1, len(distinct),
                 ", ".join(f"{s:.3f}" for s in scores))
        return theta, f"{origin}; best of {len(distinct)} candidates (probe {scores[pick]:.3f})"

    async def _probe(self, theta: DataGenerationProcess, seed: int) -> float:
        """The current discriminator's score of a few rows written with ``theta`` (NaN when none came)."""
        rng = np.random.default_rng(seed)
        k = min(self.n_examples, len(self.train))
        calls = max(1, math.ceil(PROBE_ROWS / self.generator.rows_per_call))

        def examples(_round: int) -> list[pd.DataFrame]:
            return [self.train.iloc[rng.choice(len(self.train), size=k, replace=False)] for _ in range(calls)]

        try:
            result = await self.generator.generate(theta, examples, self.validator, wanted=PROBE_ROWS,
                                                   minimum=1, seed=seed)
        except GenerationError as exc:
            log.info("a candidate's probe failed (%s)", exc)
            return float("nan")
        except LLMError as exc:
            if not exc.transient:
                raise
            return float("nan")
        rows = result.frame(self.schema)
        return self.discriminator.score(self.discriminator.encoder_.transform(rows))


def history_feedback(
    history: History, schema: TableSchema, train: pd.DataFrame, discriminator: Discriminator | None, *,
    top_k: int = 3, form: str = "dag", max_prompt_tokens: int | None = None,
) -> str:
    """The feedback block on the best θ's synthetic rows and rejections, sized to leave the optimizer's
    prompt (its top-k versions in ``form``) within ``max_prompt_tokens``; "" without history or room."""
    if not history.entries:
        return ""
    best = history.top_k(1)[0]
    synthetic = schema.cast(pd.DataFrame(best.synthetic, columns=schema.names))
    budget = MAX_CHARS
    if max_prompt_tokens is not None:
        top = history.top_k(top_k)
        base = optimizer_messages([(e.theta, e.score) for e in top], schema, context=best.theta.context, form=form)
        budget = min(budget, 4 * (max_prompt_tokens - sum(estimate_tokens(m["content"]) for m in base)))
    if budget < 200:
        return ""
    return feedback_block(schema, train, synthetic, best.theta.dag, discriminator=discriminator,
                          report=best.report, max_chars=budget)


async def _all(awaitables) -> list:
    """Run the awaitables concurrently; after all have finished, raise the first error if any did."""
    results = await asyncio.gather(*awaitables, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return list(results)


__all__ = ["FORM_BY_MODEL", "PROBE_ROWS", "Proposer", "default_form", "history_feedback"]
