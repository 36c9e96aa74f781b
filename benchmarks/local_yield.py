"""Yield of the embedded models: the share of written rows that pass validation and the copy guard.

For each model and dataset (the paper's N=25 splits in ../shared/data), one fit of one iteration over the
25 rows (5 generator calls of 5 examples, no optimizer call) and ``sample(25)``, with the default settings
unless options change them. Printed per cell: rows written, accepted, rejected by reason, the
share accepted, seconds, and the MLE (the efficacy models' best weighted F1, or R2 for insurance) of every
accepted row (the fit iteration's and the sampled ones) beside the real 25 rows'. One JSON line per cell
is appended to ``--out``, and the accepted rows are written beside it.

Usage (from the repository root, models pulled)::

    python benchmarks/local_yield.py --models qwen2.5-coder-0.5b --datasets adult,insurance,asia
    python benchmarks/local_yield.py --models qwen2.5-coder-0.5b --sampler dry_multiplier=0 --label no-dry

``--sampler KEY=VALUE`` overrides one of the catalogue's sampler fields for the model (repeatable), e.g. to
measure the catalogue's settings against llama.cpp's defaults (``--plain-sampler``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

#: the shared datasets: ``MALLM_DATA_DIR``, else ../shared/data beside the repository
DATA = Path(os.environ.get("MALLM_DATA_DIR") or Path(__file__).resolve().parents[1] / ".." / "shared" / "data")


def _sampler(pairs: list[str]) -> dict[str, float]:
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        out[key.strip()] = float(value)
    return out


def run_cell(model: str, dataset: str, args: argparse.Namespace) -> dict[str, Any]:
    """Fit one iteration and sample N rows on ``dataset``; the rows' fate and the MLE."""
    import pandas as pd

    from mallm_gan import MallmGan
    from mallm_gan.evaluation.efficacy import mle_score
    from mallm_gan.llm.local import LocalLlamaClient
    from mallm_gan.llm.model_pull import resolve_model
    from mallm_gan.llm.models import CATALOGUE

    meta = json.loads((DATA / "datasets.json").read_text())[dataset]
    split = DATA / dataset / "splits" / f"n{args.n}"
    train, test = pd.read_csv(split / "train.csv"), pd.read_csv(split / "test.csv")
    sampler = _sampler(args.sampler)
    # the catalogue's settings belong to the name; the same file by its path gets llama.cpp's defaults
    ref = str(resolve_model(model)) if args.plain_sampler and model in CATALOGUE else model
    client = LocalLlamaClient(model=ref, sampler=sampler, timeout=args.timeout)
    synth = MallmGan(
        llm=client,
        epochs=1,
        batch_size=len(train),
        n_examples=args.n_examples,
        generator_temperature=args.temperature,
        max_rounds=args.max_rounds,
        random_state=args.seed,
        timeout=args.timeout,
    )
    load = os.getloadavg()[0]
    started = time.perf_counter()
    synth.fit(train, target=meta["target"], task=meta["task"], context=meta["context"])
    fit_seconds = time.perf_counter() - started
    counts: Counter[str] = Counter()
    written = accepted = 0
    for entry in synth.history_.entries:
        written += int(entry.report.get("generated", 0))
        accepted += int(entry.report.get("accepted", 0))
        counts.update(entry.report.get("reasons", {}))
    error = None
    mle = None
    try:
        rows = synth.sample(args.rows or len(train))
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        rows = None
    report = getattr(synth, "sample_report_", None)
    if report is not None:
        written += report.generated
        accepted += report.accepted
        counts.update(report.reasons)
    # MLE on every accepted row of the cell: the fit iteration's and the sampled ones (a handful of sampled
    # rows alone would leave the efficacy models with one class)
    fitted = [pd.DataFrame(e.synthetic, columns=synth.schema_.names) for e in synth.history_.entries]
    accepted_rows = pd.concat([*fitted, *([rows] if rows is not None else [])], ignore_index=True)
    if len(accepted_rows):
        accepted_rows = synth.schema_.cast(accepted_rows)
        mle = mle_score(accepted_rows, test, target=meta["target"], task=meta["task"], random_state=args.seed)
        accepted_rows.to_csv(Path(args.out).with_suffix("").parent / f"{args.label}-{model}-{dataset}.csv", index=False)
    usage = synth.usage_.total
    return {
        "label": args.label,
        "model": model,
        "dataset": dataset,
        "n": args.n,
        "seed": args.seed,
        "n_examples": args.n_examples,
        "max_rounds": args.max_rounds,
        "temperature": args.temperature,
        "sampler": client.sampler_fields(),
        "written": written,
        "accepted": accepted,
        "share_accepted": round(accepted / written, 3) if written else None,
        "rejected": dict(counts),
        "seconds": round(time.perf_counter() - started, 1),
        "fit_seconds": round(fit_seconds, 1),
        "mle_rows": len(accepted_rows),
        "mle_synthetic": None if mle is None else round(mle, 3),
        "mle_real": round(mle_score(train, test, target=meta["target"], task=meta["task"], random_state=args.seed), 3),
        "prompt_tokens": usage.prompt_tokens,
        "cached_prompt_tokens": usage.cached_prompt_tokens,
        "loadavg_start": round(load, 2),
        "loadavg_end": round(os.getloadavg()[0], 2),
        "sample_error": error,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="qwen2.5-coder-0.5b")
    parser.add_argument("--datasets", default="adult,insurance,asia")
    parser.add_argument("--n", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-examples", type=int, default=5)
    parser.add_argument("--temperature", type=float, default=0.5)
    parser.add_argument("--sampler", action="append", default=[], help="KEY=VALUE over the catalogue's")
    parser.add_argument("--plain-sampler", action="store_true", help="llama.cpp's defaults, not the catalogue's")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--rows", type=int, default=0, help="rows to sample (default: N)")
    parser.add_argument(
        "--max-rounds", type=int, default=4, help="top-up rounds per request (the default's 4; fewer is faster)"
    )
    parser.add_argument("--label", default="default")
    parser.add_argument("--out", default="benchmarks/results/local_yield.jsonl")
    args = parser.parse_args(argv)
    # each generation round's counts, as they come (a cell takes minutes on a busy machine)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("mallm_gan.gan.generator").setLevel(logging.INFO)
    if not (DATA / "datasets.json").exists():
        sys.exit(f"data directory {DATA.resolve()} not found")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    print("| label | model | dataset | written | accepted | share | rejected | MLE synth / real | s | load |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for model in [m for m in args.models.split(",") if m]:
        for dataset in [d for d in args.datasets.split(",") if d]:
            cell = run_cell(model, dataset, args)
            with out.open("a") as fh:
                fh.write(json.dumps(cell) + "\n")
            rejected = ", ".join(f"{k} {v}" for k, v in sorted(cell["rejected"].items())) or "none"
            print(
                f"| {cell['label']} | {model} | {dataset} | {cell['written']} | {cell['accepted']} | "
                f"{cell['share_accepted']} | {rejected} | {cell['mle_synthetic']} / {cell['mle_real']} | "
                f"{cell['seconds']} | {cell['loadavg_start']}-{cell['loadavg_end']} |"
                + (f" sample failed: {cell['sample_error'][:200]}" if cell["sample_error"] else ""),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
