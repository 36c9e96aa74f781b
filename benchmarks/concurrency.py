"""Concurrency speed-up and framework overhead of ``fit`` (issue 12, "Performance").

The same fit (asia, N rows drawn with a fixed seed, ``--epochs`` epochs, batch ``--batch-size``, defaults
otherwise) runs against the fake OpenAI-compatible server (simulated responder, in a child process) with
``--latency`` seconds per call, once with ``max_concurrency=1`` (one call at a time, the reference
implementation's pattern) and once with the default concurrency.

Framework overhead, two definitions (both printed; the target is checked on the stricter one):

* idle: the time during which no LLM call is in flight. The server records when each request starts (body
  read) and ends (answer written); the union of those intervals is the LLM busy time ``B``, and
  ``idle = wall - B``. It counts everything the LLM waits for: prompt building, the HTTP client, parsing,
  validation, the discriminator, re-scoring, the optimizer's bookkeeping.
* critical path: ``wall - waves x latency``, where ``waves`` is the number of sequential rounds of calls the
  run made (a generation round, a top-up round, an optimizer call...), counted from the requests' start
  times. It also counts the time by which the calls of one round reach the server one after another
  (each is prepared in turn on the event loop) instead of all at once.

Imports and the interpreter's start are a one-time cost that does not grow with the run; they are measured
separately (``cold start``) by a warm-up fit, and the measured fits run warm.

Usage::

    python benchmarks/concurrency.py                 # asia N=100, 2 epochs, 1 s per call
    python benchmarks/concurrency.py --breakdown     # + where the overhead goes (timers on library code)
    python benchmarks/concurrency.py --strict        # exit 1 when a target is missed
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
import time
from collections import defaultdict
from typing import Any

from _common import ServerProcess, asia_rows, count_waves, finish, load_average, print_table, quiet_logs

TARGET_SPEEDUP = 10.0
TARGET_OVERHEAD = 0.05


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100, help="training rows drawn from asia (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draw and of the fit (default 0)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--n-examples", type=int, default=5, help="examples per generator call (default 5)")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per LLM call (default 1.0)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="max_concurrency of the concurrent run (default: the library default)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of the concurrent and latency-0 fits; the median is shown (default 3)",
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="time the library's synchronous steps during the concurrent run"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return parser.parse_args(argv)


class StepTimers:
    """Wall time spent in selected synchronous library functions (patched in this process only)."""

    STEPS = (
        ("mallm_gan.synthesizer.inputs", "hill_climb_dag", "initial DAG (hill climbing)"),
        ("mallm_gan.synthesizer.inputs", "normalised_train", "normalise training rows"),
        ("mallm_gan.gan.discriminator", "Discriminator.update", "discriminator update (20 partial_fit)"),
        ("mallm_gan.gan.discriminator", "Discriminator.split", "discriminator encode + split"),
        ("mallm_gan.gan.optimizer", "History.rescore", "re-score history"),
        ("mallm_gan.gan.generator", "generator_messages", "generator prompt (pandas -> JSON)"),
        ("mallm_gan.gan.generator", "Generator._max_tokens", "generator max_tokens (pandas records)"),
        ("mallm_gan.gan.generator", "rows_json_schema", "answer JSON schema"),
        ("mallm_gan.gan.generator", "parse_rows", "parse answers"),
        ("mallm_gan.gan.validation", "RowValidator.validate", "validate + copy guard"),
        ("mallm_gan.gan.optimizer", "optimizer_messages", "optimizer prompt"),
        ("mallm_gan.gan.optimizer", "parse_optimizer_reply", "parse optimizer reply"),
        ("mallm_gan.llm.openai_compat", "OpenAICompatClient._make_sdk", "create the SDK client"),
        ("mallm_gan.llm.base", "BaseClient._to_completion", "response dict -> Completion"),
    )

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._originals: list[tuple[Any, str, Any]] = []

    def install(self) -> None:
        import importlib

        for module_name, path, label in self.STEPS:
            owner: Any = importlib.import_module(module_name)
            *parents, name = path.split(".")
            for part in parents:
                owner = getattr(owner, part)
            original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
            if asyncio.iscoroutinefunction(original):
                continue
            self._originals.append((owner, name, original))
            setattr(owner, name, self._wrap(original, label))

    def _wrap(self, func: Any, label: str) -> Any:
        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - started
                self.calls[label] += 1

        return timed

    def uninstall(self) -> None:
        for owner, name, original in reversed(self._originals):
            setattr(owner, name, original)
        self._originals.clear()


def run_fit(url: str, data: Any, args: argparse.Namespace, *, concurrency: int | None, epochs: int) -> Any:
    from mallm_gan import MallmGan

    model = MallmGan(
        llm=f"openai:fake@{url}",
        epochs=epochs,
        batch_size=args.batch_size,
        n_examples=args.n_examples,
        random_state=args.seed,
        max_concurrency=concurrency,
    )
    started = time.perf_counter()
    model.fit(data, target="Dyspnea")
    return model, time.perf_counter() - started


def measure(
    server: ServerProcess, data: Any, args: argparse.Namespace, concurrency: int | None, latency: float
) -> dict[str, Any]:
    server.reset()
    model, wall = run_fit(server.url, data, args, concurrency=concurrency, epochs=args.epochs)
    stats = server.stats()
    busy = stats["busy_seconds"]
    waves, spread = count_waves(stats["starts"], latency) if latency > 0 else (0, 0.0)
    return {
        "model": model,
        "wall": wall,
        "busy": busy,
        "overhead": wall - busy,
        "requests": stats["requests"],
        "peak": stats["peak"],
        "calls": model.usage_.total.calls,
        "waves": waves,
        "spread": spread,
        "critical": wall - waves * latency if latency > 0 else wall - busy,
    }


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time (the machine may be shared: single runs are noisy)."""
    return sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_logs()
    from mallm_gan.llm.base import BaseClient

    default_concurrency = BaseClient.__dataclass_fields__["max_concurrency"].default
    concurrency = args.concurrency
    data = asia_rows(args.rows, args.seed)
    iterations = args.epochs * -(-len(data) // args.batch_size)
    print(
        f"asia N={len(data)} (seed {args.seed}), {args.epochs} epochs x batch {args.batch_size} = "
        f"{iterations} iterations, n_examples {args.n_examples}, latency {args.latency:g} s per call; "
        f"concurrent run: max_concurrency={concurrency or f'default ({default_concurrency})'}; "
        f"{load_average()}"
    )

    with ServerProcess(latency=0.0) as instant, ServerProcess(latency=args.latency) as slow:
        # imports (openai, scikit-learn, ...) and first-use costs, paid once per process
        _, cold = run_fit(instant.url, data, args, concurrency=concurrency, epochs=1)
        _, warm = run_fit(instant.url, data, args, concurrency=concurrency, epochs=1)
        zero = median_run([measure(instant, data, args, concurrency, 0.0) for _ in range(args.repeat)])
        conc = median_run([measure(slow, data, args, concurrency, args.latency) for _ in range(args.repeat)])
        seq = measure(slow, data, args, 1, args.latency)
        timers = StepTimers()
        if args.breakdown:
            # a separate run: the timers themselves cost a little
            timers.install()
            timed = measure(slow, data, args, concurrency, args.latency)
            timers.uninstall()

    rows = []
    for label, run, mc in (
        ("latency 0 (framework + server only)", zero, concurrency or default_concurrency),
        (f"latency {args.latency:g} s, concurrent", conc, concurrency or default_concurrency),
        (f"latency {args.latency:g} s, sequential", seq, 1),
    ):
        rows.append(
            (
                label,
                mc,
                run["requests"],
                run["waves"] or "-",
                run["peak"],
                run["wall"],
                run["busy"],
                run["overhead"],
                f"{100 * run['overhead'] / run['wall']:.1f}%",
                run["critical"],
                f"{100 * run['critical'] / run['wall']:.1f}%",
            )
        )
    print_table(
        [
            "run",
            "max_concurrency",
            "LLM calls",
            "waves",
            "peak in flight",
            "wall s",
            "LLM busy s",
            "idle s",
            "idle share",
            "critical-path overhead s",
            "share",
        ],
        rows,
        title="Fit wall time and framework overhead",
    )

    speedup = seq["wall"] / conc["wall"]
    bound = conc["requests"] / conc["waves"] if conc["waves"] else float("nan")
    same = conc["model"].theta_ == seq["model"].theta_ and [e.score for e in conc["model"].history_.entries] == [
        e.score for e in seq["model"].history_.entries
    ]
    share = conc["critical"] / conc["wall"]
    summary = [
        ("speed-up (sequential wall / concurrent wall)", f"{speedup:.2f}x"),
        ("LLM calls per fit", conc["requests"]),
        ("sequential rounds of calls (waves) in the concurrent run", conc["waves"]),
        ("upper bound of the speed-up for this run (calls / waves)", f"{bound:.2f}x"),
        ("share of that bound reached", f"{100 * speedup / bound:.0f}%"),
        ("time between the first and last call of each round, summed (concurrent run)", f"{conc['spread']:.3f} s"),
        ("framework time per fit at latency 0 (wall - busy)", f"{zero['overhead']:.3f} s"),
        ("cold start: first 1-epoch fit in this process minus a warm one", f"{cold - warm:.2f} s"),
        ("same θ and scores in both runs", "yes" if same else "NO"),
        ("machine at the end", load_average()),
    ]
    print_table(["figure", "value"], summary, title="Summary")
    if args.breakdown:
        total = sum(timers.seconds.values())
        steps = sorted(timers.seconds.items(), key=lambda kv: -kv[1])
        crit = timed["critical"]
        print(
            f"\ntimed run: wall {timed['wall']:.3f} s, critical-path overhead {crit:.3f} s, "
            f"round spread {timed['spread']:.3f} s"
        )
        print_table(
            ["step (synchronous, in a concurrent run)", "calls", "seconds", "share of overhead"],
            [(k, timers.calls[k], v, f"{100 * v / crit:.0f}%") for k, v in steps]
            + [
                (
                    "rest: HTTP client (openai SDK, httpx), asyncio, loop bookkeeping",
                    "",
                    crit - total,
                    f"{100 * (crit - total) / crit:.0f}%",
                )
            ],
            title="Where the critical-path overhead goes (a timed step may overlap LLM waits of other calls)",
        )
    return finish(
        [
            (f"speed-up >= {TARGET_SPEEDUP:g}x", speedup >= TARGET_SPEEDUP, f"{speedup:.2f}x"),
            (
                f"overhead (critical path) < {100 * TARGET_OVERHEAD:g}% of the concurrent run",
                share < TARGET_OVERHEAD,
                f"{100 * share:.1f}% (idle: {100 * conc['overhead'] / conc['wall']:.1f}%)",
            ),
        ],
        args.strict,
    )


if __name__ == "__main__":
    sys.exit(main())
