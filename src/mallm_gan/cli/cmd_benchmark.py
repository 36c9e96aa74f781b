"""``mallm-gan benchmark``: the resumable dataset x N x model x seed grid and its Table-2-like summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..errors import ConfigError
from .app import app, console, handle_errors, setup_logging
from .options import DebugLogging

MAX_LISTED = 10


def _names(text: str, option: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise ConfigError(f"{option} needs a comma-separated list")
    return names


def _ints(text: str, option: str) -> list[int]:
    try:
        return [int(part) for part in _names(text, option)]
    except ValueError as exc:
        raise ConfigError(f"{option} takes comma-separated integers, got {text!r}") from exc


def _params(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; a value is read as JSON (numbers, true/false, null) where it parses, else as text."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ConfigError(f"--mallm-param {item!r} must be KEY=VALUE with a parameter name, e.g. epochs=2")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


# the benchmark's options whose declaration does not fit on one line
DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", envvar="MALLM_DATA_DIR", help="Data directory: datasets.json + one folder each.")]
Datasets = Annotated[str | None, typer.Option("--datasets", help="Comma-separated dataset names (default: all).")]
Models = Annotated[str, typer.Option(
    "--models", help="Comma-separated: real,smote,gaussian-copula,ctgan,tvae,mallm-gan.")]
PaperSplits = Annotated[bool, typer.Option(
    "--paper-splits", help="Use the paper's fixed splits instead of seeded draws.")]
BenchmarkLlm = Annotated[str | None, typer.Option(
    "--llm", envvar="MALLM_LLM", help="LLM spec for the mallm-gan model.")]
GanThreads = Annotated[int, typer.Option("--gan-threads", help="Torch threads for CTGAN/TVAE (0: torch's default).")]
RetrySkipped = Annotated[bool, typer.Option("--retry-skipped", help="Run again cells recorded as skipped or failed.")]
NoDetection = Annotated[bool, typer.Option("--no-detection", help="Skip the detection classifier (faster).")]
MallmParam = Annotated[list[str] | None, typer.Option(
    "--mallm-param", help="KEY=VALUE passed to MallmGan for the mallm-gan cells, e.g. epochs=2 (repeatable).")]


@app.command("benchmark")
@handle_errors
def benchmark_command(
    data_dir: DataDir = None,
    datasets: Datasets = None,
    sizes: Annotated[str, typer.Option("--sizes", help="Comma-separated training sizes N.")] = "25,50,100,200",
    models: Models = "real,smote,gaussian-copula",
    seeds: Annotated[int, typer.Option("--seeds", help="Number of seeds (0, 1, ..., seeds-1).")] = 5,
    seed_start: Annotated[int, typer.Option("--seed-start", help="First seed.")] = 0,
    out: Annotated[Path, typer.Option("--out", help="Results directory.")] = Path("results"),
    paper_splits: PaperSplits = False,
    llm: BenchmarkLlm = None,
    gan_epochs: Annotated[int, typer.Option("--gan-epochs", help="CTGAN/TVAE epochs.")] = 300,
    gan_threads: GanThreads = 1,
    n_test: Annotated[int, typer.Option("--n-test", help="Test rows per seeded draw.")] = 200,
    retry_skipped: RetrySkipped = False,
    no_detection: NoDetection = False,
    mallm_param: MallmParam = None,
    verbose: DebugLogging = False,
) -> None:
    """Run the benchmark grid; finished cells are appended to OUT/cells.jsonl and a rerun resumes."""
    setup_logging(verbose)
    from ..benchmark.datasets import list_datasets
    from ..benchmark.grid import BenchmarkConfig

    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    config = BenchmarkConfig(
        datasets=_names(datasets, "--datasets") if datasets else list_datasets(data_dir),
        sizes=_ints(sizes, "--sizes"),
        models=_names(models, "--models"),
        seeds=list(range(seed_start, seed_start + seeds)),
        out=out,
        data_dir=data_dir,
        paper_splits=paper_splits,
        llm=llm,
        n_test=n_test,
        gan_epochs=gan_epochs,
        gan_threads=gan_threads or None,
        retry_skipped=retry_skipped,
        detection=not no_detection,
        mallm_options=_params(mallm_param or []),
    )
    written, counts = _run_with_progress(config)
    _print_outcome(written, counts, out)


def _run_with_progress(config: Any) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Run the grid under a progress bar; the records written and how many cells ended in each status."""
    from ..benchmark.grid import run_benchmark

    counts = {"ok": 0, "skipped": 0, "failed": 0, "error": 0}
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"),
        console=console,
        transient=False,
    ) as progress:
        task_id = progress.add_task("benchmark", total=None, last="")

        def on_start(cell: Any, done: int, total: int) -> None:
            progress.update(task_id, total=total, completed=done, description=cell.label())

        def on_cell(record: dict[str, Any], done: int, total: int) -> None:
            counts[record["status"]] = counts.get(record["status"], 0) + 1
            score = record.get("score")
            result = f"{record.get('metric')}={score:.3f}" if score is not None else record["status"]
            progress.update(task_id, completed=done, last=f"last cell {record['seconds']:.1f} s, {result}")

        written = run_benchmark(config, on_start=on_start, on_cell=on_cell)
    return written, counts


def _print_outcome(written: list[dict[str, Any]], counts: dict[str, int], out: Path) -> None:
    """The cells run by status, where the summary is, and the first cells that did not end ok."""
    from ..benchmark.summary import SUMMARY_CSV, SUMMARY_MD

    console.print(
        f"{len(written)} cell(s) run: {counts['ok']} ok, {counts['skipped']} skipped, "
        f"{counts['failed'] + counts['error']} failed; "
        f"summary in {out / SUMMARY_MD} and {out / SUMMARY_CSV}"
    )
    problems = [r for r in written if r["status"] != "ok"]
    for record in problems[:MAX_LISTED]:
        console.print(
            f"  {record['dataset']} N={record['n']} {record['model']} seed {record['seed']}: "
            f"{record['status']}: {record.get('message')}",
            markup=False,
        )
    if len(problems) > MAX_LISTED:
        console.print(f"  ... and {len(problems) - MAX_LISTED} more (see {out / SUMMARY_MD})")
