"""Reading a run directory for the report: RunData, load_run, read_edges and the θ / history accessors."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..gan.optimizer import SELECTIONS, best_index
from ..runstate import CHECKPOINT, DEMO, EVALUATION, MODEL, SAMPLE_REPORT, read_json
from ..theta.edges import read_edges

Edge = tuple[str, str]


@dataclass
class RunData:
    """What a run directory holds, as read by :func:`load_run`.

    Attributes:
        run_dir: The run directory.
        source: The file the run was read from (``model.json`` or ``checkpoint.json``).
        state: Its content (see ``MallmGan._state``).
        evaluation: ``evaluation.json`` (an ``EvaluationReport.to_dict()``), if present.
        sample_report: ``sample_report.json`` (the final sampling's ``RejectionReport.to_dict()``).
        true_dag: Edges known to be the true causal graph, if given or recorded.
        true_dag_source: Where ``true_dag`` came from, in words.
        notes: Problems met while reading the optional parts.
    """

    run_dir: Path
    source: Path
    state: dict[str, Any]
    evaluation: dict[str, Any] | None = None
    sample_report: dict[str, Any] | None = None
    true_dag: list[Edge] | None = None
    true_dag_source: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[dict[str, Any]]:
        return [c for c in self.state["schema"].get("columns") or [] if isinstance(c, dict)]

    @property
    def names(self) -> list[str]:
        return [str(c.get("name")) for c in self.columns]

    @property
    def entries(self) -> list[dict[str, Any]]:
        return [e for e in self.state.get("history") or [] if isinstance(e, dict)]

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


def _number(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def entry_score(entry: Mapping[str, Any]) -> float | None:
    """An entry's final re-scored accuracy (its raw score if it was never re-scored)."""
    for key in ("score", "raw_score"):
        value = _number(entry.get(key))
        if value is not None:
            return value
    return None


def entry_noise(entry: Mapping[str, Any]) -> tuple[float | None, int]:
    """(synthetic recall, synthetic held-out rows) behind an entry's score; (None, 0) where not recorded."""
    held_out = _number(entry.get("held_out"))
    return _number(entry.get("recall")), int(held_out) if held_out else 0


def edges_of(theta: Any) -> list[Edge]:
    """The (parent, child) edges of a θ dict, tolerating a missing or malformed ``dag``."""
    dag = theta.get("dag") if isinstance(theta, Mapping) else None
    if not isinstance(dag, list):
        return []
    return [(str(e[0]), str(e[1])) for e in dag if isinstance(e, (list, tuple)) and len(e) == 2]


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
    run.evaluation = _optional(path / EVALUATION, run.notes)
    run.sample_report = _optional(path / SAMPLE_REPORT, run.notes)
    demo = _optional(path / DEMO, run.notes) or {}
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
    "edges_of",
    "entry_noise",
    "entry_score",
    "load_run",
    "read_edges",
]
