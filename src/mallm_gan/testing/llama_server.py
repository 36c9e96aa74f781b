"""llama.cpp's own HTTP server, run in-process on 127.0.0.1 with a cached GGUF model.

This is not a stand-in: ``xllamacpp.Server`` with a port set serves llama.cpp's real OpenAI-compatible API
(the ``llama-server`` program), so a client pointed at it through ``openai:MODEL@URL`` meets a server we
did not write: its schema-to-grammar conversion, its error messages, its token counts. The contract tests
and ``benchmarks/dialects.py`` use it.

Example::

    with llama_server("smollm2-135m") as url:
        client = create_llm(f"openai:smollm2@{url}")
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import ConfigError
from ..llm.local_engine import configured_threads, import_xllamacpp
from ..llm.model_pull import resolve_model

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the server does not take port 0)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if json.loads(answer.read() or b"{}").get("status") == "ok":
                    return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise ConfigError(f"llama.cpp's server at {url} did not become healthy within {timeout:g} s")
        time.sleep(0.2)


@contextmanager
def llama_server(
    model: str = "smollm2-135m",
    *,
    n_parallel: int = 2,
    n_ctx: int = 2048,
    threads: int | None = None,
    port: int | None = None,
    timeout: float = 60.0,
) -> Iterator[str]:
    """Serve ``model`` (catalogue name or GGUF path) over HTTP on 127.0.0.1; yield the base URL (``.../v1``).

    Args:
        model: What ``local:`` accepts; pulled into the model cache first if needed.
        n_parallel: Slots (concurrent requests decoded together).
        n_ctx: Context tokens per slot.
        threads: CPU threads (default: half the cores).
        port: Port to listen on (default: a free one).
        timeout: Seconds to wait for the server to report healthy.
    """
    xllamacpp = import_xllamacpp()
    threads = threads or configured_threads()
    params = xllamacpp.CommonParams()
    params.model.path = str(resolve_model(model))
    params.n_parallel = n_parallel
    params.n_ctx = n_ctx * n_parallel
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.n_gpu_layers = 0
    params.verbosity = 0
    params.hostnames = [HOST]
    params.port = port or free_port()
    server = xllamacpp.Server(params)
    base = f"http://{HOST}:{params.port}"
    try:
        # a round trip through the task loop before anything else: destroying the server before its loop
        # runs hangs (see llm/local_engine.py)
        server.handle_completions({"prompt": ".", "max_tokens": 1})
        _wait_healthy(base, timeout)
        yield f"{base}/v1"
    finally:
        del server


__all__ = ["free_port", "llama_server"]
