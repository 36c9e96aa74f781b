"""``mallm-gan serve-fake``: run the fake OpenAI-compatible server until Ctrl-C."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

import typer

from ..errors import ConfigError
from .app import app, console, handle_errors, setup_logging


def _make_responder(name: str, seed: int | None) -> Any:
    if name == "echo":
        from ..testing.responders import EchoRowsResponder

        return EchoRowsResponder(seed=seed)
    if name == "simulated":
        from ..testing.simulated import SimulatedResponder

        # it draws from a generator seeded by each request (its messages and seed), so --seed is not needed
        return SimulatedResponder()
    raise ConfigError(f"--responder must be 'echo' or 'simulated', got {name!r}")


def _parse_latency(text: str) -> float | tuple[float, float]:
    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) == 1 and parts[0] >= 0:
        return parts[0]
    if len(parts) == 2 and 0 <= parts[0] <= parts[1]:
        return (parts[0], parts[1])
    raise ConfigError(f"--latency {text!r} must be seconds (e.g. 0.5) or a range LO,HI (e.g. 0.2,1.5)")


@app.command("serve-fake")
@handle_errors
def serve_fake(
    port: int = typer.Option(8000, "--port", envvar="MALLM_FAKE_PORT", help="Port on 127.0.0.1; 0 = a free one."),
    latency: str = typer.Option(
        "0", "--latency", envvar="MALLM_FAKE_LATENCY", help="Seconds per request, or LO,HI for uniform random."
    ),
    fault_rate: float = typer.Option(
        0.0, "--fault-rate", envvar="MALLM_FAKE_FAULT_RATE", help="Share of requests that get an injected fault."
    ),
    fault_mix: str = typer.Option("", "--fault-mix", help="Comma-separated faults to draw from (default: all)."),
    responder: str = typer.Option(
        "echo",
        "--responder",
        envvar="MALLM_FAKE_RESPONDER",
        help="echo (copies and jitters prompt examples) or simulated.",
    ),
    retry_after: float = typer.Option(1.0, "--retry-after", help="Retry-After seconds sent with a 429."),
    stall_seconds: float = typer.Option(30.0, "--stall-seconds", help="How long a 'stall' fault waits."),
    seed: int | None = typer.Option(None, "--seed", help="Seed for latency, faults and the responder."),
    api_key: str | None = typer.Option(
        None,
        "--require-key",
        envvar="MALLM_FAKE_API_KEY",
        help="Answer 401 unless requests carry this key.",
        show_default=False,
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every request."),
) -> None:
    """Serve a fake OpenAI-compatible API on 127.0.0.1 (not a language model) until Ctrl-C.

    The base URL is printed on stdout, e.g. for `--llm openai:fake@URL` or the `openai` client's base_url.
    """
    from ..testing.fake_server import FakeOpenAIServer

    setup_logging(verbose)
    mix = [f.strip() for f in fault_mix.split(",") if f.strip()] or None
    server = FakeOpenAIServer(
        _make_responder(responder, seed),
        latency=_parse_latency(latency),
        fault_rate=fault_rate,
        fault_mix=mix,
        seed=seed,
        api_key=api_key,
        retry_after=retry_after,
        stall_seconds=stall_seconds,
        port=port,
    )
    _serve_until_interrupted(server, port, f"responder: {responder}, not a language model; fault rate {fault_rate:g}")


def _serve_until_interrupted(server: Any, port: int, description: str) -> None:
    """Start ``server``, print its base URL on stdout (scripts read it from a pipe), and serve until Ctrl-C.

    Ctrl-C (or SIGTERM) only sets a flag, from before the server starts: an interrupt that lands while the
    URL is being printed then stops the server as cleanly as one that lands while it waits.
    """
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            server.start()
        except OSError as exc:
            raise ConfigError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from exc
        try:
            typer.echo(server.url)
            sys.stdout.flush()  # scripts read the URL from a pipe while the server keeps running
            console.print(f"fake OpenAI-compatible server at {server.url} ({description}). Ctrl-C to stop.")
            while not stop.wait(0.2):
                pass
            console.print(f"stopped after {len(server.requests)} chat requests")
        finally:
            server.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
