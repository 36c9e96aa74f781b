"""MallmGan: the public facade. ``fit`` runs the adversarial loop, ``sample`` generates from the best θ."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import runstate
from .errors import ConfigError, NotFittedError, SchemaError
from .gan.generator import derive_seed
from .gan.loop import AdversarialLoop
from .gan.optimizer import History, HistoryEntry, check_selection
from .gan.prompts import MAX_INSTRUCTION_CHARS, estimate_tokens, example_rows, generator_messages
from .gan.validation import RowValidator
from .llm.base import LLMClient
from .llm.usage import UsageTracker
from .table.conditions import Conditions
from .table.constraints import prepare_constraints
from .table.schema import TableSchema
from .theta.causal import hill_climb_dag, validate_dag
from .theta.process import DEFAULT_INSTRUCTION, DataGenerationProcess

log = logging.getLogger(__name__)

Callback = Callable[[str, dict[str, Any]], None]
PARAMS = (
    "llm", "optimizer_llm", "discriminator", "epochs", "batch_size", "n_examples", "rows_per_call", "top_k",
    "generator_temperature", "optimizer_temperature", "max_concurrency", "patience", "selection", "copy_policy",
    "copy_k",
    "dcr_threshold", "max_rounds", "random_state", "max_calls", "max_tokens", "max_prompt_tokens",
    "local_only", "timeout", "constraints", "allow_violations",
)
# parameters that change what a run computes: a run dir made with other values cannot be resumed
RUN_IDENTITY = ("discriminator", "batch_size", "n_examples", "rows_per_call", "top_k",
                "generator_temperature", "optimizer_temperature", "copy_policy", "copy_k", "dcr_threshold")


class MallmGan:
    """Synthetic tabular data from a small table with an LLM generator, optimizer and a discriminator.

    Args:
        llm: LLM spec (``"openai:gpt-4o"``, ``"local:smollm2-135m"``, ``"simulated"``, ...), a client object,
            or ``None`` for ``$MALLM_LLM`` or the default embedded local model.
        optimizer_llm: A different LLM for the optimizer (default: the generator's).
        discriminator: ``"logistic"`` (as in the paper) or ``"xgboost"``.
        epochs: Passes over the training rows.
        batch_size: Real rows per iteration (the paper uses 50).
        n_examples: Real rows shown per generator call ("batches in a batch").
        rows_per_call: Rows asked for per generator call.
        top_k: (θ, score) pairs shown to the optimizer (the paper uses 3).
        generator_temperature, optimizer_temperature: Sampling temperatures (paper: 0.5 and 1.0).
        max_concurrency: LLM calls in flight at most (default: the backend's own default).
        patience: Stop early after this many iterations without a new best θ.
        selection: How the best θ is chosen. ``"significant"`` (default): a later θ replaces the best one only
            when its re-scored accuracy is lower by more than two standard errors of the difference (a few
            dozen held-out rows make each score noisy, and the lowest of many noisy scores is mostly luck).
            ``"lowest"``: the lowest re-scored accuracy, as in the paper.
        copy_policy: ``"k"`` rejects rows equal to a training record that occurs fewer than ``copy_k``
            times; ``"never"`` rejects every exact copy; ``"allow"`` keeps all (still counted).
        copy_k: See ``copy_policy``.
        dcr_threshold: Also reject rows closer than this (standardised L1) to a unique training record.
        max_rounds: Top-up rounds per generation request before giving up.
        random_state: Seed of example order, discriminator and LLM seeds; ``None`` draws one (saved).
        max_calls, max_tokens: Budget; the run stops cleanly (checkpoint kept) when reached.
        max_prompt_tokens: Refuse to start when one generator prompt is estimated above this.
        local_only: Refuse endpoints that send rows off this machine.
        timeout: Seconds per LLM request.
        constraints: Rules across columns every returned row obeys, e.g. ``"discharge_date >= admission_date"``
            or ``'smoker == "no" -> cigarettes_per_day == 0'`` (see :mod:`mallm_gan.table.constraints`);
            added to those of the metadata file. ``fit`` checks them on the training rows first.
        allow_violations: Keep rules that some training rows break (counted in the log) instead of refusing.
    """

    def __init__(
        self,
        llm: str | LLMClient | None = None,
        optimizer_llm: str | LLMClient | None = None,
        *,
        discriminator: str = "logistic",
        epochs: int = 5,
        batch_size: int = 50,
        n_examples: int = 5,
        rows_per_call: int = 5,
        top_k: int = 3,
        generator_temperature: float = 0.5,
        optimizer_temperature: float = 1.0,
        max_concurrency: int | None = None,
        patience: int | None = None,
        selection: str = "significant",
        copy_policy: str = "k",
        copy_k: int = 2,
        dcr_threshold: float | None = None,
        max_rounds: int = 4,
        random_state: int | None = None,
        max_calls: int | None = None,
        max_tokens: int | None = None,
        max_prompt_tokens: int | None = 6000,
        local_only: bool = False,
        timeout: float = 120.0,
        constraints: Sequence[str] | None = None,
        allow_violations: bool = False,
    ) -> None:
        self.llm = llm
        self.optimizer_llm = optimizer_llm
        self.discriminator = discriminator
        self.epochs = epochs
        self.batch_size = batch_size
        self.n_examples = n_examples
        self.rows_per_call = rows_per_call
        self.top_k = top_k
        self.generator_temperature = generator_temperature
        self.optimizer_temperature = optimizer_temperature
        self.max_concurrency = max_concurrency
        self.patience = patience
        self.selection = selection
        self.copy_policy = copy_policy
        self.copy_k = copy_k
        self.dcr_threshold = dcr_threshold
        self.max_rounds = max_rounds
        self.random_state = random_state
        self.max_calls = max_calls
        self.max_tokens = max_tokens
        self.max_prompt_tokens = max_prompt_tokens
        self.local_only = local_only
        self.timeout = timeout
        self.constraints = constraints
        self.allow_violations = allow_violations

    # -- parameters ---------------------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in PARAMS}

    def _check_params(self) -> None:
        for name in ("epochs", "batch_size", "n_examples", "rows_per_call", "top_k", "copy_k"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.n_examples > self.batch_size:
            raise ConfigError(f"n_examples ({self.n_examples}) must not exceed batch_size ({self.batch_size})")
        if self.copy_policy not in ("k", "never", "allow"):
            raise ConfigError(f"copy_policy must be 'k', 'never' or 'allow', got {self.copy_policy!r}")
        for name in ("generator_temperature", "optimizer_temperature"):
            if not 0 <= getattr(self, name) <= 2:
                raise ConfigError(f"{name} must be between 0 and 2, got {getattr(self, name)}")
        check_selection(self.selection)
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"patience must be >= 1, got {self.patience}")

    # -- fit ----------------------------------------------------------------------------------------
    def fit(
        self,
        data: pd.DataFrame,
        *,
        target: str | None = None,
        task: str | None = None,
        context: str = "",
        schema: TableSchema | None = None,
        metadata: dict[str, Any] | str | Path | None = None,
        dag: str | Sequence[Sequence[str]] | None = "hill-climb",
        instruction: str | None = None,
        theta: DataGenerationProcess | None = None,
        run_dir: str | Path | None = None,
        callbacks: Sequence[Callback] = (),
    ) -> MallmGan:
        """Learn θ from ``data`` with the adversarial loop.

        Args:
            data: The real training table.
            target, task: Target column and task (inferred from the target's kind when omitted).
            context: What the data is, in a sentence or two (the context part of θ).
            schema: A schema to use instead of inferring one; ``metadata`` overrides inferred columns.
            dag: ``"hill-climb"`` (BIC structure search), ``"none"``/``None``, or a list of (parent, child).
            instruction: Initial task instruction (default: :data:`DEFAULT_INSTRUCTION`).
            theta: A full starting θ (e.g. hand-edited); overrides context, dag and instruction.
            run_dir: Directory for the checkpoint, LLM cache and model; a rerun with the same data and
                settings resumes from the last finished iteration.
            callbacks: ``f(event, info)`` called on "start", "iteration" and "end".

        Returns:
            self, with ``schema_``, ``theta_``, ``history_``, ``usage_`` and ``train_`` set.
        """
        self._check_params()
        if schema is None:
            schema = TableSchema.from_dataframe(data, target=target, task=task, metadata=metadata)
        else:
            if metadata is not None:
                schema = schema.with_metadata(metadata)
            if target is not None or task is not None:
                schema = schema.with_target(target or schema.target, task)
            missing = [n for n in schema.names if n not in data.columns]
            if missing:
                raise SchemaError(f"schema column(s) {missing} are not in the data", column=missing[0])
        train = _normalised_train(data, schema)
        schema = prepare_constraints(schema, self.constraints, train, allow_violations=self.allow_violations)
        if theta is None:
            theta = DataGenerationProcess(
                context=context.strip(),
                dag=self._initial_dag(dag, train, schema),
                instruction=(instruction or DEFAULT_INSTRUCTION).strip(),
            )
        else:
            check = validate_dag(theta.dag, schema.names)
            theta = DataGenerationProcess(theta.context, tuple(check.edges), theta.instruction)
        self.schema_ = schema
        self.train_ = train
        self.initial_theta_ = theta
        self.run_dir_ = Path(run_dir) if run_dir is not None else None
        self.seed_ = self.random_state if self.random_state is not None else secrets.randbits(31)
        self._check_prompt_size(theta)
        state = self._load_checkpoint() if self.run_dir_ is not None else None
        loop = AdversarialLoop(self, callbacks=callbacks)
        asyncio.run(loop.run(state))
        return self

    def _initial_dag(self, dag: Any, train: pd.DataFrame, schema: TableSchema) -> tuple[tuple[str, str], ...]:
        if dag is None or dag == "none":
            return ()
        if dag == "hill-climb":
            return tuple(hill_climb_dag(train, schema, random_state=self.random_state))
        if isinstance(dag, str):
            raise ConfigError(f"dag must be 'hill-climb', 'none' or a list of (parent, child) edges, got {dag!r}")
        edges = [tuple(e) for e in dag]
        if any(len(e) != 2 for e in edges):
            raise ConfigError("every dag edge must be a (parent, child) pair")
        check = validate_dag(edges, schema.names)
        if check.dropped:
            problems = "; ".join(f"{a} -> {b}: {why}" for (a, b), why in check.dropped)
            raise ConfigError(f"the given dag has invalid edges: {problems}")
        return tuple(check.edges)

    def _check_prompt_size(self, theta: DataGenerationProcess) -> None:
        if self.max_prompt_tokens is None:
            return
        # the prompt is longest with the longest rows as examples and the longest instruction the optimizer
        # may write; judging it on the first rows lets later prompts pass the budget
        widths = [len(json.dumps(row, default=str)) for row in example_rows(self.train_, self.schema_)]
        longest = sorted(np.argsort(widths, kind="stable")[::-1][: self.n_examples])
        examples = self.train_.iloc[longest]
        widest = dataclasses.replace(theta, instruction=theta.instruction.ljust(MAX_INSTRUCTION_CHARS))
        messages = generator_messages(widest, self.schema_, examples, n_rows=self.rows_per_call)
        tokens = sum(estimate_tokens(m["content"]) for m in messages)
        if tokens > self.max_prompt_tokens:
            raise ConfigError(
                f"one generator prompt is about {tokens} tokens ({len(self.schema_)} columns, "
                f"{self.n_examples} examples), above max_prompt_tokens={self.max_prompt_tokens}; lower "
                "n_examples or rows_per_call, drop columns, or raise --max-prompt-tokens if the model's "
                "context allows it"
            )

    # -- checkpoints --------------------------------------------------------------------------------
    def _identity(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in RUN_IDENTITY} | {
            "data": runstate.fingerprint(self.train_), "seed": self.seed_,
        } | ({"constraints": list(self.schema_.constraints)} if self.schema_.constraints else {})

    def _load_checkpoint(self) -> dict[str, Any] | None:
        assert self.run_dir_ is not None
        path = self.run_dir_ / runstate.CHECKPOINT
        if not path.exists():
            return None
        state = runstate.read_json(path)
        if state.get("format", 1) != runstate.FORMAT_VERSION:
            raise ConfigError(
                f"{path} was written by a version of mallm-gan that scored θ differently (checkpoint format "
                f"{state.get('format', 1)}, this version writes {runstate.FORMAT_VERSION}), so the run cannot be "
                "resumed; its model.json still samples. Use another run directory or delete this one to start over"
            )
        saved = state.get("identity", {})
        if self.random_state is None:
            # an unseeded run resumes with the seed it drew
            self.seed_ = saved.get("seed", self.seed_)
        mine = self._identity()
        diff = sorted(k for k in mine if saved.get(k) != mine[k])
        if diff:
            raise ConfigError(
                f"{self.run_dir_} holds a different run (differs in: {', '.join(diff)}); use another run "
                "directory or delete this one to start over"
            )
        log.info("resuming from %s: %d iterations done", path, len(state.get("history", [])))
        return state

    def _state(self, *, complete: bool) -> dict[str, Any]:
        return {
            "format": runstate.FORMAT_VERSION,
            "complete": complete,
            "warning": "This file contains real training rows (used as generator examples and for the copy "
                       "guard). Treat it like the data itself.",
            "params": {k: (v if isinstance(v, (str, int, float, bool, type(None))) else
                           list(v) if isinstance(v, (list, tuple)) and all(isinstance(x, (str, dict)) for x in v)
                           else str(v))
                       for k, v in self.get_params().items()},
            "identity": self._identity(),
            "llm": getattr(self, "llm_name_", None),
            "schema": self.schema_.to_dict(),
            "initial_theta": self.initial_theta_.to_dict(),
            "theta": self.theta_.to_dict() if hasattr(self, "theta_") else None,
            "current_theta": getattr(self, "current_theta_", self.initial_theta_).to_dict(),
            "current_origin": getattr(self, "current_origin_", "initial"),
            "history": self.history_.to_list() if hasattr(self, "history_") else [],
            "usage": self.usage_.to_dict() if hasattr(self, "usage_") else {},
            "train": runstate.to_records(self.train_),
            "stopped": getattr(self, "stopped_", None),
            "patience_state": getattr(self, "patience_state_", None),
        }

    def save(self, path: str | Path) -> Path:
        """Write the fitted model as JSON (never pickle). It contains real training rows: a warning is logged."""
        path = self._write_model(path)
        log.warning("%s contains real training rows; share it only as you would share the data", path)
        return path

    def _write_model(self, path: str | Path) -> Path:
        self._check_fitted()
        path = Path(path)
        if path.is_dir() or path.suffix == "":
            path = path / runstate.MODEL
        runstate.atomic_write_json(path, self._state(complete=True))
        return path

    @classmethod
    def load(cls, path: str | Path, **overrides: Any) -> MallmGan:
        """Read a model saved by :meth:`save` (a file or a run directory). ``overrides`` replace parameters,
        e.g. ``llm=`` to sample with another endpoint."""
        path = Path(path)
        if path.is_dir():
            path = path / runstate.MODEL if (path / runstate.MODEL).exists() else path / runstate.CHECKPOINT
        state = runstate.read_json(path)
        params = {k: v for k, v in state.get("params", {}).items() if k in PARAMS}
        params.update(overrides)
        model = cls(**params)
        model._restore(state, path.parent)
        return model

    def _restore(self, state: dict[str, Any], run_dir: Path | None) -> None:
        self.schema_ = TableSchema.from_dict(state["schema"])
        self.train_ = _normalised_train(pd.DataFrame(state["train"], columns=self.schema_.names), self.schema_)
        self.initial_theta_ = DataGenerationProcess.from_dict(state["initial_theta"])
        self.current_theta_ = DataGenerationProcess.from_dict(state.get("current_theta")
                                                              or state["initial_theta"])
        self.history_ = History(self.selection)
        for entry in state.get("history", []):
            self.history_.entries.append(HistoryEntry.from_dict(entry))
        if state.get("theta"):
            self.theta_ = DataGenerationProcess.from_dict(state["theta"])
        self.seed_ = state.get("identity", {}).get("seed", self.random_state or 0)
        self.usage_ = UsageTracker()
        self.usage_.load_dict(state.get("usage", {}))
        self.llm_name_ = state.get("llm")
        self.run_dir_ = run_dir
        self.stopped_ = state.get("stopped")

    def _check_fitted(self) -> None:
        if not hasattr(self, "theta_"):
            raise NotFittedError("this MallmGan is not fitted yet: call fit() (or MallmGan.load()) first")

    # -- sampling -----------------------------------------------------------------------------------
    def sample(
        self,
        num_rows: int,
        *,
        conditions: Mapping[str, Any] | Conditions | None = None,
        instruction: str | None = None,
        callbacks: Sequence[Callback] = (),
    ) -> pd.DataFrame:
        """Generate ``num_rows`` rows from the best θ.

        Args:
            num_rows: Rows wanted; exactly this many are returned or a GenerationError says why not.
            conditions: Structured conditions, e.g. ``{"sex": "female", "age": (65, None)}``; they are put in
                the prompt and checked on every returned row.
            instruction: Free-text condition added to the prompt (not verifiable, so not checked).

        Returns:
            A DataFrame with the schema's column order and dtypes.
        """
        frames = list(self.iter_sample(num_rows, conditions=conditions, instruction=instruction,
                                       callbacks=callbacks))
        if not frames:
            return self.schema_.empty_frame()
        return pd.concat(frames, ignore_index=True)

    def iter_sample(
        self,
        num_rows: int,
        *,
        conditions: Mapping[str, Any] | Conditions | None = None,
        instruction: str | None = None,
        chunk_rows: int = 1000,
        callbacks: Sequence[Callback] = (),
    ) -> Iterator[pd.DataFrame]:
        """Like :meth:`sample`, but yields chunks of at most ``chunk_rows`` rows as they are ready, so a
        large request never holds more than one chunk in memory and earlier chunks survive a failure."""
        self._check_fitted()
        if not isinstance(num_rows, (int, np.integer)) or num_rows < 0:
            raise ConfigError(f"num_rows must be a non-negative integer, got {num_rows!r}")
        if isinstance(conditions, Conditions):
            conds = conditions
        else:
            conds = Conditions.from_mapping(dict(conditions or {}), self.schema_)
        self._sample_calls = getattr(self, "_sample_calls", 0) + 1
        base_seed = derive_seed(self.seed_, 7_000_000, self._sample_calls)
        from .gan.sampling import run_sampling

        yield from run_sampling(self, num_rows, conds, instruction, chunk_rows, base_seed, callbacks)


def _normalised_train(data: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """The training rows as the validator sees them (coerced, at the schema's precision), schema dtypes."""
    validator = RowValidator(schema, schema.cast(data[schema.names]), copy_policy="allow", check_constraints=False)
    result = validator.validate(runstate.to_records(data[schema.names]))
    if result.report.rejected:
        raise SchemaError(
            f"{result.report.rejected} training rows do not fit the schema ({result.report.summary()}); "
            "fix the metadata or the data"
        )
    return schema.cast(pd.DataFrame(result.rows, columns=schema.names))


def elapsed(start: float) -> float:
    return time.perf_counter() - start
