"""Command-line interface: thin wrappers that parse options and call the library."""

from __future__ import annotations

import importlib

from .app import app

# Each command lives in its own module and registers itself on ``app`` when imported.
_COMMAND_MODULES = ("cmd_fit", "cmd_models", "cmd_fake", "cmd_evaluate", "cmd_benchmark", "cmd_demo", "cmd_report",
                    "cmd_check")


def _load_commands() -> None:
    for name in _COMMAND_MODULES:
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise


def main() -> None:
    """Entry point of the ``mallm-gan`` console script."""
    _load_commands()
    app()


__all__ = ["app", "main"]
