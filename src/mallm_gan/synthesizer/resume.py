"""A run directory's checkpoint: what it holds, and whether a new ``fit`` may resume it.

A run is resumed only when everything that decides what it computes is the same: the data, the seed, the
parameters of :data:`~mallm_gan.settings.IDENTITY`, the LLMs and the θ it started from. Anything else is
refused with a message naming what differs, because resuming would run the old settings under the new
ones' name.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from .. import runstate
from ..errors import ConfigError
from ..gan.progress import Progress
from ..settings import Settings, llm_identity
from ..table.schema import TableSchema
from ..theta.process import DataGenerationProcess

log = logging.getLogger(__name__)

WARNING = ("This file contains real training rows (used as generator examples and for the copy guard). "
           "Treat it like the data itself.")
# how a user sets each part of the starting θ, for the message that refuses a change of it
THETA_OPTIONS = {"context": "context= / --context", "dag": "dag= / --dag", "instruction": "instruction=",
                 "theta": "theta= / --theta"}


def identity(settings: Settings, train: pd.DataFrame, seed: int, schema: TableSchema) -> dict[str, Any]:
    """The run's identity: the settings', the data's fingerprint and the seed. Its ``constraints`` are the
    rules the schema binds (the parameter's and the metadata file's, canonical, learnt combinations written
    out), so a rule changed in either place is a different run."""
    return settings.identity() | {
        "data": runstate.fingerprint(train), "seed": seed, "constraints": list(schema.constraints),
    }


def run_document(
    settings: Settings, seed: int, schema: TableSchema, train: pd.DataFrame, initial_theta: DataGenerationProcess,
    progress: Progress, *, complete: bool, sample_near_copies: int = 0,
) -> dict[str, Any]:
    """The checkpoint (``complete=False``) or model file of a run."""
    return {
        "format": runstate.FORMAT_VERSION, "complete": complete, "warning": WARNING,
        "params": settings.to_dict(), "identity": identity(settings, train, seed, schema), "llm": progress.llm_name,
        "schema": schema.to_dict(), "initial_theta": initial_theta.to_dict(),
        "train": runstate.to_records(train),
    } | progress.to_dict(sample_near_copies=sample_near_copies)


def read_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    """The checkpoint in ``run_dir``, or ``None``; a checkpoint of another format is refused."""
    path = run_dir / runstate.CHECKPOINT
    if not path.exists():
        return None
    state = runstate.read_json(path)
    if state.get("format", 1) != runstate.FORMAT_VERSION:
        raise ConfigError(
            f"{path} was written by a version of mallm-gan that scored θ differently (checkpoint format "
            f"{state.get('format', 1)}, this version writes {runstate.FORMAT_VERSION}), so the run cannot be "
            "resumed; its model.json still samples. Use another run directory or delete this one to start over"
        )
    return state


def saved_seed(state: dict[str, Any] | None) -> int | None:
    return None if state is None else state.get("identity", {}).get("seed")


def resumable(
    state: dict[str, Any], run_dir: Path, settings: Settings, mine: dict[str, Any],
    theta: DataGenerationProcess, *, theta_given: bool,
) -> Progress:
    """The progress saved in ``state``, if this fit (identity ``mine``, starting θ ``theta``) continues it.

    Raises:
        ConfigError: naming every setting that differs, or the option that changed the starting θ.
    """
    saved = _saved_identity(state)
    diff = sorted(k for k in mine if k in saved and saved[k] != mine[k])
    if diff:
        raise ConfigError(
            f"{run_dir} holds a different run (differs in: {', '.join(diff)}); use another run directory, or "
            "start over in this one with fresh=True (--fresh)",
            differs=diff,
        )
    started = DataGenerationProcess.from_dict(state["initial_theta"])
    if started != theta:
        changed = ["theta"] if theta_given else [
            part for part in ("context", "dag", "instruction") if getattr(started, part) != getattr(theta, part)
        ]
        options = ", ".join(THETA_OPTIONS[part] for part in changed)
        raise ConfigError(
            f"{run_dir} holds a run that started from another θ ({', '.join(changed)} differs); resuming would "
            f"keep running the old θ. Rerun without changing {options} to resume it, or start over with "
            "fresh=True (--fresh), which discards its finished iterations",
            differs=changed,
        )
    log.info("resuming from %s: %d iterations done", run_dir, len(state.get("history", [])))
    return Progress.from_dict(state, selection=settings.selection)


def _saved_identity(state: dict[str, Any]) -> dict[str, Any]:
    """The saved identity; a checkpoint written before it named selection, max_rounds and the LLMs is
    completed from its saved parameters."""
    saved = dict(state.get("identity", {}))
    params = state.get("params", {})
    for name in ("selection", "max_rounds"):
        if name not in saved and name in params:
            saved[name] = params[name]
    if "llm" not in saved and "llm" in params:
        saved["llm"] = llm_identity(params["llm"])
        saved["optimizer_llm"] = llm_identity(params.get("optimizer_llm") or params["llm"])
    return saved


def discard(run_dir: Path) -> None:
    """Start over in ``run_dir``: its checkpoint and model are removed (the LLM cache stays: it is keyed by
    request, so it can only answer requests that are asked again)."""
    for name in (runstate.CHECKPOINT, runstate.MODEL):
        if (run_dir / name).exists():
            log.warning("starting over in %s: removing its %s", run_dir, name)
            (run_dir / name).unlink()
