"""Command-line interface: thin wrappers that parse options and call the library."""

from __future__ import annotations

import importlib

from .app import app

# Each command lives in its own module and registers itself on ``app`` when imported.
_COMMAND_MODULES = ("cmd_fit", "cmd_models", "cmd_fake", "cmd_evaluate", "cmd_benchmark", "cmd_demo", "cmd_report",
                    "cmd_check")


def _load_commands() -> None:
    # every command module ships with the package: one that cannot be imported is a broken install, not an
    # optional feature, so its error propagates instead of the command silently disappearing
    for name in _COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}")


def main() -> None:
    """Entry point of the ``mallm-gan`` console script."""
    _load_commands()
    app()


__all__ = ["app", "main"]
