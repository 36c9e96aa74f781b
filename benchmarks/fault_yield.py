"""Valid-row yield under injected endpoint faults (issue 12, "Performance").

A model is fitted once against a fault-free fake server (asia, N rows drawn with a fixed seed). Then the same
``sample`` request runs twice against the fake server (simulated responder, in a child process): without
faults, and with ``--fault-rate`` of the requests (20% by default) given a fault drawn from the full mix:
429 with a short ``Retry-After``, 500, 503, a stall past the client's timeout, an empty answer, an answer
cut in half (``finish_reason: length``), prose around the JSON, a markdown fence and a Python-repr answer.

Figures: rows delivered / rows requested (target 100%), and calls per accepted row, where a call is an HTTP
request that reached the server (retries included), relative to the fault-free run (target <= 1.3x). A fit
under the same faults is shown too (it must complete; no target on its cost).

Usage::

    python benchmarks/fault_yield.py                     # 2,000 rows, 20% faults
    python benchmarks/fault_yield.py --rows-wanted 5000 --fault-rate 0.3
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from _common import ServerProcess, asia_rows, finish, load_average, print_table, quiet_logs

TARGET_DELIVERED = 1.0
TARGET_CALL_RATIO = 1.3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100, help="training rows drawn from asia (default 100)")
    parser.add_argument("--rows-wanted", type=int, default=2000, help="rows to sample (default 2000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fault-rate", type=float, default=0.2, help="share of requests given a fault")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per call (default 0.02)")
    parser.add_argument("--retry-after", type=float, default=0.2, help="Retry-After of a 429, seconds")
    parser.add_argument("--stall", type=float, default=3.0, help="how long a stalled answer takes, seconds")
    parser.add_argument("--timeout", type=float, default=1.0, help="client timeout per request, seconds")
    parser.add_argument("--skip-fit", action="store_true", help="skip the fit under faults")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return parser.parse_args(argv)


def sample_run(model: Any, server: ServerProcess, wanted: int, timeout: float) -> dict[str, Any]:
    """Sample ``wanted`` rows through ``server``; rows delivered before a failure still count."""
    from mallm_gan.errors import MallmGanError

    model.llm = f"openai:fake@{server.url}"
    model.timeout = timeout
    server.reset()
    delivered, error = 0, ""
    started = time.perf_counter()
    try:
        for frame in model.iter_sample(wanted):
            delivered += len(frame)
    except MallmGanError as exc:
        error = f"{type(exc).__name__}: {exc}"
    wall = time.perf_counter() - started
    stats = server.stats()
    usage = model.sample_usage_.total
    report = model.sample_report_
    return {
        "delivered": delivered,
        "error": error,
        "wall": wall,
        "http": stats["requests"],
        "faults": stats["faults"],
        "statuses": stats["statuses"],
        "calls": usage.calls,
        "retries": usage.retries,
        "failures": usage.failures,
        "generated": report.generated,
        "accepted": report.accepted,
        "report": report,
    }


def fit_run(data: Any, server: ServerProcess, args: argparse.Namespace) -> dict[str, Any]:
    from mallm_gan import MallmGan
    from mallm_gan.errors import MallmGanError

    server.reset()
    model = MallmGan(llm=f"openai:fake@{server.url}", epochs=1, random_state=args.seed, timeout=args.timeout)
    started = time.perf_counter()
    error = ""
    try:
        model.fit(data, target="Dyspnea")
    except MallmGanError as exc:
        error = f"{type(exc).__name__}: {exc}"
    wall = time.perf_counter() - started
    stats = server.stats()
    entries = model.history_.entries if hasattr(model, "history_") else []
    return {
        "model": model,
        "wall": wall,
        "http": stats["requests"],
        "faults": stats["faults"],
        "iterations": len(entries),
        "error": error,
        "accepted": sum(e.report.get("accepted", 0) for e in entries),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_logs()
    from mallm_gan.testing.fake_server import FAULTS

    data = asia_rows(args.rows, args.seed)
    common = {"latency": args.latency, "seed": args.seed}
    faulty = {
        **common,
        "fault_rate": args.fault_rate,
        "fault_mix": FAULTS,
        "retry_after": args.retry_after,
        "stall_seconds": args.stall,
    }
    print(
        f"asia N={len(data)} (seed {args.seed}); sample {args.rows_wanted} rows; latency {args.latency:g} s; "
        f"faults: {args.fault_rate:.0%} of requests from {', '.join(FAULTS)}; Retry-After {args.retry_after:g} s, "
        f"stall {args.stall:g} s, client timeout {args.timeout:g} s; {load_average()}"
    )

    with ServerProcess(**common) as clean, ServerProcess(**faulty) as broken:
        clean_fit = fit_run(data, clean, args)
        model = clean_fit["model"]
        base = sample_run(model, clean, args.rows_wanted, args.timeout)
        hit = sample_run(model, broken, args.rows_wanted, args.timeout)
        faulty_fit = None if args.skip_fit else fit_run(data, broken, args)

    rows = []
    for label, run in (("no faults", base), (f"{args.fault_rate:.0%} faults", hit)):
        per_row = run["http"] / max(run["delivered"], 1)
        rows.append(
            (
                label,
                args.rows_wanted,
                run["delivered"],
                f"{run['delivered'] / args.rows_wanted:.1%}",
                run["http"],
                run["calls"],
                run["retries"],
                run["failures"],
                f"{per_row:.3f}",
                run["wall"],
            )
        )
    print_table(
        [
            "sample run",
            "rows requested",
            "rows delivered",
            "delivered",
            "HTTP requests",
            "calls (client)",
            "retries",
            "calls failed after retries",
            "HTTP requests per accepted row",
            "wall s",
        ],
        rows,
        title="Sampling",
    )
    ratio = (hit["http"] / max(hit["delivered"], 1)) / (base["http"] / max(base["delivered"], 1))
    faults = sorted(hit["faults"].items(), key=lambda kv: -kv[1])
    print_table(
        ["fault injected", "requests"],
        [*faults, ("total", sum(hit["faults"].values()))],
        title="Faults injected during the faulty sample run",
    )
    notes = [
        ("generated rows (parsed)", base["generated"], hit["generated"]),
        ("accepted rows", base["accepted"], hit["accepted"]),
    ]
    for key in sorted(set(base["report"].reasons) | set(hit["report"].reasons)):
        notes.append((f"rejected: {key}", base["report"].reasons.get(key, 0), hit["report"].reasons.get(key, 0)))
    for key in sorted(set(base["report"].notes) | set(hit["report"].notes)):
        notes.append((f"note: {key}", base["report"].notes.get(key, 0), hit["report"].notes.get(key, 0)))
    for key in sorted(set(base["report"].parse_problems) | set(hit["report"].parse_problems)):
        notes.append(
            (f"parse: {key}", base["report"].parse_problems.get(key, 0), hit["report"].parse_problems.get(key, 0))
        )
    print_table(["what happened to the rows", "no faults", "faults"], notes, title="Rows")
    if faulty_fit is not None:
        fits = [
            (label, run["iterations"], run["http"], run["accepted"], run["wall"], run["error"] or "completed")
            for label, run in (("no faults", clean_fit), (f"{args.fault_rate:.0%} faults", faulty_fit))
        ]
        print_table(
            ["fit (1 epoch)", "iterations", "HTTP requests", "synthetic rows accepted", "wall s", "outcome"],
            fits,
            title="Fit under the same faults (the first fit of the process also pays the imports)",
        )
    for run in (base, hit):
        if run["error"]:
            print(f"\nsampling stopped: {run['error']}")
    targets = [
        (
            f"rows delivered = {TARGET_DELIVERED:.0%} of requested",
            hit["delivered"] >= args.rows_wanted,
            f"{hit['delivered'] / args.rows_wanted:.1%}",
        ),
        (
            f"HTTP requests per accepted row <= {TARGET_CALL_RATIO}x the fault-free run",
            ratio <= TARGET_CALL_RATIO,
            f"{ratio:.3f}x",
        ),
    ]
    if faulty_fit is not None:
        targets.append(
            (
                "fit under faults completes",
                not faulty_fit["error"],
                faulty_fit["error"] or f"{faulty_fit['iterations']} iterations",
            )
        )
    return finish(targets, args.strict)


if __name__ == "__main__":
    sys.exit(main())
