"""``mallm-gan check --llm SPEC``: one tiny request per role against an endpoint, and a verdict, before a fit."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from .app import app, console, handle_errors, setup_logging

stdout = Console(highlight=False)


@app.command("check")
@handle_errors
def check_command(
    llm: str = typer.Option(None, "--llm", help="LLM spec, e.g. openai:MODEL@URL (default: $MALLM_LLM)"),
    timeout: float = typer.Option(120.0, "--timeout", help="seconds per request"),
    verbose: bool = typer.Option(False, "--verbose", help="debug logging"),
) -> None:
    """Send the generator's and the optimizer's request once (the generator's twice, same seed) and report
    the structured-output mode the endpoint takes, latency, tokens/s, whether the seed repeats, and a verdict.
    The rows sent are three made-up ones, not your data. Exit code 0 when the endpoint is usable."""
    from ..gan.endpoint_check import check_endpoint  # the library only when the command runs

    setup_logging(verbose)
    result = check_endpoint(llm, timeout=timeout)
    table = Table(title=f"endpoint check: {result.description}", title_justify="left", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("found", overflow="fold")
    table.add_row("endpoint", result.endpoint)
    table.add_row("local", "yes (rows stay on this machine)" if result.local else "no (rows leave this machine)")
    reason = f" ({result.mode_reason})" if result.mode_reason else ""
    table.add_row("structured output", f"{result.mode or 'unknown'}{reason}; schema dialect {result.dialect}")
    for role in result.roles:
        speed = f", {role.tokens_per_second:.1f} completion tokens/s" if role.tokens_per_second else ""
        shown = role.error or role.valid
        table.add_row(role.role, f"{'ok' if role.ok else 'FAILED'}: {role.seconds:.2f} s{speed}; {shown}")
    seeds = {None: "unknown (no answer)", True: "yes (same seed, same answer)", False: "no (answers differ)"}
    table.add_row("honours seed", seeds[result.seed_repeats])
    table.add_row("verdict", result.verdict)
    stdout.print(table)
    if not result.ready:
        console.print(f"[bold red]error:[/] {result.verdict}", markup=True)
        raise typer.Exit(1)
