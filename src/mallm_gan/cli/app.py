"""The Typer application and the one place where library errors become messages and exit codes."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from ..errors import (
    BudgetExceededError,
    ConfigError,
    GenerationError,
    LLMError,
    MallmGanError,
    NotFittedError,
    ParseError,
    RunLockedError,
    SchemaError,
)

app = typer.Typer(
    name="mallm-gan",
    help="Synthetic tabular data for small datasets with a multi-agent LLM that plays a GAN.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, highlight=False, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])

# the exit code of each kind of failure; an error takes the code of the first class here it is an instance of
EXIT_CODES: tuple[tuple[type[MallmGanError], int], ...] = (
    (ConfigError, 2),
    (NotFittedError, 2),
    (SchemaError, 3),
    (ParseError, 4),
    (LLMError, 5),
    (BudgetExceededError, 6),
    (GenerationError, 7),
    (RunLockedError, 8),
)
INTERRUPTED = 130


def exit_code(error: MallmGanError | type[MallmGanError]) -> int:
    """The exit code of the CLI for ``error`` (an instance or a class); 1 for any other library error."""
    kind = error if isinstance(error, type) else type(error)
    return next((code for cls, code in EXIT_CODES if issubclass(kind, cls)), 1)


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    # the SDK logs request URLs and headers at DEBUG; keep them quiet even with --verbose
    for noisy in ("openai", "httpx", "httpx2", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def handle_errors(func: F) -> F:
    """Map library errors to a one-line message and the error's exit code; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MallmGanError as exc:
            console.print(f"[bold red]error:[/] {exc}", markup=True, soft_wrap=True)
            raise typer.Exit(exit_code(exc)) from None
        except KeyboardInterrupt:
            console.print("interrupted; finished iterations are saved, rerun the same command to resume")
            raise typer.Exit(INTERRUPTED) from None

    return wrapper  # type: ignore[return-value]
