"""Reading a run directory for the report: RunData and load_run.

The history and the θs are read through the models that write them (:class:`HistoryEntry`,
:class:`DataGenerationProcess`), so the report and ``MallmGan`` agree on what a run file means; an entry
that the model cannot read, or whose fields have the wrong types, is left out with a note instead of
failing the whole report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, MallmGanError
from ..gan.optimizer import SELECTIONS, HistoryEntry, best_index
from ..runstate import CHECKPOINT, DEMO, EVALUATION, MODEL, SAMPLE_REPORT, read_json
from ..theta.edges import Edge, read_edges
from ..theta.process import DataGenerationProcess


@dataclass
class RunData:
    """What a run directory holds, as read by :func:`load_run`.

    Attributes:
        run_dir: The run directory.
        source: The file the run was read from (``model.json`` or ``checkpoint.json``).
        state: Its content (see ``MallmGan._state``); the history and θs are read from it into ``entries``
            and ``initial_theta``.
        entries: The finished iterations that could be read, in order.
        initial_theta: The θ the run started from (the first entry's when not recorded).
        evaluation: ``evaluation.json`` (an ``EvaluationReport.to_dict()``), if present.
        sample_report: ``sample_report.json`` (the final sampling's ``RejectionReport.to_dict()``).
        true_dag: Edges known to be the true causal graph, if given or recorded.
        true_dag_source: Where ``true_dag`` came from, in words.
        notes: Problems met while reading the optional parts.
        demo: ``demo.json`` (written by ``mallm-gan demo``), if present.
    """

    run_dir: Path
    source: Path
    state: dict[str, Any]
    entries: list[HistoryEntry] = field(default_factory=list)
    initial_theta: DataGenerationProcess = field(default_factory=DataGenerationProcess)
    evaluation: dict[str, Any] | None = None
    sample_report: dict[str, Any] | None = None
    true_dag: list[Edge] | None = None
    true_dag_source: str = ""
    notes: list[str] = field(default_factory=list)
    demo: dict[str, Any] | None = None

    @property
    def columns(self) -> list[dict[str, Any]]:
        return [c for c in self.state["schema"].get("columns") or [] if isinstance(c, dict)]

    @property
    def names(self) -> list[str]:
        return [str(c.get("name")) for c in self.columns]

    @property
    def selection(self) -> str:
        """The rule that chose the best θ (runs written before the rule existed used the lowest score)."""
        params = self.state.get("params") if isinstance(self.state.get("params"), dict) else {}
        return params["selection"] if params.get("selection") in SELECTIONS else "lowest"

    @property
    def best_index(self) -> int | None:
        """The best entry, by the selection rule the run used (as the loop decides)."""
        scores = [entry_score(e) for e in self.entries]
        scored = [i for i, s in enumerate(scores) if s is not None]
        if not scored:
            return None
        triples = [(float(scores[i]), *entry_noise(self.entries[i])) for i in scored]  # type: ignore[arg-type]
        return scored[best_index(triples, self.selection)]


def finite(value: Any) -> float | None:
    """``value`` as a float when it is a finite number (not a bool), else None."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def entry_score(entry: HistoryEntry) -> float | None:
    """An entry's final re-scored accuracy (its raw score if it was never re-scored)."""
    score = finite(entry.score)
    return score if score is not None else finite(entry.raw_score)


def entry_noise(entry: HistoryEntry) -> tuple[float | None, int]:
    """(synthetic recall, synthetic held-out rows) behind an entry's score; (None, 0) where not recorded."""
    return finite(entry.recall), entry.held_out


# field: (types it must have, what it is); the model itself checks the θ
_ENTRY_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "iteration": ((int,), "an integer"),
    "epoch": ((int,), "an integer"),
    "batch": ((int,), "an integer"),
    "raw_score": ((int, float, type(None)), "a number"),
    "score": ((int, float, type(None)), "a number"),
    "rescored": ((list,), "a list"),
    "report": ((dict,), "an object"),
    "tokens": ((dict,), "an object"),
    "calls": ((int,), "an integer"),
    "seconds": ((int, float), "a number"),
    "origin": ((str,), "a text"),
    "held_out": ((int,), "an integer"),
    "recall": ((int, float, type(None)), "a number"),
}


def read_entry(data: Any) -> HistoryEntry:
    """One history entry of a run file, read by :meth:`HistoryEntry.from_dict`, the writer's own reader.

    Raises:
        ConfigError: the entry is not an object, lacks a field, or a field has the wrong type.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"it is not a JSON object but {type(data).__name__}")
    try:
        entry = HistoryEntry.from_dict(dict(data))
    except KeyError as exc:
        raise ConfigError(f"it has no {exc.args[0]!r}") from exc
    except (MallmGanError, TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc
    for name, (types, what) in _ENTRY_TYPES.items():
        value = getattr(entry, name)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise ConfigError(f"its {name!r} is not {what}: {value!r}")
    entry.rescored = [x if finite(x) is not None else None for x in entry.rescored]
    return entry


def _read_history(state: Mapping[str, Any], notes: list[str]) -> list[HistoryEntry]:
    history = state.get("history") or []
    entries = []
    for i, data in enumerate(history if isinstance(history, list) else []):
        try:
            entries.append(read_entry(data))
        except ConfigError as exc:
            notes.append(f"history entry {i + 1} could not be read and is left out: {exc.message}")
    return entries


def _read_initial_theta(state: Mapping[str, Any], entries: list[HistoryEntry], notes: list[str]):
    data = state.get("initial_theta")
    if data is None:
        return entries[0].theta if entries else DataGenerationProcess()
    try:
        return DataGenerationProcess.from_dict(data)
    except ConfigError as exc:
        notes.append(f"the initial θ could not be read and is shown empty: {exc.message}")
        return DataGenerationProcess()


def _optional(path: Path, notes: list[str]) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        data = read_json(path)
    except ConfigError as exc:
        notes.append(f"{path.name} could not be read and is left out: {exc.message}")
        return None
    if not isinstance(data, dict):
        notes.append(f"{path.name} does not hold a JSON object and is left out")
        return None
    return data


def load_run(run_dir: str | Path, *, true_dag: Any = None) -> RunData:
    """Read a run directory (or its ``model.json`` / ``checkpoint.json``) and the optional parts.

    Args:
        run_dir: The directory written by ``fit`` or ``demo``, or the run file itself.
        true_dag: Edges of the true causal graph (anything :func:`read_edges` takes); without it the
            schema's ``extra["true_dag"]`` or ``demo.json``'s ``true_dag`` is used when present.
    """
    path = Path(run_dir)
    if path.is_file():
        source, path = path, path.parent
    elif not path.is_dir():
        raise ConfigError(f"run directory {path} does not exist")
    elif (path / MODEL).exists() or (path / CHECKPOINT).exists():
        model, checkpoint = path / MODEL, path / CHECKPOINT
        # a finished run resumed with more epochs has a checkpoint newer than its model
        newer = checkpoint.exists() and (not model.exists() or checkpoint.stat().st_mtime > model.stat().st_mtime + 1)
        source = checkpoint if newer else model
    else:
        raise ConfigError(
            f"{path} holds neither {MODEL} nor {CHECKPOINT}; is it a run directory written by `mallm-gan fit --out`?"
        )
    state = read_json(source)
    if not isinstance(state, dict) or not isinstance(state.get("schema"), dict):
        raise ConfigError(f"{source} is not a mallm-gan run file (it has no schema)")
    run = RunData(path, source, state)
    run.entries = _read_history(state, run.notes)
    run.initial_theta = _read_initial_theta(state, run.entries, run.notes)
    run.evaluation = _optional(path / EVALUATION, run.notes)
    run.sample_report = _optional(path / SAMPLE_REPORT, run.notes)
    demo = _optional(path / DEMO, run.notes) or {}
    run.demo = demo if isinstance(demo, dict) else None
    extra = state["schema"].get("extra") or {}
    for value, where in (
        (true_dag, "as given"),
        (extra.get("true_dag"), "as recorded in the schema"),
        (demo.get("true_dag"), f"as recorded in {DEMO}"),
    ):
        if value is None:
            continue
        try:
            edges = read_edges(value, what="true DAG file")
        except ConfigError as exc:
            if true_dag is not None:
                raise
            run.notes.append(f"the true DAG {where} could not be read and is left out: {exc.message}")
            continue
        unknown = [e for e in edges if e[0] not in run.names or e[1] not in run.names]
        if unknown:
            run.notes.append(
                f"{len(unknown)} edge(s) of the true DAG name columns this run does not have and "
                f"are left out: {'; '.join(f'{a} -> {b}' for a, b in unknown[:5])}"
            )
        run.true_dag = [e for e in edges if e not in unknown]
        run.true_dag_source = where
        break
    return run


__all__ = [
    "Edge",
    "RunData",
    "entry_noise",
    "entry_score",
    "finite",
    "load_run",
    "read_edges",
    "read_entry",
]
