"""MallmGan: the public facade. ``fit`` runs the adversarial loop, ``sample`` generates from the best θ.

The facade owns its state: it builds the settings, the data and the clients, hands them to the loop or the
sampler, and assigns the fitted attributes from what they return. It also owns the run files it writes
(the checkpoint after every iteration and ``model.json``), under a lock on the run directory.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import resume, runstate
from .errors import ConfigError, NotFittedError, SchemaError
from .gan.clients import open_clients
from .gan.loop import LoopData, run_loop
from .gan.progress import Progress, Stop
from .gan.prompts import MAX_INSTRUCTION_CHARS, estimate_tokens, example_rows, generator_messages
from .gan.sampling import Sampler
from .gan.seeds import Stream, stream_seed
from .gan.validation import RowValidator
from .llm.base import LLMClient
from .runlock import run_lock
from .settings import Settings
from .table.conditions import Conditions
from .table.schema import TableSchema
from .theta.causal import hill_climb_dag, validate_dag
from .theta.process import DEFAULT_INSTRUCTION, DataGenerationProcess

log = logging.getLogger(__name__)

Callback = Callable[[str, dict[str, Any]], None]


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
    ) -> None:
        params = locals()
        for name in Settings.names():
            setattr(self, name, params[name])

    # -- parameters ---------------------------------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters (scikit-learn style; ``deep`` is accepted and has no effect)."""
        return {name: getattr(self, name) for name in Settings.names()}

    def set_params(self, **params: Any) -> MallmGan:
        """Set constructor parameters; they are checked when ``fit`` or ``sample`` runs."""
        unknown = sorted(set(params) - set(Settings.names()))
        if unknown:
            raise ConfigError(f"unknown parameter(s) {unknown}; the parameters are {list(Settings.names())}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def _settings(self) -> Settings:
        return Settings(**self.get_params())

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
        fresh: bool = False,
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
                settings resumes from the last finished iteration. It is locked while the fit runs.
            fresh: Start over in ``run_dir``, discarding its checkpoint, instead of resuming it (a rerun
                with other settings or another starting θ is refused unless this is set).
            callbacks: ``f(event, info)`` called on "start", "iteration" and "end".

        Returns:
            self, with ``schema_``, ``theta_``, ``history_``, ``usage_`` and ``train_`` set.

        Raises:
            ConfigError: invalid parameters (all named at once), or ``run_dir`` holds another run.
            RunLockedError: another process is fitting into ``run_dir``.
        """
        settings = self._settings()
        schema = _fit_schema(data, schema, target, task, metadata)
        train = _normalised_train(data, schema)
        run = Path(run_dir) if run_dir is not None else None
        with run_lock(run) if run is not None else nullcontext():
            if run is not None and fresh:
                resume.discard(run)
            saved = resume.read_checkpoint(run) if run is not None else None
            # an unseeded run resumes with the seed it drew
            seed = self.random_state if self.random_state is not None else resume.saved_seed(saved)
            seed = seed if seed is not None else secrets.randbits(31)
            start = self._start_theta(train, schema, seed, context, dag, instruction, theta)
            _check_prompt_size(settings, train, schema, start)
            progress = None
            if saved is not None:
                assert run is not None
                mine = resume.identity(settings, train, seed)
                progress = resume.resumable(saved, run, settings, mine, start, theta_given=theta is not None)
            data_ = LoopData(schema, train, start, seed, run)

            def checkpoint(state: Progress) -> None:
                if run is not None:
                    document = resume.run_document(settings, seed, schema, train, start, state, complete=False)
                    runstate.atomic_write_json(run / runstate.CHECKPOINT, document)

            clients = open_clients(settings, run)
            progress = asyncio.run(run_loop(settings, data_, clients, resume=progress, on_checkpoint=checkpoint,
                                            callbacks=callbacks))
            self.schema_, self.train_, self.initial_theta_, self.run_dir_, self.seed_ = schema, train, start, run, seed
            self._adopt(progress)
            if run is not None:
                self._write_model(run)  # the caller says the file holds real rows
        return self

    def _start_theta(
        self, train: pd.DataFrame, schema: TableSchema, seed: int, context: str, dag: Any,
        instruction: str | None, theta: DataGenerationProcess | None,
    ) -> DataGenerationProcess:
        if theta is not None:
            check = validate_dag(theta.dag, schema.names)
            return DataGenerationProcess(theta.context, tuple(check.edges), theta.instruction)
        return DataGenerationProcess(
            context=context.strip(), dag=_initial_dag(dag, train, schema, seed),
            instruction=(instruction or DEFAULT_INSTRUCTION).strip(),
        )

    def _adopt(self, progress: Progress) -> None:
        """Take the fitted state from what the loop (or a saved run) reached."""
        self.history_ = progress.history
        if progress.history.entries:
            self.theta_ = progress.history.best().theta
        self.current_theta_, self.current_origin_ = progress.current_theta, progress.current_origin
        self.proposal_pending_ = progress.proposal_pending
        self.stop_reason_ = progress.stop.reason if progress.stop else None
        self.stopped_ = progress.stop.message if progress.stop else None
        self.patience_state_ = progress.patience
        self.usage_, self.llm_name_ = progress.usage, progress.llm_name

    def _progress(self) -> Progress:
        """The fitted state as the loop's progress (for the model file)."""
        stop = Stop(self.stop_reason_, self.stopped_) if self.stop_reason_ and self.stopped_ else None
        return Progress(
            history=self.history_, current_theta=self.current_theta_, current_origin=self.current_origin_,
            proposal_pending=self.proposal_pending_, stop=stop, patience=self.patience_state_,
            usage=self.usage_, llm_name=self.llm_name_,
        )

    # -- files --------------------------------------------------------------------------------------
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
        document = resume.run_document(self._settings(), self.seed_, self.schema_, self.train_,
                                       self.initial_theta_, self._progress(), complete=True)
        runstate.atomic_write_json(path, document)
        return path

    @classmethod
    def load(cls, path: str | Path, **overrides: Any) -> MallmGan:
        """Read a model saved by :meth:`save` (a file or a run directory). ``overrides`` replace parameters,
        e.g. ``llm=`` to sample with another endpoint."""
        path = Path(path)
        if path.is_dir():
            path = path / runstate.MODEL if (path / runstate.MODEL).exists() else path / runstate.CHECKPOINT
        state = runstate.read_json(path)
        params = {k: v for k, v in state.get("params", {}).items() if k in Settings.names()}
        model = cls(**params).set_params(**overrides)
        model.schema_ = TableSchema.from_dict(state["schema"])
        model.train_ = _normalised_train(pd.DataFrame(state["train"], columns=model.schema_.names), model.schema_)
        model.initial_theta_ = DataGenerationProcess.from_dict(state["initial_theta"])
        model.seed_ = state.get("identity", {}).get("seed", model.random_state or 0)
        model.run_dir_ = path.parent
        model._adopt(Progress.from_dict(state, selection=model._settings().selection))
        if state.get("theta"):
            model.theta_ = DataGenerationProcess.from_dict(state["theta"])
        return model

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
        settings = self._settings()
        self._sample_calls = getattr(self, "_sample_calls", 0) + 1
        seed = stream_seed(self.seed_, Stream.SAMPLE, self._sample_calls)
        clients = open_clients(settings, self.run_dir_)
        sampler = Sampler(settings, self.schema_, self.train_, self.theta_, clients, conditions=conds,
                          instruction=instruction, seed=seed)
        self.sample_report_, self.sample_usage_ = sampler.report, sampler.usage
        yield from sampler.chunks(num_rows, chunk_rows, callbacks)


def _normalised_train(data: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """The training rows as the validator sees them (coerced, at the schema's precision), schema dtypes."""
    validator = RowValidator(schema, schema.cast(data[schema.names]), copy_policy="allow")
    result = validator.validate(runstate.to_records(data[schema.names]))
    if result.report.rejected:
        raise SchemaError(
            f"{result.report.rejected} training rows do not fit the schema ({result.report.summary()}); "
            "fix the metadata or the data"
        )
    return schema.cast(pd.DataFrame(result.rows, columns=schema.names))


def _fit_schema(
    data: pd.DataFrame, schema: TableSchema | None, target: str | None, task: str | None,
    metadata: dict[str, Any] | str | Path | None,
) -> TableSchema:
    if schema is None:
        return TableSchema.from_dataframe(data, target=target, task=task, metadata=metadata)
    if metadata is not None:
        schema = schema.with_metadata(metadata)
    if target is not None or task is not None:
        schema = schema.with_target(target or schema.target, task)
    missing = [n for n in schema.names if n not in data.columns]
    if missing:
        raise SchemaError(f"schema column(s) {missing} are not in the data", column=missing[0])
    return schema


def _initial_dag(dag: Any, train: pd.DataFrame, schema: TableSchema, seed: int) -> tuple[tuple[str, str], ...]:
    """The starting DAG ``dag`` names; hill climbing breaks its ties with the run's seed, so a run without
    ``random_state`` is reproduced from its saved seed."""
    if dag is None or dag == "none":
        return ()
    if dag == "hill-climb":
        return tuple(hill_climb_dag(train, schema, random_state=seed))
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


def _check_prompt_size(
    settings: Settings, train: pd.DataFrame, schema: TableSchema, theta: DataGenerationProcess
) -> None:
    if settings.max_prompt_tokens is None:
        return
    # the prompt is longest with the longest rows as examples and the longest instruction the optimizer
    # may write; judging it on the first rows lets later prompts pass the budget
    widths = [len(json.dumps(row, default=str)) for row in example_rows(train, schema)]
    longest = sorted(np.argsort(widths, kind="stable")[::-1][: settings.n_examples])
    widest = dataclasses.replace(theta, instruction=theta.instruction.ljust(MAX_INSTRUCTION_CHARS))
    messages = generator_messages(widest, schema, train.iloc[longest], n_rows=settings.rows_per_call)
    tokens = sum(estimate_tokens(m["content"]) for m in messages)
    if tokens > settings.max_prompt_tokens:
        raise ConfigError(
            f"one generator prompt is about {tokens} tokens ({len(schema)} columns, "
            f"{settings.n_examples} examples), above max_prompt_tokens={settings.max_prompt_tokens}; lower "
            "n_examples or rows_per_call, drop columns, or raise --max-prompt-tokens if the model's "
            "context allows it"
        )
