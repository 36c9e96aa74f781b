"""`mallm-gan report`: the self-contained HTML report of a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import app, console, handle_errors, setup_logging
from .options import Verbose


@app.command()
@handle_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `fit` or `demo` (or its model.json).")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="HTML file (default RUN_DIR/report.html).")] = None,
    true_dag: Annotated[
        Path | None,
        typer.Option(
            "--true-dag", help='JSON file of the true causal graph: [[parent, child], ...] or ["A -> B", ...].'
        ),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Write one HTML file (images embedded, no network needed) showing θ, scores, DAGs, rows and evaluation."""
    setup_logging(verbose)
    from ..report.page import write_report

    path = write_report(run_dir, out, true_dag=true_dag)
    console.print(f"report: {path}")
