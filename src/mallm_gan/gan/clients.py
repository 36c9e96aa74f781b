"""The generator's and the optimizer's LLM clients of one fit or sampling request, sharing one budget."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..llm.base import LLMClient
from ..llm.usage import UsageTracker
from ..settings import Settings

log = logging.getLogger(__name__)

# the "no LLM given" notice is said once per process, not once per client or per sampling request
_DEFAULT_NOTICE_GIVEN: list[bool] = []


@dataclass
class Clients:
    """``owned``: the clients were built here from specs, so whoever opened them closes them."""

    generator: LLMClient
    optimizer: LLMClient
    usage: UsageTracker
    owned: bool

    def distinct(self) -> list[LLMClient]:
        return list({id(c): c for c in (self.generator, self.optimizer)}.values())

    async def aclose(self) -> None:
        if self.owned:
            for client in self.distinct():
                await client.aclose()


def open_clients(settings: Settings, cache_dir: Path | None, *, adopt: UsageTracker | None = None) -> Clients:
    """The clients ``settings.llm`` and ``settings.optimizer_llm`` name (specs or client objects).

    Args:
        adopt: A fitted run's tracker: the structured-output modes its endpoints took are used from the start.

    Raises:
        ConfigError: a malformed spec, or ``local_only`` and an endpoint off this machine.
    """
    from ..llm.registry import create_llm, resolve_spec

    usage = UsageTracker(max_calls=settings.max_calls, max_tokens=settings.max_tokens)
    usage.adopt_structured(adopt)

    def build(spec: Any) -> LLMClient:
        if spec is not None and not isinstance(spec, str):
            return spec
        resolved, is_default = resolve_spec(spec)
        if is_default and not _DEFAULT_NOTICE_GIVEN:
            _DEFAULT_NOTICE_GIVEN.append(True)
            log.warning(
                "no LLM given: using the embedded local model (%s); point --llm / MALLM_LLM at a stronger "
                "model (e.g. openai:gpt-4o) for real quality", resolved,
            )
        return create_llm(resolved, timeout=settings.timeout, cache_dir=cache_dir, usage=usage,
                          max_concurrency=settings.max_concurrency)

    generator = build(settings.llm)
    # without an optimizer of its own, the optimizer is the generator's client: one engine, one semaphore
    optimizer = generator if settings.optimizer_llm is None else build(settings.optimizer_llm)
    owned = isinstance(settings.llm, (str, type(None)))
    if settings.local_only:
        for client in (generator, optimizer):
            if not client.is_local:
                raise ConfigError(
                    f"--local-only: {client.describe()} is neither in-process nor on localhost; real rows "
                    "would leave this machine"
                )
    if not owned:
        usage = generator.usage
    return Clients(generator, optimizer, usage, owned)
