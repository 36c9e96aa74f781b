"""Sampling at scale: 100,000 rows against the fake server (issue 12, "Performance").

A model is fitted once (asia, N rows drawn with a fixed seed, 1 epoch) against a fault-free fake server, then
``--rows-wanted`` rows are sampled against the fake server with ``--latency`` seconds per call and
``max_concurrency=--concurrency``, written to CSV chunk by chunk as the CLI's ``sample`` command does
(``MallmGan.iter_sample``, ``frame.to_csv(handle, header=(i == 0))``, a flush per chunk). The server
(simulated responder, not a language model) runs in a child process, so this process's memory is the
client's alone.

Figures: wall time, rows/s, calls/s, and memory at the checkpoints (default 10,000 and 100,000 rows): the
resident set size (VmRSS), its high-water mark (``ru_maxrss``), and with ``--tracemalloc`` the Python heap
(current, and the peak since the previous checkpoint). Memory must not grow with the rows written out.

Usage::

    python benchmarks/scale.py                        # 100,000 rows, 50 ms per call, 64 in flight
    python benchmarks/scale.py --tracemalloc          # + Python heap figures (slower)
    python benchmarks/scale.py --profile              # + the client's hottest functions (cProfile)
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from _common import ServerProcess, asia_rows, finish, load_average, print_table, quiet_logs

TARGET_SECONDS = 300.0
PROFILE_FILTER = (
    r"mallm_gan|openai/resources/chat|_base_client.py.*(request|_build_request|_process_response)|"
    r"httpx2/_client.py.*\(send\)|connection_pool.py.*(handle_async_request|_assign)|pandas/core/indexing.py"
)
# the RSS may grow by allocator slack and caches, not with the rows: allow this much between checkpoints
TARGET_GROWTH_MB = 50.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100, help="training rows drawn from asia (default 100)")
    parser.add_argument("--rows-wanted", type=int, default=100_000, help="rows to sample (default 100,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per call (default 0.05)")
    parser.add_argument("--concurrency", type=int, default=64, help="max_concurrency (default 64)")
    parser.add_argument("--chunk-rows", type=int, default=1000, help="rows per chunk written (default 1000)")
    parser.add_argument(
        "--checkpoints", default="10000,100000", help="rows at which memory is reported (comma-separated)"
    )
    parser.add_argument("--out", type=Path, default=None, help="CSV to write (default: a temporary file)")
    parser.add_argument("--tracemalloc", action="store_true", help="also trace the Python heap (slower)")
    parser.add_argument("--profile", action="store_true", help="profile the client with cProfile")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return parser.parse_args(argv)


def rss_mb() -> float:
    """Resident set size of this process now (VmRSS), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def open_fds() -> int:
    return len(list(Path("/proc/self/fd").iterdir()))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_logs()
    from mallm_gan import MallmGan

    checkpoints = sorted({min(int(c), args.rows_wanted) for c in args.checkpoints.split(",") if c.strip()})
    data = asia_rows(args.rows, args.seed)
    print(
        f"asia N={len(data)} (seed {args.seed}); sample {args.rows_wanted:,} rows in chunks of {args.chunk_rows:,}; "
        f"latency {args.latency:g} s; max_concurrency {args.concurrency}; {load_average()}"
    )
    with ServerProcess() as instant:
        model = MallmGan(llm=f"openai:fake@{instant.url}", epochs=1, random_state=args.seed)
        model.fit(data, target="Dyspnea")

    out = args.out or Path(tempfile.mkdtemp(prefix="mallm-scale-")) / "synthetic.csv"
    marks: list[dict[str, Any]] = []
    profiler = cProfile.Profile() if args.profile else None
    with ServerProcess(latency=args.latency) as server:
        model.llm = f"openai:fake@{server.url}"
        model.max_concurrency = args.concurrency
        before = {"rss": rss_mb(), "maxrss": maxrss_mb(), "fds": open_fds()}
        if args.tracemalloc:
            tracemalloc.start()
        if profiler is not None:
            profiler.enable()
        started = time.perf_counter()
        cpu_started = time.process_time()
        done, pending = 0, list(checkpoints)
        with out.open("w", newline="", encoding="utf-8") as handle:
            for i, frame in enumerate(model.iter_sample(args.rows_wanted, chunk_rows=args.chunk_rows)):
                frame.to_csv(handle, header=(i == 0), index=False)
                handle.flush()
                done += len(frame)
                while pending and done >= pending[0]:
                    mark = {
                        "rows": pending.pop(0),
                        "seconds": time.perf_counter() - started,
                        "rss": rss_mb(),
                        "maxrss": maxrss_mb(),
                        "fds": open_fds(),
                    }
                    if args.tracemalloc:
                        mark["heap"], mark["heap_peak"] = (v / 2**20 for v in tracemalloc.get_traced_memory())
                        tracemalloc.reset_peak()
                    marks.append(mark)
        wall = time.perf_counter() - started
        client_cpu = time.process_time() - cpu_started
        if profiler is not None:
            profiler.disable()
        if args.tracemalloc:
            tracemalloc.stop()
        stats = server.stats()
    with out.open(encoding="utf-8") as handle:
        written = sum(1 for _ in handle) - 1
    usage = model.sample_usage_.total

    print_table(
        [
            "rows written",
            "wall s",
            "rows/s",
            "HTTP requests",
            "requests/s",
            "peak in flight",
            "requests per accepted row",
            "CSV rows on disk",
        ],
        [
            (
                f"{done:,}",
                wall,
                f"{done / wall:,.0f}",
                f"{stats['requests']:,}",
                f"{stats['requests'] / wall:,.0f}",
                stats["peak"],
                f"{stats['requests'] / max(done, 1):.3f}",
                f"{written:,}",
            )
        ],
        title="Throughput",
    )
    requests = max(stats["requests"], 1)
    print_table(
        ["where the time goes", "value"],
        [
            ("mean requests in flight (server handler time / wall)", f"{stats['handler_seconds'] / wall:.1f}"),
            (
                "LLM latency alone at this concurrency (requests x latency / concurrency)",
                f"{requests * args.latency / args.concurrency:.1f} s",
            ),
            ("client CPU (this process)", f"{client_cpu:.1f} s = {1000 * client_cpu / requests:.2f} ms per request"),
            (
                "server CPU (child process: HTTP server + simulated responder)",
                f"{stats['cpu_seconds']:.1f} s = {1000 * stats['cpu_seconds'] / requests:.2f} ms per request",
            ),
        ],
        title="Bottleneck",
    )
    headers = ["at rows", "elapsed s", "RSS MB", "RSS high-water MB", "open file descriptors"]
    rows = [("before sampling", 0.0, before["rss"], before["maxrss"], before["fds"])]
    rows += [(f"{m['rows']:,}", m["seconds"], m["rss"], m["maxrss"], m["fds"]) for m in marks]
    if args.tracemalloc:
        headers += ["Python heap MB", "heap peak since previous MB"]
        rows = [(*rows[0], "-", "-")] + [(*r, m["heap"], m["heap_peak"]) for r, m in zip(rows[1:], marks, strict=True)]
    print_table(headers, rows, title="Memory (this process: client, loop, validation, CSV writer)")
    print(f"\nclient calls {usage.calls:,}, retries {usage.retries}, failures {usage.failures}; CSV: {out}")
    if profiler is not None:
        buffer = io.StringIO()
        stats_view = pstats.Stats(profiler, stream=buffer).sort_stats("cumulative")
        stats_view.print_stats(PROFILE_FILTER, 30)
        print("\nClient profile (cProfile, cumulative; library code and the HTTP stack's main steps; coroutine ")
        print("resumptions count as calls, so ncalls can exceed the requests)\n")
        lines = [line for line in buffer.getvalue().splitlines() if line.strip()]
        print("```\n" + "\n".join(lines[:45]) + "\n```")

    growth = marks[-1]["rss"] - marks[0]["rss"] if len(marks) > 1 else 0.0
    targets = [
        (
            f"{args.rows_wanted:,} rows written",
            written == args.rows_wanted and done == args.rows_wanted,
            f"{written:,}",
        ),
        (f"under {TARGET_SECONDS:g} s", wall < TARGET_SECONDS, f"{wall:.1f} s"),
        (
            f"RSS grows < {TARGET_GROWTH_MB:g} MB from the first to the last checkpoint",
            growth < TARGET_GROWTH_MB,
            f"{growth:+.1f} MB",
        ),
    ]
    if args.tracemalloc and len(marks) > 1:
        heap_growth = marks[-1]["heap"] - marks[0]["heap"]
        targets.append(
            (
                "Python heap does not grow with rows (< 10 MB between checkpoints)",
                heap_growth < 10,
                f"{heap_growth:+.1f} MB",
            )
        )
    if args.out is None:
        out.unlink()
        out.parent.rmdir()
    return finish(targets, args.strict)


if __name__ == "__main__":
    sys.exit(main())
