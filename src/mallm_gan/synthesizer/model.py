"""MallmGan: the public facade. ``fit`` runs the adversarial loop, ``sample`` generates from the best θ.

The facade owns its state: it builds the settings, the data and the clients, hands them to the loop or the
sampler, and assigns the fitted attributes from what they return. It also owns the run files it writes
(the checkpoint after every iteration and ``model.json``), under a lock on the run directory.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import runstate
from ..errors import ConfigError, NotFittedError
from ..gan.clients import open_clients
from ..gan.exposure import ExposureLedger, read_privacy
from ..gan.loop import LoopData, run_loop
from ..gan.optimizer import History
from ..gan.progress import Progress, Stop
from ..gan.sampling import Sampler
from ..gan.seeds import Stream, stream_seed
from ..gan.validation import RowValidator
from ..llm.base import LLMClient
from ..settings import Settings
from ..table.conditions import Conditions
from ..table.schema import TableSchema
from ..theta.process import DataGenerationProcess
from . import inputs, resume
from .runlock import run_lock

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
        optimize: Run the adversarial loop (default). ``False`` learns nothing: ``fit`` infers the schema and
            builds the starting θ (context, schema, DAG, instruction) without any LLM call, and sampling
            writes rows from it as is: the few-shot rows of the paper's ablation (``dag="none"`` for few-shot
            alone, the hill-climbing DAG for few-shot + DAG).
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
        dcr_threshold: The older spelling of a numeric ``release_gate``.
        release_gate: ``"auto"`` (default) rejects a row closer to a rare training record than the 5% quantile
            of the training rows' own leave-one-out nearest-neighbour distances (the one project distance,
            :mod:`mallm_gan.table.distance`); a number is the threshold itself; ``"off"`` disables it.
        max_exposure: Most generator prompts any one real row may appear in (None: no cap).
        max_rounds: Top-up rounds per generation request before giving up.
        random_state: Seed of example order, discriminator and LLM seeds; ``None`` draws one (saved).
        max_calls, max_tokens: Budget; the run stops cleanly (checkpoint kept) when reached.
        max_prompt_tokens: Refuse to start when one generator prompt is estimated above this.
        local_only: Refuse endpoints that send rows off this machine.
        timeout: Seconds per LLM request.
        optimizer_feedback: Tell the optimizer why the best θ's rows were caught: the columns the discriminator
            leans on, each edge's dependence in real vs synthetic rows, strong real dependencies the DAG
            leaves out, rejections by reason (aggregates only, never a real row). Off: the paper's prompt.
        optimizer_form: ``"dag"`` (the whole new structure, as in the paper) or ``"edits"`` (edges to add,
            remove and reverse); ``None`` picks the form measured best for the optimizer's model.
        optimizer_candidates: Candidate θ per step, asked at once; each writes a probe batch and the current
            discriminator keeps the best. 1 is the paper's loop.
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
        optimize: bool = True,
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
        release_gate: str | float | None = "auto",
        max_exposure: int | None = None,
        max_rounds: int = 4,
        random_state: int | None = None,
        max_calls: int | None = None,
        max_tokens: int | None = None,
        max_prompt_tokens: int | None = 6000,
        local_only: bool = False,
        timeout: float = 120.0,
        optimizer_feedback: bool = False,
        optimizer_form: str | None = None,
        optimizer_candidates: int = 1,
        constraints: Sequence[Any] | None = None,
        allow_violations: bool = False,
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
        schema = inputs.fit_schema(data, schema, target, task, metadata)
        train = inputs.normalised_train(data, schema)
        schema = inputs.constrained_schema(settings, schema, train)
        run = Path(run_dir) if run_dir is not None else None
        start = {"context": context, "dag": dag, "instruction": instruction, "theta": theta}
        with run_lock(run) if run is not None else nullcontext():
            self._fit(settings, schema, train, run, start, fresh=fresh, callbacks=callbacks)
        return self

    def _fit(
        self, settings: Settings, schema: TableSchema, train: pd.DataFrame, run: Path | None,
        start_from: dict[str, Any], *, fresh: bool, callbacks: Sequence[Callback],
    ) -> None:
        if run is not None and fresh:
            resume.discard(run)
        saved = resume.read_checkpoint(run) if run is not None else None
        # an unseeded run resumes with the seed it drew
        seed = self.random_state if self.random_state is not None else resume.saved_seed(saved)
        seed = seed if seed is not None else secrets.randbits(31)
        start = inputs.start_theta(train, schema, seed, **start_from)
        inputs.check_prompt_size(settings, train, schema, start)
        progress = None
        if saved is not None and run is not None:
            mine = resume.identity(settings, train, seed, schema)
            progress = resume.resumable(saved, run, settings, mine, start, theta_given=start_from["theta"] is not None)
        if not settings.optimize:
            log.info("optimize=False: no adversarial loop; sampling uses the starting θ as is")
            # no row is generated at fit, none is sent: the gate is described as sampling will apply it
            gate = RowValidator(schema, train, copy_k=settings.copy_k, release_gate=settings.gate()).gate_
            progress = Progress(history=History(settings.selection), current_theta=start,
                                release_gate=gate.to_dict(), exposure=ExposureLedger(settings.max_exposure))
        else:
            data = LoopData(schema, train, start, seed, run)
            clients = open_clients(settings, run)
            progress = asyncio.run(run_loop(settings, data, clients, resume=progress,
                                            on_checkpoint=_checkpointer(settings, data), callbacks=callbacks))
        self.schema_, self.train_, self.initial_theta_, self.run_dir_, self.seed_ = schema, train, start, run, seed
        self._adopt(progress)
        if run is not None:
            self._write_model(run)  # the caller says the file holds real rows

    def _adopt(self, progress: Progress) -> None:
        """Take the fitted state from what the loop (or a saved run) reached."""
        self.history_ = progress.history
        # without an iteration (optimize=False) the starting θ is the result
        self.theta_ = progress.best_theta() or self.initial_theta_
        self.current_theta_, self.current_origin_ = progress.current_theta, progress.current_origin
        self.proposal_pending_ = progress.proposal_pending
        self.stop_reason_ = progress.stop.reason if progress.stop else None
        self.stopped_ = progress.stop.message if progress.stop else None
        self.patience_state_ = progress.patience
        self.usage_, self.llm_name_ = progress.usage, progress.llm_name
        self.release_gate_ = progress.release_gate
        self.exposure_ = ExposureLedger(self.max_exposure)  # capped as these settings cap it
        if progress.exposure is not None:
            self.exposure_.merge(progress.exposure)
        self.sample_near_copies_ = 0

    def _progress(self) -> Progress:
        """The fitted state as the loop's progress (for the model file)."""
        stop = Stop(self.stop_reason_, self.stopped_) if self.stop_reason_ and self.stopped_ else None
        return Progress(
            history=self.history_, current_theta=self.current_theta_, current_origin=self.current_origin_,
            proposal_pending=self.proposal_pending_, stop=stop, patience=self.patience_state_,
            usage=self.usage_, llm_name=self.llm_name_, release_gate=self.release_gate_, exposure=self.exposure_,
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
                                       self.initial_theta_, self._progress(), complete=True,
                                       sample_near_copies=self.sample_near_copies_)
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
        model.train_ = inputs.normalised_train(pd.DataFrame(state["train"], columns=model.schema_.names), model.schema_)
        model.initial_theta_ = DataGenerationProcess.from_dict(state["initial_theta"])
        model.seed_ = state.get("identity", {}).get("seed", model.random_state or 0)
        model.run_dir_ = path.parent
        model._adopt(Progress.from_dict(state, selection=model._settings().selection))
        model.sample_near_copies_ = read_privacy(state)[2]
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
        clients = open_clients(settings, self.run_dir_, adopt=self.usage_)
        sampler = Sampler(settings, self.schema_, self.train_, self.theta_, clients, conditions=conds,
                          instruction=instruction, seed=seed, exposure=getattr(self, "exposure_", None))
        self.sample_report_, self.sample_usage_ = sampler.report, sampler.usage
        # the sampler counts on from the model's exposure; the gate's rejections add to earlier samplings'
        self.release_gate_, self.exposure_ = sampler.release_gate, sampler.exposure
        before = getattr(self, "sample_near_copies_", 0)
        try:
            yield from sampler.chunks(num_rows, chunk_rows, callbacks)
        finally:
            self.sample_near_copies_ = before + sampler.near_copies


def _checkpointer(settings: Settings, data: LoopData) -> Callable[[Progress], None]:
    """What the loop calls after every finished iteration: write the run's checkpoint (if it has a run dir)."""
    def checkpoint(progress: Progress) -> None:
        if data.run_dir is not None:
            document = resume.run_document(settings, data.seed, data.schema, data.train, data.initial_theta,
                                           progress, complete=False)
            runstate.atomic_write_json(data.run_dir / runstate.CHECKPOINT, document)

    return checkpoint
