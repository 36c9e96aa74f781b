"""The in-process llama.cpp engine behind the ``local:`` backend: its settings, threads, slots and registry.

One engine per model file and settings is shared by every client of the process and created on first use
(:func:`get_engine`); llama.cpp batches concurrent requests over ``n_parallel`` slots. The defaults for
threads and slots are measured choices for a CPU (see :func:`default_threads`, :func:`default_n_parallel`).
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

log = logging.getLogger(__name__)

INSTALL_HINT = "the local backend needs xllamacpp: pip install 'mallm-gan[local]'"


def available_cores() -> int:
    """Cores this process may run on (a container's CPU limit, not the host's core count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not available on this platform
        return None


def default_threads(cores: int | None = None, load: float | None = None) -> int:
    """Every core (up to 4) on an idle machine, else half the cores, at least one.

    llama.cpp's threads busy-wait for each other at every step; when they outnumber the cores that are
    actually free, a small model slows down many times over. Measured with SmolLM2-135M on 2 cores, 8
    concurrent answers: idle machine, 1 thread 68-72 tokens/s, 2 threads 88 (1 slot) to 125 (4 slots);
    machine busy with other work (load 5), 1 thread still ~70, 2 threads 3 (1 slot) to 36 (4 slots).
    So all cores only when the one-minute load average says almost nothing else runs (below a quarter
    of the cores), and at most 4, as llama.cpp prefers physical cores to hyper-threads.

    Args:
        cores: Cores this process may use (default: :func:`available_cores`).
        load: The one-minute load average (default: the system's, when the platform has one).
    """
    cores = available_cores() if cores is None else cores
    load = _load_average() if load is None else load
    half = max(1, cores // 2)
    if load is not None and load < 0.25 * cores:
        return max(half, min(cores, 4))
    return half


def configured_threads() -> int:
    """``MALLM_THREADS`` when set (a whole number >= 1), else :func:`default_threads`.

    Pinning the threads also pins a small model's answers: llama.cpp's sums run in another order with
    another thread count, so the same seed can write other rows.
    """
    raw = os.environ.get("MALLM_THREADS", "").strip()
    if not raw:
        return default_threads()
    try:
        threads = int(raw)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ConfigError(f"MALLM_THREADS must be a whole number >= 1, got {raw!r}")
    return threads


def default_n_parallel(threads: int | None = None) -> int:
    """Slots by default: two per thread, at least 2, at most 8.

    On a CPU, slots raise throughput only as far as threads can compute them (measured, SmolLM2 on 1
    thread: 50-70 tokens/s with 1 to 8 slots), while each slot adds KV memory and answer latency.
    """
    return min(8, max(2, 2 * (threads or configured_threads())))


def import_xllamacpp() -> Any:
    """Import ``xllamacpp`` or raise a ConfigError with the install hint."""
    try:
        import xllamacpp
    except ImportError as exc:
        raise ConfigError(INSTALL_HINT) from exc
    return xllamacpp


@dataclass(frozen=True)
class EngineSettings:
    """What an engine is built from; engines with equal settings are shared."""

    path: str
    n_ctx: int
    n_parallel: int
    threads: int
    n_gpu_layers: int | None
    seed: int | None
    threads_batch: int | None = None


class Engine:
    """One loaded model: an ``xllamacpp.Server`` and the thread pool that feeds it."""

    def __init__(self, settings: EngineSettings, *, verbose: bool = False) -> None:
        xllamacpp = import_xllamacpp()
        params = xllamacpp.CommonParams()
        params.model.path = settings.path
        # llama.cpp splits the context among the slots: give each slot n_ctx tokens
        params.n_ctx = settings.n_ctx * settings.n_parallel
        params.n_parallel = settings.n_parallel
        params.cpuparams.n_threads = settings.threads
        params.cpuparams_batch.n_threads = settings.threads_batch or settings.threads
        params.n_gpu_layers = _gpu_layers(xllamacpp, settings.n_gpu_layers)
        if settings.seed is not None:
            params.sampling.seed = settings.seed
        # the log threshold is process-wide in llama.cpp; 0 silences it, 3 shows its info lines
        params.verbosity = 3 if verbose else 0
        # the engine also listens on 127.0.0.1; a random key keeps other local users off that port
        params.api_keys = [secrets.token_hex(16)]
        started = time.perf_counter()
        try:
            self.server = xllamacpp.Server(params)
        except (RuntimeError, ValueError) as exc:
            raise ConfigError(
                f"llama.cpp could not load {settings.path}: {exc} (is it a GGUF model file? rerun with "
                "--verbose to see llama.cpp's log)",
                model=settings.path,
            ) from exc
        # xllamacpp's Server returns before its task loop runs, and destroying it in that window hangs
        # forever (the stop signal is lost); one round trip through the loop closes the window
        try:
            self.server.handle_completions({"prompt": ".", "max_tokens": 1})
        except (RuntimeError, ValueError) as exc:
            log.debug("priming request failed: %s", exc)
        self.load_seconds = time.perf_counter() - started
        self.settings = settings
        self.executor = ThreadPoolExecutor(max_workers=max(4, 2 * settings.n_parallel), thread_name_prefix="llama")
        log.debug("loaded %s in %.2f s (%s)", settings.path, self.load_seconds, settings)

    def chat(self, request: dict[str, Any]) -> Any:
        return self.server.handle_chat_completions(request)

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        del self.server


def _gpu_layers(xllamacpp: Any, wanted: int | None) -> int:
    if wanted is not None:
        return wanted
    gpu_types = {"GGML_BACKEND_DEVICE_TYPE_GPU", "GGML_BACKEND_DEVICE_TYPE_IGPU"}
    try:
        has_gpu = any(getattr(d.get("type"), "name", "") in gpu_types for d in xllamacpp.get_device_info())
    except (AttributeError, RuntimeError, TypeError):
        has_gpu = False
    return -1 if has_gpu else 0


_ENGINES: dict[EngineSettings, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def get_engine(settings: EngineSettings, *, verbose: bool = False) -> Engine:
    """The process-wide engine for these settings, loaded on first call (thread-safe)."""
    with _ENGINES_LOCK:
        engine = _ENGINES.get(settings)
        if engine is None:
            engine = _ENGINES[settings] = Engine(settings, verbose=verbose)
        return engine


def unload_engines() -> None:
    """Free every loaded model (for benchmarks and tests; clients reload on next use)."""
    with _ENGINES_LOCK:
        engines = list(_ENGINES.values())
        _ENGINES.clear()
    for engine in engines:
        engine.close()


def loaded_engine(settings: EngineSettings) -> Engine | None:
    """The engine for these settings if it is loaded already (never blocks on a load)."""
    return _ENGINES.get(settings)


__all__ = [
    "INSTALL_HINT",
    "Engine",
    "EngineSettings",
    "available_cores",
    "configured_threads",
    "default_n_parallel",
    "default_threads",
    "get_engine",
    "import_xllamacpp",
    "loaded_engine",
    "unload_engines",
]
