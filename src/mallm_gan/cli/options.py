"""Option types that several commands declare the same way, as ``Annotated`` aliases.

A command writes ``verbose: Verbose = False``; the flag, its help and its environment variable are
declared once here, so two commands cannot drift apart on what is meant to be the same option. Options
whose help differs between commands stay with their command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

LLM_HELP = (
    "LLM spec: openai:MODEL, openai:MODEL@URL, azure:DEPLOYMENT, local:NAME|PATH.gguf, or simulated "
    "(a statistical stand-in, not a language model). Default: $MALLM_LLM, else the embedded local model."
)

#: ``--verbose`` / ``-v`` (fit, sample, demo, report)
Verbose = Annotated[bool, typer.Option("--verbose", "-v")]
#: ``--verbose`` / ``-v`` with its help line (evaluate, benchmark)
DebugLogging = Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")]
#: requests in flight at most; the backend's default when omitted (fit, sample)
MaxConcurrency = Annotated[int | None, typer.Option(envvar="MALLM_MAX_CONCURRENCY")]
#: a metadata JSON overriding the inferred schema (fit, evaluate)
MetadataFile = Annotated[Path | None, typer.Option("--metadata", help="Metadata JSON overriding the inferred schema.")]
#: real rows per iteration (fit, demo; each has its own default)
BatchSize = Annotated[int, typer.Option(help="Real rows per iteration.")]

__all__ = ["LLM_HELP", "BatchSize", "DebugLogging", "MaxConcurrency", "MetadataFile", "Verbose"]
