"""The benchmark grid of the MALLM-GAN paper's Table 2: dataset x N x model x seed, resumable.

Each cell takes N training rows and 200 test rows (a seeded draw from the dataset's pool, or the paper's
fixed split with ``paper_splits=True``), fits the model, samples N rows, and evaluates them: machine-learning
efficacy as in the paper (the best model's weighted F1 or R² on the real test rows), plus privacy and
fidelity figures. Every finished cell is appended as one JSON line to ``OUT/cells.jsonl``; a rerun skips the
cells already there, so a killed run resumes where it stopped. The summary (``summary.md``, ``summary.csv``)
is rewritten from that file after every run.

Models: ``real`` (the real training rows themselves: the "Real data" reference row), the baselines
``smote``, ``gaussian-copula``, ``ctgan``, ``tvae``, and MALLM-GAN in three forms, the paper's ablation:
``mallm-gan`` (the full method: causal DAG and optimizer), ``mallm-gan-few-shot-dag`` (θ with the DAG, no
optimizer) and ``mallm-gan-few-shot`` (examples and schema only: no DAG, no optimizer). A MALLM-GAN cell
records its LLM usage (calls, prompt and completion tokens) and wall time, and its synthetic rows are kept in
``OUT/synthetic/`` so metrics added later can be computed without paying for the LLM again.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ..baselines import BASELINES, MissingExtraError, make_baseline
from ..errors import ConfigError, MallmGanError
from ..evaluation import evaluate, to_jsonable
from ..table.schema import TableSchema
from .datasets import DEFAULT_TEST_SIZE, dataset_info, load_split
from .mallm import MALLM_VARIANTS, CellFailed, fit_sample_mallm_gan
from .summary import write_summary

logger = logging.getLogger(__name__)

MODELS: tuple[str, ...] = ("real", "smote", "gaussian-copula", "ctgan", "tvae", *MALLM_VARIANTS)
CELLS_FILE = "cells.jsonl"
SYNTHETIC_DIR = "synthetic"
RECORD_VERSION = 2


class CellSkipped(MallmGanError):
    """A cell cannot run here (no paper split, missing extra); recorded, not scored."""


@dataclass(frozen=True)
class Cell:
    """One point of the grid."""

    dataset: str
    n: int
    model: str
    seed: int

    @property
    def key(self) -> tuple[str, int, str, int]:
        return (self.dataset, self.n, self.model, self.seed)

    def label(self) -> str:
        return f"{self.dataset} N={self.n} {self.model} seed {self.seed}"


@dataclass
class BenchmarkConfig:
    """What to run and where to write it.

    Attributes:
        datasets, sizes, models, seeds: The grid; seeds are the integers used as random states.
        out: Results directory (``cells.jsonl``, ``summary.md``, ``summary.csv``).
        data_dir: Directory in the benchmark data layout (None: ``$MALLM_DATA_DIR``).
        paper_splits: Use the paper's fixed splits instead of seeded pool draws.
        llm: LLM spec for the ``mallm-gan`` model (None: the library's default).
        n_test: Test rows per seeded draw.
        gan_epochs: Epochs of CTGAN and TVAE.
        gan_threads: Torch threads of CTGAN and TVAE (None: torch's default).
        retry_skipped: Run again the cells recorded as skipped or failed.
        mallm_options: Further ``MallmGan`` parameters for the MALLM-GAN cells (e.g. ``{"epochs": 2}``).
        detection: Compute the detection AUC (fidelity) for every cell.
    """

    datasets: Sequence[str]
    sizes: Sequence[int]
    models: Sequence[str]
    seeds: Sequence[int]
    out: Path
    data_dir: Path | None = None
    paper_splits: bool = False
    llm: str | None = None
    n_test: int = DEFAULT_TEST_SIZE
    gan_epochs: int = 300
    gan_threads: int | None = 1
    retry_skipped: bool = False
    detection: bool = True
    mallm_options: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def split(self) -> str:
        return "paper" if self.paper_splits else "draw"

    def validate(self) -> None:
        unknown = [m for m in self.models if m not in MODELS]
        if unknown:
            raise ConfigError(f"unknown model(s) {unknown}; choose from {list(MODELS)}")
        if not self.datasets or not self.sizes or not self.models or not self.seeds:
            raise ConfigError("the grid is empty: give at least one dataset, size, model and seed")
        bad = [n for n in self.sizes if n < 2]
        if bad:
            raise ConfigError(f"sizes must be >= 2 rows, got {bad}")
        for name in self.datasets:
            dataset_info(name, self.data_dir)
        if self.mallm_options:
            from ..synthesizer import MallmGan

            known = set(MallmGan().get_params()) - {"llm", "random_state"}
            wrong = sorted(set(self.mallm_options) - known)
            if wrong:
                raise ConfigError(
                    f"unknown MallmGan parameter(s) {wrong} for the mallm-gan cells; known: {sorted(known)}"
                )


def plan_cells(config: BenchmarkConfig) -> list[Cell]:
    """Every cell of the grid, dataset-major (so one dataset's rows are loaded together)."""
    return [
        Cell(dataset, int(n), model, int(seed))
        for dataset in config.datasets
        for n in config.sizes
        for seed in config.seeds
        for model in config.models
    ]


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Records of ``cells.jsonl``; a line cut short by a killed run is ignored with a warning."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            logger.warning("%s line %d is not complete JSON (an interrupted write?); ignored", path, number)
    return records


def record_key(record: dict[str, Any]) -> tuple[str, int, str, int]:
    return (record["dataset"], int(record["n"]), record["model"], int(record["seed"]))


def latest_records(records: Sequence[dict[str, Any]]) -> dict[tuple[str, int, str, int], dict[str, Any]]:
    """The last record of every cell (a retried cell appends a newer one)."""
    return {record_key(r): r for r in records}


def _generate(
    cell: Cell, train: pd.DataFrame, schema: TableSchema, config: BenchmarkConfig
) -> tuple[pd.DataFrame, dict[str, Any]]:
    if cell.model == "real":
        return train, {}
    if cell.model in MALLM_VARIANTS:
        context = dataset_info(cell.dataset, config.data_dir).context
        run = fit_sample_mallm_gan(
            train,
            schema,
            cell.n,
            llm=config.llm,
            seed=cell.seed,
            context=context,
            variant=cell.model,
            options=config.mallm_options,
        )
        return run.synthetic, run.info
    params: dict[str, Any] = {}
    if cell.model in ("ctgan", "tvae"):
        params = {"epochs": config.gan_epochs, "threads": config.gan_threads}
    try:
        model = make_baseline(cell.model, random_state=cell.seed, **params).fit(train, schema)
        return model.sample(len(train)), {}
    except MissingExtraError as exc:
        raise CellSkipped(f"{cell.model} skipped: {exc.message}") from exc


def synthetic_path(out: Path, cell: Cell) -> Path:
    """Where the synthetic rows of ``cell`` are kept."""
    return Path(out) / SYNTHETIC_DIR / f"{cell.dataset}-n{cell.n}-{cell.model}-s{cell.seed}.csv"


def _new_record(cell: Cell, config: BenchmarkConfig, info: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "version": RECORD_VERSION,
        "dataset": cell.dataset,
        "n": cell.n,
        "model": cell.model,
        "seed": cell.seed,
        "split": config.split,
        "target": info.target,
        "task": info.task,
    }
    if cell.model in ("ctgan", "tvae"):
        record["params"] = {"epochs": config.gan_epochs, "threads": config.gan_threads}
    if cell.model in MALLM_VARIANTS:
        record["params"] = {"llm": config.llm, **MALLM_VARIANTS[cell.model], **config.mallm_options}
    return record


def _scores(result: dict[str, Any], train: pd.DataFrame, test: pd.DataFrame, synthetic: pd.DataFrame) -> dict[str, Any]:
    """The record's figures from an evaluation report: MLE as in the paper, privacy and fidelity."""
    efficacy, attacks = result["efficacy"], result.get("attacks") or {}
    privacy = {k: result["privacy"][k] for k in ("median_to_train", "share_closer_to_train", "exact_copies")}
    privacy.update({k: attacks.get(k) for k in ("near_copy_share", "mia_auc", "mia_interval")})
    return {
        "status": "ok",
        "metric": efficacy["metric"],
        "score": efficacy["best_score"],
        "best_model": efficacy["best_model"],
        "scores": {m: s[efficacy["metric"]] for m, s in efficacy["scores"].items()},
        "notes": efficacy["notes"],
        "n_train": len(train),
        "n_test": len(test),
        "n_synthetic": len(synthetic),
        "privacy": privacy,
        "fidelity": {k: result["fidelity"][k] for k in ("shape_score", "trend_score", "detection_auc")},
    }


def _load(cell: Cell, config: BenchmarkConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    try:
        return load_split(cell.dataset, cell.n, cell.seed, config.data_dir, paper_split=config.paper_splits,
                          n_test=config.n_test)
    except ConfigError as exc:
        raise CellSkipped(exc.message) from exc


def run_cell(cell: Cell, config: BenchmarkConfig) -> dict[str, Any]:
    """Run one cell and return its record (status ``ok``, ``skipped``, ``failed`` or ``error``)."""
    info = dataset_info(cell.dataset, config.data_dir)
    record = _new_record(cell, config, info)
    start = time.perf_counter()
    try:
        train, test = _load(cell, config)
        schema = TableSchema.from_dataframe(train, target=info.target, task=info.task)
        synthetic, llm_info = _generate(cell, train, schema, config)
        generated = time.perf_counter()
        if cell.model in MALLM_VARIANTS:
            path = synthetic_path(config.out, cell)
            path.parent.mkdir(parents=True, exist_ok=True)
            synthetic.to_csv(path, index=False)
            record["llm"] = llm_info
        report = evaluate(synthetic, train, test, target=info.target, schema=schema, random_state=cell.seed,
                          detection=config.detection)
    except CellSkipped as exc:
        record.update(status="skipped", message=exc.message)
    except CellFailed as exc:
        record.update(status="failed", message=exc.message)
    except MallmGanError as exc:
        record.update(status="error", message=f"{type(exc).__name__}: {exc.message}")
    except Exception as exc:  # a failing cell must not end a grid that runs for hours; it is recorded
        logger.exception("cell %s failed", cell.label())
        record.update(status="error", message=f"{type(exc).__name__}: {exc}")
    else:
        record.update(_scores(report.to_dict(), train, test, synthetic), seconds_generate=round(generated - start, 3))
    record["seconds"] = round(time.perf_counter() - start, 3)
    record["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return to_jsonable(record)


def run_benchmark(
    config: BenchmarkConfig,
    *,
    on_start: Callable[[Cell, int, int], None] | None = None,
    on_cell: Callable[[dict[str, Any], int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Run the cells of the grid not yet in ``OUT/cells.jsonl``, appending each, then write the summary.

    Args:
        config: The grid and output directory.
        on_start: Called with (cell, cells done, cells to run) before a cell starts.
        on_cell: Called with (record, cells done, cells to run) after a cell is written.

    Returns:
        The records written by this run.

    Raises:
        ConfigError: bad grid, or ``OUT`` holds cells of the other split mode (paper vs draw).
    """
    config.validate()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / CELLS_FILE
    existing = latest_records(read_records(path))
    other = {r.get("split") for r in existing.values()} - {config.split}
    if other:
        raise ConfigError(
            f"{out} holds cells with split={sorted(other)} but this run uses split={config.split}; "
            "use another --out directory"
        )
    done = {key for key, r in existing.items() if not config.retry_skipped or r.get("status") == "ok"}
    todo = [cell for cell in plan_cells(config) if cell.key not in done]
    logger.info("%d cell(s) to run, %d already in %s", len(todo), len(existing), path)
    written = []
    for index, cell in enumerate(todo):
        if on_start is not None:
            on_start(cell, index, len(todo))
        record = run_cell(cell, config)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        written.append(record)
        if record["status"] != "ok":
            logger.info("%s: %s: %s", cell.label(), record["status"], record.get("message"))
        if on_cell is not None:
            on_cell(record, index + 1, len(todo))
    write_summary(read_records(path), out, model_order=MODELS)
    return written


__all__ = [
    "BASELINES",
    "CELLS_FILE",
    "MALLM_VARIANTS",
    "MODELS",
    "BenchmarkConfig",
    "Cell",
    "CellFailed",
    "CellSkipped",
    "fit_sample_mallm_gan",
    "latest_records",
    "plan_cells",
    "read_records",
    "run_benchmark",
    "run_cell",
]
