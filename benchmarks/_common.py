"""Helpers shared by the reliability and speed benchmarks (issue 12).

* :class:`ServerProcess` runs the fake OpenAI-compatible server with the simulated responder in a child
  process, so the process under test (client, loop, validation) has its own interpreter and core, and the
  server can report how long at least one LLM request was in flight (the "LLM busy" time).
* :func:`asia_rows` draws the asia table used by the concurrency, fault and scale benchmarks.
* :func:`print_table` and :func:`finish` print the figures and set the exit status.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def data_dir() -> Path:
    """The shared data directory; exits with a clear message when it is absent."""
    if not (DATA_DIR / "datasets.json").exists():
        sys.exit(f"data directory {DATA_DIR.resolve()} not found (expected ../shared/data beside the repo)")
    return DATA_DIR


def asia_rows(n: int = 100, seed: int = 0):
    """``n`` asia rows drawn with ``seed`` from ``full.csv.gz`` (asia has no paper split of N=100)."""
    from mallm_gan.benchmark.datasets import draw_split

    train, _ = draw_split("asia", n, seed, data_dir(), n_test=1)
    return train


# -- the fake server in a child process -------------------------------------------------------------------
def _merge(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of ``intervals`` (seconds during which at least one was open)."""
    total, end = 0.0, float("-inf")
    for lo, hi in sorted(intervals):
        if lo > end:
            total += hi - lo
            end = hi
        elif hi > end:
            total += hi - end
            end = hi
    return total


def _serve(conn: Any, kwargs: dict[str, Any]) -> None:
    """Child process: serve until told to stop; answer "stats" and "reset" requests on ``conn``."""
    import logging

    from mallm_gan.testing.fake_server import FakeOpenAIServer
    from mallm_gan.testing.simulated import SimulatedResponder

    logging.disable(logging.WARNING)

    class TimedServer(FakeOpenAIServer):
        """Records when each chat request started and ended (body read to answer written)."""

        def __init__(self, *args: Any, **kw: Any) -> None:
            super().__init__(*args, **kw)
            self.intervals: list[tuple[float, float]] = []

        def _chat(self, handler: Any, path: str, deployment: str | None) -> None:
            started = time.perf_counter()
            try:
                super()._chat(handler, path, deployment)
            finally:
                ended = time.perf_counter()
                with self._lock:
                    self.intervals.append((started, ended))

    server = TimedServer(SimulatedResponder(), **kwargs).start()
    conn.send(server.url)
    base = 0
    cpu_base = time.process_time()
    while True:
        command = conn.recv()
        if command == "stop":
            server.stop()
            conn.send("stopped")
            return
        with server._lock:
            records = server._requests[base:]
            intervals = list(server.intervals)
            faults = Counter(str(r.get("fault")) for r in records if r.get("fault"))
            statuses = Counter(r.get("status") for r in records)
            peak = server._peak
        if command == "reset":
            with server._lock:
                base = len(server._requests)
                server.intervals.clear()
                server._peak = server._in_flight
            cpu_base = time.process_time()
            conn.send("reset")
            continue
        busy = _merge(intervals)
        span = (max(h for _, h in intervals) - min(lo for lo, _ in intervals)) if intervals else 0.0
        conn.send(
            {
                "requests": len(records),
                "faults": dict(faults),
                "statuses": dict(statuses),
                "peak": peak,
                "busy_seconds": busy,
                "span_seconds": span,
                "handler_seconds": sum(h - lo for lo, h in intervals),
                "starts": sorted(lo for lo, _ in intervals),
                "cpu_seconds": time.process_time() - cpu_base,
            }
        )


class ServerProcess:
    """A :class:`~mallm_gan.testing.fake_server.FakeOpenAIServer` with a ``SimulatedResponder`` in a child
    process. Keyword arguments go to the server (``latency``, ``fault_rate``, ``fault_mix``, ``seed``, ...).

    ``stats()`` returns, since start or the last ``reset()``: ``requests`` (HTTP chat requests, retries
    included), ``faults`` and ``statuses`` counts, ``peak`` (most requests in flight), ``busy_seconds``
    (union of the intervals during which at least one request was being served) and ``handler_seconds``
    (their sum), ``starts`` (sorted start times, ``time.perf_counter`` of the server process) and
    ``cpu_seconds`` (CPU time of the server process).
    """

    def __init__(self, **server_kwargs: Any) -> None:
        self.kwargs = server_kwargs
        self.url = ""
        self._conn: Any = None
        self._proc: Any = None

    def __enter__(self) -> ServerProcess:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, self.kwargs), daemon=True)
        self._proc.start()
        if not parent.poll(60):
            self._proc.kill()
            raise RuntimeError("the fake server process did not start within 60 s")
        self.url = parent.recv()
        self._conn = parent
        return self

    def stats(self) -> dict[str, Any]:
        self._conn.send("stats")
        return self._conn.recv()

    def reset(self) -> None:
        self._conn.send("reset")
        self._conn.recv()

    def __exit__(self, *exc: object) -> None:
        try:
            self._conn.send("stop")
            if self._conn.poll(10):
                self._conn.recv()
        except (OSError, EOFError):
            pass
        self._proc.join(timeout=10)
        if self._proc.is_alive():
            self._proc.kill()


def count_waves(starts: Sequence[float], latency: float) -> tuple[int, float]:
    """Sequential rounds of LLM calls and their total spread.

    A call starting more than ``latency / 2`` after the first call of the current round opens a new round
    (the calls of one round start within milliseconds of each other). Returns (rounds, sum over rounds of
    the time between the first and the last call's start).
    """
    waves, first, last, spread = 0, float("-inf"), float("-inf"), 0.0
    for start in starts:
        if start - first > latency / 2:
            spread += max(0.0, last - first)
            waves += 1
            first = start
        last = start
    spread += max(0.0, last - first) if waves else 0.0
    return waves, spread


def load_average() -> str:
    """The 1-minute load average and the core count, to judge how busy the machine was."""
    import os

    try:
        return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    except OSError:
        return f"{os.cpu_count()} cores"


# -- output ---------------------------------------------------------------------------------------------
def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    """A markdown table on stdout."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
        return str(value)

    if title:
        print(f"\n{title}\n")
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" for _ in headers) + "|")
    for row in rows:
        print("| " + " | ".join(cell(v) for v in row) + " |")
    sys.stdout.flush()


def finish(targets: Sequence[tuple[str, bool, str]], strict: bool) -> int:
    """Print each stated target as met or missed; the exit status is 1 only when ``strict`` and one missed."""
    print_table(
        ["target", "met", "measured"],
        [(name, "yes" if ok else "NO", got) for name, ok, got in targets],
        title="Targets",
    )
    missed = [name for name, ok, _ in targets if not ok]
    if missed and strict:
        print(f"\n--strict: missed {len(missed)} target(s): {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


def quiet_logs() -> None:
    """Keep the library's retry warnings off the benchmark's output (they are counted instead)."""
    import logging

    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("mallm_gan").setLevel(logging.ERROR)
